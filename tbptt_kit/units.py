"""Bytes, readable: 12.3 MiB in the progress table, "2 GiB" as a budget."""

from __future__ import annotations

import math
import numbers
import re

import numpy as np

__all__ = ["Bytes", "format_bytes", "parse_bytes"]

_UNITS = {"b": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_UNITS |= {"kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}


def format_bytes(n: float, digits: int = 1) -> str:
    """A byte count in binary units: 512 B, 3.0 KiB, 12.3 MiB, 2.0 GiB."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        if abs(n) >= _UNITS[unit.lower()]:
            return f"{n / _UNITS[unit.lower()]:.{digits}f} {unit}"
    return f"{int(n)} B"


def parse_bytes(value, name: str = "max_memory") -> int:
    """Bytes from a number (bytes) or a string such as "2 GiB", "500MB", "1.5GiB"."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, str)):
        raise TypeError(
            f"{name} must be a memory size: bytes or a string like '2 GiB', got {value!r}."
        )
    if isinstance(value, numbers.Real):
        if not value >= 1:
            raise ValueError(f"{name} must be a memory size of at least 1 byte, got {value}.")
        return int(value) if math.isfinite(value) else math.inf
    match = re.fullmatch(r"\s*(\d+\.?\d*|\.\d+)\s*([kmgt]?i?b)\s*", value.lower())
    if not match or match.group(2) not in _UNITS:
        raise ValueError(
            f"cannot read {name}={value!r} as a memory size: write e.g. '2 GiB' or '500 MB'."
        )
    return parse_bytes(float(match.group(1)) * _UNITS[match.group(2)], name)


class Bytes(int):
    """An int of bytes that prints readably (``12.3 MiB``): a cell of the progress table."""

    def __str__(self) -> str:
        return format_bytes(self)

    __repr__ = __str__
