"""The lab's rules and runs, as a plain object: no widgets, so a test (or a script) drives it.

``Lab`` holds one setting (layout, win_sz, sub_seq_len, bs, hidden_size, rnn_type, n_epoch),
says which sub_seq_len values it offers, what one training step is predicted to keep in
memory, and why a setting is refused; ``Lab.train()`` builds the loaders and an
``RNNLearner``, trains, scores the run the benchmark's way and keeps one row per run.
``LabPanel`` (``lab_panel.py``) is the view: widgets that call ``Lab.set`` and show its state.
"""

from __future__ import annotations

import time

from ..bptt import BPTT
from ..data.silverbox import FS, create_dls_silverbox, load_silverbox, silverbox_split
from ..data.streams import create_stream_dls
from ..data.windows import divisors, nearest_divisors
from ..memory import MemoryBudgetExceeded, check_budget, estimate_memory, format_bytes
from ..rnn_learner import RNNLearner
from ..smoke import smoke_samples
from ..table import Table
from .live import LiveLossCB

__all__ = [
    "BS_OPTIONS",
    "HIDDEN_OPTIONS",
    "LAYOUTS",
    "Lab",
    "RNN_TYPES",
    "SCORE",
    "STREAM_SUB_SEQ_LENS",
    "silverbox_stream_dls",
]

LAYOUTS = ("windows", "streams")
RNN_TYPES = ("lstm", "gru", "rnn")
BS_OPTIONS = (4, 8, 16, 32, 64)
HIDDEN_OPTIONS = (8, 16, 32, 40, 64, 128)
STREAM_SUB_SEQ_LENS = (10, 20, 25, 50, 100, 200, 250, 500)
SCORE = "valid RMSE (mV)"  # the column runs are compared by: free-run RMSE, 50 samples initialise


def silverbox_stream_dls(bs: int = 16, sub_seq_len: int = 100):
    """Stream-layout loaders over the Silverbox's train and valid records (volts, scored in mV);
    smoke mode keeps a few thousand samples of each."""
    parts = silverbox_split(*load_silverbox())
    train, valid = (tuple(x[: smoke_samples(len(x))] for x in parts[p]) for p in ("train", "valid"))
    dls = create_stream_dls(train, valid, bs=bs, sub_seq_len=sub_seq_len)
    dls.fs, dls.units = FS, ("mV", 1e3)
    return dls


