"""How many CPU threads torch uses, chosen from what this process may really use.

torch starts one intra-op thread per core it sees. On a shared machine that is often more
than the process may use: a Binder pod sees all the host's cores under a CPU quota of about
one, and a JupyterHub or CI machine has other busy processes. Threads that wait for a core
make each step many times slower, and the course's small models gain nothing from a second
thread even on a quiet machine (measured: benchmarks/README.md, "Threads on a shared
machine").

The rule, in the order it is applied:

1. ``apply_thread_policy(n)`` with an explicit ``n``: n threads.
2. The environment variable ``TBPTT_KIT_THREADS``: a whole number >= 1, or ``auto`` (the rule
   below, as if it were not set).
3. A count you already set: ``torch.set_num_threads(k)``, seen as ``torch.get_num_threads()``
   differing from torch's own default (before the kit set anything) or from what the kit
   set (after), or ``OMP_NUM_THREADS`` /
   ``MKL_NUM_THREADS`` in the environment. The kit leaves it as it is.
4. Otherwise: the fewest of the cores the CPU quota allows (cgroup v2 ``cpu.max``, v1
   ``cpu.cfs_quota_us / cpu.cfs_period_us``, rounded down, at least 1), the cores in the
   affinity mask, and ``USEFUL_THREADS``, what the course's models gain from.

Inter-op threads (``torch.set_num_interop_threads``) are left alone: torch can set them only
once, before any parallel work, and the kit's training does not use them (autograd on the CPU
runs in the calling thread), so setting them would only take that one chance from you.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "ENV_VAR",
    "ThreadChoice",
    "USEFUL_THREADS",
    "affinity_count",
    "apply_thread_policy",
    "choose_threads",
    "cpu_quota",
    "parse_env",
    "thread_report",
    "torch_default_threads",
]

ENV_VAR = "TBPTT_KIT_THREADS"

# The most threads the course's models gain from (LSTM/GRU, hidden 40 to 128, bs 16, windows
# of 100 to 500 steps): a second thread is no faster on a quiet machine.  Measured with
# `python benchmarks/shared_machine.py --threads-sweep`; see benchmarks/README.md.
USEFUL_THREADS = 1

_kit_set: int | None = None  # what apply_thread_policy last gave torch.set_num_threads


@dataclass(frozen=True)
class ThreadChoice:
    """What the policy chose and why.

    n_threads: torch intra-op threads chosen.
    source: "call", "env", "user" (set before the kit looked) or "policy".
    reason: one sentence a student can read.
    cpu_quota: cores the CPU quota allows (e.g. 0.5, 1.0), None without a quota.
    affinity: cores in this process's affinity mask.
    torch_default: the count torch starts with by itself here.
    """

    n_threads: int
    source: str
    reason: str
    cpu_quota: float | None
    affinity: int
    torch_default: int


# --- what the process may use -------------------------------------------------------------


def _read_limit(folder: Path) -> float | None:
    """The CPU quota (cores) written in one cgroup folder, v2 or v1; None if none or unreadable."""
    try:
        if (folder / "cpu.max").is_file():  # v2: "max 100000" or "50000 100000"
            quota, period = (folder / "cpu.max").read_text().split()[:2]
            if quota == "max":
                return None
        elif (folder / "cpu.cfs_quota_us").is_file():  # v1: a quota of -1 means no limit
            quota = (folder / "cpu.cfs_quota_us").read_text()
            period = (folder / "cpu.cfs_period_us").read_text()
        else:
            return None
        quota, period = int(quota), int(period)
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def cpu_quota(
    proc_cgroup: str | Path = "/proc/self/cgroup", cgroup_root: str | Path = "/sys/fs/cgroup"
) -> float | None:
    """Cores this process may use under its cgroup CPU quota (e.g. 0.5); None without a quota.

    Reads the process's cgroup path from ``proc_cgroup`` and looks for the quota in that
    folder and every folder above it, under ``cgroup_root`` (cgroup v2, or v1's ``cpu``
    hierarchy); the tightest one wins. In a container the cgroup is often mounted at the root,
    so the root folder counts too.
    """
    root = Path(cgroup_root)
    try:
        lines = Path(proc_cgroup).read_text().splitlines()
    except OSError:
        lines = []
    folders = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # cgroup v2 (also mounted at unified/ on hybrid systems)
            mounts = [root, root / "unified"]
        elif "cpu" in controllers.split(","):  # cgroup v1's cpu controller
            mounts = [root / "cpu", root / "cpu,cpuacct", root / "cpuacct,cpu"]
        else:
            continue
        rel = Path(path.lstrip("/"))
        for mount in mounts:
            folders += [mount / p for p in (rel, *rel.parents)]
    if not folders:  # no /proc/self/cgroup: at least the container's own root
        folders = [root, root / "cpu"]
    limits = [q for q in map(_read_limit, dict.fromkeys(folders)) if q is not None]
    return min(limits) if limits else None


def affinity_count() -> int:
    """Cores in this process's affinity mask (``os.sched_getaffinity``), else all cores."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _env_threads(name: str) -> int | None:
    """A positive whole number from OMP_NUM_THREADS-style variables; None if unset or not one."""
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def torch_default_threads() -> int:
    """The intra-op thread count torch starts with here, by its own rule.

    MKL_NUM_THREADS, else OMP_NUM_THREADS, else the cores in the affinity mask; never more
    than the cores in the mask.
    """
    cores = affinity_count()
    env = _env_threads("MKL_NUM_THREADS") or _env_threads("OMP_NUM_THREADS")
    return min(env, cores) if env else cores


