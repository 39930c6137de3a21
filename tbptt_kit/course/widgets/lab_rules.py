"""The lab's rules, as a plain object: which settings it offers, what one training step is
predicted to keep in memory, and why a setting is refused. No widgets, no training.

A setting describes a ``BPTT`` (``LabRules.bptt``): windows with ``sub_seq_len`` = ``win_sz``
are full BPTT, shorter sub-windows truncated BPTT, streams always truncated. Everything that
depends on the mode (the memory prediction, the run's label) reads that ``BPTT``.
``Lab`` (``lab.py``) adds the runs.
"""

from __future__ import annotations

import numpy as np

from ...core.model import RNN_TYPES
from ...modes.bptt import BPTT
from ...units import parse_bytes
from ...validation import check_int, nearest_divisors
from ..memory import MemoryBudgetExceeded, check_budget, estimate_memory, format_bytes

__all__ = ["BS_OPTIONS", "HIDDEN_OPTIONS", "LAYOUTS", "LabRules", "STREAM_SUB_SEQ_LENS"]

LAYOUTS = ("windows", "streams")
BS_OPTIONS = (4, 8, 16, 32, 64)
HIDDEN_OPTIONS = (8, 16, 32, 40, 64, 128)
STREAM_SUB_SEQ_LENS = (10, 20, 25, 50, 100, 200, 250, 500)
MAX_SUB_WINDOWS = 10_000  # the most sub-windows per window a lab may offer: options take
# at most this many steps to list, whatever win_sz the slider reaches


