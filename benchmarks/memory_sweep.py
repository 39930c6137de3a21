"""Memory of one training step: full BPTT grows with the window, TBPTT stays flat.

Three reports, each printed as a Markdown table (they are the tables in
benchmarks/README.md, section "Memory"):

    .venv/bin/python benchmarks/memory_sweep.py                 # the sweep (+ --plot FILE)
    .venv/bin/python benchmarks/memory_sweep.py --paths         # bytes per sample per step
    .venv/bin/python benchmarks/memory_sweep.py --overhead      # cost of the act_mem column
    python3 benchmarks/memory_sweep.py --device cuda --paths    # the same on a GPU

The sweep: win_sz 100 ... 10,000 (5 points), full BPTT and TBPTT(100), an LSTM of 40
units, bs 16, random data (memory does not depend on the values). Activation memory
measured, predicted by ``estimate_memory``, and the peak.

--paths: for each kernel path this machine has, the bytes one sample's step keeps for
backward: the whole training step (model and loss) and the RNN layer alone, from the
difference between two window lengths (so per-window constants drop out), beside the
prediction and the analytic minimum an exact backward pass needs.

--overhead: what the act_mem column costs. The CPU time of a training step with and
without the meter (blocks interleaved, medians), on the simulated Silverbox; by default
the column meters only the first batch of windows of each epoch, so an epoch pays that
cost on that share of its steps (the last column; validation, not metered, adds time
and makes the real share smaller still).

One torch thread by default: these small matrices gain little from more, and on a busy
machine OpenMP threads that spin-wait for each other can slow a run down tenfold.
"""

import argparse
import contextlib
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tbptt_kit.course.memory import (  # noqa: E402
    SavedTensorMeter,
    estimate_memory,
    format_bytes,
    kernel_path,
    memory_sweep,
    path_of,
    plot_memory_sweep,
)

WIN_SIZES = (100, 300, 1000, 3000, 10_000)
H, BS = 40, 16


def sweep(device: str, plot: str | None) -> None:
    start = time.perf_counter()
    rows = memory_sweep(WIN_SIZES, (100,), "lstm", H, 1, BS, device=device)
    took = time.perf_counter() - start
    print(
        f"LSTM {H}, bs {BS}, device {device}, torch {torch.__version__}: sweep took {took:.1f} s\n"
    )
    print("| win_sz | mode | activation, measured | predicted | peak |")
    print("|---:|---|---:|---:|---:|")
    for r in rows:
        mode = "full BPTT" if r.sub_seq_len is None else f"TBPTT({r.sub_seq_len})"
        print(
            f"| {r.win_sz:,} | {mode} | {format_bytes(r.measured, 2)} | "
            f"{format_bytes(r.predicted, 2)} | {format_bytes(r.peak, 2)} |"
        )
    full = {r.win_sz: r.measured for r in rows if r.sub_seq_len is None}
    print(f"\nfull BPTT, 10,000 / 1,000 steps: {full[10_000] / full[1000]:.4f}x")
    if plot:
        import matplotlib

        matplotlib.use("Agg")
        ax = plot_memory_sweep(rows)
        ax.figure.savefig(plot, dpi=120, bbox_inches="tight")
        print(f"plot: {plot}")


def _layer_bytes(rnn_type: str, device: str, T: int) -> tuple[int, int, str, str]:
    """(whole step, RNN layer alone) bytes saved for backward, bs BS, window T; the path."""
    torch.manual_seed(0)
    from tbptt_kit.core.model import StatefulRNN

    model = StatefulRNN(1, 1, rnn_type, H, 1).to(device)
    u, y = torch.randn(BS, T, 1, device=device), torch.randn(BS, T, 1, device=device)
    meter = SavedTensorMeter(exclude=[*model.parameters(), *model.buffers()])
    with meter.measuring(u, y):
        loss = (model(u)[0] - y).abs().mean()
    step = meter.nbytes
    path, kernel = path_of(loss)
    with meter.measuring(u):  # the layer alone, on the (excluded) input u
        out, _ = model.rnn(u)
    return step, meter.nbytes - 4 * BS * T * 1, path, kernel  # less its copy of the input


def _step_time(rnn_type: str, device: str, T: int = 400, reps: int = 7) -> float:
    """Median seconds of one training step (forward, loss, backward), bs BS, window T."""
    from tbptt_kit.core.model import StatefulRNN

    model = StatefulRNN(1, 1, rnn_type, H, 1).to(device)
    u, y = torch.randn(BS, T, 1, device=device), torch.randn(BS, T, 1, device=device)
    times = []
    for _ in range(reps + 1):  # the first is a warm-up
        start = time.perf_counter()
        (model(u)[0] - y).abs().mean().backward()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


