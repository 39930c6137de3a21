"""Threads on a shared machine: the kit's thread choice against torch's default.

    python benchmarks/shared_machine.py                  # the table in benchmarks/README.md
    python benchmarks/shared_machine.py --threads-sweep  # step time against thread count

Default mode. Two measurements of the reference LSTM (hidden 40, bs 16, sub-windows of 100):

- **step**: one training step (forward, MAE loss, backward, Adam) on the reference loaders
  (``create_dls_silverbox(bs=16, win_sz=500, stp_sz=10, sub_seq_len=100)``), the mean over
  1.5 s of steps or more (``--min-s``; at most ``--max-s``) after 3 warm-up steps;
- **panel**: one lab-panel run, ``RNNLearner(...).fit(1, lr=3e-3)`` on every 50th window
  (``stp_sz=500``: 35 sub-window steps and the validation pass), wall time.

Each under five conditions: quiet; beside 1 and 2 busy processes (``python -c "while True:
pass"``); under a CPU quota of 1 and 0.5 cores (a cgroup this script creates, v2 or v1; it
needs root, and says so and skips those conditions where it cannot). In each condition, three
arms, each in a fresh process (torch's threads are best set before any parallel work):
``kit`` (``apply_thread_policy()``), ``default`` (torch's own count: whatever torch starts
with) and ``one`` (1 thread, only under a quota, where the target compares with it). Rounds
rotate the order of conditions and arms, so that drifting load on the machine spreads over
all of them; the table gives medians over rounds, and ratios from this one run.

``--threads-sweep``: the step time of the course's models (LSTM and GRU, hidden 40 to 128,
sub-windows of 100 and whole windows of 500) on 1 thread and on every count up to the cores
in the affinity mask, in fresh processes, interleaved. This is the measurement behind
``tbptt_kit.tooling.threads.USEFUL_THREADS``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the kit of this checkout, also where another one is installed
BUSY = [sys.executable, "-c", "while True: pass"]
SWEEP_MODELS = [  # (rnn_type, hidden_size, sub_seq_len or None for whole windows of 500)
    ("lstm", 40, 100),
    ("lstm", 40, None),
    ("lstm", 64, 100),
    ("lstm", 128, 100),
    ("lstm", 128, None),
    ("gru", 40, 100),
    ("gru", 128, None),
]


# --- the worker: runs in a fresh process, prints one JSON line ----------------------------


def set_threads(arm: str):
    """Give torch its threads for this arm; returns (threads, reason) and the kit's modules."""
    import torch

    torch_default = torch.get_num_threads()  # before the kit is imported
    import tbptt_kit
    from tbptt_kit.tooling.threads import apply_thread_policy

    if arm == "kit":
        reason = apply_thread_policy().reason
    elif arm == "default":  # undo whatever importing the kit did
        torch.set_num_threads(torch_default)
        reason = "torch's default"
    else:
        torch.set_num_threads(int(arm))
        reason = f"{arm} thread(s), set by the benchmark"
    return torch.get_num_threads(), reason, tbptt_kit


def time_steps(kit, rnn_type: str, hidden: int, sub: int | None, min_s: float, max_s: float):
    """Wall time (s) of one training step: (median, mean) over steps for min_s to max_s seconds.

    The mean (total time / steps) is the one to read under a CPU quota: a step that runs
    into the quota's limit waits for the next period, and the median hides those waits.
    """
    import torch

    dls = kit.create_dls_silverbox(bs=16, win_sz=500, stp_sz=10, sub_seq_len=sub)
    lrn = kit.RNNLearner(dls, rnn_type, hidden_size=hidden, sub_seq_len=sub, progress=False)
    model = lrn.model.train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    times, state = [], None
    for i, b in enumerate(lrn.dls.train):
        state = None if b.new_window else state  # reset where new windows start
        t0 = time.perf_counter()
        pred, state = model(b.u, state)  # carry
        state = kit.detach_state(state)  # detach
        loss = (pred - b.y).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 3:  # 3 untimed warm-up steps
            times.append(time.perf_counter() - t0)
        spent = sum(times)
        if (spent > min_s and len(times) >= 10) or (spent > max_s and len(times) >= 3):
            break
    return statistics.median(times), sum(times) / len(times)


