"""Which Adam kernel for the course: fused, for-each, or the plain per-parameter loop?

The kit's default optimizer must not cost seconds on the first click of the lab's Train
button, and must not slow an epoch down. For each kernel, in a fresh process (so imports
are paid the way a student pays them):

- first step: wall time of making the optimizer and its first training step, after
  ``import tbptt_kit`` (torch.optim imports torch._dynamo with the first optimizer, seconds;
  the kit imports it when it is imported, so that no epoch and no click pays for it);
- per step: median wall time of a training step of the reference example (LSTM 40, bs 16,
  sub-windows of 100 steps), forward, loss, backward and optimizer step.

    .venv/bin/python benchmarks/optimizer_choice.py --rounds 5

Arms run interleaved, round by round, so a change in machine load hits all of them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

KERNELS = {"fused": "fused=True", "foreach": "foreach=True", "loop": "foreach=False"}

ONE_ARM = r"""
import json, sys, time
sys.path.insert(0, sys.argv[2])
import torch
from tbptt_kit import RNNLearner, create_dls_silverbox
dls = create_dls_silverbox(bs=16, win_sz=500, stp_sz=10, sub_seq_len=100)
learn = RNNLearner(dls, "lstm", 40, sub_seq_len=100, seed=0, progress=False, act_mem=False)
kwargs = dict(fused=True) if sys.argv[1] == "fused" else dict(foreach=sys.argv[1] == "foreach")
start = time.perf_counter()
learn.opt = torch.optim.Adam(learn.model.parameters(), lr=3e-3, **kwargs)
made = time.perf_counter() - start
learn.sched = torch.optim.lr_scheduler.LambdaLR(learn.opt, lambda _: 1.0)
learn.training, learn.epoch, learn.n_epoch = True, 0, 1
learn.model.train()
batches = iter(dls.train)
times = []
for i in range(201):
    learn.batch = next(batches)
    learn("before_batch")
    start = time.perf_counter()
    learn.one_batch()
    times.append(time.perf_counter() - start)
print(json.dumps({"first": made + times[0], "step": sorted(times[1:])[len(times[1:]) // 2]}))
"""

DYNAMO = "import time, torch; t = time.perf_counter(); import torch._dynamo; print(time.perf_counter() - t)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root = str(Path(__file__).resolve().parents[1])
    results = {k: [] for k in KERNELS}
    for _ in range(args.rounds):
        for kernel in KERNELS:
            out = subprocess.run(
                [sys.executable, "-c", ONE_ARM, kernel, root],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results[kernel].append(json.loads(out.strip().splitlines()[-1]))
    dynamo = [
        float(
            subprocess.run(
                [sys.executable, "-c", DYNAMO], check=True, capture_output=True, text=True
            ).stdout.split()[-1]
        )
        for _ in range(args.rounds)
    ]
    print(f"import torch._dynamo after import torch: {statistics.median(dynamo):.2f} s (median)")
    base = statistics.median(r["step"] for r in results["foreach"])
    print(f"median of {args.rounds} rounds, each arm in a fresh process\n")
    print("| Adam kernel | first step (ms) | per step (ms) | per step vs for-each |")
    print("|---|---:|---:|---:|")
    for kernel, rows in results.items():
        first = statistics.median(r["first"] for r in rows) * 1000
        step = statistics.median(r["step"] for r in rows)
        print(
            f"| {kernel} ({KERNELS[kernel]}) | {first:.1f} | {step * 1000:.2f} | {step / base:.2f} |"
        )


if __name__ == "__main__":
    main()
