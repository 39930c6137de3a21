"""The Silverbox record: simulation, cache, official loader and split. Never uses the network.

The official record is taken from ../shared/data/silverbox beside the checkout (skipped when
absent) and served to the downloader by a local HTTP server.
"""

import hashlib
import socket
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from tests.local_server import serving

from tbptt_kit.data import silverbox
from tbptt_kit.data.silverbox import (
    FS,
    N_SAMPLES,
    SPLIT,
    TEST_NAMES,
    cache_dir,
    load_silverbox,
    silverbox_split,
    simulate_silverbox,
)

SHARED = Path(__file__).resolve().parents[2] / "shared/data/silverbox"
MV = 1e3  # volts to millivolts


def rms(x):
    return float(np.sqrt(np.mean(np.square(x))))


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache folder, and the public download addresses are
    removed so that no test can ever reach the network."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("TBPTT_KIT_DATA", str(folder))
    monkeypatch.setattr(silverbox, "OFFICIAL_URLS", ())
    return folder


@pytest.fixture(scope="module")
def sim0():
    return simulate_silverbox(seed=0)


@pytest.fixture(scope="module")
def csv_path():
    path = SHARED / "SNLS80mV.csv"
    if not path.is_file():
        pytest.skip(f"the official record is not available at {path}")
    return path


@pytest.fixture(scope="module")
def official(csv_path, tmp_path_factory):
    return load_silverbox("official", path=csv_path, cache=tmp_path_factory.mktemp("unused"))


def _make_zip(path, csv_bytes, member="SilverboxFiles/SNLS80mV.csv"):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("SilverboxFiles/README.txt", "the Silverbox files\n")
        if csv_bytes is not None:
            archive.writestr(member, csv_bytes)
    return path


def _assert_same(a, b):
    for x, z in zip(a, b, strict=True):
        assert x.dtype == np.float64 and x.shape == (N_SAMPLES,)
        np.testing.assert_array_equal(x, z)


# --- the simulated record --------------------------------------------------------------------


def test_simulation_is_deterministic_per_seed_and_fast(sim0):
    start = time.perf_counter()
    again = simulate_silverbox(seed=0)
    seconds = time.perf_counter() - start

    _assert_same(again, sim0)
    assert seconds < 10, f"simulate_silverbox took {seconds:.1f} s"
    other = simulate_silverbox(seed=1)
    assert not np.array_equal(other[0], sim0[0])
    assert not np.array_equal(other[1], sim0[1])


def test_simulation_layout(sim0):
    u, _ = sim0
    assert np.all(u[:86] == 0)  # leading zeros
    assert np.all(u[127406:] == 0)  # zero padding after the 10 multisine blocks
    block = 40486  # the first multisine block: 100 zeros, 400 lead-in samples, one period
    assert np.all(u[block : block + 100] == 0)
    np.testing.assert_allclose(u[block + 100 : block + 500], u[block + 8192 + 100 : block + 8692])


def test_simulation_statistics_match_the_readme(sim0):
    """README, seed 0 [real record]: train y rms 54.2 [54.5] mV, max 235 [216] mV; arrow y rms
    55.7 [53.4] mV, max 320 [300] mV; resonance 68.9-69.8 [69.8] Hz. The arrow is a single
    noise realisation, so its figures get wider bounds."""
    parts = silverbox_split(*sim0)
    u_train, y_train = parts["train"]
    _, y_arrow = parts["arrow_full"]

    assert rms(u_train) * MV == pytest.approx(22.2, abs=0.5)
    assert rms(y_train) * MV == pytest.approx(54.2, rel=0.05)
    assert 200 < np.abs(y_train).max() * MV < 270
    assert rms(y_arrow) * MV == pytest.approx(55.7, rel=0.15)
    assert 250 < np.abs(y_arrow).max() * MV < 380
    assert 68.0 < _resonance_hz(*sim0) < 71.0


def _resonance_hz(u, y):
    """Peak of |Y/U| over the excited lines, averaged over the 10 steady-state periods."""
    lines = np.arange(1, 2682, 2)
    gains = []
    for b in range(10):
        period = slice(40486 + 8692 * b + 500, 40486 + 8692 * b + 500 + 8192)
        gains.append(np.abs(np.fft.rfft(y[period])[lines] / np.fft.rfft(u[period])[lines]))
    return lines[np.argmax(np.mean(gains, axis=0))] * FS / 8192


def test_real_record_has_the_same_resonance(official):
    assert 68.0 < _resonance_hz(*official) < 71.0


# --- the simulated cache ---------------------------------------------------------------------


