"""Clear errors for bad input, a stop on non-finite scores, and save/load that round-trips."""

import math
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from tbptt_kit import RNNLearner, TrainingDiverged, create_dls, simulate

ROOT = Path(__file__).resolve().parent.parent


def record(n=1500, seed=0, n_u=1, n_y=1):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((n, n_u)).astype(np.float32)
    y = np.stack([np.convolve(u[:, 0], np.exp(-np.arange(20) / 5.0))[:n]] * n_y, 1)
    return u, y.astype(np.float32)


def dls(**kw):
    u, y = record()
    args = dict(bs=4, win_sz=50, stp_sz=50) | kw
    return create_dls((u[:1000], y[:1000]), (u[1000:], y[1000:]), {"rec": (u, y)}, **args)


def test_a_channel_count_that_differs_from_train_is_refused():
    u, y = record()
    u2, y2 = record(n_u=2)
    with pytest.raises(ValueError, match=r"valid has \(n_u, n_y\) = \(2, 1\).*train has \(1, 1\)"):
        create_dls((u, y), (u2, y2), win_sz=50)
    with pytest.raises(ValueError, match=r"test 'rec' has .*\(1, 2\)"):
        create_dls((u, y), (u, y), {"rec": record(n_y=2)}, win_sz=50)


def test_a_constant_training_channel_is_refused():
    u, y = record(n_u=2)
    u[:, 1] = 3.0
    with pytest.raises(ValueError, match=r"train u channel 1 is constant \(std 0\)"):
        create_dls((u, y), (u, y), win_sz=50)


def test_simulate_refuses_nan_and_wrong_shapes():
    learn = RNNLearner(dls(), hidden_size=4, seed=0, progress=False)
    u, y = record(200)
    bad = u.copy()
    bad[17] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf .*sample 17"):
        simulate(learn.model, bad)
    with pytest.raises(ValueError, match=r"\(T,\) or \(T, n\).*\(2, 3, 4\)"):
        learn.simulate(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="u has 3 channels, the model takes 1"):
        learn.simulate(np.zeros((100, 3)))
    with pytest.raises(ValueError, match="n_init must be an int >= 0, got -1"):
        learn.simulate((u, y), n_init=-1)
    with pytest.raises(ValueError, match="30 samples: it needs more than n_init=50"):
        learn.simulate((u[:30], y[:30]))


def test_test_rmse_needs_test_records_and_show_results_a_window():
    u, y = record()
    no_test = create_dls((u, y), (u, y), bs=4, win_sz=50, stp_sz=50)
    learn = RNNLearner(no_test, hidden_size=4, progress=False)
    with pytest.raises(ValueError, match="test_rmse needs test records"):
        learn.test_rmse()
    with pytest.raises(ValueError, match="max_n must be an int >= 1.*got 0"):
        learn.show_results(max_n=0)


def test_a_non_finite_validation_score_stops_training():
    def nan_in_validation(pred, targ):  # metrics are computed in validation only
        return torch.tensor(math.nan)

    learn = RNNLearner(dls(), hidden_size=4, metrics=[nan_in_validation], progress=False)
    with pytest.raises(TrainingDiverged, match="nan_in_validation became nan after epoch 1"):
        learn.fit(2)
    assert learn.recorder.epochs == []  # no row of NaNs


@pytest.mark.parametrize("bad", ["lots", "2 GB of RAM", -5])
def test_a_budget_that_does_not_parse_is_refused_at_once(bad):
    with pytest.raises((ValueError, TypeError), match="memory size"):
        RNNLearner(dls(), hidden_size=4, max_memory=bad, progress=False)


# -- save and load ------------------------------------------------------------------------
def test_save_and_load_round_trip_in_a_fresh_process(tmp_path):
    learn = RNNLearner(dls(sub_seq_len=10), hidden_size=8, sub_seq_len=10, seed=0, progress=False)
    learn.fit(1)
    path = learn.save(tmp_path / "model.pt")
    before = [learn.validate(), learn.test_rmse()]
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(ROOT)!r})
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_learner_safety import dls
        from tbptt_kit import RNNLearner
        learn = RNNLearner(dls(sub_seq_len=10), hidden_size=8, sub_seq_len=10, progress=False)
        learn.load({str(path)!r})
        print(json.dumps([learn.validate(), learn.test_rmse()]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    import json

    assert json.loads(out.strip().splitlines()[-1]) == json.loads(json.dumps(before))


class Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_load_never_unpickles_arbitrary_objects(tmp_path):
    learn = RNNLearner(dls(), hidden_size=4, progress=False)
    path = tmp_path / "evil.pt"
    torch.save({"model": learn.model.state_dict(), "extra": Payload()}, path)
    os.chdir(tmp_path)
    with pytest.raises(pickle.UnpicklingError, match="(?i)weights_only|unpickl|global"):
        learn.load(path)
    assert not (tmp_path / "pwned").exists()
