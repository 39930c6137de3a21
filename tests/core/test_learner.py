"""core/learner.py: the loop. ``one_batch``'s three lines are what training runs: the
gradient stops exactly at a sub-window's start, the carried state is the whole window's,
the rows that start (a window, a record) start from zeros, and the state the loop keeps is
detached. Each beside its broken version (no detach, ``NoResetCB``, no carry).

Then the loop around it: callbacks, one optimizer step per (sub-)batch, the loss without
the skipped and padded steps, predictions joined in time, a carry fresh at every ``fit``,
and a validation in the middle of an epoch that changes nothing of the training."""

import math

import numpy as np
import pytest
import torch

import tbptt_kit.core.learner as learner_module
from tbptt_kit import NoResetCB, create_dls, create_stream_dls
from tbptt_kit.core.learner import Callback, Learner, flat_cos, mae
from tbptt_kit.core.model import StatefulRNN
from tbptt_kit.data.loaders import record_places
from tbptt_kit.modes import BPTT, Truncation


def record(n, seed=0, n_y=1):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(n).astype(np.float32)
    y = np.stack([np.convolve(u, [0.5, 0.3, 0.2])[:n] * (k + 1) for k in range(n_y)], 1)
    return u, y.astype(np.float32)


def window_dls(sub_seq_len=None, bs=4, win_sz=60, n_y=1, **kw):
    """Train: 600 samples; valid: 8 windows back to back in two batches of 4 (the same batch
    size: a state left over from the first batch could be used by the second)."""
    kw = dict(bs=bs, win_sz=win_sz, stp_sz=30, sub_seq_len=sub_seq_len) | kw
    return create_dls(record(600, 0, n_y), record(480, 1, n_y), **kw)


def stream_records(lengths=(47, 30, 23, 64, 19), seed=0):
    return [record(n, seed + i) for i, n in enumerate(lengths)]


def learner(dls, bptt=None, rnn_type="gru", **kw):
    torch.manual_seed(0)
    model = StatefulRNN(dls.n_u, dls.n_y, rnn_type, 6, norm=dls.norm)
    return Learner(dls, model, bptt or BPTT.of(dls.sub_seq_len), **kw)


def no_detach(monkeypatch):
    """The broken loop: the state is carried but never detached."""
    monkeypatch.setattr(learner_module, "detach_state", lambda state: state)


class StatesSeen(torch.nn.Module):
    """The model, recording the state each call starts from (None: zeros)."""

    def __init__(self, model):
        super().__init__()
        self.model, self.states = model, []

    def forward(self, u, state=None):
        self.states.append(state)
        return self.model(u, state)


def steps(learn, batches, grad_u=False):
    """``one_batch`` over ``batches`` (no optimizer step): each batch's u and loss."""
    learn.training, out = False, []
    for batch in batches:
        learn.batch = batch._replace(u=batch.u.clone().requires_grad_(grad_u))
        learn("before_batch")
        learn.one_batch()
        out.append((learn.batch.u, learn.loss))
    return out


# -- the three lines: reset, carry, detach ----------------------------------------------
@pytest.mark.parametrize("detach", [True, False])
@pytest.mark.parametrize("layout", ["windows", "streams"])
def test_the_gradient_is_exactly_zero_across_a_sub_window_boundary(layout, detach, monkeypatch):
    if not detach:
        no_detach(monkeypatch)
    dls = (
        window_dls(20)
        if layout == "windows"
        else create_stream_dls(
            stream_records((80, 90)), stream_records((80, 90)), bs=2, sub_seq_len=20
        )
    )
    learn = learner(dls)
    (u0, _), (u1, loss1) = steps(learn, list(dls.valid)[:2], grad_u=True)
    (g0, g1) = torch.autograd.grad(loss1, [u0, u1], allow_unused=True)
    assert g1 is not None and (g1.abs().sum(dim=(1, 2)) > 0).all()  # inside: every row
    if detach:
        assert g0 is None, "the gradient crossed the boundary"
    else:  # the control: without the detach it reaches the previous sub-window, every row
        assert g0 is not None and (g0.abs().sum(dim=(1, 2)) > 0).all()


