"""Left here for the owner of tests/course/test_saving.py: loading never runs code from a
file (every other test of this file moved to tests/course/test_rnn_learner.py and
tests/data/test_loaders.py). Move it beside the other file-trust tests."""

import os
import pickle

import numpy as np
import pytest
import torch

from tbptt_kit import RNNLearner, create_dls


class Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_load_never_unpickles_arbitrary_objects(tmp_path, monkeypatch):
    u = np.random.default_rng(0).standard_normal(200).astype(np.float32)
    learn = RNNLearner(create_dls((u, u), (u, u), win_sz=50), hidden_size=4, progress=False)
    path = tmp_path / "evil.pt"
    torch.save({"model": learn.model.state_dict(), "extra": Payload()}, path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(pickle.UnpicklingError, match="(?i)weights_only|unpickl|global"):
        learn.load(path)
    assert not (tmp_path / "pwned").exists()
