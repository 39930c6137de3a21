"""The lab's runs, as a plain object: no widgets, so a test (or a script) drives it.

``Lab`` holds one setting and its rules (``LabRules``, ``lab_rules.py``: the options, the
predicted memory, the refusals, the ``BPTT`` the setting describes); ``Lab.train()`` builds
the loaders and an ``RNNLearner``, trains, scores the run the benchmark's way and keeps one
row per run. ``LabPanel`` (``lab_panel.py``) is the view: widgets that call ``Lab.set`` and
show its state.
"""

from __future__ import annotations

import time

from ...data.loaders import create_stream_dls
from ...data.silverbox import FS, create_dls_silverbox, load_silverbox, silverbox_split
from ...tooling.smoke import smoke_samples
from ...validation import check_int, check_number
from ..memory import format_bytes
from ..rnn_learner import RNNLearner
from ..table import Table
from .lab_rules import LabRules
from .live import LiveLossCB

__all__ = ["Lab", "SCORE", "silverbox_stream_dls"]

SCORE = "valid RMSE (mV)"  # the column runs are compared by: free-run RMSE, 50 samples initialise


def silverbox_stream_dls(bs: int = 16, sub_seq_len: int = 100):
    """Stream-layout loaders over the Silverbox's train and valid records (volts, scored in mV);
    smoke mode keeps a few thousand samples of each."""
    parts = silverbox_split(*load_silverbox())
    train, valid = (tuple(x[: smoke_samples(len(x))] for x in parts[p]) for p in ("train", "valid"))
    # one train record in bs rows: cut into bs streams, each piece from a zero state
    dls = create_stream_dls(train, valid, bs=bs, sub_seq_len=sub_seq_len, cut_records=True)
    dls.fs, dls.units = FS, ("mV", 1e3)
    return dls


class Lab(LabRules):
    """One setting, the rules it must follow (``LabRules``), and every run trained so far.

    Runs: ``train()`` -> the row (also in ``runs``, a ``Table``), or None when refused or
    failed (``message``, ``last_error``). A row's ``valid RMSE (mV)`` is the free-run score
    (``learn.score("valid")``: 50 samples initialise, the rest is scored); ``curves`` holds
    each run's training losses, ``learn`` the last learner. Every run: ``fit_flat_cos`` at
    ``lr`` with the same ``seed``; windows every ``stp_sz`` = 50 samples by default (a fifth of
    the reference's windows) keep an epoch to seconds. ``make_dls(bs=, win_sz=, stp_sz=,
    sub_seq_len=)`` and ``make_stream_dls(bs=, sub_seq_len=)`` build the loaders.
    Settings and rules: the keyword arguments of ``LabRules``.
    """

    def __init__(
        self,
        *,
        stp_sz: int = 50,
        lr: float = 3e-3,
        seed: int = 0,
        redraw_s: float = 0.5,
        make_dls=None,
        make_stream_dls=None,
        **settings,
    ):
        check_int("stp_sz", stp_sz)
        check_int("seed", seed, minimum=0)
        lr, redraw_s = (
            check_number("lr", lr, 0, low_open=True),
            check_number("redraw_s", redraw_s, 0),
        )
        self.stp_sz, self.lr, self.seed, self.redraw_s = stp_sz, lr, seed, redraw_s
        self.make_dls = make_dls or create_dls_silverbox
        self.make_stream_dls = make_stream_dls or silverbox_stream_dls
        self.runs, self.curves = Table(), {}
        self.status, self.last_error = "", None
        self.learn, self.live, self.running = None, None, False
        super().__init__(**settings)

    # -- runs -------------------------------------------------------------------------------
    def label(self) -> str:
        """How the plot's legend names the next run."""
        where = f"win {self.win_sz}" if self.layout == "windows" else "streams"
        return (
            f"#{len(self.runs) + 1} {self.rnn_type} {self.hidden_size}, {where}, {self.bptt.label}"
        )

    def learner(self, cbs=()) -> RNNLearner:
        """Loaders and a fresh ``RNNLearner`` for the current setting."""
        sub = self.bptt.loader_sub_seq_len  # None: whole windows (full BPTT)
        if self.layout == "streams":
            dls = self.make_stream_dls(bs=self.bs, sub_seq_len=sub)
        else:
            dls = self.make_dls(bs=self.bs, win_sz=self.win_sz, stp_sz=self.stp_sz, sub_seq_len=sub)
        return RNNLearner(
            dls,
            rnn_type=self.rnn_type,
            hidden_size=self.hidden_size,
            sub_seq_len=sub,
            seed=self.seed,
            progress=False,
            cbs=cbs,
            max_memory=self.max_memory,
        )

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
            "sub_seq_len": self.bptt.loader_sub_seq_len or "full",
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
