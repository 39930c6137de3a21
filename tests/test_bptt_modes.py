"""Three ways to backpropagate: full, truncated (incl. TBPTT(k1, k2)) and checkpointed."""

import contextlib

import numpy as np
import pytest
import torch

from tbptt_kit import BPTT, Callback, RNNLearner, create_dls


def record(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(n).astype(np.float32)
    return u, np.convolve(u, np.exp(-np.arange(30) / 8.0))[:n].astype(np.float32)


def make_dls(win_sz=200, sub_seq_len=None, bs=4):
    return create_dls(
        record(), record(800, 1), bs=bs, win_sz=win_sz, stp_sz=50, sub_seq_len=sub_seq_len
    )


class KeepGrads(Callback):
    """Keeps the parameters' gradients after each (sub-)batch."""

    def after_batch(self, learn):
        self.grads = [p.grad.clone() for p in learn.model.parameters()]


def grads_of_first_batch(lrn):
    """Gradients after all (sub-)batches of the first batch of windows, the learner's own step."""
    keep = KeepGrads()
    lrn.add_cb(keep)
    u, y = lrn.dls.train.ds[list(range(lrn.dls.train.bs))]
    lrn.run_windows(u, y)
    return keep.grads


@pytest.mark.parametrize("rnn_type", ["lstm", "gru", "rnn"])
def test_checkpointed_gradient_equals_full_bptt(rnn_type):
    full = RNNLearner(make_dls(), rnn_type, 16, seed=0, progress=False)
    ckpt = RNNLearner(
        make_dls(), rnn_type, 16, sub_seq_len=50, bptt="checkpointed", seed=0, progress=False
    )
    assert ckpt.bptt == BPTT("checkpointed", 50) and full.bptt == BPTT("full")
    for g_full, g_ckpt in zip(grads_of_first_batch(full), grads_of_first_batch(ckpt)):
        rel = (g_full - g_ckpt).norm() / g_full.norm()
        assert rel < 1e-5


def test_tbptt_k1_k2_with_k1_equal_k2_is_plain_tbptt():
    plain = RNNLearner(make_dls(sub_seq_len=50), "lstm", 16, sub_seq_len=50, seed=0, progress=False)
    k1k2 = RNNLearner(
        make_dls(sub_seq_len=50), "lstm", 16, sub_seq_len=50, bptt_len=50, seed=0, progress=False
    )
    assert plain.bptt == BPTT("truncated", 50) and k1k2.bptt == BPTT("truncated", 50, 50)
    for g1, g2 in zip(grads_of_first_batch(plain), grads_of_first_batch(k1k2)):
        assert torch.equal(g1, g2)


@pytest.mark.parametrize("k1, k2", [(20, 20), (20, 50), (20, 100), (25, 60)])
def test_tbptt_k1_k2_gradient_reaches_exactly_k2_steps_back(k1, k2):
    dls = make_dls(win_sz=200, sub_seq_len=k1)
    lrn = RNNLearner(
        dls,
        "gru",
        8,
        sub_seq_len=k1,
        bptt_len=k2,
        seed=0,
        progress=False,
        loss_func=lambda pred, targ: pred[:, -1].pow(2).sum(),
    )  # last step only
    u = torch.randn(2, 200, 1, requires_grad=True)
    y = torch.zeros(2, 200, 1)

    @contextlib.contextmanager
    def only_this_sub_window():
        u.grad = None  # keep the gradient of the last sub-window's loss alone
        yield

    lrn.run_windows(u, y, each=only_this_sub_window)
    end = 200  # the loss is the last step's: it sees steps end - k2 ... end - 1
    reached = (u.grad[:, :, 0].abs().sum(0) > 0).nonzero().flatten()
    assert reached.min().item() == end - k2
    assert reached.max().item() == end - 1
    assert torch.all(u.grad[:, : end - k2] == 0)


class History(Callback):
    """How many past inputs (k2 - k1) the model keeps for the next span, at each training step."""

    def __init__(self):
        self.lengths = set()

    def after_batch(self, learn):
        if learn.training and learn.model.past_u is not None:
            self.lengths.add(learn.model.past_u.shape[1])


def test_k1_k2_learner_trains_as_k1_k2_and_validates():
    """Training runs TBPTT(25, 75) itself (not plain truncated(25), which it would equal if
    k2 were ignored): each step re-runs up to the k2 - k1 = 50 steps before its sub-window."""
    history = History()
    lrn = RNNLearner(make_dls(sub_seq_len=25), "lstm", 8, sub_seq_len=25, bptt_len=75, seed=0,
                     progress=False, cbs=[history])  # fmt: skip
    plain = RNNLearner(make_dls(sub_seq_len=25), "lstm", 8, sub_seq_len=25, seed=0, progress=False)
    before = lrn.validate()[0]
    lrn.fit(2, 1e-2)
    plain.fit(2, 1e-2)
    assert history.lengths == {25, 50}  # after a window's first sub-window: all 25 it has
    assert lrn.validate()[0] < before
    weights = zip(lrn.model.parameters(), plain.model.parameters())
    assert not all(torch.equal(a, b) for a, b in weights)  # not plain truncated BPTT


@pytest.mark.parametrize(
    "kw, pattern",
    [
        (
            {"bptt": "sideways", "sub_seq_len": 50},
            r"bptt='sideways' is unknown.*'full', 'truncated', 'checkpointed'",
        ),
        ({"bptt": "checkpointed"}, r"bptt='checkpointed' needs sub_seq_len"),
        ({"sub_seq_len": 50, "bptt_len": 20}, r"bptt_len=20 must be an int >= sub_seq_len=50"),
    ],
)
def test_bad_bptt_arguments(kw, pattern):
    dls = make_dls(sub_seq_len=kw.get("sub_seq_len") if kw.get("bptt") is None else None)
    with pytest.raises(ValueError, match=pattern):
        RNNLearner(dls, hidden_size=4, progress=False, **kw)


def test_checkpointed_peak_memory_is_at_most_a_quarter_of_full_bptt_at_win_sz_5000():
    from tbptt_kit.memory import measure_memory

    rng = np.random.default_rng(0)
    u = rng.standard_normal(12000).astype(np.float32)
    dls = create_dls((u, u), (u, u), bs=16, win_sz=5000, stp_sz=1000)
    full = RNNLearner(dls, "lstm", 40, seed=0, progress=False, act_mem=False)
    ckpt = RNNLearner(
        dls, "lstm", 40, sub_seq_len=100, bptt="checkpointed", seed=0, progress=False, act_mem=False
    )
    batch = next(iter(dls.train))
    peak_full = measure_memory(full, batch).peak_bytes
    peak_ckpt = measure_memory(ckpt, batch).peak_bytes
    assert peak_ckpt <= peak_full / 4, (peak_full, peak_ckpt)
