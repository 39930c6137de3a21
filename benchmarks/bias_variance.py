"""Beyond truncation, measured: the bias of TBPTT, ARTBP's removal of it, RTRL's cost.

1. bias: on the echo task (an LSTM of 8 units, windows of 32 steps, bs 8, float64) and on
   influence balancing (θ = 0, one window of 160 steps), the relative error and cosine of
   each gradient against full BPTT's exact one; ARTBP as the mean of M draws, and the
   variance of one draw (E||g_i - g||² / ||g||²; for a deterministic mode: its bias²).
2. influence: training on influence balancing (Tallec & Ollivier 2017's task, our
   reproduction, ``tbptt_kit/data/balancing.py``) with TBPTT(4), TBPTT(4, 12) (the same
   compute per update as ARTBP: the steps column), ARTBP(4, geometric, mean 8) and full
   BPTT, for seeds 0, 1, 2 (the draws of ARTBP's cuts): final θ against θ* = -0.25.
3. rtrl: RTRL (``tbptt_kit/modes/rtrl.py``) beside full BPTT on a plain tanh RNN, one window of
   bs 4: seconds per window and the memory each holds (RTRL: its influence matrix;
   BPTT: the activations saved for backward, measured), against H and against T.

    .venv/bin/python benchmarks/bias_variance.py                  # all three, a few minutes
    .venv/bin/python benchmarks/bias_variance.py --part influence
"""

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tbptt_kit as tk  # noqa: E402
from tbptt_kit import (  # noqa: E402
    BPTT,
    Truncation,
    bias_variance,
    fit_balancing,
    influence_bytes,
    measure_memory,
    rtrl_gradient,
)
from tbptt_kit.course.memory import format_bytes  # noqa: E402


def bias_part(n_draws=(1, 16, 64)) -> None:
    torch.manual_seed(0)
    dls = tk.create_dls_echo(win_sz=32, bs=8)
    u, y = dls.valid.ds[list(range(8))]
    cases = {
        "echo (delay 8)": (tk.StatefulRNN(1, 1, "lstm", 8).double(), u.double(), y.double()),
        "influence balancing": (
            tk.BalancingChain(10, 4).double(),
            torch.zeros(1, 160, 1, dtype=torch.float64),
            torch.ones(1, 160, 1, dtype=torch.float64),
        ),
    }
    modes = {f"truncated({k})": BPTT.of(k) for k in (4, 8, 16)}
    modes["ARTBP(4, geometric, mean 8)"] = BPTT("randomized", 4, truncation=Truncation(8))
    for task, (model, u, y) in cases.items():
        print(f"\n{task}: gradient against full BPTT's\n")
        print("| mode | M draws | relative error | cosine | variance / ‖g‖² |")
        print("|---|---:|---:|---:|---:|")
        for r in bias_variance(model, u, y, modes, n_draws):
            if r["M"] == 1 or r["label"].startswith("ARTBP"):
                print(
                    f"| {r['label']} | {r['M']} | {r['rel_error']:.4f} | {r['cosine']:+.4f} | "
                    f"{r['rel_variance']:.4f} |"
                )


def influence_part(seeds=(0, 1, 2), n_epoch: int = 3) -> None:
    print(f"\ninfluence balancing: SGD lr 1e-4, {n_epoch} epochs of 8 windows of 200 steps\n")
    print("| mode | seed | final θ (θ* = -0.25) | valid loss | steps per update |")
    print("|---|---:|---:|---:|---:|")
    for seed in seeds:
        modes = [
            BPTT.of(4),
            BPTT.of(4, backprop_len=12),
            BPTT("randomized", 4, truncation=Truncation(8, seed=seed)),
            BPTT(),
        ]
        for bptt in modes:
            r = fit_balancing(bptt, n_epoch)
            print(
                f"| {r['label']} | {seed} | {r['theta']:+.3f} | {r['loss']:.3g} | "
                f"{r['steps_per_update']:.1f} |"
            )


def _seconds(fn, *args, repeats=3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best


def rtrl_part(hiddens=(8, 16, 32, 64), lengths=(50, 100, 200, 400)) -> None:
    print("\nRTRL beside full BPTT, plain tanh RNN, bs 4, one thread\n")
    print("| H | T | RTRL s | BPTT s | RTRL / BPTT time | RTRL memory | BPTT memory |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for hidden, length in [(h, 100) for h in hiddens] + [(16, t) for t in lengths if t != 100]:
        torch.manual_seed(0)
        model = tk.StatefulRNN(1, 1, "rnn", hidden)
        u, y = torch.randn(4, length, 1), torch.randn(4, length, 1)
        rtrl_s = _seconds(rtrl_gradient, model, u, y)
        bptt_s = _seconds(tk.window_gradient, model, u, y, BPTT())
        saved = measure_memory(model, (u, y), peak=False).activation_bytes
        print(
            f"| {hidden} | {length} | {rtrl_s:.3f} | {bptt_s:.3f} | {rtrl_s / bptt_s:.1f}x | "
            f"{format_bytes(influence_bytes(model, 4))} | {format_bytes(saved)} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["bias", "influence", "rtrl", "all"], default="all")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name, part in (("bias", bias_part), ("influence", influence_part), ("rtrl", rtrl_part)):
        if args.part in (name, "all"):
            part()


if __name__ == "__main__":
    main()
