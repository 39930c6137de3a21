"""The stream layout: ``bs`` rows that each read whole records, one sub-window at a time.

The window layout (``windows.py``) cuts records into windows and starts every window from
zeros. Here no record is cut: each row of the batch reads whole records one after another,
and batch i is the i-th sub-window of ``sub_seq_len`` steps of every row, so the state a
row ends batch i with is the state it starts batch i + 1 with. A row's state is reset
(``Batch.reset``) only where a new record starts in that row.

Each record is padded to whole sub-windows (``-``: zeros, left out of the loss by
``Batch.mask``). The records are packed to balance the rows: longest first, each to the
row with the fewest sub-windows so far. Records A (8 steps), B (7), C (9), D (4), E (2);
bs 3, sub_seq_len 3; ``R`` marks a reset of that row at that batch:

    batch:       0          1          2          3          4
    row 0:   R A A A    . A A A    . A A -    R D D D    . D - -
    row 1:   R B B B    . B B B    . B - -    R E E -    . - - -
    row 2:   R C C C    . C C C    . C C C    . - - -    . - - -

Shuffling (training) reorders the records each epoch, never the steps. Another ``pack``
deals the records out otherwise: the language-model cut (``data.loaders.stream_pieces``,
text) lays them end to end and cuts ``bs`` equal streams, a piece that continues a record
starting from zeros. ``create_stream_dls`` (``tbptt_kit.data.loaders``) builds these,
checked, from arrays or lazily read HDF5 files.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .batch import Batch

__all__ = ["StreamDataset", "StreamLoader", "pack_records"]


@dataclass
class StreamDataset:
    """Records: lists ``u``, ``y`` of arrays (T, n), or anything sliced like one (lazy HDF5);
    ``stream_len``: the steps of one stream (batches per epoch x sub_seq_len)."""

    u: list
    y: list
    stream_len: int = 0


def pack_records(lengths: Sequence[int], order: Sequence[int], bs: int, sub_seq_len: int):
    """Whole records to ``bs`` rows: longest first (ties in ``order``), each to the row with
    the fewest sub-windows so far; each row then reads its records in ``order``.
    Returns per row its pieces (record, 0, its sub-windows), and the batches per epoch."""
    n_sub = {r: math.ceil(lengths[r] / sub_seq_len) for r in order}
    place = {r: i for i, r in enumerate(order)}
    rows, fill = [[] for _ in range(bs)], [0] * bs
    for r in sorted(order, key=lambda r: -n_sub[r]):  # a stable sort: ties stay in order
        j = min(range(bs), key=lambda j: (fill[j], j))
        rows[j].append(r)
        fill[j] += n_sub[r]
    return [[(r, 0, n_sub[r]) for r in sorted(row, key=place.get)] for row in rows], max(fill)


class StreamLoader:
    """Each batch is the next ``sub_seq_len`` steps of ``bs`` rows: Batch(u, y, reset,
    None, mask), u (bs, sub_seq_len, n_u) (text: ids (bs, sub_seq_len)), y likewise; reset
    (bs,) True where a row starts a record (every row on an epoch's first batch); mask
    (bs, sub_seq_len) False on padding, or None when every step counts. ``read_ahead``:
    sub-windows read from a record at a time; ``max_batches``: a shorter epoch; ``pack``:
    how the records are dealt to the rows (``pack_records``: whole, balanced)."""

    layout = "streams"

    def __init__(
        self,
        ds: StreamDataset,
        bs: int,
        sub_seq_len: int,
        shuffle=False,
        seed=0,
        device="cpu",
        read_ahead=32,
        max_batches=None,
        pack=pack_records,
    ):
        self.ds, self.bs, self.sub_seq_len, self.shuffle = ds, bs, sub_seq_len, shuffle
        self.seq_len, self.read_ahead, self.pack = sub_seq_len, read_ahead, pack
        self.lengths = [len(u) for u in ds.u]
        self.generator = torch.Generator().manual_seed(seed)
        self.device = torch.device(device)
        self.n_batches = self.pack(self.lengths, range(len(self.lengths)), bs, sub_seq_len)[1]
        ds.stream_len, self.max_batches = self.n_batches * sub_seq_len, max_batches

    def __len__(self) -> int:
        """Batches (optimizer steps) per epoch: the same every epoch, whatever the order."""
        return min(self.n_batches, self.max_batches or self.n_batches)

    def order(self) -> list[int]:
        """The order of the records this epoch: shuffled (training) or as given."""
        if self.shuffle:
            return torch.randperm(len(self.lengths), generator=self.generator).tolist()
        return list(range(len(self.lengths)))

    def _row(self, pieces) -> Iterator[tuple]:
        """One stream's sub-windows in time order: (u, y, real steps, starts a record)."""
        k = self.sub_seq_len
        for r, c0, c1 in pieces:
            u, y, length = self.ds.u[r], self.ds.y[r], self.lengths[r]
            for b0 in range(c0, c1, self.read_ahead):  # one read of up to read_ahead sub-windows
                b1 = min(b0 + self.read_ahead, c1)
                t = slice(b0 * k, min(b1 * k, length))
                ub, yb = u[t], y[t]
                for c in range(b0, b1):
                    s = (c - b0) * k
                    yield ub[s : s + k], yb[s : s + k], min(k, len(ub) - s), c == 0
        while True:  # the stream has ended: sub-windows of padding
            yield None, None, 0, False

    def __iter__(self) -> Iterator[Batch]:
        pieces, _ = self.pack(self.lengths, self.order(), self.bs, self.sub_seq_len)
        rows = [self._row(p) for p in pieces]
        u0, y0, k, bs = self.ds.u[0], self.ds.y[0], self.sub_seq_len, self.bs
        for batch_idx in range(len(self)):
            u = np.zeros((bs, k, *u0.shape[1:]), dtype=u0.dtype)  # padding stays zero
            y = np.zeros((bs, k, *y0.shape[1:]), dtype=y0.dtype)
            n_real, reset = np.zeros(bs, np.int64), np.zeros(bs, bool)
            for j, row in enumerate(rows):
                uj, yj, n_real[j], reset[j] = next(row)
                if n_real[j]:
                    u[j, : n_real[j]], y[j, : n_real[j]] = uj, yj
            reset |= batch_idx == 0  # an epoch starts every row
            mask = torch.arange(k) < torch.from_numpy(n_real)[:, None]
            yield Batch(
                torch.from_numpy(u).to(self.device),
                torch.from_numpy(y).to(self.device),
                reset=torch.from_numpy(reset).to(self.device),
                mask=None if mask.all() else mask.to(self.device),
            )
