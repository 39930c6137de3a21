"""Notebook 02's exercises, each defined once for its self-check and its graded test.

Both take outputs in the kit's layout, (T, 1): time, then channel, and (T,) alike. A
(T, 1) array minus a (T,) array broadcasts to a (T, T) matrix without an error; with a
constant prediction (exercise 2) the number even comes out right, so that exercise's
calls are measured (``traced``): a (T, T) matrix shows in the memory they take.
"""

from __future__ import annotations

import builtins
from math import sqrt

import numpy as np

from .core import Exercise, close, differs, reads

__builtins__ = dict(vars(builtins))  # a copy: a cell that patches builtins does not reach here

__all__ = [
    "BENCHMARK_RMSE",
    "MEAN_MODEL_RMSE",
    "check_benchmark_rmse",
    "check_mean_model_rmse",
    "reference_mean_model_rmse_mv",
    "reference_rmse_mv",
]


def _shaped(a: np.ndarray, column: int, dtype: str) -> np.ndarray:
    return (a.reshape(len(a), 1) if column else a).astype(dtype)


def _shape(column: int, T: int) -> str:
    return f"({T}, 1)" if column else f"({T},)"


def _n_init(n_init) -> str:
    return "n_init=50 (the default)" if n_init is None else f"n_init={n_init}"


def _flat(a) -> list:
    return [float(v) for v in np.asarray(a, dtype=np.float64).reshape(-1)]


def _rms_mv(errors: list) -> float:
    return 1000.0 * sqrt(sum(e * e for e in errors) / len(errors))


# -- Exercise 1: benchmark_rmse_mv(y, y_hat, n_init=50) ------------------------------------
def signals(case):
    """(y, y_hat) of a case [seed, T, y is (T, 1), y_hat is (T, 1), n_init, dtype]; seed -1:
    the notebook's example, 1 V off for 50 samples, then 2 mV off."""
    seed, T, y_column, hat_column, _, dtype = case
    if seed < 0:
        y, y_hat = np.zeros(T), np.r_[np.full(50, 1.0), np.full(T - 50, 0.002)]
    else:
        rng = np.random.default_rng(seed)
        y = 0.05 * rng.standard_normal(T)
        y_hat = y + 0.002 + 0.003 * rng.standard_normal(T)  # a biased, noisy simulation
        y_hat[:50] += 0.5  # the first samples, set from y, are far off
    return _shaped(y, y_column, dtype), _shaped(y_hat, hat_column, dtype)


def inputs_rmse(case) -> dict:
    n_init = case[4]
    return {"args": signals(case) + (() if n_init is None else (n_init,))}


def reference_rmse_mv(case) -> float:
    """Squared errors added up one sample at a time, the first n_init left out; in mV."""
    y, y_hat = (_flat(a) for a in signals(case))
    n_init = 50 if case[4] is None else case[4]
    return _rms_mv([h - t for t, h in zip(y[n_init:], y_hat[n_init:])])


def compare_rmse(got, want, case):
    if close(got, want, rel=1e-5, abs_=1e-9):
        return None
    y, y_hat = signals(case)
    n_init = 50 if case[4] is None else case[4]
    err = [h - t for t, h in zip(_flat(y), _flat(y_hat))]
    if close(got, want / 1000, rel=1e-5, abs_=1e-9):
        return f"you return {got!r}: that is in volts. 1 V is 1000 mV: multiply by 1000."
    if any(
        close(got, _rms_mv(err[n:]), rel=1e-5, abs_=1e-9)
        for n in (0, n_init - 1, n_init + 1)
        if n >= 0
    ):
        return f"you return {got!r}: leave out exactly the first n_init samples, y[:n_init]."
    if close(got, (want / 1000) ** 2, rel=1e-5, abs_=1e-9):
        return f"you return {got!r}: the mean of the squared errors; take its square root (mV)."
    kept = err[n_init:]
    mean = sum(kept) / len(kept)
    if close(got, _rms_mv([e - mean for e in kept]), rel=1e-5, abs_=1e-9):
        return (
            f"you return {got!r}: the spread of the error around its mean. The RMSE counts "
            "the error's mean too (a bias is an error): sqrt(mean(err ** 2))."
        )
    if y.ndim != y_hat.ndim:
        return (
            f"you return {got!r}, the right answer is {want:.6g}. A (T, 1) array minus a (T,) "
            "array broadcasts to a (T, T) matrix: every sample against every other. Flatten "
            "both first: np.ravel(y)."
        )
    return differs(got, want)


