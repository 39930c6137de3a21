"""Every public entry point refuses bad input with the kit's own message, in bounded time.

Each case a new or a hostile user found: the error names the argument, the value and what
is valid; functions that score or split refuse what they cannot do exactly, instead of
trimming, broadcasting or padding; no refusal takes time that grows with a number the user
typed; no setting is silently read as another (0 as "not given").
"""

import math
import time

import h5py
import numpy as np
import pytest
import torch

import tbptt_kit as tk
from tbptt_kit import (
    Callback,
    RNNLearner,
    StatefulRNN,
    Truncation,
    create_dls,
    error_by_position,
    estimate_memory,
    free_run_rmse,
    run_windows,
    split_windows,
)
from tbptt_kit.core import checks
from tbptt_kit.course.evaluate import sample_text
from tbptt_kit.course.memory import MemoryBudgetExceeded
from tbptt_kit.course.memory.measure import _cpu_peak
from tbptt_kit.course.widgets.lab import Lab
from tbptt_kit.course.widgets.lab_rules import LabRules
from tbptt_kit.data import silverbox
from tbptt_kit.data.cache import signals_sha256, write_cached
from tbptt_kit.data.hdf5 import read_record, write_record
from tbptt_kit.data.loaders import DataLoaders, create_stream_dls
from tbptt_kit.data.official import OFFICIAL_SHA256
from tbptt_kit.data.text import Vocab, create_dls_text
from tbptt_kit.modes.rtrl import influence_bytes, rtrl_gradient
from tbptt_kit.tooling.threads import ENV_VAR, choose_threads, max_threads
from tbptt_kit.units import parse_bytes

DOCS = ["The quick brown fox jumps over the lazy dog. " * 8, "Pack my box with jugs. " * 12]


def signal(n=400, n_u=1, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((n, n_u)).astype(np.float32)
    y = np.cumsum(u.sum(1)) * 0.01
    return u, y.astype(np.float32)


def window_dls(sub_seq_len=None, test=None):
    rec = signal()
    return create_dls(
        rec, signal(seed=1), test=test, bs=4, win_sz=40, stp_sz=20, sub_seq_len=sub_seq_len
    )


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
        run_windows(learn, torch.zeros(2, 95, 1), torch.zeros(2, 95, 1))


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
    write_cached(
        silverbox.cache_dir() / "silverbox_official_v2.h5",
        {"u0": u, "y0": y},
        silverbox.FS,
        {**params, "file_sha256": OFFICIAL_SHA256[name]},
    )
    with pytest.warns(UserWarning, match="are not the official record's"):
        with pytest.raises(ConnectionError, match="could not download the official"):
            silverbox.load_silverbox("official")
    assert signals_sha256({"u0": u, "y0": y}) not in silverbox.OFFICIAL_SIGNALS_SHA256.values()


# -- the kit's own message instead of a raw internal error -----------------------------------
@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda f: f.create_group("u0"), r"'u0' in .*a\.h5 is not a 1-D signal \(shape a group\)"),
        (
            lambda f: f.create_dataset("u0", data=np.array([b"a", b"b"])),
            r"'u0' in .*a\.h5 holds |S1 values, not numbers",
        ),
        (
            lambda f: f.create_dataset("u0", data=np.zeros(2, dtype=[("a", "f4"), ("b", "i4")])),
            r"'u0' in .*a\.h5 holds .* values, not numbers",
        ),
        (
            lambda f: f.attrs.__setitem__("fs", "fast"),
            r"the fs attribute of .*a\.h5 must be a sampling frequency in Hz > 0, got 'fast'",
        ),
        (
            lambda f: f.attrs.__setitem__("fs", -3.0),
            r"the fs attribute of .*a\.h5 must be .*got -3.0",
        ),
    ],
)
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
        (
            {"max_sub_windows": 0},
            ValueError,
            r"max_sub_windows must be an int >= 1 and <= 10000, got 0",
        ),
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
    dls = create_dls(
        signal(),
        signal(seed=1),
        bs=np.int64(4),
        win_sz=np.int32(40),
        stp_sz=np.int64(20),
        sub_seq_len=np.int64(20),
    )
    learn = RNNLearner(
        dls,
        hidden_size=np.int64(4),
        sub_seq_len=np.int64(20),
        n_skip=np.int64(2),
        seed=np.int64(0),
        progress=False,
    )
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


# -- windows, models and fits: bad settings named (formerly tests/test_bad_inputs.py) -------------
@pytest.fixture
def record():
    rng = np.random.default_rng(0)
    u = rng.standard_normal(1000).astype(np.float32)
    return u, np.cumsum(u) * 0.01


