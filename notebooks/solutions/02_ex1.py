# Exercise 1, a worked solution.
# Flatten both first: a (T, 1) minus a (T,) would broadcast to a (T, T) matrix.
# Then leave out the first n_init samples, square the errors, average, take the root; V -> mV.
import numpy as np


def benchmark_rmse_mv(y, y_hat, n_init=50):
    y, y_hat = np.ravel(y).astype(float), np.ravel(y_hat).astype(float)
    err = y_hat[n_init:] - y[n_init:]
    return float(np.sqrt(np.mean(err**2)) * 1000)