def draw_rmse(rng) -> list:
    T = rng.randint(60, 600)
    n_init = rng.choice([None, None, 0, rng.randint(1, T - 1)])
    dtype = rng.choice(["float64", "float32"])
    return [rng.randint(0, 10**6), T, rng.randint(0, 1), rng.randint(0, 1), n_init, dtype]


BENCHMARK_RMSE = Exercise(
    key="02.1",
    func="benchmark_rmse_mv",
    fixed=(
        [-1, 100, 0, 0, None, "float64"],  # the notebook's example: 2.0 mV
        [-1, 100, 0, 0, 0, "float64"],
        [0, 300, 0, 0, None, "float64"],
        [1, 300, 1, 0, None, "float64"],  # the kit's (T, 1) target, a (T,) simulation
        [2, 400, 0, 1, None, "float64"],
        [3, 500, 1, 1, None, "float32"],
        [4, 200, 1, 0, 0, "float64"],  # nothing left out
        [5, 200, 0, 0, 1, "float64"],
        [6, 200, 1, 1, 51, "float64"],  # off by one either way shows
        [7, 120, 0, 1, 119, "float64"],  # one sample left
        [8, 2000, 1, 0, None, "float64"],
    ),
    draw=draw_rmse,
    inputs=inputs_rmse,
    reference=reference_rmse_mv,
    compare=compare_rmse,
    answer=reads("plain_number", "one number, the RMSE in mV"),
    blocked=(("tk.fun_rmse", "tbptt_kit.course.losses:fun_rmse"),),
    show=lambda c: (
        f"For y of shape {_shape(c[2], c[1])}, y_hat of shape {_shape(c[3], c[1])} "
        f"({c[5]}), {_n_init(c[4])}"
    ),
    hint="volts to mV is a factor 1000; leave out y[:n_init].",
)


def check_benchmark_rmse(benchmark_rmse_mv, learn=None, name: str = "multisine", seed=None):
    """Exercise 02.1: benchmark_rmse_mv(y, y_hat, n_init=50), the RMSE in mV of a
    simulation y_hat against y, both in volts, (T,) or (T, 1), the first n_init samples
    left out. Given ``learn``, a right answer is also shown on its test record ``name``
    beside ``learn.test_rmse()``."""
    verdict = BENCHMARK_RMSE.check(benchmark_rmse_mv, seed)
    if verdict == "right" and learn is not None:
        u, y = learn.dls.records("test")[name]
        y = np.asarray(y, dtype=np.float32).reshape(len(y), -1)  # (T, 1)
        mine = float(benchmark_rmse_mv(y, learn.simulate((u, y))))
        kit = learn.test_rmse()[name] * 1000 / learn.dls.units[1]  # in mV
        print(
            f"On the {name} record your score is {mine:.3f} mV; learn.test_rmse() says {kit:.3f} mV."
        )
    return verdict


# -- Exercise 2: mean_model_rmse_mv(y_train, y_test, n_init=50) ----------------------------
def outputs(case):
    """(y_train, y_test) of a case [seed, n_train, n_test, train is (T, 1), test is (T, 1),
    n_init]; seed -1: the notebook's example, ones(n_train) against zeros(n_test)."""
    seed, n_train, n_test, train_column, test_column, _ = case
    if seed < 0:
        y_train, y_test = np.ones(n_train), np.zeros(n_test)
    else:
        rng = np.random.default_rng(seed)
        drift = np.linspace(0.03, 0.0, n_train)  # its mean differs from its later samples'
        y_train = 0.01 + 0.05 * rng.standard_normal(n_train) + drift
        y_test = 0.05 * rng.standard_normal(n_test)
        y_test[:50] += 0.3  # the samples left out are far from the rest
    return _shaped(y_train, train_column, "float64"), _shaped(y_test, test_column, "float64")


def inputs_mean_model(case) -> dict:
    n_init = case[5]
    return {"args": outputs(case) + (() if n_init is None else (n_init,))}


