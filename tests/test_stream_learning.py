"""The stream layout through the learner: RNNLearner on create_stream_dls and create_dls_text.

The state carries across batches and never across a reset, a row's reset touches only its
row, no gradient crosses a batch boundary, one stream over one record is window TBPTT over
the whole record, and a text model trains with logits (bs, T, V) against ids (bs, T).
"""

import math

import numpy as np
import pytest
import torch

import tbptt_kit as tk
from tbptt_kit import bptt as bptt_module


def records(lengths, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for n in lengths:
        u = rng.standard_normal(n).astype(np.float32)
        out.append((u, np.convolve(u, [0.5, 0.3, 0.2])[:n].astype(np.float32)))
    return out


def learner(dls, **kw):
    kw = dict(hidden_size=6, sub_seq_len=dls.sub_seq_len, seed=0, progress=False) | kw
    return tk.RNNLearner(dls, "gru", **kw)


class StateLog(tk.Callback):
    """The model's state just before and just after TbpttResetCB acts, each batch."""

    def __init__(self):
        self.before, self.after = [], []

    order = -15  # before TbpttResetCB (-10)

    def before_batch(self, learn):
        self.before.append(learn.model.hidden_state)


class AfterReset(tk.Callback):
    order = -5

    def __init__(self, log):
        self.log = log

    def before_batch(self, learn):
        self.log.after.append(learn.model.hidden_state)


def test_predictions_carry_the_state_across_batches_and_start_fresh_at_each_record():
    recs = records([47, 30, 23])  # one stream: the three records one after another
    dls = tk.create_stream_dls(recs, recs, bs=1, sub_seq_len=10)
    learn = learner(dls)
    pred, _ = learn.predict(dls.valid)  # (n_real_steps, 1), padding left out
    with torch.no_grad():  # each record whole, from a zero state
        whole = [
            learn.model.forward_from(torch.from_numpy(u)[None, :, None])[0][0] for u, _ in recs
        ]
    torch.testing.assert_close(pred, torch.cat(whole), atol=1e-5, rtol=1e-5)
    learn.model.reset_state()
    # Without the per-row resets the second record starts from the first one's state.
    learn.remove_cb(tk.TbpttResetCB)
    leaked, _ = learn.predict(dls.valid)
    assert not torch.allclose(leaked[47:77], whole[1], atol=1e-3)


def test_a_masked_reset_zeroes_exactly_its_rows_of_the_state():
    recs = records([37, 80, 55, 64, 19])
    dls = tk.create_stream_dls(recs, recs, bs=3, sub_seq_len=10)
    log = StateLog()
    learn = learner(dls, cbs=[log, AfterReset(log)])
    learn.predict(dls.valid)
    seen_partial = 0
    for batch, before, after in zip(dls.valid, log.before, log.after):
        if batch.reset.all():
            assert after is None
            continue
        reset = batch.reset
        assert torch.equal(after[:, reset], torch.zeros_like(after[:, reset]))
        assert torch.equal(after[:, ~reset], before[:, ~reset])  # untouched, bit for bit
        if reset.any():  # a reset that matters: those rows held a state
            assert before[:, reset].abs().sum() > 0
        seen_partial += bool(reset.any() and not reset.all())
    assert seen_partial >= 2


@pytest.mark.parametrize("detach", [True, False])
def test_batch_i_plus_1s_loss_has_exactly_zero_gradient_wrt_batch_is_inputs(detach, monkeypatch):
    if not detach:  # the control: the same code without the truncation does reach back
        monkeypatch.setattr(bptt_module, "detach_state", lambda s: s)
    recs = records([200, 200])
    dls = tk.create_stream_dls(recs, recs, bs=2, sub_seq_len=20)
    learn = learner(dls)
    learn.training = False
    batches = iter(dls.train)
    grads = []
    for _ in range(2):
        learn.batch = next(batches)
        learn.batch.u.requires_grad_(True)
        learn("before_batch")
        learn.one_batch()
        grads.append(learn.batch.u)
    (g,) = torch.autograd.grad(learn.loss, grads[0], allow_unused=True)
    if detach:
        assert g is None or torch.count_nonzero(g) == 0
    else:
        assert g is not None and g.abs().sum() > 0


def test_one_stream_over_one_record_trains_exactly_as_window_tbptt_over_the_record():
    (u, y), k, n = records([600])[0], 50, 600
    streams = tk.create_stream_dls((u, y), (u, y), bs=1, sub_seq_len=k)
    windows = tk.create_dls((u, y), (u, y), bs=1, win_sz=n, stp_sz=n, sub_seq_len=k)
    runs = []
    for dls in (streams, windows):
        learn = learner(dls, n_skip=5)
        learn.fit(2, lr=1e-2)
        runs.append((learn.recorder.losses, learn.validate(), learn.model.state_dict()))
    (l1, v1, w1), (l2, v2, w2) = runs
    assert len(l1) == len(l2) == 2 * n // k
    np.testing.assert_allclose(l1, l2, rtol=1e-4)
    np.testing.assert_allclose(v1, v2, rtol=1e-4)
    for name in w1:
        torch.testing.assert_close(w1[name], w2[name], atol=1e-5, rtol=1e-4)


def test_n_skip_leaves_out_the_first_steps_after_each_rows_reset_and_the_padding():
    recs = records([25, 42, 33])
    dls = tk.create_stream_dls(recs, recs, bs=2, sub_seq_len=10)
    learn = learner(dls, n_skip=3)
    pred, targ = learn.predict(dls.valid)
    # every record loses its first 3 steps, nothing else (a record split between streams
    # loses 3 more at its second part's start)
    starts = sum(int(b.reset.sum()) for b in dls.valid)
    assert len(pred) == sum(len(u) for u, _ in recs) - 3 * starts


@pytest.fixture(scope="module")
def text_dls():
    doc = "the cat sat on the mat. " * 60
    return tk.create_dls_text([doc, doc[::-1]], bs=4, sub_seq_len=16, valid_frac=0.2)


def test_a_text_learner_takes_its_vocabulary_and_cross_entropy_from_the_loaders(text_dls):
    learn = tk.RNNLearner(text_dls, hidden_size=16, sub_seq_len=16, metrics=[tk.bits_per_char],
                          seed=0, progress=False)  # fmt: skip
    assert learn.model.vocab_size == len(text_dls.vocab) and learn.loss_func is tk.cross_entropy
    pred, targ = learn.predict()
    n_valid = sum(len(x) for x in text_dls.valid.ds.y)
    assert pred.shape == (n_valid, len(text_dls.vocab)) and targ.shape == (n_valid,)
    before = learn.validate()
    assert before[1] == pytest.approx(before[0] / math.log(2), rel=1e-5)
    learn.fit(3, lr=1e-2)
    after = learn.validate()
    assert after[1] < before[1] - 0.5  # bits per character fall
    text = tk.sample_text(learn.model, text_dls.vocab, "the ", n_chars=30, seed=1)
    assert text == tk.sample_text(learn.model, text_dls.vocab, "the ", n_chars=30, seed=1)


def test_the_text_lens_is_exactly_zero_beyond_the_sub_window(text_dls):
    learn = tk.RNNLearner(text_dls, hidden_size=8, sub_seq_len=16, seed=0, progress=False)
    full = tk.grad_by_lag_text(learn, T=32, bs=4)
    cut = tk.grad_by_lag_text(learn, sub_seq_len=8, T=32, bs=4)
    assert full.shape == cut.shape == (32,)
    assert (full > 0).all() and (cut[:8] > 0).all() and (cut[8:] == 0).all()
    np.testing.assert_allclose(cut[:8], full[:8], rtol=1e-5)


def test_text_learners_refuse_what_does_not_fit(text_dls):
    with pytest.raises(ValueError, match="vocab_size=5 differs"):
        tk.RNNLearner(text_dls, sub_seq_len=16, vocab_size=5, progress=False)
    with pytest.raises(ValueError, match="loss_func=mae"):
        tk.RNNLearner(text_dls, sub_seq_len=16, loss_func=tk.mae, progress=False)
    signals = tk.create_stream_dls(records([100])[0], records([100])[0], bs=1, sub_seq_len=10)
    with pytest.raises(ValueError, match="vocab_size=20 is for token models"):
        tk.RNNLearner(signals, sub_seq_len=10, vocab_size=20, progress=False)
    with pytest.raises(ValueError, match="stream loaders"):
        tk.RNNLearner(signals, progress=False)  # full BPTT needs windows
    with pytest.raises(ValueError, match="validate"):
        tk.RNNLearner(text_dls, sub_seq_len=16, progress=False).score("valid")


def test_max_batches_shortens_the_training_epoch_only():
    recs = records([2000])
    dls = tk.create_stream_dls(recs, recs, bs=2, sub_seq_len=10, max_batches=7, cut_records=True)
    assert len(dls.train) == 7 == len(list(dls.train)) and len(dls.valid) == 100
    with pytest.raises(ValueError, match="max_batches"):
        tk.create_stream_dls(recs, recs, bs=2, sub_seq_len=10, max_batches=0, cut_records=True)
