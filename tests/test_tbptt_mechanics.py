"""The mechanics of truncated BPTT, proved on small data.

Each test here fails if the mechanism it names is broken: gradients that cross
a sub-window boundary, state that is not carried, state that leaks between windows.
"""

import numpy as np
import pytest
import torch

from tbptt_kit import Callback, RNNLearner, StatefulRNN, TbpttResetCB, create_dls


def tiny_record(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(n).astype(np.float32)
    y = np.convolve(u, np.exp(-np.arange(30) / 8.0))[:n].astype(np.float32)
    return u, y


@pytest.fixture(params=["lstm", "gru", "rnn"])
def rnn_type(request):
    return request.param


def run_sub_windows(model, u, sub_seq_len):
    """Feed u (bs, T, 1) to a stateful model as consecutive sub-windows; list of outputs."""
    model.reset_state()
    return [model(u[:, t : t + sub_seq_len]) for t in range(0, u.shape[1], sub_seq_len)]


def test_gradient_is_exactly_zero_across_a_sub_window_boundary(rnn_type):
    torch.manual_seed(0)
    model = StatefulRNN(rnn_type=rnn_type, hidden_size=8)
    u = torch.randn(3, 60, 1, requires_grad=True)
    outs = run_sub_windows(model, u, 20)
    outs[2].pow(2).sum().backward()  # the loss of the third sub-window only
    grad = u.grad[:, :, 0]
    assert torch.all(grad[:, :40] == 0), "gradient leaked into earlier sub-windows"
    assert torch.all(grad[:, 40:].abs().sum(0) > 0), "no gradient inside the sub-window"


def test_full_bptt_gradient_does_reach_earlier_steps(rnn_type):
    # The counterpart of the test above: without truncation the early inputs matter.
    torch.manual_seed(0)
    model = StatefulRNN(rnn_type=rnn_type, hidden_size=8, stateful=False)
    u = torch.randn(3, 60, 1, requires_grad=True)
    model(u)[:, 40:].pow(2).sum().backward()
    assert torch.all(u.grad[:, 30:40, 0].abs() > 0)


def test_state_is_carried_within_a_window(rnn_type):
    torch.manual_seed(0)
    model = StatefulRNN(rnn_type=rnn_type, hidden_size=8)
    u = torch.randn(2, 40, 1)
    before = run_sub_windows(model, u, 20)[1]
    u2 = u.clone()
    u2[:, :20] += 1.0  # change only the first sub-window
    after = run_sub_windows(model, u2, 20)[1]
    assert not torch.allclose(before, after), "the second sub-window did not see the first"


def loaders_with_two_windows(u, y, **kw):
    """Valid loader with back-to-back windows of 40 steps, bs 1: window 0, then window 1."""
    return create_dls((u, y), (u[:80], y[:80]), bs=1, win_sz=40, stp_sz=40, sub_seq_len=20, **kw)


def test_state_does_not_leak_across_windows():
    u, y = tiny_record()
    out = {}
    for changed in (False, True):
        u_valid = u[:80].copy()
        if changed:
            u_valid[:40] += 1.0  # change the previous window only
        dls = create_dls((u, y), (u_valid, y[:80]), bs=1, win_sz=40, stp_sz=40, sub_seq_len=20)
        lrn = RNNLearner(dls, hidden_size=8, sub_seq_len=20, seed=0, progress=False)
        pred, _ = lrn.predict()
        out[changed] = pred.reshape(2, 40)
        # Without the reset callback the state bleeds from window 0 into window 1.
        lrn.remove_cb(TbpttResetCB)
        out[changed, "no reset"] = lrn.predict()[0].reshape(2, 40)
    assert torch.equal(out[False][1], out[True][1]), "state leaked from the previous window"
    assert not torch.equal(out[False][0], out[True][0])
    assert not torch.equal(out[False, "no reset"][1], out[True, "no reset"][1])


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_sub_seq_len_equal_to_win_sz_gives_the_full_bptt_gradient(rnn_type):
    u, y = tiny_record()
    grads = {}
    for sub_seq_len in (None, 100):
        dls = create_dls((u, y), (u, y), bs=8, win_sz=100, stp_sz=50, sub_seq_len=sub_seq_len)
        lrn = RNNLearner(dls, rnn_type, 8, sub_seq_len=sub_seq_len, seed=1, progress=False)
        lrn.batch = next(iter(dls.train))
        lrn("before_batch")
        lrn.one_batch()  # not training: forward and loss only
        lrn.loss.backward()
        grads[sub_seq_len] = [p.grad.clone() for p in lrn.model.parameters()]
    for g_full, g_tbptt in zip(grads[None], grads[100], strict=True):
        assert torch.equal(g_full, g_tbptt)


class BatchLog(Callback):
    def before_fit(self, learn):
        self.log = []
        original = learn.model.reset_state

        def counting_reset():
            self.log.append("reset")
            original()

        learn.model.reset_state = counting_reset

    def before_batch(self, learn):
        b = learn.batch
        first, last = b.u[:, 0, 0].clone(), b.u[:, -1, 0].clone()
        self.log.append((b.new_window, b.sub_idx, first, last, learn.training))


def test_learner_sees_sub_windows_in_order_and_resets_once_per_window():
    t = np.arange(1000, dtype=np.float32)  # the signal is its own time index
    dls = create_dls((t, t), (t, t), bs=4, win_sz=60, stp_sz=7, sub_seq_len=20)
    log_cb = BatchLog()
    lrn = RNNLearner(dls, hidden_size=4, sub_seq_len=20, seed=0, cbs=[log_cb], progress=False)
    lrn.fit(1, 1e-4)
    # keep the training part: up to the reset before the first validation batch
    log = log_cb.log
    log = log[: next(i for i, e in enumerate(log) if e != "reset" and not e[4]) - 1]
    n_batches = dls.train.n_windows_batches
    steps = [e for e in log if e != "reset"]
    assert len(steps) == 3 * n_batches
    assert [s[1] for s in steps] == [0, 1, 2] * n_batches
    assert [s[0] for s in steps] == [True, False, False] * n_batches
    for prev, cur in zip(steps, steps[1:]):
        if cur[1] > 0:  # the next sub-window continues the same windows in time
            assert torch.equal(cur[2], prev[3] + 1)
    # exactly one reset per window batch, just before its first sub-window
    assert log.count("reset") == n_batches
    for i, e in enumerate(log):
        if e == "reset":
            assert log[i + 1][1] == 0


def test_model_copes_with_a_change_of_batch_size():
    model = StatefulRNN(hidden_size=4)
    model(torch.randn(16, 10, 1))
    assert model(torch.randn(5, 10, 1)).shape == (5, 10, 1)
    model.reset_state()
    assert model.hidden_state is None


def test_model_state_is_detached_after_each_call():
    model = StatefulRNN(hidden_size=4)
    model(torch.randn(2, 10, 1, requires_grad=True))
    h, c = model.hidden_state
    assert not h.requires_grad and not c.requires_grad
