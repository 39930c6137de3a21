"""tbptt_kit: truncated backpropagation through time, taught with stateful RNNs.

Read the core first (``tbptt_kit/core/``, about 600 lines): a batch, windows and streams,
the stateful RNN, and the loop where the state is reset, carried and detached. The rest
is grouped by who it is for (``ARCHITECTURE.md``):

    core/      what a student reads           modes/    how gradients flow back (k2, ARTBP, ...)
    data/      the datasets and their files   course/   what the notebooks call: learner,
    tooling/   command line, several                    figures, lens, memory, lab, checks
               processes, threads, grading

Every name a notebook uses is here, or in ``tbptt_kit.course``.
"""

import torch._dynamo  # noqa: F401  torch.optim imports it with the first optimizer (seconds):

# paid here, at import, instead of in the first epoch and on the lab's first click
from .core.batch import Batch, split_windows
from .core.learner import Callback, Learner
from .core.model import StatefulRNN, detach_state, reset_rows
from .course.bias import (
    bias_variance,
    cosine,
    error_by_draws,
    fit_balancing,
    relative_error,
    window_gradient,
)
from .course.callbacks import (
    GradClipCB,
    NonFiniteCB,
    NoResetCB,
    ProgressCB,
    Recorder,
    SmokeCB,
    TrainingDiverged,
)
from .course.claims import ClaimError, claim
from .course.compare import compare
from .course.evaluate import error_by_position, free_run_rmse, initial_state, sample_text, simulate
from .course.gpu_speed import gpu_speed, plot_gpu_speed, show_gpu_speed
from .course.lens import grad_by_lag, grad_by_lag_text, plot_grad_by_lag
from .course.losses import bits_per_char, cross_entropy, fun_rmse, mae
from .course.memory import ActMemCB, BudgetCB, estimate_memory, measure_memory, resident_memory
from .course.rnn_learner import RNNLearner
from .course.run import learner_for, run_windows
from .course.style import describe, lecture_style
from .course.table import Table
from .data.balancing import BalancingChain, create_dls_balancing
from .data.cache import cache_dir
from .data.echo import create_dls_echo, echo_rmse
from .data.loaders import DataLoaders, create_dls, create_stream_dls, record_places
from .data.silverbox import (
    create_dls_silverbox,
    load_silverbox,
    silverbox_on_disk,
    simulate_silverbox,
)
from .data.text import Vocab, create_dls_text
from .deprecated import InfluenceModel, TbpttResetCB, create_dls_influence, fit_influence
from .modes import BPTT, Truncation, influence_bytes, rtrl_gradient
from .tooling.cuda_graph import CudaGraphCB
from .tooling.smoke import is_smoke
from .tooling.threads import apply_thread_policy, thread_report

apply_thread_policy()  # torch's threads from the CPU quota, the affinity mask and the model size

__all__ = [
    # the core
    "Batch",
    "Callback",
    "DataLoaders",
    "Learner",
    "StatefulRNN",
    "detach_state",
    "reset_rows",
    "split_windows",
    # the modes
    "BPTT",
    "Truncation",
    "influence_bytes",
    "rtrl_gradient",
    # the data
    "BalancingChain",
    "Vocab",
    "cache_dir",
    "create_dls",
    "create_dls_balancing",
    "create_dls_echo",
    "create_dls_silverbox",
    "create_dls_text",
    "create_stream_dls",
    "echo_rmse",
    "record_places",
    "load_silverbox",
    "silverbox_on_disk",
    "simulate_silverbox",
    # the course
    "ActMemCB",
    "BudgetCB",
    "ClaimError",
    "GradClipCB",
    "NoResetCB",
    "NonFiniteCB",
    "ProgressCB",
    "RNNLearner",
    "Recorder",
    "SmokeCB",
    "Table",
    "TrainingDiverged",
    "bias_variance",
    "bits_per_char",
    "claim",
    "compare",
    "cosine",
    "cross_entropy",
    "describe",
    "error_by_draws",
    "error_by_position",
    "estimate_memory",
    "fit_balancing",
    "free_run_rmse",
    "fun_rmse",
    "gpu_speed",
    "grad_by_lag",
    "grad_by_lag_text",
    "initial_state",
    "learner_for",
    "lecture_style",
    "mae",
    "measure_memory",
    "plot_gpu_speed",
    "plot_grad_by_lag",
    "relative_error",
    "resident_memory",
    "run_windows",
    "sample_text",
    "show_gpu_speed",
    "simulate",
    "window_gradient",
    # the tooling
    "CudaGraphCB",
    "apply_thread_policy",
    "is_smoke",
    "thread_report",
    # old names (DeprecationWarning)
    "InfluenceModel",
    "TbpttResetCB",
    "create_dls_influence",
    "fit_influence",
]
