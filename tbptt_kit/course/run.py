"""One batch of whole windows through a learner's own step, for the lens, the memory meter,
the gradient comparisons and the exercise checks: there is no other driver of the step.

``run_windows`` leaves the run it is called in exactly as it found it: the carried state,
the mode's own carry (and its random draws), the gradients, the train/eval mode.
"""

from __future__ import annotations

import contextlib

import torch

from ..core.batch import split_windows
from ..core.learner import Learner
from ..core.windows import WindowDataset, WindowLoader
from ..data.loaders import DataLoaders, Normalizer
from ..modes import BPTT
from .losses import mae

__all__ = ["learner_for", "run_windows"]


def run_windows(learn: Learner, u: torch.Tensor, y: torch.Tensor, backward=True, each=None):
    """Run windows u (bs, win_sz, n_u), y (bs, win_sz, n_y) through ``learn``'s own step:
    cut into its sub-windows in time order, from zeros, callbacks run, ``backward`` after
    each sub-window, no optimizer step. ``each()``: a context manager entered around each
    sub-window (e.g. a memory meter). Returns the predictions (bs, win_sz, n_y), attached
    to the graph as the mode attaches them. The mode's carry is a fresh one, seeded as
    the mode says; everything of the run is put back afterwards."""
    model, bptt = learn.model, BPTT.of_learner(learn)
    saved = {k: getattr(learn, k, None) for k in ("hidden_state", "carry", "training", "batch")}
    was_training, grads = model.training, [p.grad for p in model.parameters()]
    for p in model.parameters():
        p.grad = None
    learn.hidden_state, learn.carry, learn.training, preds = None, bptt.carry(), False, []
    model.train()
    try:
        for learn.batch in split_windows(u, y, bptt.loader_sub_seq_len):
            with each() if each else contextlib.nullcontext():
                learn("before_batch")
                learn.one_batch()
                if backward:
                    learn.loss.backward()
                learn("after_batch")
            preds.append(learn.pred)
    finally:
        model.train(was_training)
        for k, v in saved.items():
            setattr(learn, k, v)
        for p, g in zip(model.parameters(), grads):
            p.grad = g
    return torch.cat(preds, dim=1)


def learner_for(model, u: torch.Tensor, y: torch.Tensor, bptt: BPTT | None = None, loss_func=mae):
    """A learner around ``model`` whose loaders hold exactly the windows u (bs, win_sz, n_u),
    y (bs, win_sz, n_y), backpropagating as ``bptt`` says (None: full BPTT). For measuring
    a bare model with the learner's own step."""
    bptt = bptt or BPTT()
    records = [(u_i.detach().cpu().numpy(), y_i.detach().cpu().numpy()) for u_i, y_i in zip(u, y)]
    ds = WindowDataset(records, win_sz=u.shape[1], stp_sz=u.shape[1])
    loader = WindowLoader(ds, len(records), sub_seq_len=bptt.loader_sub_seq_len, device=u.device)
    norm = Normalizer(*(torch.zeros(1), torch.ones(1)) * 2)  # unused: the model has its own
    dls = DataLoaders(loader, loader, {}, norm)
    return Learner(dls, model, bptt, loss_func)
