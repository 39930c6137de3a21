"""The data cache (``data/cache.py``, as ``load_silverbox`` uses it): where it lies, a record
written once and read back, shared safely by several users, unwritable folders, killed
writes, and files that do not match what they claim. Never uses the network.

Two-user tests run parts of themselves in forked children with other real uids (the test
process must be root; they skip otherwise).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from tbptt_kit.data import cache as cache_module
from tbptt_kit.data import silverbox
from tbptt_kit.data.cache import signals_sha256
from tbptt_kit.data.hdf5 import TEMPORARY_MARK, write_record
from tbptt_kit.data.silverbox import cache_dir, load_silverbox, simulate_silverbox
from tests.data.silverbox_support import OFFICIAL, ROOT, SIM0, assert_same_record

ALICE, BOB, GROUP = 1234, 1235, 5000  # two users and the group they share a folder through

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as other users")
pytestmark = pytest.mark.usefixtures("cache")  # an empty cache, no network (conftest.py)


@pytest.fixture(scope="module")
def sim0_sha():
    u, y = simulate_silverbox(seed=0)
    return signals_sha256({"u0": u, "y0": y})


@pytest.fixture
def shared_root():
    """A folder other users can reach (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="tbptt-shared-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def _load(folder, seed=0, wait_for=None, ready=None):
    """In a child: load the simulated record from ``folder``; its checksum and the warnings.

    ``ready``: a file to create once the cache has been found empty; ``wait_for``: a file to
    wait for before writing (so that two children overlap in a known order).
    """
    if ready or wait_for:
        simulate = silverbox.simulate_silverbox

        def slow_simulation(seed):
            record = simulate(seed)
            if ready:
                Path(ready).touch()
            while wait_for and not Path(wait_for).exists():
                time.sleep(0.02)
            return record

        silverbox.simulate_silverbox = slow_simulation
    cache_module._warned_folders.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        u, y = load_silverbox("simulated", seed=seed, cache=folder)
    return {"sha": signals_sha256({"u0": u, "y0": y}), "warnings": [str(w.message) for w in caught]}


def _start_as(uid, umask, fn, *args, groups=()):
    """Fork a child that runs fn(*args) as user ``uid`` (group ``uid`` plus ``groups``)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read_end)
            os.setgroups(list(groups))
            os.setgid(uid)
            os.setuid(uid)
            os.umask(umask)
            result = fn(*args)
        except BaseException as err:
            result = {"error": f"{type(err).__name__}: {err}"}
        try:
            with os.fdopen(write_end, "w") as pipe:
                json.dump(result, pipe)
        finally:
            os._exit(0)
    os.close(write_end)
    return pid, read_end


def _finish(child):
    pid, read_end = child
    with os.fdopen(read_end) as pipe:
        result = json.load(pipe)
    os.waitpid(pid, 0)
    assert "error" not in result, result["error"]
    return result


def _as(uid, umask, fn, *args, groups=()):
    return _finish(_start_as(uid, umask, fn, *args, groups=groups))


def _sticky_folder(root):
    folder = root / "cache"
    folder.mkdir()
    folder.chmod(0o1777)  # like /tmp: everyone writes, only owners remove or replace
    return folder


def _group_folder(root):
    folder = root / "cache"
    folder.mkdir()
    os.chown(folder, 0, GROUP)
    folder.chmod(0o2775)  # setgid: files made here belong to the group
    return folder


# --- the cache folder, the simulated record cached -------------------------------------------


def test_simulated_record_is_cached_and_read_back(sim0, cache, monkeypatch):
    first = load_silverbox("simulated", seed=0)
    assert_same_record(first, sim0)
    assert [p.name for p in cache.iterdir()] == [SIM0]

    def no_simulation(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(silverbox, "simulate_silverbox", no_simulation)
    assert_same_record(load_silverbox("simulated", seed=0), sim0)


def test_a_corrupt_cache_file_is_regenerated(sim0, cache):
    cache.mkdir()
    file = cache / SIM0
    file.write_bytes(b"not an HDF5 file at all")

    with pytest.warns(UserWarning, match="damaged or mismatched cache file"):
        record = load_silverbox("simulated", seed=0)

    assert_same_record(record, sim0)
    assert_same_record(load_silverbox("simulated", seed=0), sim0)  # the file was rewritten


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TBPTT_KIT_DATA", str(tmp_path / "a"))
    assert cache_dir() == tmp_path / "a" and cache_dir().is_dir()
    monkeypatch.delenv("TBPTT_KIT_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "tbptt_kit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "tbptt_kit"


# --- two users, one folder -------------------------------------------------------------------


@as_root
@pytest.mark.parametrize("kind", ["sticky", "group"])
def test_a_second_user_reads_the_first_users_cache_without_rewriting_it(
    kind, shared_root, sim0_sha
):
    folder = _sticky_folder(shared_root) if kind == "sticky" else _group_folder(shared_root)
    umask, groups = (0o022, ()) if kind == "sticky" else (0o002, (GROUP,))

    first = _as(ALICE, umask, _load, str(folder), groups=groups)
    file = folder / SIM0
    before = file.stat()
    second = _as(BOB, umask, _load, str(folder), groups=groups)

    assert first == second == {"sha": sim0_sha, "warnings": []}
    after = file.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_uid) == (
        before.st_ino,
        before.st_mtime_ns,
        ALICE,
    )
    assert after.st_mode & 0o777 == 0o777 & ~umask & 0o666  # as the umask allows, no more
    assert sorted(p.name for p in folder.iterdir()) == [SIM0]


@as_root
@pytest.mark.parametrize("kind", ["sticky", "group"])
def test_two_users_writing_at_once_leave_a_file_both_can_read(kind, shared_root, sim0_sha):
    folder = _sticky_folder(shared_root) if kind == "sticky" else _group_folder(shared_root)
    umask, groups = (0o022, ()) if kind == "sticky" else (0o022, (GROUP,))
    signals = shared_root / "signals"
    signals.mkdir(mode=0o1777)
    signals.chmod(0o1777)
    bob_ready = signals / "bob-found-no-cache"

    # Bob finds no cache and simulates; Alice then writes hers; then Bob writes his.
    bob = _start_as(
        BOB, umask, _load, str(folder), 0, str(folder / SIM0), str(bob_ready), groups=groups
    )
    while not bob_ready.exists():
        time.sleep(0.02)
    alice = _as(ALICE, umask, _load, str(folder), groups=groups)
    bob = _finish(bob)

    assert alice == bob == {"sha": sim0_sha, "warnings": []}
    assert sorted(p.name for p in folder.iterdir()) == [SIM0]  # no temporary file left
    for user in (ALICE, BOB):  # each reads the file as it is now, without rewriting it
        mtime = (folder / SIM0).stat().st_mtime_ns
        assert _as(user, umask, _load, str(folder), groups=groups) == alice
        assert (folder / SIM0).stat().st_mtime_ns == mtime


@as_root
def test_another_users_unreadable_file_is_reported_and_the_record_still_returned(
    shared_root, sim0_sha
):
    folder = _sticky_folder(shared_root)
    _as(ALICE, 0o077, _load, str(folder))  # Alice's umask makes her file private

    bob = _as(BOB, 0o022, _load, str(folder))

    assert bob["sha"] == sim0_sha
    assert any("permission" in w.lower() for w in bob["warnings"])
    assert any("TBPTT_KIT_DATA" in w for w in bob["warnings"])  # he cannot replace it there
    assert (folder / SIM0).stat().st_uid == ALICE


# --- a folder that cannot be written ---------------------------------------------------------


def _under_a_file(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    return tmp_path / "a-file" / "cache"


@pytest.mark.parametrize(
    "where", ["under a regular file", "/proc", "read-only home (no TBPTT_KIT_DATA)"]
)
def test_an_unwritable_folder_warns_once_and_returns_the_record(
    where, tmp_path, monkeypatch, sim0_sha
):
    if where == "under a regular file":
        folder = _under_a_file(tmp_path)
        monkeypatch.setenv("TBPTT_KIT_DATA", str(folder))
    elif where == "/proc":
        folder = Path("/proc/tbptt_kit_cache")
        monkeypatch.setenv("TBPTT_KIT_DATA", str(folder))
    else:
        home = _under_a_file(tmp_path)
        monkeypatch.delenv("TBPTT_KIT_DATA")
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        monkeypatch.setenv("HOME", str(home))
        folder = home / ".cache" / "tbptt_kit"

    with pytest.warns(UserWarning) as caught:
        u, y = load_silverbox("simulated", seed=0)
        again = load_silverbox("simulated", seed=0)

    assert signals_sha256({"u0": u, "y0": y}) == sim0_sha
    np.testing.assert_array_equal(again[0], u)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    assert str(folder) in messages[0] and "TBPTT_KIT_DATA" in messages[0]


@as_root
def test_a_read_only_folder_warns_once_for_a_normal_user(shared_root, sim0_sha):
    folder = shared_root / "read-only"
    folder.mkdir()
    os.chown(folder, ALICE, ALICE)
    folder.chmod(0o555)

    def load_twice(folder):
        first = _load(folder)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            load_silverbox("simulated", seed=0, cache=folder)
        return {**first, "warnings": first["warnings"] + [str(w.message) for w in caught]}

    result = _as(ALICE, 0o022, load_twice, str(folder))

    assert result["sha"] == sim0_sha
    assert len(result["warnings"]) == 1, result["warnings"]
    assert str(folder) in result["warnings"][0] and "TBPTT_KIT_DATA" in result["warnings"][0]
    assert list(folder.iterdir()) == []


def test_a_full_disk_warns_and_leaves_nothing_half_written(cache, monkeypatch, sim0_sha):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(h5py.Group, "create_dataset", disk_full)
    with pytest.warns(UserWarning, match="No space left.*TBPTT_KIT_DATA"):
        u, y = load_silverbox("simulated", seed=0)

    assert signals_sha256({"u0": u, "y0": y}) == sim0_sha
    assert list(cache.iterdir()) == []


# --- a write killed mid-way ------------------------------------------------------------------

KILLED_WRITER = """
import sys, time, h5py
from tbptt_kit.data.silverbox import load_silverbox
create = h5py.Group.create_dataset
def create_then_hang(self, *args, **kwargs):
    dataset = create(self, *args, **kwargs)
    time.sleep(600)  # killed here, the temporary file half-written
h5py.Group.create_dataset = create_then_hang
load_silverbox("simulated", seed=0, cache=sys.argv[1])
"""


@pytest.mark.parametrize("old_file", [False, True])
def test_a_write_killed_with_sigkill_is_followed_by_a_clean_load(cache, old_file, sim0_sha):
    if old_file:  # a damaged file to be replaced: the killed write was replacing it
        cache.mkdir()
        (cache / SIM0).write_bytes(b"damaged")
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(cache)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not any(TEMPORARY_MARK in p.name for p in _listing(cache)):
            assert writer.poll() is None and time.monotonic() < deadline, "no write started"
            time.sleep(0.05)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert any(TEMPORARY_MARK in p.name for p in cache.iterdir())  # what the kill left

    with warnings.catch_warnings(record=True):
        u, y = load_silverbox("simulated", seed=0)

    assert signals_sha256({"u0": u, "y0": y}) == sim0_sha
    assert [p.name for p in cache.iterdir()] == [SIM0]


def _listing(folder):
    return list(folder.iterdir()) if folder.is_dir() else []


# --- cache files that do not match what they claim -------------------------------------------


def test_altered_samples_are_detected_and_rebuilt(cache, sim0_sha):
    load_silverbox("simulated", seed=0)
    with h5py.File(cache / SIM0, "r+") as f:
        f["y0"][1000] += 1e-3  # still a valid HDF5 record, with every attribute in place

    with pytest.warns(UserWarning, match="do not match its checksum"):
        u, y = load_silverbox("simulated", seed=0)

    assert signals_sha256({"u0": u, "y0": y}) == sim0_sha
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_silverbox("simulated", seed=0)  # rebuilt: no warning any more


def test_the_seed_1_file_renamed_to_seed_0_is_detected_and_rebuilt(cache, sim0_sha):
    load_silverbox("simulated", seed=1)
    (cache / "silverbox_sim_seed1_v2.h5").rename(cache / SIM0)

    with pytest.warns(UserWarning, match="seed=1, not 0"):
        u, y = load_silverbox("simulated", seed=0)

    assert signals_sha256({"u0": u, "y0": y}) == sim0_sha


def test_a_file_without_checksum_or_parameters_is_rebuilt(cache, sim0_sha):
    u, y = simulate_silverbox(seed=0)
    write_record(cache / SIM0, {"u0": u, "y0": y}, silverbox.FS)  # no params, no checksum
    with pytest.warns(UserWarning, match="source=None"):
        load_silverbox("simulated", seed=0)
    with h5py.File(cache / SIM0, "r") as f:
        assert f.attrs["seed"] == 0 and f.attrs["sha256"] == sim0_sha


@pytest.mark.parametrize("tamper", ["samples", "file_sha256"])
def test_the_official_cache_is_verified_on_load(tamper, cache, csv_path, tmp_path):
    zip_path = tmp_path / "SilverboxFiles.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("SilverboxFiles/SNLS80mV.csv", csv_path.read_bytes())
    official = load_silverbox("official", path=zip_path)
    file = cache / OFFICIAL
    with h5py.File(file, "r+") as f:
        if tamper == "samples":
            f["u0"][5] = 0.5
        else:
            f.attrs["file_sha256"] = "0" * 64

    with pytest.warns(UserWarning, match="damaged or mismatched"):
        with pytest.raises(ConnectionError, match="could not download the official"):
            load_silverbox("official")

    np.testing.assert_array_equal(load_silverbox("official", path=zip_path)[0], official[0])
    np.testing.assert_array_equal(load_silverbox("official")[0], official[0])  # rebuilt
