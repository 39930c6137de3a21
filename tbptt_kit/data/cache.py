"""The cache folder for records the kit builds once, and checked reads and writes there.

A cache file is an HDF5 record (see hdf5.py) that also carries, as file attributes, the
parameters it was made from (e.g. source, seed, version) and ``sha256``, the SHA-256 of its
signals. ``read_cached`` trusts a file only when both match. ``write_cached`` never fails
the caller: where the folder cannot be written it warns once, naming the folder and
TBPTT_KIT_DATA, and the caller goes on with the record it has in memory.

Several users may share one folder (TBPTT_KIT_DATA=/srv/tbptt or /tmp/tbptt): files are
readable as far as each writer's umask allows, and each one is replaced only by a rename,
so readers see either the old file or the new one, never a half-written one.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from .hdf5 import read_attrs, read_record, write_record

__all__ = ["CACHE_ENV", "cache_dir", "read_cached", "signals_sha256", "write_cached"]

CACHE_ENV = "TBPTT_KIT_DATA"  # environment variable naming the cache folder

_warned_folders: set[Path] = set()  # folders already reported as unwritable


def cache_dir() -> Path:
    """Folder for cached records: $TBPTT_KIT_DATA, else $XDG_CACHE_HOME/tbptt_kit, else
    ~/.cache/tbptt_kit. Created if missing and possible; a folder that cannot be created or
    written is reported (once) when a record is cached there."""
    if os.environ.get(CACHE_ENV):
        folder = Path(os.environ[CACHE_ENV])
    elif os.environ.get("XDG_CACHE_HOME"):
        folder = Path(os.environ["XDG_CACHE_HOME"]) / "tbptt_kit"
    else:
        folder = Path.home() / ".cache" / "tbptt_kit"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # write_cached warns when it cannot write there
    return folder


def signals_sha256(signals: dict[str, np.ndarray]) -> str:
    """SHA-256 (hex) of ``signals`` in name order: each name, dtype and raw bytes."""
    digest = hashlib.sha256()
    for name in sorted(signals):
        x = np.ascontiguousarray(signals[name])
        digest.update(f"{name}:{x.dtype.str}:{x.size};".encode())
        digest.update(x.tobytes())
    return digest.hexdigest()


def read_cached(
    file: Path, names: list[str], fs: float, params: dict
) -> tuple[dict[str, np.ndarray], dict] | None:
    """(name -> 1-D signal, file attributes) from the cache file ``file``; None when there is
    no such file.

    Raises ValueError saying what is wrong when the file cannot be used: unreadable or
    damaged, sampled at another ``fs`` (Hz), made from other ``params`` (name -> value, each
    compared with the attribute of that name), or its signals do not match its checksum.
    """
    try:
        signals, stored_fs = read_record(file, names)
        attrs = read_attrs(file)
    except FileNotFoundError:
        return None
    except OSError as err:  # e.g. another user's file that this user may not read
        raise ValueError(str(err)) from err
    if stored_fs != fs:
        raise ValueError(f"{file} is sampled at fs={stored_fs} Hz, not {fs} Hz")
    for key, value in params.items():
        if attrs.get(key) != value:
            raise ValueError(f"{file} was made from {key}={attrs.get(key)!r}, not {value!r}")
    if attrs.get("sha256") != signals_sha256(signals):
        raise ValueError(f"the samples in {file} do not match its checksum (sha256)")
    return signals, attrs


def write_cached(file: Path, signals: dict[str, np.ndarray], fs: float, params: dict) -> bool:
    """Write ``signals`` (name -> 1-D array), ``fs`` (Hz), ``params`` and the signals' checksum
    to the cache file ``file``, atomically.

    Returns True when the file holds them afterwards. Returns False, after a warning (once
    per folder), when the folder cannot be written: the caller keeps its record in memory.
    """
    try:
        write_record(file, signals, fs, {**params, "sha256": signals_sha256(signals)})
        return True
    except OSError as err:
        if _holds(file, list(signals), fs, params):
            return True  # another process wrote the same record meanwhile, e.g. another user
        _warn_unwritable(file.parent, err)
        return False


def _holds(file: Path, names: list[str], fs: float, params: dict) -> bool:
    """Whether ``file`` is a valid cache file made from ``params``."""
    try:
        return read_cached(file, names, fs, params) is not None
    except ValueError:
        return False


def _warn_unwritable(folder: Path, err: OSError) -> None:
    """Warn, once per folder, that records cannot be cached in ``folder``."""
    if folder in _warned_folders:
        return
    _warned_folders.add(folder)
    warnings.warn(
        f"cannot write the cache folder {folder} ({err}); the record is kept in memory only "
        f"and will be built again next time. Set {CACHE_ENV} to a folder you can write to "
        "cache it there.",
        stacklevel=3,
    )
