"""Self-checks for the exercises of notebook 05."""

from __future__ import annotations

import numpy as np

from ...modes.bptt import BPTT
from .core import check_cases

__all__ = ["check_largest_fitting_sub_seq_len", "check_steps_per_lab_epoch"]


def check_largest_fitting_sub_seq_len(largest_fitting_sub_seq_len) -> str:
    """Exercise 05.1: largest_fitting_sub_seq_len(win_sz, bs, hidden_size, budget_bytes), an LSTM,
    against the budget guard's advice."""
    from ..memory import predict_step_memory

    def step(**sizes):
        return sum(predict_step_memory(**sizes).values())

    def largest_sub_seq_len(win_sz, budget, **sizes):
        fits = [d for d in range(1, win_sz + 1) if win_sz % d == 0]
        fits = [d for d in fits if step(win_sz=win_sz, sub_seq_len=d, **sizes) <= budget]
        return max(fits) if fits else None

    cases = []
    for win_sz, bs, hidden, budget in (
        (2000, 64, 128, 256 * 2**20),
        (2000, 16, 40, 256 * 2**20),
        (1000, 64, 128, 64 * 2**20),
        (600, 32, 64, 8 * 2**20),
        (500, 16, 40, 2 * 2**20),
    ):
        sizes = dict(rnn_type="lstm", hidden_size=hidden, num_layers=1, bs=bs)
        cases.append(((win_sz, bs, hidden, budget), largest_sub_seq_len(win_sz, budget, **sizes)))
    # a budget just over the whole step at sub_seq_len=100: the activations alone of a longer
    # sub-window fit it, the whole step does not
    sizes = dict(rnn_type="lstm", hidden_size=512, num_layers=1, bs=1)
    budget = step(win_sz=500, sub_seq_len=100, **sizes) + 1
    cases.append(((500, 1, 512, budget), largest_sub_seq_len(500, budget, **sizes)))
    # the boundary: a budget of exactly the step at sub_seq_len=100 fits it (<=, not <)
    sizes = dict(rnn_type="lstm", hidden_size=40, num_layers=1, bs=16)
    budget = step(win_sz=500, sub_seq_len=100, **sizes)
    cases.append(((500, 16, 40, budget), largest_sub_seq_len(500, budget, **sizes)))
    return check_cases(
        "Exercise 1",
        largest_fitting_sub_seq_len,
        cases,
        hint="try the divisors of win_sz from the largest down; sum predict_step_memory's parts.",
    )


def check_steps_per_lab_epoch(steps_per_lab_epoch) -> str:
    """Exercise 05.2: steps_per_lab_epoch(win_sz, sub_seq_len, bs): optimizer steps in one
    lab epoch (50,000 train samples, a window every 50), against the loader's len."""
    from ...core.windows import WindowDataset, WindowLoader

    record = (np.zeros(50_000, np.float32), np.zeros(50_000, np.float32))
    cases = []
    for win_sz, sub_seq_len, bs in ((500, 100, 16), (500, 500, 16), (2000, 100, 64), (300, 25, 4)):
        sub = BPTT.for_window(win_sz, sub_seq_len).loader_sub_seq_len  # = win_sz: full BPTT
        loader = WindowLoader(WindowDataset([record], win_sz, 50), bs, sub_seq_len=sub)
        cases.append(((win_sz, sub_seq_len, bs), len(loader)))
    return check_cases(
        "Exercise 2",
        steps_per_lab_epoch,
        cases,
        hint="windows, then batches of windows (round up), then sub-windows per batch.",
    )
