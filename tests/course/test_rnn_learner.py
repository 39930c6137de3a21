"""course/rnn_learner.py: ``RNNLearner``, the reference example's learner. It builds a fresh
``StatefulRNN`` and the mode its arguments name, brings the usual callbacks (the table,
the recorder, the stop on NaN, the budget), schedules, scores the benchmark's way, draws,
saves and loads; text loaders get their vocabulary and cross-entropy."""

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

from tbptt_kit import (
    BPTT,
    RNNLearner,
    TrainingDiverged,
    Truncation,
    bits_per_char,
    create_dls,
    create_dls_text,
    create_stream_dls,
    cross_entropy,
    fun_rmse,
    mae,
    sample_text,
)
from tbptt_kit.course.rnn_learner import adam

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[2]


def dls(sub_seq_len=None, **kw):
    """Windows of 100 steps (every 20 in training) over a record in volts, shown in mV."""
    rng = np.random.default_rng(0)
    u = rng.standard_normal(3000).astype(np.float32) * 0.02
    y = np.convolve(u, np.exp(-np.arange(40) / 10.0))[:3000].astype(np.float32)
    args = {"bs": 8, "win_sz": 100, "stp_sz": 20, "sub_seq_len": sub_seq_len} | kw
    return create_dls(
        (u[:2400], y[:2400]),
        (u[2400:], y[2400:]),
        {"test": (u[2400:], y[2400:])},
        units=("mV", 1e3),
        **args,
    )


def learner(sub_seq_len=None, loaders=None, **kw):
    kw = {"hidden_size": 8, "sub_seq_len": sub_seq_len, "seed": 0, "progress": False} | kw
    return RNNLearner(loaders or dls(sub_seq_len), **kw)


# -- what the arguments build ------------------------------------------------------------------
@pytest.mark.parametrize(
    "kw, bptt",
    [
        ({}, BPTT()),
        ({"sub_seq_len": 20}, BPTT("truncated", 20)),
        ({"sub_seq_len": 20, "backprop_len": 50}, BPTT("truncated", 20, 50)),
        ({"sub_seq_len": 25, "mode": "checkpointed"}, BPTT("checkpointed", 25)),
        (
            {"sub_seq_len": 20, "mode": "randomized", "truncation": Truncation(mean_len=30)},
            BPTT("randomized", 20, truncation=Truncation(mean_len=30)),
        ),
        ({"bptt": BPTT("truncated", 20, 40)}, BPTT("truncated", 20, 40)),
    ],
)
def test_the_arguments_name_the_mode(kw, bptt):
    learn = RNNLearner(dls(bptt.loader_sub_seq_len), hidden_size=4, progress=False, **kw)
    assert learn.bptt == bptt
    assert type(learn.carry) is type(bptt.carry())


@pytest.mark.parametrize(
    "kw, pattern",
    [
        (
            {"mode": "sideways", "sub_seq_len": 50},
            r"mode='sideways' is unknown.*'full', 'truncated', 'checkpointed'",
        ),
        ({"mode": "checkpointed"}, r"mode='checkpointed' needs sub_seq_len"),
        (
            {"sub_seq_len": 50, "backprop_len": 20},
            r"backprop_len=20 must be an int >= sub_seq_len=50",
        ),
        ({"mode": "randomized", "sub_seq_len": 50}, r"mode='randomized' needs a truncation"),
    ],
)
def test_bad_mode_arguments_are_refused(kw, pattern):
    loaders = dls(kw.get("sub_seq_len") if kw.get("mode") is None else None)
    with pytest.raises(ValueError, match=pattern):
        RNNLearner(loaders, hidden_size=4, progress=False, **kw)


def test_the_model_is_built_from_the_loaders_and_the_arguments():
    loaders = dls(20)
    learn = RNNLearner(loaders, "gru", 12, num_layers=2, sub_seq_len=20, progress=False)
    model = learn.model
    assert (model.rnn_type, model.hidden_size, model.num_layers) == ("gru", 12, 2)
    assert torch.equal(model.u_mean, torch.tensor(loaders.norm.u_mean, dtype=torch.float32))
    assert learn.loss_func is mae and learn.opt_func is adam
    assert isinstance(adam([torch.zeros(1, requires_grad=True)]), torch.optim.Adam)


def test_the_seed_gives_the_same_weights_and_the_same_run():
    runs = []
    for seed in (123, 123, 124):
        learn = learner(20, seed=seed)
        learn.fit(1, 3e-3)
        runs.append(learn.recorder.losses)
    assert runs[0] == runs[1] and runs[0] != runs[2]