def dls_of(record, **kw):
    args = {"bs": 4, "win_sz": 100, "stp_sz": 10} | kw
    return create_dls(record, record, **args)


@pytest.mark.parametrize(
    "kw, pattern",
    [
        ({"sub_seq_len": 30}, r"sub_seq_len=30 does not divide win_sz=100.*\[25, 50\]"),
        ({"sub_seq_len": 150}, r"sub_seq_len=150 is longer than win_sz=100.*\[100\]"),
        ({"sub_seq_len": 0}, r"sub_seq_len must be an int >= 1, got 0"),
        (
            {"win_sz": 5000},
            r"win_sz=5000 is longer than the shortest train record \(1000 samples\).*<= 1000",
        ),
        ({"win_sz": 0}, r"win_sz must be an int >= 1, got 0"),
        ({"stp_sz": 0}, r"stp_sz must be an int >= 1, got 0"),
        ({"stp_sz": -3}, r"stp_sz must be an int >= 1, got -3"),
        ({"bs": 0}, r"bs must be an int >= 1, got 0"),
    ],
)
def test_bad_windowing(record, kw, pattern):
    with pytest.raises(ValueError, match=pattern):
        dls_of(record, **kw)


def test_non_integer_win_sz_is_a_type_error(record):
    with pytest.raises(TypeError, match=r"win_sz must be an int >= 1, got 100.5"):
        dls_of(record, win_sz=100.5)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_the_data(record, bad):
    u, y = record
    u = u.copy()
    u[123] = bad
    with pytest.raises(ValueError, match=r"contains NaN or Inf \(first at sample 123\)"):
        create_dls((u, y), record, bs=4, win_sz=100, stp_sz=10)


@pytest.mark.parametrize(
    "kw, error, pattern",
    [
        ({"hidden_size": 0}, ValueError, r"hidden_size must be an int >= 1, got 0"),
        ({"hidden_size": -5}, ValueError, r"hidden_size must be an int >= 1, got -5"),
        ({"hidden_size": 4.0}, TypeError, r"hidden_size must be an int >= 1, got 4.0"),
        ({"num_layers": 0}, ValueError, r"num_layers must be an int >= 1, got 0"),
        (
            {"rnn_type": "transformer"},
            ValueError,
            r"rnn_type='transformer' is unknown.*'gru', 'lstm', 'rnn'",
        ),
    ],
)
def test_bad_model(kw, error, pattern):
    with pytest.raises(error, match=pattern):
        StatefulRNN(**kw)


def test_learner_and_loaders_disagree_on_sub_seq_len(record):
    dls = dls_of(record, sub_seq_len=50)
    with pytest.raises(ValueError, match=r"sub_seq_len=None.*sub-windows of 50.*valid here: 50"):
        RNNLearner(dls, hidden_size=4)


def test_n_skip_longer_than_the_first_sub_window(record):
    dls = dls_of(record, sub_seq_len=20)
    with pytest.raises(ValueError, match=r"n_skip=20 leaves nothing.*choose n_skip < 20"):
        RNNLearner(dls, hidden_size=4, sub_seq_len=20, n_skip=20)


@pytest.mark.parametrize(
    "kw, error, pattern",
    [
        ({"n_epoch": 0}, ValueError, r"n_epoch must be an int >= 1, got 0"),
        ({"n_epoch": -1}, ValueError, r"n_epoch must be an int >= 1, got -1"),
        ({"n_epoch": 1.5}, TypeError, r"n_epoch must be an int >= 1, got 1.5"),
        ({"lr": 0}, ValueError, r"lr must be a finite number in \(0, inf\], got 0"),
        ({"lr": -1e-3}, ValueError, r"lr must be a finite number in \(0, inf\], got -0.001"),
        ({"lr": float("nan")}, ValueError, r"lr must be a finite number in \(0, inf\], got nan"),
    ],
)
def test_bad_fit_arguments(record, kw, error, pattern):
    lrn = RNNLearner(dls_of(record), hidden_size=4, progress=False)
    args = {"n_epoch": 1, "lr": 1e-3} | kw
    with pytest.raises(error, match=pattern):
        lrn.fit_flat_cos(**args)


def test_missing_hdf5_dataset_name(tmp_path, record):
    path = tmp_path / "rec.h5"
    write_record(path, {"u0": record[0], "y0": record[1]}, fs=100.0)
    with pytest.raises(ValueError, match=r"names: 'y1' not found.*\['u0', 'y0'\]"):
        create_dls(path, path, y_names=("y1",), bs=4, win_sz=100, stp_sz=10)


