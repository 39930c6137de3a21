"""Checkpointed BPTT: full BPTT's exact gradient for less memory, paid for in time.

The window runs in chunks of ``sub_seq_len`` steps. Each chunk keeps only its input and
the state it starts from; its activations are dropped after the forward pass and computed
again, chunk by chunk, during backward (``torch.utils.checkpoint``). Memory grows with one
chunk's activations (plus one state per chunk), not the window's.
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

from .truncated import Full, Truncated, check_k1

__all__ = ["Checkpointed"]


class Checkpointed(Full):
    """The whole window from zeros in chunks of k1, each recomputed during backward."""

    @staticmethod
    def check(bptt) -> None:
        Truncated.check(bptt)  # k1, and no truncation
        check_k1(bptt)  # and no k2: the gradient reaches the window's start

    @staticmethod
    def graph_len(bptt, win_sz: int) -> int:
        return min(bptt.sub_seq_len, win_sz)

    @staticmethod
    def label(bptt) -> str:
        return f"checkpointed({bptt.sub_seq_len})"

    @staticmethod
    def carry(bptt):
        return Chunks(bptt.sub_seq_len)


class Chunks:
    """Checkpointed BPTT's carry: nothing to keep, the window run chunk by chunk."""

    def __init__(self, chunk_len: int):
        self.chunk_len = chunk_len

    def __call__(self, model, u: torch.Tensor, state, reset: torch.Tensor):
        preds = []
        for t in range(0, u.shape[1], self.chunk_len):
            chunk = u[:, t : t + self.chunk_len]
            y, state = checkpoint(model, chunk, state, use_reentrant=False)
            preds.append(y)
        return torch.cat(preds, dim=1), state
