"""A panel on a static page: a snapshot in place of the live widgets.

The course's site (``make site``, docs/conf.py) is built by running every notebook once; its
pages have no kernel, so a slider there could not redraw and a Train button could not train.
While the site builds, ``TBPTT_KIT_SITE`` is set, and a ``Panel`` displays a static snapshot
instead of itself: a result computed from the same objects when the cell ran, a line saying it
is a snapshot, and links to the live panel on Binder and Colab (``tbptt-launch:binder`` and
``tbptt-launch:colab``, which the site replaces with that page's own links). In JupyterLab,
Notebook, VS Code and Colab nothing changes: the live panel shows.

The two snapshots: ``window_grid`` (notebook 01: windows and optimizer steps per epoch over a
grid of win_sz x stp_sz, with the plot the sliders start from) and ``lab_grid`` (notebook 05:
predicted activation memory and the trained run's score over a grid of win_sz x sub_seq_len).
"""

from __future__ import annotations

import base64
import html
import io
import os

import ipywidgets as widgets

from ..table import Table

__all__ = ["Panel", "lab_grid", "on_static_site", "snapshot_html", "window_grid"]

SITE_VARIABLE = "TBPTT_KIT_SITE"


def on_static_site() -> bool:
    """True while the static site is being built (docs/conf.py sets TBPTT_KIT_SITE)."""
    return os.environ.get(SITE_VARIABLE, "") not in ("", "0")


def png_img(fig, alt: str) -> str:
    """A matplotlib figure as an <img> with the PNG inline (a static page needs no file)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (
        f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" style="max-width:100%">'
    )


def snapshot_html(title: str, body: str) -> str:
    """The snapshot's frame: what it is, the body (HTML), and where the live panel is."""
    return (
        f'<div class="tbptt-snapshot"><p class="tbptt-snapshot-note"><b>Static snapshot</b> of '
        f"the live panel <i>{html.escape(title)}</i>: this page has no kernel, so its controls "
        "cannot run here. The values below were computed when this page was built. Use the "
        'live panel on <a class="tbptt-launch-binder" href="tbptt-launch:binder">Binder</a> or '
        '<a class="tbptt-launch-colab" href="tbptt-launch:colab">Colab</a>.</p>'
        f"{body}</div>"
    )


class Panel(widgets.VBox):
    """A VBox that shows ``snapshot()`` (HTML) in its place on the static site."""

    def __init__(self, children, title: str, snapshot):
        super().__init__(children)
        self.title, self.snapshot = title, snapshot

    def _repr_mimebundle_(self, **kwargs):
        if on_static_site():
            return {
                "text/html": snapshot_html(self.title, self.snapshot()),
                "text/plain": f"<static snapshot of {self.title}>",
            }
        return super()._repr_mimebundle_(**kwargs)


def table_html(rows: list[dict], caption: str) -> str:
    return f"<p>{html.escape(caption)}</p>" + Table(rows)._repr_html_()


def window_grid(explorer, win_szs=(100, 500, 1000), stp_szs=(10, 50, 250, 500)) -> str:
    """Notebook 01's snapshot: the starting plot and summary, and the windows and optimizer
    steps per epoch (bs windows a step) of the whole record over a grid of win_sz x stp_sz."""
    from ..plots import window_starts

    rows = []
    for win_sz in win_szs:
        row = {"win_sz": win_sz}
        for stp_sz in stp_szs:
            n = len(window_starts(len(explorer.u), win_sz, stp_sz))
            row[f"stp_sz={stp_sz}"] = f"{n:,} windows, {-(-n // explorer.bs):,} steps"
        rows.append(row)
    plot = png_img(explorer.figure, f"windows of win_sz={explorer.win_sz.value} samples")
    return f"<p><b>{html.escape(explorer.describe())}</b></p>{plot}" + table_html(
        rows, f"Windows and optimizer steps per epoch at bs={explorer.bs}:"
    )


def lab_grid(lab, win_szs=(200, 500, 1000), sub_seq_lens=(50, 100, None)) -> str:
    """Notebook 05's snapshot: for each win_sz x sub_seq_len (None: full BPTT) of the lab's
    other settings, the predicted activation memory of one step, and one run trained (same
    epochs, seed and data as the lab) with its free-run validation RMSE and steps."""
    from ..memory import format_bytes
    from .lab import SCORE, Lab

    memory, runs = [], []
    for win_sz in win_szs:
        mem_row, run_row = {"win_sz": win_sz}, {"win_sz": win_sz}
        for k in sub_seq_lens:
            grid = Lab(
                win_sz=win_sz,
                sub_seq_len=k or win_sz,
                bs=lab.bs,
                hidden_size=lab.hidden_size,
                rnn_type=lab.rnn_type,
                n_epoch=lab.n_epoch,
                stp_sz=lab.stp_sz,
                lr=lab.lr,
                seed=lab.seed,
                max_memory=lab.max_memory,
                make_dls=lab.make_dls,
            )
            name = f"sub_seq_len={k}" if k else "full BPTT"
            mem_row[name] = format_bytes(grid.predicted()["setting"])
            row = grid.train()
            run_row[name] = f"{row[SCORE]:.1f} mV, {row['steps']} steps" if row else grid.message
        memory.append(mem_row)
        runs.append(run_row)
    setting = f"{lab.rnn_type} {lab.hidden_size}, bs={lab.bs}, {lab.n_epoch} epoch(s)"
    return table_html(memory, f"Predicted activation memory of one training step ({setting}):") + (
        table_html(runs, "Free-run validation RMSE after training, and optimizer steps:")
    )
