"""How gradients flow back in time: one description, checked once, read everywhere.

Two lengths name everything (the literature's k1 and k2):

- ``sub_seq_len`` (k1): the steps of one optimizer step. Truncated BPTT hands the network
  each window as sub-windows of k1 steps, in time order, carrying the state between them.
- ``bptt_len`` (k2): how far back the gradient of a sub-window reaches, k2 >= k1. Plain
  truncated BPTT has k2 = k1; TBPTT(k1, k2) re-runs the k2 - k1 steps before each
  sub-window so that the gradient reaches k2 steps back.

    mode           the loaders hand out   one (sub-)batch is run            the gradient reaches
    full           whole windows          the window, from a zero state     the window's start
    truncated      sub-windows of k1      from the carried, detached state  k1 (or k2) steps back
    checkpointed   whole windows          the window in chunks of k1,       the window's start:
                                          recomputed during backward        full BPTT's gradient
    randomized     sub-windows of k1      again from the last random cut,   back to a random cut;
                   (ARTBP, ``artbp.py``)  uncut steps' gradient rescaled    on average full BPTT's

This module is the one place that branches on the mode. Statefulness is the mode's: full
and checkpointed BPTT run every (sub-)batch from a zero state and leave the model's carried
state alone; truncated (and randomized) BPTT continues from it and detaches it (``_carried``; ``artbp.py``), whatever the
model's own ``stateful`` switch says (that switch is only for calling the model directly).

A new mode is a new row here: a name in ``MODES``, its checks in ``BPTT.__post_init__``,
what its loaders hand out (``loader_sub_seq_len``), how many steps one optimizer step
backpropagates through (``graph_len``) and its forward pass in ``BPTT.forward``. The
learner, the memory meter and budget, the lens, ``compare`` and the lab only read a ``BPTT``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.checkpoint import checkpoint

from .artbp import Truncation, randomized_forward
from .model import detach_state
from .validation import check_int, check_sub_seq_len

__all__ = ["BPTT", "MODES"]

MODES = ("full", "truncated", "checkpointed", "randomized")


@dataclass(frozen=True)
class BPTT:
    """How one learner backpropagates through time. Build it with ``BPTT.of(...)``."""

    mode: str = "full"
    sub_seq_len: int | None = None  # k1: the sub-window (truncated) or chunk (checkpointed)
    bptt_len: int | None = None  # k2: truncated only; None means k2 = k1
    truncation: Truncation | None = None  # randomized only: how the cuts are drawn

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"bptt={self.mode!r} is unknown: choose one of {MODES}.")
        if self.mode == "full":
            if self.sub_seq_len is not None or self.bptt_len is not None:
                raise ValueError(
                    f"bptt='full' takes no sub_seq_len or bptt_len, got sub_seq_len="
                    f"{self.sub_seq_len}, bptt_len={self.bptt_len}: leave both out."
                )
            return
        if self.sub_seq_len is None:
            raise ValueError(f"bptt={self.mode!r} needs sub_seq_len (k1), got None.")
        check_int("sub_seq_len", self.sub_seq_len)
        if (self.mode == "randomized") != (self.truncation is not None):
            raise ValueError(
                f"truncation={self.truncation!r} goes with bptt='randomized' only, and it needs "
                f"one, e.g. truncation=Truncation(mean_len=16); got bptt={self.mode!r}."
            )
        if self.truncation is not None and not isinstance(self.truncation, Truncation):
            raise TypeError(f"truncation must be a Truncation, got {self.truncation!r}.")
        if self.bptt_len is not None:
            self._check_bptt_len()

    def _check_bptt_len(self) -> None:
        """k2: truncated only, an int >= k1."""
        if self.mode != "truncated":
            raise ValueError(f"bptt_len={self.bptt_len} needs bptt='truncated'.")
        check_int("bptt_len", self.bptt_len)
        if self.bptt_len < self.sub_seq_len:
            raise ValueError(
                f"bptt_len={self.bptt_len} must be an int >= sub_seq_len="
                f"{self.sub_seq_len} (k2 >= k1)."
            )

    @classmethod
    def of(cls, sub_seq_len=None, bptt: str | None = None, bptt_len=None, truncation=None) -> BPTT:
        """The mode ``RNNLearner``'s arguments name: without ``bptt``, "truncated" when
        ``sub_seq_len`` is given, else "full"."""
        mode = bptt or ("full" if sub_seq_len is None else "truncated")
        return cls(mode, sub_seq_len, bptt_len, truncation)

    @classmethod
    def for_window(cls, win_sz: int, sub_seq_len: int) -> BPTT:
        """The mode a window of ``win_sz`` steps cut into sub-windows of ``sub_seq_len``
        names: one sub-window as long as the window is full BPTT (the lab's slider)."""
        return cls.of(None if sub_seq_len == win_sz else sub_seq_len)

    @property
    def stateful(self) -> bool:
        """Does the model carry its state from one (sub-)batch to the next?"""
        return self.mode in ("truncated", "randomized")

    @property
    def loader_sub_seq_len(self) -> int | None:
        """What the loaders must hand out: sub-windows of this length, or None (whole windows)."""
        return self.sub_seq_len if self.stateful else None

    def graph_len(self, win_sz: int) -> int:
        """Steps of one optimizer step's graph (what its activations grow with): the
        window (full), k1 (truncated), k2 (TBPTT(k1, k2)), a chunk of k1 (checkpointed);
        randomized: random, k1 + the mean truncation length on average."""
        if self.mode == "full":
            return win_sz
        if self.truncation is not None:
            return min(self.sub_seq_len + round(self.truncation.mean), win_sz)
        return min(self.bptt_len or self.sub_seq_len, win_sz)

    @property
    def label(self) -> str:
        """'full', 'truncated(100)', 'TBPTT(50, 100)', 'checkpointed(100)' or
        'ARTBP(100, geometric, mean 16)'."""
        if self.truncation is not None:
            return f"ARTBP({self.sub_seq_len}, {self.truncation.label()})"
        if self.bptt_len is not None:
            return f"TBPTT({self.sub_seq_len}, {self.bptt_len})"
        return self.mode if self.sub_seq_len is None else f"{self.mode}({self.sub_seq_len})"

    def check_loaders(self, dls) -> None:
        """Raise a ValueError unless ``dls`` hand out what this mode runs on."""
        if dls.win_sz is not None:
            check_sub_seq_len(dls.win_sz, self.sub_seq_len)
        if self.truncation is not None:
            self.truncation.check(dls.win_sz)
        want, got = self.loader_sub_seq_len, dls.sub_seq_len
        if getattr(dls, "layout", "windows") == "streams":
            if not self.stateful or self.bptt_len is not None or want != got:
                raise ValueError(
                    f"stream loaders (sub_seq_len={got}) train with bptt='truncated' or "
                    f"'randomized' and sub_seq_len={got} only, got {self.label}."
                )
            return
        if want != got:
            says = {None: "whole windows"}
            raise ValueError(
                f"{self.label} (bptt={self.mode!r}, sub_seq_len={self.sub_seq_len}) needs "
                f"loaders that hand out "
                f"{says.get(want, f'sub-windows of {want}')}, but these hand out "
                f"{says.get(got, f'sub-windows of {got}')}: create the loaders with "
                f"sub_seq_len={want} (valid here: {got})."
            )

    def forward(self, model, u: torch.Tensor) -> torch.Tensor:
        """Predictions for one (sub-)batch u (bs, seq_len, n_u), the graph attached as far
        back as this mode lets the gradient reach."""
        if self.mode == "checkpointed":
            return _checkpointed(model, u, self.sub_seq_len)
        if self.mode == "randomized":
            return randomized_forward(model, u, self.truncation)
        if self.bptt_len is not None:
            return _k1_k2(model, u, self.bptt_len)
        if self.mode == "full":
            return model.forward_from(u)[0]  # from a zero state; the carried state untouched
        return _carried(model, u)


def _carried(model, u: torch.Tensor) -> torch.Tensor:
    """Truncated BPTT: continue from the model's carried state, then keep the final state,
    detached, for the next sub-window. The detach is the truncation."""
    y, hidden_state = model.forward_from(u, model.state_for(u))
    model.hidden_state = detach_state(hidden_state)  # gradients stop here
    return y


def _checkpointed(model, u: torch.Tensor, chunk_len: int) -> torch.Tensor:
    """The whole window, chunk by chunk; each chunk's activations are dropped after the
    forward pass and recomputed during backward. The gradient is exactly full BPTT's."""
    hidden_state, preds = None, []
    for t in range(0, u.shape[1], chunk_len):
        y, hidden_state = checkpoint(
            model.forward_from, u[:, t : t + chunk_len], hidden_state, use_reentrant=False
        )
        preds.append(y)
    return torch.cat(preds, dim=1)


def _k1_k2(model, u: torch.Tensor, bptt_len: int) -> torch.Tensor:
    """TBPTT(k1, k2): run the last k2 steps (the k2 - k1 kept in ``model.past_u``, then u)
    from the detached state at their start, so the gradient reaches k2 steps back. Leaves
    the state and the inputs the next call needs on the model."""
    past = model.past_u if model.past_u is not None else u[:, :0]
    span = torch.cat([past, u], dim=1)  # at most k2 steps
    keep = min(bptt_len - u.shape[1], span.shape[1])  # steps the next span re-runs
    cut = span.shape[1] - keep
    start = model.state_for(span)  # the detached state at the span's start
    preds, mid = [], start
    if cut:  # steps that drop out of the next span
        y, mid = model.forward_from(span[:, :cut], start)
        preds.append(y)
    if keep:  # steps the next span runs again
        preds.append(model.forward_from(span[:, cut:], mid)[0])
    model.hidden_state, model.past_u = detach_state(mid), span[:, cut:]
    return torch.cat(preds, dim=1)[:, -u.shape[1] :]
