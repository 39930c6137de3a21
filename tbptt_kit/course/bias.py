"""Bias and variance of a gradient estimate, measured against full BPTT's exact gradient.

One batch of whole windows, one model, fixed weights. Full BPTT gives the exact gradient
g of the windows' loss. Truncated BPTT gives, summed over its sub-windows, a gradient g_k
that is the same at every run: its error ||g_k - g|| / ||g|| is its *bias*, and averaging
does not remove it. ARTBP gives a different g_i at every draw of its cuts; their mean
over M draws tends to g (unbiased), its error falling like 1/sqrt(M): the price is the
*variance* E||g_i - g||² / ||g||².

The loss is the sum of squared errors over all steps (divided by a constant), so that the
sub-windows' gradients add up to a gradient of the same loss as full BPTT's.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from ..core.learner import Callback, Learner
from ..data.balancing import BalancingChain, create_dls_balancing
from ..modes.bptt import BPTT
from ..validation import check_int
from .run import learner_for, run_windows

__all__ = [
    "bias_variance",
    "cosine",
    "error_by_draws",
    "fit_balancing",
    "relative_error",
    "window_gradient",
]


def window_gradient(model, u: torch.Tensor, y: torch.Tensor, bptt: BPTT) -> torch.Tensor:
    """The gradient of the loss sum((pred - y)²) / numel of the windows u (bs, T, n_u),
    y (bs, T, n_y) as ``bptt`` computes it, summed over its sub-windows (the learner's own
    step, ``run_windows``), flattened to (n_params,). Model left as found. A randomized
    mode draws its cuts from its own seed: ``bptt.draw(i)`` gives independent draws."""
    scale = y.numel()
    learn = learner_for(model, u, y, bptt, lambda p, t: (p - t).pow(2).sum() / scale)
    grads = []

    @contextlib.contextmanager
    def keep_grads():
        yield  # after this sub-window's backward, the gradient summed so far
        grads[:] = [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in params]

    params = list(model.parameters())
    run_windows(learn, u, y, backward=True, each=keep_grads)
    return torch.cat([g.flatten() for g in grads])


def relative_error(estimate: torch.Tensor, exact: torch.Tensor) -> float:
    """||estimate - exact|| / ||exact||: 0 is exact, 1 is as far off as predicting zero."""
    return float((estimate - exact).norm() / exact.norm())


def cosine(estimate: torch.Tensor, exact: torch.Tensor) -> float:
    """The cosine between two gradients: 1 points the same way, 0 at right angles."""
    return float(torch.nn.functional.cosine_similarity(estimate, exact, dim=0))


def bias_variance(model, u, y, bptts: dict, n_draws: tuple[int, ...] = (1, 4, 16, 64)) -> list:
    """For each label -> ``BPTT`` in ``bptts``: the relative error and cosine, against full
    BPTT's gradient, of the mean of M gradients for each M in ``n_draws`` (one draw per
    gradient: the same for a deterministic mode), and the variance of one draw relative to
    ||g||². Returns rows of dicts: label, M, rel_error, cosine, rel_variance.
    Cost: max(n_draws) forward and backward passes per randomized mode, one otherwise."""
    if not isinstance(n_draws, (tuple, list)) or not n_draws:
        raise TypeError(
            f"n_draws must be a non-empty tuple of ints >= 1 (the M to average), got {n_draws!r}."
        )
    n_draws = tuple(check_int("n_draws", m) for m in n_draws)
    exact = window_gradient(model, u, y, BPTT())
    rows = []
    for label, bptt in bptts.items():
        n = 1 if bptt.exact else max(n_draws)  # random: draw again
        draws = torch.stack([window_gradient(model, u, y, bptt.draw(i)) for i in range(n)])
        var = float((draws - exact).pow(2).sum(1).mean() / exact.pow(2).sum())
        for m in n_draws:
            mean = draws[: min(m, n)].mean(0)
            err, cos = relative_error(mean, exact), cosine(mean, exact)
            rows.append(dict(label=label, M=m, rel_error=err, cosine=cos, rel_variance=var))
    return rows


def error_by_draws(model, u, y, bptt: BPTT, n_draws: int, n_repeats: int = 1) -> np.ndarray:
    """The relative error of the mean of the first M draws, for M = 1 ... n_draws, averaged
    over ``n_repeats`` independent sets of draws: shape (n_draws,)."""
    n_draws, n_repeats = check_int("n_draws", n_draws), check_int("n_repeats", n_repeats)
    exact = window_gradient(model, u, y, BPTT())
    errors = np.zeros(n_draws)
    for r in range(n_repeats):
        draws = [window_gradient(model, u, y, bptt.draw(r * n_draws + i)) for i in range(n_draws)]
        draws = torch.stack(draws)
        means = draws.cumsum(0) / torch.arange(1, n_draws + 1).reshape(-1, 1)
        errors += ((means - exact).norm(dim=1) / exact.norm()).numpy()
    return errors / n_repeats


def fit_balancing(
    bptt: BPTT, n_epoch: int = 3, lr: float = 1e-4, win_sz: int = 200, n_windows: int = 8, **task
):
    """Train ``BalancingChain(**task)`` from θ = 0 with plain SGD, as ``bptt`` says, on
    ``create_dls_balancing(win_sz, n_windows=n_windows)``; the loss is the mean squared error of the output.
    Returns a dict: label, theta (final θ), best_theta (θ*), loss (the last epoch's
    validation loss; inf or nan once diverged), steps_per_update (steps the training
    forward passes computed per optimizer step: the cost of the mode). Seconds on one core."""
    dls = create_dls_balancing(win_sz, bptt.loader_sub_seq_len, n_windows)
    model, cost = BalancingChain(**task), _TrainingSteps()
    learn = Learner(dls, model, bptt, lambda p, t: (p - t).pow(2).mean(), opt_func=_sgd, cbs=[cost])
    learn.fit(n_epoch, lr=lr)
    return dict(
        label=bptt.label,
        theta=model.theta.item(),
        best_theta=model.best_theta,
        loss=learn.valid_scores[0],
        steps_per_update=cost.steps / cost.updates,
    )


class _TrainingSteps(Callback):
    """Counts the steps the model's training forward passes compute, and the updates."""

    steps = updates = 0

    def before_batch(self, learn):
        self.before = learn.model.steps_run

    def after_batch(self, learn):
        if learn.training:
            self.steps += learn.model.steps_run - self.before
            self.updates += 1


def _sgd(params, lr):
    return torch.optim.SGD(params, lr=lr)
