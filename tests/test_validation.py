"""No silent wrong numbers: each case a hostile user found, refused with the kit's own message.

Every error names the argument, the value and what is valid; functions that score or split
refuse what they cannot do exactly, instead of trimming, broadcasting or padding.
"""

import math

import h5py
import numpy as np
import pytest
import torch

from tbptt_kit import (
    Callback,
    RNNLearner,
    StatefulRNN,
    create_dls,
    error_by_position,
    free_run_rmse,
    split_windows,
)
from tbptt_kit.data import silverbox
from tbptt_kit.data.cache import signals_sha256, write_cached
from tbptt_kit.data.hdf5 import read_record, write_record
from tbptt_kit.data.official import OFFICIAL_SHA256
from tbptt_kit.data.streams import create_stream_dls
from tbptt_kit.data.text import Vocab, create_dls_text
from tbptt_kit.evaluate import sample_text
from tbptt_kit.memory import MemoryBudgetExceeded
from tbptt_kit.memory.units import parse_bytes
from tbptt_kit.threads import ENV_VAR, choose_threads, max_threads
from tbptt_kit.widgets.lab import Lab

DOCS = ["The quick brown fox jumps over the lazy dog. " * 8, "Pack my box with jugs. " * 12]


def signal(n=400, n_u=1, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((n, n_u)).astype(np.float32)
    y = np.cumsum(u.sum(1)) * 0.01
    return u, y.astype(np.float32)


def window_dls(sub_seq_len=None, test=None):
    rec = signal()
    return create_dls(rec, signal(seed=1), test=test, bs=4, win_sz=40, stp_sz=20,
                      sub_seq_len=sub_seq_len)  # fmt: skip


# -- silent wrong results --------------------------------------------------------------------
def test_stream_records_with_other_channel_counts_are_refused():
    u2, y = signal(n_u=2)
    u1, _ = signal(n_u=1)
    with pytest.raises(ValueError, match=r"train record 1 has \(n_u, n_y\) = \(1, 1\).*\(2, 1\)"):
        create_stream_dls([(u2, y), (u1, y)], [(u2, y)], bs=2, sub_seq_len=20)
    with pytest.raises(ValueError, match=r"valid record 0 has \(n_u, n_y\) = \(1, 1\)"):
        create_stream_dls([(u2, y)], [(u1, y)], bs=2, sub_seq_len=20)


def test_a_test_record_whose_y_is_shorter_than_its_u_is_refused():
    u, y = signal()
    with pytest.raises(ValueError, match=r"test 't' u and its y differ in length \(400 vs 390"):
        window_dls(test={"t": (u, y[:-10])})
    learn = RNNLearner(window_dls(test={"t": (u, y)}), hidden_size=4, progress=False)
    learn.dls.test["t"] = (u, y[:-10])  # changed after the loaders were made
    with pytest.raises(ValueError, match=r"u and its y differ in length \(400 vs 390 samples\)"):
        learn.test_rmse()


def test_free_run_rmse_refuses_a_y_with_other_channels_than_the_model():
    model = StatefulRNN(1, 1, hidden_size=4)
    u, y = signal()
    y3 = np.repeat(y[:, None], 3, axis=1)
    with pytest.raises(ValueError, match=r"y has 3 channel\(s\), but the model's output has 1"):
        free_run_rmse(model, {"t": (u, y3)})


@pytest.mark.parametrize(
    "win, sub, y_len, pattern",
    [
        (100, 30, 100, r"sub_seq_len=30 does not divide win_sz=100.*\[25, 50\]"),
        (100, 150, 100, r"sub_seq_len=150 is longer than win_sz=100"),
        (100, 10, 90, r"u \(2, 100, 1\) and y \(2, 90, 1\) must have the same \(bs, win_sz\)"),
        (100, 0, 100, r"sub_seq_len must be an int >= 1, got 0"),
    ],
)
def test_split_windows_refuses_what_it_cannot_cut_exactly(win, sub, y_len, pattern):
    u, y = torch.zeros(2, win, 1), torch.zeros(2, y_len, 1)
    with pytest.raises(ValueError, match=pattern):
        list(split_windows(u, y, sub))


def test_run_windows_refuses_windows_its_sub_seq_len_does_not_divide():
    learn = RNNLearner(window_dls(10), hidden_size=4, sub_seq_len=10, progress=False)
    with pytest.raises(ValueError, match=r"sub_seq_len=10 does not divide win_sz=95"):
        learn.run_windows(torch.zeros(2, 95, 1), torch.zeros(2, 95, 1))


def test_error_by_position_refuses_stream_loaders():
    dls = create_stream_dls([signal()], [signal(seed=1)], bs=1, sub_seq_len=20)
    learn = RNNLearner(dls, hidden_size=4, sub_seq_len=20, progress=False)
    with pytest.raises(ValueError, match="error_by_position scores windows.*stream loaders"):
        error_by_position(learn)


def test_a_text_model_loaded_with_another_vocabulary_of_the_same_size_is_refused(tmp_path):
    dls_a = create_dls_text(["abcdefgh " * 40], bs=2, sub_seq_len=8)
    dls_b = create_dls_text(["abcdefgz " * 40], bs=2, sub_seq_len=8)
    assert len(dls_a.vocab) == len(dls_b.vocab)
    path = RNNLearner(dls_a, hidden_size=4, sub_seq_len=8, progress=False).save(tmp_path / "a.pt")
    learn_b = RNNLearner(dls_b, hidden_size=4, sub_seq_len=8, progress=False)
    with pytest.raises(ValueError, match=r"vocab=' abcdefgh' \(this learner: ' abcdefgz'\)"):
        learn_b.load(path)


# -- guards that guard ---------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["streams", "text"])
def test_max_memory_guards_streams_and_text(layout):
    if layout == "streams":
        dls = create_stream_dls([signal()], [signal(seed=1)], bs=1, sub_seq_len=20)
    else:
        dls = create_dls_text(DOCS, bs=2, sub_seq_len=20)
    learn = RNNLearner(dls, hidden_size=4, sub_seq_len=20, max_memory=1, progress=False)
    with pytest.raises(MemoryBudgetExceeded, match=r"exceeds the budget of 1 B \(max_memory\)"):
        learn.fit(1)
    assert learn.opt is None  # refused before the optimizer existed


class FailOnce(Callback):
    """Raises in after_backward of the first training step: the gradients are there, the
    optimizer step is not taken."""

    def __init__(self):
        self.fired = False

    def after_backward(self, learn):
        if not self.fired:
            self.fired = True
            raise RuntimeError("a callback failed")


class GradsAtFirstBatch(Callback):
    def before_batch(self, learn):
        if learn.training and learn.step_in_epoch == 0:
            self.grads = [p.grad for p in learn.model.parameters()]


def test_a_failed_step_leaves_no_gradients_for_the_next_fit():
    learn = RNNLearner(window_dls(), hidden_size=4, seed=0, progress=False, cbs=[FailOnce()])
    with pytest.raises(RuntimeError, match="a callback failed"):
        learn.fit(1)
    assert all(p.grad is None for p in learn.model.parameters())
    seen = GradsAtFirstBatch()
    learn.add_cb(seen)
    for p in learn.model.parameters():
        p.grad = torch.ones_like(p)  # left by anything else: fit starts without them
    learn.fit(1)
    assert all(g is None for g in seen.grads)


def test_an_official_cache_with_fake_samples_and_a_consistent_checksum_is_not_used(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("TBPTT_KIT_DATA", str(tmp_path))
    monkeypatch.setattr(silverbox, "OFFICIAL_URLS", ())
    u, y = silverbox.simulate_silverbox(seed=0)  # looks real, is not the measurement
    name = "SNLS80mV.csv"
    params = {"source": "official", "version": silverbox.OFFICIAL_VERSION, "file": name}
    write_cached(silverbox.cache_dir() / "silverbox_official_v2.h5", {"u0": u, "y0": y},
                 silverbox.FS, {**params, "file_sha256": OFFICIAL_SHA256[name]})  # fmt: skip
    with pytest.warns(UserWarning, match="are not the official record's"):
        with pytest.raises(ConnectionError, match="could not download the official"):
            silverbox.load_silverbox("official")
    assert signals_sha256({"u0": u, "y0": y}) not in silverbox.OFFICIAL_SIGNALS_SHA256.values()


# -- the kit's own message instead of a raw internal error -----------------------------------
@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda f: f.create_group("u0"), r"'u0' in .*a\.h5 is not a 1-D signal \(shape a group\)"),
        (lambda f: f.create_dataset("u0", data=np.array([b"a", b"b"])), r"'u0' in .*a\.h5 holds |S1 values, not numbers"),
        (lambda f: f.create_dataset("u0", data=np.zeros(2, dtype=[("a", "f4"), ("b", "i4")])), r"'u0' in .*a\.h5 holds .* values, not numbers"),
        (lambda f: f.attrs.__setitem__("fs", "fast"), r"the fs attribute of .*a\.h5 must be a sampling frequency in Hz > 0, got 'fast'"),
        (lambda f: f.attrs.__setitem__("fs", -3.0), r"the fs attribute of .*a\.h5 must be .*got -3.0"),
    ],
)  # fmt: skip
def test_hdf5_files_that_hold_no_signal_are_refused_naming_path_and_dataset(
    tmp_path, make, pattern
):
    path = tmp_path / "a.h5"
    with h5py.File(path, "w") as f:
        f.attrs["fs"] = 10.0
        make(f)
        for name in ("u0", "y0"):
            if name not in f:
                f.create_dataset(name, data=np.arange(100.0))
    with pytest.raises(ValueError, match=pattern):
        read_record(path, ["u0", "y0"])
    with pytest.raises(ValueError, match=pattern):
        create_stream_dls(path, path, bs=2, sub_seq_len=10)


