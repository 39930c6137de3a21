"""Interactive panels for the notebooks, as plain objects that tests can drive.

Each panel is an object with its widgets as attributes and ``.panel``, the widget to
display. Tests set slider values and read the object's state; no browser needed.
Pictures are drawn with matplotlib's inline backend inside ``Output`` widgets, so the
panels work in JupyterLab 4, Notebook 7, VS Code and Colab without ipympl. DOM hooks for
browser tests: CSS classes ``tbptt-...`` on the panel and its parts.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from .data.silverbox import create_dls_silverbox
from .data.windows import nearest_divisors
from .learner import Callback, fun_rmse
from .memory import SavedTensorMeter, check_budget, estimate_memory, format_bytes
from .plots import plot_lab_losses, plot_windows, window_starts
from .rnn_learner import RNNLearner


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
        self.panel = widgets.VBox(
            [widgets.HBox([self.win_sz, self.stp_sz]), self.summary, self.out]
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
            plt.show()
        plt.close(self.figure)
        self.n_draws += 1

    def _repr_mimebundle_(self, **kwargs):
        return self.panel._repr_mimebundle_(**kwargs)


# -- the lab (notebook 05) ------------------------------------------------------------------
def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _png_output(fig) -> dict:
    """A figure as one display_data output: the same PNG in every front-end, no backend."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return {
        "output_type": "display_data",
        "data": {
            "image/png": base64.b64encode(buf.getvalue()).decode("ascii"),
            "text/plain": "<loss plot>",
        },
        "metadata": {},
    }


class _LiveCB(Callback):
    """Streams one run into the lab: loss per step, measured activation memory, redraws.

    The memory is what autograd saves for backward, read from the learner's ``ActMemCB``
    (the act_mem column) when it has one, else measured here with a ``SavedTensorMeter``
    on the steps that are drawn. It redraws at most every ``redraw_s`` seconds, or less
    often when drawing is slow, so the plot costs a few percent of training time.
    """

    order = 70

    def __init__(self, lab: LabPanel):
        self.lab, self.losses, self.activation = lab, [], 0
        self.meter, self._measuring, self._next, self.act_mem_cb = None, None, 0.0, None

    def before_fit(self, learn):
        self.act_mem_cb = next((cb for cb in learn.cbs if type(cb).__name__ == "ActMemCB"), None)
        if self.act_mem_cb is None:
            self.meter = SavedTensorMeter(exclude=learn.model.parameters())
        self.total = learn.n_epoch * learn.steps_per_epoch
        self._next = 0.0  # draw the very first step

    def before_batch(self, learn):
        if self.meter and learn.training and time.perf_counter() >= self._next:
            self._measuring = self.meter.measuring(learn.batch.u, learn.batch.y)
            self._measuring.__enter__()

    def after_batch(self, learn):
        if not learn.training:
            return
        self.losses.append(learn.loss.item())
        if self._measuring is not None:
            self._measuring.__exit__(None, None, None)
            self._measuring = None
            self.activation = max(self.activation, self.meter.nbytes)
        if self.act_mem_cb is not None:
            self.activation = max(self.activation, getattr(self.act_mem_cb, "largest", 0))
        if time.perf_counter() >= self._next:
            self.redraw(learn)

    def after_fit(self, learn):
        if self._measuring is not None:  # never leave the hooks on
            self._measuring.__exit__(None, None, None)
            self._measuring = None
        self.redraw(learn)

    def redraw(self, learn):
        start = time.perf_counter()
        done = len(self.losses)
        self.lab._status(
            f"Training: epoch {learn.epoch + 1}/{learn.n_epoch}, step {done}/{self.total}, "
            f"loss {self.losses[-1]:.4g} · measured activation memory "
            f"{format_bytes(self.activation)}"
            if self.losses
            else "Training: starting"
        )
        self.lab._draw(self.losses, f"step {done}/{self.total}")
        cost = time.perf_counter() - start
        self._next = time.perf_counter() + max(self.lab.redraw_s, 5 * cost)


