"""modes/randomized.py: ARTBP. Unbiased on average where truncation is not; its cuts drawn
from a generator of its own, one per run (the carry ``RandomCuts``), so that a seed means
the same run and nothing called in the middle of a run (``run_windows``, the lens, the
memory meter) changes it; per-row resets on streams inside the steps it runs again.

The reference case: echo task (delay 8), windows of 24 steps, an LSTM of 6 units, float64,
fixed weights. Truncated BPTT with k = 4 misses the gradient by a fixed relative error;
ARTBP with k1 = 4 and geometric cuts of mean 6 misses it by less and less as draws are
averaged (about 1/sqrt(M)). Measured (seed 0): truncated 0.098; ARTBP 0.054 at M = 1 and
0.008 at M = 32 (mean of two sets of draws); ARTBP without the compensation 0.064 at M = 32.
"""

import numpy as np
import pytest
import torch

import tbptt_kit.modes.randomized as randomized_module
from tbptt_kit import (
    Callback,
    Learner,
    StatefulRNN,
    create_dls,
    create_dls_echo,
    create_stream_dls,
    detach_state,
    grad_by_lag,
    measure_memory,
    reset_rows,
    run_windows,
)
from tbptt_kit.course.bias import error_by_draws, relative_error, window_gradient
from tbptt_kit.modes import BPTT, Truncation
from tbptt_kit.modes.randomized import RandomCuts, scale_grad


@pytest.fixture(scope="module")
def echo_case():
    torch.manual_seed(0)
    dls = create_dls_echo(win_sz=24, bs=4)
    u, y = dls.valid.ds[list(range(4))]
    return StatefulRNN(1, 1, "lstm", 6).double(), u.double(), y.double()


def artbp(k1=4, **truncation):
    return BPTT("randomized", k1, truncation=Truncation(**truncation))


# -- unbiased on average ---------------------------------------------------------------------
def test_artbp_mean_converges_to_full_bptt_where_truncation_stays_biased(echo_case):
    model, u, y = echo_case
    exact = window_gradient(model, u, y, BPTT())
    truncated = relative_error(window_gradient(model, u, y, BPTT.of(4)), exact)
    errors = error_by_draws(model, u, y, artbp(mean_len=6), 32, 2)
    assert truncated > 0.09  # truncation's bias: the same at every run (measured 0.098)
    assert errors[31] < 0.015 < truncated / 3  # the stated bound: 1.5 % at M = 32 (0.008)
    assert errors[31] < errors[0] / 3  # falls with M (1/sqrt(M) predicts 5.7x; 0.054 -> 0.008)


def test_without_the_compensation_the_mean_stays_biased(echo_case, monkeypatch):
    """The control: cuts drawn the same way, the 1 / (1 - c) left out."""
    model, u, y = echo_case
    monkeypatch.setattr(Truncation, "compensation", lambda self, age: 1.0)
    errors = error_by_draws(model, u, y, artbp(mean_len=6), 32)
    assert errors[31] > 0.04  # measured 0.064: a bias again


def test_artbp_without_cuts_gives_the_exact_gradient(echo_case):
    model, u, y = echo_case
    exact = window_gradient(model, u, y, BPTT())
    never = artbp(probs=(0,) * 23 + (1,))  # the only length: the whole window
    assert relative_error(window_gradient(model, u, y, never), exact) < 1e-12
    rare = artbp(probs=(0.5,) + (0,) * 22 + (0.5,))  # the control: a cut, half the time
    assert relative_error(window_gradient(model, u, y, rare), exact) > 1e-3


def test_uncut_boundaries_scale_the_gradient_and_nothing_else():
    h = torch.randn(1, 2, 3, requires_grad=True)
    out = scale_grad(h, 2.5)
    assert torch.equal(out, h)
    out.sum().backward()
    assert torch.equal(h.grad, torch.full_like(h, 2.5))
    c = torch.randn(1, 2, 3, requires_grad=True)
    sh, sc = scale_grad((h, c), 4.0)
    (sh.sum() + sc.sum()).backward()
    assert torch.equal(c.grad, torch.full_like(c, 4.0))


