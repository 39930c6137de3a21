"""Self-checks for the exercises of notebook 09 (several processes)."""

from __future__ import annotations

from ...tooling.distributed import shard_rows
from .core import check_cases

__all__ = ["check_loss_weight", "check_rank_rows"]


def _pair(got):
    """(first, end) from a tuple, a list or a slice; anything else as it is."""
    if isinstance(got, slice):
        return got.start, got.stop
    return tuple(got) if isinstance(got, (tuple, list)) else got


def check_rank_rows(rank_rows) -> str:
    """Exercise 09.1: rank_rows(bs, rank, world_size) -> (first, end): the contiguous rows
    [first, end) of a global batch of ``bs`` rows that rank ``rank`` of ``world_size`` takes."""
    cases = [(8, 0, 2), (8, 1, 2), (12, 2, 3), (32, 5, 8), (4, 3, 4), (6, 0, 1)]
    expected = [(s.start, s.stop) for s in (shard_rows(*c) for c in cases)]
    return check_cases(
        "Exercise 1",
        lambda *a: _pair(rank_rows(*a)),
        [(c, e) for c, e in zip(cases, expected)],
        hint="each rank takes bs // world_size rows; rank r starts at r * (bs // world_size).",
    )


def check_loss_weight(loss_weight) -> str:
    """Exercise 09.2: loss_weight(n_rank, n_total, world_size): the factor for a rank's mean
    loss over its n_rank kept steps so that DDP's average over ranks is the mean over all
    n_total kept steps: n_rank * world_size / n_total."""
    cases = [(50, 100, 2), (30, 100, 2), (0, 80, 2), (25, 100, 4), (10, 10, 1), (7, 31, 3)]
    return check_cases(
        "Exercise 2",
        loss_weight,
        [(c, c[0] * c[2] / c[1]) for c in cases],
        hint="DDP divides the sum of the ranks' gradients by world_size; the global mean "
        "weighs rank r's mean by n_rank / n_total.",
    )
