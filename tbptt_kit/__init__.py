"""tbptt_kit: truncated backpropagation through time, taught with stateful RNNs."""

from .compare import Table, compare
from .data.echo import create_dls_echo, echo_rmse
from .data.silverbox import create_dls_silverbox, load_silverbox, simulate_silverbox
from .data.windows import Batch, DataLoaders, create_dls
from .learner import (
    Callback,
    Learner,
    Recorder,
    RNNLearner,
    TbpttLearner,
    TbpttResetCB,
    TrainingDiverged,
    fun_rmse,
    mae,
)
from .lens import grad_by_lag, plot_grad_by_lag
from .model import StatefulRNN

__all__ = [
    "Batch",
    "Callback",
    "DataLoaders",
    "Learner",
    "RNNLearner",
    "Recorder",
    "StatefulRNN",
    "Table",
    "TbpttLearner",
    "TbpttResetCB",
    "TrainingDiverged",
    "compare",
    "create_dls",
    "create_dls_echo",
    "create_dls_silverbox",
    "echo_rmse",
    "fun_rmse",
    "grad_by_lag",
    "load_silverbox",
    "mae",
    "plot_grad_by_lag",
    "simulate_silverbox",
]
