"""The records a loader is made from: read (HDF5 files or arrays) and checked.

Each check names the record and what is wrong with it: u and y of different lengths, other
channel counts than the first training record's, a constant training channel (it cannot
be normalised), a window longer than a record, more rows than the records can fill.
Signals go through ``validation.as_signal`` (shape, dtype, NaN/Inf, float32's precision).
``loaders.py`` builds the loaders from them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..core.windows import Record
from ..tooling.smoke import smoke_samples
from ..validation import as_signal, check_same_length
from .hdf5 import HDF5Signals, read_record

__all__ = [
    "check_channels",
    "check_records",
    "check_rows",
    "check_windows",
    "load_records",
    "stream_records",
]


def check_channels(train: Sequence[Record], valid: Sequence[Record], test: dict) -> None:
    """Raise a ValueError unless every record has the training records' channel counts
    (n_u, n_y), and no training channel is constant (its std would be 0)."""
    n_u, n_y = (
        as_signal(train[0][0], "train u").shape[1],
        as_signal(train[0][1], "train y").shape[1],
    )
    parts = [("train", r) for r in train] + [("valid", r) for r in valid]
    parts += [(f"test {name!r}", r) for name, r in test.items()]
    for what, (u, y) in parts:
        got = (as_signal(u, f"{what} u").shape[1], as_signal(y, f"{what} y").shape[1])
        if got != (n_u, n_y):
            raise ValueError(
                f"{what} has (n_u, n_y) = {got} channels, but train has {(n_u, n_y)}: "
                f"every record needs the same input and output channels."
            )
    for signal, index in (("u", 0), ("y", 1)):
        values = np.concatenate([as_signal(r[index], "train") for r in train])
        constant = values.max(0) == values.min(0)  # exact: a float32 std of 1e10s is not 0
        if constant.any():
            raise ValueError(
                f"train {signal} channel {int(np.argmax(constant))} is constant (std 0): "
                f"it cannot be normalised; drop it or use a record where it varies."
            )


def load_records(source, u_names: Sequence[str], y_names: Sequence[str], what: str):
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
            records.append((as_signal(item[0], f"{what} u"), as_signal(item[1], f"{what} y")))
        else:
            raise TypeError(
                f"{what} must be an HDF5 path, a (u, y) pair of arrays, or a list of those; "
                f"got {type(item).__name__}."
            )
    return records, fs


def check_windows(records: Sequence[Record], win_sz: int, what: str) -> None:
    """A ValueError unless every record's u and y have one length, at least ``win_sz``."""
    for i, (u, y) in enumerate(records):
        check_same_length(f"{what} record {i} u", len(u), "its y", len(y))
    shortest = min(len(u) for u, _ in records)
    if win_sz > shortest:
        raise ValueError(
            f"win_sz={win_sz} is longer than the shortest {what} record ({shortest} samples): "
            f"choose win_sz <= {shortest}."
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


def stream_records(source, u_names, y_names, what: str, lazy: bool):
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
            u, y = (
                as_signal(item[0], f"{what} record {i} u"),
                as_signal(item[1], f"{what} record {i} y"),
            )
            u, y = u[: smoke_samples(len(u))], y[: smoke_samples(len(y))]  # smoke mode: shorter
        else:
            raise TypeError(
                f"{what} must be an HDF5 path, a (u, y) pair of arrays, or a list of those; "
                f"got {type(item).__name__} at position {i}."
            )
        us.append(u)
        ys.append(y)
    return us, ys, fs
