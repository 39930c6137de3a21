"""Records of named 1-D signals in HDF5 files, written atomically.

A record is one HDF5 file holding one 1-D dataset per signal (``u0``, ``y0``, ...) and the
sampling frequency ``fs`` (Hz) as a file attribute, the layout tsfast and identibench use.

Writing is atomic: the record goes to a temporary file beside the target, which is renamed
onto the target only once it is complete. A crash mid-write leaves either the old file or no
file, never a half-written one that could later read back as valid. A process killed
mid-write cannot remove its temporary file; ``remove_stale_temporaries`` does that later.

Files are created with the permissions the user's umask allows (``rw-r--r--`` for the usual
umask 022), so a record in a shared folder can be read by everyone who can read the folder.
"""

from __future__ import annotations

import numbers
import os
import secrets
import socket
import time
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from ..tooling.smoke import smoke_samples

__all__ = [
    "HDF5Signals",
    "STALE_AFTER_S",
    "TEMPORARY_MARK",
    "read_attrs",
    "read_fs",
    "read_record",
    "remove_stale_temporaries",
    "signal_length",
    "write_record",
]

TEMPORARY_MARK = ".tmp-"  # a temporary file is named <target name>.tmp-<host>-<pid>-<random>
STALE_AFTER_S = 3600  # a temporary file this old is stale even if its writer looks alive


