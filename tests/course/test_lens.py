"""The gradient-by-lag lens: exact zeros past the truncation, the full gradient otherwise."""

import matplotlib
import numpy as np
import pytest
import torch

from tbptt_kit import BPTT, RNNLearner, Truncation, create_dls
from tbptt_kit.core.model import StatefulRNN
from tbptt_kit.course.lens import grad_by_lag, plot_grad_by_lag

matplotlib.use("Agg")
WIN = 60


def make_dls(sub_seq_len=None):
    rng = np.random.default_rng(0)
    u = rng.standard_normal(1200).astype(np.float32)
    y = np.convolve(u, np.exp(-np.arange(20) / 5.0))[:1200].astype(np.float32)
    return create_dls(
        (u[:900], y[:900]), (u[900:], y[900:]), bs=4, win_sz=WIN, stp_sz=10, sub_seq_len=sub_seq_len
    )


def learner(**kw):
    """A GRU learner of the mode ``kw`` names, on loaders that hand out what it needs."""
    sub = BPTT.of(**kw).loader_sub_seq_len
    return RNNLearner(make_dls(sub), "gru", 8, seed=0, progress=False, **kw)


def test_full_bptt_reaches_every_input_of_the_window():
    g = grad_by_lag(learner())
    assert g.shape == (WIN,)
    assert np.all(g > 0)


@pytest.mark.parametrize("k", [10, 20, 30])
def test_truncated_gradient_is_exactly_zero_past_the_sub_window(k):
    g = grad_by_lag(learner(sub_seq_len=k))
    assert np.all(g[:k] > 0)
    assert np.all(g[k:] == 0.0)


@pytest.mark.parametrize("k1, k2", [(10, 10), (10, 30), (20, 40)])
def test_tbptt_k1_k2_reaches_exactly_k2_back(k1, k2):
    g = grad_by_lag(learner(sub_seq_len=k1, backprop_len=k2))
    assert np.all(g[:k2] > 0)
    assert np.all(g[k2:] == 0.0)


def test_checkpointed_equals_full():
    full = grad_by_lag(learner())
    ckpt = grad_by_lag(learner(mode="checkpointed", sub_seq_len=20))
    np.testing.assert_allclose(ckpt, full, rtol=1e-5)


def last_steps_gradient(model, u, y, reach):
    """The reference, written out without the learner: the state at T - reach from a zero
    state with no graph (what truncation leaves), the last ``reach`` steps with one, and the
    gradient of the last step's mae loss by lag."""
    T = u.shape[1]
    with torch.no_grad():
        start = model(u[:, : T - reach])[1] if reach < T else None
    tail = u[:, T - reach :].clone().requires_grad_(True)
    pred, _ = model(tail, start)
    (grad,) = torch.autograd.grad((pred[:, -1] - y[:, -1]).abs().mean(), tail)
    norms = np.zeros(T, dtype=np.float32)
    norms[:reach] = grad.pow(2).sum(dim=(0, 2)).sqrt().flip(0).numpy()
    return norms


REACHES = [
    ({}, WIN),
    ({"sub_seq_len": 20}, 20),
    ({"sub_seq_len": 10, "backprop_len": 30}, 30),
    ({"mode": "checkpointed", "sub_seq_len": 20}, WIN),
]


@pytest.mark.parametrize("kw, reach", REACHES)
def test_the_lens_equals_the_gradient_written_out_by_hand(kw, reach):
    """The learner's own step (``run_windows``) and a bare model (a learner made for it) both
    give the gradient computed without the learner at all."""
    learn = learner(**kw)
    u, y = learn.dls.valid.ds[list(range(4))]
    by_hand = last_steps_gradient(learn.model, u, y, reach)
    np.testing.assert_allclose(grad_by_lag(learn), by_hand, rtol=1e-4, atol=1e-10)
    by_model = grad_by_lag(learn.model, (u, y), learn.bptt, loss_func=learn.loss_func)
    np.testing.assert_allclose(by_model, by_hand, rtol=1e-4, atol=1e-10)