# -- the distribution ------------------------------------------------------------------------
def test_the_compensation_is_one_over_the_chance_of_going_on():
    t = Truncation(probs=(0.5, 0.25, 0.25))  # P(L=1), P(L=2), P(L=3)
    assert [t.hazard(a) for a in (1, 2, 3)] == [0.5, 0.5, 1.0]
    assert t.hazard(4) == 1.0  # beyond the lengths given: certain
    assert [t.survival(a) for a in (0, 1, 2, 3)] == [1.0, 0.5, 0.25, 0.0]
    assert t.compensation(1) == 2.0 and t.mean == 1.75
    geo = Truncation(mean_len=5)
    assert geo.hazard(1) == geo.hazard(100) == 0.2
    assert geo.compensation(7) == pytest.approx(1.25)
    assert geo.survival(3) == pytest.approx(0.8**3) and geo.mean == 5.0
    gen = torch.Generator().manual_seed(0)
    cuts = np.array(geo.draw_cuts(1, 20_000, gen))
    assert cuts.mean() == pytest.approx(0.2, abs=0.01)
    assert Truncation(probs=(0.0, 1.0)).draw_cuts(1, 6, gen) == [False, True] * 3  # ages 1, 2


def test_a_seed_gives_identical_draws_and_gradients(echo_case):
    def draws(seed, first_age=1, n=200):
        return Truncation(6).draw_cuts(first_age, n, torch.Generator().manual_seed(seed))

    assert draws(3) == draws(3) != draws(4)
    model, u, y = echo_case
    grads = [window_gradient(model, u, y, artbp(mean_len=6, seed=s)) for s in (5, 5, 6)]
    assert torch.equal(grads[0], grads[1]) and not torch.equal(grads[0], grads[2])


def test_the_labels_say_the_distribution():
    assert Truncation(mean_len=16).label() == "geometric, mean 16"
    assert Truncation(probs=(0.5, 0.5)).label() == "given P(L), mean 1.5"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mean_len": 1}, "mean_len must be a number > 1"),
        ({"mean_len": "8"}, "mean_len must be a number > 1"),
        ({"probs": (0.5, 0.6)}, r"summing to 1, got \(0\.5, 0\.6\)"),
        ({"probs": (1.5, -0.5)}, r"non-negative, summing to 1"),
        ({}, "exactly one of mean_len"),
        ({"mean_len": 8, "probs": (1.0,)}, "exactly one of mean_len"),
    ],
)
def test_bad_distributions_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Truncation(**kwargs)


def test_a_distribution_with_impossible_lengths_is_refused():
    dls = create_dls_echo(win_sz=32, bs=8, sub_seq_len=8)
    short = Truncation(probs=(0.25,) * 4)  # no length beyond 4
    with pytest.raises(ValueError, match=r"P\(L > 4\) = 0.*divides by zero.*win_sz=32"):
        BPTT("randomized", 8, truncation=short).check_loaders(dls)
    BPTT("randomized", 8, truncation=Truncation(probs=(0.0,) * 31 + (1.0,))).check_loaders(dls)


def test_a_mean_longer_than_the_window_is_refused():
    dls = create_dls_echo(win_sz=32, bs=8, sub_seq_len=8)
    with pytest.raises(ValueError, match=r"mean truncation length 40 .*win_sz=32"):
        BPTT("randomized", 8, truncation=Truncation(40)).check_loaders(dls)


def test_stream_loaders_refuse_a_distribution_that_ends():
    records = [(np.zeros(200, np.float32), np.ones(200, np.float32))] * 2
    dls = create_stream_dls(records, records, bs=2, sub_seq_len=10)
    with pytest.raises(ValueError, match=r"makes lengths > 2 impossible, but a stream has no end"):
        BPTT("randomized", 10, truncation=Truncation(probs=(0.5,) * 2)).check_loaders(dls)
    BPTT("randomized", 10, truncation=Truncation(mean_len=8)).check_loaders(dls)


# -- the carry: the steps since the last cut, run again ----------------------------------------
def test_artbp_reaches_back_past_the_sub_window_truncation_never():
    """ARTBP runs the steps since its last cut again, so the loss of sub-window 2 has a
    gradient on sub-window 1's inputs; truncated BPTT's detach stops it at the boundary."""
    torch.manual_seed(0)
    model = StatefulRNN(rnn_type="gru", hidden_size=4)
    u1, u2 = torch.randn(2, 5, 1, requires_grad=True), torch.randn(2, 5, 1)
    always_10 = artbp(5, probs=(0,) * 9 + (1,)).carry()  # every truncation length is 10 steps
    keep = torch.zeros(2, dtype=torch.bool)
    _, state = always_10(model, u1, None, ~keep)  # no cut within these 10 steps
    pred, _ = always_10(model, u2, detach_state(state), keep)
    (g,) = torch.autograd.grad(pred.sum(), u1)
    assert g.abs().min() > 0
    _, state = model(u1)  # the control: the loop's own truncation at the boundary
    pred, _ = model(u2, detach_state(state))
    assert torch.autograd.grad(pred.sum(), u1, allow_unused=True)[0] is None


