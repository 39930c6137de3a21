"""Measure one training step: activation memory, peak memory, and the kernel path.

1. activation memory: the bytes autograd keeps for the backward pass (``meter.py``).
2. peak memory: the most memory in use during the step, above what was in use before
   it. On CUDA from the allocator's statistics; on CPU from torch's profiler. It also sees
   the gradient buffers and what checkpointing recomputes, which (1) cannot.
3. the kernel path that ran (``kernels.py``): each keeps a different amount per step.

The step is the learner's own: ``run_windows`` runs one batch of windows through
``one_batch``, sub-window by sub-window, in any BPTT mode.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ...core.batch import Batch
from ...core.learner import Learner
from ...modes.bptt import BPTT
from ...units import format_bytes
from ..losses import mae
from ..run import learner_for, run_windows
from .kernels import path_of
from .meter import SavedTensorMeter

__all__ = ["MemoryReport", "measure_memory", "resident_memory"]


@contextlib.contextmanager
def _quiet_stderr():
    """Silence C++ messages on stderr (the profiler warns about blocks allocated before it)."""
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (some notebook set-ups): nothing to silence
        yield
        return
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _cpu_peak(run) -> int:
    """Peak bytes allocated on the CPU while ``run()`` runs, above the level at its start.

    torch's profiler records every allocation (+bytes) and free (-bytes); their running
    sum is the memory in use, and its maximum the peak. Frees of blocks allocated before
    the profiler started are not recorded, so the figure can only err upwards.
    """
    from torch.profiler import ProfilerActivity, profile

    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events = [e for e in events if e.device_type() == torch.autograd.DeviceType.CPU]
    in_use = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        in_use += e.nbytes()
        peak = max(peak, in_use)
    return peak


def _cuda_peak(run, device) -> int:
    """Peak bytes allocated on a GPU while ``run()`` runs, above the level at its start."""
    torch.cuda.synchronize(device)
    baseline = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    run()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - baseline


@dataclass(frozen=True)
class MemoryReport:
    """The memory of one training step (bytes), and the kernel path that ran.

    activation_bytes: bytes saved for backward, the largest over the step's sub-windows.
    peak_bytes: peak memory during the step above the level before it (None: not measured).
    path: "onednn", "native" or "cudnn"; kernel: the grad_fn name it was read from.
    """

    activation_bytes: int
    peak_bytes: int | None
    path: str
    kernel: str
    device: str
    n_steps: int = 1

    def __repr__(self) -> str:
        peak = "not measured" if self.peak_bytes is None else format_bytes(self.peak_bytes)
        return (
            f"MemoryReport(activation={format_bytes(self.activation_bytes)}, peak={peak}, "
            f"path={self.path!r} ({self.kernel}), device={self.device!r}, "
            f"sub-windows={self.n_steps})"
        )


def measure_memory(
    learner_or_model, batch=None, *, sub_seq_len: int | None = None, loss_func=None, peak=True
) -> MemoryReport:
    """Measure one training step: activation memory, peak memory, and the kernel path.

    learner_or_model: a Learner (its own step runs, so any BPTT mode is measured as it
        trains) or a model (e.g. a ``StatefulRNN``: TBPTT over ``sub_seq_len``, None: full
        BPTT, trained with ``loss_func``, default mean absolute error).
    batch: a Batch or a pair (u, y) of windows, u (bs, win_sz, n_u), y (bs, win_sz, n_y).
        With a learner, None takes its first bs training windows.
    peak: also measure the peak (a second pass over the step; on CPU through the
        profiler, slower).

    Under TBPTT the step is every sub-window's forward, loss and backward, and activation
    memory is the largest of them. The model's state, mode and gradients are left as found.
    """
    if isinstance(learner_or_model, Learner):
        learn = learner_or_model
        if sub_seq_len is not None:
            raise ValueError("a learner's sub_seq_len comes from its loaders: leave it out.")
        if batch is None:  # the first bs training windows, without touching the shuffle
            ds = learn.dls.train.ds
            batch = ds[list(range(min(learn.dls.train.bs, len(ds))))]
    elif batch is None:
        raise ValueError("measure_memory(model, batch): a model needs a batch (u, y).")
    device = next(
        learner_or_model.parameters()
        if not isinstance(learner_or_model, Learner)
        else learner_or_model.model.parameters()
    ).device
    u, y = (batch.u, batch.y) if isinstance(batch, Batch) else batch
    u, y = u.to(device), y.to(device)
    if not isinstance(learner_or_model, Learner):
        learn = learner_for(learner_or_model, u, y, BPTT.of(sub_seq_len), loss_func or mae)
    model, saved_batch = learn.model, getattr(learn, "batch", None)
    meter = SavedTensorMeter(exclude=[*model.parameters(), *model.buffers()])
    sizes = []

    @contextlib.contextmanager
    def metered():
        with meter.measuring(u, y):
            yield
        sizes.append(meter.nbytes)

    try:
        run_windows(learn, u, y, each=metered)
        path, kernel = path_of(learn.loss)
        peak_bytes = None
        if peak:
            run = lambda: run_windows(learn, u, y)  # noqa: E731
            peak_bytes = _cuda_peak(run, device) if device.type == "cuda" else _cpu_peak(run)
    finally:
        learn.batch = saved_batch
    return MemoryReport(max(sizes), peak_bytes, path, kernel, str(device), len(sizes))


def resident_memory(reset_peak: bool = False) -> tuple[int, int]:
    """(now, peak): this process's resident memory in bytes and its peak since it started or
    since ``reset_peak=True`` (Linux /proc; elsewhere both are the never-reset peak)."""
    try:
        if reset_peak:
            Path("/proc/self/clear_refs").write_text("5")
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        return tuple(1024 * int(status[k].split()[0]) for k in ("VmRSS", "VmHWM"))
    except (OSError, KeyError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        return (peak, peak) if os.uname().sysname == "Darwin" else (1024 * peak, 1024 * peak)