# -- training and its record ------------------------------------------------------------------
def test_the_printed_table_has_the_reference_columns(capsys):
    learn = learner(metrics=[fun_rmse], progress=True)
    learn.fit_flat_cos(2, 3e-3)
    lines = capsys.readouterr().out.strip().splitlines()
    header = ["epoch", "train_loss", "valid_loss", "fun_rmse", "act_mem", "time"]
    assert lines[0].split() == header
    assert [line.split()[0] for line in lines[1:]] == ["0", "1"]


@pytest.mark.parametrize("sub_seq_len", [None, 20])
def test_training_reduces_the_loss(sub_seq_len):
    learn = learner(sub_seq_len, hidden_size=16, metrics=[fun_rmse])
    before = learn.validate()[1]
    learn.fit_flat_cos(3, 1e-2)
    assert learn.validate()[1] < 0.5 * before


def test_one_optimizer_step_per_sub_batch_and_the_recorder():
    learn = learner(25)
    learn.fit(2, 1e-3)
    n_batches = math.ceil(learn.dls.train.n_windows / learn.dls.train.bs)
    assert len(learn.dls.train) == n_batches * 4
    assert len(learn.recorder.losses) == len(learn.recorder.lrs) == 2 * len(learn.dls.train)
    assert learn.opt.state[learn.model.head.weight]["step"] == 2 * len(learn.dls.train)
    assert [e["epoch"] for e in learn.recorder.epochs] == [0, 1]
    assert learn.recorder.epochs[-1]["valid_loss"] == learn.valid_scores[0]


def test_flat_cos_schedule():
    learn = learner()
    learn.fit_flat_cos(4, 1e-2, pct_start=0.5)
    lrs = learn.recorder.lrs  # LR used at each step
    half = len(lrs) // 2
    assert lrs[0] == lrs[half - 1] == pytest.approx(1e-2)
    assert all(a >= b for a, b in zip(lrs[half:], lrs[half + 1 :]))
    assert lrs[-1] < 1e-4


def test_one_cycle_schedule_warms_up_then_anneals():
    learn = learner()
    learn.fit_one_cycle(2, 1e-2)
    lrs = learn.recorder.lrs
    peak = int(np.argmax(lrs))
    assert 0 < peak < len(lrs) - 1 and max(lrs) == pytest.approx(1e-2, rel=0.05)
    assert peak == pytest.approx(0.25 * len(lrs), abs=2)  # pct_start 0.25
    with pytest.raises(
        ValueError, match=r"pct_start must be a finite number in \(0, 1\), got 1\.0"
    ):
        learn.fit_one_cycle(1, pct_start=1.0)
    with pytest.raises(ValueError, match=r"lr must be a finite number in \(0, inf\], got -1\.0"):
        learn.fit_one_cycle(1, lr=-1)


def test_a_nan_loss_stops_training_with_a_message():
    calls = {"n": 0}

    def exploding_loss(pred, targ):
        calls["n"] += 1
        loss = (pred - targ).abs().mean()
        return loss * math.nan if calls["n"] == 5 else loss

    learn = learner(loss_func=exploding_loss)
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 1, step 5.*smaller lr"):
        learn.fit(3, 1e-3)
    assert learn.recorder.epochs == []  # no row of NaNs was written


def test_a_non_finite_validation_score_stops_training():
    def nan_in_validation(pred, targ):  # metrics are computed in validation only
        return torch.tensor(math.nan)

    learn = learner(metrics=[nan_in_validation])
    with pytest.raises(TrainingDiverged, match="nan_in_validation became nan after epoch 1"):
        learn.fit(2)
    assert learn.recorder.epochs == []  # no row of NaNs


def test_n_skip_leaves_out_the_first_steps_of_each_window():
    learn = learner(20, n_skip=5)
    pred, _ = learn.predict()
    assert pred.shape[0] == len(learn.dls.valid.ds) * (100 - 5)


@pytest.mark.parametrize("bad", ["lots", "2 GB of RAM", -5])
def test_a_budget_that_does_not_parse_is_refused_at_once(bad):
    with pytest.raises((ValueError, TypeError), match="memory size"):
        learner(max_memory=bad)


def test_clip_grad_adds_the_clipping_callback():
    from tbptt_kit import GradClipCB

    learn = learner(clip_grad=0.5)
    (clip,) = [cb for cb in learn.cbs if isinstance(cb, GradClipCB)]
    assert clip.max_norm == 0.5
    assert not any(isinstance(cb, GradClipCB) for cb in learner().cbs)


