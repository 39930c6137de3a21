# Exercise 1, a worked solution.
# Each record takes ceil(length / sub_seq_len) sub-windows (its last one padded); the bs streams
# share them out as evenly as they can, so the longest stream holds ceil(total / bs): one batch
# per sub-window of the longest stream.
import math


def batches_per_epoch(lengths, bs, sub_seq_len):
    total = sum(math.ceil(n / sub_seq_len) for n in lengths)
    return math.ceil(total / bs)


batches_per_epoch([8, 7, 9, 4, 2], bs=3, sub_seq_len=3)
