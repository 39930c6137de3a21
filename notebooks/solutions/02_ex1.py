# Exercise 1, a worked solution.
# Leave out the first n_init samples, square the errors, average, take the root; volts -> mV.
import numpy as np


def benchmark_rmse_mv(y, y_hat, n_init=50):
    err = np.asarray(y_hat, dtype=float)[n_init:] - np.asarray(y, dtype=float)[n_init:]
    return float(np.sqrt(np.mean(err**2)) * 1000)


benchmark_rmse_mv(y_ms, y_sim)
