"""Notebook 05's exercises: the self-check and the graded test agree on the worked solution,
the usual mistakes (each named) and the kit's own budget guard and loaders; the references are
the kit's answers."""

import math

import numpy as np
import pytest

from tbptt_kit.core.windows import WindowDataset, WindowLoader
from tbptt_kit.course.checks import core, nb05
from tbptt_kit.course.memory import MemoryBudgetExceeded, check_budget, predict_step_memory
from tbptt_kit.course.memory.budget import largest_sub_seq_len
from tbptt_kit.modes import BPTT
from tests.grading_support import agreement_test, solution, stub


def largest(fits):
    def largest_fitting_sub_seq_len(win_sz, bs, hidden_size, budget_bytes):
        found = [
            d
            for d in range(1, win_sz + 1)
            if win_sz % d == 0 and fits(win_sz, bs, hidden_size, d, budget_bytes)
        ]
        return max(found) if found else None

    return largest_fitting_sub_seq_len


def step(win_sz, bs, hidden_size, d, parts=None):
    memory = predict_step_memory("lstm", hidden_size, 1, bs, win_sz, d)
    return sum(memory[p] for p in parts or memory)


def kit_largest(win_sz, bs, hidden_size, budget_bytes):
    sizes = dict(rnn_type="lstm", hidden_size=hidden_size, num_layers=1, bs=bs)
    return largest_sub_seq_len(win_sz, budget_bytes, **sizes)


def kit_guard(win_sz, bs, hidden_size, budget_bytes):
    sizes = dict(rnn_type="lstm", hidden_size=hidden_size, num_layers=1, bs=bs, win_sz=win_sz)
    for d in sorted((d for d in range(1, win_sz + 1) if win_sz % d == 0), reverse=True):
        try:
            check_budget(budget_bytes, sub_seq_len=d, **sizes)
            return d
        except MemoryBudgetExceeded:
            continue
    return None


def kit_loader(win_sz, sub_seq_len, bs):
    record = (np.zeros(50_000, np.float32), np.zeros(50_000, np.float32))
    sub = BPTT.of(sub_seq_len).loader_sub_seq_len
    return len(WindowLoader(WindowDataset([record], win_sz, 50), bs, sub_seq_len=sub))


def steps(n_windows, n_batches):
    return lambda w, k, bs: n_batches(n_windows(w), bs) * (w // k)


ALL_WINDOWS = lambda w: (50_000 - w) // 50 + 1  # noqa: E731
ANSWERS = [
    ("05.1", "solution", solution("05_ex1", "largest_fitting_sub_seq_len"), "right, on all"),
    ("05.1", "stub", stub, "not done yet"),
    (
        "05.1",
        "strict",
        largest(lambda w, b, h, d, budget: step(w, b, h, d) < budget),
        "(<=, not <)",
    ),
    (
        "05.1",
        "activations",
        largest(lambda w, b, h, d, budget: step(w, b, h, d, ["activations"]) <= budget),
        "counts the activations only",
    ),
    (
        "05.1",
        "one-at-least",
        lambda *a: solution("05_ex1", "largest_fitting_sub_seq_len")(*a) or 1,
        "return None",
    ),
    ("05.1", "kit", kit_largest, "the kit's own answer"),
    ("05.1", "kit-guard", kit_guard, "the kit's own answer"),
    ("05.2", "solution", solution("05_ex2", "steps_per_lab_epoch"), "right, on all"),
    ("05.2", "floor", steps(ALL_WINDOWS, lambda n, bs: n // bs), "round up"),
    (
        "05.2",
        "windows-1",
        steps(lambda w: (50_000 - w) // 50, lambda n, bs: math.ceil(n / bs)),
        "count the windows again",
    ),
    ("05.2", "batches", lambda w, k, bs: math.ceil(ALL_WINDOWS(w) / bs), "that counts batches"),
    ("05.2", "kit", kit_loader, "the kit's own answer"),
]


test_the_self_check_and_the_graded_test_agree_and_name_the_mistake = agreement_test(ANSWERS)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_references_are_the_kits_answers(seed):
    for case in core.all_cases(nb05.LARGEST_FITTING, seed):
        args = nb05.LARGEST_FITTING.call(case)["args"]
        assert nb05.reference_largest_fitting_sub_seq_len(case) == kit_largest(*args), case
    for case in core.all_cases(nb05.STEPS_PER_LAB_EPOCH, seed):
        assert nb05.reference_steps_per_lab_epoch(case) == kit_loader(*case), case
