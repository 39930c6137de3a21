# Graded test for exercise 02.1: benchmark_rmse_mv(y, y_hat, n_init=50).
# The reference adds up the squared errors one sample at a time; the kit's RMSEs are switched off.
import math

import numpy as np

from tbptt_kit.checks import nb02  # noqa: F401 (its _rmse_mv scores arrays too)
from tbptt_kit.checks.grading import kit_disabled

KIT_ANSWERS = ("fun_rmse", "_rmse_mv")
err_t = np.r_[np.full(50, 1.0), np.full(50, 0.002)]  # 1 V off first, then 2 mV off
with kit_disabled(benchmark_rmse_mv, *KIT_ANSWERS):
    got = benchmark_rmse_mv(np.zeros(100), err_t)
assert math.isclose(float(got), 2.0, rel_tol=1e-6), (
    f"benchmark_rmse_mv(zeros(100), err) should be 2.0 mV (the first 50 samples left out), "
    f"got {got!r}"
)
# --- hidden tests ---


def reference_rmse_mv(y, y_hat, n_init=50):
    ys = [float(v) for v in np.asarray(y, dtype=np.float64).reshape(-1)]
    hs = [float(v) for v in np.asarray(y_hat, dtype=np.float64).reshape(-1)]
    squares = [(h - t) ** 2 for t, h in zip(ys[n_init:], hs[n_init:])]
    return 1000.0 * math.sqrt(sum(squares) / len(squares))


def grading_signals(seed, T, y_shape, y_hat_shape, dtype=np.float64):
    rng = np.random.default_rng(seed)
    y = 0.05 * rng.standard_normal(T)
    y_hat = y + 0.002 + 0.003 * rng.standard_normal(T)  # a biased, noisy simulation
    y_hat[:50] += 0.5  # the first samples, set from y, are far off
    return y.reshape(y_shape).astype(dtype), y_hat.reshape(y_hat_shape).astype(dtype)


cases = [  # (seed, T, y's shape, y_hat's shape, n_init: None for the default, dtype)
    (0, 300, (300,), (300,), None, np.float64),
    (1, 300, (300, 1), (300,), None, np.float64),  # the kit's (T, 1) target, a (T,) simulation
    (2, 400, (400,), (400, 1), None, np.float64),
    (3, 500, (500, 1), (500, 1), None, np.float32),
    (4, 200, (200, 1), (200,), 0, np.float64),  # nothing left out
    (5, 200, (200,), (200,), 1, np.float64),
    (6, 200, (200, 1), (200, 1), 51, np.float64),  # off by one either way shows
    (7, 120, (120,), (120, 1), 119, np.float64),  # one sample left
]
for seed, T, y_shape, y_hat_shape, n_init, dtype in cases:
    y_t, y_hat_t = grading_signals(seed, T, y_shape, y_hat_shape, dtype)
    want = reference_rmse_mv(y_t, y_hat_t, 50 if n_init is None else n_init)
    args = (y_t.copy(), y_hat_t.copy()) + (() if n_init is None else (n_init,))
    with kit_disabled(benchmark_rmse_mv, *KIT_ANSWERS):
        got = benchmark_rmse_mv(*args)
    assert np.ndim(got) == 0, f"return one number, not an array of shape {np.shape(got)}"
    assert math.isclose(float(got), want, rel_tol=1e-5), (
        f"y {y_shape}, y_hat {y_hat_shape}, n_init={n_init}: got {float(got):.6g} mV, "
        f"want {want:.6g} mV"
    )
