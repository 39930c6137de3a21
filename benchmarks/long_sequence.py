"""Windows of 100,000 steps: TBPTT trains in a few MiB; full BPTT is refused under 2 GiB.

A long record (a random input through a slow nonlinear filter), cut into windows of
100,000 steps, bs 16, an LSTM of 40 units:

1. TBPTT with sub_seq_len 100 trains one epoch (1,000 optimizer steps per batch of
   windows) under Binder's 2 GiB budget; the table's act_mem column shows the
   activation memory of its largest step, and ``measure_memory`` adds the peak.
2. Full BPTT on the same windows is refused by ``fit`` before anything is allocated:
   its predicted activation memory does not fit 2 GiB, and the message names the
   largest sub_seq_len that would.

    .venv/bin/python benchmarks/long_sequence.py
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tbptt_kit import RNNLearner, create_dls  # noqa: E402
from tbptt_kit.course.memory import (  # noqa: E402
    MemoryBudgetExceeded,
    estimate_memory,
    format_bytes,
    measure_memory,
)

WIN_SZ, SUB_SEQ_LEN, BS, HIDDEN = 100_000, 100, 16, 40
BUDGET = "2 GiB"  # Binder's memory limit


def record(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """u: smoothed noise; y: a slow leaky integrator of u through a soft saturation."""
    rng = np.random.default_rng(seed)
    u = np.convolve(rng.standard_normal(n), np.ones(8) / 8, mode="same").astype(np.float32)
    y, state = np.empty(n, np.float32), 0.0
    for t in range(n):  # a few 100k samples: fine in plain Python
        state = 0.995 * state + 0.05 * np.tanh(2 * u[t])
        y[t] = state
    return u, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
    start = time.perf_counter()
    # 16 train windows of 100,000 steps (overlapping by 80%), one validation window
    train, valid = record(4 * WIN_SZ, seed=0), record(WIN_SZ, seed=1)
    stp_sz = (len(train[0]) - WIN_SZ) // (BS - 1)

    def loaders(sub_seq_len):
        return create_dls(
            train, valid, bs=BS, win_sz=WIN_SZ, stp_sz=stp_sz, sub_seq_len=sub_seq_len
        )

    print(
        f"windows of {WIN_SZ:,} steps, bs {BS}, LSTM {HIDDEN}, budget {BUDGET}, torch {torch.__version__}\n"
    )
    print(f"1. TBPTT, sub_seq_len={SUB_SEQ_LEN}:")
    dls = loaders(SUB_SEQ_LEN)
    learn = RNNLearner(
        dls, "lstm", HIDDEN, sub_seq_len=SUB_SEQ_LEN, seed=0, act_mem=True, max_memory=BUDGET
    )
    fit_start = time.perf_counter()
    learn.fit_flat_cos(1, 3e-3)
    fit_time = time.perf_counter() - fit_start
    report = measure_memory(learn)
    predicted = estimate_memory("lstm", HIDDEN, 1, BS, WIN_SZ, SUB_SEQ_LEN)
    act_mem = learn.recorder.epochs[-1]["act_mem"]
    print(f"   {len(dls.train):,} optimizer steps in {fit_time:.1f} s")
    print(f"   {report}")
    print(f"   predicted activation memory: {format_bytes(predicted, 2)}\n")

    print("2. Full BPTT on the same windows:")
    full = RNNLearner(loaders(None), "lstm", HIDDEN, seed=0, max_memory=BUDGET, progress=False)
    full_predicted = estimate_memory("lstm", HIDDEN, 1, BS, WIN_SZ)
    try:
        full.fit(1)
        refusal = "NOT refused"
    except MemoryBudgetExceeded as err:
        refusal = str(err)
    print(f"   MemoryBudgetExceeded: {refusal}")
    print(f"   refused before the optimizer was made: {full.opt is None}")
    n_params = sum(p.numel() for p in full.model.parameters())
    batch_bytes = 4 * BS * WIN_SZ * (dls.n_u + dls.n_y)
    halves = estimate_memory("lstm", HIDDEN, 1, BS, WIN_SZ, WIN_SZ // 2)
    print(f"   sub_seq_len={WIN_SZ // 2:,} would need {format_bytes(halves)}")
    print(
        f"   beside activations: {n_params:,} parameters, batches of {format_bytes(batch_bytes)}\n"
    )

    total = time.perf_counter() - start
    print("| figure | value |")
    print("|---|---|")
    print(f"| TBPTT({SUB_SEQ_LEN}), act_mem column (largest step of the epoch) | {act_mem} |")
    print(f"| TBPTT({SUB_SEQ_LEN}), activation memory predicted | {format_bytes(predicted)} |")
    print(
        f"| TBPTT({SUB_SEQ_LEN}), peak during one batch of windows | {format_bytes(report.peak_bytes)} |"
    )
    print(f"| TBPTT({SUB_SEQ_LEN}), kernel path | {report.path} ({report.kernel}) |")
    print(f"| TBPTT({SUB_SEQ_LEN}), one epoch ({len(dls.train):,} steps) | {fit_time:.1f} s |")
    print(f"| full BPTT, activation memory predicted | {format_bytes(full_predicted)} |")
    print(f'| full BPTT under {BUDGET} | refused: "{refusal}" |')
    print(f"| sub_seq_len {WIN_SZ // 2:,}, activation memory predicted | {format_bytes(halves)} |")
    print(
        f"| parameters; one batch of windows (u, y) | {n_params:,}; {format_bytes(batch_bytes)} |"
    )
    print(f"| whole script | {total:.1f} s |")


if __name__ == "__main__":
    main()
