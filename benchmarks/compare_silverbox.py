"""Four ways to train on the Silverbox, side by side: ``tbptt_kit.compare`` at the reference settings.

The reference settings: the simulated Silverbox, windows of 500 samples every 10, bs 16,
an LSTM of 40 units, 10 epochs of fit_flat_cos at lr 3e-3, seed 0. Four ways to
backpropagate: full BPTT, truncated(100), checkpointed(100) and TBPTT(100, 200).

Then the same at equal optimizer steps: truncated BPTT takes 5 steps per batch of windows
(one per sub-window of 100), full BPTT one. The equal-steps runs give every way the steps
of 10 epochs of full BPTT, so truncated(100) and TBPTT(100, 200) train 2 epochs, each a
complete flat-cos schedule. Full and checkpointed BPTT already have that many steps: their
runs are not repeated.

    .venv/bin/python benchmarks/compare_silverbox.py                 # 1 thread, ~10-15 min
    .venv/bin/python benchmarks/compare_silverbox.py --epochs 1      # a quick look
"""

import argparse
import functools
import platform
import time

import torch

from tbptt_kit import compare, create_dls_silverbox
from tbptt_kit.course.compare import bptt_of, config_name, epochs_for_equal_steps
from tbptt_kit.course.table import Table

CONFIGS = [
    {"name": "full"},
    {"sub_seq_len": 100},
    {"mode": "checkpointed", "sub_seq_len": 100},
    {"sub_seq_len": 100, "backprop_len": 200},
]
LEARNER = {"rnn_type": "lstm", "hidden_size": 40}


def main() -> None:
    parser = argparse.ArgumentParser(description="compare() on the Silverbox.")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=3e-3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    make_dls = functools.partial(create_dls_silverbox, bs=16, win_sz=500, stp_sz=10)
    run = functools.partial(compare, make_dls=make_dls, n_epoch=args.epochs, lr=args.lr, seed=0)
    start = time.perf_counter()

    table = run(CONFIGS, **LEARNER)
    print("## as configured\n")
    print(table.to_markdown(), flush=True)

    # equal steps: rerun only the configurations that need fewer epochs for it
    steps_per_epoch = [
        len(make_dls(sub_seq_len=bptt_of(c).loader_sub_seq_len).train) for c in CONFIGS
    ]
    epochs = epochs_for_equal_steps(steps_per_epoch, args.epochs, True)
    rerun = [c for c, n in zip(CONFIGS, epochs) if n != args.epochs]
    target = args.epochs * min(steps_per_epoch)
    equal = {row["name"]: row for row in run(rerun, equal_steps=target, **LEARNER)}
    equal_table = Table(equal.get(row["name"], row) for row in table)
    print(f"\n## equal optimizer steps ({target} each)\n")
    print(equal_table.to_markdown())

    merged = Table(
        {k: v for k, v in row.items() if k not in ("bptt", "epochs")}
        | {
            "epochs@equal_steps": eq["epochs"],
            "samples@equal_steps": eq["samples"],
            "valid_mV@equal_steps": eq["valid_mV"],
            **{f"{k}@equal_steps": v for k, v in eq.items() if k.startswith("test_")},
        }
        for row, eq in zip(table, equal_table)
    )
    print("\n## one table\n")
    print(merged.to_markdown())
    names = ", ".join(config_name(c) for c in CONFIGS)
    print(
        f"\n{names}; torch {torch.__version__}, {args.threads} thread(s), "
        f"{platform.processor() or platform.machine()}; "
        f"whole benchmark {time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
