"""The memory of one training step: measure it, predict it, and refuse runs that cannot fit.

The course's claim: full BPTT keeps every step of the window for the backward pass, so
its memory grows linearly with ``win_sz``; truncated BPTT keeps one sub-window at a
time, so its memory stays flat at ``sub_seq_len``. Three figures make that visible on
any machine, a laptop's CPU included:

1. **activation memory**: the bytes autograd keeps for the backward pass. Every tensor
   an operation saves for backward passes through ``saved_tensors_hooks``; we add up the
   size of each distinct storage once, leaving out the parameters and the batch. Exact
   and repeatable on every device.
2. **peak memory**: the most memory in use during the step, above what was in use
   before it. On CUDA from the allocator's statistics; on CPU from torch's profiler.
   It also sees the gradient buffers and what activation checkpointing recomputes,
   which (1) cannot.
3. **the kernel path**: which implementation of the RNN ran (oneDNN, PyTorch's native
   cells, cuDNN). Each keeps a different amount per step, which is why two machines
   can disagree.

``estimate_memory`` predicts (1) before a run from the sizes alone; the budget guard
uses it to refuse, before anything is allocated, a run that cannot fit.

This module does not import the learner: it recognises one by its attributes
(``model``, ``dls``, ``forward_backward``, ``_call``).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch

from .data.windows import Batch
from .model import StatefulRNN, detach_state

FLOAT_BYTES = 4  # float32
DEFAULT_BUDGET_FRACTION = 0.8  # of the free GPU memory, or of the available RAM


# -- bytes, readable ----------------------------------------------------------------------
_UNITS = {"b": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_UNITS |= {"kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}


def format_bytes(n: float, digits: int = 1) -> str:
    """A byte count in binary units: 512 B, 3.0 KiB, 12.3 MiB, 2.0 GiB."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        if abs(n) >= _UNITS[unit.lower()]:
            return f"{n / _UNITS[unit.lower()]:.{digits}f} {unit}"
    return f"{int(n)} B"


def parse_bytes(value) -> int:
    """Bytes from a number (bytes) or a string such as "2 GiB", "500MB", "1.5GiB"."""
    if isinstance(value, bool):
        raise TypeError(f"a memory size must be bytes or a string like '2 GiB', got {value!r}.")
    if isinstance(value, (int, float)):
        if not value > 0:
            raise ValueError(f"a memory size must be > 0, got {value}.")
        return int(value) if math.isfinite(value) else value
    match = re.fullmatch(r"\s*([0-9.]+)\s*([kmgt]?i?b)\s*", str(value).lower())
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"cannot read {value!r} as a memory size: write e.g. '2 GiB' or '500 MB'.")
    return parse_bytes(float(match.group(1)) * _UNITS[match.group(2)])


class Bytes(int):
    """An int of bytes that prints readably (``12.3 MiB``): a cell of the progress table."""

    def __str__(self) -> str:
        return format_bytes(self)

    __repr__ = __str__


# -- (1) activation memory: what autograd saves for backward ------------------------------
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
            loss = loss_func(model(batch.u), batch.y)
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


# -- (3) which kernel ran -----------------------------------------------------------------
# grad_fn names of the RNN kernels, as PyTorch names their backward nodes
_KERNELS = {
    "MkldnnRnnLayerBackward": "onednn",  # CPU LSTM, the default
    "CudnnRnnBackward": "cudnn",
    "MiopenRnnBackward": "miopen",
    "ThnnFusedLstmCellBackward": "native",  # CUDA without cuDNN: fused cells
    "ThnnFusedGruCellBackward": "native",
}


def path_of(loss: torch.Tensor, max_nodes: int = 5000) -> tuple[str, str]:
    """(path, grad_fn name) of the RNN kernel behind ``loss``, read from its graph.

    Walks back from ``loss.grad_fn`` to the first node that names an RNN kernel. The
    native path has no such node: its cells are plain operations whose outputs are
    stacked (``StackBackward0``). Works after ``backward()`` too: the nodes remain.
    """
    todo, seen, stacked = [loss.grad_fn], set(), None
    while todo and len(seen) < max_nodes:
        node = todo.pop(0)
        if node is None or node in seen:
            continue
        seen.add(node)
        name = node.name()
        for prefix, path in _KERNELS.items():
            if name.startswith(prefix):
                return path, name
        if name.startswith("StackBackward") and stacked is None:
            stacked = name
        todo.extend(fn for fn, _ in node.next_functions)
    return ("native", stacked) if stacked else ("unknown", "")