@pytest.mark.parametrize("temperature", [math.nan, math.inf, -1.0])
def test_sampling_at_a_temperature_that_is_no_number_is_refused(temperature):
    vocab = Vocab("ab")
    model = StatefulRNN(rnn_type="gru", hidden_size=4, vocab_size=2)
    with pytest.raises(ValueError, match=r"temperature must be a finite number in \[0, inf\]"):
        sample_text(model, vocab, "a", n_chars=3, temperature=temperature)


def test_sampling_at_a_tiny_temperature_takes_the_likeliest_character():
    vocab = Vocab("abcd")
    torch.manual_seed(0)
    model = StatefulRNN(rnn_type="gru", hidden_size=4, vocab_size=4)
    likeliest = sample_text(model, vocab, "ab", n_chars=20, temperature=0)
    assert sample_text(model, vocab, "ab", n_chars=20, temperature=1e-40) == likeliest


@pytest.mark.parametrize("pct_start", [1.0, 0.0, math.nan, 1.5])
def test_fit_one_cycle_refuses_a_pct_start_it_cannot_run(pct_start):
    learn = RNNLearner(window_dls(), hidden_size=4, progress=False)
    with pytest.raises(ValueError, match=r"pct_start must be a finite number in \(0, 1\)"):
        learn.fit_one_cycle(1, pct_start=pct_start)