def test_truncated_hdf5_file(tmp_path, record):
    path = tmp_path / "rec.h5"
    write_record(path, {"u0": record[0], "y0": record[1]}, fs=100.0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"is not a readable HDF5 file"):
        create_dls(path, path, bs=4, win_sz=100, stp_sz=10)


def test_hdf5_files_load_and_several_files_per_split(tmp_path, record):
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"rec{i}.h5")
        write_record(paths[-1], {"u0": record[0], "y0": record[1]}, fs=610.35)
    dls = create_dls(paths, paths[0], {"t": paths[1]}, bs=4, win_sz=100, stp_sz=10)
    assert len(dls.train.ds) == 2 * len(dls.valid.ds) * 10 - 2 * 9  # 91 windows per file
    assert dls.fs == pytest.approx(610.35)
    with h5py.File(paths[0]) as f:
        assert set(f) == {"u0", "y0"}


# -- bounded time: no refusal, message or slider costs steps that grow with a typed number -------
class Counted(int):
    """An int that counts the remainders taken of it: the steps a divisor search makes."""

    steps = 0

    def __mod__(self, other):
        Counted.steps += 1
        return int(self) % other


def counted_steps(run) -> int:
    Counted.steps = 0
    run()
    return Counted.steps


def test_divisors_take_about_sqrt_n_steps_not_n():
    n = 10**6
    assert checks.divisors(Counted(n)) == [d for d in range(1, n + 1) if n % d == 0]
    assert counted_steps(lambda: checks.divisors(Counted(n))) == math.isqrt(n)
    enumerate_to_n = lambda n: [d for d in range(1, n + 1) if n % d == 0]  # noqa: E731 (the old way)
    assert (
        counted_steps(lambda: enumerate_to_n(Counted(n))) == n
    )  # the control: the counter sees it
    assert counted_steps(lambda: checks.nearest_divisors(Counted(10**13), 7)) == 0  # not listed


def test_a_window_of_a_billion_steps_is_refused_at_once(monkeypatch):
    """The issue's hang: the message listed the divisors of win_sz one by one (10**9 steps)."""
    listed = checks.divisors
    monkeypatch.setattr(checks, "divisors", lambda n: listed(Counted(n)))
    start, Counted.steps = time.perf_counter(), 0
    with pytest.raises(
        ValueError, match=r"sub_seq_len=7 does not divide win_sz=1000000000.*\[5, 8\]"
    ):
        create_dls(signal(), signal(), win_sz=10**9, sub_seq_len=7)
    assert Counted.steps == math.isqrt(10**9) and time.perf_counter() - start < 5
    with pytest.raises(
        ValueError, match=r"win_sz=10000000000000.*Nearest valid sub_seq_len: a divisor"
    ):
        create_dls(signal(), signal(), win_sz=10**13, sub_seq_len=7)


