# Graded test for exercise 09.1: rank_rows(bs, rank, world_size).
# Here: your function on the exercise's first case. When graded: on every case, some drawn
# at random, compared with references computed in a process of their own (the exercise's
# one definition, shared with its self-check: tbptt_kit/course/checks/nb09.py).
from tbptt_kit.course.checks import graded

graded("09.1", rank_rows, first=1)
# --- hidden tests ---
graded("09.1", rank_rows)
