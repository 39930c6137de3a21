"""The budget guard: refuse, before anything is allocated, a run that cannot fit.

It adds up what one training step will hold that is not there yet: the predicted
activations (``predict.py``), the parameters' gradients and the optimizer's state (Adam:
two floats per parameter), and one batch of windows; it says what it counted. The
budget is ``max_memory``, or by default a fraction of the free memory: free GPU memory on
CUDA; on CPU the available RAM, or less when a container limit (Binder's) leaves less.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ...core.learner import Callback
from ...core.model import RNN_TYPES
from ...modes import BPTT
from ...units import format_bytes, parse_bytes
from ...validation import check_int, divisors
from .kernels import FLOAT_BYTES
from .predict import estimate_memory

__all__ = [
    "BudgetCB",
    "DEFAULT_BUDGET_FRACTION",
    "MemoryBudgetExceeded",
    "available_memory",
    "budget_of",
    "check_budget",
    "check_model_fits",
    "container_limit",
    "default_budget",
    "largest_sub_seq_len",
    "n_parameters",
    "predict_step_memory",
]

DEFAULT_BUDGET_FRACTION = 0.8  # of the free GPU memory, or of the available RAM


class MemoryBudgetExceeded(MemoryError):
    """A run's predicted memory does not fit the budget: refused before allocating anything."""


def _cgroup_available() -> int | None:
    """Bytes left under this container's memory limit (Binder, Docker), if it has one."""
    found = _cgroup_limit_and_usage()
    return None if found is None else max(found[0] - found[1], 0)


def container_limit() -> int | None:
    """This container's memory limit in bytes (Binder's, a JupyterHub's per-user limit), or
    None when there is none: then the machine's RAM is the limit."""
    found = _cgroup_limit_and_usage()
    return None if found is None else found[0]


def _cgroup_limit_and_usage() -> tuple[int, int] | None:
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
            return int(limit), usage
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


def budget_of(max_memory, device) -> tuple[float, str]:
    """(bytes, how the message names it) of the budget: ``max_memory`` or the default."""
    if max_memory is not None:
        return parse_bytes(max_memory), "max_memory"
    where = "free GPU memory" if torch.device(device).type == "cuda" else "available RAM"
    source = f"max_memory, default: {DEFAULT_BUDGET_FRACTION:.0%} of the {where}"
    return default_budget(device), source


def n_parameters(
    rnn_type: str, hidden_size: int, num_layers: int, input_size=1, output_size=1
) -> int:
    """Parameters of a ``StatefulRNN``: per layer g·H·(in + H) weights and 2·g·H biases
    (g = 4 gates for an LSTM, 3 for a GRU, 1 for a plain RNN), and the head's H·O + O."""
    g, H = {"lstm": 4, "gru": 3, "rnn": 1}[rnn_type], hidden_size
    layers = g * H * (input_size + H + 2) + (num_layers - 1) * g * H * (H + H + 2)
    return layers + H * output_size + output_size


def check_model_fits(rnn_type, hidden_size, num_layers, input_size=1, output_size=1, device="cpu"):
    """Raise ``MemoryBudgetExceeded`` before a model is built whose float32 weights alone do
    not fit ``available_memory(device)`` (a typo such as num_layers=10**6 would otherwise take
    minutes, then fail); sizes that are no sizes get the kit's TypeError or ValueError."""
    if rnn_type not in RNN_TYPES:
        raise ValueError(f"rnn_type={rnn_type!r} is unknown: choose one of {sorted(RNN_TYPES)}.")
    sizes = dict(
        hidden_size=hidden_size,
        num_layers=num_layers,
        input_size=input_size,
        output_size=output_size,
    )
    for name, value in sizes.items():
        check_int(name, value)
    weights = FLOAT_BYTES * n_parameters(rnn_type, **sizes)
    free = available_memory(device)
    if weights > free:
        raise MemoryBudgetExceeded(
            f"hidden_size={hidden_size}, num_layers={num_layers}: the model's weights alone "
            f"take {format_bytes(weights)}, more than the {format_bytes(free)} available: "
            f"choose a smaller hidden_size or num_layers."
        )


