"""Properties of the public entry points, over random shapes, lengths, channel counts, dtypes
and special values (Hypothesis): each call gives either the exact result or one of the kit's
own errors whose message names the argument; never a raw internal error, never a wrong number.

The example budget is fixed and the examples derandomised (the "kit" profile in conftest.py),
so `make test` runs the same cases in the same few seconds everywhere.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tbptt_kit import StatefulRNN, create_dls, estimate_memory, free_run_rmse, split_windows
from tbptt_kit.course.evaluate import sample_text
from tbptt_kit.data.loaders import create_stream_dls
from tbptt_kit.data.text import Vocab
from tbptt_kit.tooling.threads import ENV_VAR, max_threads, parse_env
from tbptt_kit.units import parse_bytes
from tbptt_kit.validation import check_int, check_number, check_units

NUMPY_NUMBERS = [np.int8, np.int32, np.int64, np.uint16, np.float16, np.float32, np.float64]
special_floats = st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-40, 1e300])
anything = st.one_of(
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    special_floats,
    st.builds(lambda t, v: t(v), st.sampled_from(NUMPY_NUMBERS), st.integers(0, 100)),
    st.builds(np.float64, special_floats),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
)


def kits_error(err: Exception, *names: str) -> None:
    """The error is the kit's own: a ValueError or TypeError whose message names an argument."""
    assert isinstance(err, (ValueError, TypeError)), repr(err)
    assert any(name in str(err) for name in names), str(err)


# -- numbers ------------------------------------------------------------------------------------
@given(value=anything, minimum=st.integers(-3, 3))
def test_check_int_takes_whole_numbers_of_any_kind_and_names_the_rest(value, minimum):
    try:
        got = check_int("win_sz", value, minimum=minimum)
    except (ValueError, TypeError) as err:
        kits_error(err, "win_sz must be an int >= ")
        whole = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        assert not whole or value < minimum
    else:
        assert type(got) is int and got == value and got >= minimum and not isinstance(value, bool)


@given(value=anything)
def test_check_number_takes_finite_real_numbers_of_any_kind_and_names_the_rest(value):
    try:
        got = check_number("temperature", value, 0)
    except (ValueError, TypeError) as err:
        kits_error(err, "temperature must be a finite number in [0, inf]")
    else:
        assert type(got) is float and math.isfinite(got) and got >= 0 and got == float(value)


@given(value=st.one_of(anything, st.from_regex(r"\s*[0-9.]{0,4}\s*[kmgtKMGT]?i?[bB]?\s*")))
def test_parse_bytes_gives_positive_bytes_or_names_max_memory(value):
    try:
        got = parse_bytes(value)
    except (ValueError, TypeError) as err:
        kits_error(err, "max_memory")
    else:
        assert got == math.inf or (type(got) is int and got >= 1)


@given(value=st.one_of(st.text(max_size=6), st.integers(-5, 10**10).map(str)))
def test_thread_counts_from_the_environment_are_bounded_or_named(value):
    try:
        got = parse_env(value)
    except ValueError as err:
        kits_error(err, ENV_VAR)
    else:
        assert got is None or 1 <= got <= max_threads()


@given(factor=anything)
def test_units_scale_every_score_by_a_positive_factor_or_are_named(factor):
    try:
        name, got = check_units(("mV", factor))
    except (ValueError, TypeError) as err:
        kits_error(err, "units factor must be a finite number in (0, inf]")
        assert isinstance(factor, (bool, np.bool_, str, type(None))) or not 0 < factor < math.inf
    else:
        assert name == "mV" and type(got) is float and 0 < got < math.inf and got == factor


sizes = st.one_of(st.integers(-2, 50), st.floats(-1, 50), st.booleans(), st.none())


@given(hidden=sizes, layers=sizes, bs=sizes, win=sizes, sub=st.one_of(st.none(), sizes))
def test_estimate_memory_is_a_positive_size_or_names_the_argument(hidden, layers, bs, win, sub):
    try:
        got = estimate_memory("gru", hidden, layers, bs, win, sub)
    except (ValueError, TypeError) as err:
        kits_error(err, "hidden_size", "num_layers", "bs must", "win_sz", "sub_seq_len")
        return
    whole = [v for v in (hidden, layers, bs, win) if type(v) is int and v >= 1]
    assert len(whole) == 4 and (sub is None or 1 <= sub <= win)
    assert type(got) is int and got > 0


@given(offset=st.floats(-1e12, 1e12), scale=st.floats(1e-6, 1e6))
def test_a_signal_keeps_its_precision_in_float32_or_the_loss_is_named(offset, scale):
    """What reaches the model (float32) differs from the float64 signal given by at most a
    few thousandths of its spread, or the loaders refuse it naming the lost precision."""
    rng = np.random.default_rng(0)
    u = offset + scale * rng.standard_normal(200)
    y = rng.standard_normal(200)
    try:
        dls = create_dls((u, y), (u, y), bs=2, win_sz=20)
    except ValueError as err:
        kits_error(err, "precision lost", "is constant")
        return
    kept = np.asarray(dls.train.ds.u[0][:, 0], dtype=np.float64)
    assert np.abs(kept - u).max() <= 4e-3 * u.std()


