"""The echo task: deterministic data, and the reference case that shows truncation's reach."""

import numpy as np
import pytest
import torch

from tbptt_kit import RNNLearner, fun_rmse
from tbptt_kit.data.echo import create_dls_echo, echo_record, echo_rmse, trivial_rmse


def test_the_target_is_the_input_delay_steps_back():
    u, y = echo_record(200, delay=5, noise=0.0, rng=np.random.default_rng(0))
    assert u.shape == y.shape == (200,) and u.dtype == np.float32
    np.testing.assert_array_equal(y[5:], u[:-5])


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = create_dls_echo(seed=1), create_dls_echo(seed=1), create_dls_echo(seed=2)
    assert torch.equal(a.train.ds.u[0], b.train.ds.u[0])
    assert torch.equal(a.valid.ds.y[0], b.valid.ds.y[0])
    assert not torch.equal(a.train.ds.u[0], c.train.ds.u[0])
    assert not torch.equal(a.train.ds.u[0][:100], a.valid.ds.u[0][:100])  # train != valid


def test_noise_and_trivial_rmse():
    dls = create_dls_echo(noise=0.1, n_train=20000)
    u, y = dls.train.ds.u[0][:, 0].numpy(), dls.train.ds.y[0][:, 0].numpy()
    assert np.std(y[8:] - u[:-8]) == pytest.approx(0.1, rel=0.05)
    assert dls.trivial_rmse == trivial_rmse(0.1) == pytest.approx(np.sqrt(1.01))
    assert np.sqrt(np.mean(y**2)) == pytest.approx(dls.trivial_rmse, rel=0.03)  # predicting 0


def test_sub_windows_and_bad_arguments():
    dls = create_dls_echo(sub_seq_len=16)
    assert dls.sub_seq_len == 16 and dls.win_sz == 64 and dls.test == {}
    with pytest.raises(ValueError, match="delay"):
        create_dls_echo(delay=64, win_sz=64)
    with pytest.raises(ValueError, match="delay"):
        create_dls_echo(delay=0)


def train_echo(sub_seq_len):
    """The reference case: delay 8, LSTM 32, fit_flat_cos(10, 1e-2), seed 0."""
    dls = create_dls_echo(delay=8, sub_seq_len=sub_seq_len, seed=0)
    learn = RNNLearner(
        dls,
        "lstm",
        32,
        sub_seq_len=sub_seq_len,
        n_skip=min(8, sub_seq_len - 1),
        loss_func=fun_rmse,
        seed=0,
        progress=False,
    )
    learn.fit_flat_cos(10, 1e-2)
    return echo_rmse(learn) / dls.trivial_rmse


@pytest.mark.slow
def test_truncation_shorter_than_the_delay_cannot_learn_the_echo():
    """Sub-windows of 4 < delay 8: no gradient joins an input to its echo: the trivial error.
    Sub-windows of 16: the echo of the last 8 steps of each sub-window lies inside it.
    About 25 s on one CPU thread (5120 + 1280 optimizer steps)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        short, long = train_echo(4), train_echo(16)
    finally:
        torch.set_num_threads(threads)
    assert short > 0.9  # measured 1.01 (seed 0)
    assert long < 0.1  # measured 0.04 (seed 0)