def test_simulated_record_is_cached_and_read_back(sim0, cache, monkeypatch):
    first = load_silverbox("simulated", seed=0)
    _assert_same(first, sim0)
    assert [p.name for p in cache.iterdir()] == ["silverbox_sim_seed0_v2.h5"]

    def no_simulation(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(silverbox, "simulate_silverbox", no_simulation)
    _assert_same(load_silverbox("simulated", seed=0), sim0)


def test_a_corrupt_cache_file_is_regenerated(sim0, cache):
    cache.mkdir()
    file = cache / "silverbox_sim_seed0_v2.h5"
    file.write_bytes(b"not an HDF5 file at all")

    with pytest.warns(UserWarning, match="damaged or mismatched cache file"):
        record = load_silverbox("simulated", seed=0)

    _assert_same(record, sim0)
    _assert_same(load_silverbox("simulated", seed=0), sim0)  # the file was rewritten


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TBPTT_KIT_DATA", str(tmp_path / "a"))
    assert cache_dir() == tmp_path / "a" and cache_dir().is_dir()
    monkeypatch.delenv("TBPTT_KIT_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "tbptt_kit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "tbptt_kit"


def test_bad_arguments_are_refused():
    for seed in ("0", 1.5, True):
        with pytest.raises(TypeError, match="seed"):
            load_silverbox("simulated", seed=seed)
    with pytest.raises(ValueError, match="source.*'simulated'.*'official'"):
        load_silverbox("measured")
    with pytest.raises(ValueError, match="official"):
        load_silverbox("simulated", path="SNLS80mV.csv")


# --- the official record ---------------------------------------------------------------------


def test_official_from_csv_has_the_readme_magnitudes(official):
    u, y = official
    assert u.dtype == y.dtype == np.float64 and u.shape == y.shape == (N_SAMPLES,)
    assert (u[0], y[0]) == (0.0057756, 0.0093978)  # the first line, raw
    parts = silverbox_split(u, y)
    u_train, y_train = parts["train"]
    assert rms(u_train - u_train.mean()) * MV == pytest.approx(22.2, abs=0.2)
    assert rms(y_train) * MV == pytest.approx(54.5, abs=0.3)
    assert np.abs(y_train).max() * MV == pytest.approx(216, abs=1)
    assert np.abs(parts["arrow_full"][1]).max() * MV == pytest.approx(300, abs=2)
    assert u[:80].mean() * MV == pytest.approx(6.2, abs=0.3)  # DC offsets are kept


def test_a_loose_csv_is_not_cached(csv_path, cache):
    load_silverbox("official", path=csv_path)
    assert list(cache.iterdir()) == []


def test_official_from_mat(official, tmp_path):
    mat = tmp_path / "SNLS80mV.mat"
    scipy.io.savemat(mat, {"V1": official[0][None, :], "V2": official[1][None, :]})
    _assert_same(load_silverbox("official", path=mat), official)


def test_official_from_zip_is_checked_cached_and_reused(official, csv_path, tmp_path, cache):
    zip_path = _make_zip(tmp_path / "SilverboxFiles.zip", csv_path.read_bytes())

    _assert_same(load_silverbox("official", path=zip_path), official)
    assert [p.name for p in cache.iterdir()] == ["silverbox_official_v2.h5"]
    zip_path.unlink()
    _assert_same(load_silverbox("official"), official)  # from the cache


def test_official_download_then_cache(official, csv_path, tmp_path, cache):
    served = tmp_path / "served"
    served.mkdir()
    _make_zip(served / "SilverboxFiles.zip", csv_path.read_bytes())

    with serving(served) as base:
        url = f"{base}/SilverboxFiles.zip"
        _assert_same(load_silverbox("official", url=url), official)

    # The server is gone: the second call must be served from the cache.
    _assert_same(load_silverbox("official", url=url), official)
    assert [p.name for p in cache.iterdir()] == ["silverbox_official_v2.h5"]


def test_wrong_checksum_raises_and_caches_nothing(csv_path, tmp_path, cache):
    tampered = csv_path.read_bytes().replace(b"0.0057756", b"0.0057757", 1)
    served = tmp_path / "served"
    served.mkdir()
    _make_zip(served / "SilverboxFiles.zip", tampered)
    expected = silverbox.OFFICIAL_SHA256["SNLS80mV.csv"]
    actual = hashlib.sha256(tampered).hexdigest()

    with serving(served) as base:
        with pytest.raises(ValueError, match="SNLS80mV.csv") as info:
            load_silverbox("official", url=f"{base}/SilverboxFiles.zip")

    assert expected in str(info.value) and actual in str(info.value)
    assert list(cache.iterdir()) == []


def test_zip_without_the_record_lists_its_contents(tmp_path, cache):
    zip_path = _make_zip(tmp_path / "SilverboxFiles.zip", None)
    with pytest.raises(ValueError, match="SNLS80mV.csv.*SilverboxFiles/README.txt"):
        load_silverbox("official", path=zip_path)
    assert list(cache.iterdir()) == []


def test_failed_downloads_are_reported(tmp_path, cache):
    served = tmp_path / "served"
    served.mkdir()
    (served / "page.html").write_text("<html>Sign in to continue</html>")
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/SilverboxFiles.zip"

    with serving(served) as base:
        for url in (closed, f"{base}/page.html"):  # refused; not a zip
            with pytest.raises(ConnectionError, match="could not download") as info:
                load_silverbox("official", url=url)
            assert url in str(info.value)
    assert list(cache.iterdir()) == []


# --- the split -------------------------------------------------------------------------------


def test_split_lengths_and_contents(sim0):
    parts = silverbox_split(*sim0)
    lengths = {name: len(u) for name, (u, y) in parts.items()}
    assert lengths == {
        "train": 50000,
        "valid": 15062,
        "multisine": 21688,
        "arrow_full": 40475,
        "arrow_no_extrap": 32000,
    }
    assert set(TEST_NAMES) <= set(parts)
    for name, (u, y) in parts.items():
        np.testing.assert_array_equal(u, sim0[0][SPLIT[name]])
        np.testing.assert_array_equal(y, sim0[1][SPLIT[name]])
    with pytest.raises(ValueError, match="whole record"):
        silverbox_split(sim0[0][:1000], sim0[1][:1000])