def kernel_path(rnn_type: str, device="cpu") -> str:
    """The path PyTorch will take for this RNN here, before running it.

    CPU: the LSTM takes oneDNN when PyTorch has it and it is enabled (the default);
    GRU and plain RNN have no oneDNN path and run PyTorch's native cells. CUDA: cuDNN
    when enabled (the default), else PyTorch's fused native cells.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return (
            "cudnn"
            if torch.backends.cudnn.is_available() and torch.backends.cudnn.enabled
            else "native"
        )
    onednn = torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
    return "onednn" if rnn_type == "lstm" and onednn else "native"


# -- (2) peak memory ----------------------------------------------------------------------
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


# -- one training step, measured ----------------------------------------------------------
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


def split_windows(u: torch.Tensor, y: torch.Tensor, sub_seq_len: int | None) -> list[Batch]:
    """A batch of windows u (bs, win_sz, n_u), y (bs, win_sz, n_y) as its sub-windows, in order.

    The sub-windows are views, as the loaders hand them out. None: one whole window.
    """
    seq = sub_seq_len or u.shape[1]
    if u.shape[1] % seq:
        raise ValueError(f"sub_seq_len={seq} does not divide the window of {u.shape[1]} steps.")
    return [
        Batch(u[:, t : t + seq], y[:, t : t + seq], new_window=(t == 0), sub_idx=t // seq)
        for t in range(0, u.shape[1], seq)
    ]


def _is_learner(obj) -> bool:
    return all(hasattr(obj, a) for a in ("model", "dls", "forward_backward", "_call"))


def _as_windows(batch, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(u, y) on ``device`` from a Batch or a (u, y) pair."""
    u, y = (batch.u, batch.y) if isinstance(batch, Batch) else batch
    return u.to(device), y.to(device)


def _learner_steps(learn, batch):
    """The learner's own training step, one call per sub-window of ``batch``."""
    device = next(learn.model.parameters()).device
    if batch is None:  # the first bs training windows, without touching the loader's shuffle
        ds = learn.dls.train.ds
        batch = ds[list(range(min(learn.dls.train.bs, len(ds))))]
    u, y = _as_windows(batch, device)
    sub_seq_len = learn.dls.sub_seq_len if learn.dls.sub_seq_len else None
    if sub_seq_len and u.shape[1] % sub_seq_len:
        sub_seq_len = None  # not cut the loader's way (e.g. a shorter piece): one step
    steps = split_windows(u, y, sub_seq_len)
    if isinstance(batch, Batch) and len(steps) == 1:  # a (sub-)batch as the loader gave it
        steps = [batch._replace(u=u, y=y)]

    def run(sub: Batch) -> torch.Tensor:
        learn.batch = sub
        learn._call("before_batch")  # TbpttResetCB resets the state at a new window
        return learn.forward_backward(sub)

    return steps, run


def _model_steps(model, batch, sub_seq_len, loss_func):
    """A plain TBPTT step on a model: reset, then carry the detached state across sub-windows."""
    device = next(model.parameters()).device
    u, y = _as_windows(batch, device)
    state = None

    def run(sub: Batch) -> torch.Tensor:
        nonlocal state
        if sub.new_window:
            state = None
        if hasattr(model, "forward_from"):
            pred, state = model.forward_from(sub.u, state)
            state = detach_state(state)
        else:
            pred = model(sub.u)
        loss = loss_func(pred, sub.y)
        loss.backward()
        return loss

    return split_windows(u, y, sub_seq_len), run


def _mae(pred, targ):
    return (pred - targ).abs().mean()


