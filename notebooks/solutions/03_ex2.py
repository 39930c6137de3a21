# Exercise 2, a worked solution.
# Memory grows with win_sz, so search: double until it no longer fits, then bisect the interval
# between the last window that fits (lo) and the first that does not (hi).
from tbptt_kit.memory import estimate_memory


def largest_full_window(budget):
    def fits(win_sz):
        return estimate_memory("lstm", 40, 1, 16, win_sz) <= budget

    lo, hi = 0, 1
    while fits(hi):
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


largest_full_window(2 * 2**30)
