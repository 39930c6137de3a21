"""The Silverbox record (``data/silverbox.py``): the simulation, its statistics beside the
measured record's, the benchmark's split, and the arguments ``load_silverbox`` refuses.
Reading the official files: ``test_official.py``; the cache: ``test_cache.py``."""

import time

import numpy as np
import pytest

from tbptt_kit.data.silverbox import (
    FS,
    SPLIT,
    TEST_NAMES,
    load_silverbox,
    silverbox_split,
    simulate_silverbox,
)
from tests.data.silverbox_support import assert_same_record

pytestmark = pytest.mark.usefixtures("cache")  # an empty cache, no network (conftest.py)
MV = 1e3  # volts to millivolts


def rms(x):
    return float(np.sqrt(np.mean(np.square(x))))


# --- the simulated record --------------------------------------------------------------------


def test_simulation_is_deterministic_per_seed_and_fast(sim0):
    start = time.perf_counter()
    again = simulate_silverbox(seed=0)
    seconds = time.perf_counter() - start

    assert_same_record(again, sim0)
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


def test_bad_arguments_are_refused():
    for seed in ("0", 1.5, True):
        with pytest.raises(TypeError, match="seed"):
            load_silverbox("simulated", seed=seed)
    with pytest.raises(ValueError, match="source.*'simulated'.*'official'"):
        load_silverbox("measured")
    with pytest.raises(ValueError, match="official"):
        load_silverbox("simulated", path="SNLS80mV.csv")


# --- bad arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"seed": -1}, ValueError, "seed must be a non-negative int, got -1"),
        ({"seed": 2.0}, TypeError, "seed must be a non-negative int, got float 2.0"),
        ({"source": "official", "url": "ftp://x/a.zip"}, ValueError, "url must be an http"),
        ({"cache": 3}, TypeError, "cache must be a str or Path, got int 3"),
        ({"source": "official", "path": 3}, TypeError, "path must be a str or Path, got int 3"),
    ],
)
def test_bad_arguments_name_the_parameter_value_and_what_is_valid(kwargs, error, match):
    with pytest.raises(error, match=match):
        load_silverbox(**kwargs)


def test_realism_must_be_a_bool():
    with pytest.raises(TypeError, match="realism must be True or False, got str 'yes'"):
        simulate_silverbox(0, realism="yes")


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
