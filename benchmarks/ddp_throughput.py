"""Samples per second of the text model (notebook 08's): one process, two processes.

Three ways to train the same steps, alternated round by round in one run:

- ``notebook``: ``RNNLearner`` in this process, as notebook 08 runs it;
- ``cli x1``: ``python -m tbptt_kit`` in its own process;
- ``cli x2``: ``torchrun --nproc_per_node=2 -m tbptt_kit``, gloo, one thread each.

Samples are the characters trained on (the global kept steps); the rate is taken over the
steps after the first ``WARM`` of each run (no start-up, no first-step costs), from the step
times in the run's ``log.jsonl`` (the notebook run: the same times, from a callback).

    .venv/bin/python benchmarks/ddp_throughput.py            # 3 rounds of 60 steps
    .venv/bin/python benchmarks/ddp_throughput.py --rounds 5 --steps 100
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

import tbptt_kit as tk
from tbptt_kit.tooling.train import launch

WARM = 5  # steps left out of each rate
FLAGS = [
    "--data",
    "text",
    "--bs",
    "32",
    "--sub-seq-len",
    "100",
    "--hidden-size",
    "128",
    "--epochs",
    "1",
    "--lr",
    "1e-2",
    "--no-progress",
]


def rate(steps: list[dict]) -> float:
    """Samples per second over the steps after the first WARM."""
    a, b = steps[WARM - 1], steps[-1]
    return (b["samples"] - a["samples"]) / (b["seconds"] - a["seconds"])


def cli(n_proc: int, n_steps: int, out: Path) -> float:
    rows = launch([*FLAGS, "--max-batches", str(n_steps)], n_proc, out)
    return rate([r for r in rows if "step" in r])


class StepTimes(tk.Callback):
    """The same record of steps as the CLI's log: cumulative samples, seconds."""

    def before_fit(self, learn):
        self.start, self.steps, self.samples = time.perf_counter(), [], 0

    def after_batch(self, learn):
        if learn.training:
            self.samples += len(learn.kept(learn.batch.y, learn.batch)[1])
            self.steps.append(dict(samples=self.samples, seconds=time.perf_counter() - self.start))


def notebook(n_steps: int) -> float:
    dls = tk.create_dls_text(bs=32, sub_seq_len=100)
    dls.train.max_batches = n_steps
    times = StepTimes()
    learn = tk.RNNLearner(
        dls,
        hidden_size=128,
        sub_seq_len=100,
        metrics=[tk.bits_per_char],
        seed=0,
        cbs=[times],
        progress=False,
        act_mem=False,
    )
    learn.fit_flat_cos(1, lr=1e-2)
    return rate(times.steps)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        names = [x for x in open("/proc/cpuinfo") if x.startswith("model name")]
        cpu = names[0].split(":", 1)[1].strip() if names else cpu
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{cpu}; {usable} usable cores of {os.cpu_count()}; load average {load:.1f} at "
        f"start; torch {torch.__version__}; Python {platform.python_version()}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=60, help="steps per run (global batches)")
    args = p.parse_args()
    print(f"machine: {machine()}")
    runs = {"notebook": [], "cli x1": [], "cli x2": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            runs["notebook"].append(notebook(args.steps))
            runs["cli x1"].append(cli(1, args.steps, Path(tmp) / f"x1_{r}"))
            runs["cli x2"].append(cli(2, args.steps, Path(tmp) / f"x2_{r}"))
            line = ", ".join(f"{k} {v[-1]:,.0f}" for k, v in runs.items())
            print(f"round {r + 1}: {line}", flush=True)
    med = {k: statistics.median(v) for k, v in runs.items()}
    table = tk.Table(
        {
            "run": k,
            "samples/s (median)": f"{med[k]:,.0f}",
            "each round": " ".join(f"{x:,.0f}" for x in v),
            "vs cli x1": f"{med[k] / med['cli x1']:.2f}x",
        }
        for k, v in runs.items()
    )
    print(table.to_markdown())
    print(f"2 processes / 1 process (CLI): {med['cli x2'] / med['cli x1']:.2f}x")
    print(f"notebook time per sample / CLI's: {med['cli x1'] / med['notebook']:.3f}x")


if __name__ == "__main__":
    main()
