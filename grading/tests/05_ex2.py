# Graded test for exercise 05.2: steps_per_lab_epoch(win_sz, sub_seq_len, bs).
# Here: your function on the exercise's first case. When graded: on every case, some drawn
# at random, compared with references computed in a process of their own (the exercise's
# one definition, shared with its self-check: tbptt_kit/course/checks/nb05.py).
from tbptt_kit.course.checks import graded

graded("05.2", steps_per_lab_epoch, first=1)
# --- hidden tests ---
graded("05.2", steps_per_lab_epoch)