@pytest.mark.parametrize("detach", [True, False])
def test_the_state_the_loop_keeps_is_detached(detach, monkeypatch):
    if not detach:
        no_detach(monkeypatch)
    learn = learner(window_dls(20))
    steps(learn, list(learn.dls.train)[:2])
    assert learn.hidden_state.shape == (1, 4, 6)
    assert (learn.hidden_state.grad_fn is None) == detach  # the control keeps the graph
    if detach:  # and in training, after each optimizer step
        learn.fit(1)
        assert learn.hidden_state.grad_fn is None and not learn.hidden_state.requires_grad
    else:  # the control: the next step backpropagates into the last step's freed graph
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            learn.fit(1)


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_the_carried_state_is_the_whole_windows_state(rnn_type):
    learn = learner(window_dls(20), rnn_type=rnn_type)
    u, y = learn.dls.windows("valid", 4)
    with torch.no_grad():
        steps(learn, list(learn.dls.valid)[:3])  # the first batch of windows: 3 sub-windows
        whole, end = learn.model(u)
        pred, _ = learn.predict(whole_windows=True)
    for held, want in zip(learn.hidden_state, end, strict=True):
        torch.testing.assert_close(held, want, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(pred[:4], whole, rtol=1e-6, atol=1e-6)


class NoCarry(Callback):
    """The broken loop: every sub-window starts from zeros (the state is never carried)."""

    def before_batch(self, learn):
        learn.hidden_state = None


def test_without_the_carry_the_sub_windows_would_start_from_zeros():
    """The control of the test above: the same check fails when nothing is carried."""
    learn = learner(window_dls(20), cbs=[NoCarry()])
    u, _ = learn.dls.windows("valid", 4)
    with torch.no_grad():
        whole, _ = learn.model(u)
        pred, _ = learn.predict(whole_windows=True)
    torch.testing.assert_close(pred[:4, :20], whole[:, :20], rtol=1e-6, atol=1e-6)
    assert not torch.allclose(pred[:4, 20:], whole[:, 20:], atol=1e-4)


@pytest.mark.parametrize("no_reset", [False, True])
def test_the_rows_that_reset_start_from_zeros_and_only_they(no_reset):
    """On streams, per row: the state a batch starts from has exactly the rows of its new
    records zeroed, the others bit for bit the state the loop kept."""
    recs = stream_records((37, 80, 55, 64, 19))
    dls = create_stream_dls(recs, recs, bs=3, sub_seq_len=10)
    learn = learner(dls, cbs=[NoResetCB()] if no_reset else [])
    learn.model = StatesSeen(learn.model)
    held = []
    learn.add_cb(
        type(
            "Held", (Callback,), {"before_batch": lambda self, lrn: held.append(lrn.hidden_state)}
        )()
    )
    learn.predict()
    partial = 0
    for batch, before, given in zip(dls.valid, held, learn.model.states, strict=True):
        if no_reset:  # the control: never zeroed, the previous record's state goes on
            assert given is before
            continue
        if batch.reset.all():
            assert given is None  # zeros for every row
            continue
        r = batch.reset
        assert torch.equal(given[:, r], torch.zeros_like(given[:, r]))
        assert torch.equal(given[:, ~r], before[:, ~r])  # untouched, bit for bit
        if r.any():
            assert before[:, r].abs().sum() > 0  # those rows held a state to forget
            partial += 1
    assert no_reset or partial >= 2


@pytest.mark.parametrize("no_reset", [False, True])
def test_predictions_carry_the_state_across_batches_and_start_fresh_at_each_record(no_reset):
    recs = stream_records((47, 30, 23))  # one stream: the three records one after another
    dls = create_stream_dls(recs, recs, bs=1, sub_seq_len=10)
    learn = learner(dls, cbs=[NoResetCB()] if no_reset else [])
    pred, _ = learn.predict()  # (n_real_steps, 1), padding left out
    with torch.no_grad():  # each record whole, from a zero state
        whole = [learn.model(torch.from_numpy(u)[None, :, None])[0][0] for u, _ in recs]
    if no_reset:  # the control: the second record starts from the first one's state
        assert not torch.allclose(pred[47:77], whole[1], atol=1e-3)
    else:
        torch.testing.assert_close(pred, torch.cat(whole), atol=1e-5, rtol=1e-5)


def test_one_batch_and_forward_are_what_training_runs(monkeypatch):
    calls = {"one_batch": 0, "forward": 0}
    for name in calls:
        original = getattr(Learner, name)

        def counting(self, *args, _name=name, _original=original):
            calls[_name] += 1
            return _original(self, *args)

        monkeypatch.setattr(Learner, name, counting)
    learn = learner(window_dls(20))
    learn.fit(1)
    n = len(learn.dls.train) + len(learn.dls.valid)
    assert calls == {"one_batch": n, "forward": n}


# -- a hand-built learner: the mode decides, every window starts from zeros ----------------
def each_window_from_zero(learn):
    """Every validation window run whole from a zero state: (n_windows, win_sz, n_y)."""
    u, _ = learn.dls.windows("valid")
    with torch.no_grad():
        return learn.model(u)[0]


@pytest.mark.parametrize(
    "mode", [BPTT(), BPTT.of(sub_seq_len=20), BPTT.of(20, "checkpointed")], ids=str
)
def test_a_hand_built_learner_starts_every_window_from_zero(mode):
    learn = learner(window_dls(mode.loader_sub_seq_len), mode)  # no callbacks given
    learn.fit(1)
    pred, _ = learn.predict(whole_windows=True)  # sub-windows joined in time
    assert pred.shape == (8, 60, 1)
    # truncated: the sub-windows continue each other exactly as the whole window does
    torch.testing.assert_close(pred, each_window_from_zero(learn), atol=1e-5, rtol=1e-5)


def test_without_the_reset_the_state_would_bleed_into_the_next_window():
    """The control: the check above can fail. Switch the reset off, and the second batch of
    windows starts from the first batch's final state."""
    learn = learner(window_dls(20), cbs=[NoResetCB()])
    pred, _ = learn.predict(whole_windows=True)
    fresh = each_window_from_zero(learn)
    torch.testing.assert_close(pred[:4], fresh[:4], atol=1e-5, rtol=1e-5)  # started from zeros
    assert not torch.allclose(pred[4:], fresh[4:], atol=1e-3)  # carried over: wrong


@pytest.mark.parametrize("sub_seq_len", [None, 20])
def test_each_window_batch_starts_from_zeros_once_before_its_first_sub_window(sub_seq_len):
    learn = learner(window_dls(sub_seq_len))
    learn.model, seen = StatesSeen(learn.model), []
    learn.add_cb(
        type(
            "Log", (Callback,), {"before_batch": lambda self, lrn: seen.append(lrn.batch.sub_idx)}
        )()
    )
    learn.fit(1)
    starts = [s is None for s in learn.model.states]
    assert starts == [i == 0 for i in seen]  # zeros exactly at each window's first sub-window
    assert sum(starts) == math.ceil(len(learn.dls.train.ds) / 4) + 2  # train + valid batches


def test_the_learner_sees_sub_windows_in_order():
    t = np.arange(1000, dtype=np.float32)  # the signal is its own time index
    dls = create_dls((t, t), (t, t), bs=4, win_sz=60, stp_sz=7, sub_seq_len=20)
    log = []
    cb = type(
        "Log",
        (Callback,),
        {"before_batch": lambda self, lrn: log.append((lrn.batch, lrn.training))},
    )()
    learn = learner(dls, cbs=[cb])
    learn.fit(1, 1e-4)
    train = [b for b, training in log if training]
    n_batches = math.ceil(dls.train.n_windows / dls.train.bs)
    assert len(train) == 3 * n_batches == len(dls.train)
    assert [b.sub_idx for b in train] == [0, 1, 2] * n_batches
    assert [b.new_window for b in train] == [True, False, False] * n_batches
    for prev, cur in zip(train, train[1:]):
        if cur.sub_idx > 0:  # the next sub-window continues the same windows in time
            assert torch.equal(cur.u[:, 0, 0], prev.u[:, -1, 0] + 1)


def test_a_sub_window_as_long_as_the_window_gives_the_full_bptt_gradient():
    grads = {}
    for sub_seq_len in (None, 60):
        learn = learner(window_dls(sub_seq_len), rnn_type="lstm")
        ((_, loss),) = steps(learn, [next(iter(learn.dls.train))])
        loss.backward()
        grads[sub_seq_len] = [p.grad.clone() for p in learn.model.parameters()]
    for g_full, g_one in zip(grads[None], grads[60], strict=True):
        assert torch.equal(g_full, g_one)


def test_whole_streams_are_joined_even_where_every_row_starts_a_record():
    """Records of equal length: every row resets at the same batch, mid-epoch. The rows are
    still one stream each (bs, stream_len, n_y), and each record starts from zero."""
    rng = np.random.default_rng(0)
    records = [tuple(rng.standard_normal((40, 1)).astype(np.float32) for _ in "uy") for _ in "abcd"]
    dls = create_stream_dls(records, records, bs=2, sub_seq_len=10)
    learn = learner(dls)
    pred, targ = learn.predict(whole_windows=True)
    assert pred.shape == targ.shape == (2, 80, 1)
    assert [bool(b.reset.all()) for b in dls.valid] == [True, False, False, False] * 2
    u = torch.from_numpy(np.stack([r[0] for r in records]))  # (4, 40, 1): a, b, c, d
    with torch.no_grad():
        fresh = learn.model(u)[0]
    # packed longest first, ties in order: row 0 reads a then c, row 1 b then d
    torch.testing.assert_close(pred[:, 40:], fresh[[2, 3]], atol=1e-5, rtol=1e-5)


# -- predict, validate ---------------------------------------------------------------------
def test_predict_whole_windows_equals_a_carried_run_over_each_window():
    # 5 valid windows of 60 steps, batches of 2 (the last one alone), 3 sub-windows each
    dls = create_dls(record(600, n_y=2), record(300, 1, n_y=2), bs=2, win_sz=60, sub_seq_len=20)
    learn = learner(dls, rnn_type="lstm", n_skip=5)
    pred, targ = learn.predict(whole_windows=True)
    assert pred.shape == targ.shape == (5, 60, 2)  # (n_windows, win_sz, n_y), nothing skipped
    u, y = dls.valid.ds[range(5)]
    assert torch.equal(targ, y)
    with torch.no_grad():
        for w in range(5):
            state, want = None, []
            for t in (0, 20, 40):
                out, state = learn.model(u[w : w + 1, t : t + 20], state)
                want.append(out)
            torch.testing.assert_close(pred[w : w + 1], torch.cat(want, 1), rtol=1e-6, atol=1e-6)


def test_predict_leaves_out_n_skip_steps_of_each_window_only_without_whole_windows():
    dls = create_dls(record(600), record(300, 1), bs=2, win_sz=60, sub_seq_len=20)
    learn = learner(dls, n_skip=5)
    pred, targ = learn.predict()
    whole, whole_targ = learn.predict(whole_windows=True)
    assert pred.shape == targ.shape == (5 * 55, 1)  # 5 windows of 60 steps, 5 skipped in each
    # the same steps, in the loader's order (sub-window by sub-window) rather than window by window
    assert torch.equal(pred.flatten().sort()[0], whole[:, 5:].flatten().sort()[0])
    assert torch.equal(targ.flatten().sort()[0], whole_targ[:, 5:].flatten().sort()[0])


def test_n_skip_leaves_out_the_first_steps_after_each_rows_reset_and_the_padding():
    recs = stream_records((25, 42, 33))
    dls = create_stream_dls(recs, recs, bs=2, sub_seq_len=10)
    learn = learner(dls, n_skip=3)
    pred, targ = learn.predict(dls.valid)
    starts = sum(int(b.reset.sum()) for b in dls.valid)
    assert starts == 3  # every record starts once, in its row
    assert len(pred) == len(targ) == sum(len(u) for u, _ in recs) - 3 * starts
    whole, _ = learn.predict(dls.valid, whole_windows=True)
    assert whole.shape == (2, len(dls.valid) * 10, 1)  # every step, the padding too


class Count(Callback):
    def __init__(self):
        self.calls = {"before_batch": 0, "after_batch": 0, "after_validate": 0}

    def before_batch(self, learn):
        self.calls["before_batch"] += 1

    def after_batch(self, learn):
        self.calls["after_batch"] += 1
        assert learn.pred.shape[:2] == learn.batch.y.shape[:2]  # the batch's predictions

    def after_validate(self, learn):
        self.calls["after_validate"] += 1


def test_predict_runs_the_callbacks_around_every_validation_batch():
    dls = create_dls(record(600), record(300, 1), bs=2, win_sz=60, sub_seq_len=20)
    count = Count()
    learn = learner(dls, cbs=[count])
    learn.predict()
    assert len(dls.valid) == 9  # 5 windows in batches of 2: 3 batches x 3 sub-windows
    assert count.calls == {"before_batch": 9, "after_batch": 9, "after_validate": 0}
    learn.validate()
    assert count.calls["after_validate"] == 1


def test_validate_gives_the_loss_then_the_metrics_over_every_kept_step():
    def rmse(pred, targ):
        return ((pred - targ) ** 2).mean().sqrt()

    learn = learner(window_dls(20), metrics=[rmse])
    pred, targ = learn.predict()
    scores = learn.validate()
    assert pred.shape == (8 * 60, 1)
    assert scores == learn.valid_scores and all(type(s) is float for s in scores)
    assert scores == pytest.approx([float((pred - targ).abs().mean()), float(rmse(pred, targ))])
    other = learn.validate(learn.dls.train)  # another loader
    assert other[0] == pytest.approx(float(mae(*learn.predict(learn.dls.train))))


def test_a_callback_may_combine_the_scores_after_validation():
    class Halve(Callback):
        def after_validate(self, learn):  # e.g. several processes: their mean
            learn.valid_scores = [s / 2 for s in learn.valid_scores]

    learn = learner(window_dls(20))
    plain = learn.validate()
    assert learn.add_cb(Halve()).validate() == [s / 2 for s in plain]


def test_mae_is_the_mean_absolute_error():
    assert float(mae(torch.tensor([1.0, -2.0]), torch.tensor([0.0, 0.0]))) == 1.5


# -- the loop: steps, callbacks, the loss ------------------------------------------------------
def test_one_optimizer_step_per_sub_batch():
    learn = learner(window_dls(15))
    learn.fit(2)
    assert len(learn.dls.train) == math.ceil(learn.dls.train.n_windows / 4) * 4
    assert learn.opt.state[learn.model.head.weight]["step"] == 2 * len(learn.dls.train)
    assert learn.steps_per_epoch == len(learn.dls.train) and learn.n_epoch == 2


class Trace(Callback):
    """Every event, in order, with what the learner says at that moment."""

    def __init__(self, order=0, name="trace", log=None):
        self.order, self.name, self.log = order, name, [] if log is None else log

    def __getattribute__(self, event):
        if event in (
            "before_fit",
            "before_epoch",
            "before_batch",
            "after_loss",
            "after_backward",
            "after_batch",
            "after_epoch",
            "after_fit",
            "after_validate",
        ):
            return lambda learn: self.log.append((self.name, event, learn.training))
        return object.__getattribute__(self, event)


def test_the_events_come_in_order_and_the_callbacks_by_their_order():
    log = []
    learn = learner(window_dls(30, win_sz=60), cbs=[Trace(5, "late", log), Trace(-5, "early", log)])
    learn.fit(1)
    names = [n for n, _, _ in log]
    assert names[::2] == ["early"] * (len(log) // 2) and names[1::2] == ["late"] * (len(log) // 2)
    events = [e for n, e, _ in log if n == "early"]
    n_train, n_valid = len(learn.dls.train), len(learn.dls.valid)
    train_step = ["before_batch", "after_loss", "after_backward", "after_batch"]
    valid_step = ["before_batch", "after_loss", "after_batch"]
    assert events == [
        "before_fit",
        "before_epoch",
        *train_step * n_train,
        *valid_step * n_valid,
        "after_validate",
        "after_epoch",
        "after_fit",
    ]
    assert [t for n, e, t in log if n == "early" and e == "after_backward"] == [True] * n_train
    assert not any(t for n, e, t in log if e in ("after_validate", "after_epoch", "after_fit"))


def test_callbacks_are_added_and_removed_by_type():
    learn = learner(window_dls(20))
    trace = Trace()
    assert learn.add_cb(trace) is learn and learn.cbs == [trace]
    assert learn.remove_cb(Count) is learn and learn.cbs == [trace]  # another type: kept
    assert learn.remove_cb(Trace).cbs == []


def test_the_loss_leaves_out_the_padding_and_n_skip_steps_after_a_reset():
    learn = learner(window_dls(20), n_skip=2)
    y = torch.arange(12.0).reshape(2, 3, 2)
    pred = y + 1
    batch = learn.dls.valid.ds[[0, 1]]
    mask = torch.tensor([[True, True, False], [True, False, False]])
    from tbptt_kit.core.batch import Batch

    b = Batch(batch[0][:, :3], y, reset=torch.tensor([True, False]), mask=mask)
    kept_pred, kept_y = learn.kept(pred, b)
    # row 0 resets: its first 2 steps skipped, its third is padding; row 1: its first only
    assert torch.equal(kept_y, y[1, :1].reshape(1, 2)) and torch.equal(kept_pred, kept_y + 1)
    no_reset = b._replace(reset=torch.tensor([False, False]))
    assert torch.equal(learn.kept(pred, no_reset)[1], y[mask])
    plain = b._replace(mask=None, reset=torch.tensor([False, False]))
    assert torch.equal(learn.kept(pred, plain)[1], y.flatten(0, 1))


def test_n_skip_must_leave_something_of_the_first_sub_window():
    with pytest.raises(
        ValueError,
        match=r"n_skip=20 leaves nothing of the first \(sub-\)window of 20 steps: choose n_skip < 20",
    ):
        learner(window_dls(20), n_skip=20)
    with pytest.raises(ValueError, match=r"n_skip=60 leaves nothing .* of 60 steps"):
        learner(window_dls(), n_skip=60)
    with pytest.raises(ValueError, match=r"n_skip must be an int >= 0, got -1"):
        learner(window_dls(), n_skip=-1)
    assert learner(window_dls(20), n_skip=19).n_skip == 19


def test_a_mode_is_checked_against_the_loaders_when_the_learner_is_built():
    with pytest.raises(ValueError, match="needs loaders that hand out sub-windows of 10"):
        learner(window_dls(), BPTT.of(10))


def test_the_seed_sets_the_order_of_the_training_windows():
    def run(seed):
        learn = learner(window_dls(20), seed=seed)
        firsts = []
        learn.add_cb(
            type(
                "F",
                (Callback,),
                {
                    "before_batch": lambda self, lrn: (
                        lrn.training and firsts.append(lrn.batch.u[0, 0, 0].item())
                    )
                },
            )()
        )
        learn.fit(1)
        return firsts, [p.detach().clone() for p in learn.model.parameters()]

    (a, wa), (b, wb), (c, _) = run(3), run(3), run(4)
    assert a == b and all(torch.equal(x, y) for x, y in zip(wa, wb))  # a seed, the same run
    assert a != c
    with pytest.raises(ValueError, match="seed must be an int >= 0, got -1"):
        learner(window_dls(20), seed=-1)


# -- fit --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kw, error, says",
    [
        ({"n_epoch": 0}, ValueError, r"n_epoch must be an int >= 1, got 0"),
        ({"n_epoch": 1.5}, TypeError, r"n_epoch must be an int >= 1, got 1\.5"),
        (
            {"n_epoch": 1, "lr": 0},
            ValueError,
            r"lr must be a finite number in \(0, inf\], got 0\.0",
        ),
        (
            {"n_epoch": 1, "lr": math.nan},
            ValueError,
            r"lr must be a finite number in \(0, inf\], got nan",
        ),
    ],
)
def test_fit_refuses_a_bad_epoch_count_or_learning_rate(kw, error, says):
    with pytest.raises(error, match=says):
        learner(window_dls(20)).fit(**kw)


class LRs(Callback):
    def before_fit(self, learn):
        self.lrs = []

    def after_batch(self, learn):
        if learn.training:
            self.lrs.append(learn.opt.param_groups[0]["lr"])


def test_fit_keeps_the_learning_rate_and_fit_flat_cos_anneals_it_to_zero():
    lrs = LRs()
    learn = learner(window_dls(), cbs=[lrs])
    learn.fit(2, lr=1e-2)
    assert lrs.lrs == [1e-2] * len(lrs.lrs) and learn.lr == 1e-2
    learn.fit_flat_cos(4, 1e-2, pct_start=0.5)
    half = len(lrs.lrs) // 2
    assert lrs.lrs[:half] == [1e-2] * half  # LR used at each step: flat for the first half
    assert all(a > b for a, b in zip(lrs.lrs[half - 1 :], lrs.lrs[half:]))  # then falls
    assert lrs.lrs[-1] < 1e-4
    with pytest.raises(
        ValueError, match=r"pct_start must be a finite number in \[0, 1\], got 1\.5"
    ):
        learn.fit_flat_cos(1, pct_start=1.5)


def test_flat_cos_is_flat_for_pct_start_then_a_half_cosine_to_zero():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=2.0)
    sched, lrs = flat_cos(opt, 10, 0.4), []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    want = [2.0] * 4 + [1 + math.cos(math.pi * k / 6) for k in range(6)]
    assert lrs == pytest.approx(want)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    flat_cos(opt, 3, 1.0)  # all flat: the cosine never divides by zero
    assert opt.param_groups[0]["lr"] == 1.0
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = flat_cos(opt, 10, 0.9)  # one step of cosine: from 1 down to 0 after it
    for _ in range(10):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_fit_takes_a_scheduler_and_leaves_the_model_in_eval_mode_without_gradients():
    made = []

    def make_sched(opt, total):
        made.append(total)
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5)

    lrs = LRs()
    learn = learner(window_dls(20), cbs=[lrs])
    for p in learn.model.parameters():
        p.grad = torch.ones_like(p)  # left over from elsewhere: not added to the first step
    learn.fit(2, lr=1e-2, make_sched=make_sched)
    assert made == [2 * len(learn.dls.train)] and lrs.lrs[0] == 5e-3
    assert not learn.model.training and not learn.training
    assert all(p.grad is None for p in learn.model.parameters())
    assert len(learn.valid_scores) == 1