def write_record(
    path: str | Path,
    signals: dict[str, np.ndarray],
    fs: float,
    attrs: dict | None = None,
) -> None:
    """Write ``signals`` (name -> 1-D float array) and ``fs`` (Hz) to the HDF5 file ``path``.

    float32 and float64 arrays are stored as given; other numeric arrays are stored as float64.
    ``attrs`` (name -> str or number) become extra file attributes, e.g. a seed or a source.
    Raises OSError when the folder cannot be written (permissions, a full disk, ...).
    """
    path = Path(path)
    _check_signals_and_fs(signals, fs)
    arrays = {name: _writable(path, name, signal) for name, signal in signals.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary file lives in the same folder so that os.replace is a rename, which is
    # atomic on one file system. Mode 0o666 minus the umask: readable wherever the umask allows.
    tmp = path.with_name(f"{path.name}{TEMPORARY_MARK}{_writer_id()}-{secrets.token_hex(4)}")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["fs"] = float(fs)
            for key, value in (attrs or {}).items():
                f.attrs[key] = value
            for name, x in arrays.items():
                f.create_dataset(name, data=x)
        # h5py has closed the file; make sure its bytes are on disk before the rename.
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _check_signals_and_fs(signals, fs) -> None:
    """A TypeError unless ``signals`` is a non-empty dict, a ValueError unless fs > 0 (Hz)."""
    if not isinstance(signals, dict) or not signals:
        raise TypeError(f"signals must be a non-empty dict of name -> 1-D array, got {signals!r}")
    if isinstance(fs, bool) or not isinstance(fs, numbers.Real) or not 0 < fs < float("inf"):
        raise ValueError(f"fs must be a positive sampling frequency in Hz, got {fs!r}")


def _writable(path: Path, name: str, signal) -> np.ndarray:
    """``signal`` as a 1-D float32 or float64 array; a ValueError for another shape, NaN, Inf."""
    x = np.asarray(signal)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    if x.ndim != 1:
        raise ValueError(f"signal {name!r} must be 1-D, got shape {x.shape}")
    i = _first_non_finite(x)
    if i is not None:
        raise ValueError(f"cannot write {path}: signal {name!r} is {x[i]} at index {i}")
    return x


def read_record(path: str | Path, names: list[str]) -> tuple[dict[str, np.ndarray], float | None]:
    """Read the 1-D signals ``names`` from the HDF5 file ``path``.

    Returns (name -> 1-D array as stored, fs in Hz or None when the file has no ``fs``).
    Raises FileNotFoundError for a missing file, PermissionError for a file this user may not
    read, and ValueError for anything else that is wrong: a file that is not readable HDF5, a
    missing or non-1-D dataset, NaN or Inf in a signal.
    """
    path = Path(path)
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        raise TypeError(f"names must be a list of dataset names, got {names!r}")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")

    try:
        with h5py.File(path, "r") as f:
            signals = {name: _signal(f, path, name, names) for name in names}
            fs = read_fs(f, path)
    except PermissionError as err:
        raise PermissionError(f"no permission to read {path} ({err})") from err
    except (OSError, KeyError, RuntimeError) as err:
        # h5py reports damaged, truncated and non-HDF5 files with these exception types.
        raise ValueError(f"{path} is not a readable HDF5 file ({err})") from err

    for name, x in signals.items():
        _check_finite(path, name, x)
    return signals, fs


def _check_finite(path: Path, name: str, x: np.ndarray) -> None:
    """A ValueError naming the first NaN or Inf of the signal ``name`` read from ``path``."""
    i = _first_non_finite(x)
    if i is not None:
        raise ValueError(f"signal {name!r} in {path} is {x[i]} at index {i}")


def _signal(f, path: Path, name: str, names: list[str]) -> np.ndarray:
    """The 1-D dataset ``name`` of the open file ``f``; a ValueError when it is missing (all
    of ``names`` that are, and what the file has) or not 1-D."""
    if name not in f:
        missing = [n for n in names if n not in f]
        raise ValueError(
            f"names: {', '.join(map(repr, missing))} not found in {path}; "
            f"the datasets there are {sorted(f.keys())}"
        )
    signal_length(f, name, path)
    return f[name][()]


def signal_length(f, name: str, path) -> int:
    """Samples in the dataset ``name`` of the open file ``f``; ValueError naming the path and
    the dataset unless it is a 1-D dataset of real numbers (not a group, strings, compound)."""
    dataset = f[name]
    if not isinstance(dataset, h5py.Dataset) or dataset.ndim != 1:
        shape = getattr(dataset, "shape", "a group")
        raise ValueError(f"{name!r} in {path} is not a 1-D signal (shape {shape})")
    if dataset.dtype.kind not in "biuf":
        raise ValueError(
            f"{name!r} in {path} holds {dataset.dtype} values, not numbers: a signal is a 1-D "
            f"dataset of integers or floats"
        )
    return dataset.shape[0]


def read_fs(f, path) -> float | None:
    """The ``fs`` attribute of the open file ``f`` in Hz, None when absent; ValueError naming
    the path unless it is a positive, finite number."""
    if "fs" not in f.attrs:
        return None
    value = f.attrs["fs"]
    try:
        fs = float(np.asarray(value).item()) if np.asarray(value).dtype.kind in "biuf" else None
    except ValueError:
        fs = None  # an array of several values
    if fs is None or not (fs > 0 and np.isfinite(fs)):
        raise ValueError(
            f"the fs attribute of {path} must be a sampling frequency in Hz > 0, got {_plain(value)!r}"
        )
    return fs


def read_attrs(path: str | Path) -> dict:
    """The file attributes of the HDF5 file ``path`` (name -> str or number), fs included.

    Raises the same errors as ``read_record``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with h5py.File(path, "r") as f:
            return {key: _plain(value) for key, value in f.attrs.items()}
    except PermissionError as err:
        raise PermissionError(f"no permission to read {path} ({err})") from err
    except (OSError, KeyError, RuntimeError) as err:
        raise ValueError(f"{path} is not a readable HDF5 file ({err})") from err


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove the temporary files that killed writes left in ``folder``; returns them.

    A temporary file is stale when its writer (a process on this host) is gone, or when it is
    older than STALE_AFTER_S (a writer on another host sharing the folder). Files this user
    may not remove, e.g. another user's in a sticky folder like /tmp, are left alone.
    """
    removed = []
    try:
        candidates = [p for p in Path(folder).iterdir() if TEMPORARY_MARK in p.name]
    except OSError:  # no folder, or one this user may not list: nothing to clean
        return removed
    for tmp in candidates:
        try:
            old = time.time() - tmp.stat().st_mtime > STALE_AFTER_S
            if old or not _writer_alive(tmp.name.rsplit(TEMPORARY_MARK, 1)[1]):
                tmp.unlink()
                removed.append(tmp)
        except OSError:  # gone already, or not ours to remove
            pass
    return removed


def _writer_id() -> str:
    """'<host>-<pid>' of this process, written into temporary file names."""
    return f"{socket.gethostname()}-{os.getpid()}"


def _writer_alive(suffix: str) -> bool:
    """Whether the writer named in a temporary file's '<host>-<pid>-<random>' suffix still runs.

    Only a writer on this host can be checked; one on another host counts as alive.
    """
    host, _, rest = suffix.rpartition("-")[0].rpartition("-")
    if host != socket.gethostname() or not rest.isdigit():
        return True
    try:
        os.kill(int(rest), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, run by another user
        return True
    return True


def _plain(value):
    """An HDF5 attribute as a plain Python str, int or float."""
    if isinstance(value, bytes):
        return value.decode()
    return value.item() if isinstance(value, np.generic) else value


def _first_non_finite(x: np.ndarray) -> int | None:
    """Index of the first NaN or Inf in ``x``, or None when every value is finite."""
    bad = np.flatnonzero(~np.isfinite(x))
    return int(bad[0]) if bad.size else None


class HDF5Signals:
    """Named 1-D signals of one HDF5 file, read as a (T, n) float32 array only when sliced.

    ``sig[a:b]`` reads samples a..b-1 of every signal from disk (one h5py read per signal),
    checks them for NaN and Inf and returns a (b - a, n) float32 array. Nothing else is held.
    """

    def __init__(self, path: str | Path, names: Sequence[str]):
        self.path, self.names, self._file = Path(path), list(names), None
        with h5py.File(self.path, "r") as f:  # fail now, not mid-epoch
            missing = [n for n in self.names if n not in f]
            if missing:
                raise ValueError(f"names {missing} not found in {self.path}; it has {sorted(f)}.")
            lengths = {signal_length(f, n, self.path) for n in self.names}
            if len(lengths) != 1 or -1 in lengths:
                raise ValueError(f"{self.names} in {self.path} must be 1-D and of equal length.")
            self.fs = read_fs(f, self.path)
        n = smoke_samples(lengths.pop())  # smoke mode (TBPTT_KIT_SMOKE=1): the first few samples
        self.shape, self.dtype = (n, len(self.names)), np.dtype(np.float32)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, t: slice) -> np.ndarray:
        if self._file is None:  # opened on the first read, then kept open
            self._file = h5py.File(self.path, "r")
            self._datasets = [self._file[n] for n in self.names]
        t = slice(*t.indices(len(self)))
        cols = [d[t] for d in self._datasets]  # one read per signal
        x = cols[0][:, None] if len(cols) == 1 else np.stack(cols, axis=1)
        x = x.astype(np.float32, copy=False)
        bad = ~np.isfinite(x)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(
                f"signal {self.names[j]!r} in {self.path} is {x[i, j]} at "
                f"sample {t.start + i}; clean the data before training."
            )
        return x
