"""The thread policy (``tooling/threads.py``): CPU quota (cgroup v1/v2), affinity, overrides,
a count already set."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tbptt_kit.tooling import threads
from tbptt_kit.tooling.threads import (
    ENV_VAR,
    apply_thread_policy,
    choose_threads,
    cpu_quota,
    parse_env,
    thread_report,
)

ROOT = Path(__file__).resolve().parents[2]  # the checkout


@pytest.fixture(autouse=True)
def restore_threads(monkeypatch):
    """Each test starts from torch's own default, as if the kit had not been imported."""
    for name in (ENV_VAR, "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(threads.torch_default_threads())
    monkeypatch.setattr(threads, "_kit_set", None)
    yield
    torch.set_num_threads(before)


def run_py(code: str, env: dict | None = None, preexec_fn=None) -> dict:
    """Run code in a fresh Python (the kit importable); its last stdout line, as JSON."""
    full_env = {k: v for k, v in os.environ.items() if k not in (ENV_VAR, "OMP_NUM_THREADS")}
    full_env.update(PYTHONPATH=str(ROOT), **(env or {}))
    done = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code],  # the new names only
        env=full_env,
        capture_output=True,
        text=True,
        preexec_fn=preexec_fn,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the CPU quota, from fake cgroup files ------------------------------------------------


def fake_cgroup(tmp_path, proc_line: str, files: dict) -> tuple[Path, Path]:
    """A /proc/self/cgroup with one line, and a cgroup tree with these files."""
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text(proc_line + "\n")
    root = tmp_path / "cgroup"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return proc, root


@pytest.mark.parametrize(
    ("text", "cores"),
    [("max 100000", None), ("50000 100000", 0.5), ("100000 100000", 1.0), ("150000 50000", 3.0)],
)
def test_quota_v2(tmp_path, text, cores):
    proc, root = fake_cgroup(tmp_path, "0::/user.slice/pod", {"user.slice/pod/cpu.max": text})
    assert cpu_quota(proc, root) == cores


def test_quota_v2_tightest_of_the_folders_above(tmp_path):
    files = {"cpu.max": "max 100000", "kube/cpu.max": "50000 100000", "kube/pod/cpu.max": "max"}
    proc, root = fake_cgroup(tmp_path, "0::/kube/pod", files)
    assert cpu_quota(proc, root) == 0.5


def test_quota_v2_container_root(tmp_path):
    """In a container the process's path is '/' and its limit sits at the mount's root."""
    proc, root = fake_cgroup(tmp_path, "0::/", {"cpu.max": "100000 100000"})
    assert cpu_quota(proc, root) == 1.0


@pytest.mark.parametrize("controllers", ["cpu", "cpu,cpuacct", "cpuacct,cpu"])
def test_quota_v1(tmp_path, controllers):
    folder = f"{controllers}/docker/abc"
    files = {f"{folder}/cpu.cfs_quota_us": "50000\n", f"{folder}/cpu.cfs_period_us": "100000\n"}
    proc, root = fake_cgroup(tmp_path, f"4:{controllers}:/docker/abc", files)
    assert cpu_quota(proc, root) == 0.5


def test_quota_v1_unlimited(tmp_path):
    files = {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}
    proc, root = fake_cgroup(tmp_path, "1:cpu:/", files)
    assert cpu_quota(proc, root) is None


def test_quota_v1_path_not_mounted_falls_back_to_the_mount_root(tmp_path):
    """Docker with a v1 hierarchy: /proc says /docker/abc, the mount shows only the container."""
    files = {"cpu/cpu.cfs_quota_us": "100000", "cpu/cpu.cfs_period_us": "100000"}
    proc, root = fake_cgroup(tmp_path, "1:cpu:/docker/abc", files)
    assert cpu_quota(proc, root) == 1.0


@pytest.mark.parametrize("text", ["", "garbage", "12 0", "max"])
def test_quota_unreadable_means_no_quota(tmp_path, text):
    proc, root = fake_cgroup(tmp_path, "0::/", {"cpu.max": text})
    assert cpu_quota(proc, root) is None


def test_quota_no_files(tmp_path):
    assert cpu_quota(tmp_path / "missing", tmp_path / "nothing") is None


# --- the policy ---------------------------------------------------------------------------


def test_policy_takes_the_fewest(monkeypatch):
    monkeypatch.setattr(threads, "cpu_quota", lambda: 0.5)
    monkeypatch.setattr(threads, "affinity_count", lambda: 8)
    monkeypatch.setattr(threads, "USEFUL_THREADS", 64)
    monkeypatch.setattr(threads, "torch_default_threads", torch.get_num_threads)
    choice = choose_threads()
    assert (choice.n_threads, choice.source, choice.cpu_quota) == (1, "policy", 0.5)
    assert "CPU quota of 0.5 cores" in choice.reason
    monkeypatch.setattr(threads, "cpu_quota", lambda: 3.7)
    assert choose_threads().n_threads == 3  # whole cores under the quota
    monkeypatch.setattr(threads, "cpu_quota", lambda: None)
    assert choose_threads().n_threads == 8  # the affinity mask
    monkeypatch.setattr(threads, "USEFUL_THREADS", 2)
    assert choose_threads().n_threads == 2  # what the models gain from


def test_course_models_get_one_thread():
    choice = apply_thread_policy()
    assert choice.source == "policy" and choice.n_threads == 1 == torch.get_num_threads()


def test_apply_is_idempotent():
    first = apply_thread_policy()
    assert apply_thread_policy() == first
    assert torch.get_num_threads() == first.n_threads


