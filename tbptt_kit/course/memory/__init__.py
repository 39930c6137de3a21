"""The memory of one training step: predict it, measure it, and refuse runs that cannot fit.

Read in this order:

1. ``predict.py``: the formula the course teaches (``estimate_memory``), from sizes alone;
   ``kernels.py`` holds the kernel-specific layouts (oneDNN's workspace) and which kernel runs.
2. ``meter.py``: the bytes autograd saves for backward, and the act_mem column (``ActMemCB``).
3. ``measure.py``: one training step measured (activation, peak, kernel path).
4. ``budget.py``: the guard that refuses an over-budget run before it allocates (``BudgetCB``).
5. ``sweep.py``: memory against ``win_sz``, full BPTT and TBPTT, the course's central plot.
"""

from ...units import Bytes, format_bytes, parse_bytes
from .budget import (
    BudgetCB,
    MemoryBudgetExceeded,
    available_memory,
    check_budget,
    container_limit,
    predict_step_memory,
)
from .kernels import kernel_path, path_of
from .measure import MemoryReport, measure_memory, resident_memory
from .meter import ActMemCB, SavedTensorMeter
from .predict import estimate_memory
from .sweep import SweepRow, memory_sweep, plot_memory_sweep

__all__ = [
    "resident_memory",
    "ActMemCB",
    "BudgetCB",
    "Bytes",
    "MemoryBudgetExceeded",
    "MemoryReport",
    "SavedTensorMeter",
    "SweepRow",
    "available_memory",
    "check_budget",
    "container_limit",
    "estimate_memory",
    "format_bytes",
    "kernel_path",
    "measure_memory",
    "memory_sweep",
    "parse_bytes",
    "path_of",
    "plot_memory_sweep",
    "predict_step_memory",
]
