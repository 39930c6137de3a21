"""The stream layout: ``bs`` rows that read whole records, one sub-window at a time.

The window layout (``windows.py``) cuts records into windows and starts every window from a
zero state. The stream layout never cuts a signal record: each row of the batch reads whole
records one after another, and batch i is the i-th sub-window of ``sub_seq_len`` steps of
every row, so the state a row ends batch i with is the state it needs to start batch i + 1.
A row's state is reset (``Batch.reset``) only where a new record starts in that row.

Each record is padded to a whole number of sub-windows (``-``: zeros, left out of the loss
by ``Batch.mask``). The records are packed to balance the rows: longest first, each to the
row with the fewest sub-windows so far. Records A (8 steps), B (7), C (9), D (4), E (2);
bs 3, sub_seq_len 3; ``R`` marks a reset of that row at that batch:

    batch:       0          1          2          3          4
    row 0:   R A A A    . A A A    . A A -    R D D D    . D - -
    row 1:   R B B B    . B B B    . B - -    R E E -    . - - -
    row 2:   R C C C    . C C C    . C C C    . - - -    . - - -

Shuffling (training) reorders the records each epoch, never steps; the rows' lengths (and
the batches per epoch) do not depend on the order. ``cut_records=True`` is the language-model
convention (text): the records end to end are cut into ``bs`` equal streams; a piece that
continues a record starts from a zero state (a reset that is not a record's start). HDF5
records are read lazily, ``read_ahead`` sub-windows per row at a time, never whole.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..smoke import smoke_samples
from ..validation import check_record_channels
from .batch import Batch
from .hdf5 import HDF5Signals
from .windows import DataLoaders, Normalizer, as_2d, check_int

__all__ = [
    "HDF5Signals",
    "StreamDataset",
    "StreamLoader",
    "check_records",
    "check_rows",
    "create_stream_dls",
    "pack_records",
    "stream_pieces",
    "streaming_normalizer",
]


@dataclass
class StreamDataset:
    """Records: lists ``u``, ``y`` of numpy arrays or ``HDF5Signals``, as ``WindowDataset``;
    ``stream_len`` is the length of one stream in steps (batches per epoch x sub_seq_len),
    set by the loader."""

    u: list
    y: list
    stream_len: int = 0


def pack_records(lengths: Sequence[int], order: Sequence[int], bs: int, sub_seq_len: int):
    """Whole records to ``bs`` rows: longest first (ties in ``order``), each to the row with
    the fewest sub-windows so far; each row then reads its records in ``order``.

    Returns, per row, its pieces (record, 0, its sub-windows), and the batches per epoch
    (the longest row), which does not depend on ``order``.
    """
    n_sub = {r: math.ceil(lengths[r] / sub_seq_len) for r in order}
    place = {r: i for i, r in enumerate(order)}
    rows, fill = [[] for _ in range(bs)], [0] * bs
    for r in sorted(order, key=lambda r: -n_sub[r]):  # a stable sort: ties stay in order
        j = min(range(bs), key=lambda j: (fill[j], j))
        rows[j].append(r)
        fill[j] += n_sub[r]
    return [[(r, 0, n_sub[r]) for r in sorted(row, key=place.get)] for row in rows], max(fill)


def stream_pieces(lengths: Sequence[int], order: Sequence[int], bs: int, sub_seq_len: int):
    """The language-model convention: the records, in ``order``, laid end to end and cut
    into ``bs`` streams of (nearly) equal length; stream j gets the sub-windows from
    (j * total) // bs up to ((j + 1) * total) // bs. Same returns as ``pack_records``.
    """
    n_sub = [math.ceil(lengths[r] / sub_seq_len) for r in order]
    total = sum(n_sub)
    bounds = [(j * total) // bs for j in range(bs + 1)]
    pieces, start, j = [[] for _ in range(bs)], 0, 0
    for r, n in zip(order, n_sub):
        c = 0  # the record's sub-windows c..n-1 are still to deal out
        while c < n:
            while bounds[j + 1] <= start + c:  # this stream is full: next stream
                j += 1
            end = min(n, bounds[j + 1] - start)
            pieces[j].append((r, c, end))
            c = end
        start += n
    return pieces, max(b - a for a, b in zip(bounds, bounds[1:]))


class StreamLoader:
    """Hands out the stream layout: each batch is the next ``sub_seq_len`` steps of ``bs`` rows.

    Yields Batch(u, y, reset, sub_idx=None, mask): u (bs, sub_seq_len, n_u), y (bs,
    sub_seq_len, n_y) (text: (bs, sub_seq_len) token ids); ``reset`` (bs,) bool, True where
    a row starts a record (all rows on the first batch of an epoch); ``mask`` (bs,
    sub_seq_len) bool, False on padding, or None when every step counts.
    """

    layout = "streams"

    def __init__(
        self,
        ds: StreamDataset,
        bs: int,
        sub_seq_len: int,
        shuffle: bool = False,
        seed: int = 0,
        device="cpu",
        read_ahead: int = 32,
        what: str = "train",
        max_batches: int | None = None,
        cut_records: bool = False,
    ):
        bs_name = "bs" if what == "train" else f"{what}_bs"
        check_int(bs_name, bs)
        check_int("sub_seq_len", sub_seq_len)
        check_int("read_ahead", read_ahead)
        if max_batches is not None:
            check_int("max_batches", max_batches)
        lengths = [len(u) for u in ds.u]
        check_records(lengths, [len(y) for y in ds.y], sub_seq_len, what)
        check_rows(lengths, bs, sub_seq_len, cut_records, bs_name, what)
        self.pack = stream_pieces if cut_records else pack_records
        self.cut_records = cut_records
        self.ds, self.bs, self.sub_seq_len, self.shuffle = ds, bs, sub_seq_len, shuffle
        self.seq_len, self.read_ahead, self.lengths = sub_seq_len, read_ahead, lengths
        self.generator = torch.Generator().manual_seed(seed)
        self.device = torch.device(device)
        self.n_batches = self.pack(lengths, range(len(lengths)), bs, sub_seq_len)[1]
        ds.stream_len, self.max_batches = self.n_batches * sub_seq_len, max_batches

    @property
    def n_u(self) -> int:
        return self.ds.u[0].shape[1]

    @property
    def n_y(self) -> int:
        return self.ds.y[0].shape[1]

    def __len__(self) -> int:
        """Batches (optimizer steps) per epoch; the same every epoch, whatever the order."""
        return min(self.n_batches, self.max_batches or self.n_batches)

    def order(self) -> list[int]:
        """The order of the records this epoch: shuffled (training) or as given."""
        n = len(self.lengths)
        return (
            torch.randperm(n, generator=self.generator).tolist() if self.shuffle else list(range(n))
        )

    def places(self, order: Sequence[int] | None = None) -> dict[int, tuple[int, int]]:
        """Where each record lies in an epoch: record -> (row, first step), for ``order``
        (default: as given, the validation order). Whole-record layout only."""
        if self.cut_records:
            raise ValueError("places() needs whole records per row; cut_records=True cuts them.")
        order = list(range(len(self.lengths))) if order is None else list(order)
        rows = self.pack(self.lengths, order, self.bs, self.sub_seq_len)[0]
        out = {}
        for j, pieces in enumerate(rows):
            step = 0
            for r, _, n_sub in pieces:
                out[r], step = (j, step), step + n_sub * self.sub_seq_len
        return out

    def _row(self, pieces) -> Iterator[tuple]:
        """One stream's sub-windows in time order: (u, y, n real steps, starts a record)."""
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
        while True:  # the stream has ended: all-padding sub-windows
            yield None, None, 0, False

    def __iter__(self) -> Iterator[Batch]:
        pieces, _ = self.pack(self.lengths, self.order(), self.bs, self.sub_seq_len)
        rows = [self._row(p) for p in pieces]
        u0, y0 = self.ds.u[0], self.ds.y[0]
        k, bs = self.sub_seq_len, self.bs
        for batch_idx in range(len(self)):
            u = np.zeros((bs, k, *u0.shape[1:]), dtype=u0.dtype)  # padding stays zero
            y = np.zeros((bs, k, *y0.shape[1:]), dtype=y0.dtype)
            n_real, reset = np.zeros(bs, np.int64), np.zeros(bs, bool)
            for j, row in enumerate(rows):
                uj, yj, n_real[j], reset[j] = next(row)
                if n_real[j]:
                    u[j, : n_real[j]], y[j, : n_real[j]] = uj, yj
            reset |= batch_idx == 0  # an epoch starts every row
            mask = (
                None if (n_real == k).all() else torch.arange(k) < torch.from_numpy(n_real)[:, None]
            )
            to = self.device
            yield Batch(
                torch.from_numpy(u).to(to),
                torch.from_numpy(y).to(to),
                reset=torch.from_numpy(reset).to(to),
                mask=None if mask is None else mask.to(to),
            )