def test_a_row_reset_under_artbp_starts_that_row_from_zeros_where_it_falls():
    """A stream row that starts a new record between two sub-windows: ARTBP runs the steps
    since its last cut again, and the reset must fall at the right step of that run."""
    torch.manual_seed(0)
    model = StatefulRNN(rnn_type="lstm", hidden_size=4)
    carry = artbp(5, probs=(0,) * 14 + (1,)).carry()
    u1, u2 = torch.randn(2, 5, 1), torch.randn(2, 5, 1)
    _, state = carry(model, u1, None, torch.tensor([True, True]))
    reset = torch.tensor([True, False])
    got, _ = carry(model, u2, reset_rows(detach_state(state), reset), reset)
    with torch.no_grad():
        fresh = model(u2[:1])[0]  # row 0: a new record, from zeros
        carried = model(torch.cat([u1, u2], 1)[1:])[0][:, 5:]  # row 1 goes on
    assert torch.allclose(got[:1], fresh, atol=1e-6)
    assert torch.allclose(got[1:], carried, atol=1e-6)


def stream_batches():
    rng = np.random.default_rng(0)
    records = [
        (rng.standard_normal(n).astype(np.float32),) * 2
        for n in (37, 55, 23, 61, 18, 12, 29, 8, 33)
    ]
    return list(create_stream_dls(records, records, bs=2, sub_seq_len=5).valid)


def carried_run(carry, batches, grad=False):
    """The loop's reset, carry, detach over stream ``batches``, through ``carry``."""
    torch.manual_seed(0)
    model, state, out = StatefulRNN(rnn_type="gru", hidden_size=6), None, []
    for b in batches:
        u = b.u.clone().requires_grad_(grad)
        state = reset_rows(state, b.reset)
        pred, state = carry(model, u, state, b.reset) if carry else model(u, state)
        state = detach_state(state)
        out.append((u, pred, b.reset))
    return out


class ForgetsPastResets(RandomCuts):
    """The broken carry: rows that start a record inside the steps it runs again go on."""

    past_resets = property(lambda self: {}, lambda self, value: None)


@pytest.mark.parametrize("carry", [RandomCuts, ForgetsPastResets])
def test_on_streams_artbp_predicts_what_truncation_predicts_resets_included(carry):
    """The cuts change where the gradient stops, never the values: with rows that start new
    records mid-epoch (zeroed inside the steps ARTBP runs again), the predictions of a whole
    stream epoch equal truncated BPTT's."""
    batches = stream_batches()
    assert sum(bool(b.reset.any() and not b.reset.all()) for b in batches) >= 3
    got = torch.cat(
        [p.detach() for _, p, _ in carried_run(carry(Truncation(mean_len=4)), batches)], 1
    )
    plain = torch.cat([p.detach() for _, p, _ in carried_run(None, batches)], 1)
    if carry is RandomCuts:
        assert torch.allclose(got, plain, atol=1e-6)
    else:  # the control: a row that started inside the steps run again is wrong
        assert not torch.allclose(got, plain, atol=1e-4)


