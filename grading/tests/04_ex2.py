# Graded test for exercise 04.2: my_grad_by_lag(model, u, y).
# Here: your function on the exercise's first case. When graded: on every case, some drawn
# at random, compared with references computed in a process of their own (the exercise's
# one definition, shared with its self-check: tbptt_kit/course/checks/nb04.py).
from tbptt_kit.course.checks import graded

graded("04.2", my_grad_by_lag, first=1)
# --- hidden tests ---
graded("04.2", my_grad_by_lag)
