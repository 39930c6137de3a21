"""Records of named 1-D signals in HDF5 files, written atomically.

A record is one HDF5 file holding one 1-D dataset per signal (``u0``, ``y0``, ...) and the
sampling frequency ``fs`` (Hz) as a file attribute, the layout tsfast and identibench use.

Writing is atomic: the record goes to a temporary file beside the target, which is renamed
onto the target only once it is complete. A crash mid-write leaves either the old file or no
file, never a half-written one that could later read back as valid.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import h5py
import numpy as np


def write_record(
    path: str | Path,
    signals: dict[str, np.ndarray],
    fs: float,
    attrs: dict | None = None,
) -> None:
    """Write ``signals`` (name -> 1-D float array) and ``fs`` (Hz) to the HDF5 file ``path``.

    float32 and float64 arrays are stored as given; other numeric arrays are stored as float64.
    ``attrs`` (name -> str or number) become extra file attributes, e.g. a seed or a source.
    """
    path = Path(path)
    arrays = {}
    for name, signal in signals.items():
        x = np.asarray(signal)
        if x.dtype not in (np.float32, np.float64):
            x = x.astype(np.float64)
        if x.ndim != 1:
            raise ValueError(f"signal {name!r} must be 1-D, got shape {x.shape}")
        i = _first_non_finite(x)
        if i is not None:
            raise ValueError(f"cannot write {path}: signal {name!r} is {x[i]} at index {i}")
        arrays[name] = x

    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary file lives in the same folder so that os.replace is a rename, which is
    # atomic on one file system. Its name ends in ".tmp-<random>".
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".tmp-")
    os.close(fd)
    try:
        with h5py.File(tmp_name, "w") as f:
            f.attrs["fs"] = float(fs)
            for key, value in (attrs or {}).items():
                f.attrs[key] = value
            for name, x in arrays.items():
                f.create_dataset(name, data=x)
        # h5py has closed the file; make sure its bytes are on disk before the rename.
        with open(tmp_name, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def read_record(path: str | Path, names: list[str]) -> tuple[dict[str, np.ndarray], float | None]:
    """Read the 1-D signals ``names`` from the HDF5 file ``path``.

    Returns (name -> 1-D array as stored, fs in Hz or None when the file has no ``fs``).
    Raises FileNotFoundError for a missing file and ValueError for anything else that is wrong:
    a file that is not readable HDF5, a missing or non-1-D dataset, NaN or Inf in a signal.
    """
    path = Path(path)
    if isinstance(names, str):
        raise TypeError(f"names must be a list of dataset names, not the string {names!r}")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")

    signals = {}
    try:
        with h5py.File(path, "r") as f:
            available = sorted(f.keys())
            missing = [name for name in names if name not in available]
            if missing:
                raise ValueError(
                    f"names: {', '.join(map(repr, missing))} not found in {path}; "
                    f"the datasets there are {available}"
                )
            for name in names:
                dataset = f[name]
                if not isinstance(dataset, h5py.Dataset) or dataset.ndim != 1:
                    shape = getattr(dataset, "shape", "a group")
                    raise ValueError(f"{name!r} in {path} is not a 1-D signal (shape {shape})")
                signals[name] = dataset[()]
            fs = float(f.attrs["fs"]) if "fs" in f.attrs else None
    except (OSError, KeyError, RuntimeError) as err:
        # h5py reports damaged, truncated and non-HDF5 files with these exception types.
        raise ValueError(f"{path} is not a readable HDF5 file ({err})") from err

    for name, x in signals.items():
        i = _first_non_finite(x)
        if i is not None:
            raise ValueError(f"signal {name!r} in {path} is {x[i]} at index {i}")
    return signals, fs


def _first_non_finite(x: np.ndarray) -> int | None:
    """Index of the first NaN or Inf in ``x``, or None when every value is finite."""
    bad = np.flatnonzero(~np.isfinite(x))
    return int(bad[0]) if bad.size else None
