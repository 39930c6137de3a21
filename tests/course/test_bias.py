"""Bias and variance of a gradient estimate against full BPTT's (``course/bias.py``): the
gradient of a batch of windows as each mode computes it, independent draws of a randomized
mode (``bptt.draw(i)``), the bias of truncation that averaging keeps, the error of ARTBP's
mean that falls with the draws, and influence balancing trained in every mode."""

import numpy as np
import pytest
import torch

from tbptt_kit import BPTT, Truncation
from tbptt_kit.core.model import StatefulRNN, detach_state
from tbptt_kit.course.bias import (
    bias_variance,
    cosine,
    error_by_draws,
    fit_balancing,
    relative_error,
    window_gradient,
)

WIN = 24
ARTBP = BPTT("randomized", 4, truncation=Truncation(mean_len=6, seed=0))


@pytest.fixture(scope="module")
def case():
    """A small LSTM in float64, fixed weights, and a batch of 3 windows of 24 steps."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    u = torch.randn(3, WIN, 1, generator=g, dtype=torch.float64)
    y = torch.randn(3, WIN, 1, generator=g, dtype=torch.float64)
    return StatefulRNN(1, 1, "lstm", 6).double(), u, y


def by_hand(model, u, y, sub_seq_len):
    """The gradient of sum((pred - y)²) / numel written out: sub-windows of ``sub_seq_len``
    in time order, the state carried and detached between them, the gradients summed."""
    model.zero_grad()
    state = None
    for t in range(0, WIN, sub_seq_len):
        pred, state = model(u[:, t : t + sub_seq_len], state)
        ((pred - y[:, t : t + sub_seq_len]).pow(2).sum() / y.numel()).backward()
        state = detach_state(state)
    grad = torch.cat([p.grad.flatten() for p in model.parameters()])
    model.zero_grad(set_to_none=True)
    return grad


# -- window_gradient ------------------------------------------------------------------------
def test_the_window_gradient_is_the_gradient_written_out(case):
    model, u, y = case
    full = window_gradient(model, u, y, BPTT())
    torch.testing.assert_close(full, by_hand(model, u, y, WIN))
    truncated = window_gradient(model, u, y, BPTT.of(6))
    torch.testing.assert_close(truncated, by_hand(model, u, y, 6))
    assert relative_error(truncated, full) > 0.01  # the control: truncation changes it
    checkpointed = window_gradient(model, u, y, BPTT.of(6, mode="checkpointed"))
    assert relative_error(checkpointed, full) < 1e-12  # full BPTT's gradient, by chunks


def test_the_window_gradient_leaves_the_model_as_found(case):
    model, u, y = case
    weights = [p.detach().clone() for p in model.parameters()]
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)  # gradients already there, e.g. mid-step
    model.eval()
    window_gradient(model, u, y, ARTBP)
    assert not model.training
    for p, w in zip(model.parameters(), weights):
        assert torch.equal(p, w) and bool((p.grad == 7.0).all())
        p.grad = None
    model.train()


def test_draws_of_a_randomized_mode_are_seeded_and_independent(case):
    model, u, y = case
    first, again = (window_gradient(model, u, y, ARTBP.draw(0)) for _ in range(2))
    second = window_gradient(model, u, y, ARTBP.draw(1))
    assert torch.equal(first, again)  # the same draw, the same cuts: the same gradient
    assert relative_error(second, first) > 1e-3  # another draw, other cuts
    assert ARTBP.draw(1).truncation.seed == ARTBP.truncation.seed + 1
    exact = BPTT.of(6)
    assert exact.draw(5) is exact  # an exact mode has nothing to draw


# -- bias_variance and error_by_draws -------------------------------------------------------
def test_truncation_keeps_its_bias_where_the_mean_of_artbp_draws_loses_it(case):
    model, u, y = case
    modes = {"truncated(4)": BPTT.of(4), "checkpointed(8)": BPTT.of(8, mode="checkpointed")}
    rows = bias_variance(model, u, y, modes | {"ARTBP": ARTBP}, n_draws=(1, 32))
    by = {(r["label"], r["M"]): r for r in rows}
    assert len(rows) == 6 and set(rows[0]) == {"label", "M", "rel_error", "cosine", "rel_variance"}
    trunc = by["truncated(4)", 1]
    assert trunc["rel_error"] == by["truncated(4)", 32]["rel_error"] > 0.05  # averaging: no help
    assert trunc["rel_variance"] == pytest.approx(trunc["rel_error"] ** 2)  # all of it bias
    assert (
        by["checkpointed(8)", 1]["rel_error"] < 1e-12 and by["checkpointed(8)", 1]["cosine"] > 0.999
    )
    artbp_1, artbp_32 = by["ARTBP", 1]["rel_error"], by["ARTBP", 32]["rel_error"]
    assert artbp_32 < artbp_1 / 2 and artbp_32 < trunc["rel_error"]
    assert by["ARTBP", 1]["rel_variance"] > artbp_32**2  # the price: a variance per draw


def test_error_by_draws_averages_independent_sets_of_draws(case):
    model, u, y = case
    exact = window_gradient(model, u, y, BPTT())
    one_set = error_by_draws(model, u, y, ARTBP, 4)
    assert one_set.shape == (4,)
    first = window_gradient(model, u, y, ARTBP.draw(0))
    assert one_set[0] == pytest.approx(relative_error(first, exact))
    two_sets = error_by_draws(model, u, y, ARTBP, 4, n_repeats=2)
    second_set = error_by_draws(model, u, y, ARTBP.draw(4), 4)  # draws 4 ... 7
    np.testing.assert_allclose(two_sets, (one_set + second_set) / 2, rtol=1e-12)
    assert not np.allclose(second_set, one_set)  # the second set draws other cuts


def test_relative_error_and_cosine():
    g = torch.tensor([3.0, 4.0])
    assert relative_error(g, g) == 0 and relative_error(torch.zeros(2), g) == 1
    assert cosine(2 * g, g) == pytest.approx(1) and cosine(torch.tensor([-4.0, 3.0]), g) == 0


# -- fit_balancing --------------------------------------------------------------------------
def test_truncation_trains_balancing_the_wrong_way_and_full_bptt_the_right_way():
    """θ starts at 0, θ* = -0.25: truncated(4) sees only the short, positive influence and
    moves θ up, away from θ*; full BPTT sees the balance and moves it down, towards θ*."""
    kw = dict(n_epoch=1, win_sz=100, n_windows=4)
    truncated, full = fit_balancing(BPTT.of(4), **kw), fit_balancing(BPTT(), **kw)
    assert truncated["best_theta"] == full["best_theta"] == pytest.approx(-0.25)
    assert truncated["theta"] > 0 > full["theta"] > -0.25
    assert (truncated["label"], full["label"]) == ("truncated(4)", "full")
    assert truncated["steps_per_update"] == 4 and full["steps_per_update"] == 100
    k2 = fit_balancing(BPTT.of(4, backprop_len=12), **kw)
    assert 4 < k2["steps_per_update"] <= 12  # each sub-window runs the 8 steps before it again