def time_panel(kit) -> float:
    """Wall time (s) of one lab-panel run: fit(1) on every 50th window."""
    dls = kit.create_dls_silverbox(bs=16, win_sz=500, stp_sz=500, sub_seq_len=100)
    lrn = kit.RNNLearner(dls, "lstm", hidden_size=40, sub_seq_len=100, progress=False, seed=0)
    t0 = time.perf_counter()
    lrn.fit(1, lr=3e-3)
    return time.perf_counter() - t0


def worker(args) -> None:
    threads, reason, kit = set_threads(args.arm)
    out = {"arm": args.arm, "threads": threads, "reason": reason}
    if args.sweep:
        for rnn_type, hidden, sub in SWEEP_MODELS:
            step, _ = time_steps(kit, rnn_type, hidden, sub, args.min_s, args.max_s)
            out[f"{rnn_type} {hidden} {sub or 500}"] = step  # quiet: the median
    else:
        _, out["step"] = time_steps(kit, "lstm", 40, 100, args.min_s, args.max_s)  # the mean
        out["panel"] = time_panel(kit)
    print(json.dumps(out))


# --- the conditions -----------------------------------------------------------------------


def make_cgroup(cores: float) -> tuple[Path | None, str]:
    """A cgroup limited to ``cores`` CPUs (v1 cpu or v2); (None, why not) where it cannot."""
    period, name = 100_000, f"tbptt-bench.{os.getpid()}.{str(cores).replace('.', '_')}"
    v1, v2 = Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup")
    try:
        if (v1 / "cpu.cfs_quota_us").is_file():
            folder = v1 / name
            folder.mkdir()
            (folder / "cpu.cfs_period_us").write_text(str(period))
            (folder / "cpu.cfs_quota_us").write_text(str(int(cores * period)))
        elif (v2 / "cgroup.controllers").is_file():
            folder = v2 / name
            folder.mkdir()
            (folder / "cpu.max").write_text(f"{int(cores * period)} {period}")
        else:
            return None, "no cgroup v1 'cpu' or v2 hierarchy at /sys/fs/cgroup"
    except OSError as err:
        return None, f"cannot create a cgroup ({err}); needs root and a writable cgroup fs"
    return folder, ""


