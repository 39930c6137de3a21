# Graded test for exercise 07.1: batches_per_epoch(lengths, bs, sub_seq_len).
# Here: your function on the exercise's first case. When graded: on every case, some drawn
# at random, compared with references computed in a process of their own (the exercise's
# one definition, shared with its self-check: tbptt_kit/course/checks/nb07.py).
from tbptt_kit.course.checks import graded

graded("07.1", batches_per_epoch, first=1)
# --- hidden tests ---
graded("07.1", batches_per_epoch)
