"""Self-checks for the exercises of notebook 06."""

from __future__ import annotations

from .core import check_cases
from .nb04 import _reach


def check_echo_signal_fraction(echo_signal_fraction) -> str:
    """Exercise 06.1: echo_signal_fraction(delay, sub_seq_len): the share of a sub-window's
    steps whose loss gradient reaches the input ``delay`` steps back."""
    args = [(8, 4), (8, 8), (8, 9), (8, 16), (8, 64), (1, 10), (30, 100)]
    return check_cases(
        "Exercise 1",
        echo_signal_fraction,
        [(a, sum(_reach(t, a[1]) > a[0] for t in range(a[1])) / a[1]) for a in args],
        hint="step j of a sub-window (j = 0, 1, ...) reaches back j steps.",
    )


def check_smallest_k2(smallest_k2) -> str:
    """Exercise 06.2: smallest_k2(delay, k1): the smallest k2 for which TBPTT(k1, k2) sends
    every step's loss gradient at least ``delay`` steps back."""
    args = [(8, 4), (8, 16), (8, 8), (1, 1), (30, 10), (5, 100)]
    return check_cases(
        "Exercise 2",
        smallest_k2,
        [(a, a[1] + a[0]) for a in args],
        hint="the first step of a sub-window reaches back k2 - k1 steps (its history).",
    )
