# Exercise 1, a worked solution.
# A straight line through the two points: memory = fixed + slope * win_sz. Solve
# fixed + slope * win_sz <= budget for win_sz and round down to a whole window.
import math


def largest_window(w1, m1, w2, m2, budget):
    slope = (m2 - m1) / (w2 - w1)  # bytes per step of the window
    fixed = m1 - slope * w1  # bytes that do not depend on the window
    return math.floor((budget - fixed) / slope)


largest_window(full[0].win_sz, full[0].measured, full[-1].win_sz, full[-1].measured, 2 * 2**30)
