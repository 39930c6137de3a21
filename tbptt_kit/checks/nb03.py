"""Self-checks for the exercises of notebook 03."""

from __future__ import annotations

import math

from .core import check_cases


def check_largest_window(largest_window) -> str:
    """Exercise 03.1: the largest win_sz under a budget, from two points of a straight line."""

    def truth(w1, m1, w2, m2, budget):
        slope = (m2 - m1) / (w2 - w1)
        return math.floor((budget - (m1 - slope * w1)) / slope)

    cases = [
        (args, truth(*args))
        for args in [
            (100, 1_100_000, 1100, 10_100_000, 2 * 2**30),  # 9000 bytes per step, 200_000 fixed
            (500, 23_683_072, 4000, 188_809_216, 2 * 2**30),
            (1000, 1000, 2000, 2000, 1500),  # no fixed part: 1 byte per step
            (10, 5000, 20, 6000, 5999),  # just below a whole step
        ]
    ]
    return check_cases(
        "Exercise 1",
        largest_window,
        cases,
        rel=0,
        hint="slope = (m2 - m1) / (w2 - w1); the fixed part is m1 - slope * w1; round down.",
    )


def _largest_full_window(budget: int) -> int:
    """Largest win_sz whose predicted full-BPTT memory (LSTM 40, bs 16) fits: bisection."""
    from ..memory import estimate_memory

    lo, hi = 0, 1
    while estimate_memory("lstm", 40, 1, 16, hi) <= budget:
        lo, hi = hi, 2 * hi
    while hi - lo > 1:  # estimate(lo) fits, estimate(hi) does not
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if estimate_memory("lstm", 40, 1, 16, mid) <= budget else (lo, mid)
    return lo


def check_largest_full_window(largest_full_window) -> str:
    """Exercise 03.2: the longest full-BPTT window the predictor says fits a budget."""
    cases = [((b,), _largest_full_window(b)) for b in (2 * 2**30, 100 * 2**20, 10 * 2**20)]
    return check_cases(
        "Exercise 2",
        largest_full_window,
        cases,
        rel=0,
        hint="memory grows with win_sz: double win_sz until it no longer fits, then bisect.",
    )
