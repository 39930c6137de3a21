"""Smoke mode: set TBPTT_KIT_SMOKE=1 and every notebook runs in seconds.

CI runs the whole course this way. The package, not the notebooks, does the
shrinking: Silverbox loaders keep a short stretch of each split, and ``fit`` runs
a single epoch. Nothing else changes, so the notebooks' code is the real code.
"""

from __future__ import annotations

import os

__all__ = ["SMOKE_EPOCHS", "SMOKE_SAMPLES", "is_smoke", "smoke_epochs", "smoke_samples"]

SMOKE_SAMPLES = 4000  # samples kept of the train and valid parts of a record
SMOKE_EPOCHS = 1


def is_smoke() -> bool:
    """True when the environment variable TBPTT_KIT_SMOKE is set to 1, true or yes."""
    return os.environ.get("TBPTT_KIT_SMOKE", "").strip().lower() in ("1", "true", "yes")


def smoke_epochs(n_epoch: int) -> int:
    """``n_epoch``, or fewer in smoke mode."""
    return min(n_epoch, SMOKE_EPOCHS) if is_smoke() else n_epoch


def smoke_samples(n: int) -> int:
    """``n`` samples, or fewer in smoke mode."""
    return min(n, SMOKE_SAMPLES) if is_smoke() else n