@pytest.mark.parametrize("bad", ["1.2.3 GiB", "1..5 GB", ". GiB", "2 GiB extra"])
def test_max_memory_that_does_not_parse_is_named(bad):
    with pytest.raises(ValueError, match=r"cannot read max_memory=.* as a memory size"):
        parse_bytes(bad)
    with pytest.raises(ValueError, match=r"cannot read max_memory="):
        RNNLearner(window_dls(), hidden_size=4, max_memory=bad, progress=False)


@pytest.mark.parametrize("value", ["²", "١", "10" * 5, str(10**9), "0"])
def test_thread_counts_from_the_environment_are_bounded(monkeypatch, value):
    monkeypatch.setenv(ENV_VAR, value)
    with pytest.raises(
        ValueError, match=rf"{ENV_VAR}='{value}' is not valid.*from 1 to {max_threads()}"
    ):
        choose_threads()


@pytest.mark.parametrize(
    "kw, error, pattern",
    [
        ({"max_sub_windows": 0}, ValueError, r"max_sub_windows must be an int >= 1, got 0"),
        ({"max_epochs": 0}, ValueError, r"max_epochs must be an int >= 1, got 0"),
        ({"stp_sz": 0}, ValueError, r"stp_sz must be an int >= 1, got 0"),
        ({"lr": -1.0}, ValueError, r"lr must be a finite number in \(0, inf\]"),
        ({"win_range": (500, 100, 100)}, ValueError, r"win_range hi must be an int >= 500"),
        ({"max_memory": "lots"}, ValueError, r"cannot read max_memory='lots'"),
    ],
)
def test_lab_settings_are_checked_naming_the_argument(kw, error, pattern):
    with pytest.raises(error, match=pattern):
        Lab(**kw)


# -- numpy numbers are numbers ---------------------------------------------------------------
def test_numpy_integers_and_floats_are_accepted_where_python_numbers_are():
    dls = create_dls(signal(), signal(seed=1), bs=np.int64(4), win_sz=np.int32(40),
                     stp_sz=np.int64(20), sub_seq_len=np.int64(20))  # fmt: skip
    learn = RNNLearner(dls, hidden_size=np.int64(4), sub_seq_len=np.int64(20), n_skip=np.int64(2), seed=np.int64(0),
                       progress=False)  # fmt: skip
    learn.fit(np.int64(1), lr=np.float32(1e-3))
    learn.fit_flat_cos(np.int64(1), lr=np.float64(1e-3), pct_start=np.float32(0.5))
    learn.fit_one_cycle(np.int64(1), lr=np.float32(1e-3), pct_start=np.float64(0.3))
    vocab = Vocab("ab")
    model = StatefulRNN(rnn_type="gru", hidden_size=4, vocab_size=2)
    text = sample_text(model, vocab, "a", n_chars=np.int64(3), temperature=np.float32(0.5))
    assert len(text) == 4
    assert learn.simulate(signal(), n_init=np.int64(10)).shape == (400, 1)


def test_write_record_data_still_reads():  # the fs check leaves good files alone
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "r.h5"
        write_record(path, {"u0": np.arange(5.0), "y0": np.arange(5.0)}, fs=np.float32(610.35))
        signals, fs = read_record(path, ["u0", "y0"])
        assert fs == pytest.approx(610.35, rel=1e-6) and len(signals["u0"]) == 5


def test_every_expected_error_in_the_tests_has_its_message_checked():
    """A test that only checks that *an* error is raised passes on the wrong error too."""
    import ast
    from pathlib import Path

    bare = []
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "raises"
                and getattr(node.func.value, "id", None) == "pytest"
                and not any(k.arg == "match" for k in node.keywords)
            ):
                bare.append(f"{path.name}:{node.lineno}")
    assert bare == []
