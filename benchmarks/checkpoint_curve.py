"""The checkpointing trade-off at T = 1000: memory against time per step, chunk by chunk.

Checkpointed BPTT (``mode="checkpointed"``, Gruslys et al. 2016's family) keeps only each
chunk's starting state during the forward pass and recomputes the chunk's activations
during backward: the gradient stays full BPTT's, the memory falls, the time rises. Here
for windows of 1000 steps (bs 16, an LSTM of 40 units, one CPU thread), full BPTT and
each chunk length: the peak memory of one training step (forward, loss, backward) above
the level before it, and the seconds per step (median of ``--repeats`` runs), both as
ratios to full BPTT's in the same run. Gruslys et al. report, at sequence length 1000,
about 95 % less memory for about 33 % more time per iteration (their Fig./Table for
the LSTM, GPU, with an optimal recompute policy).

    .venv/bin/python benchmarks/checkpoint_curve.py            # about a minute
    .venv/bin/python benchmarks/checkpoint_curve.py --repeats 3 --chunks 10 50 250
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tbptt_kit import BPTT, StatefulRNN, learner_for, measure_memory, run_windows  # noqa: E402
from tbptt_kit.course.memory import format_bytes  # noqa: E402

T, BS, HIDDEN = 1000, 16, 40
PAPER = "Gruslys et al. 2016, T = 1000: about 95 % less memory, about 33 % more time"


def step_seconds(learn, u, y, repeats: int) -> float:
    """Median seconds of one forward + loss + backward over the batch of windows."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run_windows(learn, u, y)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def curve(chunks, repeats: int = 5, seed: int = 0) -> list[dict]:
    """Rows: label, chunk, peak memory (bytes), seconds per step, both also as ratios."""
    torch.manual_seed(seed)
    model = StatefulRNN(1, 1, "lstm", HIDDEN)
    u, y = torch.randn(BS, T, 1), torch.randn(BS, T, 1)
    rows = []
    for chunk in [None, *chunks]:
        bptt = BPTT() if chunk is None else BPTT("checkpointed", chunk)
        learn = learner_for(model, u, y, bptt)
        peak = measure_memory(learn, (u, y)).peak_bytes
        rows.append(
            dict(label=bptt.label, chunk=chunk, peak=peak, s=step_seconds(learn, u, y, repeats))
        )
    for row in rows:
        row["memory_ratio"], row["time_ratio"] = (
            row["peak"] / rows[0]["peak"],
            row["s"] / rows[0]["s"],
        )
    return rows


def table(rows) -> str:
    lines = ["| mode | peak memory | vs full | s / step | vs full |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['label']} | {format_bytes(r['peak'])} | {r['memory_ratio']:.0%} | "
            f"{r['s']:.3f} | {r['time_ratio']:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, nargs="+", default=[10, 20, 50, 100, 250, 500])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = curve(args.chunks, args.repeats)
    print(f"T = {T}, bs {BS}, LSTM of {HIDDEN} units, one thread\n")
    print(table(rows))
    best = min(rows[1:], key=lambda r: r["peak"])
    print(
        f"\nsmallest memory: {best['label']}, {1 - best['memory_ratio']:.0%} less memory for "
        f"{best['time_ratio'] - 1:+.0%} time per step.   {PAPER}."
    )


if __name__ == "__main__":
    main()
