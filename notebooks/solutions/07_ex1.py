# Exercise 1, a worked solution.
# Each record takes ceil(length / sub_seq_len) sub-windows (its last one padded) and stays whole
# in one row. Longest first, each record goes into the row holding the fewest sub-windows so far
# (the first such row); the longest row sets the number of batches.
import math


def batches_per_epoch(lengths, bs, sub_seq_len):
    rows = [0] * bs  # sub-windows in each row so far
    for n_sub in sorted((math.ceil(n / sub_seq_len) for n in lengths), reverse=True):
        j = rows.index(min(rows))  # the first row with the fewest
        rows[j] += n_sub
    return max(rows)


batches_per_epoch([8, 7, 9, 4, 2], bs=3, sub_seq_len=3)