# -- scores the benchmark's way, and the pictures ---------------------------------------------
def test_simulate_and_test_rmse_in_millivolts():
    learn = learner()
    learn.fit(2, 1e-2)
    u, y = learn.dls.test["test"]
    assert learn.simulate(u).shape == (len(u), 1)
    y_hat = learn.simulate((u, y))  # the first 50 outputs set the initial state
    rmse = learn.test_rmse()["test"]
    assert y_hat.shape == (len(y), 1)  # (T, n_y): compare with y as (T, 1), never broadcast
    expected = np.sqrt(np.mean((y_hat[50:] - y.reshape(-1, 1)[50:]) ** 2)) * 1000
    assert rmse == pytest.approx(expected, rel=1e-5)
    assert learn.score("valid")["valid"] > 0


def test_simulate_refuses_nan_and_wrong_shapes():
    learn = learner()
    u, y = learn.dls.test["test"]
    with pytest.raises(ValueError, match=r"\(T,\).*\(T, n\).*\(2, 3, 4\)"):
        learn.simulate(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="u has 3 channels, the model takes 1"):
        learn.simulate(np.zeros((100, 3)))
    with pytest.raises(ValueError, match="n_init must be an int >= 0, got -1"):
        learn.simulate((u, y), n_init=-1)
    with pytest.raises(ValueError, match="30 samples: it needs more than n_init=50"):
        learn.simulate((u[:30], y[:30]))


def test_test_rmse_needs_test_records_and_show_results_a_window():
    rng = np.random.default_rng(0)
    u = rng.standard_normal(600).astype(np.float32)
    learn = RNNLearner(
        create_dls((u, u), (u, u), bs=4, win_sz=50, stp_sz=50), hidden_size=4, progress=False
    )
    with pytest.raises(ValueError, match="test_rmse needs test records"):
        learn.test_rmse()
    with pytest.raises(ValueError, match="max_n must be an int >= 1.*got 0"):
        learn.show_results(max_n=0)


def test_initial_state_explains_the_first_outputs_better_than_zeros():
    learn = learner(rnn_type="lstm", hidden_size=16)
    learn.fit(4, 1e-2)
    u, y = learn.dls.test["test"]
    u, y = u[300:], y[300:] + 0.05  # starts in motion, and away from where zeros would put it
    zero_state = learn.simulate(u)[:50]
    fitted = learn.simulate((u, y))[:50]
    error = {
        name: np.sqrt(np.mean((pred - y[:50]) ** 2))
        for name, pred in (("zeros", zero_state), ("fitted", fitted))
    }
    assert error["fitted"] < 0.8 * error["zeros"], error
    assert learn.model.rnn.weight_hh_l0.requires_grad  # the weights are left trainable


def test_show_results_and_plot_losses_draw():
    import matplotlib.pyplot as plt

    learn = learner(20)
    learn.fit(1, 1e-3)
    plt.close("all")
    learn.show_results(max_n=2)
    fig = plt.gcf()
    assert len(fig.axes) == 2
    lines = fig.axes[0].get_lines()
    assert len(lines[0].get_xdata()) == 100  # the whole window, sub-windows stitched together
    assert len(lines) == 2 + 4  # target, prediction, and the 4 sub-window boundaries
    learn.plot_losses()
    assert len(plt.gcf().axes[0].get_lines()[0].get_xdata()) == len(learn.recorder.losses)
    plt.close("all")
    streams = RNNLearner(
        create_stream_dls(records(2), records(2), bs=2, sub_seq_len=10),
        hidden_size=4,
        sub_seq_len=10,
        progress=False,
    )
    with pytest.raises(ValueError, match="show_results draws windows; stream loaders have none"):
        streams.show_results()


def records(n):
    rng = np.random.default_rng(0)
    return [(rng.standard_normal(200).astype(np.float32),) * 2 for _ in range(n)]


# -- save and load -------------------------------------------------------------------------------
def test_from_file_builds_the_learner_that_saved_with_the_saved_weights(tmp_path):
    learn = learner(20, rnn_type="gru", hidden_size=6, num_layers=2, backprop_len=40)
    learn.fit(1)
    path = learn.save(tmp_path / "run.pt")
    again = RNNLearner.from_file(path, dls(20), progress=False, metrics=[fun_rmse])
    assert again.bptt == BPTT("truncated", 20, 40) and again.metrics == [fun_rmse]
    assert (again.model.rnn_type, again.model.hidden_size, again.model.num_layers) == ("gru", 6, 2)
    for a, b in zip(learn.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)
    assert again.validate()[0] == learn.validate()[0]


