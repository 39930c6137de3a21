"""Windows of long records, and the loader that hands them out as (sub-)batches.

A *record* is one long measurement: an input u (T, n_u) and an output y (T, n_y).
Training sees *windows* of ``win_sz`` samples, one starting every ``stp_sz`` samples:

    record:  |-------------------------------------------------------|
    windows: |--win_sz--|
               stp_sz |--win_sz--|
                        stp_sz |--win_sz--|  ...

``WindowLoader`` gathers ``bs`` windows and, with ``sub_seq_len``, hands each batch out as
its sub-windows in time order (``split_windows``); the first resets every row.
``create_dls`` (``tbptt_kit.data.loaders``) builds these from files or arrays, checked, and
hands them out as ``DataLoaders``: the train and valid loaders and the test records.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from .batch import Batch, split_windows

__all__ = ["Record", "WindowDataset", "WindowLoader"]

Record = tuple[np.ndarray, np.ndarray]  # u (T, n_u), y (T, n_y)


def as_columns(x) -> torch.Tensor:
    """A signal (T,) or (T, n) as a float32 tensor (T, n)."""
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    return x.reshape(len(x), -1)


class WindowDataset:
    """All windows of ``win_sz`` samples, every ``stp_sz`` samples, over some records.

    The windows are views into one float32 tensor per record, copied only when a batch is
    gathered: ``ds[idx]`` is u (len(idx), win_sz, n_u) and y (len(idx), win_sz, n_y).
    """

    def __init__(self, records: Sequence[Record], win_sz: int, stp_sz: int):
        self.win_sz, self.stp_sz = win_sz, stp_sz
        self.u = [as_columns(u) for u, _ in records]
        self.y = [as_columns(y) for _, y in records]
        # (record, first sample) of every window
        self.starts = [
            (r, s) for r, u in enumerate(self.u) for s in range(0, len(u) - win_sz + 1, stp_sz)
        ]

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        starts = [self.starts[i] for i in idx]
        u = torch.stack([self.u[r][s : s + self.win_sz] for r, s in starts])
        y = torch.stack([self.y[r][s : s + self.win_sz] for r, s in starts])
        return u, y


class WindowLoader:
    """Batches of ``bs`` windows, each as ``win_sz // sub_seq_len`` Batches in time order
    (None: one Batch of whole windows). Training loaders (``shuffle``) draw a new order of
    the windows every epoch from their own seeded generator; others keep them in order."""

    def __init__(
        self, ds: WindowDataset, bs: int, shuffle=False, sub_seq_len=None, seed=0, device="cpu"
    ):
        self.ds, self.bs, self.shuffle = ds, bs, shuffle
        self.sub_seq_len = sub_seq_len  # None: whole windows
        self.seq_len = sub_seq_len or ds.win_sz  # the length of each Batch
        self.generator = torch.Generator().manual_seed(seed)
        self.device = torch.device(device)

    @property
    def n_sub(self) -> int:
        """Sub-windows per window."""
        return self.ds.win_sz // self.seq_len

    @property
    def n_windows(self) -> int:
        """Windows per epoch."""
        return len(self.ds)

    def __len__(self) -> int:
        """Optimizer steps per epoch: batches of windows x sub-windows."""
        return math.ceil(len(self.ds) / self.bs) * self.n_sub

    def __iter__(self) -> Iterator[Batch]:
        n = len(self.ds)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for i in range(0, n, self.bs):
            u, y = self.ds[order[i : i + self.bs].tolist()]
            yield from split_windows(u.to(self.device), y.to(self.device), self.sub_seq_len)
