# Exercise 2, a worked solution.
# TBPTT(k1, k2) re-runs the k2 - k1 steps before each sub-window of k1 steps: step j of the
# sub-window reaches back j + (k2 - k1) steps. The first step (j = 0) reaches least far, so
# every step reaches `delay` back when k2 - k1 >= delay.
def smallest_k2(delay, k1):
    return k1 + delay


smallest_k2(8, 4)
