"""Self-checks for the exercises of notebook 01."""

from __future__ import annotations

import numpy as np

from .core import check_cases

_WINDOW_CASES = [
    (50_000, 500, 10),
    (50_000, 500, 500),
    (1000, 300, 250),
    (1000, 1000, 7),
    (4000, 100, 1),
    (999, 100, 1000),
]


def _true_windows(n_samples: int, win_sz: int, stp_sz: int) -> int:
    from ..data.windows import WindowDataset

    record = (np.zeros(n_samples, np.float32), np.zeros(n_samples, np.float32))
    return len(WindowDataset([record], win_sz, stp_sz))


def check_n_windows(n_windows) -> str:
    """Exercise 01.1: n_windows(n_samples, win_sz, stp_sz) against the loader's own count."""
    cases = [(args, _true_windows(*args)) for args in _WINDOW_CASES]
    return check_cases(
        "Exercise 1",
        n_windows,
        cases,
        hint="the last window must end at or before the last sample.",
    )


def check_steps_per_epoch(steps_per_epoch) -> str:
    """Exercise 01.2: steps_per_epoch(n_samples, win_sz, stp_sz, bs) against the loader's len."""
    from ..data.windows import WindowDataset, WindowLoader

    cases = []
    for (n, w, s), bs in zip(_WINDOW_CASES, (16, 16, 2, 4, 64, 1)):
        record = (np.zeros(n, np.float32), np.zeros(n, np.float32))
        cases.append(((n, w, s, bs), len(WindowLoader(WindowDataset([record], w, s), bs))))
    return check_cases(
        "Exercise 2",
        steps_per_epoch,
        cases,
        hint="a last, smaller batch still takes one step: round up.",
    )