@pytest.mark.parametrize("carry", [RandomCuts, ForgetsPastResets])
def test_on_streams_no_gradient_crosses_a_rows_reset_inside_the_steps_run_again(carry):
    """Cuts every 15 steps (a distribution of one length) from where every row last
    started, sub-windows of 5: the last step of batch i reaches back to the last cut, or to
    its row's reset if that came later."""
    every_15 = Truncation(probs=(0.0,) * 14 + (1.0,))
    run = carried_run(carry(every_15), stream_batches(), grad=True)
    us, wrong, by_reset = [u for u, _, _ in run], [], 0
    starts = torch.stack([r for _, _, r in run], 1)  # (bs, n_batches)
    for i, (_, pred, _) in enumerate(run):
        end = 5 * (i + 1)
        grads = torch.autograd.grad(
            pred[:, -1].sum(), us[: i + 1], allow_unused=True, retain_graph=True
        )
        g = torch.cat([torch.zeros_like(u) if d is None else d for u, d in zip(us, grads)], 1)
        for row in range(2):
            started = max(5 * b for b in range(i + 1) if starts[row, b])
            origin = max(5 * b for b in range(i + 1) if starts[:, b].all())  # all rows start
            cut = origin + 15 * ((end - 1 - origin) // 15)
            first = max(cut, started)
            by_reset += started > cut
            reached = g[row, :, 0].nonzero().flatten()
            if reached.min() != first or len(reached) != end - first:
                wrong.append((i, row))
    assert by_reset >= 3
    assert (wrong != []) == (carry is ForgetsPastResets)


# -- a carry per run: a seed means the same run --------------------------------------------
def echo_learner(bptt, *cbs):
    dls = create_dls_echo(win_sz=32, bs=8, sub_seq_len=8, n_train=256, n_valid=64)
    torch.manual_seed(0)
    return Learner(dls, StatefulRNN(rnn_type="gru", hidden_size=8), bptt, cbs=[*cbs], seed=0)


class Losses(Callback):
    order = 100

    def before_fit(self, learn):
        self.losses = []

    def after_batch(self, learn):
        if learn.training:
            self.losses.append(learn.loss.item())


def run(bptt, *cbs):
    losses = Losses()
    learn = echo_learner(bptt, losses, *cbs)
    learn.fit(1, lr=1e-2)
    return losses.losses, [p.detach().clone() for p in learn.model.parameters()]


def same_run(a, b) -> bool:
    return a[0] == b[0] and all(torch.equal(x, y) for x, y in zip(a[1], b[1], strict=True))


def test_one_truncation_used_by_two_learners_gives_two_identical_runs(monkeypatch):
    truncation = Truncation(mean_len=12, seed=3)
    bptt = BPTT("randomized", 8, truncation=truncation)
    first, second = run(bptt), run(bptt)
    assert len(first[0]) > 0 and np.isfinite(first[0]).all()
    assert same_run(first, second)
    # the control: one carry shared by both runs, the second goes on with the first's draws
    shared = RandomCuts(truncation)
    monkeypatch.setattr(randomized_module.Randomized, "carry", staticmethod(lambda bptt: shared))
    a, b = run(bptt), run(bptt)
    assert same_run(a, first) and not same_run(b, first)


def windows_of(learn):
    return learn.dls.windows("train", 4)


CALLS = {
    "run_windows": lambda learn: run_windows(learn, *windows_of(learn)),
    "grad_by_lag": lambda learn: grad_by_lag(learn),
    "measure_memory": lambda learn: measure_memory(learn, peak=False),
}


class CallsMidRun(Callback):
    """After training step 5: ``call(learn)``; with ``own_carry``, the broken version, whose
    run goes through the learner's own carry instead of a fresh one."""

    order = 200

    def __init__(self, call, own_carry=False):
        self.call, self.own_carry, self.done = call, own_carry, False

    def after_batch(self, learn):
        if learn.training and learn.step_in_epoch == 5 and not self.done:
            self.done = True
            if self.own_carry:
                with pytest.MonkeyPatch.context() as mp:
                    mp.setattr(BPTT, "carry", lambda bptt: learn.carry)
                    self.call(learn)
            else:
                self.call(learn)


@pytest.mark.parametrize("name", list(CALLS))
def test_a_measurement_in_the_middle_of_an_artbp_run_leaves_the_run_as_it_was(name):
    bptt = BPTT("randomized", 8, truncation=Truncation(mean_len=12, seed=1))
    plain = run(bptt)
    measured = CallsMidRun(CALLS[name])
    assert same_run(run(bptt, measured), plain) and measured.done
    meddling = CallsMidRun(CALLS[name], own_carry=True)  # the control
    assert not same_run(run(bptt, meddling), plain) and meddling.done


def test_artbp_trains_and_repeats_itself_on_windows_and_streams():
    bptt = BPTT("randomized", 8, truncation=Truncation(mean_len=12, seed=0))
    assert bptt.label == "ARTBP(8, geometric, mean 12)"
    records = [
        (np.random.default_rng(i).standard_normal(300).astype(np.float32),) * 2 for i in range(3)
    ]

    def on_streams():
        dls = create_stream_dls(records, records, bs=2, sub_seq_len=10)
        torch.manual_seed(0)
        learn = Learner(
            dls,
            StatefulRNN(rnn_type="gru", hidden_size=6),
            BPTT("randomized", 10, truncation=Truncation(8, seed=0)),
        )
        learn.fit(1)
        return learn.validate()

    assert on_streams() == on_streams()
    learn = echo_learner(bptt)
    before = learn.validate()[0]
    learn.fit(2, lr=1e-2)
    assert learn.validate()[0] < before


def test_draw_i_gives_independent_draws_of_the_same_mode(echo_case):
    model, u, y = echo_case
    bptt = artbp(mean_len=6, seed=2)
    g = [window_gradient(model, u, y, bptt.draw(i)) for i in (0, 0, 1)]
    assert torch.equal(g[0], g[1]) and not torch.equal(g[0], g[2])
    assert torch.equal(g[0], window_gradient(model, u, y, bptt))


def test_predictions_without_a_gradient_are_the_plain_loops():
    """Validation runs the model as the plain loop does, whatever the cuts."""
    bptt = BPTT("randomized", 10, truncation=Truncation(mean_len=4))
    rng = np.random.default_rng(0)
    u = rng.standard_normal(600).astype(np.float32)
    dls = create_dls((u, u), (u, u), bs=4, win_sz=60, stp_sz=60, sub_seq_len=10)
    torch.manual_seed(0)
    learn = Learner(dls, StatefulRNN(rnn_type="gru", hidden_size=6), bptt)
    plain = Learner(dls, learn.model, BPTT.of(10))
    assert torch.equal(learn.predict()[0], plain.predict()[0])


def test_a_cut_before_every_step_stops_every_gradient_at_its_step():
    """A distribution of one length, 1: every boundary is cut, from the very first one on;
    each output's gradient reaches its own input only."""
    torch.manual_seed(0)
    model, carry = StatefulRNN(rnn_type="gru", hidden_size=4), RandomCuts(Truncation(probs=(1.0,)))
    for call in range(2):
        u = torch.randn(2, 5, 1, requires_grad=True)
        pred, _ = carry(model, u, None, torch.tensor([call == 0] * 2))
        for t in range(5):
            (g,) = torch.autograd.grad(pred[:, t].sum(), u, retain_graph=True)
            assert (g[:, t] != 0).all() and (g[:, :t] == 0).all(), (call, t)


class PastLengths(Callback):
    """The steps the carry keeps to run again, after each training step, beside the steps
    since its window started."""

    def before_fit(self, learn):
        self.seen = []

    def after_batch(self, learn):
        if learn.training:
            self.seen.append((learn.carry.past_u.shape[1], (learn.batch.sub_idx + 1) * 8))


def test_the_steps_run_again_never_reach_before_the_windows_start():
    past = PastLengths()
    learn = echo_learner(BPTT("randomized", 8, truncation=Truncation(mean_len=12, seed=0)), past)
    learn.fit(1)
    assert all(kept <= since for kept, since in past.seen)
    assert any(kept == since > 8 for kept, since in past.seen)  # and they do reach back


def test_a_numpy_seed_is_kept_as_an_int_and_a_bad_one_named():
    t = Truncation(mean_len=8, seed=np.int64(3))
    assert t.seed == 3 and type(t.seed) is int and t == Truncation(mean_len=8, seed=3)
    with pytest.raises(ValueError, match=r"^seed must be an int >= 0, got -1"):
        Truncation(mean_len=8, seed=-1)


def test_the_steps_since_the_last_cut_start_again_at_each_cut():
    """``stops``: the boundaries where something happens, with the age each one has."""
    carry = RandomCuts(Truncation(probs=(0.25, 0.25, 0.25, 0.25)))  # c > 0 at every age
    cuts = [False, False, True, False, False, True, False]
    assert list(carry.stops(cuts)) == [(1, 1), (2, 2), (3, 1), (4, 2), (5, 3), (6, 1)]
    sparse = RandomCuts(Truncation(probs=(0.0, 0.0, 1.0)))  # c = 0 at ages 1, 2: no stop
    assert list(sparse.stops([False, False, False, True, False, False, True])) == [(3, 3), (6, 3)]
