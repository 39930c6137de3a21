"""``LiveLossCB``: the callback that streams a run into the lab while it trains."""

from __future__ import annotations

import time

from ...core.learner import Callback
from ..memory import ActMemCB, format_bytes

__all__ = ["LiveLossCB"]


class LiveLossCB(Callback):
    """Keeps each training step's loss and the largest activation memory the learner's
    ``ActMemCB`` measured; calls ``on_update(self)`` after the first step, then at most every
    ``every_s`` seconds (less often when ``on_update`` is slow), and once at the end."""

    order = 70  # after ActMemCB (40) has metered the step

    def __init__(self, on_update=None, every_s: float = 0.5):
        self.on_update, self.every_s = on_update, every_s
        self.losses, self.activation, self.total, self.epoch, self.n_epoch = [], 0, 0, 0, 0

    def before_fit(self, learn):
        self.losses, self.activation, self._next = [], 0, 0.0
        self.total, self.n_epoch = learn.n_epoch * learn.steps_per_epoch, learn.n_epoch
        self.meter = next((cb for cb in learn.cbs if isinstance(cb, ActMemCB)), None)

    def after_batch(self, learn):
        if not learn.training:
            return
        self.losses.append(learn.loss.item())
        self.epoch = learn.epoch
        if self.meter is not None:
            self.activation = max(self.activation, self.meter.largest)
        if time.perf_counter() >= self._next:
            self.update()

    def after_fit(self, learn):
        self.update()

    def update(self):
        start = time.perf_counter()
        if self.on_update is not None:
            self.on_update(self)
        cost = time.perf_counter() - start
        self._next = time.perf_counter() + max(self.every_s, 5 * cost)

    def describe(self) -> str:
        """The live status line, as plain text."""
        if not self.losses:
            return "Training: starting"
        return (
            f"Training: epoch {self.epoch + 1}/{self.n_epoch}, step {len(self.losses)}/"
            f"{self.total}, loss {self.losses[-1]:.4g} · measured activation memory "
            f"{format_bytes(self.activation)}"
        )