def test_env_override(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "2")
    choice = apply_thread_policy()
    assert (choice.n_threads, choice.source) == (2, "env")
    assert torch.get_num_threads() == 2 and ENV_VAR in choice.reason
    monkeypatch.setenv(ENV_VAR, "auto")
    assert apply_thread_policy().source == "policy"


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "2 threads"])
def test_env_invalid(monkeypatch, value):
    monkeypatch.setenv(ENV_VAR, value)
    with pytest.raises(ValueError, match=ENV_VAR) as err:
        choose_threads()
    assert (
        repr(value) in str(err.value) and "from 1 to" in str(err.value) and "auto" in str(err.value)
    )


def test_parse_env():
    assert parse_env(" 3 ") == 3 and parse_env("AUTO") is None and parse_env("") is None


def test_explicit_call_beats_env_and_prior_setting(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "1")
    torch.set_num_threads(2)
    choice = apply_thread_policy(2)
    assert (choice.n_threads, choice.source) == (2, "call") and torch.get_num_threads() == 2


@pytest.mark.parametrize(("n", "error"), [(0, ValueError), (1.0, TypeError), (True, TypeError)])
def test_explicit_call_invalid(n, error):
    with pytest.raises(error, match=r"n must be a whole number of threads from 1 to"):
        apply_thread_policy(n)


def test_prior_set_num_threads_is_respected():
    """A count that is not torch's default was set by the user: the kit leaves it."""
    default = threads.torch_default_threads()
    mine = 3 if default != 3 else 2
    torch.set_num_threads(mine)
    choice = apply_thread_policy()
    assert (choice.n_threads, choice.source) == (mine, "user")
    assert torch.get_num_threads() == mine and "torch.set_num_threads" in choice.reason


def test_set_num_threads_after_the_kit_is_respected():
    kit = apply_thread_policy().n_threads
    torch.set_num_threads(kit + 1)
    assert apply_thread_policy().source == "user"
    assert torch.get_num_threads() == kit + 1


def test_omp_num_threads_is_respected(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    torch.set_num_threads(threads.torch_default_threads())
    choice = apply_thread_policy()
    assert choice.source == "user" and "OMP_NUM_THREADS" in choice.reason


def test_thread_report():
    apply_thread_policy()
    line = thread_report()
    assert line.startswith("torch uses 1 thread(s)") and "\n" not in line
    torch.set_num_threads(2)  # changed behind the kit's back: the report says what is true
    assert thread_report().startswith("torch uses 2 thread(s)")


# --- in fresh processes: the real affinity mask, torch's real default, a real quota -------

CHOICE = (
    "import json, torch; from tbptt_kit.tooling.threads import apply_thread_policy as a; "
    "c = a(); "
    "print(json.dumps(dict(n=c.n_threads, src=c.source, aff=c.affinity, "
    "dflt=c.torch_default, quota=c.cpu_quota, now=torch.get_num_threads())))"
)


def test_torch_default_is_what_torch_starts_with():
    """The rule behind 'set by the user': torch's own start count, in a fresh process."""
    code = (
        "import json, torch; n = torch.get_num_threads(); "
        "from tbptt_kit.tooling import threads; "
        "print(json.dumps([n, threads.torch_default_threads()]))"
    )
    started, predicted = run_py(code)
    assert started == predicted
    started, predicted = run_py(code, env={"OMP_NUM_THREADS": "1"})
    assert started == predicted == 1


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no sched_setaffinity here")
def test_affinity_in_a_subprocess():
    code = "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); " + CHOICE
    got = run_py(code)
    assert got["aff"] == 1 and got["n"] == 1 == got["now"] and got["src"] == "policy"


def test_fresh_process_respects_a_prior_set_num_threads():
    got = run_py("import torch; torch.set_num_threads(3); " + CHOICE)
    if got["dflt"] == 3:
        pytest.skip("torch's default here is 3 already")
    assert (got["n"], got["src"], got["now"]) == (3, "user", 3)


def test_fresh_process_env_override():
    got = run_py(CHOICE, env={ENV_VAR: "2"})
    assert (got["n"], got["src"], got["now"]) == (2, "env", 2)


def test_fresh_process_invalid_env_names_the_variable():
    done = subprocess.run(
        [sys.executable, "-c", CHOICE],
        env=dict(os.environ, PYTHONPATH=str(ROOT), **{ENV_VAR: "many"}),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0 and f"{ENV_VAR}='many' is not valid" in done.stderr


def make_real_cgroup(tmp_name: str, cores: float) -> Path | None:
    """A real cgroup with a CPU quota (v1 or v2), or None where this machine does not allow it."""
    period = 100_000
    for folder, files in (
        (
            Path("/sys/fs/cgroup/cpu") / tmp_name,
            {"cpu.cfs_period_us": str(period), "cpu.cfs_quota_us": str(int(cores * period))},
        ),
        (Path("/sys/fs/cgroup") / tmp_name, {"cpu.max": f"{int(cores * period)} {period}"}),
    ):
        if not (folder.parent / next(iter(files))).is_file():
            continue
        try:
            folder.mkdir()
            for name, text in files.items():
                (folder / name).write_text(text)
            return folder
        except OSError:
            if folder.is_dir():
                folder.rmdir()
    return None


def test_real_quota_in_a_subprocess():
    folder = make_real_cgroup(f"tbptt-test.{os.getpid()}", 0.5)
    if folder is None:
        pytest.skip("cannot create a cgroup with a CPU quota here (needs root)")
    try:
        got = run_py(
            CHOICE, preexec_fn=lambda: (folder / "cgroup.procs").write_text(str(os.getpid()))
        )
    finally:
        folder.rmdir()
    assert got["quota"] == 0.5 and got["n"] == 1 == got["now"]
