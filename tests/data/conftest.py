"""Fixtures of the Silverbox tests (``test_silverbox.py``, ``test_official.py``,
``test_cache.py``), which each use ``cache`` for every test: no test reaches the network."""

import pytest

from tbptt_kit.data import cache as cache_module
from tbptt_kit.data import silverbox

from .silverbox_support import SHARED


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder, no public download addresses, no warnings already given."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("TBPTT_KIT_DATA", str(folder))
    monkeypatch.setattr(silverbox, "OFFICIAL_URLS", ())
    monkeypatch.setattr(cache_module, "_warned_folders", set())
    return folder


@pytest.fixture(scope="module")
def sim0():
    """The simulated record, seed 0: (u, y)."""
    return silverbox.simulate_silverbox(seed=0)


@pytest.fixture(scope="module")
def csv_path():
    """The official record's CSV beside the checkout; the test is skipped without it."""
    path = SHARED / "SNLS80mV.csv"
    if not path.is_file():
        pytest.skip(f"the official record is not available at {path}")
    return path


@pytest.fixture(scope="module")
def official(csv_path, tmp_path_factory):
    """The official record (u, y), read from the CSV."""
    cache = tmp_path_factory.mktemp("unused")
    return silverbox.load_silverbox("official", path=csv_path, cache=cache)