def test_the_first_step_sees_only_its_own_gradient():
    learn = learner(window_dls())
    clean = learner(window_dls())
    for p in learn.model.parameters():
        p.grad = torch.full_like(p, 100.0)
    learn.fit(1)
    clean.fit(1)
    for a, b in zip(learn.model.parameters(), clean.model.parameters()):
        assert torch.equal(a, b)


def test_after_fit_runs_when_a_step_fails():
    class Boom(Callback):
        def after_backward(self, learn):
            raise RuntimeError("boom")

    log = []
    learn = learner(window_dls(20), cbs=[Boom(), Trace(log=log)])
    with pytest.raises(RuntimeError, match="boom"):
        learn.fit(1)
    assert log[-1][1] == "after_fit" and not learn.training and not learn.model.training
    assert all(p.grad is None for p in learn.model.parameters())


# -- a carry per run; a validation changes no training ---------------------------------------
CARRIED_MODES = [
    BPTT("truncated", 10, 25),
    BPTT("randomized", 10, truncation=Truncation(mean_len=8, seed=2)),
]


class Carries(Callback):
    def before_fit(self, learn):
        self.seen = getattr(self, "seen", []) + [learn.carry]


@pytest.mark.parametrize("bptt", CARRIED_MODES, ids=lambda b: b.label)
def test_every_fit_starts_a_fresh_carry(bptt):
    carries = Carries()
    learn = learner(window_dls(10), bptt, cbs=[carries])
    learn.fit(1)
    used = learn.carry
    assert used.past_u is not None  # the control: a carry that has run holds a past
    learn.fit(1)
    first, second = carries.seen
    assert first is not second and second is not used
    assert type(first) is type(second) is type(used)
    if bptt.mode == "randomized":  # and its generator starts again from the seed
        fresh = torch.Generator().manual_seed(bptt.truncation.seed).get_state()
        assert not torch.equal(used.generator.get_state(), fresh)
        assert torch.equal(bptt.carry().generator.get_state(), fresh)


