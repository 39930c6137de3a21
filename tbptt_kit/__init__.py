"""tbptt_kit: truncated backpropagation through time, taught with stateful RNNs."""

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
from .model import StatefulRNN

__all__ = [
    "Batch",
    "Callback",
    "DataLoaders",
    "Learner",
    "RNNLearner",
    "Recorder",
    "StatefulRNN",
    "TbpttLearner",
    "TbpttResetCB",
    "TrainingDiverged",
    "create_dls",
    "create_dls_silverbox",
    "fun_rmse",
    "load_silverbox",
    "mae",
    "simulate_silverbox",
]
