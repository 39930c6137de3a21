"""Notebook 09's exercises (several processes), each defined once for its self-check and its
graded test."""

from __future__ import annotations

import builtins

from .core import Exercise, close, differs, reads

__builtins__ = dict(vars(builtins))  # a copy: a cell that patches builtins does not reach here

__all__ = [
    "LOSS_WEIGHT",
    "RANK_ROWS",
    "check_loss_weight",
    "check_rank_rows",
    "reference_loss_weight",
    "reference_rank_rows",
]


# -- Exercise 1: rank_rows(bs, rank, world_size) -> (first, end) ---------------------------
def reference_rank_rows(case) -> list:
    """Each row's rank worked out (row i belongs to rank i * world_size // bs): the first
    and one past the last of rank ``rank``'s rows."""
    bs, rank, world_size = case
    rows = [i for i in range(bs) if i * world_size // bs == rank]
    return [rows[0], rows[-1] + 1]


def answer_pair(result, call) -> list:
    """(first, end) from a tuple or list of two whole numbers, a slice or a range."""
    from ...tooling.grading import NotPlain, plain_whole

    what = "(first, end): two whole numbers"
    if type(result) in (slice, range) and result.step in (None, 1):
        return [plain_whole(result.start or 0, what), plain_whole(result.stop, what)]
    if type(result) not in (tuple, list) or len(result) != 2:
        raise NotPlain(f"return {what}, not {type(result).__name__} {result!r:.60}")
    return [plain_whole(v, what) for v in result]


def compare_rank_rows(got, want, case):
    if got == want:
        return None
    bs, rank, world_size = case
    first, end = want
    if got == [first, end - 1]:
        return f"you return {tuple(got)}: end is one past the last row, as in range(first, end)."
    if got == [first, end - first]:
        return f"you return {tuple(got)}: the second number is the end, not the count."
    return differs(tuple(got), tuple(want))


def draw_rank_rows(rng) -> list:
    world_size = rng.randint(1, 8)
    return [world_size * rng.randint(1, 16), rng.randint(0, world_size - 1), world_size]


RANK_ROWS = Exercise(
    key="09.1",
    func="rank_rows",
    fixed=(
        [8, 1, 2],  # the notebook's example: (4, 8)
        [8, 0, 2],
        [6, 0, 1],  # one process takes every row
        [4, 0, 4],  # one row per rank
        [4, 3, 4],  # ... and the last rank's row
        [12, 0, 3],
        [12, 1, 3],
        [12, 2, 3],
        [32, 5, 8],
        [32, 7, 8],
        [96, 4, 6],
        [30, 2, 5],
    ),
    draw=draw_rank_rows,
    reference=reference_rank_rows,
    compare=compare_rank_rows,
    answer=answer_pair,
    blocked=(
        ("shard_rows", "tbptt_kit.tooling.distributed:shard_rows"),
        ("RankShard", "tbptt_kit.tooling.distributed:RankShard"),
        ("shard_dls", "tbptt_kit.tooling.distributed:shard_dls"),
    ),
    hint="each rank takes bs // world_size rows; rank r starts at r * (bs // world_size).",
)


def check_rank_rows(rank_rows, seed: int | None = None) -> str:
    """Exercise 09.1: rank_rows(bs, rank, world_size) -> (first, end): the contiguous rows
    [first, end) of a global batch of ``bs`` rows that rank ``rank`` of ``world_size`` takes."""
    return RANK_ROWS.check(rank_rows, seed)


# -- Exercise 2: loss_weight(n_rank, n_total, world_size) ----------------------------------
def reference_loss_weight(case) -> float:
    """DDP averages the ranks' gradients (their sum over world_size); the global mean weighs
    rank r's mean by n_rank / n_total: the factor is n_rank / n_total x world_size."""
    n_rank, n_total, world_size = case
    return n_rank / n_total * world_size


def compare_loss_weight(got, want, case):
    if close(got, want, rel=1e-9, abs_=1e-12):
        return None
    n_rank, n_total, world_size = case
    if close(got, n_rank / n_total, rel=1e-9):
        return (
            f"you return {got!r}: DDP divides the sum of the ranks' gradients by world_size; "
            "multiply by world_size to undo it."
        )
    if close(got, n_rank / n_total / world_size, rel=1e-9):
        return f"you return {got!r}: DDP already divides by world_size; multiply by it instead."
    if got == n_rank * world_size // n_total:
        return f"you return {got!r}: an integer division; the weight is a fraction."
    return differs(got, want)


def draw_loss_weight(rng) -> list:
    n_total = rng.randint(1, 5000)
    return [rng.randint(0, n_total), n_total, rng.randint(1, 16)]


LOSS_WEIGHT = Exercise(
    key="09.2",
    func="loss_weight",
    fixed=(
        [30, 100, 2],  # the notebook's example: 0.6
        [50, 100, 2],  # an even split: weight 1
        [0, 80, 2],  # a rank that kept nothing: weight 0
        [80, 80, 2],  # ... and the one that kept everything
        [25, 100, 4],
        [10, 10, 1],  # one process: weight 1
        [7, 31, 3],
        [40, 64, 8],
        [1, 1000, 16],
    ),
    draw=draw_loss_weight,
    reference=reference_loss_weight,
    compare=compare_loss_weight,
    answer=reads("plain_number", "a number, the factor"),
    hint="DDP divides the sum of the ranks' gradients by world_size; the global mean "
    "weighs rank r's mean by n_rank / n_total.",
)


def check_loss_weight(loss_weight, seed: int | None = None) -> str:
    """Exercise 09.2: loss_weight(n_rank, n_total, world_size): the factor for a rank's mean
    loss over its n_rank kept steps so that DDP's average over ranks is the mean over all
    n_total kept steps."""
    return LOSS_WEIGHT.check(loss_weight, seed)
