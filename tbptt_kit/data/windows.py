"""Cut long records into training windows, and hand windows out as (sub-)batches.

A *record* is one long measurement: an input signal u of shape (T, n_u) and an
output signal y of shape (T, n_y). Training does not see whole records. It sees
*windows* of ``win_sz`` samples, one starting every ``stp_sz`` samples:

    record:  |-------------------------------------------------------|
    windows: |--win_sz--|
               stp_sz |--win_sz--|
                        stp_sz |--win_sz--|  ...

With ``sub_seq_len`` (truncated BPTT), every batch of windows is handed out as
``win_sz // sub_seq_len`` sub-windows, in time order. Each batch says, per row, where
a state starts (``Batch.reset``): every row on the first sub-window of new windows, the
moment to reset the RNN's hidden state; no row on the sub-windows that continue them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..validation import (  # noqa: F401  check_int, the divisors: re-exported
    as_signal,
    check_int,
    check_same_length,
    check_sub_seq_len,
    divisors,
    nearest_divisors,
)
from .batch import Batch, split_windows
from .hdf5 import read_record

__all__ = ["DataLoaders", "Normalizer", "Record", "WindowDataset", "WindowLoader", "as_2d", "check_channels", "check_int", "check_sub_seq_len", "create_dls", "divisors", "nearest_divisors"]  # fmt: skip

Record = tuple[np.ndarray, np.ndarray]  # u (T, n_u), y (T, n_y)


def as_2d(a, name: str) -> np.ndarray:
    """A signal (T,) or (T, n) as a float32 (T, n) array (``validation.as_signal``); a
    ValueError naming ``name`` for another shape or dtype, NaN or Inf."""
    return as_signal(a, name)


class WindowDataset:
    """All windows of ``win_sz`` samples, every ``stp_sz`` samples, over some records.

    The windows are views into one float32 tensor per record: no copy until a batch
    is gathered. ``len(ds)`` is the number of windows; ``ds[idx]`` returns
    u (len(idx), win_sz, n_u) and y (len(idx), win_sz, n_y).
    """

    def __init__(self, records: Sequence[Record], win_sz: int, stp_sz: int):
        check_int("win_sz", win_sz)
        check_int("stp_sz", stp_sz)
        self.win_sz, self.stp_sz = win_sz, stp_sz
        self.u = [torch.from_numpy(as_2d(u, "u")) for u, _ in records]
        self.y = [torch.from_numpy(as_2d(y, "y")) for _, y in records]
        for u, y in zip(self.u, self.y, strict=True):
            if len(u) != len(y):
                raise ValueError(f"u and y differ in length: {len(u)} vs {len(y)} samples.")
        shortest = min(len(u) for u in self.u)
        if win_sz > shortest:
            raise ValueError(
                f"win_sz={win_sz} is longer than the shortest record ({shortest} samples): "
                f"choose win_sz <= {shortest}."
            )
        # (record index, start sample) of every window
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
    """Hands out batches of windows; with ``sub_seq_len``, each batch as its sub-windows.

    For each batch of ``bs`` windows, it yields ``win_sz // sub_seq_len`` Batch objects
    in time order; the first resets every row (``reset`` all True). Without ``sub_seq_len``
    every batch is one whole window (every row reset). Training loaders shuffle
    the windows every epoch with their own seeded generator; others keep them in order.
    """

    def __init__(
        self,
        ds: WindowDataset,
        bs: int,
        shuffle: bool = False,
        sub_seq_len: int | None = None,
        seed: int = 0,
        device="cpu",
    ):
        check_int("bs", bs)
        check_sub_seq_len(ds.win_sz, sub_seq_len)
        self.ds, self.bs, self.shuffle = ds, bs, shuffle
        self.sub_seq_len = sub_seq_len  # None: whole windows
        self.seq_len = sub_seq_len or ds.win_sz  # length of each yielded batch
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

    @property
    def n_windows_batches(self) -> int:
        return math.ceil(len(self.ds) / self.bs)

    def __len__(self) -> int:
        """Number of optimizer steps per epoch: batches of windows × sub-windows."""
        return self.n_windows_batches * self.n_sub

    def __iter__(self) -> Iterator[Batch]:
        n = len(self.ds)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for i in range(0, n, self.bs):
            u, y = self.ds[order[i : i + self.bs].tolist()]
            yield from split_windows(u.to(self.device), y.to(self.device), self.sub_seq_len)


def check_channels(train: Sequence[Record], valid: Sequence[Record], test: dict) -> None:
    """Raise a ValueError unless every record has the training records' channel counts
    (n_u, n_y), and no training channel is constant (its std would be 0)."""
    n_u, n_y = as_2d(train[0][0], "train u").shape[1], as_2d(train[0][1], "train y").shape[1]
    parts = [("train", r) for r in train] + [("valid", r) for r in valid]
    parts += [(f"test {name!r}", r) for name, r in test.items()]
    for what, (u, y) in parts:
        got = (as_2d(u, f"{what} u").shape[1], as_2d(y, f"{what} y").shape[1])
        if got != (n_u, n_y):
            raise ValueError(
                f"{what} has (n_u, n_y) = {got} channels, but train has {(n_u, n_y)}: "
                f"every record needs the same input and output channels."
            )
    for signal, index in (("u", 0), ("y", 1)):
        std = np.concatenate([as_2d(r[index], "train") for r in train]).std(0)
        if (std == 0).any():
            raise ValueError(
                f"train {signal} channel {int(np.argmax(std == 0))} is constant (std 0): "
                f"it cannot be normalised; drop it or use a record where it varies."
            )


@dataclass
class Normalizer:
    """Mean and std of the training inputs and outputs (exact, over all train samples)."""

    u_mean: np.ndarray
    u_std: np.ndarray
    y_mean: np.ndarray
    y_std: np.ndarray

    @classmethod
    def from_records(cls, records: Sequence[Record]) -> Normalizer:
        u = np.concatenate([as_2d(u, "u").astype(np.float64) for u, _ in records])
        y = np.concatenate([as_2d(y, "y").astype(np.float64) for _, y in records])
        return cls(u.mean(0), u.std(0) + 1e-8, y.mean(0), y.std(0) + 1e-8)


@dataclass
class DataLoaders:
    """Train and valid loaders, whole test records, and the training statistics."""

    train: WindowLoader
    valid: WindowLoader
    test: dict[str, Record]
    norm: Normalizer
    fs: float | None = None
    units: tuple[str, float] = ("", 1.0)  # how scores are shown: (name, factor), e.g. ("mV", 1e3)
    signal_unit: str = ""  # the unit of u, y and the loss, e.g. "V"

    @property
    def layout(self) -> str:
        """ "windows" (windows cut from records) or "streams" (bs streams through whole records)."""
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

    def records(self, part: str) -> dict[str, Record]:
        """Whole records of one part, name -> (u (T, n_u), y (T, n_y)): "test" as given,
        "valid" and "train" as "valid", "valid_1", ... in the order given."""
        if part == "test":
            return dict(self.test)
        if part not in ("train", "valid"):
            raise ValueError(f"part={part!r} is unknown: choose 'train', 'valid' or 'test'.")
        ds = getattr(self, part).ds
        names = [part] + [f"{part}_{i}" for i in range(1, len(ds.u))]
        return {n: (np.asarray(u[:]), np.asarray(y[:])) for n, u, y in zip(names, ds.u, ds.y)}

    def windows(self, part: str = "valid", n: int | None = None):
        """The first ``n`` (None: all) whole windows of "train" or "valid", in order, as
        u (n, win_sz, n_u), y (n, win_sz, n_y): what the learner trains and validates on."""
        if self.layout == "streams":
            raise ValueError("stream loaders have no windows: use records(part) instead.")
        ds = getattr(self, part).ds if part in ("train", "valid") else None
        if ds is None:
            raise ValueError(f"part={part!r} is unknown: choose 'train' or 'valid'.")
        return ds[list(range(len(ds) if n is None else min(n, len(ds))))]

    @property
    def sub_seq_len(self) -> int | None:
        return self.train.sub_seq_len

    def to(self, device) -> DataLoaders:
        self.train.device = self.valid.device = torch.device(device)
        return self


def _load_records(source, u_names: Sequence[str], y_names: Sequence[str], what: str):
    """A path, an (u, y) pair, or a list of either -> list of records, and fs if known."""
    if source is None:
        return [], None
    items = source if isinstance(source, list) else [source]
    records, fs = [], None
    for item in items:
        if isinstance(item, (str, Path)):
            signals, fs = read_record(item, list(u_names) + list(y_names))
            u = np.stack([signals[n] for n in u_names], axis=1)
            y = np.stack([signals[n] for n in y_names], axis=1)
            records.append((u, y))
        elif isinstance(item, tuple) and len(item) == 2:
            records.append((as_2d(item[0], f"{what} u"), as_2d(item[1], f"{what} y")))
        else:
            raise TypeError(
                f"{what} must be an HDF5 path, a (u, y) pair of arrays, or a list of those; "
                f"got {type(item).__name__}."
            )
    return records, fs


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
    check_int("win_sz", win_sz)
    check_int("stp_sz", stp_sz)
    check_int("bs", bs)
    check_sub_seq_len(win_sz, sub_seq_len)
    train_records, fs = _load_records(train, u_names, y_names, "train")
    valid_records, _ = _load_records(valid, u_names, y_names, "valid")
    if not train_records or not valid_records:
        raise ValueError("train and valid each need at least one record.")
    test_records = {}
    for name, item in (test or {}).items():
        test_records[name] = _load_records(item, u_names, y_names, f"test {name!r}")[0][0]
        check_same_length(
            f"test {name!r} u", len(test_records[name][0]), "its y", len(test_records[name][1])
        )
    check_channels(train_records, valid_records, test_records)
    train_ds = WindowDataset(train_records, win_sz, stp_sz)
    valid_ds = WindowDataset(valid_records, win_sz, valid_stp_sz or win_sz)
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