def measure_memory(
    learner_or_model, batch=None, *, sub_seq_len: int | None = None, loss_func=None, peak=True
) -> MemoryReport:
    """Measure one training step: activation memory, peak memory, and the kernel path.

    learner_or_model: a Learner (its own ``forward_backward`` runs, so any BPTT mode is
        measured as it trains; ``sub_seq_len`` comes from its loaders) or a model (a
        ``StatefulRNN``: TBPTT over ``sub_seq_len``, state carried and detached; None:
        full BPTT), trained with ``loss_func`` (default: mean absolute error).
    batch: a Batch or a pair (u, y) of windows, u (bs, win_sz, n_u), y (bs, win_sz, n_y).
        With a learner, None takes its first bs training windows.
    peak: also measure the peak (a second pass over the step; on CPU through the
        profiler, slower).

    The step is one batch of windows: under TBPTT, every sub-window's forward, loss and
    backward, and activation memory is the largest of them. The model's state, mode
    and gradients are left as they were.
    """
    is_learner = _is_learner(learner_or_model)
    model = learner_or_model.model if is_learner else learner_or_model
    if is_learner:
        if batch is None and sub_seq_len is not None:
            raise ValueError("a learner's sub_seq_len comes from its loaders: leave it out.")
        steps, run = _learner_steps(learner_or_model, batch)
    else:
        if batch is None:
            raise ValueError("measure_memory(model, batch): a model needs a batch (u, y).")
        steps, run = _model_steps(model, batch, sub_seq_len, loss_func or _mae)
    params = [*model.parameters(), *model.buffers()]
    device = params[0].device
    saved = (model.training, getattr(model, "hidden_state", None), [p.grad for p in params])
    saved_batch = getattr(learner_or_model, "batch", None)
    meter = SavedTensorMeter(exclude=params)
    model.train()
    try:
        activation, loss = 0, None
        for sub in steps:
            with meter.measuring(sub.u, sub.y):
                loss = run(sub)
            activation = max(activation, meter.nbytes)
        path, kernel = path_of(loss)
        peak_bytes = None
        if peak:

            def run_all():
                for sub in steps:
                    run(sub)

            peak_bytes = (
                _cuda_peak(run_all, device) if device.type == "cuda" else _cpu_peak(run_all)
            )
    finally:
        model.train(saved[0])
        if hasattr(model, "hidden_state"):
            model.hidden_state = saved[1]
        for p, grad in zip(params, saved[2]):
            p.grad = grad
        if is_learner:
            learner_or_model.batch = saved_batch
    return MemoryReport(activation, peak_bytes, path, kernel, str(device), len(steps))


# -- prediction ---------------------------------------------------------------------------
# Floats kept per step, per sample and per layer by PyTorch's native cells (measured with
# benchmarks/memory_sweep.py --paths; see estimate_memory's docstring for what they are).
NATIVE_CELL = {"lstm": 7, "gru": 7, "rnn": 1}
# cuDNN's reserve space per step, per sample and per layer, in units of hidden_size. NOT YET
# MEASURED here (no GPU): assumed gates + c + h for an LSTM, gates + W_hn h + h for a GRU,
# pre-activation + h for a plain RNN. Check with benchmarks/memory_sweep.py --device cuda.
CUDNN_CELL = {"lstm": 6, "gru": 5, "rnn": 2}
_PAGE = 4096


