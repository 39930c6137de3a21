"""The gradient-by-lag lens: how far back in time does the training signal reach?

Take one batch of windows of T steps and the loss of the *last* step only. Its gradient
with respect to the input ℓ steps earlier, ∂L/∂u[T-1-ℓ], says how much training can
change what the network does with an input that old:

- full BPTT (and checkpointed BPTT, the same gradient): the network's real memory; the
  gradient fades with the lag as fast as the network forgets;
- truncated BPTT with sub-windows of k steps: the gradient is *exactly* zero at lags
  ℓ >= k (the state was detached at the sub-window boundary): a hard cliff;
- TBPTT(k1, k2): the cliff moves to ℓ = k2.

``grad_by_lag`` measures it, ``plot_grad_by_lag`` overlays the modes on a log axis.
"""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.utils.checkpoint import checkpoint

from .data.windows import Batch, check_sub_seq_len
from .learner import (
    BPTT_MODES,
    CheckpointedLearner,
    Learner,
    TbpttK1K2Learner,
    TbpttLearner,
    mae,
)
from .model import detach_state


def learner_bptt(learn: Learner) -> tuple[str, int | None, int | None]:
    """(mode, sub_seq_len, bptt_len) of a learner, as ``RNNLearner``'s arguments name them."""
    if isinstance(learn, TbpttK1K2Learner):
        return "truncated", learn.dls.sub_seq_len, learn.bptt_len
    if isinstance(learn, TbpttLearner):
        return "truncated", learn.dls.sub_seq_len, None
    if isinstance(learn, CheckpointedLearner):
        return "checkpointed", learn.chunk_len, None
    return "full", None, None


def bptt_label(mode: str, sub_seq_len: int | None = None, bptt_len: int | None = None) -> str:
    """A short name for a way of backpropagating: 'full', 'truncated(100)',
    'checkpointed(100)' or 'TBPTT(100, 200)'."""
    if mode == "truncated" and bptt_len is not None:
        return f"TBPTT({sub_seq_len}, {bptt_len})"
    return mode if sub_seq_len is None else f"{mode}({sub_seq_len})"


def _whole_windows(learn: Learner, batch):
    """u, y of shape (bs, T, n): the given batch, or the first batch of validation windows."""
    if batch is None:
        ds = learn.dls.valid.ds
        u, y = ds[list(range(min(learn.dls.valid.bs, len(ds))))]
    else:
        u, y = batch[0], batch[1]  # a Batch or a (u, y) pair
    param = next(learn.model.parameters())
    return u.detach().to(param.device, param.dtype), y.to(param.device, param.dtype)


def _last_step_loss(loss_func, n_calls: int):
    """A loss that is zero on the first n_calls - 1 (sub-)batches, and then the loss of the
    last step alone: the window's last step, when the calls walk through one window."""
    calls = itertools.count()

    def loss(pred, targ):
        if next(calls) < n_calls - 1:
            return pred.sum() * 0.0  # keeps the graph valid; contributes no gradient
        return loss_func(pred[:, -1:], targ[:, -1:])

    return loss


def _drive_learner(learn: Learner, u: torch.Tensor, y: torch.Tensor, loss_func) -> None:
    """Run the learner's own training step over the sub-windows of one batch of windows,
    with a last-step loss. u is a leaf that requires grad; the learner is left as found."""
    model = learn.model
    seq_len = learn.dls.sub_seq_len or u.shape[1]
    check_sub_seq_len(u.shape[1], seq_len)
    n_sub = u.shape[1] // seq_len
    saved = dict(
        loss_func=learn.loss_func,
        hidden_state=getattr(model, "hidden_state", None),
        history=getattr(learn, "history", None),
        grads=[p.grad for p in model.parameters()],
    )
    learn.loss_func = _last_step_loss(loss_func, n_sub)
    for p in model.parameters():
        p.grad = None  # backward accumulates in place: keep the saved gradients out of it
    try:
        for k in range(n_sub):
            t = slice(k * seq_len, (k + 1) * seq_len)
            if k == 0 and hasattr(model, "reset_state"):
                model.reset_state()  # what TbpttResetCB does at a new window
            learn.forward_backward(Batch(u[:, t], y[:, t], new_window=k == 0, sub_idx=k))
    finally:
        learn.loss_func = saved["loss_func"]
        if hasattr(model, "hidden_state"):
            model.hidden_state = saved["hidden_state"]
        if isinstance(learn, TbpttK1K2Learner):
            learn.history = saved["history"]
        for p, g in zip(model.parameters(), saved["grads"]):
            p.grad = g


def _last_step_pred(model, u: torch.Tensor, mode: str, sub_seq_len, bptt_len) -> torch.Tensor:
    """The model's prediction at the last step, graph attached as the mode would attach it."""
    T = u.shape[1]
    if mode == "checkpointed":
        state = None
        for t in range(0, T, sub_seq_len):
            y, state = checkpoint(
                model.forward_from, u[:, t : t + sub_seq_len], state, use_reentrant=False
            )
        return y[:, -1:]
    # full: the whole window; truncated: only the last `reach` steps, from a detached state
    reach = T if mode == "full" else (bptt_len or sub_seq_len)
    state = None
    if reach < T:
        with torch.no_grad():
            _, state = model.forward_from(u[:, : T - reach])
        state = detach_state(state)
    return model.forward_from(u[:, T - reach :], state)[0][:, -1:]


