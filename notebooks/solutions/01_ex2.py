# Exercise 2, a worked solution.
# One step per batch of bs windows; a last, smaller batch is a step too, so round up.
import math


def steps_per_epoch(n_samples, win_sz, stp_sz, bs):
    windows = (n_samples - win_sz) // stp_sz + 1  # as in Exercise 1
    return math.ceil(windows / bs)


# stp_sz=10 gives ten times the windows, and so ten times the steps, of stp_sz=100
steps_per_epoch(50_000, 500, 10, 16), steps_per_epoch(50_000, 500, 100, 16)
