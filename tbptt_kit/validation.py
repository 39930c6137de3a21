"""The kit's one layer of input checks: every public entry point checks its arguments here.

Each check raises the kit's own error, naming the argument, the value it got and what is
valid: a ``TypeError`` for the wrong kind of value, a ``ValueError`` for a value out of range.
Numbers may be Python's or numpy's (``np.int64(3)``, ``np.float32(0.5)``); bools are refused
where a number is meant. Signals are checked for shape, length and finiteness, so that a
function never trims, broadcasts or pads its way to a wrong number.
"""

from __future__ import annotations

import os

import numpy as np

from .core.checks import check_int, check_number, check_sub_seq_len, divisors, nearest_divisors

__all__ = [
    "check_paths",
    "check_precision",
    "check_seed",
    "check_units",
    "as_signal",
    "check_channels",
    "check_int",
    "check_number",
    "check_positive",
    "check_record_channels",
    "check_same_length",
    "check_sub_seq_len",
    "divisors",
    "nearest_divisors",
]


# -- numbers and lengths: the core's own checks (``core/checks.py``), one copy --------------
def check_positive(name: str, value, kind=(int, float)) -> float | int:
    """A number > 0 and finite; ``kind=int`` asks for a whole number (numpy scalars taken)."""
    if kind is int:
        return check_int(name, value, minimum=1)
    return check_number(name, value, 0.0, low_open=True)


# -- signals -------------------------------------------------------------------------------
def as_signal(a, name: str) -> np.ndarray:
    """A record's signal (T,) or (T, n) as a finite float32 array (T, n); ValueError naming
    ``name`` for another shape, a non-numeric dtype, or NaN/Inf (with the first sample)."""
    try:
        a = np.asarray(a)
        if a.dtype.kind not in "biuf":
            raise ValueError
        with np.errstate(over="ignore", invalid="ignore"):
            a32 = a.astype(np.float32, copy=False)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be an array of real numbers, (T,) or (T, n), got dtype "
            f"{getattr(a, 'dtype', type(a).__name__)}."
        ) from None
    if a.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D (T,) or 2-D (T, n), got shape {a.shape}.")
    a, a32 = (a[:, None], a32[:, None]) if a.ndim == 1 else (a, a32)
    for values, what in ((a, "NaN or Inf"), (a32, "values beyond float32's range (3.4e38)")):
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(
                f"{name} contains {what} (first at sample {int(np.argwhere(bad)[0][0])}); "
                f"clean the data before training."
            )
    if len(a):
        wide = a.astype(np.float64, copy=False)  # the values as given, before the float32 cast
        check_precision(name, wide.mean(0), wide.std(0))
    return a32


# float32 steps per standard deviation a signal needs: fewer, and rounding each value to
# float32 (what the model computes in) moves it by more than 1/1000 of the signal's spread.
MIN_STEPS_PER_STD = 1000


def check_precision(name: str, mean, std) -> None:
    """A ValueError when float32 cannot hold a signal's variation: per channel, the float32
    step at |mean| + std must be at most std / MIN_STEPS_PER_STD. A signal far from zero
    (1e7 + small changes) would be rounded to a few values, and the loss, computed in
    float32 in the signal's units, would measure the rounding. Constant channels pass."""
    mean, std = np.atleast_1d(np.abs(mean)), np.atleast_1d(std)
    step = np.spacing((mean + std).astype(np.float32)).astype(np.float64)
    bad = (std > 0) & (step * MIN_STEPS_PER_STD > std)
    if bad.any():
        c = int(np.argmax(bad))
        raise ValueError(
            f"{name} channel {c} varies by {std[c]:.3g} (std) around {mean[c]:.6g}: the model "
            f"computes in float32, whose steps there are {step[c]:.3g}, {std[c] / step[c]:.3g} "
            f"per std (at least {MIN_STEPS_PER_STD} needed): precision lost. Subtract the "
            f"offset first (e.g. x - x.mean(0)) so that the signal varies around zero."
        )


def check_same_length(name_u: str, n_u: int, name_y: str, n_y: int) -> None:
    """ValueError unless two signals that belong together have the same number of samples."""
    if n_u != n_y:
        raise ValueError(
            f"{name_u} and {name_y} differ in length ({n_u} vs {n_y} samples): every input "
            f"sample needs its output sample."
        )


def check_channels(name: str, got: int, expected: int, whose: str) -> None:
    """ValueError unless ``name`` has ``expected`` channels (as ``whose`` has)."""
    if got != expected:
        raise ValueError(
            f"{name} has {got} channel(s), but {whose} has {expected}: every record needs the "
            f"same channels."
        )


def check_record_channels(train, valid, test: dict) -> None:
    """ValueError unless every record has the first train record's (n_u, n_y) channels.
    train, valid: (list of u, list of y); test: name -> (u, y); each u, y (T, n)."""
    parts = [("train", *train), ("valid", *valid)]
    parts += [(f"test {name!r}", [u], [y]) for name, (u, y) in test.items()]
    if not train[0]:
        return  # no train record: the caller says so
    want = (train[0][0].shape[1], train[1][0].shape[1])
    for what, us, ys in parts:
        for i, (u, y) in enumerate(zip(us, ys)):
            if (u.shape[1], y.shape[1]) != want:
                raise ValueError(
                    f"{what} record {i} has (n_u, n_y) = {(u.shape[1], y.shape[1])} channels, "
                    f"but train record 0 has {want}: every record needs the same channels."
                )


def check_seed(seed, name: str = "seed") -> int:
    """``seed`` as an int: a TypeError or ValueError unless it is a non-negative int (numpy's
    too). The same seed, the same run."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{name} must be a non-negative int, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"{name} must be a non-negative int, got {seed}")
    return int(seed)


def check_units(units) -> tuple[str, float]:
    """``units``, how scores are shown: a pair (name, factor) with a name (str) and a finite
    factor > 0 from the signal's unit, e.g. ("mV", 1e3) for volts. A factor <= 0 would give
    negative or zero scores; the factor is returned as a float."""
    if not isinstance(units, (tuple, list)) or len(units) != 2 or not isinstance(units[0], str):
        raise TypeError(
            f"units must be a pair (name, factor), e.g. ('mV', 1e3) for volts shown in "
            f"millivolts, got {units!r}."
        )
    try:
        factor = check_number("units factor", units[1], 0, low_open=True)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{err} units={units!r}: the factor scales every score.") from None
    return units[0], factor


def check_paths(**paths) -> None:
    """A TypeError for each given path that is not a str or Path (None: not given)."""
    for name, value in paths.items():
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"{name} must be a str or Path, got {type(value).__name__} {value!r}")