def _onednn_ld(n: int) -> int:
    """oneDNN's row length for n floats: rounded up to 16 floats (64 bytes), plus 16 more
    when the result is a multiple of 256 (to dodge 4 KiB cache aliasing)."""
    ld = -(-n // 16) * 16
    return ld + 16 if ld % 256 == 0 else ld


def onednn_workspace_bytes(seq_len: int, bs: int, input_size: int, hidden_size: int) -> int:
    """Bytes of the workspace oneDNN's LSTM keeps for backward, for one layer.

    Seven sections, each starting on a 4 KiB page, in floats per sample:
    gates 4H and the hidden output H for each of the T steps; for each of the T + 1
    time points (the initial state too) and for both the layer's input and its output
    (2 rows): the states h, the cell states c, and room for the gradients of h (twice,
    for the layer and the iteration directions) and of c. Rows holding h or its gradient
    have the padded length ld(max(input_size, H)).
    """
    T, B, H = seq_len, bs, hidden_size
    w = _onednn_ld(max(input_size, H))
    sections = [
        T * B * _onednn_ld(4 * H),  # gates i, f, g, o
        T * B * _onednn_ld(H),  # hidden output h
        2 * (T + 1) * B * w,  # states h (input and output rows)
        2 * (T + 1) * B * H,  # cell states c
        2 * (T + 1) * B * w,  # gradient of h, layer direction
        2 * (T + 1) * B * w,  # gradient of h, iteration direction
        2 * (T + 1) * B * H,  # gradient of c
    ]
    return sum(-(-FLOAT_BYTES * s // _PAGE) * _PAGE for s in sections)


def estimate_memory(
    rnn_type: str,
    hidden_size: int,
    num_layers: int,
    bs: int,
    win_sz: int,
    sub_seq_len: int | None = None,
    input_size: int = 1,
    output_size: int = 1,
    device="cpu",
    path: str | None = None,
) -> int:
    """Predict the activation memory (bytes) of one training step of a ``StatefulRNN``.

    Autograd keeps, for the backward pass, a number of floats (4 bytes each) per sample
    and per step of the sequence it backpropagates through: T = sub_seq_len under TBPTT
    (sub-windows run one after another, so one is held at a time), T = win_sz under full
    BPTT. With B = bs, H = hidden_size, L = num_layers, I = input_size, O = output_size:

        bytes = 4 * B * T * (I + O + H)  +  L * (what one layer keeps)

    - I: the normalised input (the model normalises u: a new tensor, not the batch).
    - O: the loss's residual pred - y (mean absolute and mean squared error keep it).
    - H: the linear head's input, a contiguous copy of the last layer's output.

    What one layer keeps depends on the kernel path (``kernel_path``):

    native (GRU and plain RNN on CPU; the LSTM when oneDNN is off): PyTorch's own cells,
        small operations that each keep their inputs; per step:
        LSTM 7H: the gates i, f, g, o (4H, activated in place: one block), c(t-1) for
                 f * c, tanh(c(t)) for o * tanh(c), and h(t-1) for W_hh h.
        GRU 7H: r, z and W_hn h + b_hn (one block of 3H), a copy of W_hn h + b_hn taken
                before r * (...) overwrites it, n, h(t-1) - n, and h(t-1).
        RNN 1H: h(t) = tanh(...), which is also the next step's h(t-1); plus h(0).
        A layer below the last also has its output sequence (H) kept by the layer above:
        bytes = 4 * B * T * (I + O + L * H + L * cell)   [+ 4 * B * H * L for the RNN]
    onednn (the LSTM on CPU, by default): one fused kernel per layer. It keeps its output
        sequence (H) and the states it starts from and ends at (4 of B x H), and a
        workspace with, per step, the gates (4H) and h (H), and for each of T + 1 time
        points and both of the layer's rows (its input and its output): h, c, and room
        for the gradients of h (twice) and c. Rows that hold h or its gradient are
        padded to ld = H rounded up to 16 floats; each part starts on a 4 KiB page:
        per step about ld(4H) + ld(H) + 6 ld(H) + 4H, i.e. 15H for H a multiple of 16,
        16.4H for H = 40 (``onednn_workspace_bytes`` has the exact sizes).
    cudnn: cuDNN's reserve space, ASSUMED 6H per step for the LSTM (gates, c, h), 5H
        for the GRU, 2H for the RNN, plus its output H: not yet measured on a GPU.

    An exact backward pass needs less. For an LSTM: the 4 gates and c(t) of every
    step, 5H; h(t) = o * tanh(c(t)) is cheap to recompute. Native keeps 7H, oneDNN ~16H.

    device: where it will run ("cpu", "cuda"); path: force a kernel path ("onednn",
    "native", "cudnn"); default: the one ``kernel_path`` predicts for this machine.
    Assumes float32 and the oneDNN workspace layout of PyTorch 2.x's bundled oneDNN.
    """
    if rnn_type not in NATIVE_CELL:
        raise ValueError(f"rnn_type={rnn_type!r} is unknown: choose one of {sorted(NATIVE_CELL)}.")
    path = path or kernel_path(rnn_type, device)
    if path == "onednn" and rnn_type != "lstm":
        raise ValueError(f"oneDNN has no {rnn_type} path in PyTorch: only the LSTM takes it.")
    T, B, H, L = sub_seq_len or win_sz, bs, hidden_size, num_layers
    n_states = 2 if rnn_type == "lstm" else 1  # (h, c) or h
    floats = B * T * (input_size + output_size + H)  # input, residual, the head's copy
    nbytes = 0
    for layer in range(L):
        if path == "onednn":
            layer_in = input_size if layer == 0 else H
            nbytes += onednn_workspace_bytes(T, B, layer_in, H)
            floats += B * T * H + 2 * n_states * B * H  # its output; start and end states
        elif path == "native":
            floats += B * T * NATIVE_CELL[rnn_type] * H
            floats += B * T * H * (layer < L - 1)  # its output, kept by the layer above
            floats += B * H * (rnn_type == "rnn")  # h(0); LSTM and GRU count it in the 7H
        elif path == "cudnn":
            floats += B * T * (CUDNN_CELL[rnn_type] + 1) * H + 2 * n_states * B * H
        else:
            raise ValueError(f"path={path!r} is unknown: choose 'onednn', 'native' or 'cudnn'.")
    return nbytes + FLOAT_BYTES * floats


# -- the budget guard ---------------------------------------------------------------------
class MemoryBudgetExceeded(MemoryError):
    """A run's predicted memory does not fit the budget: refused before allocating anything."""


def _cgroup_available() -> int | None:
    """Bytes left under this container's memory limit (Binder, Docker), if it has one."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:  # "max" or a huge number: no limit
            return max(int(limit) - usage, 0)
    return None


def available_memory(device="cpu") -> int:
    """Bytes free for a run: free GPU memory on CUDA; on CPU, the available RAM, or less
    when a container limit (Binder's 2 GiB, say) leaves less."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    import psutil

    ram = psutil.virtual_memory().available
    cgroup = _cgroup_available()
    return ram if cgroup is None else min(ram, cgroup)


def default_budget(device="cpu", fraction: float = DEFAULT_BUDGET_FRACTION) -> int:
    """The budget when none is given: ``fraction`` of ``available_memory(device)``."""
    return int(fraction * available_memory(device))


def _budget(max_memory, device) -> tuple[float, str]:
    """(bytes, how the message names it) of the budget: ``max_memory`` or the default."""
    if max_memory is not None:
        return parse_bytes(max_memory), "max_memory"
    where = "free GPU memory" if torch.device(device).type == "cuda" else "available RAM"
    source = f"max_memory, default: {DEFAULT_BUDGET_FRACTION:.0%} of the {where}"
    return default_budget(device), source


def _over_budget(predicted: int, budget: float, source: str, advice: str = ""):
    digits = 1 if format_bytes(predicted) != format_bytes(budget) else 3
    return MemoryBudgetExceeded(
        f"Predicted activation memory {format_bytes(predicted, digits)} exceeds the budget of "
        f"{format_bytes(budget, digits)} ({source}).{advice}"
    )


def largest_sub_seq_len(win_sz: int, budget: float, **sizes) -> int | None:
    """The largest divisor of ``win_sz`` whose predicted activation memory fits ``budget``.

    sizes: the other arguments of ``estimate_memory``. None when not even 1 fits.
    """
    divisors = [d for d in range(1, win_sz + 1) if win_sz % d == 0]
    fits = [d for d in divisors if estimate_memory(win_sz=win_sz, sub_seq_len=d, **sizes) <= budget]
    return max(fits) if fits else None


def check_budget(
    max_memory=None,
    *,
    rnn_type: str,
    hidden_size: int,
    num_layers: int,
    bs: int,
    win_sz: int,
    sub_seq_len: int | None = None,
    input_size: int = 1,
    output_size: int = 1,
    device="cpu",
) -> int:
    """Raise ``MemoryBudgetExceeded`` if the predicted activation memory exceeds the budget.

    max_memory: bytes or a string ("2 GiB"); None: ``default_budget(device)``.
    Returns the predicted bytes when the run fits.
    """
    sizes = dict(rnn_type=rnn_type, hidden_size=hidden_size, num_layers=num_layers, bs=bs)
    sizes |= dict(input_size=input_size, output_size=output_size, device=device)
    sizes["path"] = kernel_path(rnn_type, device)
    predicted = estimate_memory(win_sz=win_sz, sub_seq_len=sub_seq_len, **sizes)
    budget, source = _budget(max_memory, device)
    if predicted <= budget:
        return predicted
    best = largest_sub_seq_len(win_sz, budget, **sizes)
    advice = (
        f" Largest sub_seq_len dividing win_sz={win_sz} that fits: {best}."
        if best
        else f" Not even sub_seq_len=1 fits: lower bs={bs} or hidden_size={hidden_size}."
    )
    raise _over_budget(predicted, budget, source, advice)


def _learner_seq_len(learn) -> int | None:
    """The steps one training step backpropagates through, by BPTT mode (None: the window)."""
    for attr in ("bptt_len", "chunk_len"):  # TBPTT(k1, k2) holds k2 steps; checkpointing a chunk
        if getattr(learn, attr, None):
            return getattr(learn, attr)
    return learn.dls.sub_seq_len


def check_learner_budget(learn, max_memory=None) -> int | None:
    """The guard for ``Learner.fit``: refuse, before the optimizer exists, a run that cannot fit.

    A learner can predict its own step with a ``predicted_memory()`` method; otherwise
    its model must be a ``StatefulRNN`` (anything else is not predicted, not refused).
    Only activations are counted: the parameters, their gradients and Adam's two moments
    are 4 copies of a few thousand floats, and the batch is a copy of its windows,
    both small beside activations for any window long enough to worry about.
    """
    if max_memory is not None and parse_bytes(max_memory) == math.inf:
        return None
    if hasattr(learn, "predicted_memory"):
        predicted = learn.predicted_memory()
        budget, source = _budget(max_memory, next(learn.model.parameters()).device)
        if predicted > budget:
            raise _over_budget(predicted, budget, source)
        return predicted
    model, dls = learn.model, learn.dls
    if not isinstance(model, StatefulRNN):
        return None
    seq = _learner_seq_len(learn)
    return check_budget(
        max_memory,
        rnn_type=model.rnn_type,
        hidden_size=model.hidden_size,
        num_layers=model.num_layers,
        bs=dls.train.bs,
        win_sz=dls.win_sz,
        sub_seq_len=min(seq, dls.win_sz) if seq else None,
        input_size=dls.n_u,
        output_size=dls.n_y,
        device=next(model.parameters()).device,
    )


# -- the course's central plot ------------------------------------------------------------
class SweepRow(NamedTuple):
    """One point of the sweep; bytes. sub_seq_len None: full BPTT."""

    win_sz: int
    sub_seq_len: int | None
    measured: int
    predicted: int
    peak: int | None


def memory_sweep(
    win_sizes=(100, 300, 1000, 3000, 10_000),
    sub_seq_lens=(100,),
    rnn_type: str = "lstm",
    hidden_size: int = 40,
    num_layers: int = 1,
    bs: int = 16,
    device="cpu",
    peak: bool = True,
    seed: int = 0,
) -> list[SweepRow]:
    """Measure and predict one step's memory for each window size, full BPTT and TBPTT.

    For every ``win_sz``: full BPTT, then TBPTT with each ``sub_seq_len`` that divides it.
    The data are random (memory does not depend on the values); the prediction uses the
    kernel path the measurement saw.
    """
    torch.manual_seed(seed)
    model = StatefulRNN(1, 1, rnn_type, hidden_size, num_layers).to(device)
    rows = []
    for win_sz in win_sizes:
        u = torch.randn(bs, win_sz, 1, device=device)
        y = torch.randn(bs, win_sz, 1, device=device)
        for sub in (None, *sub_seq_lens):
            if sub is not None and (sub > win_sz or win_sz % sub):
                continue
            report = measure_memory(model, (u, y), sub_seq_len=sub, peak=peak)
            predicted = estimate_memory(
                rnn_type, hidden_size, num_layers, bs, win_sz, sub, device=device, path=report.path
            )
            rows.append(
                SweepRow(win_sz, sub, report.activation_bytes, predicted, report.peak_bytes)
            )
    return rows


def plot_memory_sweep(rows: list[SweepRow], ax=None, peak: bool = True):
    """Activation memory against win_sz: a rising line for full BPTT, flat lines for TBPTT.

    Points are measured, lines predicted (``estimate_memory``); hollow markers: peak.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    mib = 2**20
    for i, sub in enumerate(dict.fromkeys(r.sub_seq_len for r in rows)):
        pts = sorted((r for r in rows if r.sub_seq_len == sub), key=lambda r: r.win_sz)
        x = [r.win_sz for r in pts]
        label = "full BPTT" if sub is None else f"TBPTT, sub_seq_len={sub}"
        color = f"C{i}"
        ax.plot(x, [r.predicted / mib for r in pts], "-", color=color, label=f"{label}: predicted")
        ax.plot(x, [r.measured / mib for r in pts], "o", color=color, label=f"{label}: measured")
        if peak and all(r.peak is not None for r in pts):
            ax.plot(
                x,
                [r.peak / mib for r in pts],
                "o",
                mfc="none",
                color=color,
                alpha=0.6,
                label=f"{label}: peak",
            )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="window length win_sz (steps)",
        ylabel="memory of one training step (MiB)",
    )
    ax.set_title("Full BPTT grows with the window; TBPTT stays flat")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return ax