def test_save_and_load_round_trip_in_a_fresh_process(tmp_path):
    learn = learner(10, dls(10, win_sz=50, stp_sz=50, bs=4), hidden_size=8)
    learn.fit(1)
    path = learn.save(tmp_path / "model.pt")
    before = [learn.validate(), learn.test_rmse()]
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(ROOT)!r})
        from tests.course.test_rnn_learner import dls
        from tbptt_kit import RNNLearner
        learn = RNNLearner(dls(10, win_sz=50, stp_sz=50, bs=4), hidden_size=8, sub_seq_len=10,
                           progress=False)
        learn.load({str(path)!r})
        print(json.dumps([learn.validate(), learn.test_rmse()]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        timeout=300,
    ).stdout
    assert json.loads(out.strip().splitlines()[-1]) == json.loads(json.dumps(before))


# -- text ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def text_dls():
    doc = "the cat sat on the mat. " * 60
    return create_dls_text([doc, doc[::-1]], bs=4, sub_seq_len=16, valid_frac=0.2)


def test_a_text_learner_takes_its_vocabulary_and_cross_entropy_from_the_loaders(text_dls):
    learn = RNNLearner(
        text_dls, hidden_size=16, sub_seq_len=16, metrics=[bits_per_char], seed=0, progress=False
    )
    assert learn.model.vocab_size == len(text_dls.vocab) and learn.loss_func is cross_entropy
    pred, targ = learn.predict()
    n_valid = sum(len(x) for x in text_dls.valid.ds.y)
    assert pred.shape == (n_valid, len(text_dls.vocab)) and targ.shape == (n_valid,)
    before = learn.validate()
    assert before[1] == pytest.approx(before[0] / math.log(2), rel=1e-5)
    learn.fit(3, lr=1e-2)
    after = learn.validate()
    assert after[1] < before[1] - 0.5  # bits per character fall
    text = sample_text(learn.model, text_dls.vocab, "the ", n_chars=30, seed=1)
    assert text == sample_text(learn.model, text_dls.vocab, "the ", n_chars=30, seed=1)


def test_text_learners_refuse_what_does_not_fit(text_dls):
    with pytest.raises(ValueError, match="vocab_size=5 differs"):
        RNNLearner(text_dls, sub_seq_len=16, vocab_size=5, progress=False)
    with pytest.raises(ValueError, match="loss_func=mae"):
        RNNLearner(text_dls, sub_seq_len=16, loss_func=mae, progress=False)
    signals = create_stream_dls(records(1)[0], records(1)[0], bs=1, sub_seq_len=10)
    with pytest.raises(ValueError, match="vocab_size=20 is for token models"):
        RNNLearner(signals, sub_seq_len=10, vocab_size=20, progress=False)
    with pytest.raises(ValueError, match="stream loaders"):
        RNNLearner(signals, progress=False)  # full BPTT needs windows
    with pytest.raises(ValueError, match="validate"):
        RNNLearner(text_dls, sub_seq_len=16, progress=False).score("valid")


# -- the reference example -----------------------------------------------------------------------
@pytest.mark.slow
def test_reference_example_reaches_the_reference_accuracy(tmp_path, monkeypatch):
    """The seed's example, as written: 10 epochs, standard and TBPTT, both below 0.02 V."""
    monkeypatch.setenv("TBPTT_KIT_DATA", str(tmp_path))
    monkeypatch.delenv("TBPTT_KIT_SMOKE", raising=False)
    from tbptt_kit import create_dls_silverbox

    for sub_seq_len in (None, 100):
        loaders = create_dls_silverbox(bs=16, win_sz=500, stp_sz=10, sub_seq_len=sub_seq_len)
        learn = RNNLearner(
            loaders,
            rnn_type="lstm",
            hidden_size=40,
            sub_seq_len=sub_seq_len,
            metrics=[fun_rmse],
            seed=0,
            progress=False,
        )
        learn.fit_flat_cos(n_epoch=10, lr=3e-3)
        valid_loss, rmse = learn.validate()
        assert rmse < 0.02, f"sub_seq_len={sub_seq_len}: validation RMSE {rmse:.4f} V"
        assert valid_loss < rmse
