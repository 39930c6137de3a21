# Graded test for exercise 08.2: perplexity(bits_per_char).
# Here: your function on the exercise's first case. When graded: on every case, some drawn
# at random, compared with references computed in a process of their own (the exercise's
# one definition, shared with its self-check: tbptt_kit/course/checks/nb08.py).
from tbptt_kit.course.checks import graded

graded("08.2", perplexity, first=1)
# --- hidden tests ---
graded("08.2", perplexity)
