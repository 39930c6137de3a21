# Graded test for exercise 01.2: sub_windows(u, sub_seq_len).
# Here: your function on the exercise's first case. When graded: on every case, some drawn
# at random, compared with references computed in a process of their own (the exercise's
# one definition, shared with its self-check: tbptt_kit/course/checks/nb01.py).
from tbptt_kit.course.checks import graded

graded("01.2", sub_windows, first=1)
# --- hidden tests ---
graded("01.2", sub_windows)