def check_rows(lengths, bs: int, sub_seq_len: int, cut_records: bool, bs_name: str, what: str):
    """Raise a ValueError when ``bs`` rows cannot be filled (a record, or a cut piece, each)."""
    n_sub = sum(math.ceil(n / sub_seq_len) for n in lengths)
    if cut_records and bs > n_sub:
        raise ValueError(
            f"{bs_name}={bs} is larger than the number of streams the {what} data can fill: "
            f"its {len(lengths)} record(s) hold {n_sub} sub-windows of sub_seq_len="
            f"{sub_seq_len}, one per stream at least. Choose {bs_name} <= {n_sub} (or a "
            f"shorter sub_seq_len)."
        )
    if not cut_records and bs > len(lengths):
        raise ValueError(
            f"{bs_name}={bs} rows need at least {bs} {what} records: each row reads whole "
            f"records, and there are {len(lengths)}. Choose {bs_name} <= {len(lengths)}, or "
            f"cut_records=True to cut the records into {bs_name} streams (each piece that "
            "continues a record in another row then starts from a zero state)."
        )


def check_records(u_lengths, y_lengths, sub_seq_len: int, what: str = "train") -> None:
    """Raise a ValueError for no records, an empty record, u and y of different lengths, or a
    ``sub_seq_len`` longer than every record."""
    if not u_lengths:
        raise ValueError(f"the stream layout needs at least one {what} record, got none.")
    for i, (nu, ny) in enumerate(zip(u_lengths, y_lengths, strict=True)):
        if nu == 0:
            raise ValueError(f"{what} record {i} is empty (0 samples): drop it from the records.")
        if nu != ny:
            raise ValueError(f"{what} record {i}: u and y differ in length ({nu} vs {ny} samples).")
    if sub_seq_len > max(u_lengths):
        raise ValueError(
            f"sub_seq_len={sub_seq_len} is longer than every {what} record (the longest has "
            f"{max(u_lengths)} samples): choose sub_seq_len <= {max(u_lengths)}."
        )