class ValidateAt(Callback):
    """In the middle of the epoch, after step ``at``: a validation (or the control: a pass
    of the learner's own forward with a gradient, which runs the mode's carry)."""

    order = -100  # before the recorder-like callbacks read the step

    def __init__(self, at=3, control=False):
        self.at, self.control = at, control

    def after_batch(self, learn):
        if learn.training and learn.step_in_epoch == self.at:
            if self.control:
                learn.forward(learn.batch.u, None)
            else:
                self.scores = learn.validate()


class Losses(Callback):
    order = 100

    def before_fit(self, learn):
        self.losses = []

    def after_batch(self, learn):
        if learn.training:
            self.losses.append(learn.loss.item())


def run(bptt, *cbs):
    losses = Losses()
    learn = learner(window_dls(bptt.loader_sub_seq_len), bptt, cbs=[losses, *cbs], seed=0)
    learn.fit(2, lr=1e-2)
    return losses.losses, [p.detach().clone() for p in learn.model.parameters()]


@pytest.mark.parametrize("bptt", [BPTT.of(10), *CARRIED_MODES], ids=lambda b: b.label)
def test_a_validation_in_the_middle_of_an_epoch_changes_nothing_of_the_training(bptt):
    plain = run(bptt)
    validating = ValidateAt()
    with_validation = run(bptt, validating)
    assert len(validating.scores) == 1  # it did validate, twice (one per epoch)
    assert with_validation[0] == plain[0]
    assert all(torch.equal(a, b) for a, b in zip(with_validation[1], plain[1]))


