"""Self-checks for the notebooks' exercises: each says what is right or wrong.

A check calls the student's function on a few cases and compares with the package's own
answer. A stub that still raises NotImplementedError is reported as "not done yet", never
as a crash, so a notebook runs top to bottom before any exercise is solved.
Every check returns "right", "wrong" or "not done" (tests use that) and prints its verdict.
"""

from __future__ import annotations

import math

import numpy as np

NOT_DONE, RIGHT, WRONG = "not done", "right", "wrong"


def check_cases(exercise: str, func, cases, rel: float = 1e-6, hint: str = "") -> str:
    """Call ``func(*args)`` for each (args, expected) in ``cases``; report the first mismatch."""
    for args, expected in cases:
        try:
            got = func(*args)
        except NotImplementedError:
            print(f"{exercise}: not done yet. Fill in the cell above, run it, then run this one.")
            return NOT_DONE
        except Exception as err:  # the student's code may fail in any way: say how
            print(f"{exercise}: your function raised {type(err).__name__}: {err}")
            return WRONG
        if not _close(got, expected, rel):
            shown = ", ".join(map(repr, args))
            print(
                f"{exercise}: not yet right. For ({shown}) you return {got!r}, "
                f"the right answer is {expected!r}." + (f" Hint: {hint}" if hint else "")
            )
            return WRONG
    print(f"{exercise}: right, on all {len(cases)} cases. Well done.")
    return RIGHT


def _close(got, expected, rel: float) -> bool:
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and got.keys() == expected.keys()
            and all(_close(got[k], expected[k], rel) for k in expected)
        )
    try:
        return math.isclose(float(got), float(expected), rel_tol=rel, abs_tol=1e-12)
    except (TypeError, ValueError):
        return got == expected


# -- notebook 01 --------------------------------------------------------------------------
_WINDOW_CASES = [
    (50_000, 500, 10),
    (50_000, 500, 500),
    (1000, 300, 250),
    (1000, 1000, 7),
    (4000, 100, 1),
    (999, 100, 1000),
]


def _true_windows(n_samples: int, win_sz: int, stp_sz: int) -> int:
    from .data.windows import WindowDataset

    record = (np.zeros(n_samples, np.float32), np.zeros(n_samples, np.float32))
    return len(WindowDataset([record], win_sz, stp_sz))


def check_n_windows(n_windows) -> str:
    """Exercise 01.1: n_windows(n_samples, win_sz, stp_sz) against the loader's own count."""
    cases = [(args, _true_windows(*args)) for args in _WINDOW_CASES]
    return check_cases(
        "Exercise 1",
        n_windows,
        cases,
        hint="the last window must end at or before the last sample.",
    )


def check_steps_per_epoch(steps_per_epoch) -> str:
    """Exercise 01.2: steps_per_epoch(n_samples, win_sz, stp_sz, bs) against the loader's len."""
    from .data.windows import WindowDataset, WindowLoader

    cases = []
    for (n, w, s), bs in zip(_WINDOW_CASES, (16, 16, 2, 4, 64, 1)):
        record = (np.zeros(n, np.float32), np.zeros(n, np.float32))
        cases.append(((n, w, s, bs), len(WindowLoader(WindowDataset([record], w, s), bs))))
    return check_cases(
        "Exercise 2",
        steps_per_epoch,
        cases,
        hint="a last, smaller batch still takes one step: round up.",
    )


# -- notebook 02 --------------------------------------------------------------------------
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
