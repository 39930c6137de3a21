"""Bad input gets a clear error that names the parameter, the value and what is valid."""

import h5py
import numpy as np
import pytest

from tbptt_kit import RNNLearner, StatefulRNN, create_dls
from tbptt_kit.data.hdf5 import write_record


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
            r"win_sz=5000 is longer than the shortest record \(1000 samples\).*<= 1000",
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
