"""The official Silverbox files (``data/official.py``): read from a CSV, a MAT file or the
zip, downloaded (from a local server) and checked against their SHA-256, cached once checked;
refused early, with little memory, when too large to be the record or not a readable zip.
The measured record is read from ../shared/data/silverbox beside the checkout (skipped when
absent). Never uses the network."""

import hashlib
import os
import socket
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest
import scipy.io

from tbptt_kit.data import silverbox
from tbptt_kit.data.silverbox import N_SAMPLES, load_silverbox, silverbox_split
from tests.data.silverbox_support import OFFICIAL, ROOT, assert_same_record, make_zip
from tests.local_server import serving

pytestmark = pytest.mark.usefixtures("cache")  # an empty cache, no network (conftest.py)
MV = 1e3  # volts to millivolts


def rms(x):
    return float(np.sqrt(np.mean(np.square(x))))


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
    assert_same_record(load_silverbox("official", path=mat), official)


def test_official_from_zip_is_checked_cached_and_reused(official, csv_path, tmp_path, cache):
    zip_path = make_zip(tmp_path / "SilverboxFiles.zip", csv_path.read_bytes())

    assert_same_record(load_silverbox("official", path=zip_path), official)
    assert [p.name for p in cache.iterdir()] == [OFFICIAL]
    zip_path.unlink()
    assert_same_record(load_silverbox("official"), official)  # from the cache


def test_official_download_then_cache(official, csv_path, tmp_path, cache):
    served = tmp_path / "served"
    served.mkdir()
    make_zip(served / "SilverboxFiles.zip", csv_path.read_bytes())

    with serving(served) as base:
        url = f"{base}/SilverboxFiles.zip"
        assert_same_record(load_silverbox("official", url=url), official)

    # The server is gone: the second call must be served from the cache.
    assert_same_record(load_silverbox("official", url=url), official)
    assert [p.name for p in cache.iterdir()] == [OFFICIAL]


def test_wrong_checksum_raises_and_caches_nothing(csv_path, tmp_path, cache):
    tampered = csv_path.read_bytes().replace(b"0.0057756", b"0.0057757", 1)
    served = tmp_path / "served"
    served.mkdir()
    make_zip(served / "SilverboxFiles.zip", tampered)
    expected = silverbox.OFFICIAL_SHA256["SNLS80mV.csv"]
    actual = hashlib.sha256(tampered).hexdigest()

    with serving(served) as base:
        with pytest.raises(ValueError, match="SNLS80mV.csv") as info:
            load_silverbox("official", url=f"{base}/SilverboxFiles.zip")

    assert expected in str(info.value) and actual in str(info.value)
    assert list(cache.iterdir()) == []


def test_zip_without_the_record_lists_its_contents(tmp_path, cache):
    zip_path = make_zip(tmp_path / "SilverboxFiles.zip", None)
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


# --- inputs refused before they are read -----------------------------------------------------

PEAK_PROBE = """
import re, sys
from tbptt_kit.data.silverbox import load_silverbox
def status_mib(key):  # VmRSS: resident memory now; VmHWM: its peak since the last reset
    return int(re.search(key + r":\\s+(\\d+) kB", open("/proc/self/status").read())[1]) / 1024
try:  # a first refusal, so that every module on the path is loaded before the baseline
    load_silverbox("official", path=sys.argv[2])
except ValueError:
    pass
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak to the resident memory now
baseline = status_mib("VmRSS")
try:
    load_silverbox("official", path=sys.argv[1])
except ValueError as err:
    print("refused:", err)
print(f"peak above baseline: {status_mib('VmHWM') - baseline:.1f} MiB")
"""


def _sparse(path, n_bytes):
    with open(path, "wb") as f:
        f.truncate(n_bytes)  # a hole: no disk space, no time
    return path


def _zip_of_zeros(path, n_bytes):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("SilverboxFiles/SNLS80mV.csv", "w", force_zip64=True) as member:
            for _ in range(n_bytes // 2**20):
                member.write(bytes(2**20))
    return path


def _mat_of_zeros(path, n_bytes):
    """A MATLAB v5 file with one compressed element that inflates to ``n_bytes`` zeros."""
    inflate_to = zlib.compressobj()
    body = b"".join(inflate_to.compress(bytes(2**20)) for _ in range(n_bytes // 2**20))
    body += inflate_to.flush()
    header = b"MATLAB 5.0 MAT-file".ljust(116) + bytes(8) + b"\x00\x01IM"
    path.write_bytes(header + (15).to_bytes(4, "little") + len(body).to_bytes(4, "little") + body)
    return path


@pytest.mark.parametrize(
    "name, make, n_bytes",
    [
        ("SNLS80mV.csv", _sparse, 300 * 2**20),
        ("SNLS80mV.mat", _sparse, 300 * 2**20),
        ("SilverboxFiles.zip", _zip_of_zeros, 400 * 2**20),
        ("SNLS80mV.mat", _mat_of_zeros, 400 * 2**20),
    ],
    ids=["sparse-csv", "sparse-mat", "zip-member", "compressed-mat"],
)
def test_inputs_too_large_to_be_a_record_are_refused_with_little_memory(
    name, make, n_bytes, tmp_path
):
    big = make(tmp_path / name, n_bytes)
    small = tmp_path / "small" / "SNLS80mV.csv"
    small.parent.mkdir()
    small.write_text('"V1","V2",\n1,2,\n')

    run = subprocess.run(
        [sys.executable, "-c", PEAK_PROBE, str(big), str(small)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TBPTT_KIT_DATA": str(tmp_path / "cache")},
    )

    assert run.returncode == 0, run.stderr
    print(f"{name} ({big.stat().st_size:,} bytes on disk): {run.stdout.strip()}")
    assert "refused:" in run.stdout and "MAX_RECORD_BYTES" in run.stdout
    assert str(tmp_path) in run.stdout  # the error names the file
    peak = float(run.stdout.rsplit("peak above baseline:", 1)[1].split()[0])
    assert peak < 100, run.stdout


# --- corrupt zips ----------------------------------------------------------------------------


def test_a_corrupt_zip_is_named_in_the_error(tmp_path, cache):
    garbage = tmp_path / "SilverboxFiles.zip"
    garbage.write_bytes(b"PK\x03\x04 this is no zip at all" * 100)
    with pytest.raises(ValueError, match=rf"{garbage}.*not a readable zip file"):
        load_silverbox("official", path=garbage)

    truncated = tmp_path / "truncated" / "SilverboxFiles.zip"
    truncated.parent.mkdir()
    with zipfile.ZipFile(truncated, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("SNLS80mV.csv", np.random.default_rng(0).bytes(100_000))
    data = bytearray(truncated.read_bytes())
    data[200:210] = bytes(10)  # damage the compressed member, keep the directory
    truncated.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"{truncated}.*not a readable zip file"):
        load_silverbox("official", path=truncated)
    assert not cache.exists() or list(cache.iterdir()) == []