class LabPanel:
    """The lab: pick a setting, see its predicted memory, train it, keep every run.

    Widgets (attributes): ``win_sz`` (IntSlider), ``sub_seq_len`` (Dropdown offering only
    divisors of win_sz, at most ``max_sub_windows`` sub-windows per window; sub_seq_len =
    win_sz is full BPTT), ``bs``, ``hidden_size`` (SelectionSliders), ``rnn_type``
    (ToggleButtons), ``n_epoch`` (IntSlider); ``memory`` (HTML: predicted activation memory,
    full BPTT against TBPTT, updated whenever a control moves); ``message`` (HTML: why a
    pair is invalid or a run refused; empty when all is well); ``train_button``;
    ``status`` (HTML: the live line during training); ``loss_plot`` (Output: the loss
    curve, redrawn while training); ``results`` (HTML: a <table>, one row per run).
    ``panel`` is the whole VBox; the object itself displays as the panel.

    Drive it from code as a test does: ``lab.set(win_sz=400, sub_seq_len=80)`` (False and an
    explanation in ``message`` for an invalid pair), ``lab.train_button.click()`` or
    ``lab.train()`` (returns the run's row, or None when refused), ``lab.runs`` (the rows).

    Training: Silverbox windows every ``stp_sz`` samples (50 by default: a fifth of the
    reference's windows, so one epoch of any offered setting takes seconds on 2 CPU cores),
    ``fit_flat_cos`` at ``lr``, the same ``seed`` for every run. ``max_memory`` is the lab's
    budget: a setting whose predicted activation memory exceeds it is refused before
    anything is allocated. ``make_dls(bs=, win_sz=, stp_sz=, sub_seq_len=)`` builds the
    loaders (default: ``create_dls_silverbox``; smoke mode shrinks them).

    CSS classes for browser tests: tbptt-lab-panel, tbptt-win-sz, tbptt-sub-seq-len,
    tbptt-predicted-memory, tbptt-message, tbptt-train, tbptt-loss-plot, tbptt-results
    (and tbptt-status).
    """

    def __init__(
        self,
        win_sz: int = 500,
        sub_seq_len: int = 100,
        bs: int = 16,
        hidden_size: int = 40,
        rnn_type: str = "lstm",
        n_epoch: int = 1,
        stp_sz: int = 50,
        lr: float = 3e-3,
        seed: int = 0,
        win_range: tuple[int, int, int] = (100, 2000, 100),
        max_sub_windows: int = 20,
        max_memory="256 MiB",
        redraw_s: float = 0.5,
        make_dls=None,
    ):
        self.stp_sz, self.lr, self.seed = stp_sz, lr, seed
        self.max_sub_windows, self.max_memory, self.redraw_s = max_sub_windows, max_memory, redraw_s
        self.make_dls = make_dls or create_dls_silverbox
        self.runs: list[dict] = []
        self.curves: dict[str, list[float]] = {}  # label -> training losses, for the plot
        self.last_error: Exception | None = None
        self.n_draws, self._quiet = 0, False
        style = {"description_width": "initial"}
        lo, hi, step = win_range
        self.win_sz = widgets.IntSlider(
            value=win_sz, min=lo, max=hi, step=step, description="win_sz",
            continuous_update=False, style=style,
        )  # fmt: skip
        self.sub_seq_len = widgets.Dropdown(
            options=self.sub_seq_len_options(win_sz), description="sub_seq_len", style=style
        )
        self.sub_seq_len.value = self._nearest(sub_seq_len, self.sub_seq_len.options)
        self.bs = widgets.SelectionSlider(
            options=[4, 8, 16, 32, 64], value=bs, description="batch size",
            continuous_update=False, style=style,
        )  # fmt: skip
        self.hidden_size = widgets.SelectionSlider(
            options=[8, 16, 32, 40, 64, 128], value=hidden_size, description="hidden size",
            continuous_update=False, style=style,
        )  # fmt: skip
        self.rnn_type = widgets.ToggleButtons(
            options=["lstm", "gru", "rnn"], value=rnn_type, description="RNN", style=style
        )
        self.rnn_type.style.button_width = "60px"
        self.n_epoch = widgets.IntSlider(
            value=n_epoch, min=1, max=10, description="epochs", continuous_update=False,
            style=style,
        )  # fmt: skip
        self.memory = widgets.HTML()
        self.message = widgets.HTML()
        self.train_button = widgets.Button(
            description="Train", button_style="primary", icon="play",
            tooltip="Train this setting and add a row to the results table",
        )  # fmt: skip
        self.status = widgets.HTML()
        self.loss_plot = widgets.Output(layout=widgets.Layout(min_height="210px"))
        self.results = widgets.HTML()
        for part, name in (
            (self.win_sz, "win-sz"),
            (self.sub_seq_len, "sub-seq-len"),
            (self.memory, "predicted-memory"),
            (self.message, "message"),
            (self.train_button, "train"),
            (self.status, "status"),
            (self.loss_plot, "loss-plot"),
            (self.results, "results"),
        ):
            part.add_class(f"tbptt-{name}")
        self.panel = widgets.VBox(
            [
                widgets.HBox([self.win_sz, self.sub_seq_len]),
                widgets.HBox([self.bs, self.hidden_size]),
                widgets.HBox([self.rnn_type, self.n_epoch]),
                self.memory,
                self.message,
                widgets.HBox([self.train_button, self.status]),
                self.loss_plot,
                self.results,
            ]
        )
        self.panel.add_class("tbptt-lab-panel")
        self.win_sz.observe(self._on_win_sz, names="value")
        for control in (self.sub_seq_len, self.bs, self.hidden_size, self.rnn_type):
            control.observe(self.update, names="value")
        self.train_button.on_click(self.train)
        self.update()
        self._draw([], "press Train")
        self._show_results()

    # -- the settings ---------------------------------------------------------------------
    def sub_seq_len_options(self, win_sz: int) -> list[int]:
        """Divisors of ``win_sz`` that cut a window into at most ``max_sub_windows`` pieces."""
        return [d for d in _divisors(win_sz) if win_sz // d <= self.max_sub_windows]

    @staticmethod
    def _nearest(value: int, options) -> int:
        return min(options, key=lambda d: (abs(d - value), d))

    @staticmethod
    def explain(win_sz: int, sub_seq_len: int) -> str:
        """Why a (win_sz, sub_seq_len) pair cannot be trained; "" when it can."""
        if sub_seq_len > win_sz:
            return f"sub_seq_len={sub_seq_len} is longer than win_sz={win_sz}."
        if win_sz % sub_seq_len:
            return (
                f"sub_seq_len={sub_seq_len} does not divide win_sz={win_sz}: a window must split "
                f"into whole sub-windows ({win_sz} / {sub_seq_len} = "
                f"{win_sz / sub_seq_len:.2f}). Nearest divisors: "
                f"{nearest_divisors(win_sz, sub_seq_len)}."
            )
        return ""

    @property
    def memory_text(self) -> str:
        """The predicted-memory line, as plain text."""
        return html.unescape(re.sub(r"<[^>]+>", "", self.memory.value))

    @property
    def message_text(self) -> str:
        """The message line (why a pair is invalid or a run refused), as plain text."""
        return html.unescape(re.sub(r"<[^>]+>", "", self.message.value))

    def settings(self) -> dict:
        return dict(
            win_sz=self.win_sz.value,
            sub_seq_len=self.sub_seq_len.value,
            bs=self.bs.value,
            hidden_size=self.hidden_size.value,
            rnn_type=self.rnn_type.value,
            n_epoch=self.n_epoch.value,
        )

    def set(self, **values) -> bool:
        """Set controls by name (win_sz first). An invalid sub_seq_len is refused: False, the
        controls keep their values, and ``message`` says why."""
        if "win_sz" in values:
            self.win_sz.value = values.pop("win_sz")
        sub = values.pop("sub_seq_len", None)
        for name, value in values.items():
            getattr(self, name).value = value
        if sub is not None:
            if sub not in self.sub_seq_len.options:
                why = self.explain(self.win_sz.value, sub) or (
                    f"sub_seq_len={sub} would cut win_sz={self.win_sz.value} into "
                    f"{self.win_sz.value // sub} sub-windows; the lab offers at most "
                    f"{self.max_sub_windows}, so an epoch stays short."
                )
                self.message.value = f"<b>Not set:</b> {html.escape(why)}"
                return False
            self.sub_seq_len.value = sub
        return True

    def predicted(self) -> dict:
        """Predicted activation memory (bytes) of one training step: full BPTT and this setting."""
        s = self.settings()
        sizes = dict(rnn_type=s["rnn_type"], hidden_size=s["hidden_size"], num_layers=1, bs=s["bs"])
        return {
            "full": estimate_memory(win_sz=s["win_sz"], **sizes),
            "setting": estimate_memory(win_sz=s["win_sz"], sub_seq_len=s["sub_seq_len"], **sizes),
        }

    def refusal(self) -> str:
        """Why this setting would be refused by the lab's memory budget; "" when it fits."""
        s = self.settings()
        try:
            check_budget(
                self.max_memory,
                rnn_type=s["rnn_type"],
                hidden_size=s["hidden_size"],
                num_layers=1,
                bs=s["bs"],
                win_sz=s["win_sz"],
                sub_seq_len=s["sub_seq_len"],
            )
        except MemoryError as err:
            return str(err)
        return ""

    # -- reacting to the controls --------------------------------------------------------
    def _on_win_sz(self, change) -> None:
        old_sub = self.sub_seq_len.value
        options = self.sub_seq_len_options(change["new"])
        new_sub = old_sub if old_sub in options else self._nearest(old_sub, options)
        self._quiet = True  # one update below, not one per trait the Dropdown changes
        try:
            self.sub_seq_len.options = options  # resets the value to the first option
            self.sub_seq_len.value = new_sub
        finally:
            self._quiet = False
        self.update()
        if new_sub != old_sub:
            why = self.explain(change["new"], old_sub) or (
                f"sub_seq_len={old_sub} would cut win_sz={change['new']} into "
                f"{change['new'] // old_sub} sub-windows (the lab offers at most "
                f"{self.max_sub_windows})."
            )
            self.message.value = (
                f"{html.escape(why)} Moved to sub_seq_len={new_sub}, the nearest divisor on offer."
            )

    def update(self, change=None) -> None:
        """Recompute the predicted memory and the message (called whenever a control moves)."""
        if self._quiet:
            return
        s, p = self.settings(), self.predicted()
        w, k = s["win_sz"], s["sub_seq_len"]
        if k == w:
            line = (
                f"sub_seq_len = win_sz: this is <b>full BPTT</b>, "
                f"{format_bytes(p['full'])} of activations per step."
            )
        else:
            line = (
                f"full BPTT over win_sz={w}: {format_bytes(p['full'])} · "
                f"<b>TBPTT with sub_seq_len={k}: {format_bytes(p['setting'])}</b> "
                f"({p['full'] / p['setting']:.1f}× less; {w // k} optimizer steps per batch "
                f"of windows)"
            )
        self.memory.value = f"Predicted activation memory of one training step: {line}"
        refusal = self.refusal()
        self.train_button.disabled = bool(refusal)
        self.message.value = f"<b>Refused:</b> {html.escape(refusal)}" if refusal else ""

    # -- training -------------------------------------------------------------------------
    def _status(self, text: str) -> None:
        self.status.value = html.escape(text)

    def _draw(self, losses, title: str) -> None:
        fig = plot_lab_losses(losses, earlier=dict(list(self.curves.items())[-4:]), title=title)
        self.loss_plot.outputs = (_png_output(fig),)
        self.n_draws += 1

    def label(self, s: dict | None = None) -> str:
        s = s or self.settings()
        mode = "full" if s["sub_seq_len"] == s["win_sz"] else f"TBPTT {s['sub_seq_len']}"
        return (
            f"#{len(self.runs) + 1} {s['rnn_type']} {s['hidden_size']}, win {s['win_sz']}, {mode}"
        )

    def train(self, button=None) -> dict | None:
        """Train the current setting; add its row to ``runs`` and the results table.

        Returns the row, or None when the setting is refused or training fails (the reason
        is in ``message``; the exception in ``last_error``).
        """
        s = self.settings()
        self.last_error = None
        refusal = self.refusal()
        if refusal:
            self.message.value = f"<b>Refused:</b> {html.escape(refusal)}"
            return None
        self.message.value = ""
        self.train_button.disabled = True
        self.train_button.description = "Training…"
        label = self.label(s)
        live = _LiveCB(self)
        try:
            full = s["sub_seq_len"] == s["win_sz"]
            dls = self.make_dls(
                bs=s["bs"],
                win_sz=s["win_sz"],
                stp_sz=self.stp_sz,
                sub_seq_len=None if full else s["sub_seq_len"],
            )
            learn = RNNLearner(
                dls,
                rnn_type=s["rnn_type"],
                hidden_size=s["hidden_size"],
                sub_seq_len=None if full else s["sub_seq_len"],
                metrics=[fun_rmse],
                seed=self.seed,
                progress=False,
                cbs=[live],
            )
            start = time.perf_counter()
            learn.fit_flat_cos(s["n_epoch"], self.lr)
            seconds = time.perf_counter() - start
        except Exception as err:  # show it in the panel, not as a traceback in a log
            self.last_error = err
            self.message.value = (
                f"<b>Training failed:</b> {html.escape(f'{type(err).__name__}: {err}')}"
            )
            return None
        finally:
            self.train_button.description = "Train"
            self.train_button.disabled = bool(self.refusal())
        row = {
            "run": len(self.runs) + 1,
            "rnn": s["rnn_type"],
            "hidden": s["hidden_size"],
            "bs": s["bs"],
            "win_sz": s["win_sz"],
            "sub_seq_len": "full" if full else s["sub_seq_len"],
            "epochs": learn.n_epoch,
            "steps": len(learn.recorder.losses),
            "valid RMSE (mV)": 1000 * learn.recorder.epochs[-1]["fun_rmse"],
            "predicted act.": format_bytes(self.predicted()["setting"]),
            "measured act.": format_bytes(live.activation),
            "time (s)": seconds,
        }
        self.runs.append(row)
        self.curves[label] = live.losses
        self._status(
            f"Done: {row['steps']} steps in {seconds:.1f} s, valid RMSE "
            f"{row['valid RMSE (mV)']:.2f} mV."
        )
        self._show_results()
        return row

    def _show_results(self) -> None:
        columns = list(self.runs[0]) if self.runs else ["run", "setting", "valid RMSE (mV)"]

        def cell(v):
            return f"{v:.2f}" if isinstance(v, float) else html.escape(str(v))

        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{cell(r[c])}</td>" for c in columns) + "</tr>" for r in self.runs
        )
        note = "" if self.runs else "<caption>No runs yet: press Train.</caption>"
        self.results.value = (
            f'<table class="dataframe" border="1">{note}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>"
        )

    def _repr_mimebundle_(self, **kwargs):
        return self.panel._repr_mimebundle_(**kwargs)
