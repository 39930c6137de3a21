"""HDF5 records: round trip, atomic writes, and clear errors for every kind of bad file."""

import os
import socket
import subprocess
import time

import h5py
import numpy as np
import pytest

from tbptt_kit.data.hdf5 import (
    STALE_AFTER_S,
    TEMPORARY_MARK,
    read_attrs,
    read_record,
    remove_stale_temporaries,
    write_record,
)


def _signals():
    return {
        "u0": np.linspace(-1, 1, 1000),
        "y0": np.sin(np.arange(1000, dtype=np.float32)),
    }


def test_round_trip_keeps_values_dtypes_fs_and_attrs(tmp_path):
    path = tmp_path / "rec.h5"
    write_record(path, _signals(), fs=610.35, attrs={"seed": 3, "source": "test"})

    signals, fs = read_record(path, ["u0", "y0"])

    assert fs == 610.35
    for name, expected in _signals().items():
        assert signals[name].dtype == expected.dtype
        np.testing.assert_array_equal(signals[name], expected)
    with h5py.File(path, "r") as f:
        assert f.attrs["seed"] == 3 and f.attrs["source"] == "test"


def test_reads_only_the_names_asked_for_and_fs_none_when_absent(tmp_path):
    path = tmp_path / "rec.h5"
    with h5py.File(path, "w") as f:
        f["u0"] = np.zeros(5)
        f["y0"] = np.ones(5)

    signals, fs = read_record(path, ["y0"])

    assert list(signals) == ["y0"] and fs is None


def test_a_crash_mid_write_leaves_no_file_and_no_temp_file(tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("disk died")

    monkeypatch.setattr(h5py.Group, "create_dataset", crash)
    with pytest.raises(RuntimeError, match="disk died"):
        write_record(tmp_path / "rec.h5", _signals(), fs=1.0)

    assert list(tmp_path.iterdir()) == []


def test_a_crash_while_overwriting_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "rec.h5"
    write_record(path, {"u0": np.arange(3.0)}, fs=1.0)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("crash")

    monkeypatch.setattr(h5py.Group, "create_dataset", crash)
    with pytest.raises(KeyboardInterrupt, match="crash"):
        write_record(path, {"u0": np.arange(7.0)}, fs=2.0)

    assert list(tmp_path.iterdir()) == [path]
    signals, fs = read_record(path, ["u0"])
    np.testing.assert_array_equal(signals["u0"], np.arange(3.0))
    assert fs == 1.0


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nothing.h5"
    with pytest.raises(FileNotFoundError, match="nothing.h5"):
        read_record(path, ["u0"])


def test_truncated_file_is_not_readable(tmp_path):
    path = tmp_path / "rec.h5"
    write_record(path, {"u0": np.random.default_rng(0).standard_normal(50_000)}, fs=1.0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(ValueError, match=r"rec\.h5 is not a readable HDF5 file"):
        read_record(path, ["u0"])


def test_random_bytes_are_not_readable(tmp_path):
    path = tmp_path / "noise.h5"
    path.write_bytes(np.random.default_rng(0).bytes(4096))

    with pytest.raises(ValueError, match=r"noise\.h5 is not a readable HDF5 file"):
        read_record(path, ["u0"])


def test_missing_name_lists_what_exists(tmp_path):
    path = tmp_path / "rec.h5"
    write_record(path, _signals(), fs=1.0)

    with pytest.raises(ValueError, match="names") as info:
        read_record(path, ["u0", "y1"])

    message = str(info.value)
    assert "'y1'" in message and "'u0'" in message and "'y0'" in message
    assert "rec.h5" in message


def test_a_dataset_that_is_not_1d_is_refused(tmp_path):
    path = tmp_path / "rec.h5"
    with h5py.File(path, "w") as f:
        f["u0"] = np.zeros((2, 5))

    with pytest.raises(ValueError, match="'u0'.*not a 1-D signal"):
        read_record(path, ["u0"])


def test_nan_names_signal_file_and_index(tmp_path):
    path = tmp_path / "rec.h5"
    y = np.zeros(100)
    y[42] = np.nan
    y[77] = np.inf
    with h5py.File(path, "w") as f:
        f["y0"] = y

    with pytest.raises(ValueError, match=r"'y0' in .*rec\.h5.*index 42"):
        read_record(path, ["y0"])


def test_write_refuses_bad_signals_and_writes_nothing(tmp_path):
    path = tmp_path / "rec.h5"
    with pytest.raises(ValueError, match="'u0' must be 1-D"):
        write_record(path, {"u0": np.zeros((3, 3))}, fs=1.0)
    with pytest.raises(ValueError, match="'y0'.*index 1"):
        write_record(path, {"y0": np.array([0.0, np.inf])}, fs=1.0)

    assert list(tmp_path.iterdir()) == []


# --- permissions, stale temporary files, arguments -------------------------------------------


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_written_file_has_the_mode_the_umask_allows(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_record(tmp_path / "rec.h5", _signals(), fs=1.0)
    finally:
        os.umask(old)
    assert (tmp_path / "rec.h5").stat().st_mode & 0o777 == mode


def test_read_attrs_gives_plain_values(tmp_path):
    path = tmp_path / "rec.h5"
    write_record(path, _signals(), fs=2.5, attrs={"seed": 3, "source": "test"})
    assert read_attrs(path) == {"fs": 2.5, "seed": 3, "source": "test"}


def _temporary(folder, host, pid, age_s=0.0):
    tmp = folder / f"rec.h5{TEMPORARY_MARK}{host}-{pid}-0a1b2c3d"
    tmp.write_bytes(b"half-written")
    when = time.time() - age_s
    os.utime(tmp, (when, when))
    return tmp


def test_only_stale_temporary_files_are_removed(tmp_path):
    host = socket.gethostname()
    dead = subprocess.Popen(["true"])
    dead.wait()
    alive = _temporary(tmp_path, host, os.getpid())  # a write in progress: ours
    killed = _temporary(tmp_path, host, dead.pid)  # its writer is gone
    remote = _temporary(tmp_path, "other-host", 1)  # cannot be checked: kept while recent
    remote_old = _temporary(tmp_path, "other-host", 2, age_s=STALE_AFTER_S + 60)
    record = tmp_path / "rec.h5"
    write_record(record, _signals(), fs=1.0)

    assert sorted(remove_stale_temporaries(tmp_path)) == sorted([killed, remote_old])
    assert sorted(tmp_path.iterdir()) == sorted([alive, remote, record])
    assert remove_stale_temporaries(tmp_path / "no such folder") == []


def test_bad_arguments_name_the_parameter_and_value(tmp_path):
    path = tmp_path / "rec.h5"
    with pytest.raises(ValueError, match="fs must be a positive sampling frequency.*got 0"):
        write_record(path, _signals(), fs=0)
    with pytest.raises(ValueError, match="fs must be .*got nan"):
        write_record(path, _signals(), fs=float("nan"))
    with pytest.raises(TypeError, match="signals must be a non-empty dict.*got \\[\\]"):
        write_record(path, [], fs=1.0)
    write_record(path, _signals(), fs=1.0)
    with pytest.raises(TypeError, match="names must be a list of dataset names, got 'u0'"):
        read_record(path, "u0")
    with pytest.raises(TypeError, match="names must be .*got \\[0\\]"):
        read_record(path, [0])
