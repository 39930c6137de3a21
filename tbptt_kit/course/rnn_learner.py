"""``RNNLearner``: a fresh ``StatefulRNN``, how it backpropagates, and the usual callbacks.

The reference example of the course:

    dls = create_dls_silverbox(bs=16, win_sz=500, stp_sz=10, sub_seq_len=100)
    lrn = RNNLearner(dls, rnn_type="lstm", hidden_size=40, sub_seq_len=100, metrics=[fun_rmse])
    lrn.fit_flat_cos(n_epoch=10, lr=3e-3)
    lrn.show_results(max_n=2); lrn.validate()   # -> [valid_loss, fun_rmse]
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..core.learner import Learner
from ..core.model import StatefulRNN
from ..data.loaders import DataLoaders
from ..data.silverbox import N_INIT
from ..modes.bptt import BPTT
from ..tooling.cuda_graph import CudaGraphCB
from ..validation import check_int, check_number
from .callbacks import GradClipCB, NonFiniteCB, ProgressCB, Recorder, SmokeCB
from .evaluate import free_run_rmse, simulate
from .losses import cross_entropy, fun_rmse, mae
from .memory import ActMemCB, BudgetCB
from .memory.budget import check_model_fits
from .run import run_windows
from .saving import load_model, read_saved, save_model
from .style import curve_style, describe

__all__ = ["RNNLearner", "adam"]


def adam(params, lr: float = 1e-3) -> torch.optim.Optimizer:
    """Adam; PyTorch's fused kernel (one kernel for all parameters) where it has one."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.Adam(params, lr=lr)


