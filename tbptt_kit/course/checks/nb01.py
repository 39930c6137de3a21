"""Notebook 01's exercises, each defined once for its self-check and its graded test."""

from __future__ import annotations

import builtins

from .core import Exercise, differs, reads

__builtins__ = dict(vars(builtins))  # a copy: a cell that patches builtins does not reach here

__all__ = [
    "N_WINDOWS",
    "SUB_WINDOWS",
    "check_n_windows",
    "check_sub_windows",
    "reference_n_windows",
    "reference_sub_windows",
]


# -- Exercise 1: n_windows(n_samples, win_sz, stp_sz) ------------------------------------
def reference_n_windows(case) -> int:
    """The windows counted one by one: every start, one every stp_sz samples, whose
    window ends at or before the last sample."""
    n_samples, win_sz, stp_sz = case
    return sum(1 for start in range(0, n_samples, stp_sz) if start + win_sz <= n_samples)


def compare_n_windows(got, want, case):
    n_samples, win_sz, stp_sz = case
    if got == want:
        return None
    if got in (n_samples // stp_sz, -(-n_samples // stp_sz)):
        return (
            f"you return {got}: that counts windows that start in the record but run past "
            "its end. The last window must end at or before the last sample."
        )
    if got == want - 1:
        return f"you return {got}, one window too few: the window that starts at sample 0 counts."
    if got == want + 1:
        return f"you return {got}, one window too many: a window must end inside the record."
    return differs(got, want)


def draw_n_windows(rng) -> list:
    n_samples = rng.randint(1, 20_000)
    return [n_samples, rng.randint(1, n_samples), rng.randint(1, 700)]


N_WINDOWS = Exercise(
    key="01.1",
    func="n_windows",
    fixed=(
        [50_000, 500, 10],
        [50_000, 500, 500],
        [1000, 300, 250],
        [1000, 1000, 7],
        [4000, 100, 1],
        [999, 100, 1000],
        [12_345, 678, 9],
    ),
    draw=draw_n_windows,
    reference=reference_n_windows,
    compare=compare_n_windows,
    answer=reads("plain_whole", "a whole number of windows"),
    blocked=(
        ("WindowDataset", "tbptt_kit.core.windows:WindowDataset"),
        ("WindowLoader", "tbptt_kit.core.windows:WindowLoader"),
        ("window_starts", "tbptt_kit.course.plots:window_starts"),
    ),
    hint="the last window must end at or before the last sample.",
)


def check_n_windows(n_windows, seed: int | None = None) -> str:
    """Exercise 01.1: n_windows(n_samples, win_sz, stp_sz), the windows of win_sz samples,
    one starting every stp_sz samples, that fit in a record of n_samples samples."""
    return N_WINDOWS.check(n_windows, seed)


# -- Exercise 2: sub_windows(u, sub_seq_len) -----------------------------------------------
def _batch(case):
    """u (bs, win_sz, n_u): distinct values, offset + its position, as a flat list."""
    bs, win_sz, n_u, _, offset = case
    return [float(offset + i) for i in range(bs * win_sz * n_u)]


def inputs_sub_windows(case) -> dict:
    import torch

    bs, win_sz, n_u, sub_seq_len, _ = case
    u = torch.tensor(_batch(case), dtype=torch.float32).reshape(bs, win_sz, n_u)
    return {"args": (u, sub_seq_len)}


def reference_sub_windows(case) -> list:
    """Every step gathered by its index: sub-window j holds steps j*k ... (j+1)*k - 1 of
    every window, as (bs, k, n_u)."""
    bs, win_sz, n_u, k, _ = case
    u = _batch(case)
    found = []
    for j in range(win_sz // k):
        values = [
            u[(b * win_sz + t) * n_u + c]
            for b in range(bs)
            for t in range(j * k, (j + 1) * k)
            for c in range(n_u)
        ]
        found.append({"shape": [bs, k, n_u], "values": values})
    return found


def answer_sub_windows(result, call) -> list:
    from ...tooling.grading import NotPlain, plain_tensor

    if type(result) not in (list, tuple):
        raise NotPlain(f"return a list of tensors, not a {type(result).__name__}")
    found = [plain_tensor(s, "a list of tensors") for s in result]
    return [{"shape": s["shape"], "values": s["values"]} for s in found]


def compare_sub_windows(got, want, case):
    bs, win_sz, n_u, k, _ = case
    if len(got) != len(want):
        return (
            f"a window of {win_sz} steps has {len(want)} sub-windows of {k}; you return {len(got)}."
        )
    shapes = [tuple(g["shape"]) for g in got]
    if any(g["shape"] != w["shape"] for g, w in zip(got, want)):
        if got[0]["shape"][:1] != [bs]:
            return (
                f"you cut the batch dimension: your sub-windows have shapes {shapes[:3]}, each "
                f"must keep all {bs} windows, (bs, sub_seq_len, n_u) = {(bs, k, n_u)}. "
                "Slice the time axis, u[:, t0:t1]."
            )
        return f"your sub-windows have shapes {shapes[:3]}; they must be {(bs, k, n_u)}."
    if all(g["values"] == w["values"] for g, w in zip(got, want)):
        return None
    if all(any(g["values"] == w["values"] for w in want) for g in got):
        return (
            "your sub-windows are not in time order: the state must flow from the first steps "
            "of the window to the last, so sub-window j holds steps j*sub_seq_len to "
            "(j+1)*sub_seq_len."
        )
    return "your sub-windows hold other steps than the window's: cut on the time axis (dim 1)."


def draw_sub_windows(rng) -> list:
    k = rng.randint(1, 12)
    return [rng.randint(1, 6), k * rng.randint(1, 6), rng.randint(1, 3), k, rng.randint(0, 999)]


SUB_WINDOWS = Exercise(
    key="01.2",
    func="sub_windows",
    fixed=(
        [4, 12, 1, 3, 0],
        [3, 20, 2, 5, 0],
        [16, 500, 1, 100, 0],
        [2, 9, 3, 9, 7],
        [6, 12, 1, 2, 3],
    ),
    draw=draw_sub_windows,
    inputs=inputs_sub_windows,
    reference=reference_sub_windows,
    compare=compare_sub_windows,
    answer=answer_sub_windows,
    blocked=(
        ("tk.split_windows", "tbptt_kit.core.batch:split_windows"),
        ("WindowLoader", "tbptt_kit.core.windows:WindowLoader"),
    ),
    show=lambda c: f"For u of shape {tuple(c[:3])} and sub_seq_len={c[3]}",
)


def check_sub_windows(sub_windows, seed: int | None = None) -> str:
    """Exercise 01.2: sub_windows(u, sub_seq_len), the sub-windows of a batch of windows u
    (bs, win_sz, n_u), in time order, each (bs, sub_seq_len, n_u)."""
    return SUB_WINDOWS.check(sub_windows, seed)
