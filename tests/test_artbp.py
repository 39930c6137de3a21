"""ARTBP (bptt="randomized"): unbiased on average where truncation is not, seeded, checked.

The reference case: echo task (delay 8), windows of 24 steps, an LSTM of 6 units, float64,
fixed weights. Truncated BPTT with k = 4 misses the gradient by a fixed relative error;
ARTBP with k1 = 4 and geometric cuts of mean 6 misses it by less and less as draws are
averaged (about 1/sqrt(M)). Measured (seed 0): truncated 0.098; ARTBP 0.054 at M = 1 and
0.008 at M = 32 (mean of two sets of draws); ARTBP without the compensation 0.064 at M = 32.
"""

import numpy as np
import pytest
import torch

import tbptt_kit as tk
from tbptt_kit import BPTT, Truncation
from tbptt_kit.artbp import Truncation as TruncationClass
from tbptt_kit.bias import error_by_draws, relative_error, window_gradient


@pytest.fixture(scope="module")
def echo_case():
    torch.manual_seed(0)
    dls = tk.create_dls_echo(win_sz=24, bs=4)
    u, y = dls.valid.ds[list(range(4))]
    return tk.StatefulRNN(1, 1, "lstm", 6).double(), u.double(), y.double()


def test_artbp_mean_converges_to_full_bptt_where_truncation_stays_biased(echo_case):
    model, u, y = echo_case
    exact = window_gradient(model, u, y, BPTT())
    truncated = relative_error(window_gradient(model, u, y, BPTT.of(4)), exact)
    errors = error_by_draws(model, u, y, BPTT("randomized", 4, truncation=Truncation(6)), 32, 2)
    assert truncated > 0.09  # truncation's bias: the same at every run (measured 0.098)
    assert errors[31] < 0.015 < truncated / 3  # the stated bound: 1.5 % at M = 32 (0.008)
    assert errors[31] < errors[0] / 3  # falls with M (1/sqrt(M) predicts 5.7x; 0.054 -> 0.008)


def test_without_the_compensation_the_mean_stays_biased(echo_case, monkeypatch):
    """The control: cuts drawn the same way, the 1 / (1 - c) left out."""
    model, u, y = echo_case
    monkeypatch.setattr(TruncationClass, "compensation", lambda self, age: 1.0)
    errors = error_by_draws(model, u, y, BPTT("randomized", 4, truncation=Truncation(6)), 32)
    assert errors[31] > 0.04  # measured 0.064: a bias again


def test_checkpointed_and_artbp_without_cuts_give_the_exact_gradient(echo_case):
    model, u, y = echo_case
    exact = window_gradient(model, u, y, BPTT())
    assert relative_error(window_gradient(model, u, y, BPTT("checkpointed", 8)), exact) < 1e-12
    never = BPTT("randomized", 4, truncation=Truncation(probs=(0,) * 23 + (1,)))
    assert relative_error(window_gradient(model, u, y, never), exact) < 1e-12


def test_a_seed_gives_identical_draws_and_gradients(echo_case):
    model, u, y = echo_case
    a, b, c = Truncation(6, seed=3), Truncation(6, seed=3), Truncation(6, seed=4)
    assert a.draw_cuts(1, 200) == b.draw_cuts(1, 200) != c.draw_cuts(1, 200)
    grads = [
        window_gradient(model, u, y, BPTT("randomized", 4, truncation=Truncation(6, seed=s)))
        for s in (5, 5, 6)
    ]
    assert torch.equal(grads[0], grads[1]) and not torch.equal(grads[0], grads[2])


def test_the_compensation_is_one_over_the_chance_of_going_on():
    t = Truncation(probs=(0.5, 0.25, 0.25))  # P(L=1), P(L=2), P(L=3)
    assert [t.hazard(a) for a in (1, 2, 3)] == [0.5, 0.5, 1.0]
    assert t.compensation(1) == 2.0 and t.mean == 1.75
    geo = Truncation(mean_len=5)
    assert geo.compensation(7) == pytest.approx(1.25)
    assert geo.survival(3) == pytest.approx(0.8**3)
    cuts = np.array(Truncation(mean_len=5, seed=0).draw_cuts(1, 20_000))
    assert cuts.mean() == pytest.approx(0.2, abs=0.01)


def test_a_learner_trains_with_artbp_and_repeats_itself():
    def run():
        dls = tk.create_dls_echo(win_sz=32, bs=8, sub_seq_len=8, n_train=512, n_valid=128)
        learn = tk.RNNLearner(dls, "gru", 8, sub_seq_len=8, bptt="randomized", seed=0,
                              truncation=Truncation(mean_len=12, seed=0), progress=False)  # fmt: skip
        learn.fit(1, lr=1e-2)
        return learn.recorder.epochs[-1]["train_loss"], learn.bptt.label

    (loss_a, label), (loss_b, _) = run(), run()
    assert loss_a == loss_b and np.isfinite(loss_a)
    assert label == "ARTBP(8, geometric, mean 12)"


def test_the_influence_task_truncation_gets_the_sign_wrong():
    model = tk.InfluenceModel(10, 4)
    u, y = torch.zeros(1, 200, 1), torch.ones(1, 200, 1)
    assert model.best_theta == -0.25
    full = window_gradient(model, u, y, BPTT())
    assert full.item() > 0  # at θ = 0, full BPTT lowers θ, towards θ* < 0
    assert window_gradient(model, u, y, BPTT.of(4)).item() < 0  # truncated: the other way
    assert window_gradient(model, u, y, BPTT.of(8)).item() < 0