@pytest.mark.parametrize("bptt", CARRIED_MODES, ids=lambda b: b.label)
def test_the_control_running_the_carry_mid_epoch_changes_the_run(bptt):
    """The check above can fail: a pass that ran the mode's carry would change its past."""
    plain, disturbed = run(bptt), run(bptt, ValidateAt(control=True))
    assert disturbed[0][:4] == plain[0][:4] and disturbed[0] != plain[0]


# -- per-row resets on streams: what they are for -------------------------------------------
def by_record(learn, loader):
    """Each record's predictions, (T,), read from the rows and steps where the loader put it."""
    pred, _ = learn.predict(loader, whole_windows=True)  # (rows, steps, 1)
    return {
        r: pred[row, start : start + loader.lengths[r], 0]
        for r, (row, start) in record_places(loader).items()
    }


@pytest.mark.parametrize("no_reset", [False, True])
def test_record_order_changes_no_records_predictions_when_resets_are_on(no_reset):
    recs = stream_records((70, 45, 90, 30, 55, 64))
    order = [3, 5, 0, 4, 1, 2]
    learn = learner(
        create_stream_dls(recs, recs, bs=2, sub_seq_len=10), cbs=[NoResetCB()] if no_reset else []
    )
    first = by_record(learn, create_stream_dls(recs, recs, bs=2, sub_seq_len=10).valid)
    shuffled = [recs[r] for r in order]
    again = by_record(learn, create_stream_dls(shuffled, shuffled, bs=2, sub_seq_len=10).valid)
    gaps = [float((first[r] - again[i]).abs().max()) for i, r in enumerate(order)]
    if no_reset:  # the control: a record's predictions depend on the record before it
        assert max(gaps) > 1e-3, gaps
    else:
        assert max(gaps) < 1e-6, gaps


