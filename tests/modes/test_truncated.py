"""modes/truncated.py: truncated BPTT reaches k1 steps back, TBPTT(k1, k2) (its carry
``ReRun``) exactly k2 and not k2 + 1, on windows and on streams whose rows start records
mid-stream: a row that starts a record gets no gradient from before its start, even from
inside the steps run again, and predicts what the plain loop predicts."""

import contextlib

import numpy as np
import pytest
import torch

import tbptt_kit.modes.truncated as truncated_module
from tbptt_kit import (
    BalancingChain,
    Callback,
    Learner,
    StatefulRNN,
    create_dls,
    create_dls_text,
    create_stream_dls,
    grad_by_lag_text,
    run_windows,
)
from tbptt_kit.course.bias import window_gradient
from tbptt_kit.course.run import learner_for
from tbptt_kit.modes import BPTT
from tbptt_kit.modes.truncated import ReRun


def record(n, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(n).astype(np.float32)
    return u, np.convolve(u, np.exp(-np.arange(30) / 8.0))[:n].astype(np.float32)


def model(rnn_type="gru", hidden_size=8):
    torch.manual_seed(0)
    return StatefulRNN(rnn_type=rnn_type, hidden_size=hidden_size)


def last_step_loss(bs):
    """The loss of each sub-window's last step: its gradient shows how far back it reaches."""
    return lambda pred, targ: pred.reshape(bs, -1)[:, -1].pow(2).sum()


def reach_of_each_sub_window(bptt, win_sz=200, bs=2):
    """For each sub-window, the first step its last step's loss has a gradient on, and
    whether every step from there to its end has one. Through the learner's own step."""
    u = torch.randn(bs, win_sz, 1, dtype=torch.float64, requires_grad=True)  # no underflow
    y = torch.zeros_like(u)
    learn = learner_for(model().double(), u.detach(), y, bptt, last_step_loss(bs))
    grads = []

    @contextlib.contextmanager
    def each_sub_window():
        u.grad = None  # this sub-window's gradient alone
        yield
        grads.append(u.grad[:, :, 0].abs().sum(0))

    run_windows(learn, u, y, each=each_sub_window)
    reach = []
    for i, g in enumerate(grads):
        end = (i + 1) * (bptt.sub_seq_len or win_sz)
        first = int(g.nonzero().min())
        reach.append((end - first, bool((g[first:end] > 0).all()), bool((g[end:] == 0).all())))
    return reach


@pytest.mark.parametrize("k1, k2", [(20, None), (20, 20), (20, 50), (20, 100), (25, 60), (40, 200)])
def test_the_gradient_of_every_sub_window_reaches_exactly_k2_steps_back(k1, k2):
    reach = reach_of_each_sub_window(BPTT("truncated", k1, k2))
    k2 = k2 or k1
    for i, (back, all_reached, none_after) in enumerate(reach):
        assert back == min(k2, (i + 1) * k1), f"sub-window {i} reaches {back} steps back"
        assert all_reached and none_after  # every step of its reach, and nothing later


def test_full_bptt_reaches_the_windows_start():
    (reach,) = reach_of_each_sub_window(BPTT(), win_sz=120)
    assert reach == (120, True, True)


def test_tbptt_with_k2_equal_to_k1_is_plain_truncation_bit_for_bit():
    u, y = (torch.from_numpy(a)[None, :, None].repeat(3, 1, 1) for a in record(200))
    u = u + torch.randn_like(u)  # three different windows
    net = model("lstm", 16)
    g1 = window_gradient(net, u, y, BPTT("truncated", 50))
    g2 = window_gradient(net, u, y, BPTT("truncated", 50, 50))
    g3 = window_gradient(net, u, y, BPTT("truncated", 50, 51))  # the control: one step more
    assert torch.equal(g1, g2) and not torch.equal(g1, g3)


class Past(Callback):
    """How many past inputs (k2 - k1) the carry keeps for the next sub-window, each step."""

    def __init__(self):
        self.lengths = set()

    def after_batch(self, learn):
        if learn.training:
            self.lengths.add(learn.carry.past_u.shape[1])


def test_a_k1_k2_learner_trains_as_k1_k2_and_validates():
    """Training runs TBPTT(25, 75) itself (not plain truncated(25), which it would equal if
    k2 were ignored): each step runs again up to the k2 - k1 = 50 steps before its sub-window."""

    def dls():
        return create_dls(record(3000), record(800, 1), bs=4, win_sz=200, stp_sz=50, sub_seq_len=25)

    past = Past()
    k1k2 = Learner(dls(), model("lstm"), BPTT("truncated", 25, 75), cbs=[past], seed=0)
    plain = Learner(dls(), model("lstm"), BPTT("truncated", 25), seed=0)
    before = k1k2.validate()[0]
    k1k2.fit(1, 1e-2)
    plain.fit(1, 1e-2)
    assert past.lengths == {25, 50}  # after a window's first sub-window: all 25 it has
    assert k1k2.validate()[0] < before
    weights = zip(k1k2.model.parameters(), plain.model.parameters())
    assert not all(torch.equal(a, b) for a, b in weights)  # not plain truncated BPTT


# -- streams: rows that start a record inside the steps run again ---------------------------
K1, K2 = 5, 17  # k2 > 2 k1: the steps run again reach across two earlier batch starts


def stream_learner():
    rng = np.random.default_rng(0)
    records = [(rng.standard_normal(n).astype(np.float32),) * 2 for n in (37, 12, 23, 61, 8, 18)]
    dls = create_stream_dls(records, records, bs=2, sub_seq_len=K1)
    return Learner(dls, model(), BPTT("truncated", K1, K2))


class ForgetsPastResets(ReRun):
    """The broken carry: it zeroes the rows that start where the new sub-window starts, but
    not those that started inside the steps it runs again."""

    past_resets = property(lambda self: {}, lambda self, value: None)


def stream_run(learn):
    """One validation epoch through the learner's step, a gradient taken: each batch's u
    (requiring grad), its predictions, and its reset."""
    learn.training, out = False, []
    for batch in learn.dls.valid:
        learn.batch = batch._replace(u=batch.u.clone().requires_grad_(True))
        learn("before_batch")
        learn.one_batch()
        out.append((learn.batch.u, learn.pred, batch.reset))
    return out


@pytest.mark.parametrize("forgets", [False, True])
def test_on_streams_tbptt_predicts_what_the_plain_loop_predicts_resets_included(
    forgets, monkeypatch
):
    if forgets:
        monkeypatch.setattr(truncated_module, "ReRun", ForgetsPastResets)
    got = torch.cat([pred.detach() for _, pred, _ in stream_run(stream_learner())], 1)
    plain, _ = stream_learner().predict(whole_windows=True)  # reset, carry, detach only
    resets = [b.reset for b in stream_learner().dls.valid]
    assert sum(bool(r.any() and not r.all()) for r in resets) >= 3  # rows start mid-stream
    if forgets:  # the control: a row that started inside the steps run again is wrong
        assert not torch.allclose(got, plain, atol=1e-4)
    else:
        torch.testing.assert_close(got, plain, rtol=0, atol=1e-6)


@pytest.mark.parametrize("forgets", [False, True])
def test_on_streams_the_gradient_reaches_k2_back_and_never_before_a_rows_reset(
    forgets, monkeypatch
):
    if forgets:
        monkeypatch.setattr(truncated_module, "ReRun", ForgetsPastResets)
    run = stream_run(stream_learner())
    us = [u for u, _, _ in run]
    starts = torch.stack([r for _, _, r in run], 1)  # (bs, n_batches): a record starts there
    wrong, checked = [], {"reset": 0, "k2": 0}
    for i in range(len(run)):
        end = (i + 1) * K1
        grads = torch.autograd.grad(
            run[i][1][:, -1].sum(), us[: i + 1], allow_unused=True, retain_graph=True
        )
        g = torch.cat([torch.zeros_like(u) if d is None else d for u, d in zip(us, grads)], 1)
        g = g[..., 0].abs()  # (bs, steps so far)
        for row in range(g.shape[0]):
            started = [b * K1 for b in range(i + 1) if starts[row, b]]
            first = max(end - K2, started[-1])  # the reach: k2 back, or the record's start
            reached = g[row].nonzero().flatten()
            if reached.min() != first or len(reached) != end - first:
                wrong.append((i, row, int(reached.min()), first))
            checked["reset" if first == started[-1] > end - K2 else "k2"] += 1
    assert checked["reset"] >= 5 and checked["k2"] >= 5  # both cases, often
    assert (wrong != []) == forgets  # the control: gradients from before a row's reset


def test_a_learner_trains_tbptt_k1_k2_on_streams():
    learn = stream_learner()
    before = learn.validate()[0]
    learn.fit(2, lr=1e-2)
    assert learn.validate()[0] < before


# -- what truncation misses ----------------------------------------------------------------
def test_on_the_balancing_chain_truncation_gets_the_gradients_sign_wrong():
    chain = BalancingChain(10, 4)
    u, y = torch.zeros(1, 200, 1), torch.ones(1, 200, 1)
    assert chain.best_theta == -0.25
    full = window_gradient(chain, u, y, BPTT())
    assert full.item() > 0  # at θ = 0, full BPTT lowers θ, towards θ* < 0
    assert window_gradient(chain, u, y, BPTT.of(4)).item() < 0  # truncated: the other way
    assert window_gradient(chain, u, y, BPTT.of(8)).item() < 0
    assert window_gradient(chain, u, y, BPTT("truncated", 4, 200)).item() > 0  # k2: back again


def test_the_text_gradient_is_exactly_zero_beyond_the_sub_window():
    doc = "the cat sat on the mat. " * 60
    dls = create_dls_text([doc, doc[::-1]], bs=4, sub_seq_len=16, valid_frac=0.2)
    torch.manual_seed(0)
    net = StatefulRNN(rnn_type="lstm", hidden_size=8, vocab_size=len(dls.vocab))
    learn = Learner(dls, net, BPTT.of(16))
    full = grad_by_lag_text(learn, T=32, bs=4)
    cut = grad_by_lag_text(learn, sub_seq_len=8, T=32, bs=4)
    assert full.shape == cut.shape == (32,)
    assert (full > 0).all() and (cut[:8] > 0).all() and (cut[8:] == 0).all()
    np.testing.assert_allclose(cut[:8], full[:8], rtol=1e-5)


class Steps(torch.nn.Module):
    """The model, counting the steps it runs while a gradient is taken."""

    def __init__(self, model):
        super().__init__()
        self.model, self.steps = model, 0

    def forward(self, u, state=None):
        self.steps += u.shape[1] if torch.is_grad_enabled() else 0
        return self.model(u, state)


class StepsPerSubWindow(Callback):
    def before_fit(self, learn):
        self.seen, self.before = [], 0

    def after_batch(self, learn):
        if learn.training:
            self.seen.append(learn.model.steps - self.before)
            self.before = learn.model.steps


def test_tbptt_runs_again_only_the_steps_of_its_own_window():
    """Windows of 60, k1 = 10, k2 = 25: the sub-windows run 10, 20, 25, 25, 25, 25 steps,
    the first of each window from its own start, never the last window's steps."""
    dls = create_dls(record(600), record(300, 1), bs=4, win_sz=60, stp_sz=60, sub_seq_len=10)
    counted = StepsPerSubWindow()
    learn = Learner(dls, Steps(model()), BPTT("truncated", 10, 25), cbs=[counted])
    learn.fit(1)
    assert counted.seen == [10, 20, 25, 25, 25, 25] * (len(dls.train) // 6)
