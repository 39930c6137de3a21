# Graded test for exercise 10.1: compensation_factors(probs, n).
# Here: your function on the exercise's first case. When graded: on every case, some drawn
# at random, compared with references computed in a process of their own (the exercise's
# one definition, shared with its self-check: tbptt_kit/course/checks/nb10.py).
from tbptt_kit.course.checks import graded

graded("10.1", compensation_factors, first=1)
# --- hidden tests ---
graded("10.1", compensation_factors)
