"""One epoch of the reference example with this checkout's kit against another checkout's.

For a change that must leave the kit no slower (a refactor, say): both kits train the same
epoch, in fresh processes, alternating round by round, and the medians and their ratio
come from one run on one machine.

    git worktree add /tmp/oldkit <commit>
    .venv/bin/python benchmarks/versions_ab.py /tmp/oldkit --rounds 5

Each arm: ``create_dls_silverbox(bs=16, win_sz=500, stp_sz=10, sub_seq_len=...)``, an LSTM of
40 units, ``fit_flat_cos(1, 3e-3)`` with its live table (stdout swallowed), 1 torch thread;
the second of two epochs in the process is timed (the first pays the start-up).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ARM = r"""
import contextlib, io, sys, time
sys.path.insert(0, sys.argv[1])
import torch
torch.set_num_threads(1)
from tbptt_kit import RNNLearner, create_dls_silverbox, fun_rmse
sub = None if sys.argv[2] == "full" else int(sys.argv[2])
dls = create_dls_silverbox(bs=16, win_sz=500, stp_sz=10, sub_seq_len=sub)
for _ in range(2):
    learn = RNNLearner(dls, "lstm", hidden_size=40, sub_seq_len=sub, metrics=[fun_rmse], seed=0)
    with contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        learn.fit_flat_cos(1, 3e-3)
        seconds = time.perf_counter() - start
print(seconds)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", help="another checkout of the repository")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    arms = {"this": str(Path(__file__).resolve().parents[1]), "other": args.other}
    times: dict[tuple[str, str], list[float]] = {}
    for r in range(args.rounds):
        for mode in ("full", "100"):
            for name in sorted(arms, reverse=bool(r % 2)):  # alternate who goes first
                out = subprocess.run(
                    [sys.executable, "-c", ARM, arms[name], mode],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                times.setdefault((name, mode), []).append(float(out.split()[-1]))
    print(f"medians of {args.rounds} alternating rounds; other = {args.other}\n")
    print("| BPTT | other (s) | this (s) | this / other |")
    print("|---|---:|---:|---:|")
    for mode in ("full", "100"):
        other = statistics.median(times[("other", mode)])
        this = statistics.median(times[("this", mode)])
        label = "standard" if mode == "full" else f"TBPTT({mode})"
        print(f"| {label} | {other:.2f} | {this:.2f} | {this / other:.2f} |")


if __name__ == "__main__":
    main()