def run_worker(arm: str, extra: list[str], busy: int = 0, cgroup: Path | None = None) -> dict:
    """One fresh worker process for ``arm``, beside ``busy`` spinning processes, in ``cgroup``."""
    spinners = [subprocess.Popen(BUSY) for _ in range(busy)]
    try:
        time.sleep(0.3 if busy else 0)  # let the spinners start spinning

        def enter_cgroup():  # runs in the child, before Python starts
            if cgroup is not None:
                (cgroup / "cgroup.procs").write_text(str(os.getpid()))

        env = dict(os.environ, PYTHONPATH=str(ROOT))
        env.pop("TBPTT_KIT_THREADS", None)  # the arm decides
        cmd = [sys.executable, __file__, "--worker", "--arm", arm, *extra]
        done = subprocess.run(
            cmd, env=env, capture_output=True, text=True, preexec_fn=enter_cgroup, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"worker {cmd} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        for p in spinners:
            p.kill()
            p.wait()


def rotated(items: list, r: int) -> list:
    return items[r % len(items) :] + items[: r % len(items)]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def shared_machine(args) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # still remove spinners and cgroups
    conditions = {"quiet": {}, "busy 1": {"busy": 1}, "busy 2": {"busy": 2}}
    cgroups, skipped = [], []
    for cores in (1.0, 0.5):
        folder, why = make_cgroup(cores)
        if folder is None:
            skipped.append(f"quota {cores:g}: skipped, {why}")
        else:
            cgroups.append(folder)
            conditions[f"quota {cores:g}"] = {"cgroup": folder}
    for line in skipped:
        print(line)
    extra = ["--min-s", str(args.min_s), "--max-s", str(args.max_s)]
    results = {(c, a): [] for c in conditions for a in ("kit", "default", "one")}
    print(f"load average before: {load_average()}")
    try:
        for r in range(args.rounds):
            for cond in rotated(list(conditions), r):
                arms = ["kit", "default"] + (["one"] if cond.startswith("quota") else [])
                for arm in rotated(arms, r):
                    res = run_worker(arm if arm != "one" else "1", extra, **conditions[cond])
                    results[cond, arm].append(res)
                    print(
                        f"round {r + 1} {cond:8s} {arm:7s} threads {res['threads']} "
                        f"step {res['step'] * 1e3:8.2f} ms  panel {res['panel']:7.2f} s",
                        flush=True,
                    )
    finally:
        for folder in cgroups:
            folder.rmdir()
    print(f"load average after: {load_average()}")
    print_table(conditions, results, skipped)


def med(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def print_table(conditions, results, skipped) -> None:
    quiet_step = med(results["quiet", "kit"], "step")
    quiet_panel = med(results["quiet", "kit"], "panel")
    kit_reason = results["quiet", "kit"][0]["reason"]
    print(f"\nkit's choice, quiet: {kit_reason}\n")
    print(
        "| condition | threads kit / default | step kit (ms) | step default (ms) | "
        "default / kit | kit / kit quiet | kit / 1 thread | panel kit (s) | "
        "panel default (s) | default / kit | kit / kit quiet |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    verdicts = []
    for cond in conditions:
        kit, default, one = (results[cond, a] for a in ("kit", "default", "one"))
        sk, sd, pk, pd = (
            med(kit, "step"),
            med(default, "step"),
            med(kit, "panel"),
            med(default, "panel"),
        )
        vs_one = f"{sk / med(one, 'step'):.2f}" if one else ""
        print(
            f"| {cond} | {kit[0]['threads']} / {default[0]['threads']} | {sk * 1e3:.2f} | "
            f"{sd * 1e3:.2f} | {sd / sk:.2f} | {sk / quiet_step:.2f} | {vs_one} | {pk:.2f} | "
            f"{pd:.2f} | {pd / pk:.2f} | {pk / quiet_panel:.2f} |"
        )
        if cond == "busy 1":
            ok = sk / quiet_step <= 1.3
            verdicts.append(
                f"busy 1: kit step {sk / quiet_step:.2f}x quiet (target <= 1.3): "
                f"{'met' if ok else 'NOT met'}"
            )
        if one:
            ok = sk / med(one, "step") <= 1.1
            verdicts.append(
                f"{cond}: kit step {sk / med(one, 'step'):.2f}x 1 thread "
                f"(target <= 1.1): {'met' if ok else 'NOT met'}"
            )
    print()
    for line in verdicts + skipped:
        print(f"- {line}")


def threads_sweep(args) -> None:
    from tbptt_kit.tooling.threads import affinity_count

    counts = list(range(1, affinity_count() + 1))
    extra = ["--sweep", "--min-s", str(args.min_s), "--max-s", str(args.max_s)]
    runs = {n: [] for n in counts}
    print(f"load average before: {load_average()}")
    for r in range(args.rounds):
        for n in rotated(counts, r):
            runs[n].append(run_worker(str(n), extra))
            print(f"round {r + 1}: {n} thread(s) done", flush=True)
    print(f"load average after: {load_average()}\n")
    names = [f"{t} {h} {s or 500}" for t, h, s in SWEEP_MODELS]
    head = " | ".join(f"{n} thread(s) (ms)" for n in counts)
    ratios = " | ".join(f"{n} / 1" for n in counts[1:])
    print(f"| model | hidden | window or sub-window | {head} | {ratios} |")
    print("|---|---:|---:|" + "---:|" * (2 * len(counts) - 1))
    for name in names:
        t, h, s = name.split()
        steps = [med(runs[n], name) for n in counts]
        cells = " | ".join(f"{x * 1e3:.2f}" for x in steps)
        rat = " | ".join(f"{x / steps[0]:.2f}" for x in steps[1:])
        print(f"| {t} | {h} | {s} | {cells} | {rat} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads-sweep", action="store_true", help="step time vs threads")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--min-s", type=float, default=1.5, help="time steps for at least (s)")
    parser.add_argument("--max-s", type=float, default=8.0, help="and at most (s)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--arm", default="kit", help=argparse.SUPPRESS)
    parser.add_argument("--sweep", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
    elif args.threads_sweep:
        threads_sweep(args)
    else:
        shared_machine(args)


if __name__ == "__main__":
    main()