def streaming_normalizer(ds: StreamDataset, block: int = 1 << 16) -> Normalizer:
    """Mean and std of every u and y sample, in one pass of ``block`` samples at a time.

    Each block's mean and sum of squared deviations (float64) are merged into the running
    ones (Chan et al.'s update), so the result equals ``Normalizer.from_records`` without
    ever holding a record.
    """
    stats = []
    for signals in (ds.u, ds.y):
        n, mean, m2 = 0, 0.0, 0.0
        for x in signals:
            for a in range(0, len(x), block):
                b = np.asarray(x[a : a + block], dtype=np.float64).reshape(-1, x.shape[1])
                nb, mean_b = len(b), b.mean(0)
                m2_b, delta = ((b - mean_b) ** 2).sum(0), mean_b - mean
                mean = mean + delta * nb / (n + nb)
                m2 = m2 + m2_b + delta**2 * n * nb / (n + nb)
                n += nb
        stats += [mean, np.sqrt(m2 / n) + 1e-8]
    return Normalizer(*stats)


def _stream_records(source, u_names, y_names, what: str, lazy: bool):
    """A path, a (u, y) pair, or a list of either -> (list of u, list of y, fs or None)."""
    items = source if isinstance(source, list) else [source]
    us, ys, fs = [], [], None
    for i, item in enumerate(items):
        if isinstance(item, (str, Path)):
            u, y = HDF5Signals(item, u_names), HDF5Signals(item, y_names)
            fs = u.fs
            if not lazy:
                u, y = u[:], y[:]
        elif isinstance(item, tuple) and len(item) == 2:
            u, y = as_2d(item[0], f"{what} record {i} u"), as_2d(item[1], f"{what} record {i} y")
            u, y = u[: smoke_samples(len(u))], y[: smoke_samples(len(y))]  # smoke mode: shorter
        else:
            raise TypeError(
                f"{what} must be an HDF5 path, a (u, y) pair of arrays, or a list of those; "
                f"got {type(item).__name__} at position {i}."
            )
        us.append(u)
        ys.append(y)
    return us, ys, fs


