"""How gradients flow back in time: ``BPTT``, one description of a mode, read everywhere.

Two lengths name everything (the literature's k1 and k2):

- ``sub_seq_len`` (k1): the steps of one optimizer step. Truncated BPTT hands the network
  each window as sub-windows of k1 steps, in time order, carrying the state between them.
- ``backprop_len`` (k2): how far back the gradient of a sub-window reaches, k2 >= k1.
  Plain truncation has k2 = k1; TBPTT(k1, k2) runs the k2 - k1 steps before each
  sub-window again, so that its gradient reaches k2 steps back.

    mode           the loaders hand out   one (sub-)batch runs                 the gradient reaches
    full           whole windows          the window, from zeros               the window's start
    truncated      sub-windows of k1      on from the carried, detached state  k1 steps back
      with k2      sub-windows of k1      the k2 - k1 steps before it again    k2 steps back
    checkpointed   whole windows          in chunks of k1, recomputed in       the window's start:
                                          backward                             full BPTT's gradient
    randomized     sub-windows of k1      again from the last random cut;      a random cut; on
      (ARTBP)                             uncut boundaries' gradient rescaled  average full BPTT's

Each mode is a class in this folder (``MODES``): what it needs of the loaders, how long one
step's graph is, its label, and, for a mode that runs the model its own way, its *carry*:
an object the loop calls as ``carry(model, u, state, reset) -> (pred, state)`` while a
gradient is taken, which keeps whatever else it needs (past inputs, random draws). Full and
plain truncated BPTT have none: they are the loop's own reset, carry, detach.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

from ..core.checks import check_sub_seq_len
from .checkpointed import Checkpointed
from .randomized import Randomized, Truncation
from .truncated import Full, Truncated

__all__ = ["BPTT", "MODES"]

MODES = {
    "full": Full,
    "truncated": Truncated,
    "checkpointed": Checkpointed,
    "randomized": Randomized,
}


@dataclass(frozen=True)
class BPTT:
    """How one learner backpropagates through time: a mode's name and its lengths. Build it
    with ``BPTT.of(sub_seq_len=..., mode=...)``; ``BPTT()`` is full BPTT."""

    mode: str = "full"
    sub_seq_len: int | None = None  # k1: the sub-window (truncated) or chunk (checkpointed)
    backprop_len: int | None = None  # k2: truncated only; None means k2 = k1
    truncation: Truncation | None = None  # randomized only: how the cuts are drawn

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r} is unknown: choose one of {tuple(MODES)}.")
        MODES[self.mode].check(self)  # each mode checks the arguments it takes

    @classmethod
    def of(
        cls,
        sub_seq_len=None,
        mode=None,
        backprop_len=None,
        truncation=None,
        bptt=None,
        bptt_len=None,
    ) -> BPTT:
        """The mode ``RNNLearner``'s arguments name: without ``mode``, "truncated" when
        ``sub_seq_len`` is given, else "full". ``bptt``: a ``BPTT`` given whole (a string
        there is the old name of ``mode``); ``bptt_len``: the old name of ``backprop_len``."""
        if isinstance(bptt, BPTT):
            return bptt
        for old, new, value in (("bptt", "mode", bptt), ("bptt_len", "backprop_len", bptt_len)):
            if value is not None:
                warnings.warn(
                    f"{old}= is now {new}=: bptt means the chunk length (k1) in PyTorch's "
                    f"word_language_model and in fastai, so the kit no longer uses it.",
                    DeprecationWarning,
                    stacklevel=3,
                )
        mode = mode or bptt  # 0 is a length, not "not given": only None is
        backprop_len = bptt_len if backprop_len is None else backprop_len
        mode = mode or ("full" if sub_seq_len is None else "truncated")
        return cls(mode, sub_seq_len, backprop_len, truncation)

    @classmethod
    def for_window(cls, win_sz: int, sub_seq_len: int) -> BPTT:
        """Sub-windows as long as the window are full BPTT (the lab's slider)."""
        return cls.of(None if sub_seq_len == win_sz else sub_seq_len)

    @classmethod
    def of_learner(cls, learn) -> BPTT:
        """The learner's mode; for a learner built without one, what its loaders hand out
        names it (sub-windows: truncated, whole windows: full)."""
        return learn.bptt if learn.bptt is not None else cls.of(learn.dls.sub_seq_len)

    @property
    def carries_state(self) -> bool:
        """Does the state go on from one (sub-)batch to the next?"""
        return MODES[self.mode].carries_state

    @property
    def exact(self) -> bool:
        """Is the gradient the same at every run (False: drawn at random)?"""
        return MODES[self.mode].exact

    @property
    def loader_sub_seq_len(self) -> int | None:
        """What the loaders must hand out: sub-windows of this length, or None (whole windows)."""
        return self.sub_seq_len if self.carries_state else None

    def graph_len(self, win_sz: int) -> int:
        """Steps of one optimizer step's graph, what its activations grow with (randomized:
        on average)."""
        return MODES[self.mode].graph_len(self, win_sz)

    @property
    def label(self) -> str:
        """'full', 'truncated(100)', 'TBPTT(50, 100)', 'checkpointed(100)', 'ARTBP(...)'."""
        return MODES[self.mode].label(self)

    def carry(self):
        """A fresh carry for one run (its own past, its own random draws), or None: the
        loop's own reset, carry and detach."""
        return MODES[self.mode].carry(self)

    def settings(self) -> dict:
        """The arguments that build this mode again (``BPTT.of(**settings)``), plain values
        (the truncation, an object, is left out): what a saved run records."""
        return {
            "mode": self.mode,
            "sub_seq_len": self.sub_seq_len,
            "backprop_len": self.backprop_len,
        }

    def draw(self, i: int) -> BPTT:
        """The i-th of independent draws of this mode: itself when exact; a randomized mode
        with its random cuts seeded i steps after its own seed."""
        if self.exact:
            return self
        return replace(self, truncation=replace(self.truncation, seed=self.truncation.seed + i))

    def check_loaders(self, dls) -> None:
        """A ValueError unless ``dls`` hand out what this mode runs on."""
        if dls.win_sz is not None:
            check_sub_seq_len(dls.win_sz, self.sub_seq_len)
        MODES[self.mode].check_loaders(self, dls)
        want, got = self.loader_sub_seq_len, dls.sub_seq_len
        says = {None: "whole windows"}
        if dls.layout == "streams" and (want is None or want != got):
            raise ValueError(
                f"stream loaders (sub_seq_len={got}) train with a mode that carries the state "
                f"(truncated or randomized) and sub_seq_len={got} only, got {self.label}."
            )
        if want != got:
            raise ValueError(
                f"{self.label} (mode={self.mode!r}, sub_seq_len={self.sub_seq_len}) needs "
                f"loaders that hand out {says.get(want, f'sub-windows of {want}')}, but these "
                f"hand out {says.get(got, f'sub-windows of {got}')}: create the loaders with "
                f"sub_seq_len={want} (valid here: {got})."
            )

    @property
    def bptt_len(self) -> int | None:
        """The old name of ``backprop_len``."""
        warnings.warn("bptt_len is now backprop_len", DeprecationWarning, stacklevel=2)
        return self.backprop_len
