"""The course's central plot: one step's memory against the window, full BPTT and TBPTT."""

from __future__ import annotations

from typing import NamedTuple

import torch

from ...core.model import StatefulRNN
from .measure import measure_memory
from .predict import estimate_memory

__all__ = ["SweepRow", "memory_sweep", "plot_memory_sweep"]


class SweepRow(NamedTuple):
    """One point of the sweep; bytes. sub_seq_len None: full BPTT."""

    win_sz: int
    sub_seq_len: int | None
    measured: int
    predicted: int
    peak: int | None


def memory_sweep(
    win_sizes=(100, 300, 1000, 3000, 10_000),
    sub_seq_lens=(100,),
    rnn_type: str = "lstm",
    hidden_size: int = 40,
    num_layers: int = 1,
    bs: int = 16,
    device="cpu",
    peak: bool = True,
    seed: int = 0,
) -> list[SweepRow]:
    """Measure and predict one step's memory for each window size, full BPTT and TBPTT.

    For every ``win_sz``: full BPTT, then TBPTT with each ``sub_seq_len`` that divides it.
    The data are random (memory does not depend on the values); the prediction uses the
    kernel path the measurement saw.
    """
    torch.manual_seed(seed)
    model = StatefulRNN(1, 1, rnn_type, hidden_size, num_layers).to(device)
    rows = []
    for win_sz in win_sizes:
        u = torch.randn(bs, win_sz, 1, device=device)
        y = torch.randn(bs, win_sz, 1, device=device)
        for sub in (None, *sub_seq_lens):
            if sub is not None and (sub > win_sz or win_sz % sub):
                continue
            report = measure_memory(model, (u, y), sub_seq_len=sub, peak=peak)
            predicted = estimate_memory(
                rnn_type, hidden_size, num_layers, bs, win_sz, sub, device=device, path=report.path
            )
            rows.append(
                SweepRow(win_sz, sub, report.activation_bytes, predicted, report.peak_bytes)
            )
    return rows


def plot_memory_sweep(rows: list[SweepRow], ax=None, peak: bool = True):
    """Activation memory against win_sz: a rising line for full BPTT, flat lines for TBPTT.

    Points are measured, lines predicted (``estimate_memory``); hollow markers: peak.
    """
    import matplotlib.pyplot as plt

    from ..style import describe

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    sub_seq_lens = list(dict.fromkeys(r.sub_seq_len for r in rows))
    for i, sub in enumerate(sub_seq_lens):
        pts = sorted((r for r in rows if r.sub_seq_len == sub), key=lambda r: r.win_sz)
        _plot_one(ax, i, pts, peak)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="window length win_sz (steps)",
        ylabel="activation memory of one step (MiB)" + (", peak: all" if peak else ""),
    )
    ax.set_title("Full BPTT grows with the window; TBPTT stays flat")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    names = ", ".join("full BPTT" if s is None else f"TBPTT({s})" for s in sub_seq_lens)
    describe(
        ax,
        "Memory of one training step against the window length, log-log: predicted lines and "
        f"measured markers (hollow: peak) for {names}; full BPTT rises with the window, TBPTT "
        "stays flat.",
    )
    return ax


def _plot_one(ax, i: int, pts: list[SweepRow], peak: bool = True) -> None:
    """The i-th configuration's points (one sub_seq_len, by win_sz): its predicted line,
    its measured markers and, when measured, its peaks (hollow)."""
    from ..style import curve_style

    mib, sub = 2**20, pts[0].sub_seq_len
    x = [r.win_sz for r in pts]
    label = "full BPTT" if sub is None else f"TBPTT, sub_seq_len={sub}"
    style = curve_style(i)
    color, marker = style["color"], "osD^v"[i % 5]  # each configuration its own marker
    ax.plot(
        x,
        [r.predicted / mib for r in pts],
        color=color,
        ls=style["linestyle"],
        label=f"{label}: predicted",
    )
    ax.plot(x, [r.measured / mib for r in pts], marker, color=color, label=f"{label}: measured")
    if peak and all(r.peak is not None for r in pts):
        ax.plot(
            x,
            [r.peak / mib for r in pts],
            marker,
            mfc="none",
            color=color,
            alpha=0.6,
            label=f"{label}: peak",
        )
