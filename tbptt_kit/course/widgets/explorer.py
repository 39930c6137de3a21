"""``WindowExplorer`` (notebook 01): sliders for win_sz and stp_sz, and the windows they cut.

The picture is drawn with matplotlib's inline backend inside an ``Output`` widget, so it works
in JupyterLab 4, Notebook 7, VS Code and Colab without ipympl. DOM hooks for browser tests:
CSS classes ``tbptt-window-explorer-...`` on the panel and its parts.
"""

from __future__ import annotations

import math

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from ..plots import plot_windows, window_starts
from .snapshot import Panel, window_grid

__all__ = ["WindowExplorer"]


def _slider(description: str, value: int, lo: int, hi: int, step: int = 1) -> widgets.IntSlider:
    return widgets.IntSlider(
        value=value,
        min=lo,
        max=hi,
        step=step,
        description=description,
        continuous_update=False,  # redraw once, when the handle is let go
        style={"description_width": "initial"},
        layout=widgets.Layout(width="420px"),
    )


class WindowExplorer:
    """Sliders for ``win_sz`` and ``stp_sz`` that draw the windows cut from a record.

    ``WindowExplorer(u, y)``: u and y are one record (1-D, volts). The plot shows the first
    ``view`` samples and the first ``max_drawn`` windows as bars; the summary line counts
    the windows of the whole record and the optimizer steps per epoch at batch size ``bs``.

    State for tests: ``.win_sz.value``, ``.stp_sz.value``, ``.starts``, ``.n_windows``,
    ``.steps_per_epoch``, ``.summary.value`` (HTML), ``.n_draws`` and ``.figure`` (the last
    figure drawn).
    """

    def __init__(
        self,
        u,
        y,
        win_sz: int = 500,
        stp_sz: int = 250,
        bs: int = 16,
        view: int = 4000,
        max_drawn: int = 25,
        max_win_sz: int = 2000,
    ):
        self.u, self.y = np.asarray(u).ravel(), np.asarray(y).ravel()
        if len(self.u) != len(self.y):
            raise ValueError(f"u and y differ in length: {len(self.u)} vs {len(self.y)}")
        self.bs, self.view, self.max_drawn = bs, min(view, len(self.u)), max_drawn
        max_win_sz = min(max_win_sz, self.view)
        self.win_sz = _slider("win_sz", min(win_sz, max_win_sz), 10, max_win_sz, 10)
        self.stp_sz = _slider("stp_sz", min(stp_sz, max_win_sz), 1, max_win_sz)
        self.summary = widgets.HTML()
        self.out = widgets.Output()
        self.n_draws, self.figure = 0, None
        for part, name in (
            (self.win_sz, "win-sz"),
            (self.stp_sz, "stp-sz"),
            (self.summary, "summary"),
            (self.out, "plot"),
        ):
            part.add_class(f"tbptt-window-explorer-{name}")
        self.panel = Panel(
            [widgets.HBox([self.win_sz, self.stp_sz]), self.summary, self.out],
            "the window explorer",
            snapshot=lambda: window_grid(self),  # on the static site only (snapshot.py)
        )
        self.panel.add_class("tbptt-window-explorer")
        self.win_sz.observe(self.update, names="value")
        self.stp_sz.observe(self.update, names="value")
        self.update()

    # -- what the sliders imply --------------------------------------------------------
    @property
    def starts(self) -> np.ndarray:
        """Start sample of every window in the whole record."""
        return window_starts(len(self.u), self.win_sz.value, self.stp_sz.value)

    @property
    def n_windows(self) -> int:
        return len(self.starts)

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch of full BPTT: batches of ``bs`` windows."""
        return math.ceil(self.n_windows / self.bs)

    @property
    def unused_tail(self) -> int:
        """Samples at the end of the record that no window covers."""
        return len(self.u) - (int(self.starts[-1]) + self.win_sz.value) if self.n_windows else 0

    def describe(self) -> str:
        """The summary line, as plain text."""
        w, s, n = self.win_sz.value, self.stp_sz.value, self.n_windows
        text = (
            f"{n:,} windows of {w} samples, one every {s} samples: "
            f"{self.steps_per_epoch:,} steps per epoch at bs={self.bs}. "
        )
        if s < w:
            text += f"Neighbouring windows overlap by {w - s} samples ({(w - s) / w:.0%}); "
            text += f"a sample lies in up to {math.ceil(w / s)} windows. "
        elif s == w:
            text += "Windows lie back to back, no overlap. "
        else:
            text += f"Gaps: {s - w} samples between windows are never trained on. "
        text += f"{self.unused_tail} samples at the end fit no window."
        return text

    # -- drawing -----------------------------------------------------------------------
    def update(self, change=None) -> None:
        """Recompute the summary and redraw the plot (called whenever a slider moves)."""
        self.summary.value = f"<b>{self.describe()}</b>"
        with self.out:
            self.out.clear_output(wait=True)
            self.figure = plot_windows(
                self.u,
                self.y,
                self.win_sz.value,
                self.stp_sz.value,
                view=self.view,
                max_drawn=self.max_drawn,
            )
            self.figure.axes[2].yaxis.set_major_locator(MaxNLocator(integer=True))  # window index
            plt.show()
        plt.close(self.figure)
        self.n_draws += 1

    def _repr_mimebundle_(self, **kwargs):
        return self.panel._repr_mimebundle_(**kwargs)
