"""The activation meter: the bytes autograd saves for backward, and the act_mem column.

Every tensor an operation saves for backward passes through ``saved_tensors_hooks``;
the meter adds up the size of each distinct storage once, leaving out the parameters and
the batch. Exact and repeatable on every device. ``ActMemCB`` shows it as a column of
the learner's table.
"""

from __future__ import annotations

import contextlib

import torch

from ...core.learner import Callback
from ...units import Bytes

__all__ = ["ActMemCB", "SavedTensorMeter"]

# -1 outside a backward pass (a private function of torch's; absent: assume outside)
_graph_task_id = getattr(torch._C, "_current_graph_task_id", lambda: -1)


def _storage_key(t: torch.Tensor) -> tuple[int, int]:
    """(data pointer, bytes) of the memory block behind a tensor (a view shares its base's)."""
    storage = t.untyped_storage()
    return storage.data_ptr(), storage.nbytes()


class SavedTensorMeter:
    """Adds up the bytes autograd saves for backward while it is active.

    Each distinct storage counts once, whatever the number of views saved of it (the
    oneDNN LSTM saves its output twice, as two views of one block). Storages listed in
    ``exclude`` (the parameters, the batch) do not count: a sub-window is a view into
    the batch, so counting the batch would make TBPTT's memory grow with the window.

        meter = SavedTensorMeter(exclude=model.parameters())
        with meter.measuring(batch.u, batch.y):  # also left out
            loss = loss_func(model(batch.u)[0], batch.y)
            loss.backward()
        meter.nbytes  # bytes held for backward by this step
    """

    def __init__(self, exclude=()):
        self.excluded = {_storage_key(t)[0] for t in exclude}
        self.seen: dict[int, int] = {}

    @property
    def nbytes(self) -> int:
        """Bytes of the distinct storages saved since ``measuring`` started."""
        return sum(self.seen.values())

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        # tensors saved while backward runs (reentrant checkpoints recompute there) are
        # transient, not part of the step's activations
        if _graph_task_id() == -1:
            ptr, nbytes = _storage_key(t)
            if ptr not in self.excluded and ptr != 0:
                self.seen[ptr] = nbytes
        return t  # keep the tensor itself: no copy, no change to what autograd does

    @contextlib.contextmanager
    def measuring(self, *also_exclude: torch.Tensor):
        """Count from zero inside the block, leaving out ``also_exclude`` (the batch)."""
        self.seen = {}
        extra = {_storage_key(t)[0] for t in also_exclude} - self.excluded
        self.excluded |= extra
        try:
            with torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t):
                yield self
        finally:
            self.excluded -= extra


class ActMemCB(Callback):
    """The act_mem column: the largest activation memory of one training step in the epoch.

    It meters the training steps of each epoch's first batch of windows (all its
    sub-windows): every batch holds windows of the same length and only the last can hold
    fewer, so the largest step is among them, and metering costs next to nothing.
    ``all_steps=True`` meters every step (``benchmarks/memory_sweep.py --overhead`` says
    what that costs).
    """

    order = 40  # after the recorder (30) makes the row, before the table (60) shows it

    def __init__(self, all_steps: bool = False):
        self.all_steps, self.active = all_steps, None

    def before_fit(self, learn):
        self.meter = SavedTensorMeter(exclude=[*learn.model.parameters(), *learn.model.buffers()])
        win_sz, sub = learn.dls.win_sz, learn.dls.sub_seq_len
        self.first_steps = win_sz // sub if win_sz and sub else 1  # one batch of windows

    def before_epoch(self, learn):
        self.largest = 0

    def before_batch(self, learn):
        if learn.training and (self.all_steps or learn.step_in_epoch < self.first_steps):
            self.active = self.meter.measuring(learn.batch.u, learn.batch.y)
            self.active.__enter__()

    def after_backward(self, learn):  # what was saved for backward is known now
        if self.active is not None:
            self.stop()
            self.largest = max(self.largest, self.meter.nbytes)

    def after_epoch(self, learn):
        time_cell = learn.epoch_row.pop("time", None)
        learn.epoch_row["act_mem"] = Bytes(self.largest)
        if time_cell is not None:
            learn.epoch_row["time"] = time_cell

    def after_fit(self, learn):
        self.stop()  # an interrupted step leaves no hook behind

    def stop(self):
        if self.active is not None:
            active, self.active = self.active, None
            active.__exit__(None, None, None)
