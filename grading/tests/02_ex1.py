# Graded test for exercise 02.1: benchmark_rmse_mv(y, y_hat, n_init=50).
# Here: your function on the exercise's first case. When graded: on every case, some drawn
# at random, compared with references computed in a process of their own (the exercise's
# one definition, shared with its self-check: tbptt_kit/course/checks/nb02.py).
from tbptt_kit.course.checks import graded

graded("02.1", benchmark_rmse_mv, first=1)
# --- hidden tests ---
graded("02.1", benchmark_rmse_mv)
