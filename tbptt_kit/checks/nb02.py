"""Self-checks for the exercises of notebook 02."""

from __future__ import annotations

import numpy as np

from .core import check_cases


def _rmse_mv(y, y_hat, n_init: int) -> float:
    y = np.asarray(y, dtype=np.float64).ravel()[n_init:]
    y_hat = np.asarray(y_hat, dtype=np.float64).ravel()[n_init:]
    return float(np.sqrt(np.mean((y_hat - y) ** 2)) * 1000)


def check_benchmark_rmse(benchmark_rmse_mv, learn, name: str = "multisine") -> str:
    """Exercise 02.1: benchmark_rmse_mv(y, y_hat, n_init) against the learner's test_rmse."""
    u, y = learn.dls.test[name]
    y = np.asarray(y, dtype=np.float32).ravel()
    y_hat = learn.simulate(u)[:, 0]
    err = np.r_[np.full(50, 1.0), np.full(50, 0.002)]  # 1 V off first, then 2 mV off
    cases = [
        ((np.zeros(100), err), 2.0),
        ((np.zeros(100), err, 50), 2.0),
        ((np.zeros(100), err, 0), _rmse_mv(np.zeros(100), err, 0)),
        ((y, y_hat), _rmse_mv(y, y_hat, 50)),
    ]
    return check_cases(
        "Exercise 1",
        benchmark_rmse_mv,
        cases,
        rel=1e-3,
        hint="volts to mV is a factor 1000; leave out y[:n_init].",
    )


def check_mean_model_rmse(mean_model_rmse_mv) -> str:
    """Exercise 02.2: the score of always predicting the training output's mean."""
    rng = np.random.default_rng(0)
    y_train, y_test = 0.01 + 0.05 * rng.standard_normal(500), 0.05 * rng.standard_normal(300)
    cases = [
        ((y_train, y_test), _rmse_mv(y_test, np.full(300, y_train.mean()), 50)),
        ((y_train, y_test, 0), _rmse_mv(y_test, np.full(300, y_train.mean()), 0)),
        ((np.ones(10), np.zeros(60)), 1000.0),
    ]
    return check_cases(
        "Exercise 2",
        mean_model_rmse_mv,
        cases,
        rel=1e-6,
        hint="predict y_train.mean() for every test sample, then score as in Exercise 1.",
    )
