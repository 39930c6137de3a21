"""Loaders from files or arrays, every argument checked: ``create_dls`` (windows) and
``create_stream_dls`` (the stream layout, HDF5 records read lazily).

The loaders themselves are the core's (``tbptt_kit/core/windows.py``, ``streams.py``); the
records are read and checked in ``records.py`` (lengths, channels, finiteness, precision)
and measured here (the training statistics, in one streaming pass for long records).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..core.streams import StreamDataset, StreamLoader, pack_records
from ..core.windows import Record, WindowDataset, WindowLoader
from ..validation import (
    check_int,
    check_precision,
    check_record_channels,
    check_same_length,
    check_seed,
    check_sub_seq_len,
    check_units,
)
from .records import (
    check_channels,
    check_records,
    check_rows,
    check_windows,
    load_records,
    stream_records,
)

__all__ = [
    "DataLoaders",
    "Normalizer",
    "check_channels",
    "check_records",
    "check_rows",
    "check_windows",
    "record_places",
    "create_dls",
    "create_stream_dls",
    "stream_loader",
    "stream_pieces",
    "streaming_normalizer",
]


@dataclass
class Normalizer:
    """Mean and std of the training inputs and outputs (exact, in float64, over all samples)."""

    u_mean: np.ndarray
    u_std: np.ndarray
    y_mean: np.ndarray
    y_std: np.ndarray

    @classmethod
    def from_records(cls, records: Sequence[Record]) -> Normalizer:
        u = np.concatenate([np.asarray(u, np.float64).reshape(len(u), -1) for u, _ in records])
        y = np.concatenate([np.asarray(y, np.float64).reshape(len(y), -1) for _, y in records])
        return cls(u.mean(0), u.std(0) + 1e-8, y.mean(0), y.std(0) + 1e-8)


@dataclass
class DataLoaders:
    """Train and valid loaders, whole test records, the training statistics (``norm``: u_mean,
    u_std, y_mean, y_std). units: how scores are shown, (name, factor), e.g. ("mV", 1e3)."""

    train: WindowLoader
    valid: WindowLoader
    test: dict[str, Record]
    norm: object
    fs: float | None = None
    units: tuple[str, float] = ("", 1.0)
    signal_unit: str = ""  # the unit of u, y and the loss, e.g. "V"

    def __post_init__(self):
        self.units = check_units(self.units)  # a factor <= 0 would score every model wrong

    @property
    def layout(self) -> str:
        """ "windows" (cut from records) or "streams" (``streams.py``)."""
        return getattr(self.train, "layout", "windows")

    @property
    def n_u(self) -> int:
        return self.train.ds.u[0].shape[1]

    @property
    def n_y(self) -> int:
        return self.train.ds.y[0].shape[1]

    @property
    def win_sz(self) -> int | None:
        """Window length in steps; None in the stream layout."""
        return None if self.layout == "streams" else self.train.ds.win_sz

    @property
    def sub_seq_len(self) -> int | None:
        return self.train.sub_seq_len

    def records(self, part: str) -> dict[str, Record]:
        """Whole records of "train", "valid" (named part, part_1, ...) or "test"."""
        if part == "test":
            return dict(self.test)
        if part not in ("train", "valid"):
            raise ValueError(f"part={part!r} is unknown: choose 'train', 'valid' or 'test'.")
        ds = getattr(self, part).ds
        names = [part] + [f"{part}_{i}" for i in range(1, len(ds.u))]
        return {n: (np.asarray(u[:]), np.asarray(y[:])) for n, u, y in zip(names, ds.u, ds.y)}

    def windows(self, part: str = "valid", n: int | None = None):
        """The first ``n`` (None: all) windows of "train" or "valid", in order: u (n, win_sz,
        n_u), y (n, win_sz, n_y), what the learner trains and validates on."""
        if self.layout == "streams":
            raise ValueError("stream loaders have no windows: use records(part) instead.")
        if part not in ("train", "valid"):
            raise ValueError(f"part={part!r} is unknown: choose 'train' or 'valid'.")
        ds = getattr(self, part).ds
        return ds[list(range(len(ds) if n is None else min(n, len(ds))))]

    def to(self, device) -> DataLoaders:
        self.train.device = self.valid.device = torch.device(device)
        return self


def create_dls(
    train,
    valid,
    test=None,
    *,
    bs: int = 16,
    win_sz: int = 100,
    stp_sz: int = 1,
    valid_stp_sz: int | None = None,
    sub_seq_len: int | None = None,
    u_names: Sequence[str] = ("u0",),
    y_names: Sequence[str] = ("y0",),
    seed: int = 0,
    device="cpu",
    units: tuple[str, float] = ("", 1.0),
) -> DataLoaders:
    """Loaders from HDF5 files (named 1-D datasets, e.g. u0/y0 with an fs attribute) or arrays.

    train, valid: a path, a (u, y) pair of arrays (T,) or (T, n), or a list of those.
    test: a dict name -> path or (u, y) pair; test records are kept whole.
    Windows: ``win_sz`` samples every ``stp_sz`` (train) or ``valid_stp_sz`` samples
    (valid; default ``win_sz``, i.e. back to back). ``sub_seq_len`` splits each window
    into sub-windows for truncated BPTT, for training and validation alike. units: how
    scores are shown, (name, factor from the signal's unit), e.g. ("mV", 1e3) for volts.
    """
    win_sz, stp_sz, bs = (
        check_int("win_sz", win_sz),
        check_int("stp_sz", stp_sz),
        check_int("bs", bs),
    )
    valid_stp_sz = win_sz if valid_stp_sz is None else check_int("valid_stp_sz", valid_stp_sz)
    check_sub_seq_len(win_sz, sub_seq_len)
    seed, units = check_seed(seed), check_units(units)
    train_records, fs = load_records(train, u_names, y_names, "train")
    valid_records, _ = load_records(valid, u_names, y_names, "valid")
    if not train_records or not valid_records:
        raise ValueError("train and valid each need at least one record.")
    test_records = {}
    for name, item in (test or {}).items():
        test_records[name] = load_records(item, u_names, y_names, f"test {name!r}")[0][0]
        check_same_length(
            f"test {name!r} u", len(test_records[name][0]), "its y", len(test_records[name][1])
        )
    check_channels(train_records, valid_records, test_records)
    for what, records in (("train", train_records), ("valid", valid_records)):
        check_windows(records, win_sz, what)
    train_ds = WindowDataset(train_records, win_sz, stp_sz)
    valid_ds = WindowDataset(valid_records, win_sz, valid_stp_sz)
    return DataLoaders(
        train=WindowLoader(
            train_ds, bs, shuffle=True, sub_seq_len=sub_seq_len, seed=seed, device=device
        ),
        valid=WindowLoader(valid_ds, bs, shuffle=False, sub_seq_len=sub_seq_len, device=device),
        test=test_records,
        norm=Normalizer.from_records(train_records),
        fs=fs,
        units=units,
    )


def stream_loader(ds, bs: int, sub_seq_len: int, what="train", cut_records=False, **kw):
    """A core ``StreamLoader`` over ``ds``, after checking that its records and ``bs`` rows
    fit. ``what``: "train", "valid", ... for the messages; ``cut_records``: the language-model
    cut (``stream_pieces``) instead of whole records; kw: the loader's other arguments."""
    bs_name = "bs" if what == "train" else f"{what}_bs"
    check_int(bs_name, bs)
    check_int("sub_seq_len", sub_seq_len)
    check_int("read_ahead", kw.get("read_ahead", 1))
    if kw.get("max_batches") is not None:
        check_int("max_batches", kw["max_batches"])
    lengths = [len(u) for u in ds.u]
    check_records(lengths, [len(y) for y in ds.y], sub_seq_len, what)
    check_rows(lengths, bs, sub_seq_len, cut_records, bs_name, what)
    return StreamLoader(
        ds, bs, sub_seq_len, **kw, pack=stream_pieces if cut_records else pack_records
    )


def stream_pieces(lengths: Sequence[int], order: Sequence[int], bs: int, sub_seq_len: int):
    """The records in ``order`` laid end to end and cut into ``bs`` streams of (nearly) equal
    length: stream j gets sub-windows (j * total) // bs up to ((j + 1) * total) // bs.
    Returns per row its pieces (record, first sub-window, end), and the batches per epoch."""
    n_sub = [math.ceil(lengths[r] / sub_seq_len) for r in order]
    total = sum(n_sub)
    bounds = [(j * total) // bs for j in range(bs + 1)]
    pieces, start, j = [[] for _ in range(bs)], 0, 0
    for r, n in zip(order, n_sub):
        c = 0  # the record's sub-windows c..n-1 are still to deal out
        while c < n:
            while bounds[j + 1] <= start + c:  # this stream is full: the next one
                j += 1
            end = min(n, bounds[j + 1] - start)
            pieces[j].append((r, c, end))
            c = end
        start += n
    return pieces, max(b - a for a, b in zip(bounds, bounds[1:]))


def record_places(loader, order: Sequence[int] | None = None) -> dict[int, tuple[int, int]]:
    """Where each record of a stream ``loader`` lies in an epoch of ``order`` (default: as
    given, the validation order): record -> (row, first step). Whole records only."""
    if loader.pack is not pack_records:
        raise ValueError("record_places needs whole records per row; cut_records=True cuts them.")
    order = range(len(loader.lengths)) if order is None else order
    out = {}
    for j, pieces in enumerate(
        loader.pack(loader.lengths, list(order), loader.bs, loader.seq_len)[0]
    ):
        step = 0
        for r, _, n_sub in pieces:
            out[r], step = (j, step), step + n_sub * loader.sub_seq_len
    return out


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
    bs, sub_seq_len = check_int("bs", bs), check_int("sub_seq_len", sub_seq_len)
    valid_bs = bs if valid_bs is None else check_int("valid_bs", valid_bs)
    seed, units = check_seed(seed), check_units(units)
    u_tr, y_tr, fs = stream_records(train, u_names, y_names, "train", lazy)
    u_va, y_va, _ = stream_records(valid, u_names, y_names, "valid", lazy)
    test_records = {}
    for name, item in (test or {}).items():
        u, y, _ = stream_records(item, u_names, y_names, f"test {name!r}", lazy=False)
        check_same_length(f"test {name!r} u", len(u[0]), "its y", len(y[0]))
        test_records[name] = (u[0], y[0])
    check_record_channels((u_tr, y_tr), (u_va, y_va), test_records)
    train_ds, valid_ds = StreamDataset(u_tr, y_tr), StreamDataset(u_va, y_va)
    kw = dict(
        sub_seq_len=sub_seq_len, device=device, read_ahead=read_ahead, cut_records=cut_records
    )
    train_dl = stream_loader(train_ds, bs, shuffle=True, seed=seed, max_batches=max_batches, **kw)
    valid_dl = stream_loader(valid_ds, valid_bs, what="valid", **kw)
    norm = streaming_normalizer(train_ds)
    check_precision("train u", norm.u_mean, norm.u_std - 1e-8)  # lazy HDF5 records: checked
    check_precision("train y", norm.y_mean, norm.y_std - 1e-8)  # here, from one pass
    return DataLoaders(
        train=train_dl,
        valid=valid_dl,
        test=test_records,
        norm=norm,
        fs=fs,
        units=units,
    )
