"""Self-checks for the exercises of notebook 01."""

from __future__ import annotations

import numpy as np
import torch

from .core import RIGHT, WRONG, call_student, check_cases

__all__ = ["check_n_windows", "check_sub_windows"]

_WINDOW_CASES = [
    (50_000, 500, 10),
    (50_000, 500, 500),
    (1000, 300, 250),
    (1000, 1000, 7),
    (4000, 100, 1),
    (999, 100, 1000),
]


def _true_windows(n_samples: int, win_sz: int, stp_sz: int) -> int:
    from ...core.windows import WindowDataset

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


def _diagnose(got: list, want: list, u: torch.Tensor) -> str | None:
    """What is wrong with the sub-windows ``got`` (None: nothing)."""
    if not isinstance(got, (list, tuple)) or not all(isinstance(g, torch.Tensor) for g in got):
        return f"return a list of tensors, got {type(got).__name__}."
    if len(got) != len(want):
        return f"a window of {u.shape[1]} steps has {len(want)} sub-windows; you return {len(got)}."
    if any(g.shape != w.shape for g, w in zip(got, want)):
        shapes = [tuple(g.shape) for g in got[:3]]
        if got and got[0].shape[0] != u.shape[0]:
            return (
                f"you cut the batch dimension: your sub-windows have shapes {shapes}, each must keep "
                f"all {u.shape[0]} windows, (bs, sub_seq_len, n_u) = {tuple(want[0].shape)}. "
                "Slice the time axis, u[:, t0:t1]."
            )
        return f"your sub-windows have shapes {shapes}, they must be {tuple(want[0].shape)}."
    if all(torch.equal(g, w) for g, w in zip(got, want)):
        return None
    if all(any(torch.equal(g, w) for w in want) for g in got):
        return (
            "your sub-windows are not in time order: the state must flow from the first steps "
            "of the window to the last, so sub-window k holds steps k*sub_seq_len to "
            "(k+1)*sub_seq_len."
        )
    return "your sub-windows hold other steps than the window's, cut on the time axis (dim 1)."


def check_sub_windows(sub_windows) -> str:
    """Exercise 01.2: sub_windows(u, sub_seq_len) -> the sub-windows of a batch of windows
    u (bs, win_sz, n_u), in time order, against ``tbptt_kit.split_windows``."""
    from ...core.batch import split_windows

    for bs, win_sz, n_u, sub_seq_len in ((4, 12, 1, 3), (3, 20, 2, 5), (16, 500, 1, 100)):
        u = torch.arange(bs * win_sz * n_u, dtype=torch.float32).reshape(bs, win_sz, n_u)
        want = [b.u for b in split_windows(u, u, sub_seq_len)]
        got, verdict = call_student("Exercise 2", sub_windows, u, sub_seq_len)
        if verdict:
            return verdict
        problem = _diagnose(list(got) if isinstance(got, (list, tuple)) else got, want, u)
        if problem:
            print(
                f"Exercise 2: not yet right. For u of shape {tuple(u.shape)} and "
                f"sub_seq_len={sub_seq_len}: {problem}"
            )
            return WRONG
    print("Exercise 2: right, your sub-windows match tk.split_windows on 3 cases. Well done.")
    return RIGHT
