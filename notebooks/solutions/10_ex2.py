# Exercise 2, a worked solution.
# Truncation at k keeps the lags 0 ... k - 1. It loses (almost) nothing when every lag that
# still carries gradient, here at least tol x the largest, lies below k: k is one more than
# the last such lag.
import numpy as np


def shortest_safe_truncation(lens, tol):
    lens = np.abs(np.asarray(lens, dtype=float))
    last = np.nonzero(lens >= tol * lens.max())[0].max()
    return int(last) + 1


shortest_safe_truncation(0.5 ** np.arange(64), 1e-2)
