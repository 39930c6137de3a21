"""Losses and metrics: signals (in the signal's units) and text (in nats, or bits).

Each takes (pred, targ) as the learner hands them over (``Learner.kept``): signals as
(n_samples, n_y); text as logits (..., V) and ids (...).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..core.learner import mae  # the learner's default loss, defined with the loop

__all__ = ["bits_per_char", "cross_entropy", "fun_rmse", "mae"]


def fun_rmse(pred: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
    """Root mean squared error, in the signal's units."""
    return ((pred - targ) ** 2).mean().sqrt()


def cross_entropy(pred: torch.Tensor, targ: torch.Tensor, mask=None) -> torch.Tensor:
    """Mean cross-entropy in nats: pred (..., V) logits, targ (...) int64 ids, e.g.
    (bs, T, V) and (bs, T). mask (...) bool: only the True steps count (None: all)."""
    if pred.shape[:-1] != targ.shape:
        raise ValueError(
            f"pred {tuple(pred.shape)} must be targ's shape {tuple(targ.shape)} plus one "
            f"last axis of logits, e.g. (bs, T, V) and (bs, T)."
        )
    loss = F.cross_entropy(
        pred.reshape(-1, pred.shape[-1]).float(), targ.reshape(-1), reduction="none"
    )
    if mask is not None:
        if mask.shape != targ.shape:
            raise ValueError(
                f"mask {tuple(mask.shape)} must have targ's shape {tuple(targ.shape)}."
            )
        loss = loss[mask.reshape(-1)]
    return loss.mean()


def bits_per_char(pred: torch.Tensor, targ: torch.Tensor, mask=None) -> torch.Tensor:
    """Cross-entropy in bits per character (shapes as ``cross_entropy``); log2 V at chance."""
    return cross_entropy(pred, targ, mask) / math.log(2)