def predict_step_memory(
    rnn_type: str,
    hidden_size: int,
    num_layers: int,
    bs: int,
    win_sz: int,
    sub_seq_len: int | None = None,
    input_size: int = 1,
    output_size: int = 1,
    device="cpu",
    *,
    graph_len: int | None = None,
) -> dict[str, int]:
    """What one training step adds, in bytes, by part: activations (``estimate_memory``:
    ``sub_seq_len`` for truncated BPTT's sub-window, or ``graph_len`` for any mode's graph),
    gradients (one float per parameter), optimizer state (Adam: two), and one batch of
    windows (inputs and targets). Not counted: the weights and the data, already there."""
    n_params = n_parameters(rnn_type, hidden_size, num_layers, input_size, output_size)
    sizes = dict(input_size=input_size, output_size=output_size, device=device)
    return {
        "activations": estimate_memory(
            rnn_type, hidden_size, num_layers, bs, win_sz, sub_seq_len, **sizes, graph_len=graph_len
        ),
        "gradients": FLOAT_BYTES * n_params,
        "optimizer state": 2 * FLOAT_BYTES * n_params,
        "batch": FLOAT_BYTES * bs * win_sz * (input_size + output_size),
    }


def largest_sub_seq_len(win_sz: int, budget: float, **sizes) -> int | None:
    """The largest divisor of ``win_sz`` whose predicted step fits ``budget`` (None: not even 1).

    sizes: the other arguments of ``predict_step_memory``. A win_sz above 10**12 (its divisors
    would take seconds to list) gets 1 when that fits."""

    def fits(d: int) -> bool:
        return sum(predict_step_memory(win_sz=win_sz, sub_seq_len=d, **sizes).values()) <= budget

    if not fits(1):
        return None
    return max(d for d in (divisors(win_sz) if win_sz <= 10**12 else [1]) if fits(d))


def check_budget(max_memory=None, **sizes) -> int:
    """Raise ``MemoryBudgetExceeded`` if one training step's predicted memory exceeds the
    budget; else return the predicted bytes.

    max_memory: bytes or a string ("2 GiB"); None: ``DEFAULT_BUDGET_FRACTION`` of
    ``available_memory(device)``. sizes: the arguments of ``predict_step_memory``
    (``sub_seq_len`` for truncated BPTT, ``graph_len`` for any mode's graph). The refusal
    names the largest sub_seq_len of plain truncated BPTT that would fit.
    """
    parts = predict_step_memory(**sizes)
    predicted = sum(parts.values())
    budget, source = budget_of(max_memory, sizes.get("device", "cpu"))
    if predicted <= budget:
        return predicted
    digits = 1 if format_bytes(predicted) != format_bytes(budget) else 3
    counted = ", ".join(f"{name} {format_bytes(n, digits)}" for name, n in parts.items())
    win_sz, rest = (
        sizes["win_sz"],
        {k: v for k, v in sizes.items() if k not in ("win_sz", "sub_seq_len", "graph_len")},
    )
    best = largest_sub_seq_len(win_sz, budget, **rest)
    advice = (
        f"Largest sub_seq_len dividing win_sz={win_sz} that fits: {best}."
        if best
        else f"Not even sub_seq_len=1 fits: lower bs={sizes['bs']} or hidden_size={sizes['hidden_size']}."
    )
    raise MemoryBudgetExceeded(
        f"Predicted memory of one training step {format_bytes(predicted, digits)} ({counted}) "
        f"exceeds the budget of {format_bytes(budget, digits)} ({source}). {advice}"
    )


class BudgetCB(Callback):
    """The guard in ``fit``: refuse, before the optimizer exists, a step that cannot fit.

    max_memory: bytes, "2 GiB", None (the default budget) or math.inf (no guard). Only a
    ``StatefulRNN`` (anything with rnn_type, hidden_size, num_layers) is predicted."""

    order = -30

    def __init__(self, max_memory=None):
        if max_memory is not None and max_memory != math.inf:
            parse_bytes(max_memory)  # a clear error now, not at fit
        self.max_memory = max_memory

    def before_fit(self, learn):
        model, dls = learn.model, learn.dls
        if self.max_memory == math.inf or not hasattr(model, "rnn_type"):
            return
        bptt = BPTT.of_learner(learn)
        win_sz = dls.win_sz or bptt.graph_len(math.inf)  # streams, text: one step's graph
        learn.predicted_memory = check_budget(
            self.max_memory,
            rnn_type=model.rnn_type,
            hidden_size=model.hidden_size,
            num_layers=model.num_layers,
            bs=dls.train.bs,
            win_sz=win_sz,
            graph_len=bptt.graph_len(win_sz),  # the steps one step's graph holds
            input_size=dls.n_u,
            output_size=dls.n_y,
            device=next(model.parameters()).device,
        )
