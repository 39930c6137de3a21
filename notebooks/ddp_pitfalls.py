"""Two pitfalls of stateful training under DDP, run on purpose (notebook 09 launches this).

    torchrun --standalone --nproc_per_node=2 notebooks/ddp_pitfalls.py

1. A hidden state kept as a registered buffer, under DDP's default (broadcast_buffers=True):
   every forward pass copies rank 0's buffers into every rank, so rank 1's state is replaced.
2. Ranks with unequal numbers of batches: the rank with more waits at the next all-reduce
   for a partner that never comes, until the process group's timeout.
Each rank prints one line per finding, prefixed by its rank.
"""

import os
import time
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from tbptt_kit.tooling.distributed import NO_BUFFER_BROADCAST


class BufferStateRNN(nn.Module):
    """A tiny RNN that keeps its hidden state as a registered buffer: the mistake."""

    def __init__(self):
        super().__init__()
        self.cell = nn.RNNCell(1, 4)
        self.register_buffer("state", torch.zeros(1, 4))

    def forward(self, u):
        h = self.cell(u, self.state)
        self.state = h.detach()  # the state this rank carries to its next batch
        return h


def buffer_demo(rank: int, **ddp_kw) -> bool:
    """Does this rank end with the state its own stream gives (as without DDP)?"""
    u = torch.full((1, 1), float(rank + 1))  # each rank its own stream: rank r sees r + 1
    torch.manual_seed(0)
    alone = BufferStateRNN()
    torch.manual_seed(0)
    model = DDP(BufferStateRNN(), **ddp_kw)
    with torch.no_grad():
        for _ in range(3):
            alone(u)
    for _ in range(3):
        model(u).sum().backward()
    return bool(torch.allclose(model.module.state, alone.state))


def main():
    dist.init_process_group("gloo", timeout=timedelta(seconds=5))
    rank = dist.get_rank()
    default = buffer_demo(rank)
    fixed = buffer_demo(rank, **NO_BUFFER_BROADCAST)
    if rank == 1:
        print(f"rank 1, state kept as a buffer, DDP's default: its own state: {default}")
        print(f"rank 1, buffers not broadcast ({NO_BUFFER_BROADCAST}): its own state: {fixed}")
    model = DDP(nn.Linear(1, 1))
    n_batches = 3 if rank == 0 else 2  # unequal data
    start = time.perf_counter()
    try:
        for step in range(n_batches):  # noqa: B007  (named in the message below)
            model(torch.ones(1, 1)).sum().backward()  # the all-reduce of the gradients
        if rank == 1:
            time.sleep(8)  # rank 1 is done, and alive: rank 0 waits for it
    except RuntimeError as e:
        took = time.perf_counter() - start
        print(
            f"rank {rank}: stuck in step {step + 1}'s all-reduce; failed after {took:.0f} s "
            f"(the timeout): {type(e).__name__}"
        )
    os._exit(0)  # the process group is broken: leave without tearing it down


if __name__ == "__main__":
    main()
