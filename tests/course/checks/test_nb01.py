"""Notebook 01's exercises: the self-check and the graded test agree (right and full marks,
or wrong and none, with one message naming the mistake) on the worked solution, the usual
mistakes and a call to the kit's own answer; and each reference is the kit's answer."""

import numpy as np
import pytest
import torch

import tbptt_kit as tk
from tbptt_kit.core.windows import WindowDataset
from tbptt_kit.course.checks import core, nb01
from tests.grading_support import agreement_test, solution, stub


def kit_n_windows(n_samples, win_sz, stp_sz):
    record = (np.zeros(n_samples, np.float32), np.zeros(n_samples, np.float32))
    return len(WindowDataset([record], win_sz, stp_sz))


def reversed_order(u, k):
    return [u[:, i * k : (i + 1) * k] for i in range(u.shape[1] // k)][::-1]


def batch_cut(u, k):  # slices dim 0 instead of dim 1
    return [u[i * k : (i + 1) * k] for i in range(u.shape[1] // k)]


def strided(u, k):  # every n-th step: right shapes, wrong steps
    n = u.shape[1] // k
    return [u[:, i::n] for i in range(n)]


def kit_sub_windows(u, k):
    return [b.u for b in tk.split_windows(u, u, k)]


ANSWERS = [
    ("01.1", "solution", solution("01_ex1", "n_windows"), "right, on all"),
    ("01.1", "stub", stub, "not done yet"),
    ("01.1", "past-the-end", lambda n, w, s: n // s, "run past its end"),
    ("01.1", "no-plus-one", lambda n, w, s: (n - w) // s, "one window too few"),
    ("01.1", "kit", kit_n_windows, "the kit's own answer"),
    ("01.1", "float", lambda n, w, s: (n - w) / s + 1, "not yet right"),
    ("01.2", "solution", solution("01_ex2", "sub_windows"), "right, on all"),
    ("01.2", "reversed", reversed_order, "not in time order"),
    ("01.2", "batch-cut", batch_cut, "you cut the batch dimension"),
    ("01.2", "strided", strided, "other steps than the window's"),
    ("01.2", "one-short", lambda u, k: reversed_order(u, k)[1:], "sub-windows of"),
    ("01.2", "kit", kit_sub_windows, "the kit's own answer"),
    ("01.2", "a-tensor", lambda u, k: u, "return a list of tensors"),
]


test_the_self_check_and_the_graded_test_agree_and_name_the_mistake = agreement_test(ANSWERS)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_references_are_the_kits_answers(seed):
    for case in core.all_cases(nb01.N_WINDOWS, seed):
        assert nb01.reference_n_windows(case) == kit_n_windows(*case), case
    for case in core.all_cases(nb01.SUB_WINDOWS, seed):
        (u, k) = nb01.inputs_sub_windows(case)["args"]
        kit = [
            {"shape": list(s.shape), "values": s.reshape(-1).tolist()}
            for s in kit_sub_windows(u, k)
        ]
        assert nb01.reference_sub_windows(case) == kit, case


def test_a_window_longer_than_the_record_is_no_window():
    assert nb01.reference_n_windows([99, 100, 1]) == 0
    assert nb01.reference_n_windows([100, 100, 7]) == 1
    assert torch.equal(torch.tensor(1), torch.tensor(1))  # the library is whole here