# Floats per step an exact backward pass must keep, per sample, for one layer (see README)
MINIMUM = {"lstm": 5, "gru": 5, "rnn": 1}


def paths(device: str) -> None:
    cases = [("lstm", True), ("lstm", False), ("gru", True), ("rnn", True)]
    print(
        f"bs {BS}, hidden_size H = {H}, 1 layer, float32, device {device}, torch {torch.__version__}"
    )
    print("bytes per sample per step: the difference between windows of 400 and 200 steps\n")
    print(
        "| rnn | path (grad_fn) | whole step, measured | predicted | RNN layer alone "
        "| = floats | exact minimum | step time, win_sz 400 |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for rnn_type, fast in cases:
        flags = (
            torch.backends.cudnn.flags(enabled=fast)
            if device == "cuda"
            else torch.backends.mkldnn.flags(enabled=fast)
        )
        with flags:
            s1, l1, path, kernel = _layer_bytes(rnn_type, device, 200)
            s2, l2, _, _ = _layer_bytes(rnn_type, device, 400)
            step, layer = (s2 - s1) / (200 * BS), (l2 - l1) / (200 * BS)
            p1 = estimate_memory(rnn_type, H, 1, BS, 200, device=device, path=path)
            p2 = estimate_memory(rnn_type, H, 1, BS, 400, device=device, path=path)
            seconds = _step_time(rnn_type, device)
        minimum = 4 * MINIMUM[rnn_type] * H
        print(
            f"| {rnn_type} | {path} ({kernel}) | {step:.1f} | {(p2 - p1) / (200 * BS):.1f} | "
            f"{layer:.1f} | {layer / 4 / H:.2f} H | {minimum} ({MINIMUM[rnn_type]} H) "
            f"| {1000 * seconds:.1f} ms |"
        )


def overhead(rounds: int) -> None:
    from tbptt_kit import RNNLearner, create_dls_silverbox

    def per_step(learn, batches, metered: bool) -> float:
        """CPU seconds per training step (forward, loss, backward) over ``batches``."""
        meter = SavedTensorMeter(exclude=[*learn.model.parameters(), *learn.model.buffers()])
        start = time.process_time()
        for batch in batches:  # the learner's own step, without the optimizer
            learn.batch = batch
            learn("before_batch")
            learn.model.zero_grad()
            with meter.measuring(batch.u, batch.y) if metered else contextlib.nullcontext():
                learn.one_batch()
                learn.loss.backward()
        return (time.process_time() - start) / len(batches)

    print("simulated Silverbox, win_sz 500, stp_sz 50, bs 16, hidden 40")
    print(f"CPU time per training step, median of {rounds} interleaved blocks of 2 batches of")
    print(f"windows, metered (SavedTensorMeter) or not; torch {torch.__version__}\n")
    print(
        "| rnn | path | mode | per step, plain | metered | every step metered "
        "| steps/epoch | default: first batch of windows metered |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for rnn_type in ("lstm", "gru"):
        for sub in (None, 100):
            dls = create_dls_silverbox(win_sz=500, stp_sz=50, sub_seq_len=sub)
            learn = RNNLearner(dls, rnn_type, H, sub_seq_len=sub, seed=0, act_mem=False)
            learn.model.train()
            batches = list(dls.train)[: 2 * dls.train.n_sub]
            per_step(learn, batches, False)  # warm-up
            times = {False: [], True: []}
            for i in range(rounds):
                for metered in (bool(i % 2), not i % 2):
                    times[metered].append(per_step(learn, batches, metered))
            plain, metered = statistics.median(times[False]), statistics.median(times[True])
            cost = metered / plain - 1
            share = dls.train.n_sub / len(dls.train)  # steps metered by default, per epoch
            label = "full BPTT" if sub is None else f"TBPTT({sub})"
            print(
                f"| {rnn_type} | {kernel_path(rnn_type)} | {label} | {1000 * plain:.2f} ms "
                f"| {1000 * metered:.2f} ms | {100 * cost:+.1f}% | {len(dls.train)} "
                f"| {100 * cost * share:+.2f}% |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--plot", help="save the sweep's plot to this file")
    parser.add_argument("--paths", action="store_true", help="bytes per sample per step, by path")
    parser.add_argument("--overhead", action="store_true", help="cost of the act_mem column")
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA GPU here.")
    if args.paths:
        paths(args.device)
    elif args.overhead:
        overhead(args.rounds)
    else:
        sweep(args.device, args.plot)


if __name__ == "__main__":
    main()
