"""The few input checks the core makes (the rest of the kit's are in ``tbptt_kit/validation.py``).

Each raises an error that names the argument, the value and what is valid: a ``TypeError``
for the wrong kind of value, a ``ValueError`` for a value out of range. Numbers may be
Python's or numpy's; a bool is not a number here.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["check_int", "check_number", "check_sub_seq_len", "divisors", "nearest_divisors"]


def check_int(name: str, value, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an int: a whole number (int or numpy integer) in [minimum, maximum]."""
    valid = f"an int >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be {valid}, got {value!r}.")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {valid}, got {value}.")
    return int(value)


def check_number(
    name: str, value, minimum=-math.inf, maximum=math.inf, *, low_open=False, high_open=False
) -> float:
    """``value`` as a finite float in [minimum, maximum] (open ends when asked)."""
    lo, hi = "(" if low_open else "[", ")" if high_open else "]"
    valid = f"a finite number in {lo}{minimum}, {maximum}{hi}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {valid}, got {value!r}.")
    value = float(value)
    too_low = value <= minimum if low_open else value < minimum
    too_high = value >= maximum if high_open else value > maximum
    if not math.isfinite(value) or too_low or too_high:
        raise ValueError(f"{name} must be {valid}, got {value}.")
    return value


def divisors(n: int) -> list[int]:
    """Every d with n % d == 0, ascending: the sub_seq_len values that cut a window of n.
    Pairs (d, n // d) up to sqrt(n): about sqrt(n) steps, never n."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return small + [n // d for d in reversed(small) if d * d != n]


def nearest_divisors(win_sz: int, sub_seq_len: int) -> list[int]:
    """The divisors of ``win_sz`` just below and just above ``sub_seq_len`` (for messages);
    none for a ``win_sz`` above 10**12, whose divisors would take seconds to list."""
    found = divisors(win_sz) if win_sz <= 10**12 else []
    below, above = [d for d in found if d < sub_seq_len], [d for d in found if d > sub_seq_len]
    return below[-1:] + above[:1]


def check_sub_seq_len(win_sz: int, sub_seq_len: int | None) -> None:
    """A ValueError unless ``sub_seq_len`` (None: whole windows) cuts ``win_sz`` exactly."""
    if sub_seq_len is None:
        return
    check_int("sub_seq_len", sub_seq_len)
    if sub_seq_len > win_sz or win_sz % sub_seq_len != 0:
        reason = "is longer than" if sub_seq_len > win_sz else "does not divide"
        raise ValueError(
            f"sub_seq_len={sub_seq_len} {reason} win_sz={win_sz}: sub_seq_len must divide "
            f"win_sz exactly. Nearest valid sub_seq_len: "
            f"{nearest_divisors(win_sz, sub_seq_len) or 'a divisor of win_sz'}."
        )
