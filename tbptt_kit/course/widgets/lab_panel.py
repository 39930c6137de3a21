"""``LabPanel``: the lab of notebook 05 as widgets, a thin view over a ``Lab``.

Every control calls ``Lab.set`` and then ``sync`` shows the lab's state again: which
sub_seq_len values are on offer, the predicted memory, the message, whether Train may be
pressed. The rules and the runs live in ``lab.py``; nothing here decides anything.
"""

from __future__ import annotations

import base64
import html
import io

import ipywidgets as widgets

from ...core.model import RNN_TYPES
from ..plots import plot_lab_losses
from .lab import Lab
from .lab_rules import BS_OPTIONS, HIDDEN_OPTIONS, LAYOUTS
from .snapshot import Panel, lab_grid

__all__ = ["LabPanel", "STYLE", "png_output"]

STYLE = {"description_width": "initial"}


def png_output(fig) -> dict:
    """A figure as one display_data output: the same PNG in every front-end, no backend."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"), "text/plain": "<plot>"}
    return {"output_type": "display_data", "data": data, "metadata": {}}


class LabPanel:
    """The lab's controls, its predicted memory, a Train button, the live loss plot, the runs.

    ``LabPanel(**settings)`` makes a ``Lab(**settings)`` (see ``Lab`` for the arguments:
    win_sz, sub_seq_len, bs, hidden_size, rnn_type, n_epoch, layout, stp_sz, max_memory, ...);
    ``LabPanel(lab=lab)`` shows an existing one. ``.lab`` is the Lab; ``.panel`` the VBox to
    display (the object itself displays as the panel).

    Widgets: ``layout`` (ToggleButtons windows/streams), ``win_sz`` (IntSlider, disabled for
    streams), ``sub_seq_len`` (Dropdown of the lab's options), ``bs``, ``hidden_size``
    (SelectionSliders), ``rnn_type`` (ToggleButtons), ``n_epoch`` (IntSlider), ``memory``,
    ``message``, ``status`` (HTML), ``train_button``, ``loss_plot`` (Output holding a PNG),
    ``results`` (HTML: the runs' table).

    From code: ``set(...)`` (False when the lab refuses a sub_seq_len), ``train()`` (the row or
    None), ``runs``, ``memory_text``, ``message_text``.

    CSS classes for browser tests: tbptt-lab-panel, tbptt-layout, tbptt-win-sz,
    tbptt-sub-seq-len, tbptt-predicted-memory, tbptt-message, tbptt-train, tbptt-status,
    tbptt-loss-plot, tbptt-results.
    """

    def __init__(self, *, lab: Lab | None = None, **settings):
        self.lab = lab or Lab(**settings)
        self.n_draws, self._syncing = 0, False
        self._make_controls()
        self.memory, self.message, self.status = widgets.HTML(), widgets.HTML(), widgets.HTML()
        self.train_button = widgets.Button(
            description="Train",
            button_style="primary",
            icon="play",
            tooltip="Train this setting; add a row to the results",
        )
        self.loss_plot = widgets.Output(layout=widgets.Layout(min_height="210px"))
        self.results = widgets.HTML()
        self._make_panel()
        self.sync()
        for name, control in self.controls.items():
            control.observe(lambda change, name=name: self._on_change(name, change), names="value")
        self.train_button.on_click(self._on_click)
        self.draw("press Train")

    def _make_controls(self) -> None:
        """One widget per setting of the lab, in ``self.controls`` by the setting's name."""
        lo, hi, step = self.lab.win_range
        self.layout = widgets.ToggleButtons(options=LAYOUTS, description="layout", style=STYLE)
        self.win_sz = widgets.IntSlider(
            min=lo, max=hi, step=step, description="win_sz", continuous_update=False, style=STYLE
        )
        self.sub_seq_len = widgets.Dropdown(description="sub_seq_len", style=STYLE)
        self.bs = widgets.SelectionSlider(
            options=BS_OPTIONS, description="batch size", continuous_update=False, style=STYLE
        )
        self.hidden_size = widgets.SelectionSlider(
            options=HIDDEN_OPTIONS, description="hidden size", continuous_update=False, style=STYLE
        )
        self.rnn_type = widgets.ToggleButtons(
            options=tuple(RNN_TYPES), description="RNN", style=STYLE
        )
        self.rnn_type.style.button_width, self.layout.style.button_width = "70px", "90px"
        self.n_epoch = widgets.IntSlider(
            min=1,
            max=self.lab.max_epochs,
            description="epochs",
            continuous_update=False,
            style=STYLE,
        )
        self.controls = dict(
            layout=self.layout,
            win_sz=self.win_sz,
            sub_seq_len=self.sub_seq_len,
            bs=self.bs,
            hidden_size=self.hidden_size,
            rnn_type=self.rnn_type,
            n_epoch=self.n_epoch,
        )

    def _make_panel(self) -> None:
        """The widgets laid out in ``self.panel``, each with its CSS class for browser tests."""
        parts = dict(
            self.controls,
            memory=self.memory,
            message=self.message,
            status=self.status,
            train=self.train_button,
            loss_plot=self.loss_plot,
            results=self.results,
        )
        for name, part in parts.items():
            css = {"memory": "predicted-memory"}.get(name, name.replace("_", "-"))
            part.add_class(f"tbptt-{css}")
        rows = [
            self.layout,
            widgets.HBox([self.win_sz, self.sub_seq_len]),
            widgets.HBox([self.bs, self.hidden_size]),
            widgets.HBox([self.rnn_type, self.n_epoch]),
            self.memory,
            self.message,
            widgets.HBox([self.train_button, self.status]),
            self.loss_plot,
            self.results,
        ]
        # On the course's static site the panel shows a snapshot in its place (snapshot.py).
        self.panel = Panel(rows, "the lab", snapshot=lambda: lab_grid(self.lab))
        self.panel.add_class("tbptt-lab-panel")

    # -- the lab's state, shown ------------------------------------------------------------
    def sync(self) -> None:
        """Show the lab's state in every widget (no widget event reaches the lab meanwhile)."""
        lab, self._syncing = self.lab, True
        try:
            self.sub_seq_len.options = lab.sub_seq_len_options()
            for name, control in self.controls.items():
                control.value = getattr(lab, name)
            self.win_sz.disabled = lab.layout == "streams"  # win_sz does not apply to streams
            self.memory.value = html.escape(lab.memory_text)
            self.message.value = html.escape(lab.message)
            self.status.value = html.escape(lab.status)
            self.train_button.disabled = lab.running or bool(lab.refusal())
            self.results.value = (
                lab.runs._repr_html_() if lab.runs else "<i>No runs yet: press Train.</i>"
            )
        finally:
            self._syncing = False

    def _on_change(self, name: str, change) -> None:
        if not self._syncing:
            self.lab.set(**{name: change["new"]})
            self.sync()

    def draw(self, title: str) -> None:
        """The loss plot: this run bold (if any), the last four earlier runs faint."""
        live = self.lab.live.losses if self.lab.live else []
        earlier = [(k, v) for k, v in self.lab.curves.items() if v is not live][-4:]
        fig = plot_lab_losses(live, earlier=dict(earlier), title=title)
        self.loss_plot.outputs = (png_output(fig),)
        self.n_draws += 1

    # -- driving it from code ----------------------------------------------------------------
    def set(self, **values) -> bool:
        """``Lab.set``, then shown: False (and why in ``message``) for a refused sub_seq_len."""
        try:
            return self.lab.set(**values)
        finally:
            self.sync()

    def train(self, button=None) -> dict | None:
        """Train the current setting (``Lab.train``), redrawing the plot as it goes."""

        def progress(lab):
            self.status.value = html.escape(lab.status)
            self.draw(f"step {len(lab.live.losses)}/{lab.live.total}")

        self.train_button.disabled, self.train_button.description = True, "Training…"
        try:
            return self.lab.train(on_update=progress)
        finally:
            self.train_button.description = "Train"
            self.sync()

    def _on_click(self, button) -> None:
        try:
            self.train()
        except KeyboardInterrupt:  # the stop button: the run ends, the panel stays usable
            pass

    @property
    def runs(self):
        return self.lab.runs

    @property
    def last_error(self):
        return self.lab.last_error

    @property
    def memory_text(self) -> str:
        return self.lab.memory_text

    @property
    def message_text(self) -> str:
        return self.lab.message

    def settings(self) -> dict:
        return self.lab.settings()

    def _repr_mimebundle_(self, **kwargs):
        return self.panel._repr_mimebundle_(**kwargs)
