# Exercise 2, a worked solution: clip the gradients by their norm, all parameters together.
import torch


def clip_by_norm(params, max_norm):
    grads = [p.grad for p in params if p.grad is not None]
    norm = torch.sqrt(sum((g**2).sum() for g in grads))  # one norm over all gradients
    if norm > max_norm:
        for g in grads:
            g.mul_(max_norm / norm)  # one factor for all: the direction stays
    return float(norm)


checks.check_clip_by_norm(clip_by_norm)
