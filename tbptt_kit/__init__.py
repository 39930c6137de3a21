"""tbptt_kit: truncated backpropagation through time, taught with stateful RNNs.

Every name a notebook uses is here, or in a submodule the notebook names
(``tbptt_kit.memory``, ``tbptt_kit.plots``, ``tbptt_kit.widgets``, ``tbptt_kit.checks``).
``ARCHITECTURE.md`` says which module does what.
"""

from .artbp import Truncation
from .bias import (
    bias_variance,
    cosine,
    error_by_draws,
    fit_influence,
    relative_error,
    window_gradient,
)
from .bptt import BPTT
from .callbacks import GradClipCB, NonFiniteCB, ProgressCB, Recorder, SmokeCB, TrainingDiverged
from .claims import ClaimError, claim
from .compare import compare
from .data.batch import Batch, split_windows
from .data.cache import cache_dir
from .data.echo import create_dls_echo, echo_rmse
from .data.influence import InfluenceModel, create_dls_influence
from .data.silverbox import (
    create_dls_silverbox,
    load_silverbox,
    silverbox_on_disk,
    simulate_silverbox,
)
from .data.streams import create_stream_dls
from .data.text import Vocab, create_dls_text
from .data.windows import DataLoaders, create_dls
from .evaluate import error_by_position, free_run_rmse, initial_state, sample_text, simulate
from .learner import Callback, Learner, TbpttResetCB, learner_for
from .lens import grad_by_lag, grad_by_lag_text, plot_grad_by_lag
from .losses import bits_per_char, cross_entropy, fun_rmse, mae
from .memory import ActMemCB, BudgetCB, estimate_memory, measure_memory, resident_memory
from .model import StatefulRNN, detach_state
from .rnn_learner import RNNLearner
from .rtrl import influence_bytes, rtrl_gradient
from .smoke import is_smoke
from .style import describe, lecture_style
from .table import Table
from .threads import apply_thread_policy, thread_report

apply_thread_policy()  # torch's threads from the CPU quota, the affinity mask and the model size

__all__ = [
    "influence_bytes",
    "relative_error",
    "fit_influence",
    "cosine",
    "rtrl_gradient",
    "create_dls_influence",
    "InfluenceModel",
    "window_gradient",
    "error_by_draws",
    "bias_variance",
    "Truncation",
    "ActMemCB",
    "BPTT",
    "Batch",
    "BudgetCB",
    "Callback",
    "ClaimError",
    "DataLoaders",
    "GradClipCB",
    "Learner",
    "NonFiniteCB",
    "ProgressCB",
    "RNNLearner",
    "Recorder",
    "SmokeCB",
    "StatefulRNN",
    "Table",
    "TbpttResetCB",
    "TrainingDiverged",
    "Vocab",
    "apply_thread_policy",
    "bits_per_char",
    "claim",
    "compare",
    "create_dls",
    "create_dls_echo",
    "cache_dir",
    "create_dls_silverbox",
    "create_dls_text",
    "create_stream_dls",
    "cross_entropy",
    "describe",
    "detach_state",
    "echo_rmse",
    "error_by_position",
    "estimate_memory",
    "free_run_rmse",
    "fun_rmse",
    "grad_by_lag",
    "grad_by_lag_text",
    "initial_state",
    "is_smoke",
    "learner_for",
    "lecture_style",
    "load_silverbox",
    "mae",
    "measure_memory",
    "plot_grad_by_lag",
    "resident_memory",
    "sample_text",
    "simulate",
    "silverbox_on_disk",
    "simulate_silverbox",
    "split_windows",
    "thread_report",
]
