"""RTRL's memory guard against the memory RTRL really takes.

``check_rtrl`` refuses a run whose ``influence_bytes(model, bs)`` exceeds ``max_memory``. This
script runs ``rtrl_gradient`` for several hidden sizes H and batch sizes bs and prints, for
each, that prediction beside the measured peak: the most bytes torch had allocated on the CPU
during the call, above the level at its start (torch's profiler records every allocation and
free of a tensor; ``tbptt_kit.course.memory.measure._cpu_peak``). The same run always gives
the same bytes: it counts tensors, not the process's resident memory, which the allocator's
caching and the OS's page handling blur. A guard that holds is within 25% of the peak.

    .venv/bin/python benchmarks/rtrl_memory.py              # the table in benchmarks/README.md
    .venv/bin/python benchmarks/rtrl_memory.py --hidden 8 16 --bs 1 4 --steps 20
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tbptt_kit.core.model import StatefulRNN  # noqa: E402
from tbptt_kit.course.memory.measure import _cpu_peak  # noqa: E402
from tbptt_kit.modes.rtrl import influence_bytes, rtrl_gradient  # noqa: E402
from tbptt_kit.units import format_bytes  # noqa: E402


def measure(hidden: int, bs: int, steps: int) -> tuple[int, int]:
    """(predicted, measured) peak bytes of one ``rtrl_gradient`` call on random windows."""
    torch.manual_seed(0)
    model = StatefulRNN(1, 1, rnn_type="rnn", hidden_size=hidden)
    u, y = torch.randn(bs, steps, 1), torch.randn(bs, steps, 1)
    peak = _cpu_peak(lambda: rtrl_gradient(model, u, y, max_memory="64 GiB"))
    return influence_bytes(model, bs), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[8, 16, 32, 64, 96])
    parser.add_argument("--bs", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 80])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, one thread; RTRL on a plain tanh RNN, n_u = n_y = 1\n")
    print("| H | bs | T | predicted (influence_bytes) | measured peak | measured / predicted |")
    print("|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    for hidden in args.hidden:
        for bs in args.bs:
            for steps in args.steps:
                predicted, peak = measure(hidden, bs, steps)
                ratio = peak / predicted
                worst = max(worst, abs(ratio - 1))
                print(
                    f"| {hidden} | {bs} | {steps} | {format_bytes(predicted, 2)} | "
                    f"{format_bytes(peak, 2)} | {ratio:.3f} |"
                )
    verdict = "within" if worst <= 0.25 else "NOT within"
    print(f"\nlargest difference {worst:.1%}: the guard is {verdict} 25% of the measured peak")


if __name__ == "__main__":
    main()
