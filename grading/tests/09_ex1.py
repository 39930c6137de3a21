# Graded test for exercise 09.1: rank_rows(bs, rank, world_size) -> (first, end).
# The reference deals the rows out in world_size equal blocks, written here; the kit's
# shard_rows and RankShard (which uses it) are switched off while the student's function runs.
from tbptt_kit import distributed  # noqa: F401 (binds shard_rows in the kit)
from tbptt_kit.checks.grading import kit_disabled

KIT_ANSWERS = ("shard_rows", "RankShard", "shard_dls")


def as_pair(got):
    """(first, end) from a tuple, a list or a slice, as the notebook's check reads it."""
    if isinstance(got, slice):
        return got.start, got.stop
    return tuple(got) if isinstance(got, (tuple, list)) else got


with kit_disabled(rank_rows, *KIT_ANSWERS):
    got = as_pair(rank_rows(8, 1, 2))
assert got == (4, 8), f"rank 1 of 2 takes rows 4, 5, 6, 7 of 8: (first, end) = (4, 8), not {got}"
# --- hidden tests ---


def reference_rank_rows(bs, rank, world_size):
    rows = [i for i in range(bs) if i * world_size // bs == rank]  # row i's rank, in blocks
    return rows[0], rows[-1] + 1


CASES = [  # (bs, rank, world_size); bs divides among the ranks
    (8, 0, 2),
    (8, 1, 2),
    (6, 0, 1),  # one process takes every row
    (4, 0, 4),  # one row per rank
    (4, 3, 4),  # ... and the last rank's row
    (12, 0, 3),
    (12, 1, 3),
    (12, 2, 3),
    (32, 5, 8),
    (32, 7, 8),
    (96, 4, 6),
    (30, 2, 5),
]
for bs, rank, world_size in CASES:
    want = reference_rank_rows(bs, rank, world_size)
    with kit_disabled(rank_rows, *KIT_ANSWERS):
        got = as_pair(rank_rows(bs, rank, world_size))
    assert got == want, f"rank_rows({bs}, {rank}, {world_size}) is not right"
for bs, world_size in ((8, 2), (12, 3), (32, 8), (6, 1)):  # the ranks share every row once
    with kit_disabled(rank_rows, *KIT_ANSWERS):
        pairs = [as_pair(rank_rows(bs, r, world_size)) for r in range(world_size)]
    taken = [row for first, end in pairs for row in range(first, end)]
    assert taken == list(range(bs)), (
        f"for bs={bs}, the {world_size} ranks must cover every row once"
    )