def test_the_lab_lists_its_sub_windows_in_bounded_steps_whatever_the_slider_reaches():
    """The lab's sub_seq_len options were every divisor of win_sz (sqrt(10**18) = 10**9 steps
    for a slider up to 10**18); now one step per sub-window count on offer."""
    start = time.perf_counter()
    win_sz = Counted(10**18)
    steps = counted_steps(lambda: LabRules(win_sz=win_sz, win_range=(100, 10**18, 100)))
    assert steps <= 200 and time.perf_counter() - start < 5  # a few calls of 20 each
    rules = LabRules(win_sz=10**18, win_range=(100, 10**18, 100))
    assert rules.sub_seq_len_options() == sorted(10**18 // n for n in (1, 2, 4, 5, 8, 10, 16, 20))
    assert rules.message.startswith("Refused: Predicted memory")
    options_the_old_way = lambda w: [d for d in checks.divisors(w) if w // d <= 20]  # noqa: E731
    assert counted_steps(lambda: options_the_old_way(Counted(10**10))) == 10**5  # the control
    lab = Lab(win_range=(100, 10**9, 100))
    lab.set(win_sz=10**9)
    assert lab.sub_seq_len_options()[-1] == 10**9 and time.perf_counter() - start < 5
    with pytest.raises(ValueError, match=r"max_sub_windows must be an int >= 1 and <= 10000, got"):
        LabRules(max_sub_windows=10**9)


def test_a_memory_estimate_takes_the_same_steps_for_any_number_of_layers():
    sizes = dict(rnn_type="gru", hidden_size=8, bs=2, win_sz=40, path="native")
    one, two, three = (estimate_memory(num_layers=n, **sizes) for n in (1, 2, 3))
    start = time.perf_counter()
    assert estimate_memory(num_layers=10**9, **sizes) == two + (10**9 - 2) * (three - two)
    assert time.perf_counter() - start < 1 and one < two < three  # the old loop: 10**9 steps


def test_a_geometric_truncation_fits_any_window():
    """Its hazard 1 / mean_len never reaches 1: nothing divides by zero, however long the
    window (the check walked every age and read a rounded-off survival as 0)."""
    Truncation(mean_len=2).check(100_000)
    with pytest.raises(ValueError, match=r"P\(L > 2\) = 0 in probs=\(0\.5, 0\.5\)"):
        Truncation(probs=(0.5, 0.5)).check(10**9)  # the control: lengths > 2 impossible


# -- no silent wrong number -------------------------------------------------------------------
def score_with(units):
    torch.manual_seed(0)
    return free_run_rmse(StatefulRNN(hidden_size=4), {"t": signal()}, n_init=0, units=units)


@pytest.mark.parametrize(
    "factor, error, pattern",
    [
        (-1e3, ValueError, r"units factor must be a finite number in \(0, inf\], got -1000\.0"),
        (0, ValueError, r"units factor must be a finite number in \(0, inf\], got 0\.0"),
        (math.nan, ValueError, r"units factor must be a finite number in \(0, inf\], got nan"),
        (math.inf, ValueError, r"units factor must be a finite number in \(0, inf\], got inf"),
        (True, TypeError, r"units factor must be a finite number in \(0, inf\], got True"),
    ],
)
def test_units_that_would_scale_scores_to_zero_or_below_are_refused_everywhere(
    factor, error, pattern
):
    units = ("mV", factor)
    with pytest.raises(error, match=pattern + r".*units=\('mV', "):
        create_dls(signal(), signal(seed=1), win_sz=40, units=units)
    with pytest.raises(error, match=pattern):
        create_stream_dls([signal()], [signal(seed=1)], bs=1, sub_seq_len=20, units=units)
    with pytest.raises(error, match=pattern):
        score_with(units)
    learn = RNNLearner(window_dls(test={"t": signal()}), hidden_size=4, progress=False)
    learn.dls.units = units  # changed after the loaders were made
    with pytest.raises(error, match=pattern):
        learn.test_rmse()
    with pytest.raises(error, match=pattern):
        DataLoaders(learn.dls.train, learn.dls.valid, {}, learn.dls.norm, units=units)
    assert score_with(("mV", 1e3))["t"] == pytest.approx(1e3 * score_with(("V", 1.0))["t"])


@pytest.mark.parametrize("units", ["mV", ("mV",), (1e3, "mV"), None])
def test_units_that_are_not_a_name_and_a_factor_are_refused(units):
    with pytest.raises(
        TypeError, match=r"units must be a pair \(name, factor\), e\.g\. \('mV', 1e3\)"
    ):
        create_dls(signal(), signal(seed=1), win_sz=40, units=units)


def far_from_zero(offset, dtype=np.float64, seed=0):
    """A record on a large offset: offset + N(0, 1), in ``dtype``."""
    u, y = signal(seed=seed)
    return (offset + u[:, 0].astype(np.float64)).astype(dtype), y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_signal_far_from_zero_is_refused_naming_the_lost_precision(tmp_path, dtype):
    """1e7 + N(0, 1): float32, which the model computes in, keeps a few values of it."""
    lost = r"train (record 0 )?u channel 0 varies by [01]\.\d+ \(std\) around 1e\+07: the model computes in float32, whose steps there are 1, [01]\.\d+ per std \(at least 1000 needed\): precision lost\. Subtract the offset"
    record = far_from_zero(1e7, dtype)
    assert len(np.unique(record[0].astype(np.float32))) < 10  # what float32 would keep
    with pytest.raises(ValueError, match=lost):
        create_dls(record, signal(seed=1), win_sz=40)
    with pytest.raises(ValueError, match=lost):
        create_stream_dls([record], [signal(seed=1)], bs=1, sub_seq_len=20)
    if dtype is np.float64:  # float32 holds 1e9 + N(0, 1) as one value: it is constant
        with pytest.raises(ValueError, match=r"train u channel 0 varies by .* around 1e\+09"):
            create_dls(far_from_zero(1e9), signal(), win_sz=40)  # not "constant" any more
        with pytest.raises(ValueError, match=r"valid u channel 0 varies by .* around 1e\+09"):
            create_dls(signal(), far_from_zero(1e9), win_sz=40)
    path = tmp_path / "far.h5"
    write_record(path, {"u0": record[0], "y0": record[1]}, fs=1.0)
    with pytest.raises(ValueError, match=lost):  # read lazily: checked from the statistics
        create_stream_dls(path, signal(seed=1), bs=1, sub_seq_len=20)
    scored = r"the record's u channel 0 varies by [01]\.\d+ \(std\) around 1e\+07"
    with pytest.raises(ValueError, match=scored):  # a trained model, run on such a record
        tk.simulate(StatefulRNN(), record[0])
    with pytest.raises(ValueError, match=scored):
        free_run_rmse(StatefulRNN(), {"t": record}, n_init=0)
    centred = (record[0] - record[0].mean(), record[1])  # the advice, followed: accepted
    assert create_dls(centred, signal(seed=1), win_sz=40).norm.u_std[0] == pytest.approx(1, 0.1)
    create_dls(far_from_zero(1e3, dtype), signal(seed=1), win_sz=40)  # 1e3: float32 holds it


def test_a_stream_test_record_whose_y_is_shorter_than_its_u_is_refused():
    u, y = signal()
    with pytest.raises(ValueError, match=r"test 't' u and its y differ in length \(400 vs 390"):
        create_stream_dls([signal()], [signal(seed=1)], {"t": (u, y[:-10])}, bs=1, sub_seq_len=20)


def test_valid_stp_sz_zero_is_refused_not_read_as_win_sz():
    with pytest.raises(ValueError, match=r"valid_stp_sz must be an int >= 1, got 0"):
        create_dls(signal(), signal(seed=1), win_sz=40, valid_stp_sz=0)
    assert len(create_dls(signal(), signal(seed=1), win_sz=40).valid.ds) == 10  # back to back
    assert len(create_dls(signal(), signal(seed=1), win_sz=40, valid_stp_sz=20).valid.ds) == 19


def test_backprop_len_zero_is_refused_not_read_as_not_given():
    with pytest.raises(ValueError, match=r"backprop_len must be an int >= 1, got 0"):
        RNNLearner(window_dls(20), hidden_size=4, sub_seq_len=20, backprop_len=0)


@pytest.mark.parametrize(
    "kw, error, pattern",
    [
        ({"hidden_size": -40}, ValueError, r"hidden_size must be an int >= 1, got -40"),
        ({"hidden_size": 40.5}, TypeError, r"hidden_size must be an int >= 1, got 40\.5"),
        ({"hidden_size": True}, TypeError, r"hidden_size must be an int >= 1, got True"),
        ({"bs": 0}, ValueError, r"bs must be an int >= 1, got 0"),
        ({"num_layers": 0}, ValueError, r"num_layers must be an int >= 1, got 0"),
        ({"input_size": -1}, ValueError, r"input_size must be an int >= 1, got -1"),
        ({"win_sz": 500.0}, TypeError, r"win_sz must be an int >= 1, got 500\.0"),
        ({"sub_seq_len": 600}, ValueError, r"sub_seq_len must be an int >= 1 and <= 500, got 600"),
    ],
)
def test_estimate_memory_refuses_sizes_that_are_not_sizes(kw, error, pattern):
    sizes = dict(rnn_type="lstm", hidden_size=40, num_layers=1, bs=16, win_sz=500) | kw
    with pytest.raises(error, match=pattern):
        estimate_memory(**sizes)
    assert estimate_memory("lstm", 40, 1, 16, 500, 100) > 0  # the control


SEEDS = {
    "create_dls": lambda seed: create_dls(signal(), signal(seed=1), win_sz=40, seed=seed),
    "create_stream_dls": lambda seed: create_stream_dls(
        [signal()], [signal(seed=1)], bs=1, sub_seq_len=20, seed=seed
    ),
    "create_dls_text": lambda seed: create_dls_text(DOCS, bs=2, sub_seq_len=8, seed=seed),
    "create_dls_echo": lambda seed: tk.create_dls_echo(n_train=256, n_valid=128, seed=seed),
    "sample_text": lambda seed: sample_text(
        StatefulRNN(rnn_type="gru", hidden_size=4, vocab_size=2), Vocab("ab"), "a", 3, seed=seed
    ),
    "RNNLearner": lambda seed: RNNLearner(window_dls(), hidden_size=4, seed=seed),
    "compare": lambda seed: tk.compare([{}], lambda **kw: window_dls(), n_epoch=1, seed=seed),
    "Truncation": lambda seed: Truncation(mean_len=4, seed=seed),
}


@pytest.mark.parametrize("entry", SEEDS)
@pytest.mark.parametrize(
    "seed, error",
    [
        (-1, ValueError),
        (1.5, TypeError),
        (True, TypeError),
        (math.nan, TypeError),
        (None, TypeError),
    ],
)
def test_a_seed_that_is_no_seed_is_refused_by_every_entry_point(entry, seed, error):
    if entry == "RNNLearner" and seed is None:
        return  # None: no seed, the learner's documented default
    with pytest.raises(error, match=r"seed must be (a non-negative int|an int >= 0), got"):
        SEEDS[entry](seed)
    SEEDS[entry](np.int64(3))  # the control: numpy's ints are seeds too


def sizes_of_the_public_api():
    """(label, call(value), valid kind) for each scale, stride, size and count argument."""
    sig, uu = signal(), torch.zeros(2, 40, 1)
    rnn = StatefulRNN(rnn_type="rnn", hidden_size=4)
    dls20 = window_dls(20)
    text_model = StatefulRNN(rnn_type="gru", hidden_size=4, vocab_size=2)
    text_dls = create_dls_text(DOCS, bs=2, sub_seq_len=8)
    text_learner = RNNLearner(text_dls, rnn_type="gru", hidden_size=4, sub_seq_len=8)
    calls = {
        "create_dls.bs": lambda v: create_dls(sig, sig, win_sz=40, bs=v),
        "create_dls.win_sz": lambda v: create_dls(sig, sig, win_sz=v),
        "create_dls.stp_sz": lambda v: create_dls(sig, sig, win_sz=40, stp_sz=v),
        "create_dls.valid_stp_sz": lambda v: create_dls(sig, sig, win_sz=40, valid_stp_sz=v),
        "create_dls.sub_seq_len": lambda v: create_dls(sig, sig, win_sz=40, sub_seq_len=v),
        "create_stream_dls.bs": lambda v: create_stream_dls([sig], [sig], bs=v, sub_seq_len=20),
        "create_stream_dls.sub_seq_len": lambda v: create_stream_dls(
            [sig], [sig], bs=1, sub_seq_len=v
        ),
        "create_stream_dls.valid_bs": lambda v: create_stream_dls(
            [sig], [sig], bs=1, sub_seq_len=20, valid_bs=v
        ),
        "create_stream_dls.read_ahead": lambda v: create_stream_dls(
            [sig], [sig], bs=1, sub_seq_len=20, read_ahead=v
        ),
        "create_stream_dls.max_batches": lambda v: create_stream_dls(
            [sig], [sig], bs=1, sub_seq_len=20, max_batches=v
        ),
        "create_dls_text.bs": lambda v: create_dls_text(DOCS, bs=v, sub_seq_len=8),
        "create_dls_text.sub_seq_len": lambda v: create_dls_text(DOCS, bs=2, sub_seq_len=v),
        "create_dls_text.valid_bs": lambda v: create_dls_text(
            DOCS, bs=2, sub_seq_len=8, valid_bs=v
        ),
        "create_dls_echo.delay": lambda v: tk.create_dls_echo(delay=v, n_train=256, n_valid=128),
        "create_dls_echo.win_sz": lambda v: tk.create_dls_echo(win_sz=v, n_train=256, n_valid=128),
        "create_dls_echo.n_train": lambda v: tk.create_dls_echo(n_train=v, n_valid=128),
        "create_dls_echo.n_valid": lambda v: tk.create_dls_echo(n_train=256, n_valid=v),
        "create_dls_balancing.win_sz": lambda v: tk.create_dls_balancing(win_sz=v),
        "create_dls_balancing.sub_seq_len": lambda v: tk.create_dls_balancing(sub_seq_len=v),
        "create_dls_balancing.n_windows": lambda v: tk.create_dls_balancing(n_windows=v),
        "create_dls_silverbox.bs": lambda v: tk.create_dls_silverbox(bs=v),
        "create_dls_silverbox.win_sz": lambda v: tk.create_dls_silverbox(win_sz=v),
        "create_dls_silverbox.stp_sz": lambda v: tk.create_dls_silverbox(stp_sz=v),
        "StatefulRNN.hidden_size": lambda v: StatefulRNN(hidden_size=v),
        "StatefulRNN.num_layers": lambda v: StatefulRNN(num_layers=v),
        "StatefulRNN.n_u": lambda v: StatefulRNN(n_u=v),
        "StatefulRNN.vocab_size": lambda v: StatefulRNN(vocab_size=v),
        "RNNLearner.hidden_size": lambda v: RNNLearner(dls20, hidden_size=v, sub_seq_len=20),
        "RNNLearner.sub_seq_len": lambda v: RNNLearner(dls20, hidden_size=4, sub_seq_len=v),
        "RNNLearner.backprop_len": lambda v: RNNLearner(
            dls20, hidden_size=4, sub_seq_len=20, backprop_len=v
        ),
        "estimate_memory.bs": lambda v: estimate_memory("lstm", 4, 1, v, 40),
        "estimate_memory.win_sz": lambda v: estimate_memory("lstm", 4, 1, 2, v),
        "estimate_memory.output_size": lambda v: estimate_memory(
            "lstm", 4, 1, 2, 40, output_size=v
        ),
        "influence_bytes.bs": lambda v: influence_bytes(rnn, v),
        "simulate.n_init": lambda v: tk.simulate(rnn, sig, n_init=v),
        "initial_state.n_iter": lambda v: tk.initial_state(rnn, sig[0][:5], sig[1][:5], n_iter=v),
        "sample_text.n_chars": lambda v: sample_text(text_model, Vocab("ab"), "a", v),
        "BPTT.sub_seq_len": lambda v: tk.BPTT("truncated", v),
        "BalancingChain.n_units": lambda v: tk.BalancingChain(n_units=v),
        "error_by_draws.n_draws": lambda v: tk.error_by_draws(
            rnn, uu, uu, tk.BPTT("truncated", 10), v
        ),
        "error_by_draws.n_repeats": lambda v: tk.error_by_draws(
            rnn, uu, uu, tk.BPTT("truncated", 10), 1, v
        ),
        "grad_by_lag_text.T": lambda v: tk.grad_by_lag_text(text_learner, T=v, bs=2),
        "grad_by_lag_text.bs": lambda v: tk.grad_by_lag_text(text_learner, T=8, bs=v),
        "bias_variance.n_draws": lambda v: tk.bias_variance(rnn, uu, uu, {}, n_draws=(1, v)),
        "compare.n_epoch": lambda v: tk.compare([{}], lambda **kw: window_dls(), n_epoch=v),
        "compare.equal_steps": lambda v: tk.compare([{}], lambda **kw: window_dls(), equal_steps=v),
    }
    return calls


SIZES = sizes_of_the_public_api()


@pytest.mark.parametrize("label", SIZES)
@pytest.mark.parametrize("value", [-1, 1.5, math.nan, "3"])
def test_every_size_argument_of_the_public_api_names_a_bad_value(label, value):
    name = label.split(".")[1]
    with pytest.raises((TypeError, ValueError), match=rf"{name} must be an int >= \d"):
        SIZES[label](value)


@pytest.mark.parametrize(
    "call, error, pattern",
    [
        (
            lambda: tk.create_dls_echo(noise=-0.1),
            ValueError,
            r"noise must be a finite number in \[0",
        ),
        (lambda: tk.BalancingChain(theta=math.nan), ValueError, r"theta must be a finite number"),
        (lambda: tk.BalancingChain(theta="1"), TypeError, r"theta must be a finite number"),
        (
            lambda: create_dls_text(DOCS, valid_frac=0),
            ValueError,
            r"valid_frac must be a finite number in \(0, 1\)",
        ),
        (
            lambda: tk.initial_state(StatefulRNN(), [0.0] * 5, [0.0] * 5, lr=-1),
            ValueError,
            r"lr must be a finite number in \(0",
        ),
        (
            lambda: tk.bias_variance(
                StatefulRNN(), torch.zeros(1, 8, 1), torch.zeros(1, 8, 1), {}, n_draws=3
            ),
            TypeError,
            r"n_draws must be a non-empty tuple of ints >= 1 \(the M to average\), got 3",
        ),
    ],
)
def test_every_scale_argument_of_the_public_api_names_a_bad_value(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


# -- ARTBP and RTRL ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kw, error, pattern",
    [
        ({"mean_len": math.inf}, ValueError, r"mean_len must be a number > 1 and finite .*got inf"),
        ({"mean_len": math.nan}, ValueError, r"mean_len must be a number > 1 and finite .*got nan"),
        ({"mean_len": 4, "seed": -1}, ValueError, r"seed must be an int >= 0, got -1"),
        ({"mean_len": 4, "seed": 2.5}, TypeError, r"seed must be an int >= 0, got 2\.5"),
        (
            {"probs": (0.5, math.nan)},
            ValueError,
            r"probs must be P\(L = 1\), .*finite, non-negative",
        ),
        (
            {"probs": (0.5, "0.5")},
            TypeError,
            r"probs must be a sequence of numbers, got \(0\.5, '0\.5'\)",
        ),
        ({"probs": 0.5}, TypeError, r"probs must be a sequence of numbers, got 0\.5"),
    ],
)
def test_truncations_that_mean_no_run_are_refused(kw, error, pattern):
    with pytest.raises(error, match=pattern):
        Truncation(**kw)


def test_numpy_numbers_make_the_same_truncation_as_python_numbers():
    a, b = Truncation(mean_len=np.int64(4), seed=np.int64(3)), Truncation(mean_len=4, seed=3)
    assert a == b and type(a.seed) is int
    generators = [torch.Generator().manual_seed(t.seed) for t in (a, b)]
    assert a.draw_cuts(1, 50, generators[0]) == b.draw_cuts(1, 50, generators[1])


def test_rtrl_takes_float64_windows_and_names_bad_shapes():
    torch.manual_seed(0)
    model = StatefulRNN(rnn_type="rnn", hidden_size=4)
    u, y = torch.randn(2, 6, 1), torch.randn(2, 6, 1)
    exact = rtrl_gradient(model, u, y)
    assert torch.allclose(rtrl_gradient(model, u.double(), y.double()), exact)
    assert torch.allclose(
        rtrl_gradient(model.double(), u.double(), y.double()).float(), exact, atol=1e-6
    )
    with pytest.raises(
        ValueError, match=r"u \(2, 6\) and y \(2, 6, 1\) must be windows \(bs, T, n_u\)"
    ):
        rtrl_gradient(model, u[..., 0], y)
    with pytest.raises(ValueError, match=r"the model's \(n_u, n_y\) = \(1, 1\)"):
        rtrl_gradient(model, torch.randn(2, 6, 3), y)


@pytest.mark.parametrize("hidden, bs", [(8, 4), (16, 2)])
def test_rtrls_memory_guard_is_within_a_quarter_of_the_measured_peak(hidden, bs):
    """The guard's bytes against the peak torch allocated during the call (its profiler sees
    every tensor): the old step built ∂a/∂θ whole and held twice the guard's bytes."""
    model = StatefulRNN(rnn_type="rnn", hidden_size=hidden)
    u, y = torch.randn(bs, 10, 1), torch.randn(bs, 10, 1)
    peak = _cpu_peak(lambda: rtrl_gradient(model, u, y))
    assert 0.75 <= influence_bytes(model, bs) / peak <= 1.25, peak
    with pytest.raises(ValueError, match=r"holds two influence matrices .* more than max_memory"):
        rtrl_gradient(model, u, y, max_memory=influence_bytes(model, bs) - 1)


# -- left from the last round -----------------------------------------------------------------
@pytest.mark.parametrize(
    "text, valid_frac, pattern",
    [
        (
            "abc",
            0.1,
            r"valid_frac=0\.1 leaves no valid text: it gets 0 of the text's 3 characters.*Give a longer text: at least 4",
        ),
        (
            "abc",
            0.5,
            r"valid_frac=0\.5 leaves no valid text: it gets 1 of the text's 3 characters.*at least 4",
        ),
        ("abcdefghij", 0.01, r"leaves no valid text: .*Choose valid_frac from 0\.2 to 0\.8"),
        ("abcdefghij", 0.95, r"leaves no train text: .*Choose valid_frac from 0\.2 to 0\.8"),
    ],
)
def test_text_too_short_to_split_says_what_would_do(text, valid_frac, pattern):
    with pytest.raises(ValueError, match=pattern):
        create_dls_text(text, bs=1, sub_seq_len=1, valid_frac=valid_frac)
    create_dls_text(text + "d", bs=1, sub_seq_len=1, valid_frac=0.5)  # 4 characters: it splits


def test_sampling_with_another_vocabulary_than_the_models_is_refused():
    model = StatefulRNN(rnn_type="gru", hidden_size=4, vocab_size=2)
    with pytest.raises(
        ValueError, match=r"the model's vocab_size=2 does not match the vocabulary's 6"
    ):
        sample_text(model, Vocab("abcdef"), "f", n_chars=3)
    with pytest.raises(ValueError, match=r"the model's vocab_size=None does not match"):
        sample_text(StatefulRNN(), Vocab("ab"), "a", n_chars=3)  # a signal model
    with pytest.raises(TypeError, match=r"vocab must be a Vocab \(dls\.vocab\), got str"):
        sample_text(model, "ab", "a", n_chars=3)
    assert len(sample_text(model, Vocab("ab"), "a", n_chars=3)) == 4  # the control


def test_a_model_whose_weights_cannot_fit_is_refused_before_it_is_built():
    """num_layers=10**6 would build for minutes, then fail: refused at once, the sizes named
    (the control: the same call with a small model builds)."""
    dls = tk.create_dls_silverbox(bs=4, win_sz=100, stp_sz=100)
    start = time.perf_counter()
    for sizes in ({"num_layers": 10**6}, {"hidden_size": 10**6}):
        with pytest.raises(MemoryError, match=r"weights alone take .* more than the .* available"):
            tk.RNNLearner(dls, progress=False, **sizes)
    assert time.perf_counter() - start < 5
    assert tk.RNNLearner(dls, num_layers=2, hidden_size=8, progress=False).model.num_layers == 2