class RNNLearner(Learner):
    """A learner around a fresh ``StatefulRNN``; ``mode`` picks how gradients flow back
    (``tbptt_kit.modes``; or give a ``BPTT`` as ``bptt``):

    - "full" (the default without ``sub_seq_len``): backpropagate through each window.
    - "truncated" (the default with ``sub_seq_len`` = k1): the loaders hand out sub-windows
      of k1 steps; the state is carried between them, detached. ``backprop_len=k2``:
      TBPTT(k1, k2), the gradient reaches k2 steps back.
    - "checkpointed": full BPTT's gradient, with activation checkpointing over chunks of
      ``sub_seq_len``; the loaders hand out whole windows.
    - "randomized": ARTBP, sub-windows of ``sub_seq_len`` with cuts drawn at random as
      ``truncation`` says (``Truncation(mean_len=16)``); on average full BPTT's gradient.

    Callbacks always on: ``Recorder`` (as ``.recorder``), ``NonFiniteCB``, ``SmokeCB``. Optional: ``progress`` (the live table), ``act_mem`` (the act_mem column),
    ``max_memory`` (the budget guard: bytes, "2 GiB", None for the default budget, math.inf
    for none), ``clip_grad`` (clip the gradients' norm to this value; None: off),
    ``cuda_graph`` (on a CUDA GPU, full and truncated BPTT's steps replayed as CUDA graphs:
    ``CudaGraphCB``; elsewhere a one-line notice and nothing changed).

    Text loaders (``create_dls_text``): the model reads token ids through an embedding and
    gives logits; ``vocab_size`` defaults to the loaders' vocabulary, ``loss_func`` (None) to
    ``cross_entropy``. Signals: ``loss_func`` None means ``mae``.
    """

    def __init__(
        self,
        dls: DataLoaders,
        rnn_type: str = "lstm",
        hidden_size: int = 40,
        num_layers: int = 1,
        sub_seq_len: int | None = None,
        metrics=(),
        loss_func=None,
        n_skip: int = 0,
        seed: int | None = None,
        cbs=(),
        progress: bool = True,
        mode: str | None = None,
        backprop_len: int | None = None,
        truncation=None,
        act_mem: bool = True,
        max_memory=None,
        clip_grad: float | None = None,
        vocab_size: int | None = None,
        bptt: BPTT | str | None = None,
        bptt_len: int | None = None,
        cuda_graph: bool = False,
    ):
        bptt = BPTT.of(sub_seq_len, mode, backprop_len, truncation, bptt, bptt_len)  # checked
        vocab_size, loss_func = _text_or_signals(dls, vocab_size, loss_func)
        if seed is not None:
            torch.manual_seed(check_int("seed", seed, minimum=0))
        check_model_fits(rnn_type, hidden_size, num_layers, dls.n_u, dls.n_y, dls.train.device)
        model = StatefulRNN(
            dls.n_u, dls.n_y, rnn_type, hidden_size, num_layers, dls.norm, vocab_size=vocab_size
        )
        self.recorder = Recorder()
        extras = [self.recorder, NonFiniteCB(), SmokeCB(), BudgetCB(max_memory)]
        extras += [ProgressCB()] * progress + [ActMemCB()] * act_mem
        extras += [GradClipCB(clip_grad)] if clip_grad is not None else []
        extras += CudaGraphCB.if_asked(cuda_graph)
        super().__init__(
            dls,
            model.to(dls.train.device),
            bptt,
            loss_func,
            metrics,
            n_skip,
            opt_func=adam,
            cbs=[*extras, *cbs],
            seed=seed,
        )

    @classmethod
    def from_file(cls, path, dls: DataLoaders, **kwargs) -> RNNLearner:
        """A learner built like the one that saved ``path`` (RNN type, sizes, layers, BPTT
        mode), on ``dls``, with the saved weights loaded. kwargs: other RNNLearner arguments."""
        settings = read_saved(path)["settings"]
        if settings is None:
            raise ValueError(
                f"{path} holds weights without the kit's settings (a plain state dict): build "
                f"the RNNLearner yourself, then call .load(path)."
            )
        names = ("rnn_type", "hidden_size", "num_layers", "mode", "sub_seq_len", "backprop_len")
        return cls(dls, **({k: settings[k] for k in names if k in settings} | kwargs)).load(path)

    # -- save and load: the weights and the settings they belong to (``saving.py``) --
    def save(self, path) -> Path:
        """Write the model's weights and settings to ``path`` atomically; returns it."""
        return save_model(self, path)

    def load(self, path) -> RNNLearner:
        """Read weights written by ``save`` into this learner's model, after checking that
        they fit it (never unpickles arbitrary objects)."""
        load_model(self, path)
        return self

    def fit_one_cycle(self, n_epoch: int, lr: float = 3e-3, pct_start: float = 0.25) -> None:
        """Warm up to ``lr``, then anneal: torch's OneCycleLR, stepped once per (sub-)batch."""
        pct_start = check_number("pct_start", pct_start, 0, 1, low_open=True, high_open=True)
        lr = check_number("lr", lr, 0, low_open=True)
        self.fit(
            n_epoch,
            lr,
            lambda opt, total: torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=lr, total_steps=total, pct_start=pct_start
            ),
        )

    # -- scoring the benchmark's way (``tbptt_kit.evaluate``) --
    def simulate(self, record, n_init: int = N_INIT) -> np.ndarray:
        """Free-run a whole record (u, or (u, y) to set the initial state) -> y (T, n_y)."""
        return simulate(self.model, record, n_init)

    def score(self, part: str = "test", n_init: int = N_INIT) -> dict[str, float]:
        """Free-run RMSE on each whole record of ``part`` ("valid" or "test"), scored after
        the first ``n_init`` samples set the state, in the data's display units (mV for the
        Silverbox): the benchmark's convention, and the score the course compares runs by."""
        if getattr(self.dls, "vocab", None) is not None:
            raise ValueError("score free-runs signals; for text, validate() gives the loss.")
        return free_run_rmse(self.model, self.dls.records(part), n_init, self.dls.units)

    def test_rmse(self, n_init: int = N_INIT) -> dict[str, float]:
        """``score("test")``: the benchmark's own score on each test record."""
        if not self.dls.test:
            raise ValueError("test_rmse needs test records: create the loaders with test=...")
        return self.score("test", n_init)

    # -- pictures --
    @torch.no_grad()
    def show_results(self, max_n: int = 2) -> None:
        """Target against prediction for the first ``max_n`` validation windows."""
        max_n = check_int("max_n", max_n)  # windows to show
        if self.dls.layout != "windows":
            raise ValueError("show_results draws windows; stream loaders have none: use simulate.")
        ds = self.dls.valid.ds
        u, y = ds[list(range(min(max_n, len(ds))))]
        pred = run_windows(self, u.to(self.model.u_mean.device), y, backward=False)
        unit = f" ({self.dls.units[0] or 'signal units'})"
        scale = self.dls.units[1]
        fig, axes = plt.subplots(len(u), 1, figsize=(8, 2.4 * len(u)), squeeze=False)
        t = np.arange(u.shape[1])
        for i, ax in enumerate(axes[:, 0]):
            ax.plot(t, y[i, :, 0].numpy() * scale, label="target", **curve_style(0))
            ax.plot(
                t, pred[i, :, 0].cpu().numpy() * scale, label="prediction", **curve_style(1, len(t))
            )
            for b in range(
                self.bptt.loader_sub_seq_len or u.shape[1],
                u.shape[1],
                self.bptt.loader_sub_seq_len or u.shape[1],
            ):
                ax.axvline(b, color="grey", lw=0.5, alpha=0.5)
            ax.set(ylabel=f"output y{unit}", title=f"validation window {i}")
        axes[-1, 0].set_xlabel("step within the window")
        axes[0, 0].legend(loc="upper right")
        fig.tight_layout()
        describe(
            fig,
            f"Target (solid) and prediction (dashed, circles) over the first {len(u)} validation "
            f"windows of {u.shape[1]} steps, one panel each; grey lines mark sub-window boundaries.",
        )
        plt.show()

    def plot_losses(self) -> None:
        """Training loss per step and validation loss per epoch."""
        self.recorder.plot_losses()
        plt.show()


def _text_or_signals(dls, vocab_size, loss_func):
    """(vocab_size, loss_func) for these loaders: text gets its vocabulary and cross-entropy."""
    vocab = getattr(dls, "vocab", None)
    if vocab is None:
        if vocab_size is not None:
            raise ValueError(
                f"vocab_size={vocab_size} is for token models, but these loaders hand out "
                f"signals: leave vocab_size out, or create text loaders with create_dls_text."
            )
        return None, loss_func or mae
    if vocab_size is not None and vocab_size != len(vocab):
        raise ValueError(
            f"vocab_size={vocab_size} differs from the loaders' vocabulary of {len(vocab)} "
            f"characters: leave vocab_size out (it is taken from the loaders)."
        )
    if loss_func in (mae, fun_rmse):
        raise ValueError(
            f"loss_func={loss_func.__name__} compares signals; a text model gives logits over "
            f"{len(vocab)} characters: use loss_func=cross_entropy (the default for text)."
        )
    return len(vocab), loss_func or cross_entropy