def create_stream_dls(
    train,
    valid,
    test=None,
    *,
    bs: int = 16,
    sub_seq_len: int = 100,
    valid_bs: int | None = None,
    u_names: Sequence[str] = ("u0",),
    y_names: Sequence[str] = ("y0",),
    lazy: bool = True,
    read_ahead: int = 32,
    seed: int = 0,
    device="cpu",
    max_batches: int | None = None,
    units: tuple[str, float] = ("", 1.0),
    cut_records: bool = False,
) -> DataLoaders:
    """Stream-layout loaders from HDF5 files (u0/y0 datasets, an fs attribute) or arrays.

    train, valid: a path, a (u, y) pair of arrays (T,) or (T, n), or a list of those; each is
    one record. test: a dict name -> path or (u, y) pair, kept whole (read into memory).
    Each of the ``bs`` rows (``valid_bs`` for validation, default ``bs``) reads whole records
    one after another (so bs <= the number of records); each batch is the next
    ``sub_seq_len`` steps of every row. cut_records=True cuts the records laid end to end
    into ``bs`` equal streams instead (one long record in many rows): a piece that continues
    a record starts from a zero state, flagged in ``Batch.reset``.

    A record that ends inside a sub-window is padded with zeros, left out of the loss by
    ``Batch.mask``; the row's next record starts at the next batch (``Batch.reset`` True).

    lazy (HDF5 only): read each sub-window from disk when needed (``read_ahead`` per row at a
    time); False reads all up front. Statistics: one streaming pass over the train records.
    max_batches: end each training epoch after this many batches (a record too long for
    whole epochs). units: how scores are shown, e.g. ("mV", 1e3). In smoke mode
    (TBPTT_KIT_SMOKE=1) every record is cut to a few thousand samples.
    """
    check_int("bs", bs)
    check_int("sub_seq_len", sub_seq_len)
    if valid_bs is not None:
        check_int("valid_bs", valid_bs)
    u_tr, y_tr, fs = _stream_records(train, u_names, y_names, "train", lazy)
    u_va, y_va, _ = _stream_records(valid, u_names, y_names, "valid", lazy)
    test_records = {}
    for name, item in (test or {}).items():
        u, y, _ = _stream_records(item, u_names, y_names, f"test {name!r}", lazy=False)
        test_records[name] = (u[0], y[0])
    check_record_channels((u_tr, y_tr), (u_va, y_va), test_records)
    train_ds, valid_ds = StreamDataset(u_tr, y_tr), StreamDataset(u_va, y_va)
    kw = dict(
        sub_seq_len=sub_seq_len, device=device, read_ahead=read_ahead, cut_records=cut_records
    )
    return DataLoaders(
        train=StreamLoader(train_ds, bs, shuffle=True, seed=seed, max_batches=max_batches, **kw),
        valid=StreamLoader(valid_ds, valid_bs or bs, shuffle=False, what="valid", **kw),
        test=test_records,
        norm=streaming_normalizer(train_ds),
        fs=fs,
        units=units,
    )
