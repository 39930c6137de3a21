# Graded test for exercise 02.2: mean_model_rmse_mv(y_train, y_test, n_init=50).
# The reference predicts the training mean and scores it sample by sample; the kit's RMSEs are
# switched off, and a (T, 1) target must not be broadcast into a (T, T) matrix.
import math
import tracemalloc

import numpy as np

from tbptt_kit.checks import nb02  # noqa: F401 (its _rmse_mv scores arrays too)
from tbptt_kit.checks.grading import kit_disabled

KIT_ANSWERS = ("fun_rmse", "_rmse_mv")
with kit_disabled(mean_model_rmse_mv, *KIT_ANSWERS):
    got = mean_model_rmse_mv(np.ones(10), np.zeros(60))
assert math.isclose(float(got), 1000.0, rel_tol=1e-6), (
    f"predicting the training mean 1 V for test outputs of 0 V is 1000 mV off, got {got!r}"
)
# --- hidden tests ---


def reference_mean_model_rmse_mv(y_train, y_test, n_init=50):
    train = [float(v) for v in np.asarray(y_train, dtype=np.float64).reshape(-1)]
    test = [float(v) for v in np.asarray(y_test, dtype=np.float64).reshape(-1)]
    mean = sum(train) / len(train)
    squares = [(mean - t) ** 2 for t in test[n_init:]]
    return 1000.0 * math.sqrt(sum(squares) / len(squares))


def grading_outputs(seed, n_train, n_test, train_shape, test_shape):
    rng = np.random.default_rng(seed)
    y_train = 0.01 + 0.05 * rng.standard_normal(n_train) + np.linspace(0.03, 0.0, n_train)
    y_test = 0.05 * rng.standard_normal(n_test)
    y_test[:50] += 0.3  # the samples left out are far from the rest
    return y_train.reshape(train_shape), y_test.reshape(test_shape)


cases = [  # (seed, y_train's shape, y_test's shape, n_init: None for the default)
    (0, (500,), (300,), None),
    (1, (500, 1), (300, 1), None),  # the kit's layout
    (2, (400,), (250, 1), None),
    (3, (600, 1), (200,), None),
    (4, (500,), (300, 1), 0),  # nothing left out
    (5, (300, 1), (120,), 51),
    (6, (80,), (100, 1), 99),  # one test sample left
]
for seed, train_shape, test_shape, n_init in cases:
    y_train_t, y_test_t = grading_outputs(seed, train_shape[0], test_shape[0], train_shape,
                                          test_shape)  # fmt: skip
    want = reference_mean_model_rmse_mv(y_train_t, y_test_t, 50 if n_init is None else n_init)
    args = (y_train_t.copy(), y_test_t.copy()) + (() if n_init is None else (n_init,))
    with kit_disabled(mean_model_rmse_mv, *KIT_ANSWERS):
        got = mean_model_rmse_mv(*args)
    assert np.ndim(got) == 0, f"return one number, not an array of shape {np.shape(got)}"
    assert math.isclose(float(got), want, rel_tol=1e-6), (
        f"y_train {train_shape}, y_test {test_shape}, n_init={n_init}: got {float(got):.6g} mV, "
        f"want {want:.6g} mV"
    )

# A constant prediction scores right even when a (T,) minus a (T, 1) array broadcasts to a
# (T, T) matrix; its memory shows it (on the test record: 3.7 GB).
y_train_t, y_test_t = grading_outputs(7, 200, 2000, (200, 1), (2000, 1))
tracemalloc.start()
try:
    with kit_disabled(mean_model_rmse_mv, *KIT_ANSWERS):
        got = mean_model_rmse_mv(y_train_t, y_test_t)
    peak = tracemalloc.get_traced_memory()[1]
finally:
    tracemalloc.stop()
assert math.isclose(float(got), reference_mean_model_rmse_mv(y_train_t, y_test_t), rel_tol=1e-6)
assert peak < 2_000_000, (
    f"{peak / 1e6:.0f} MB for 2000 test samples: a (T, 1) minus a (T,) array broadcasts to a "
    "(T, T) matrix. Flatten y_test first (np.ravel)."
)