def true_system(seed=0):
    """A plain tanh RNN of 4 units with slow modes (memory of tens of steps)."""
    g = torch.Generator().manual_seed(seed)
    model = StatefulRNN(1, 1, "rnn", hidden_size=4)
    with torch.no_grad():
        q, _ = torch.linalg.qr(torch.randn(4, 4, generator=g))
        model.rnn.weight_hh_l0.copy_(0.95 * q)  # near the edge: a state fades slowly
        model.rnn.weight_ih_l0.copy_(torch.randn(4, 1, generator=g))
        model.rnn.bias_hh_l0.zero_()
        model.rnn.bias_ih_l0.zero_()
        model.head.weight.copy_(torch.randn(1, 4, generator=g))
        model.head.bias.zero_()
    return model


@pytest.mark.parametrize("no_reset", [False, True])
def test_without_per_row_resets_a_record_from_rest_is_wrong_after_the_boundary(no_reset):
    system, rng = true_system(), np.random.default_rng(1)
    recs = []
    for n in [120, 80, 150, 100, 90, 130]:  # each record from rest: the system's zero state
        u = rng.standard_normal((n, 1)).astype(np.float32)
        with torch.no_grad():
            y = system(torch.from_numpy(u)[None])[0][0].numpy()
        recs.append((u, y))
    dls = create_stream_dls(recs, recs, bs=2, sub_seq_len=10)
    learn = Learner(
        dls, system, BPTT.of(10), cbs=[NoResetCB()] if no_reset else []
    )  # the model is the system
    pred = by_record(learn, dls.valid)
    later = [r for r, (_, start) in record_places(dls.valid).items() if start > 0]
    assert len(later) >= 3  # records that follow another one in their row
    err = np.stack(
        [(pred[r][:40] - torch.from_numpy(recs[r][1][:40, 0])).abs().numpy() for r in later]
    )
    if no_reset:  # the control: the previous record's state, right after the boundary
        assert err[:, :5].mean() > 0.05
        assert err[:, :5].mean() > 3 * err[:, 30:40].mean()  # and it fades with the position
    else:
        assert err.max() < 1e-4