def reference_mean_model_rmse_mv(case) -> dict:
    """The training mean predicted for every test sample, scored sample by sample; and the
    memory a (T, T) matrix of the test record would take (the limit is a quarter of it)."""
    train, test = (_flat(a) for a in outputs(case))
    n_init = 50 if case[5] is None else case[5]
    mean = sum(train) / len(train)
    return {"rmse": _rms_mv([mean - t for t in test[n_init:]]), "matrix": 8 * len(test) ** 2}


def answer_mean_model(result, call) -> dict:
    from ...tooling.grading import plain_number

    return {"rmse": plain_number(result, "one number, the RMSE in mV"), "peak": call["peak"]}


def compare_mean_model(got, want, case):
    rmse, limit = got["rmse"], max(want["matrix"] / 4, 2**16)
    train, test = (_flat(a) for a in outputs(case))
    n_init = 50 if case[5] is None else case[5]
    if close(rmse, want["rmse"], rel=1e-6):
        if got["peak"] < limit:
            return None
        return (
            f"your function took {got['peak'] / 1e6:.1f} MB for {len(test)} samples. A (T,) "
            "prediction minus a (T, 1) target broadcasts to a (T, T) matrix: on the multisine "
            "test record that is 21,638 x 21,638 numbers (3.7 GB). Flatten y_test first "
            "(np.ravel)."
        )
    test_mean = sum(test[n_init:]) / len(test[n_init:])
    late_mean = sum(train[n_init:]) / max(len(train[n_init:]), 1)
    if close(rmse, _rms_mv([test_mean - t for t in test[n_init:]]), rel=1e-6):
        return f"you return {rmse!r}: you predicted the test output's mean; use y_train's."
    if close(rmse, _rms_mv([late_mean - t for t in test[n_init:]]), rel=1e-6):
        return f"you return {rmse!r}: the training mean is over every training sample."
    mean = sum(train) / len(train)
    if close(rmse, _rms_mv([mean - t for t in test]), rel=1e-6):
        return f"you return {rmse!r}: score only y_test[n_init:], as in Exercise 1."
    return differs(rmse, want["rmse"])


def draw_mean_model(rng) -> list:
    n_test = rng.randint(60, 800)
    n_init = rng.choice([None, None, 0, rng.randint(1, n_test - 1)])
    columns = [rng.randint(0, 1), rng.randint(0, 1)]
    return [rng.randint(0, 10**6), rng.randint(60, 800), n_test, *columns, n_init]


MEAN_MODEL_RMSE = Exercise(
    key="02.2",
    func="mean_model_rmse_mv",
    fixed=(
        [-1, 10, 60, 0, 0, None],  # predicting 1 V for outputs of 0 V: 1000 mV
        [0, 500, 300, 0, 0, None],
        [1, 500, 300, 1, 1, None],  # the kit's layout
        [2, 400, 250, 0, 1, None],
        [3, 600, 200, 1, 0, None],
        [4, 500, 300, 0, 1, 0],  # nothing left out
        [5, 300, 120, 1, 0, 51],
        [6, 80, 100, 0, 1, 99],  # one test sample left
        [7, 200, 2000, 1, 1, None],
    ),
    draw=draw_mean_model,
    inputs=inputs_mean_model,
    reference=reference_mean_model_rmse_mv,
    compare=compare_mean_model,
    answer=answer_mean_model,
    traced=True,
    blocked=(("tk.fun_rmse", "tbptt_kit.course.losses:fun_rmse"),),
    show=lambda c: (
        f"For y_train of shape {_shape(c[3], c[1])}, y_test of shape {_shape(c[4], c[2])}, "
        f"{_n_init(c[5])}"
    ),
    hint="predict y_train.mean() for every test sample, then score as in Exercise 1.",
)


def check_mean_model_rmse(mean_model_rmse_mv, seed: int | None = None) -> str:
    """Exercise 02.2: mean_model_rmse_mv(y_train, y_test, n_init=50), the benchmark score of
    a model that always predicts the training output's mean; targets (T,) or (T, 1)."""
    return MEAN_MODEL_RMSE.check(mean_model_rmse_mv, seed)
