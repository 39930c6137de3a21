"""Everything optional in training, as callbacks: the learner's loop stays as it is.

- ``Recorder``: every step's loss and learning rate, one row per epoch.
- ``ProgressCB``: the live table and the bar within the epoch.
- ``NonFiniteCB``: stop, with a message, when a loss or a score becomes NaN or Inf.
- ``GradClipCB``: clip the gradients' norm before each optimizer step.
- ``SmokeCB``: one epoch in smoke mode (``TBPTT_KIT_SMOKE=1``, for CI).
- ``NoResetCB``: the broken version of the reset, for demonstrations: the state is never reset.

The memory meter and the budget guard live in ``tbptt_kit.memory``.
"""

from __future__ import annotations

import math
import time

import matplotlib.pyplot as plt
import torch

from ..core.learner import Callback
from ..tooling.smoke import smoke_epochs
from ..validation import check_positive
from .progress import ProgressTable, format_time
from .style import curve_style, describe

__all__ = [
    "GradClipCB",
    "NoResetCB",
    "NonFiniteCB",
    "ProgressCB",
    "Recorder",
    "SmokeCB",
    "TrainingDiverged",
]


class Recorder(Callback):
    """Keeps every step's training loss and learning rate, and each epoch's row:
    epoch, train_loss (mean over the epoch), valid_loss, the metrics, time."""

    order = 30  # the row exists before the meter (40) adds to it and the table (60) shows it

    def before_fit(self, learn):
        self.losses, self.lrs, self.epochs = [], [], []
        unit = getattr(learn.dls, "signal_unit", "") or "signal units"
        self.loss_label = f"loss: {getattr(learn.loss_func, '__name__', 'loss')} ({unit})"

    def before_epoch(self, learn):
        self.start, self.epoch_losses = time.perf_counter(), []

    def after_batch(self, learn):
        if learn.training:
            self.epoch_losses.append(learn.loss.item())
            self.lrs.append(learn.opt.param_groups[0]["lr"])

    def after_epoch(self, learn):
        self.losses += self.epoch_losses
        names = ["valid_loss", *(m.__name__ for m in learn.metrics)]
        learn.epoch_row = {
            "epoch": learn.epoch,
            "train_loss": sum(self.epoch_losses) / len(self.epoch_losses),
        }
        learn.epoch_row.update(zip(names, learn.valid_scores))
        learn.epoch_row["time"] = format_time(time.perf_counter() - self.start)
        self.epochs.append(learn.epoch_row)

    def plot_losses(self, ax=None):
        """Training loss per step and validation loss per epoch, on a log axis."""
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        ax.plot(self.losses, lw=0.8, alpha=0.8, label="train (per step)", **curve_style(0))
        if self.epochs:
            per_epoch = len(self.losses) / len(self.epochs)
            x = [(i + 1) * per_epoch for i in range(len(self.epochs))]
            ax.plot(
                x,
                [e["valid_loss"] for e in self.epochs],
                label="valid (per epoch)",
                **{**curve_style(1), "marker": "o"},
            )
        ax.set(xlabel="optimizer step", ylabel=getattr(self, "loss_label", "loss"), yscale="log")
        ax.legend()
        describe(
            ax,
            f"Loss against the optimizer step, log scale: training loss per step ({len(self.losses)} "
            f"steps, solid) and validation loss per epoch ({len(self.epochs)} epochs, dashed, circles).",
        )
        return ax


class ProgressCB(Callback):
    """The live table: one row per epoch, and a bar within the epoch."""

    order = 60

    def before_fit(self, learn):
        self.table = ProgressTable()
        self.table.start()

    def after_batch(self, learn):
        if learn.training:
            label = f"epoch {learn.epoch + 1}/{learn.n_epoch}"
            self.table.update_bar(learn.step_in_epoch, learn.steps_per_epoch, label)

    def after_epoch(self, learn):
        self.table.add_row(learn.epoch_row)


class TrainingDiverged(RuntimeError):
    """A loss or a score became NaN or Inf: training stops instead of printing NaNs."""


class NonFiniteCB(Callback):
    """Stop when a training loss, the validation loss or a metric is NaN or Inf."""

    order = 20  # before the recorder writes a row of NaNs

    def after_batch(self, learn):
        if learn.training and not math.isfinite(learn.loss.item()):
            self.stop(
                learn,
                f"loss became {learn.loss.item()} at epoch {learn.epoch + 1}, "
                f"step {learn.step_in_epoch + 1}",
            )

    def after_epoch(self, learn):
        names = ["valid_loss", *(m.__name__ for m in learn.metrics)]
        for name, value in zip(names, learn.valid_scores):
            if not math.isfinite(value):
                self.stop(learn, f"{name} became {value} after epoch {learn.epoch + 1}")

    @staticmethod
    def stop(learn, what: str):
        raise TrainingDiverged(
            f"{what}: training stopped. Try a smaller lr (this run used "
            f"lr={learn.lr}), or clip the gradients (clip_grad=1.0)."
        )


class GradClipCB(Callback):
    """Scale the gradients down so that their norm is at most ``max_norm`` before each
    step; ``norms`` keeps each step's norm before clipping."""

    def __init__(self, max_norm: float):
        check_positive("clip_grad", max_norm)
        self.max_norm = max_norm

    def before_fit(self, learn):
        self.norms = []

    def after_backward(self, learn):
        norm = torch.nn.utils.clip_grad_norm_(learn.model.parameters(), self.max_norm)
        self.norms.append(float(norm))


class SmokeCB(Callback):
    """Smoke mode (``TBPTT_KIT_SMOKE=1``): fit runs one epoch, so CI runs every notebook."""

    order = -20

    def before_fit(self, learn):
        learn.n_epoch = smoke_epochs(learn.n_epoch)


class NoResetCB(Callback):
    """The reset switched off, to see what it is for: every batch says that no row starts
    (``batch.reset`` all False), so a new window goes on from the state another window left.
    Also ``n_skip`` then skips nothing. Never for real training. A batch with another number
    of rows than the carried state (an epoch's last, smaller batch) has no state to go on
    from: it starts from zeros, as its loader says."""

    order = -30  # before everything else reads the batch

    def before_batch(self, learn):
        state = learn.hidden_state
        rows = None if state is None else (state[0] if isinstance(state, tuple) else state).shape[1]
        if rows is None or rows == len(learn.batch.reset):
            learn.batch = learn.batch._replace(reset=torch.zeros_like(learn.batch.reset))
