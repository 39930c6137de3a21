"""The gradient-by-lag lens: how far back in time does the training signal reach?

Take one batch of windows of T steps and the loss of the *last* step only. Its gradient
with respect to the input ℓ steps earlier, ∂L/∂u[T-1-ℓ], says how much training can
change what the network does with an input that old:

- full BPTT (and checkpointed BPTT, the same gradient): the network's real memory; the
  gradient fades with the lag as fast as the network forgets;
- truncated BPTT with sub-windows of k steps: the gradient is *exactly* zero at lags
  ℓ >= k (the state was detached at the sub-window boundary): a hard cliff;
- TBPTT(k1, k2): the cliff moves to ℓ = k2.

``grad_by_lag`` measures it (``grad_by_lag_text`` for a text model, with respect to the
embedded characters), ``plot_grad_by_lag`` overlays the modes on a log axis.
"""

from __future__ import annotations

import contextlib

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..core.learner import Learner
from ..modes.bptt import BPTT
from ..validation import check_int
from .losses import cross_entropy, mae
from .run import learner_for, run_windows
from .style import curve_style, describe

__all__ = ["grad_by_lag", "grad_by_lag_text", "plot_grad_by_lag"]


def grad_by_lag(
    learner_or_model, batch=None, bptt: BPTT | None = None, loss_func=None
) -> np.ndarray:
    """For each lag ℓ, the size of ∂L/∂u[T-1-ℓ]: the gradient of the last step's loss L
    with respect to the input ℓ steps earlier. Returns an array of shape (T,), lag 0 first.

    L is the loss (``loss_func``, else the learner's, else ``mae``) of the window's last
    step, averaged over the batch as in training. For each lag the number is the Euclidean
    norm of the gradient over the batch and the input channels; units: loss units per
    input unit. An entry is *exactly* 0.0 when no path of the graph joins that input to L.

    learner_or_model: a learner (its own step runs, ``run_windows``: what training
        does) or a bare model. batch: a Batch or a (u, y) pair of whole windows, u (bs, T,
        n_u), y (bs, T, n_y); with a learner, None takes its first batch of validation
        windows. bptt: another way to backpropagate (e.g. ``BPTT.of(sub_seq_len=20)``) for
        the same model; a bare model without one is trained by full BPTT.

    Cost: one forward and one backward pass over one batch of windows; no optimizer step.
    The learner and its model are left as found.
    """
    learn = learner_or_model if isinstance(learner_or_model, Learner) else None
    model = learn.model if learn else learner_or_model
    if batch is None:
        if learn is None:
            raise ValueError("grad_by_lag(model, ...) needs a batch: a Batch or a (u, y) pair.")
        ds = learn.dls.valid.ds
        batch = ds[list(range(min(learn.dls.valid.bs, len(ds))))]
    param = next(model.parameters())
    u, y = (_to(x.detach(), param) for x in (batch[0], batch[1]))
    loss_func = loss_func or (learn.loss_func if learn else mae)
    if learn is None or bptt is not None:
        learn = learner_for(model, u, y, bptt or BPTT(), loss_func)
    with _read_inputs(model, u) as inputs:  # the inputs as the network reads them
        pred = run_windows(learn, u, y, backward=False)  # the graph as training builds it
    loss = loss_func(pred[:, -1], y[:, -1])  # the last step: (bs, n_y), or (bs, V) and (bs,)
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    grads = [torch.zeros_like(x) if g is None else g for x, g in zip(inputs, grads)]
    norms = torch.cat(grads, dim=1).pow(2).sum(dim=(0, 2)).sqrt()  # (T,), time order
    return norms.flip(0).cpu().numpy()  # lag order: the last step first


def _to(x: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """x on the parameters' device; signals also in their dtype (token ids stay int64)."""
    return x.to(param.device, param.dtype) if x.is_floating_point() else x.to(param.device)


@contextlib.contextmanager
def _read_inputs(model, u: torch.Tensor):
    """Yields the list of what the network reads, in time order, each (bs, t, n) with a
    gradient: u itself for signals; for a token model (``model.embed``) the embedded ids
    of each call, collected by a forward hook (ids have no gradient)."""
    embed = getattr(model, "embed", None)
    if embed is None:
        yield [u.requires_grad_(True)]
        return
    inputs = []
    hook = embed.register_forward_hook(lambda _m, _args, out: inputs.append(out) or None)
    try:
        yield inputs
    finally:
        hook.remove()


def grad_by_lag_text(learn_or_model, batch=None, sub_seq_len=None, T: int = 200, bs: int = 16):
    """The gradient-by-lag lens for a text model: for each lag ℓ, the norm of ∂L/∂e[T-1-ℓ],
    L the cross-entropy of the last step, e the *embedded* inputs (ids have no gradient).
    Returns an array (T,), lag 0 first; exactly 0.0 where no path is.

    batch: (u, y), (bs, T) ids; None takes ``bs`` pieces of ``T`` characters of a learner's
    validation text. sub_seq_len: truncated BPTT, the T steps run as sub-windows of this
    many (T a multiple), through the learner's own step; None: full BPTT.
    The model's weights, state and gradients are left as they were.
    """
    model = getattr(learn_or_model, "model", learn_or_model)
    if batch is None:
        if not isinstance(learn_or_model, Learner):
            raise ValueError("grad_by_lag_text(model, ...) needs a batch: a (u, y) pair of ids.")
        T, bs = check_int("T", T), check_int("bs", bs)
        valid = learn_or_model.dls.records("valid").values()
        u, y = (np.concatenate([r[i].reshape(-1) for r in valid])[: bs * T] for i in (0, 1))
        if len(u) < bs * T:
            raise ValueError(f"bs={bs} x T={T} characters exceed the validation text's {len(u)}.")
        batch = (torch.from_numpy(u).view(bs, T), torch.from_numpy(y).view(bs, T))
    u, y = (torch.as_tensor(x) for x in batch)
    return grad_by_lag(model, (u, y), BPTT.of(sub_seq_len), cross_entropy)


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
        g, style, row = np.asarray(g, dtype=float), curve_style(i, len(g)), top / 2 ** (i + 1)
        lags, zero, color = np.arange(len(g)), np.asarray(g) == 0, style["color"]
        ax.plot(lags, np.where(zero, np.nan, g), lw=max(3.5 - i, 1.2), label=label, **style)
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
        fontsize="small",
        color="grey",
    )
    ax.set_ylim(bottom=top / 2 ** (len(results) + 1))
    ax.set(xlabel="lag ℓ (steps before the last step)", ylabel="‖∂L / ∂u[T-1-ℓ]‖", title=title)
    ax.legend()
    cliffs = [
        f"{label}: exactly 0 from lag {int(np.argmax(np.asarray(g) == 0))}"
        for label, g in results.items()
        if (np.asarray(g) == 0).any()
    ]
    describe(
        ax,
        f"{title}: gradient size against the lag, log scale, one line per run "
        f"({', '.join(results)}); " + ("; ".join(cliffs) or "no exact zeros") + ".",
    )
    return ax
