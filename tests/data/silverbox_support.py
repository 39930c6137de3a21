"""What the Silverbox tests share (``test_silverbox.py``, ``test_official.py``,
``test_cache.py``; their fixtures are in ``conftest.py``): where the measured record lies
beside the checkout, the cache file of the simulated record, and two small helpers."""

import zipfile
from pathlib import Path

import numpy as np

from tbptt_kit.data.silverbox import N_SAMPLES

ROOT = Path(__file__).resolve().parents[2]  # the checkout
# the official record, where this checkout has a copy beside it (tests never download it)
SHARED = (
    next((p for p in (ROOT.parent / "shared", ROOT.parents[1] / "shared") if p.is_dir()), ROOT)
    / "data/silverbox"
)
SIM0 = "silverbox_sim_seed0_v2.h5"  # the cache file of the simulated record, seed 0
OFFICIAL = "silverbox_official_v2.h5"  # the cache file of the official record


def assert_same_record(a, b):
    """Two records (u, y) hold the same float64 samples, N_SAMPLES of each."""
    for x, z in zip(a, b, strict=True):
        assert x.dtype == np.float64 and x.shape == (N_SAMPLES,)
        np.testing.assert_array_equal(x, z)


def make_zip(path, csv_bytes, member="SilverboxFiles/SNLS80mV.csv"):
    """A SilverboxFiles.zip at ``path`` holding ``csv_bytes`` as ``member`` (None: only a
    README), as the official archive does."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("SilverboxFiles/README.txt", "the Silverbox files\n")
        if csv_bytes is not None:
            archive.writestr(member, csv_bytes)
    return path
