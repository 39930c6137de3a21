"""Self-checks for the exercises of notebook 04."""

from __future__ import annotations

import numpy as np

from .core import check_cases


def _as_pairs(value):
    """A list of pairs as a list of tuples (lists or tuples both count); else unchanged."""
    try:
        return [tuple(x) for x in value]
    except TypeError:
        return value


def check_sub_window_schedule(sub_window_schedule) -> str:
    """Exercise 04.1: sub_window_schedule(win_sz, sub_seq_len) -> [(sub_idx, new_window), ...]
    for one batch of windows, against what the loader really hands out."""
    from ..data.windows import WindowDataset, WindowLoader

    cases = []
    for win_sz, sub_seq_len in ((500, 100), (500, 250), (120, 40), (64, 4), (100, 100)):
        record = (np.zeros(win_sz, np.float32), np.zeros(win_sz, np.float32))
        loader = WindowLoader(WindowDataset([record], win_sz, 1), 1, sub_seq_len=sub_seq_len)
        truth = [(b.sub_idx, b.new_window) for b in loader]
        cases.append(((win_sz, sub_seq_len), truth))
    return check_cases(
        "Exercise 1",
        lambda *args: _as_pairs(sub_window_schedule(*args)),
        cases,
        hint="win_sz // sub_seq_len sub-windows; only the first starts a new window.",
    )


def _reach(t: int, sub_seq_len: int | None) -> int:
    return t + 1 if sub_seq_len is None else t % sub_seq_len + 1


def check_gradient_reach(gradient_reach) -> str:
    """Exercise 04.2: gradient_reach(t, sub_seq_len): how many input steps, t itself included,
    the loss at step t of a window can send a gradient to (sub_seq_len None: full BPTT)."""
    args = [(0, 100), (99, 100), (100, 100), (250, 100), (499, 100), (7, 4), (499, None), (0, None)]
    return check_cases(
        "Exercise 2",
        gradient_reach,
        [(a, _reach(*a)) for a in args],
        hint="the gradient stops at the first step of the sub-window that holds t.",
    )