# -- signals: split, window, stream, score ------------------------------------------------------
@given(
    bs=st.integers(1, 3),
    win=st.integers(1, 30),
    n_u=st.integers(1, 3),
    n_y=st.integers(1, 3),
    sub=st.one_of(st.none(), st.integers(-1, 40)),
    y_delta=st.sampled_from([0, 0, 0, -1, 2]),
)
def test_split_windows_cuts_exactly_or_refuses(bs, win, n_u, n_y, sub, y_delta):
    u = torch.arange(bs * win * n_u, dtype=torch.float32).reshape(bs, win, n_u)
    y = torch.randn(bs, max(win + y_delta, 1), n_y)
    try:
        batches = list(split_windows(u, y, sub))
    except ValueError as err:
        kits_error(err, "sub_seq_len", "must have the same (bs, win_sz)")
        assert y.shape[1] != win or (sub is not None and (sub < 1 or win % sub))
        return
    assert y.shape[1] == win
    assert torch.equal(torch.cat([b.u for b in batches], 1), u)  # every step, in order
    assert torch.equal(torch.cat([b.y for b in batches], 1), y)
    assert all(b.u.shape[1] == (sub or win) for b in batches)


signals = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64, np.int16, np.complex64, np.bool_]),
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=60),
)
finite_or_not = st.sampled_from([None, math.nan, math.inf])


@given(u=signals, y=signals, poison=finite_or_not, win_sz=st.integers(1, 70))
def test_create_dls_builds_exact_windows_or_names_the_argument(u, y, poison, win_sz):
    if poison is not None and u.dtype.kind == "f":
        u = u.copy()
        u.flat[len(u.flat) // 2] = poison
    try:
        dls = create_dls((u, y), (u, y), bs=2, win_sz=win_sz, stp_sz=1)
    except (ValueError, TypeError) as err:
        kits_error(err, "train u", "train y", "u and y", "win_sz", "valid u", "constant")
        return
    u2 = u.reshape(len(u), -1).astype(np.float32)
    assert u.dtype.kind in "biuf" and u.ndim <= 2 and np.isfinite(u2).all() and len(u) == len(y)
    assert len(dls.train.ds) == len(u) - win_sz + 1 and dls.n_u == u2.shape[1]
    first_u, _ = dls.train.ds[[0]]
    assert torch.equal(first_u[0], torch.from_numpy(u2[:win_sz]))


@given(channels=st.lists(st.tuples(st.integers(1, 2), st.integers(1, 2)), min_size=2, max_size=4))
def test_stream_records_share_their_channels_or_are_named(channels):
    rng = np.random.default_rng(0)
    records = [
        (rng.standard_normal((50, cu)), rng.standard_normal((50, cy))) for cu, cy in channels
    ]
    try:
        dls = create_stream_dls(records[:-1], records[-1:], bs=1, sub_seq_len=10)
    except ValueError as err:
        kits_error(err, "record")
        assert len(set(channels)) > 1
        return
    assert len(set(channels)) == 1 and (dls.n_u, dls.n_y) == channels[0]


torch.manual_seed(0)
MODEL = StatefulRNN(1, 1, hidden_size=3).eval()


@given(t_u=st.integers(1, 30), t_y=st.integers(1, 30), c_u=st.integers(1, 2), c_y=st.integers(1, 3))
def test_free_run_rmse_is_the_exact_score_or_names_the_mismatch(t_u, t_y, c_u, c_y):
    rng = np.random.default_rng(t_u * 100 + t_y)
    u, y = rng.standard_normal((t_u, c_u)), rng.standard_normal((t_y, c_y))
    try:
        score = free_run_rmse(MODEL, {"r": (u, y)}, n_init=0)["r"]
    except ValueError as err:
        kits_error(err, "the record's u", "the record's y", "u has")
        assert (t_u, c_u, c_y) != (t_y, 1, 1)
        return
    with torch.no_grad():
        y_hat = MODEL(torch.as_tensor(u, dtype=torch.float32)[None])[0][0].numpy()
    assert (t_u, c_u, c_y) == (t_y, 1, 1)
    expected = np.sqrt(np.mean((y_hat - y.astype(np.float32)) ** 2))
    assert score == pytest.approx(float(expected), rel=1e-5)


VOCAB = Vocab("abc")
TEXT_MODEL = StatefulRNN(rnn_type="gru", hidden_size=3, vocab_size=3)


few = st.one_of(
    st.integers(-3, 12), st.builds(np.int64, st.integers(-2, 12)), st.floats(), st.none()
)


@given(temperature=anything, n_chars=few)
def test_sampling_writes_n_chars_or_names_the_argument(temperature, n_chars):
    try:
        text = sample_text(TEXT_MODEL, VOCAB, "ab", n_chars=n_chars, temperature=temperature)
    except (ValueError, TypeError) as err:
        kits_error(err, "temperature", "n_chars")
        return
    assert len(text) == 2 + n_chars and set(text) <= set("abc")
