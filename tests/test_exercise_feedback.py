"""The exercise checks name the mistake where a diagnosis is easy, and test their boundaries.

Each wrong answer below is one a student really writes; the check must call it wrong and say
what is wrong with it (not only "not yet right").
"""

import math

import torch

from tbptt_kit import checks
from tbptt_kit.memory import predict_step_memory


def said(capsys) -> str:
    return capsys.readouterr().out


def test_07_1_cutting_records_across_rows_is_named(capsys):
    def cut(lengths, bs, sub_seq_len):  # the old layout: records dealt across rows
        return math.ceil(sum(math.ceil(n / sub_seq_len) for n in lengths) / bs)

    assert checks.check_batches_per_epoch(cut) == "wrong"
    assert "cut across rows" in said(capsys)


def right_start_state(state, reset, n_rows):
    if state is None or state.shape[1] != n_rows:
        return None
    return state.detach() * (~reset).to(state.dtype)[None, :, None]


def test_06_3_the_right_start_state_passes(capsys):
    assert checks.check_start_state(right_start_state) == "right"


def test_06_3_an_undetached_state_is_named(capsys):
    def attached(state, reset, n_rows):
        if state is None or state.shape[1] != n_rows:
            return None
        return state * (~reset).to(state.dtype)[None, :, None]

    assert checks.check_start_state(attached) == "wrong"
    assert "backward through the graph a second time" in said(capsys)


def test_06_3_rows_indexed_as_batch_first_are_named(capsys):
    def batch_first(state, reset, n_rows):
        if state is None or state.shape[1] != n_rows:
            return None
        state = state.detach().clone()
        state[..., reset.nonzero().flatten()] = 0  # the wrong axis
        return state

    assert checks.check_start_state(batch_first) == "wrong"
    assert "still holds the previous one's" in said(capsys)


def test_06_3_a_state_kept_for_a_smaller_batch_is_named(capsys):
    def keeps(state, reset, n_rows):
        if state is None:
            return None
        keep = torch.ones(state.shape[1])
        keep[: len(reset)] = (~reset).float()
        return state.detach() * keep[None, :, None]  # all its rows, whatever the batch

    assert checks.check_start_state(keeps) == "wrong"
    assert "Expected hidden size" in said(capsys)


def test_05_1_a_strict_comparison_fails_the_boundary(capsys):
    def strict(win_sz, bs, hidden_size, budget_bytes):
        for d in sorted((d for d in range(1, win_sz + 1) if win_sz % d == 0), reverse=True):
            if (
                sum(predict_step_memory("lstm", hidden_size, 1, bs, win_sz, d).values())
                < budget_bytes
            ):
                return d
        return None

    assert checks.check_largest_fitting_sub_seq_len(strict) == "wrong"
