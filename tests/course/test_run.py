"""course/run.py: ``run_windows`` runs windows through a learner's own step (sub-windows in
time order, from zeros, callbacks, backward after each) and leaves the run it is called in
exactly as it found it; ``learner_for`` wraps a bare model around given windows."""

import contextlib

import numpy as np
import pytest
import torch

from tbptt_kit import (
    BPTT,
    Callback,
    Learner,
    StatefulRNN,
    Truncation,
    create_dls,
    learner_for,
    mae,
    run_windows,
)


def record(n, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(n).astype(np.float32)
    return u, np.convolve(u, [0.5, 0.3, 0.2])[:n].astype(np.float32)


def windows(bs=2, win_sz=60):
    u, y = (torch.from_numpy(a)[None, :, None].repeat(bs, 1, 1) for a in record(win_sz))
    return u + torch.arange(bs, dtype=torch.float32)[:, None, None], y


def learner(bptt, *cbs):
    dls = create_dls(
        record(600), record(300, 1), bs=2, win_sz=60, sub_seq_len=bptt.loader_sub_seq_len
    )
    torch.manual_seed(0)
    return Learner(dls, StatefulRNN(hidden_size=6), bptt, cbs=list(cbs))


class SeenGrads(Callback):
    """The gradients the learner's own step leaves, after each sub-window of run_windows."""

    def __init__(self):
        self.seen = []

    def after_batch(self, learn):
        self.seen.append([p.grad.clone() for p in learn.model.parameters()])


MODES = [
    BPTT(),
    BPTT.of(20),
    BPTT("truncated", 20, 40),
    BPTT("checkpointed", 20),
    BPTT("randomized", 20, truncation=Truncation(mean_len=10)),
]


@pytest.mark.parametrize("bptt", MODES, ids=lambda b: b.label)
def test_run_windows_sees_only_its_own_gradients_and_restores_the_ones_it_found(bptt):
    seen = SeenGrads()
    learn = learner(bptt, seen)
    model, (u, y) = learn.model, windows()
    run_windows(learn, u, y)  # a clean run: no gradients before
    clean, seen.seen = seen.seen, []
    left = [torch.full_like(p, 7.0) for p in model.parameters()]
    for p, g in zip(model.parameters(), left):
        p.grad = g
    run_windows(learn, u, y)
    assert len(seen.seen) == len(clean) == (3 if bptt.carries_state else 1)
    for after_clean, after_left in zip(clean, seen.seen, strict=True):
        for a, b in zip(after_clean, after_left, strict=True):
            torch.testing.assert_close(b, a, rtol=0, atol=0)  # nothing of the 7s leaked in
    assert all(p.grad is g for p, g in zip(model.parameters(), left))  # the found ones, back
    assert all(torch.all(g == 7.0) for g in left)  # and untouched


@pytest.mark.parametrize("bptt", MODES, ids=lambda b: b.label)
def test_run_windows_predicts_each_window_as_the_model_does_from_zeros(bptt):
    learn = learner(bptt)
    u, y = windows()
    pred = run_windows(learn, u, y, backward=False)
    assert pred.shape == (2, 60, 1) and pred.grad_fn is not None  # attached to the graph
    with torch.no_grad():
        want, _ = learn.model(u)
    torch.testing.assert_close(pred.detach(), want, rtol=1e-5, atol=1e-6)


def test_run_windows_leaves_the_loop_and_the_model_as_found():
    learn = learner(BPTT("randomized", 20, truncation=Truncation(mean_len=10)))
    batch = next(iter(learn.dls.train))
    learn.batch, learn.hidden_state, learn.training = batch, torch.ones(1, 2, 6), True
    carry, state = learn.carry, learn.hidden_state
    generator = carry.generator.get_state()
    learn.model.eval()
    run_windows(learn, *windows())
    assert learn.batch is batch and learn.hidden_state is state and learn.training is True
    assert learn.carry is carry and carry.past_u is None
    assert torch.equal(carry.generator.get_state(), generator)  # not one draw consumed
    assert not learn.model.training


def test_run_windows_puts_everything_back_when_a_step_fails():
    class Boom(Callback):
        def after_batch(self, learn):
            raise RuntimeError("boom")

    learn = learner(BPTT.of(20), Boom())
    learn.model.eval()
    grads = [torch.zeros_like(p) for p in learn.model.parameters()]
    for p, g in zip(learn.model.parameters(), grads):
        p.grad = g
    with pytest.raises(RuntimeError, match="boom"):
        run_windows(learn, *windows())
    assert learn.hidden_state is None and not learn.model.training
    assert all(p.grad is g for p, g in zip(learn.model.parameters(), grads))


def test_each_is_entered_around_every_sub_window_and_callbacks_run():
    events = []

    class Log(Callback):
        def before_batch(self, learn):
            events.append(("before_batch", learn.batch.sub_idx))

        def after_batch(self, learn):
            events.append(("after_batch", learn.batch.sub_idx))

    @contextlib.contextmanager
    def each():
        events.append(("enter",))
        yield
        events.append(("exit",))

    learn = learner(BPTT.of(20), Log())
    run_windows(learn, *windows(), each=each)
    assert events == [
        e
        for k in range(3)
        for e in (("enter",), ("before_batch", k), ("after_batch", k), ("exit",))
    ]


def test_without_backward_no_gradient_is_left():
    learn = learner(BPTT.of(20))
    pred = run_windows(learn, *windows(), backward=False)
    assert all(p.grad is None for p in learn.model.parameters())
    pred.sum().backward()  # the caller's own backward reaches every sub-window's graph
    assert all(p.grad is not None for p in learn.model.parameters())


def test_learner_for_holds_exactly_the_windows_given():
    u, y = windows(bs=3, win_sz=40)
    model = StatefulRNN(hidden_size=4)
    learn = learner_for(model, u, y, BPTT.of(10))
    assert learn.model is model and learn.bptt == BPTT.of(10) and learn.loss_func is mae
    assert learn.dls.train is learn.dls.valid and learn.dls.train.bs == 3
    got_u, got_y = learn.dls.windows("train")
    assert torch.equal(got_u, u) and torch.equal(got_y, y)
    batches = list(learn.dls.train)
    assert [b.sub_idx for b in batches] == [0, 1, 2, 3]
    assert learner_for(model, u, y).bptt == BPTT()  # the default: full BPTT
    loss = learner_for(model, u, y, loss_func=torch.nn.functional.mse_loss).loss_func
    assert loss is torch.nn.functional.mse_loss