def mid_run(learn, n_batches=3):
    """``learn`` stopped mid-window: a carried state, the mode's carry with its past, and
    gradients, as after ``n_batches`` training steps without the optimizer."""
    for batch in list(learn.dls.train)[:n_batches]:
        learn.batch = batch
        learn("before_batch")
        learn.one_batch()
        learn.loss.backward()
    return learn


@pytest.mark.parametrize(
    "kw",
    [
        {"sub_seq_len": 10, "backprop_len": 30},
        {"mode": "randomized", "sub_seq_len": 10, "truncation": Truncation(mean_len=8)},
    ],
)
def test_the_learner_is_left_as_found(kw):
    """The state the loop carries, the mode's carry (its past inputs, its random draws), the
    weights and their gradients: all as they were, so that the run goes on unchanged."""
    learn = mid_run(learner(**kw))
    params = [p.detach().clone() for p in learn.model.parameters()]
    grads = [p.grad.clone() for p in learn.model.parameters()]
    state, carry, loss_func = learn.hidden_state, learn.carry, learn.loss_func
    past_u, past_state = carry.past_u, carry.past_state
    draws = getattr(carry, "generator", torch.Generator()).get_state()
    assert state is not None and past_u is not None and past_u.shape[1] > 0
    grad_by_lag(learn)
    assert learn.hidden_state is state and learn.carry is carry and learn.loss_func is loss_func
    assert carry.past_u is past_u and carry.past_state is past_state
    assert torch.equal(getattr(carry, "generator", torch.Generator()).get_state(), draws)
    for p, before, g in zip(learn.model.parameters(), params, grads):
        assert torch.equal(p, before) and torch.equal(p.grad, g)
    # the control: one more step of the run does change what was checked above
    learn.one_batch()
    assert learn.hidden_state is not state and carry.past_u is not past_u


def test_another_mode_on_a_learners_model():
    g = grad_by_lag(learner(), bptt=BPTT.of(sub_seq_len=15))
    assert np.all(g[:15] > 0) and np.all(g[15:] == 0)


def test_bare_model_needs_a_batch_and_a_known_mode():
    model = StatefulRNN(hidden_size=4)
    u = torch.randn(2, 30, 1)
    assert grad_by_lag(model, (u, torch.zeros(2, 30, 1))).shape == (30,)
    with pytest.raises(ValueError, match="needs a batch"):
        grad_by_lag(model)
    with pytest.raises(ValueError, match="unknown"):
        grad_by_lag(model, (u, u), BPTT.of(mode="sideways"))
    with pytest.raises(ValueError, match="needs sub_seq_len"):
        grad_by_lag(model, (u, u), BPTT("truncated"))


def test_labels():
    assert BPTT.of().label == "full"
    assert BPTT.of(100).label == "truncated(100)"
    assert BPTT.of(100, "checkpointed").label == "checkpointed(100)"
    assert BPTT.of(100, backprop_len=200).label == "TBPTT(100, 200)"
    assert learner(sub_seq_len=10, backprop_len=20).bptt.label == "TBPTT(10, 20)"


def test_plot_marks_exact_zeros():
    g_full, g_tbptt = np.geomspace(1, 1e-6, 30), np.r_[np.geomspace(1, 1e-3, 10), np.zeros(20)]
    ax = plot_grad_by_lag({"full": g_full, "truncated(10)": g_tbptt})
    assert ax.get_yscale() == "log"
    zeros = [line for line in ax.lines if line.get_marker() == "x"]
    assert len(zeros) == 1 and len(zeros[0].get_xdata()) == 20
    assert ax.get_ylim()[0] < zeros[0].get_ydata()[0] < 1e-6  # below every non-zero value


def test_another_mode_on_a_full_bptt_models_carries_the_state_as_that_mode_does():
    """Full BPTT never carries the state; measured as truncated, the state must go on from
    one sub-window to the next, as a truncated learner's does."""
    full = learner()
    as_truncated = grad_by_lag(full, bptt=BPTT.of(sub_seq_len=20))
    truncated = learner(sub_seq_len=20)
    truncated.model.load_state_dict(full.model.state_dict())
    np.testing.assert_allclose(as_truncated, grad_by_lag(truncated), rtol=1e-6)
    assert full.hidden_state is None and full.carry is None  # left as found: nothing carried
