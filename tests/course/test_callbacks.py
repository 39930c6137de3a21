"""The optional parts of training, as callbacks (``course/callbacks.py``): the recorder, the
live table, the stop on NaN, gradient clipping, smoke mode, and the reset switched off
(``NoResetCB``, the broken version) beside the loop that resets."""

import math

import numpy as np
import pytest
import torch

from tbptt_kit import RNNLearner, create_dls, fun_rmse
from tbptt_kit.core.learner import Callback
from tbptt_kit.course.callbacks import (
    GradClipCB,
    NonFiniteCB,
    NoResetCB,
    ProgressCB,
    Recorder,
    SmokeCB,
    TrainingDiverged,
)


def make_dls(sub_seq_len=20, n=1200, bs=4):
    rng = np.random.default_rng(0)
    u = rng.standard_normal(n).astype(np.float32)
    y = np.convolve(u, np.exp(-np.arange(20) / 5.0))[:n].astype(np.float32) * 0.1
    cut = n * 3 // 4
    train, valid = (u[:cut], y[:cut]), (u[cut:], y[cut:])
    return create_dls(train, valid, bs=bs, win_sz=60, stp_sz=30, sub_seq_len=sub_seq_len)


def learner(sub_seq_len=20, bs=4, **kw):
    kw = {"seed": 0, "progress": False} | kw
    return RNNLearner(make_dls(sub_seq_len, bs=bs), "gru", 8, sub_seq_len=sub_seq_len, **kw)


class GradNorms(Callback):
    """The gradients' norm each step, read after every other callback's after_backward."""

    order = 100

    def before_fit(self, learn):
        self.norms = []

    def after_backward(self, learn):
        grads = [p.grad.flatten() for p in learn.model.parameters()]
        self.norms.append(float(torch.cat(grads).norm()))


# -- Recorder -------------------------------------------------------------------------------
def test_the_recorder_keeps_every_step_and_one_row_per_epoch():
    learn = learner(metrics=[fun_rmse], act_mem=False)  # the act_mem column: test_memory.py
    learn.fit_flat_cos(2, lr=1e-2, pct_start=0.5)
    rec, steps = learn.recorder, len(learn.dls.train)
    assert isinstance(rec, Recorder) and len(rec.losses) == len(rec.lrs) == 2 * steps
    assert rec.lrs[:steps] == [pytest.approx(1e-2)] * steps  # flat, then down the cosine
    assert all(a > b for a, b in zip(rec.lrs[steps:], rec.lrs[steps + 1 :]))
    assert [row["epoch"] for row in rec.epochs] == [0, 1]
    assert list(rec.epochs[0]) == ["epoch", "train_loss", "valid_loss", "fun_rmse", "time"]
    for i, row in enumerate(rec.epochs):
        assert row["train_loss"] == pytest.approx(np.mean(rec.losses[i * steps : (i + 1) * steps]))
    assert [rec.epochs[-1]["valid_loss"], rec.epochs[-1]["fun_rmse"]] == learn.validate()


# -- ProgressCB -----------------------------------------------------------------------------
def test_the_live_table_prints_one_row_per_epoch_only_when_asked(capsys):
    learner(progress=True, metrics=[fun_rmse]).fit(2, lr=1e-3)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["epoch", "train_loss", "valid_loss", "fun_rmse", "act_mem", "time"]
    assert [line.split()[0] for line in lines[1:]] == ["0", "1"]
    learn = learner(progress=False)  # the control: no ProgressCB, nothing printed
    learn.fit(1, lr=1e-3)
    assert capsys.readouterr().out == "" and not any(isinstance(c, ProgressCB) for c in learn.cbs)


# -- NonFiniteCB ----------------------------------------------------------------------------
def nan_from_step(k):
    """A loss that becomes NaN at the k-th training step (1-based)."""
    calls = []

    def loss(pred, targ):
        calls.append(torch.is_grad_enabled())
        bad = sum(calls) >= k and torch.is_grad_enabled()
        return (pred - targ).abs().mean() * (math.nan if bad else 1.0)

    return loss


def test_a_nan_loss_stops_training_with_a_message_and_no_nan_row():
    learn = learner(loss_func=nan_from_step(3))
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 1, step 3.*lr=0.01"):
        learn.fit(1, lr=1e-2)
    assert learn.recorder.epochs == [] and not learn.training
    # the control: without the callback, the run goes on and writes a row of NaNs
    unguarded = learner(loss_func=nan_from_step(3)).remove_cb(NonFiniteCB)
    unguarded.fit(1, lr=1e-2)
    assert math.isnan(unguarded.recorder.epochs[0]["train_loss"])


