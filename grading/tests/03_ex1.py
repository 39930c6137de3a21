# Graded test for exercise 03.1: largest_window(w1, m1, w2, m2, budget).
# Here: your function on the exercise's first case. When graded: on every case, some drawn
# at random, compared with references computed in a process of their own (the exercise's
# one definition, shared with its self-check: tbptt_kit/course/checks/nb03.py).
from tbptt_kit.course.checks import graded

graded("03.1", largest_window, first=1)
# --- hidden tests ---
graded("03.1", largest_window)