def test_one_stream_over_one_record_trains_exactly_as_window_tbptt_over_the_record():
    (u, y), k, n = record(600), 50, 600
    streams = create_stream_dls((u, y), (u, y), bs=1, sub_seq_len=k)
    windows = create_dls((u, y), (u, y), bs=1, win_sz=n, stp_sz=n, sub_seq_len=k)
    runs = []
    for dls in (streams, windows):
        losses = Losses()
        learn = learner(dls, n_skip=5, cbs=[losses])
        learn.fit(2, lr=1e-2)
        runs.append((losses.losses, learn.validate(), learn.model.state_dict()))
    (l1, v1, w1), (l2, v2, w2) = runs
    assert len(l1) == len(l2) == 2 * n // k
    np.testing.assert_allclose(l1, l2, rtol=1e-4)
    np.testing.assert_allclose(v1, v2, rtol=1e-4)
    for name in w1:
        torch.testing.assert_close(w1[name], w2[name], atol=1e-5, rtol=1e-4)


class GradsAfterStep(Callback):
    """After every training step: are the parameters' gradients cleared?"""

    def before_fit(self, learn):
        self.cleared = []

    def after_batch(self, learn):
        if learn.training:
            self.cleared.append(all(p.grad is None for p in learn.model.parameters()))


