"""Self-checks for the exercises of notebook 02.

Both exercises take outputs in the kit's layout, (T, 1): time, then channel. The checks
try small cases first, so a function that broadcasts a (T, 1) against a (T,) array into a
(T, T) matrix is caught on 100 samples, never run on a whole test record.
"""

from __future__ import annotations

import math

import numpy as np

from .core import RIGHT, WRONG, call_student, close_enough

__all__ = ["check_benchmark_rmse", "check_mean_model_rmse"]


def _rmse_mv(y, y_hat, n_init: int) -> float:
    y = np.asarray(y, dtype=np.float64).ravel()[n_init:]
    y_hat = np.asarray(y_hat, dtype=np.float64).ravel()[n_init:]
    return float(np.sqrt(np.mean((y_hat - y) ** 2)) * 1000)


def _cases(exercise: str, func, cases, rel: float, hint: str) -> str | None:
    """None if func matches every (args, expected); else the verdict, with its feedback."""
    for args, expected in cases:
        got, verdict = call_student(exercise, func, *args)
        if verdict is not None:
            return verdict
        if not close_enough(got, expected, rel):
            shown = ", ".join(
                f"array of shape {np.shape(a)}" if np.ndim(a) else repr(a) for a in args
            )
            print(
                f"{exercise}: not yet right. For ({shown}) you return {got!r}, "
                f"the right answer is {expected!r}. Hint: {hint}"
            )
            return WRONG
    return None


def _broadcasts(exercise: str, func, make_args, expected) -> str | None:
    """WRONG, with the broadcasting feedback, if func on a (T, 1) case is wrong or builds a
    (T, T) matrix on the way (a constant prediction gives the right value even then, so
    its memory tells: tracemalloc counts numpy's allocations)."""
    import tracemalloc

    args = make_args(np.random.default_rng(1))
    tracemalloc.start()
    try:
        got, verdict = call_student(exercise, func, *args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if verdict is not None:
        return verdict
    n = len(args[0])
    want = expected(args)
    if (
        close_enough(got, want, 1e-3) and peak < 8 * n * n / 4
    ):  # a (T, T) float64 matrix: 8 T² bytes
        return None
    shapes = " and ".join(str(np.shape(a)) for a in args[:2])
    print(
        f"{exercise}: not yet right. With arrays of shapes {shapes} you return {got!r} "
        f"(the right answer is {want:.4g}) and your function used {peak / 1e6:.1f} MB for "
        f"{n} samples. A (T, 1) array minus a (T,) array broadcasts to a (T, T) matrix: every "
        "sample against every other. On the multisine test record that is 21,638 x 21,638 "
        "numbers (3.7 GB). Flatten both first: np.ravel(y)."
    )
    return WRONG


def check_benchmark_rmse(benchmark_rmse_mv, learn, name: str = "multisine") -> str:
    """Exercise 02.1: benchmark_rmse_mv(y, y_hat, n_init) on small cases (including a (T, 1)
    target against a (T,) simulation), then on a test record against ``learn.test_rmse()``."""
    err = np.r_[np.full(50, 1.0), np.full(50, 0.002)]  # 1 V off first, then 2 mV off
    verdict = _cases(
        "Exercise 1",
        benchmark_rmse_mv,
        [
            ((np.zeros(100), err), 2.0),
            ((np.zeros(100), err, 50), 2.0),
            ((np.zeros(100), err, 0), _rmse_mv(np.zeros(100), err, 0)),
        ],
        rel=1e-3,
        hint="volts to mV is a factor 1000; leave out y[:n_init].",
    )
    if verdict is not None:
        return verdict
    verdict = _broadcasts(
        "Exercise 1",
        benchmark_rmse_mv,
        lambda rng: (0.01 * rng.standard_normal((2000, 1)), 0.01 * rng.standard_normal(2000)),
        lambda args: _rmse_mv(*args, 50),
    )
    if verdict is not None:
        return verdict
    u, y = learn.dls.test[name]
    y = np.asarray(y, dtype=np.float32).reshape(len(y), -1)  # (T, 1)
    y_hat = learn.simulate((u, y))  # (T, 1), state set from y[:50] as the score does
    mine = float(benchmark_rmse_mv(y, y_hat))
    kit = learn.test_rmse()[name] * 1000 / learn.dls.units[1]  # in mV, whatever the display units
    if not math.isclose(mine, kit, rel_tol=1e-3):
        print(
            f"Exercise 1: not yet right. On {name} you get {mine:.4g} mV, test_rmse {kit:.4g} mV."
        )
        return WRONG
    print(
        f"Exercise 1: right. On the {name} record your score is {mine:.3f} mV, "
        f"learn.test_rmse() says {kit:.3f} mV. Well done."
    )
    return RIGHT


def check_mean_model_rmse(mean_model_rmse_mv) -> str:
    """Exercise 02.2: the score of always predicting the training output's mean, with
    targets in the kit's (T, 1) layout."""
    rng = np.random.default_rng(0)
    y_train, y_test = 0.01 + 0.05 * rng.standard_normal(500), 0.05 * rng.standard_normal(300)
    verdict = _cases(
        "Exercise 2",
        mean_model_rmse_mv,
        [
            ((y_train, y_test), _rmse_mv(y_test, np.full(300, y_train.mean()), 50)),
            ((y_train, y_test, 0), _rmse_mv(y_test, np.full(300, y_train.mean()), 0)),
            ((np.ones(10), np.zeros(60)), 1000.0),
        ],
        rel=1e-6,
        hint="predict y_train.mean() for every test sample, then score as in Exercise 1.",
    )
    if verdict is not None:
        return verdict
    verdict = _broadcasts(
        "Exercise 2",
        mean_model_rmse_mv,
        lambda rng: (
            0.01 + 0.05 * rng.standard_normal((200, 1)),
            0.05 * rng.standard_normal((2000, 1)),
        ),
        lambda args: _rmse_mv(args[1], np.full(2000, np.mean(args[0])), 50),
    )
    if verdict is not None:
        return verdict
    print("Exercise 2: right, on all 4 cases, (T, 1) targets included. Well done.")
    return RIGHT