def max_threads() -> int:
    """The most threads the kit sets: 4 per core of this machine. More only oversubscribe,
    and a huge count (10**9) would kill the process in its first matrix product."""
    return 4 * (os.cpu_count() or 1)


def parse_env(value: str) -> int | None:
    """TBPTT_KIT_THREADS's value as a thread count; None for "auto" or ""."""
    text = value.strip().lower()
    if text in ("", "auto"):
        return None
    if not (text.isascii() and text.isdecimal()) or not 1 <= int(text) <= max_threads():
        raise ValueError(
            f"{ENV_VAR}={value!r} is not valid: use a whole number of threads from 1 to "
            f"{max_threads()} (4 per core here; e.g. {ENV_VAR}=1) or 'auto' to let the kit choose."
        )
    return int(text)


def _check_n(n) -> int:
    valid = f"a whole number of threads from 1 to {max_threads()} (4 per core here) or None"
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be {valid}, got {n!r}")
    if not 1 <= n <= max_threads():
        raise ValueError(f"n must be {valid}, got {n}")
    return int(n)


# --- the choice ---------------------------------------------------------------------------


def choose_threads(n: int | None = None) -> ThreadChoice:
    """What ``apply_thread_policy(n)`` would set, and why; changes nothing."""
    quota, cores, default = cpu_quota(), affinity_count(), torch_default_threads()
    facts = dict(cpu_quota=quota, affinity=cores, torch_default=default)
    if n is not None:
        n = _check_n(n)
        return ThreadChoice(n, "call", f"{n} thread(s): apply_thread_policy({n}).", **facts)
    from_env = parse_env(os.environ.get(ENV_VAR, ""))
    if from_env is not None:
        reason = f"{from_env} thread(s): {ENV_VAR}={from_env} in the environment."
        return ThreadChoice(from_env, "env", reason, **facts)
    current = torch.get_num_threads()
    expected = default if _kit_set is None else _kit_set  # what nobody but torch or the kit set
    if current != expected:
        reason = (
            f"{current} thread(s): set with torch.set_num_threads (torch's own default here "
            f"is {default}); left as it is."
        )
        return ThreadChoice(current, "user", reason, **facts)
    for name in ("MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        if _env_threads(name) and _kit_set is None:
            reason = f"{current} thread(s): {name}={os.environ[name]} in the environment."
            return ThreadChoice(current, "user", reason, **facts)
    by_quota = max(1, math.floor(quota)) if quota is not None else cores
    chosen = min(by_quota, cores, USEFUL_THREADS)
    quota_text = f"a CPU quota of {quota:g} cores" if quota is not None else "no CPU quota"
    reason = (
        f"{chosen} thread(s): {quota_text}, {cores} core(s) in the affinity mask, and the "
        f"course's models run no faster on more than {USEFUL_THREADS} "
        f"(torch alone would start {default}; {ENV_VAR}=N overrides)."
    )
    return ThreadChoice(chosen, "policy", reason, **facts)


def apply_thread_policy(n: int | None = None) -> ThreadChoice:
    """Choose the intra-op thread count (see the module docstring) and give it to torch.

    Calling it again changes nothing unless the inputs changed. Returns the choice.
    """
    global _kit_set
    choice = choose_threads(n)
    if choice.source != "user":
        if torch.get_num_threads() != choice.n_threads:
            torch.set_num_threads(choice.n_threads)
        _kit_set = choice.n_threads
    return choice


def thread_report() -> str:
    """One line for notebook 00: how many threads torch uses now, and why."""
    choice = choose_threads()
    now = torch.get_num_threads()
    if choice.n_threads != now:
        return f"torch uses {now} thread(s); the kit would choose {choice.reason}"
    return f"torch uses {choice.reason}"
