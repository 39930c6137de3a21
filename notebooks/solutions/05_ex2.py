# Exercise 2, a worked solution.
# Windows every 50 samples over 50,000 samples; batches of bs windows (a last, smaller batch
# is a step too: round up); each batch is handed out as win_sz // sub_seq_len sub-windows.
import math


def steps_per_lab_epoch(win_sz, sub_seq_len, bs):
    windows = (50_000 - win_sz) // 50 + 1
    return math.ceil(windows / bs) * (win_sz // sub_seq_len)


steps_per_lab_epoch(500, 100, 16), steps_per_lab_epoch(500, 500, 16)
