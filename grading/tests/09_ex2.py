# Graded test for exercise 09.2: loss_weight(n_rank, n_total, world_size).
# The reference is n_rank / n_total x world_size, written here, and a simulation of DDP's
# average over ranks checks the student's weights give the global mean (the kit computes the
# weight inside DistributedCB only, in no function of its own: nothing to switch off).
import math

got = loss_weight(30, 100, 2)
assert math.isclose(float(got), 0.6), (
    f"a rank with 30 of 100 kept steps, out of 2 ranks, weighs its mean by 0.6, not {got!r}"
)
# --- hidden tests ---
import random


def reference_loss_weight(n_rank, n_total, world_size):
    return n_rank / n_total * world_size


CASES = [  # (n_rank, n_total, world_size)
    (50, 100, 2),  # an even split: weight 1
    (30, 100, 2),
    (0, 80, 2),  # a rank that kept nothing: weight 0
    (80, 80, 2),  # ... and the one that kept everything
    (25, 100, 4),
    (10, 10, 1),  # one process: weight 1
    (7, 31, 3),
    (40, 64, 8),
    (1, 1000, 16),
]
for n_rank, n_total, world_size in CASES:
    want = reference_loss_weight(n_rank, n_total, world_size)
    got = loss_weight(n_rank, n_total, world_size)
    assert math.isclose(float(got), want, rel_tol=1e-6, abs_tol=1e-9), (
        f"loss_weight({n_rank}, {n_total}, {world_size}) is not right"
    )

rng = random.Random(0)  # DDP itself: the mean over ranks of weight x mean = the global mean
for world_size in (2, 3, 4):
    kept = [rng.randint(1, 20) for _ in range(world_size)]
    losses = [[rng.random() for _ in range(n)] for n in kept]
    n_total = sum(kept)
    ddp = sum(loss_weight(n, n_total, world_size) * sum(r) / n for n, r in zip(kept, losses))
    global_mean = sum(map(sum, losses)) / n_total
    assert math.isclose(ddp / world_size, global_mean, rel_tol=1e-6), (
        f"with {world_size} ranks keeping {kept} steps, DDP's average is not the global mean"
    )