def test_a_non_finite_score_stops_after_the_epoch():
    def inf_rmse(pred, targ):
        return torch.tensor(math.inf)

    learn = learner(metrics=[inf_rmse])
    with pytest.raises(TrainingDiverged, match="inf_rmse became inf after epoch 1"):
        learn.fit(2, lr=1e-3)
    assert learn.recorder.epochs == []  # stopped before the row of an infinite score
    assert len(learn.recorder.epoch_losses) == len(learn.dls.train)  # after one whole epoch


# -- GradClipCB -----------------------------------------------------------------------------
def test_gradients_are_clipped_to_max_norm_before_each_step():
    seen = GradNorms()
    learn = learner(clip_grad=1e-3, cbs=[seen])
    learn.fit(1, lr=1e-3)
    (clip,) = [cb for cb in learn.cbs if isinstance(cb, GradClipCB)]
    assert len(clip.norms) == len(seen.norms) == len(learn.dls.train)
    assert max(seen.norms) <= 1e-3 * 1.001  # what the optimizer saw
    assert min(clip.norms) > 1e-3  # the norms before clipping: all larger here
    control = GradNorms()  # without clipping, the same run's gradients are larger
    learner(cbs=[control]).fit(1, lr=1e-3)
    assert control.norms[0] == pytest.approx(clip.norms[0], rel=1e-5) and control.norms[0] > 1e-3
    with pytest.raises(ValueError, match="clip_grad"):
        GradClipCB(0)


# -- SmokeCB --------------------------------------------------------------------------------
def test_smoke_mode_trains_one_epoch(monkeypatch):
    monkeypatch.setenv("TBPTT_KIT_SMOKE", "1")
    learn = learner()
    assert any(isinstance(cb, SmokeCB) for cb in learn.cbs)
    learn.fit(3, lr=1e-3)
    assert len(learn.recorder.epochs) == 1
    monkeypatch.setenv("TBPTT_KIT_SMOKE", "0")  # the control: every epoch asked for
    learn.fit(3, lr=1e-3)
    assert len(learn.recorder.epochs) == 3


# -- NoResetCB ------------------------------------------------------------------------------
def predictions(learn, first_u_scale=1.0):
    """Whole-window predictions over the validation loader, the first batch's inputs scaled."""
    batches = list(learn.dls.valid)
    batches[0] = batches[0]._replace(u=batches[0].u * first_u_scale)
    return learn.predict(batches, whole_windows=True)[0]


def test_without_the_reset_a_window_leaks_into_the_next_and_with_it_none_does():
    """Change the inputs of the first batch of windows: with the reset, no other window's
    prediction moves (the control); with ``NoResetCB``, the next batch's windows go on from
    the state the changed windows left, and their predictions move."""
    learn = learner(sub_seq_len=None, bs=2)  # validation batches of 2, 2 and 1 windows
    bs = learn.dls.valid.bs
    reset = predictions(learn), predictions(learn, first_u_scale=3.0)
    assert not torch.equal(reset[0][:bs], reset[1][:bs])  # the changed windows themselves
    assert torch.equal(reset[0][bs:], reset[1][bs:])  # no leak
    learn.add_cb(NoResetCB())
    broken = predictions(learn), predictions(learn, first_u_scale=3.0)
    assert (broken[0][bs : 2 * bs] - broken[1][bs : 2 * bs]).abs().max() > 1e-3  # the leak
    learn.remove_cb(NoResetCB)
    assert torch.equal(predictions(learn), reset[0])  # the reset is back


def test_without_the_reset_a_smaller_last_batch_starts_from_zeros():
    """The last validation batch has fewer rows than the state: nothing to go on from."""
    learn = learner(sub_seq_len=None).add_cb(NoResetCB())
    sizes = [len(b.u) for b in learn.dls.valid]
    assert sizes[-1] < sizes[0]
    pred = learn.predict(whole_windows=True)[0]
    u = learn.dls.valid.ds[list(range(len(learn.dls.valid.ds)))][0]
    with torch.no_grad():
        alone = learn.model(u[-sizes[-1] :])[0]
    torch.testing.assert_close(pred[-sizes[-1] :], alone)