def test_every_step_clears_its_gradients_for_the_next():
    seen = GradsAfterStep()
    learner(window_dls(20), cbs=[seen]).fit(1)
    assert seen.cleared and all(seen.cleared)


def test_every_epoch_and_every_prediction_start_from_zeros_even_without_the_reset():
    """The loop's own start: ``train_epoch`` and ``predict`` drop the state they find, so
    that even with the reset switched off (``NoResetCB``) no state crosses from training
    to validation or from one epoch to the next."""
    learn = learner(window_dls(20, bs=3), cbs=[NoResetCB()])
    learn.model, firsts = StatesSeen(learn.model), []
    learn.add_cb(
        type(
            "First",
            (Callback,),
            {"before_batch": lambda self, lrn: firsts.append(lrn.hidden_state is None)},
        )()
    )
    learn.fit(2)
    learn.predict()
    n_train, n_valid = len(learn.dls.train), len(learn.dls.valid)
    starts = [0, n_train + n_valid, 2 * (n_train + n_valid)]  # epoch 1, epoch 2, the last predict
    starts += [n_train, 2 * n_train + n_valid]  # each epoch's validation
    assert all(firsts[i] for i in starts)
    assert sum(s is None for s in learn.model.states) < len(firsts) / 2  # the control: carried


def test_a_learner_without_a_mode_trains_on_what_its_loaders_hand_out():
    """``bptt=None``: the loop's own truncation over the loaders' sub-windows."""
    runs = []
    for bptt in (None, BPTT.of(20)):
        dls = window_dls(20)
        torch.manual_seed(0)
        learn = Learner(dls, StatefulRNN(dls.n_u, dls.n_y, "gru", 6, norm=dls.norm), bptt, seed=0)
        assert learn.carry is None
        learn.fit(1)
        runs.append([p.detach() for p in learn.model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*runs))
