"""How the gradient flows back in time: the modes beyond the loop's own truncation.

``BPTT`` (``bptt.py``) describes a mode; each mode is a class here that owns its carry:
``truncated.py`` (full BPTT, truncated BPTT, TBPTT(k1, k2)), ``checkpointed.py``,
``randomized.py`` (ARTBP). ``rtrl.py`` computes the exact gradient forward in time instead
(for comparison: it is not a way to train here). Only this folder knows the modes apart.
"""

from .bptt import BPTT, MODES
from .randomized import Truncation, scale_grad
from .rtrl import check_rtrl, influence_bytes, rtrl_gradient

__all__ = [
    "BPTT",
    "MODES",
    "Truncation",
    "check_rtrl",
    "influence_bytes",
    "rtrl_gradient",
    "scale_grad",
]
