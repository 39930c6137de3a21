"""The learner: schedules, progress table, recorder, validation, reproducibility, divergence."""

import math

import matplotlib
import numpy as np
import pytest
import torch

from tbptt_kit import RNNLearner, StatefulRNN, TrainingDiverged, create_dls, fun_rmse

matplotlib.use("Agg")


@pytest.fixture
def dls_factory():
    rng = np.random.default_rng(0)
    u = rng.standard_normal(3000).astype(np.float32) * 0.02
    y = np.convolve(u, np.exp(-np.arange(40) / 10.0))[:3000].astype(np.float32)

    def make(sub_seq_len=None, **kw):
        args = {"bs": 8, "win_sz": 100, "stp_sz": 20, "sub_seq_len": sub_seq_len} | kw
        return create_dls(
            (u[:2400], y[:2400]),
            (u[2400:], y[2400:]),
            {"test": (u[2400:], y[2400:])},
            units=("mV", 1e3),
            **args,
        )

    return make


def test_the_printed_table_has_the_reference_columns(dls_factory, capsys):
    lrn = RNNLearner(dls_factory(), hidden_size=8, metrics=[fun_rmse], seed=0)
    lrn.fit_flat_cos(2, 3e-3)
    lines = capsys.readouterr().out.strip().splitlines()
    header = ["epoch", "train_loss", "valid_loss", "fun_rmse", "act_mem", "time"]
    assert lines[0].split() == header
    assert [line.split()[0] for line in lines[1:]] == ["0", "1"]


def test_validate_returns_loss_then_metrics(dls_factory):
    lrn = RNNLearner(
        dls_factory(20), hidden_size=8, sub_seq_len=20, metrics=[fun_rmse], progress=False
    )
    result = lrn.validate()
    pred, targ = lrn.predict()
    assert len(result) == 2
    assert result[0] == pytest.approx(float((pred - targ).abs().mean()))
    assert result[1] == pytest.approx(float(((pred - targ) ** 2).mean().sqrt()))
    assert pred.shape == (len(lrn.dls.valid.ds) * 100, 1)


def test_training_reduces_the_loss(dls_factory):
    for sub_seq_len in (None, 20):
        lrn = RNNLearner(
            dls_factory(sub_seq_len),
            hidden_size=16,
            sub_seq_len=sub_seq_len,
            metrics=[fun_rmse],
            seed=0,
            progress=False,
        )
        before = lrn.validate()[1]
        lrn.fit_flat_cos(3, 1e-2)
        assert lrn.validate()[1] < 0.5 * before


def test_same_seed_gives_identical_losses(dls_factory):
    runs = []
    for _ in range(2):
        lrn = RNNLearner(dls_factory(20), hidden_size=8, sub_seq_len=20, seed=123, progress=False)
        lrn.fit(1, 3e-3)
        runs.append(lrn.recorder.losses)
    assert runs[0] == runs[1]
    lrn = RNNLearner(dls_factory(20), hidden_size=8, sub_seq_len=20, seed=124, progress=False)
    lrn.fit(1, 3e-3)
    assert lrn.recorder.losses != runs[0]


def test_one_optimizer_step_per_sub_batch_and_the_recorder(dls_factory):
    dls = dls_factory(25)
    lrn = RNNLearner(dls, hidden_size=8, sub_seq_len=25, progress=False)
    lrn.fit(2, 1e-3)
    assert len(dls.train) == dls.train.n_windows_batches * 4
    assert len(lrn.recorder.losses) == 2 * len(dls.train)
    assert lrn.opt.state[lrn.model.head.weight]["step"] == 2 * len(dls.train)
    assert [e["epoch"] for e in lrn.recorder.epochs] == [0, 1]


def test_flat_cos_schedule(dls_factory):
    lrn = RNNLearner(dls_factory(), hidden_size=8, progress=False)
    lrn.fit_flat_cos(4, 1e-2, pct_start=0.5)
    lrs = lrn.recorder.lrs  # LR used at each step
    half = len(lrs) // 2
    assert lrs[0] == lrs[half - 1] == pytest.approx(1e-2)
    assert all(a >= b for a, b in zip(lrs[half:], lrs[half + 1 :]))
    assert lrs[-1] < 1e-4


def test_one_cycle_schedule(dls_factory):
    lrn = RNNLearner(dls_factory(), hidden_size=8, progress=False)
    lrn.fit_one_cycle(2, 1e-2)
    lrs = lrn.recorder.lrs
    peak = int(np.argmax(lrs))
    assert 0 < peak < len(lrs) - 1 and max(lrs) == pytest.approx(1e-2, rel=0.05)