# -- bad input: clear errors with the numbers ---------------------------------------------
def test_a_distribution_with_impossible_lengths_is_refused():
    dls = tk.create_dls_echo(win_sz=32, bs=8, sub_seq_len=8)
    short = Truncation(probs=(0.25,) * 4)  # no length beyond 4
    with pytest.raises(ValueError, match=r"P\(L > 4\) = 0.*divides by zero.*win_sz=32"):
        tk.RNNLearner(dls, sub_seq_len=8, bptt="randomized", truncation=short)


def test_a_mean_longer_than_the_window_is_refused():
    dls = tk.create_dls_echo(win_sz=32, bs=8, sub_seq_len=8)
    with pytest.raises(ValueError, match=r"mean truncation length 40 .*win_sz=32"):
        tk.RNNLearner(dls, sub_seq_len=8, bptt="randomized", truncation=Truncation(40))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mean_len": 1}, "mean_len must be a number > 1"),
        ({"mean_len": "8"}, "mean_len must be a number > 1"),
        ({"probs": (0.5, 0.6)}, r"summing to 1, got \(0.5, 0.6\)"),
        ({}, "exactly one of mean_len"),
    ],
)
def test_bad_distributions_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Truncation(**kwargs)


def test_randomized_needs_a_truncation_and_only_it_takes_one():
    with pytest.raises(ValueError, match="truncation=None goes with bptt='randomized'"):
        BPTT("randomized", 8)
    with pytest.raises(ValueError, match="got bptt='truncated'"):
        BPTT("truncated", 8, truncation=Truncation(4))
    with pytest.raises(TypeError, match="must be a Truncation"):
        BPTT("randomized", 8, truncation=4)


# -- notebook 10's exercises: "not done" for the stub, "right" for the solution, else "wrong"
@pytest.mark.parametrize(
    "name, check, wrong",
    [
        ("compensation_factors", "check_compensation_factors", lambda probs, n: [1.0] * n),
        ("shortest_safe_truncation", "check_shortest_safe_truncation", lambda lens, tol: 8),
    ],
)
def test_notebook_10_self_checks(name, check, wrong, capsys):
    from test_notebooks import NOTEBOOK_DIR, exercises, functions_of, read

    from tbptt_kit import checks

    (ex,) = [
        ex
        for ex in exercises(read(NOTEBOOK_DIR / "10_beyond_truncation.ipynb")).values()
        if name in functions_of(ex["stub"].source)
    ]
    check = getattr(checks, check)
    assert check(functions_of(ex["stub"].source)[name]) == checks.NOT_DONE
    assert check(functions_of(ex["solution"].read_text())[name]) == checks.RIGHT
    assert check(wrong) == checks.WRONG
    assert "not yet right" in capsys.readouterr().out


def test_on_streams_artbp_predicts_what_truncation_predicts_resets_included():
    """The cuts change where the gradient stops, never the values: with rows that start new
    records mid-epoch (zeroed inside the steps ARTBP runs again), the predictions of a whole
    stream epoch equal truncated BPTT's."""
    rng = np.random.default_rng(0)
    records = [(rng.standard_normal(n).astype(np.float32),) * 2 for n in (37, 55, 23, 61, 18)]
    dls = tk.create_stream_dls(records, records, bs=2, sub_seq_len=5)
    torch.manual_seed(0)
    model = tk.StatefulRNN(1, 1, "gru", 6)
    preds = {}
    for bptt in (BPTT.of(5), BPTT("randomized", 5, truncation=Truncation(mean_len=4))):
        model.reset_state()
        out = []
        for batch in dls.valid:  # not shuffled: the same batches for both modes
            if batch.new_window:
                model.reset_state()
            elif batch.reset.any():
                model.reset_state(rows=batch.reset)
            out.append(bptt.forward(model, batch.u).detach())
        preds[bptt.mode] = torch.cat(out, dim=1)
    assert sum(int(b.reset.any() and not b.new_window) for b in dls.valid) >= 3
    assert torch.allclose(preds["randomized"], preds["truncated"], atol=1e-6)


def test_artbp_trains_on_streams_and_repeats_itself():
    records = [(np.random.default_rng(i).standard_normal(300).astype(np.float32),) * 2
               for i in range(3)]  # fmt: skip

    def run():
        dls = tk.create_stream_dls(records, records, bs=2, sub_seq_len=10)
        learn = tk.RNNLearner(dls, "gru", 6, sub_seq_len=10, bptt="randomized", seed=0,
                              truncation=Truncation(8, seed=0), progress=False)  # fmt: skip
        learn.fit(1)
        return learn.recorder.epochs[-1]["train_loss"]

    assert run() == run()


def test_stream_loaders_refuse_a_distribution_that_ends():
    records = [(np.zeros(200, np.float32), np.ones(200, np.float32))] * 2
    dls = tk.create_stream_dls(records, records, bs=2, sub_seq_len=10)
    with pytest.raises(ValueError, match=r"makes lengths > 2 impossible, but a stream has no end"):
        tk.RNNLearner(
            dls, sub_seq_len=10, bptt="randomized", truncation=Truncation(probs=(0.5,) * 2)
        )
