"""Notebook 09's exercises: the self-check and the graded test agree on the worked solution,
the usual mistakes (each named) and the kit's own shard_rows; the reference is shard_rows,
and the weights make DDP's average the global mean."""

import math
import random

import pytest

from tbptt_kit.course.checks import core, nb09
from tbptt_kit.tooling.distributed import shard_rows
from tests.grading_support import agreement_test, solution, stub

RIGHT_WEIGHT = solution("09_ex2", "loss_weight")


def kit_rank_rows(bs, rank, world_size):
    rows = shard_rows(bs, rank, world_size)
    return rows.start, rows.stop


ANSWERS = [
    ("09.1", "solution", solution("09_ex1", "rank_rows"), "right, on all"),
    ("09.1", "stub", stub, "not done yet"),
    ("09.1", "slice", lambda bs, r, w: slice(r * bs // w, (r + 1) * bs // w), "right, on all"),
    ("09.1", "inclusive", lambda bs, r, w: (r * bs // w, (r + 1) * bs // w - 1), "end is one past"),
    ("09.1", "count", lambda bs, r, w: (r * bs // w, bs // w), "not the count"),
    ("09.1", "strided", lambda bs, r, w: (r * w, r * w + bs // w), "not yet right"),
    ("09.1", "kit", kit_rank_rows, "the kit's own answer"),
    ("09.1", "three", lambda bs, r, w: (0, 1, 2), "two whole numbers"),
    ("09.2", "solution", RIGHT_WEIGHT, "right, on all"),
    ("09.2", "no-world", lambda n, total, w: n / total, "multiply by world_size"),
    ("09.2", "divided", lambda n, total, w: n / total / w, "multiply by it instead"),
    ("09.2", "integer", lambda n, total, w: n * w // total, "an integer division"),
]


test_the_self_check_and_the_graded_test_agree_and_name_the_mistake = agreement_test(ANSWERS)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_rows_reference_is_shard_rows(seed):
    for case in core.all_cases(nb09.RANK_ROWS, seed):
        assert nb09.reference_rank_rows(case) == list(kit_rank_rows(*case)), case


def test_the_weights_make_ddps_average_the_global_mean():
    rng = random.Random(0)
    for world_size in (2, 3, 4):
        kept = [rng.randint(1, 20) for _ in range(world_size)]
        losses = [[rng.random() for _ in range(n)] for n in kept]
        n_total = sum(kept)
        weights = [nb09.reference_loss_weight([n, n_total, world_size]) for n in kept]
        ddp = sum(w * sum(r) / n for w, n, r in zip(weights, kept, losses)) / world_size
        assert math.isclose(ddp, sum(map(sum, losses)) / n_total, rel_tol=1e-12)