class Lab:
    """One setting, the rules it must follow, and every run trained so far.

    Settings (attributes): ``layout`` ("windows": windows of ``win_sz`` every ``stp_sz``
    samples, each from a zero state; "streams": ``bs`` streams through whole records, win_sz
    does not apply), ``win_sz``, ``sub_seq_len`` (= win_sz: full BPTT), ``bs``,
    ``hidden_size``, ``rnn_type``, ``n_epoch``. Change them with ``set(...)``.

    Rules: ``sub_seq_len_options()`` (windows: divisors of win_sz cutting at most
    ``max_sub_windows`` sub-windows; streams: STREAM_SUB_SEQ_LENS), ``predicted()`` and
    ``memory_text`` (activation memory of one step), ``refusal()`` (over the ``max_memory``
    budget), ``message`` (why the last ``set`` or run did not do what was asked).

    Runs: ``train()`` -> the row (also in ``runs``, a ``Table``), or None when refused or
    failed (``message``, ``last_error``). A row's ``valid RMSE (mV)`` is the free-run score
    (``learn.score("valid")``: 50 samples initialise, the rest is scored); ``curves`` holds
    each run's training losses, ``learn`` the last learner. Every run: ``fit_flat_cos`` at
    ``lr`` with the same ``seed``; windows every ``stp_sz`` = 50 samples by default (a fifth of
    the reference's windows) keep an epoch to seconds. ``make_dls(bs=, win_sz=, stp_sz=,
    sub_seq_len=)`` and ``make_stream_dls(bs=, sub_seq_len=)`` build the loaders.
    """

    def __init__(
        self,
        win_sz: int = 500,
        sub_seq_len: int = 100,
        bs: int = 16,
        hidden_size: int = 40,
        rnn_type: str = "lstm",
        n_epoch: int = 1,
        layout: str = "windows",
        stp_sz: int = 50,
        lr: float = 3e-3,
        seed: int = 0,
        win_range: tuple[int, int, int] = (100, 2000, 100),
        max_sub_windows: int = 20,
        max_epochs: int = 5,
        max_memory="256 MiB",
        redraw_s: float = 0.5,
        make_dls=None,
        make_stream_dls=None,
    ):
        self.stp_sz, self.lr, self.seed, self.win_range = stp_sz, lr, seed, win_range
        self.max_sub_windows, self.max_epochs = max_sub_windows, max_epochs
        self.max_memory, self.redraw_s = max_memory, redraw_s
        self.make_dls = make_dls or create_dls_silverbox
        self.make_stream_dls = make_stream_dls or silverbox_stream_dls
        self.runs, self.curves = Table(), {}
        self.message, self.status, self.last_error = "", "", None
        self.learn, self.live, self.running = None, None, False
        self.layout, self.win_sz, self.sub_seq_len = "windows", win_sz, win_sz
        self.bs, self.hidden_size, self.rnn_type, self.n_epoch = bs, hidden_size, rnn_type, 1
        self.set(layout=layout, win_sz=win_sz, bs=bs, hidden_size=hidden_size, rnn_type=rnn_type,
                 n_epoch=n_epoch)  # fmt: skip
        self._check({"sub_seq_len": sub_seq_len})
        self.sub_seq_len = self.nearest(sub_seq_len)  # the nearest on offer, silently
        self.message = self.refusal_message()

    # -- the settings and their rules -------------------------------------------------------
    def settings(self) -> dict:
        names = ("layout", "win_sz", "sub_seq_len", "bs", "hidden_size", "rnn_type", "n_epoch")
        return {name: getattr(self, name) for name in names}

    @property
    def full(self) -> bool:
        """Full BPTT: each window backpropagated whole (sub_seq_len = win_sz; windows only)."""
        return self.layout == "windows" and self.sub_seq_len == self.win_sz

    def sub_seq_len_options(self) -> list[int]:
        """The sub_seq_len values on offer now: for windows, the divisors of win_sz that cut
        it into at most ``max_sub_windows`` sub-windows; for streams, STREAM_SUB_SEQ_LENS."""
        if self.layout == "streams":
            return list(STREAM_SUB_SEQ_LENS)
        w = self.win_sz
        return [d for d in divisors(w) if w // d <= self.max_sub_windows]

    def nearest(self, sub_seq_len: int) -> int:
        """The offered sub_seq_len closest to ``sub_seq_len`` (the smaller one on a tie)."""
        return min(self.sub_seq_len_options(), key=lambda d: (abs(d - sub_seq_len), d))

    @staticmethod
    def explain(win_sz: int, sub_seq_len: int) -> str:
        """Why a (win_sz, sub_seq_len) pair cannot be trained; "" when it can."""
        if sub_seq_len > win_sz:
            return f"sub_seq_len={sub_seq_len} is longer than win_sz={win_sz}."
        if win_sz % sub_seq_len:
            return (
                f"sub_seq_len={sub_seq_len} does not divide win_sz={win_sz}: a window must split "
                f"into whole sub-windows ({win_sz} / {sub_seq_len} = {win_sz / sub_seq_len:.2f})."
                f" Nearest divisors: {nearest_divisors(win_sz, sub_seq_len)}."
            )
        return ""

    def why_not(self, sub_seq_len: int) -> str:
        """Why ``sub_seq_len`` is not on offer now; "" when it is."""
        if sub_seq_len in self.sub_seq_len_options():
            return ""
        if self.layout == "streams":
            options = list(STREAM_SUB_SEQ_LENS)
            return (
                f"sub_seq_len={sub_seq_len} is not on offer for streams: choose one of {options}."
            )
        return self.explain(self.win_sz, sub_seq_len) or (
            f"sub_seq_len={sub_seq_len} would cut win_sz={self.win_sz} into "
            f"{self.win_sz // sub_seq_len} sub-windows; the lab offers at most "
            f"{self.max_sub_windows}, so an epoch stays short."
        )

    def _check(self, values: dict) -> None:
        choices = dict(
            layout=LAYOUTS, rnn_type=RNN_TYPES, bs=BS_OPTIONS, hidden_size=HIDDEN_OPTIONS
        )
        lo, hi, _ = self.win_range
        ranges = dict(win_sz=(lo, hi), n_epoch=(1, self.max_epochs))
        for name, value in values.items():
            if name in choices and value not in choices[name]:
                raise ValueError(
                    f"{name}={value!r} is not on offer: choose one of {choices[name]}."
                )
            if name in ranges:
                a, b = ranges[name]
                if isinstance(value, bool) or not isinstance(value, int) or not a <= value <= b:
                    raise ValueError(f"{name} must be an int from {a} to {b}, got {value!r}.")
            if name == "sub_seq_len" and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"sub_seq_len must be an int >= 1, got {value!r}.")
            if name not in (*choices, *ranges, "sub_seq_len"):
                raise TypeError(f"unknown setting {name!r}: the lab has {list(self.settings())}.")

    def set(self, **values) -> bool:
        """Change settings by name. A sub_seq_len not on offer is refused: False, the setting
        keeps its value and ``message`` says why. A new win_sz or layout that rules out the
        current sub_seq_len moves it to the nearest one on offer, and ``message`` says so."""
        self._check(values)
        sub, notes = values.pop("sub_seq_len", None), []
        for name in ("layout", "win_sz", *values):
            if name in values:
                setattr(self, name, values[name])
        if self.sub_seq_len not in self.sub_seq_len_options():
            old, self.sub_seq_len = self.sub_seq_len, self.nearest(self.sub_seq_len)
            notes.append(
                f"{self.why_not(old)} Moved to sub_seq_len={self.sub_seq_len}, the nearest on offer."
            )
        accepted = sub is None or not self.why_not(sub)
        if sub is not None and accepted:
            self.sub_seq_len, notes = sub, []
        elif not accepted:
            notes.append(f"Not set: {self.why_not(sub)}")
        self.message = " ".join([*notes, self.refusal_message()]).strip()
        return accepted

    # -- memory -----------------------------------------------------------------------------
    def _sizes(self) -> dict:
        """One training step's sizes: streams backpropagate through one sub-window."""
        win_sz = self.win_sz if self.layout == "windows" else self.sub_seq_len
        sub = None if self.full or self.layout == "streams" else self.sub_seq_len
        return dict(rnn_type=self.rnn_type, hidden_size=self.hidden_size, num_layers=1,
                    bs=self.bs, win_sz=win_sz, sub_seq_len=sub)  # fmt: skip

    def predicted(self) -> dict:
        """Predicted activation memory (bytes) of one training step: "setting", and for
        windows "full" (full BPTT over the same windows)."""
        sizes = self._sizes()
        out = {"setting": estimate_memory(**sizes)}
        if self.layout == "windows":
            out["full"] = estimate_memory(**{**sizes, "sub_seq_len": None})
        return out

    @property
    def memory_text(self) -> str:
        """The predicted-memory line, as plain text."""
        p, w, k = self.predicted(), self.win_sz, self.sub_seq_len
        head = "Predicted activation memory of one training step: "
        if self.layout == "streams":
            return head + (
                f"streams of sub-windows of {k} steps (each step backpropagates through {k} "
                f"steps, whatever the record's length): {format_bytes(p['setting'])}."
            )
        if self.full:
            return head + f"sub_seq_len = win_sz: this is full BPTT, {format_bytes(p['full'])}."
        return head + (
            f"full BPTT over win_sz={w}: {format_bytes(p['full'])} · TBPTT with sub_seq_len={k}: "
            f"{format_bytes(p['setting'])} ({p['full'] / p['setting']:.1f}× less; {w // k} "
            f"optimizer steps per batch of windows)."
        )

    def refusal(self) -> str:
        """Why the memory budget refuses this setting; "" when it fits."""
        try:
            check_budget(self.max_memory, **self._sizes())
        except MemoryBudgetExceeded as err:
            return str(err)
        return ""

    def refusal_message(self) -> str:
        refusal = self.refusal()
        return f"Refused: {refusal}" if refusal else ""

    # -- runs -------------------------------------------------------------------------------
    def label(self) -> str:
        """How the plot's legend names the next run."""
        where = f"win {self.win_sz}" if self.layout == "windows" else "streams"
        mode = BPTT.of(None if self.full else self.sub_seq_len).label
        return f"#{len(self.runs) + 1} {self.rnn_type} {self.hidden_size}, {where}, {mode}"

    def learner(self, cbs=()) -> RNNLearner:
        """Loaders and a fresh ``RNNLearner`` for the current setting."""
        sub = None if self.full else self.sub_seq_len
        if self.layout == "streams":
            dls = self.make_stream_dls(bs=self.bs, sub_seq_len=sub)
        else:
            dls = self.make_dls(bs=self.bs, win_sz=self.win_sz, stp_sz=self.stp_sz, sub_seq_len=sub)
        return RNNLearner(dls, rnn_type=self.rnn_type, hidden_size=self.hidden_size,
                          sub_seq_len=sub, seed=self.seed, progress=False, cbs=cbs,
                          max_memory=self.max_memory)  # fmt: skip

    def train(self, on_update=None) -> dict | None:
        """Train the current setting; its row goes into ``runs``. ``on_update(lab)`` is called
        while training (throttled). Returns the row, or None when refused or failed (why:
        ``message``; the exception: ``last_error``). A KeyboardInterrupt (the kernel's stop
        button) ends the run without a row, leaves the lab ready for the next, and goes on up."""
        self.last_error = None
        if self.running or self.refusal():
            self.message = "Busy: a run is in progress." if self.running else self.refusal_message()
            return None
        self.message, self.running, label, n_epoch = "", True, self.label(), self.n_epoch

        def update(live):
            self.status = live.describe()
            if on_update is not None:
                on_update(self)

        self.live = LiveLossCB(update, self.redraw_s)
        try:
            learn = self.learner(cbs=[self.live])
            start = time.perf_counter()
            learn.fit_flat_cos(n_epoch, self.lr)
            seconds = time.perf_counter() - start
            scores = learn.score("valid")
        except KeyboardInterrupt:
            self.status = f"Stopped after {len(self.live.losses)} steps; no row kept."
            raise
        except Exception as err:  # shown in the lab's message, not as a traceback
            self.last_error = err
            self.message = f"Training failed: {type(err).__name__}: {err}"
            return None
        finally:
            self.running = False
        self.learn, self.curves[label] = learn, self.live.losses
        row = {
            "run": len(self.runs) + 1,
            "layout": self.layout,
            "rnn": self.rnn_type,
            "hidden": self.hidden_size,
            "bs": self.bs,
            "win_sz": self.win_sz if self.layout == "windows" else None,
            "sub_seq_len": "full" if self.full else self.sub_seq_len,
            "epochs": learn.n_epoch,
            "steps": len(learn.recorder.losses),
            "train MAE (V)": learn.recorder.epochs[-1]["train_loss"],
            SCORE: sum(scores.values()) / len(scores),
            "predicted act.": format_bytes(self.predicted()["setting"]),
            "measured act.": format_bytes(self.live.activation),
            "time (s)": seconds,
        }
        self.runs.append(row)
        self.status = f"Done: {row['steps']} steps in {seconds:.1f} s; free-run valid RMSE {row[SCORE]:.2f} mV."
        return row