def test_nan_loss_stops_training_with_a_message(dls_factory):
    calls = {"n": 0}

    def exploding_loss(pred, targ):
        calls["n"] += 1
        loss = (pred - targ).abs().mean()
        return loss * math.nan if calls["n"] == 5 else loss

    lrn = RNNLearner(dls_factory(), hidden_size=8, loss_func=exploding_loss, progress=False)
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 1, step 5.*smaller lr"):
        lrn.fit(3, 1e-3)
    assert lrn.recorder.epochs == []  # no row of NaNs was written


def test_n_skip_leaves_out_the_first_steps_of_each_window_only(dls_factory):
    dls = dls_factory(20)
    lrn = RNNLearner(dls, hidden_size=8, sub_seq_len=20, n_skip=5, progress=False)
    pred, _ = lrn.predict()
    n_windows = len(dls.valid.ds)
    assert pred.shape[0] == n_windows * (100 - 5)


def test_simulate_and_test_rmse_in_millivolts(dls_factory):
    lrn = RNNLearner(dls_factory(), hidden_size=8, seed=0, progress=False)
    lrn.fit(2, 1e-2)
    u, y = lrn.dls.test["test"]
    assert lrn.simulate(u).shape == (len(u), 1)
    y_hat = lrn.simulate((u, y))  # the first 50 outputs set the initial state
    rmse = lrn.test_rmse()["test"]
    assert y_hat.shape == (len(y), 1)  # (T, n_y): compare with y as (T, 1), never broadcast
    expected = np.sqrt(np.mean((y_hat[50:] - y.reshape(-1, 1)[50:]) ** 2)) * 1000
    assert rmse == pytest.approx(expected, rel=1e-5)


def test_initial_state_explains_the_first_outputs_better_than_zeros(dls_factory):
    lrn = RNNLearner(dls_factory(), rnn_type="lstm", hidden_size=16, seed=0, progress=False)
    lrn.fit(4, 1e-2)
    u, y = lrn.dls.test["test"]
    u, y = u[300:], y[300:] + 0.05  # starts in motion, and away from where zeros would put it
    zero_state = lrn.simulate(u)[:50]
    fitted = lrn.simulate((u, y))[:50]
    error = {
        name: np.sqrt(np.mean((pred - y[:50]) ** 2))
        for name, pred in (("zeros", zero_state), ("fitted", fitted))
    }
    assert error["fitted"] < 0.8 * error["zeros"], error
    assert lrn.model.rnn.weight_hh_l0.requires_grad  # the weights are left trainable


def test_show_results_and_plot_losses_draw(dls_factory):
    import matplotlib.pyplot as plt

    lrn = RNNLearner(dls_factory(20), hidden_size=8, sub_seq_len=20, progress=False)
    lrn.fit(1, 1e-3)
    plt.close("all")
    lrn.show_results(max_n=2)
    fig = plt.gcf()
    assert len(fig.axes) == 2
    lines = fig.axes[0].get_lines()
    assert len(lines[0].get_xdata()) == 100  # the whole window, sub-windows stitched together
    lrn.plot_losses()
    assert len(plt.gcf().axes[0].get_lines()[0].get_xdata()) == len(lrn.recorder.losses)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a second device (CUDA)")
def test_model_moves_with_its_state_between_devices():
    """A state left on the GPU is carried on after the model moves to the CPU."""
    torch.manual_seed(0)
    model, u = StatefulRNN(hidden_size=8).cuda(), torch.randn(2, 40, 1)
    model(u[:, :20].cuda())
    assert model.hidden_state[0].device.type == "cuda"
    model.to("cpu")  # the state follows the input's device on the next call
    pred = model(u[:, 20:])
    assert pred.device.type == "cpu" and model.hidden_state[0].device.type == "cpu"
    whole = model.forward_from(u)[0][:, 20:]  # the same 40 steps in one call, on the CPU
    torch.testing.assert_close(pred, whole, atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def test_reference_example_reaches_the_reference_accuracy(tmp_path, monkeypatch):
    """The seed's example, as written: 10 epochs, standard and TBPTT, both below 0.02 V."""
    monkeypatch.setenv("TBPTT_KIT_DATA", str(tmp_path))
    monkeypatch.delenv("TBPTT_KIT_SMOKE", raising=False)
    from tbptt_kit import create_dls_silverbox

    for sub_seq_len in (None, 100):
        dls = create_dls_silverbox(bs=16, win_sz=500, stp_sz=10, sub_seq_len=sub_seq_len)
        lrn = RNNLearner(
            dls,
            rnn_type="lstm",
            hidden_size=40,
            sub_seq_len=sub_seq_len,
            metrics=[fun_rmse],
            seed=0,
            progress=False,
        )
        lrn.fit_flat_cos(n_epoch=10, lr=3e-3)
        valid_loss, rmse = lrn.validate()
        assert rmse < 0.02, f"sub_seq_len={sub_seq_len}: validation RMSE {rmse:.4f} V"
        assert valid_loss < rmse