class LabRules:
    """One setting and the rules it must follow (``Lab`` adds the runs).

    Settings (attributes): ``layout`` ("windows": windows of ``win_sz`` every ``stp_sz``
    samples, each from a zero state; "streams": ``bs`` streams through whole records, win_sz
    does not apply), ``win_sz``, ``sub_seq_len`` (= win_sz: full BPTT), ``bs``,
    ``hidden_size``, ``rnn_type``, ``n_epoch``. Change them with ``set(...)``.

    Rules: ``sub_seq_len_options()`` (windows: divisors of win_sz cutting at most
    ``max_sub_windows`` sub-windows; streams: STREAM_SUB_SEQ_LENS), ``predicted()`` and
    ``memory_text`` (activation memory of one step), ``refusal()`` (over the ``max_memory``
    budget), ``message`` (why the last ``set`` or run did not do what was asked).
    The runs are ``Lab``'s (``lab.py``).
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
        win_range: tuple[int, int, int] = (100, 2000, 100),
        max_sub_windows: int = 20,
        max_epochs: int = 5,
        max_memory="256 MiB",
    ):
        check_int("max_sub_windows", max_sub_windows, maximum=MAX_SUB_WINDOWS)
        check_int("max_epochs", max_epochs)
        check_win_range(win_range)
        if max_memory is not None:
            parse_bytes(max_memory, "max_memory")
        self.win_range, self.max_sub_windows, self.max_epochs = (
            win_range,
            max_sub_windows,
            max_epochs,
        )
        self.max_memory, self.message = max_memory, ""
        self.layout, self.win_sz, self.sub_seq_len = "windows", win_sz, win_sz
        self.bs, self.hidden_size, self.rnn_type, self.n_epoch = bs, hidden_size, rnn_type, 1
        self.set(
            layout=layout,
            win_sz=win_sz,
            bs=bs,
            hidden_size=hidden_size,
            rnn_type=rnn_type,
            n_epoch=n_epoch,
        )
        self._check({"sub_seq_len": sub_seq_len})
        self.sub_seq_len = self.nearest(sub_seq_len)  # the nearest on offer, silently
        self.message = self.refusal_message()

    # -- the settings and their rules -------------------------------------------------------
    def settings(self) -> dict:
        names = ("layout", "win_sz", "sub_seq_len", "bs", "hidden_size", "rnn_type", "n_epoch")
        return {name: getattr(self, name) for name in names}

    @property
    def bptt(self) -> BPTT:
        """The mode this setting trains with: for windows ``BPTT.for_window`` (sub_seq_len =
        win_sz is full BPTT), for streams truncated BPTT over sub-windows of sub_seq_len."""
        if self.layout == "streams":
            return BPTT.of(self.sub_seq_len)
        return BPTT.for_window(self.win_sz, self.sub_seq_len)

    @property
    def full(self) -> bool:
        """Full BPTT: each window backpropagated whole (no sub-windows)."""
        return self.bptt.loader_sub_seq_len is None

    def sub_seq_len_options(self) -> list[int]:
        """The sub_seq_len values on offer now: for windows, the divisors of win_sz that cut
        it into at most ``max_sub_windows`` sub-windows; for streams, STREAM_SUB_SEQ_LENS."""
        if self.layout == "streams":
            return list(STREAM_SUB_SEQ_LENS)
        w = self.win_sz  # sub-windows of w // n for each n <= max_sub_windows that divides w
        return sorted(w // n for n in range(1, min(self.max_sub_windows, w) + 1) if w % n == 0)

    def nearest(self, sub_seq_len: int) -> int:
        """The offered sub_seq_len closest to ``sub_seq_len`` (the smaller one on a tie)."""
        return min(self.sub_seq_len_options(), key=lambda d: (abs(d - sub_seq_len), d))

    def why_not(self, sub_seq_len: int) -> str:
        """Why ``sub_seq_len`` is not on offer now; "" when it is."""
        if sub_seq_len in self.sub_seq_len_options():
            return ""
        if self.layout == "streams":
            options = list(STREAM_SUB_SEQ_LENS)
            return (
                f"sub_seq_len={sub_seq_len} is not on offer for streams: choose one of {options}."
            )
        return _not_whole_sub_windows(self.win_sz, sub_seq_len) or (
            f"sub_seq_len={sub_seq_len} would cut win_sz={self.win_sz} into "
            f"{self.win_sz // sub_seq_len} sub-windows; the lab offers at most "
            f"{self.max_sub_windows}, so an epoch stays short."
        )

    def _check(self, values: dict) -> None:
        """Raise a ValueError for a value not on offer, a TypeError for an unknown name."""
        choices = dict(
            layout=LAYOUTS, rnn_type=tuple(RNN_TYPES), bs=BS_OPTIONS, hidden_size=HIDDEN_OPTIONS
        )
        lo, hi, _ = self.win_range
        ranges = dict(win_sz=(lo, hi), n_epoch=(1, self.max_epochs), sub_seq_len=(1, None))
        for name, value in values.items():
            if name in choices and value not in choices[name]:
                raise ValueError(
                    f"{name}={value!r} is not on offer: choose one of {choices[name]}."
                )
            if name in ranges:
                _check_range(name, value, *ranges[name])
            if name not in (*choices, *ranges):
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
        return dict(
            rnn_type=self.rnn_type,
            hidden_size=self.hidden_size,
            num_layers=1,
            bs=self.bs,
            win_sz=win_sz,
            graph_len=self.bptt.graph_len(win_sz),
        )

    def predicted(self) -> dict:
        """Predicted activation memory (bytes) of one training step: "setting", and for
        windows "full" (full BPTT over the same windows)."""
        sizes = self._sizes()
        out = {"setting": estimate_memory(**sizes)}
        if self.layout == "windows":
            out["full"] = estimate_memory(**{**sizes, "graph_len": None})
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


def check_win_range(win_range) -> None:
    """(lo, hi, step) of the win_sz slider: ints, 1 <= lo <= hi, step >= 1."""
    if not isinstance(win_range, (tuple, list)) or len(win_range) != 3:
        raise TypeError(f"win_range must be (lo, hi, step), three ints, got {win_range!r}.")
    lo, hi, step = win_range
    check_int("win_range lo", lo)
    check_int("win_range hi", hi, minimum=lo)
    check_int("win_range step", step)


def _check_range(name: str, value, lo: int, hi: int | None) -> None:
    """Raise a ValueError unless ``value`` is an int from ``lo`` to ``hi`` (None: no top)."""
    whole = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not whole or value < lo or hi and value > hi:
        if hi is None:
            raise ValueError(f"{name} must be an int >= {lo}, got {value!r}.")
        raise ValueError(f"{name} must be an int from {lo} to {hi}, got {value!r}.")


def _not_whole_sub_windows(win_sz: int, sub_seq_len: int) -> str:
    """Why sub-windows of ``sub_seq_len`` do not cut ``win_sz`` (for the lab's message); ""
    when they do."""
    if sub_seq_len > win_sz:
        return f"sub_seq_len={sub_seq_len} is longer than win_sz={win_sz}."
    if win_sz % sub_seq_len:
        return (
            f"sub_seq_len={sub_seq_len} does not divide win_sz={win_sz}: a window must split "
            f"into whole sub-windows ({win_sz} / {sub_seq_len} = {win_sz / sub_seq_len:.2f})."
            f" Nearest divisors: {nearest_divisors(win_sz, sub_seq_len)}."
        )
    return ""
