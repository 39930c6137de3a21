"""Figures the course shows. Small functions: each draws one picture and returns its figure.

They draw with plain matplotlib (no ipympl needed) and never call ``plt.show()`` themselves,
so a notebook cell or a widget decides where the picture goes. Text sizes follow matplotlib's
font size (``tk.lecture_style()`` enlarges them all), curves differ in line style and marker as
well as colour (``style.curve_style``), and each figure carries its alt text, printed as a
caption (``style.describe``).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .style import PALETTE, curve_style, describe

__all__ = [
    "plot_error_by_position",
    "plot_free_run",
    "plot_grad_norms",
    "plot_lab_losses",
    "plot_record",
    "plot_sources",
    "plot_sub_windows",
    "plot_windows",
    "window_starts",
]


def window_starts(n_samples: int, win_sz: int, stp_sz: int) -> np.ndarray:
    """Start sample of every window of ``win_sz`` samples, one every ``stp_sz``, in a record of
    ``n_samples`` (the same rule as ``WindowDataset``)."""
    return np.arange(0, max(n_samples - win_sz + 1, 0), stp_sz)


def plot_record(u, y, fs: float | None = None, parts: dict | None = None, title: str = ""):
    """Input u and output y of a whole record (volts, shown in mV), stacked.

    ``parts``: name -> slice, shaded and labelled (e.g. the Silverbox's standard split).
    """
    u, y = np.asarray(u).ravel(), np.asarray(y).ravel()
    t = np.arange(len(u)) / fs if fs else np.arange(len(u))
    fig, (ax_u, ax_y) = plt.subplots(2, 1, figsize=(9, 4.4), sharex=True)
    ax_u.plot(t, 1e3 * u, lw=0.3, color=PALETTE[0])
    ax_y.plot(t, 1e3 * y, lw=0.3, color=PALETTE[1])
    ax_u.set(ylabel="input u (mV)")
    fig.suptitle(title)
    ax_y.set(ylabel="output y (mV)", xlabel="time (s)" if fs else "sample")
    for i, (name, part) in enumerate((parts or {}).items()):
        lo, hi = (part.start / fs, part.stop / fs) if fs else (part.start, part.stop)
        for ax in (ax_u, ax_y):
            ax.axvspan(lo, hi, color=PALETTE[(i + 2) % len(PALETTE)], alpha=0.12, lw=0)
        ax_u.text(  # alternate rows: neighbouring short parts' names do not overprint
            (lo + hi) / 2,
            1.02 + 0.12 * (i % 2),
            name,
            transform=ax_u.get_xaxis_transform(),
            ha="center",
            fontsize="small",
            color=PALETTE[(i + 2) % len(PALETTE)],
        )
    fig.tight_layout()
    names = ", ".join(parts or {}) or "no parts marked"
    return describe(
        fig,
        f"{title or 'A record'}: input u (top) and output y (bottom) in mV against "
        f"{'time' if fs else 'sample'}, {len(u):,} samples; shaded parts: {names}.",
    )


def plot_sources(records: dict, fs: float, zoom: slice = slice(50000, 50400)):
    """Several records side by side (name -> (u, y)): one column each; the input u and the
    output y over a short stretch ``zoom``, then y over the whole record. Shared axes."""
    n = len(records)
    fig, axes = plt.subplots(3, n, figsize=(4.5 * n, 6), squeeze=False, sharey="row")
    for col, (name, (u, y)) in enumerate(records.items()):
        u, y = np.asarray(u).ravel(), np.asarray(y).ravel()
        t = np.arange(len(y)) / fs
        axes[0, col].plot(t[zoom], 1e3 * u[zoom], lw=1, color=PALETTE[0])
        axes[0, col].set_title(name)
        axes[1, col].plot(t[zoom], 1e3 * y[zoom], lw=1, color=PALETTE[1])
        axes[1, col].set_xlabel("time (s)")
        axes[2, col].plot(t, 1e3 * y, lw=0.2, color=PALETTE[1])
        axes[2, col].set_xlabel("time (s)")
    axes[0, 0].set_ylabel("u (mV), zoomed")
    axes[1, 0].set_ylabel("y (mV), zoomed")
    axes[2, 0].set_ylabel("y (mV), whole record")
    fig.tight_layout()
    return describe(
        fig,
        f"Records side by side, one column each ({', '.join(records)}): input u and output y "
        f"in mV over samples {zoom.start:,} to {zoom.stop:,}, then y over the whole record.",
    )


def plot_windows(u, y, win_sz: int, stp_sz: int, view: int = 4000, max_drawn: int = 25):
    """The first ``view`` samples of u and y, and below them the windows that
    ``win_sz``/``stp_sz`` cut there: one bar per window, the first ``max_drawn`` of them."""
    u, y = np.asarray(u).ravel()[:view], np.asarray(y).ravel()[:view]
    starts = window_starts(len(np.asarray(u)), win_sz, stp_sz)[:max_drawn]
    fig, (ax_u, ax_y, ax_w) = plt.subplots(
        3, 1, figsize=(9, 5), sharex=True, gridspec_kw={"height_ratios": [1, 1, 2]}
    )
    ax_u.plot(1e3 * u, lw=0.6, color=PALETTE[0])
    ax_y.plot(1e3 * y, lw=0.6, color=PALETTE[1])
    ax_u.set_ylabel("u (mV)")
    ax_y.set_ylabel("y (mV)")
    for row, s in enumerate(starts):
        color = PALETTE[row % len(PALETTE)]
        ax_w.broken_barh([(s, win_sz)], (row - 0.4, 0.8), color=color, alpha=0.7)
    if len(starts):  # the first window, shaded over the signals
        for ax in (ax_u, ax_y):
            ax.axvspan(starts[0], starts[0] + win_sz, color=PALETTE[0], alpha=0.08, lw=0)
    ax_w.set(
        xlim=(0, view), ylim=(max(len(starts), 1) - 0.5, -0.5), xlabel="sample", ylabel="window"
    )
    ax_w.set_title(
        f"the first {len(starts)} windows: win_sz={win_sz}, stp_sz={stp_sz}", fontsize="medium"
    )
    fig.tight_layout()
    return describe(
        fig,
        f"The first {view:,} samples of u and y (mV), and below them the first {len(starts)} "
        f"windows as bars, one row each: {win_sz} samples long, one starting every {stp_sz}.",
    )


def plot_free_run(y, y_hat, fs: float | None = None, zoom: slice | None = None, title: str = ""):
    """Measured output y and a free-run simulation y_hat of the same record (volts, shown in
    mV), and their difference; ``zoom`` picks a stretch to show (default: all)."""
    y, y_hat = np.asarray(y).ravel(), np.asarray(y_hat).ravel()
    zoom = zoom or slice(0, len(y))
    t = np.arange(len(y))[zoom]
    t = t / fs if fs else t
    fig, (ax, ax_e) = plt.subplots(
        2, 1, figsize=(9, 4), sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    ax.plot(t, 1e3 * y[zoom], label="measured y", **curve_style(0))
    ax.plot(t, 1e3 * y_hat[zoom], label="free-run simulation", **curve_style(1, len(t)))
    ax.set(ylabel="y (mV)", title=title)
    ax.legend(loc="upper right")
    ax_e.plot(t, 1e3 * (y_hat[zoom] - y[zoom]), lw=0.8, color=PALETTE[3])
    ax_e.set(ylabel="error (mV)", xlabel="time (s)" if fs else "sample")
    fig.tight_layout()
    err = 1e3 * np.sqrt(np.mean(np.square(y_hat[zoom] - y[zoom])))
    return describe(
        fig,
        f"{title or 'Free run'}: measured output (solid) and free-run simulation (dashed, "
        f"circles) in mV over {len(t):,} samples; below, their difference, RMSE {err:.2f} mV.",
    )


# -- the lab panel (notebook 05) -----------------------------------------------------------
def plot_lab_losses(
    losses,
    earlier: dict | None = None,
    title: str = "",
    figsize=(6.4, 2.8),
    ylabel: str = "training loss: MAE (V)",
):
    """The lab's live loss plot: training loss per optimizer step (log scale), the run in
    progress bold, ``earlier`` runs (label -> losses) faint behind it for comparison.
    ``ylabel`` names the loss and its unit (the lab's: mean absolute error in volts).

    Built on a bare ``matplotlib.figure.Figure`` (not pyplot), so drawing it many times a
    second during training leaves no figures open and never shows one by itself.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=figsize)  # matplotlib's dpi: lecture_style and rcParams apply
    ax = fig.add_subplot()
    for i, (label, curve) in enumerate((earlier or {}).items()):
        ax.plot(curve, lw=1, alpha=0.6, label=label, **curve_style(i + 1, len(curve)))
    if len(losses):
        ax.plot(losses, lw=2, label="this run", **curve_style(0))
    ax.set(xlabel="optimizer step", ylabel=ylabel, title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if any(len(c) for c in [losses, *(earlier or {}).values()]):
        ax.set_yscale("log")
        ax.legend(fontsize="small", loc="upper right")
    ax.grid(True, which="both", alpha=0.25)
    fig.tight_layout()
    last = f", last {losses[-1]:.3g}" if len(losses) else ""
    return describe(
        fig,
        f"Training loss per optimizer step, log scale: this run ({len(losses)} steps{last}, "
        f"solid) and {len(earlier or {})} earlier runs ({', '.join(earlier or {}) or 'none'}).",
        caption=False,  # redrawn live: the alt text only
    )


# -- state bleeding (notebook 06) ----------------------------------------------------------
def plot_error_by_position(curves: dict, first: int | None = None, ax=None, units: str = ""):
    """RMSE against the step within the window, one line per label -> ``error_by_position``
    array; ``first`` shows only the first steps, where the starting state matters."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.2))
    for i, (label, err) in enumerate(curves.items()):
        err = np.asarray(err)[:first]
        ax.plot(np.arange(len(err)), err, label=label, **curve_style(i, len(err)))
    ax.set(xlabel="step within the window", ylabel=f"RMSE{f' ({units})' if units else ''}")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend()
    describe(ax, f"RMSE against the step within the window, one line per run: {', '.join(curves)}.")
    return ax


# -- TBPTT's layout (notebook 04) and gradient norms (notebook 06) ---------------------------
def plot_sub_windows(win_sz: int = 500, sub_seq_len: int = 100, bs: int = 4, n_batches: int = 2):
    """How TBPTT hands out windows: ``n_batches`` batches of ``bs`` windows (one row each),
    every window cut into sub-windows of ``sub_seq_len`` steps. Each sub-window column is one
    optimizer step, numbered in the order the loader hands them out; between two columns the
    state is carried and detached ("✂"); at each new batch it is reset ("reset")."""
    if win_sz % sub_seq_len:
        raise ValueError(
            f"sub_seq_len={sub_seq_len} must divide win_sz={win_sz} (e.g. {win_sz // 5})."
        )
    n_sub = win_sz // sub_seq_len
    fig, axes = plt.subplots(1, n_batches, figsize=(4.6 * n_batches, 0.5 * bs + 1.6), sharey=True)
    axes = np.atleast_1d(axes)
    for b, ax in enumerate(axes):
        for k in range(n_sub):
            color = PALETTE[k % len(PALETTE)]
            for row in range(bs):
                ax.add_patch(
                    plt.Rectangle(
                        (k * sub_seq_len, row + 0.1), sub_seq_len, 0.8, color=color, alpha=0.35
                    )
                )
            ax.text(
                (k + 0.5) * sub_seq_len,
                bs + 0.15,
                f"step {b * n_sub + k + 1}",
                ha="center",
                fontsize="small",
            )
            if k:
                ax.axvline(k * sub_seq_len, color="k", lw=1.2, ls="--")
                ax.text(k * sub_seq_len, -0.45, "✂", ha="center", fontsize="medium")
        ax.text(0, -0.45, "reset", ha="left", fontsize="small", color=PALETTE[3])
        ax.set(
            xlim=(0, win_sz),
            ylim=(-0.7, bs + 0.6),
            xlabel="step within the window",
            title=f"batch {b + 1}: {bs} new windows",
        )
        ax.set_yticks(np.arange(bs) + 0.5, [f"row {r}" for r in range(bs)])
    axes[0].set_ylabel("batch row (one window each)")
    fig.suptitle(
        f"win_sz {win_sz} cut into sub-windows of {sub_seq_len}: one optimizer step each; "
        "✂ carry the state, detached",
        fontsize="medium",
    )
    fig.tight_layout()
    return describe(
        fig,
        f"{n_batches} batches of {bs} windows of {win_sz} steps, one row per window, each cut "
        f"into {n_sub} sub-windows of {sub_seq_len} steps, numbered as optimizer steps 1 to "
        f"{n_batches * n_sub}; the state is carried and detached between sub-windows and reset "
        "at each new batch.",
    )


def plot_grad_norms(runs: dict, max_norm: float | None = None, ax=None):
    """Gradient norm before clipping at each optimizer step (``GradClipCB.norms``), one line
    per label -> list of norms, on a log axis; ``max_norm``: the clipping threshold."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.2))
    for i, (label, norms) in enumerate(runs.items()):
        ax.plot(
            np.arange(1, len(norms) + 1), norms, lw=1, label=label, **curve_style(i, len(norms))
        )
    if max_norm is not None:
        ax.axhline(max_norm, color="k", ls=(0, (8, 3)), lw=1.5, label=f"max_norm = {max_norm:g}")
    ax.set(xlabel="optimizer step", ylabel="gradient norm (before clipping)", yscale="log")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize="small")
    threshold = f"; the clipping threshold {max_norm:g} as a long-dashed line" if max_norm else ""
    describe(
        ax,
        f"Gradient norm before clipping at each optimizer step, log scale, for "
        f"{', '.join(runs)}{threshold}.",
    )
    return ax