def grad_by_lag(
    learner_or_model,
    batch=None,
    mode: str | None = None,
    sub_seq_len: int | None = None,
    bptt_len: int | None = None,
    loss_func=None,
) -> np.ndarray:
    """For each lag ℓ, the size of ∂L/∂u[T-1-ℓ]: the gradient of the last step's loss L
    with respect to the input ℓ steps earlier. Returns an array of shape (T,), lag 0 first.

    L is the loss (``loss_func``, else the learner's, else ``mae``) of the window's last step,
    averaged over the batch as in training. For each lag the number is the Euclidean norm
    of the gradient over the batch and the input channels; units: loss units per input
    unit. An entry is *exactly* 0.0 when no path of the graph joins that input to L.

    - A learner, ``mode`` None: measures what training does. The learner's own
      ``forward_backward`` runs over the sub-windows of one batch of windows (its
      validation windows' first batch unless ``batch`` is given), with the input as a
      leaf tensor; the model's state, the gradients and the loss are restored afterwards.
    - A bare ``StatefulRNN``, or a learner with ``mode`` given (its model, another way to
      backpropagate): ``mode`` is "full", "truncated" (needs ``sub_seq_len``; with
      ``bptt_len``, TBPTT(sub_seq_len, bptt_len), the last step reaching ``bptt_len``
      back) or "checkpointed" (chunks of ``sub_seq_len``). ``batch``: a Batch or a
      (u, y) pair, u (bs, T, n_u) and y (bs, T, n_y), whole windows.

    Cost: one forward and one backward pass over one batch of windows (checkpointed: two
    forwards), like one training step of full BPTT; no optimizer step.
    """
    learn = learner_or_model if isinstance(learner_or_model, Learner) else None
    model = learn.model if learn else learner_or_model
    if learn is None and batch is None:
        raise ValueError("grad_by_lag(model, ...) needs a batch: a Batch or a (u, y) pair.")
    if learn is None or mode is not None:
        mode = mode or "full"
        if mode not in BPTT_MODES:
            raise ValueError(f"mode={mode!r} is unknown: choose one of {BPTT_MODES}.")
        if mode != "full" and sub_seq_len is None:
            raise ValueError(f"mode={mode!r} needs sub_seq_len.")
        if bptt_len is not None and (mode != "truncated" or bptt_len < sub_seq_len):
            raise ValueError(f"bptt_len={bptt_len} needs mode='truncated' and >= sub_seq_len.")
    if learn is not None:
        u, y = _whole_windows(learn, batch)
    else:
        param = next(model.parameters())
        u, y = (x.detach().to(param.device, param.dtype) for x in (batch[0], batch[1]))
    u.requires_grad_(True)
    loss_func = loss_func or (learn.loss_func if learn else mae)
    if learn is not None and mode is None:
        _drive_learner(learn, u, y, loss_func)
    else:
        if mode != "full":
            check_sub_seq_len(u.shape[1], sub_seq_len)
        pred = _last_step_pred(model, u, mode, sub_seq_len, bptt_len)
        (grad,) = torch.autograd.grad(loss_func(pred, y[:, -1:]), u)
        u.grad = grad
    if u.grad is None:  # no path at all from the inputs to the loss
        return np.zeros(u.shape[1], dtype=np.float32)
    norms = u.grad.detach().pow(2).sum(dim=(0, 2)).sqrt()  # (T,), time order
    return norms.flip(0).cpu().numpy()  # lag order: the last step first


def plot_grad_by_lag(results: dict, ax=None, title: str = "Gradient of the last step's loss"):
    """Overlay ``grad_by_lag`` curves, label -> array of shape (T,), on a log y axis.

    A log axis cannot show zero, so exact zeros get their own band at the bottom, labelled
    "0 (exact)": one row of "x" per curve, in its colour, joined to the curve by a dashed
    drop, the cliff where truncation cuts the gradient. Curves drawn earlier are drawn
    wider, so identical curves (full and checkpointed) stay visible. Returns the axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    nonzero = np.concatenate([np.asarray(g)[np.asarray(g) > 0] for g in results.values()])
    top = nonzero.min() / 10 if nonzero.size else 1e-12  # the band of exact zeros lies below
    for i, (label, g) in enumerate(results.items()):
        g, color, row = np.asarray(g, dtype=float), f"C{i}", top / 2 ** (i + 1)
        lags, zero = np.arange(len(g)), np.asarray(g) == 0
        ax.plot(lags, np.where(zero, np.nan, g), color=color, lw=max(3.5 - i, 1.2), label=label)
        if zero.any():
            ax.plot(lags[zero], np.full(zero.sum(), row), "x", color=color, ms=4)
            first = int(np.argmax(zero))
            if first > 0 and not zero[first - 1]:  # the cliff
                ax.plot([first - 1, first], [g[first - 1], row], "--", color=color, lw=1)
    ax.set_yscale("log")
    ax.axhline(top, color="grey", lw=0.5)
    label_y = top / 2 ** ((len(results) + 1) / 2)
    ax.text(
        0.01,
        label_y,
        "0 (exact)",
        transform=ax.get_yaxis_transform(),
        va="center",
        fontsize=8,
        color="grey",
    )
    ax.set_ylim(bottom=top / 2 ** (len(results) + 1))
    ax.set(xlabel="lag ℓ (steps before the last step)", ylabel="‖∂L / ∂u[T-1-ℓ]‖", title=title)
    ax.legend()
    return ax
