"""Notebook 07's exercises: the self-check and the graded test agree on the worked solution,
the usual mistakes (round-robin and unsorted packing among them: lengths [1, 1, 10], bs 2,
give 10 batches in the loader, 11 that way) and the kit's own loader; the references are
the loader's count and its mask."""

import math

import numpy as np
import pytest

from tbptt_kit.core.streams import StreamDataset, StreamLoader, pack_records
from tbptt_kit.course.checks import core, nb07
from tests.grading_support import agreement_test, solution, stub

RIGHT = solution("07_ex1", "batches_per_epoch")


def loader(lengths, bs, k):
    records = [np.zeros((n, 1), np.float32) for n in lengths]
    return StreamLoader(StreamDataset(records, records), bs, k)


def kit_batches(lengths, bs, k):
    return len(loader(lengths, bs, k))


def kit_masked(lengths, bs, k):
    return sum(int((~b.mask).sum()) for b in loader(lengths, bs, k) if b.mask is not None)


def cut(lengths, bs, k):
    return math.ceil(sum(math.ceil(n / k) for n in lengths) / bs)


def given_order(lengths, bs, k):
    rows = [0] * bs
    for n in lengths:
        rows[rows.index(min(rows))] += math.ceil(n / k)
    return max(rows)


def round_robin(lengths, bs, k):
    rows = [0] * bs
    for i, n in enumerate(sorted(lengths, reverse=True)):
        rows[i % bs] += math.ceil(n / k)
    return max(rows)


def round_robin_given(lengths, bs, k):
    rows = [0] * bs
    for i, n in enumerate(lengths):
        rows[i % bs] += math.ceil(n / k)
    return max(rows)


def rows_in_steps(lengths, bs, k):  # packs steps, forgets each record's own padding
    rows = [0] * bs
    for n in sorted(lengths, reverse=True):
        rows[rows.index(min(rows))] += n
    return math.ceil(max(rows) / k)


def only_records(lengths, bs, k):
    return sum(math.ceil(n / k) * k - n for n in lengths)


def only_idle_rows(lengths, bs, k):
    return bs * RIGHT(lengths, bs, k) * k - sum(math.ceil(n / k) * k for n in lengths)


ANSWERS = [
    ("07.1", "solution", RIGHT, "right, on all"),
    ("07.1", "stub", stub, "not done yet"),
    ("07.1", "cut", cut, "cut across rows"),
    ("07.1", "given-order", given_order, "not in the order given, not in turns"),
    ("07.1", "round-robin", round_robin, "not in the order given, not in turns"),
    ("07.1", "round-robin-given", round_robin_given, "not in the order given, not in turns"),
    ("07.1", "steps", rows_in_steps, "padded to whole sub-windows on its own"),
    ("07.1", "kit", kit_batches, "the kit's own answer"),
    (
        "07.1",
        "kit-pack",
        lambda lens, bs, k: pack_records(lens, range(len(lens)), bs, k)[1],
        "the kit's own answer",
    ),
    ("07.2", "solution", solution("07_ex2", "masked_steps"), "right, on all"),
    (
        "07.2",
        "cut",
        lambda lens, bs, k: bs * cut(lens, bs, k) * k - sum(lens),
        "cuts records across rows",
    ),
    ("07.2", "only-records", only_records, "only each record's own padding"),
    ("07.2", "only-idle", only_idle_rows, "only the idle rows' steps"),
    ("07.2", "kit", kit_masked, "the kit's own answer"),
]


test_the_self_check_and_the_graded_test_agree_and_name_the_mistake = agreement_test(ANSWERS)


def test_round_robin_and_unsorted_packing_count_one_more_than_the_loader():
    assert kit_batches([1, 1, 10], 2, 1) == RIGHT([1, 1, 10], 2, 1) == 10
    assert given_order([1, 1, 10], 2, 1) == round_robin_given([1, 1, 10], 2, 1) == 11
    assert [1, 1, 10] in [case[0] for case in nb07.BATCHES_PER_EPOCH.fixed]


@pytest.mark.parametrize("seed", range(5))
def test_the_references_are_the_loaders_count_and_mask(seed):
    for case in core.all_cases(nb07.BATCHES_PER_EPOCH, seed):
        assert nb07.reference_batches_per_epoch(case) == kit_batches(*case), case
    for case in core.all_cases(nb07.MASKED_STEPS, seed):
        assert nb07.reference_masked_steps(case) == kit_masked(*case), case
