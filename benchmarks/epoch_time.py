"""How long does one epoch take? The kit against a bare PyTorch loop and against tsfast.

The example's settings: the simulated Silverbox, all train windows (win_sz 500, stp_sz 10,
bs 16), an LSTM of 40 units, Adam at lr 3e-3; standard BPTT and TBPTT with sub-windows of 100.

One epoch = one training pass over all train windows + one validation pass over the
validation windows (back to back), on a freshly built model; building the learner is not
timed. Three contestants:

- kit:    RNNLearner(...).fit_flat_cos(1), as a user runs it (its progress table goes to
          stdout, which is swallowed here; the bar goes to stderr only in a terminal);
- bare:   a plain PyTorch loop over the same windows in the same order: nn.LSTM + nn.Linear,
          Adam, no framework. TBPTT: the state is carried from sub-window to sub-window,
          detached, and starts from zeros at each new window; one step per sub-window;
- tsfast: tsfast's own RNNLearner(...).fit_flat_cos(1) on the same windows, run in its own
          Python (benchmarks/tsfast_epoch.py), when that Python exists.

All three use the same number of torch threads. Machines are shared and noisy, so the runs
are interleaved (kit, bare, tsfast, then bare, tsfast, kit, ...: the order rotates each
round), and we report medians and ratios within one run, of the wall-clock time and of the
CPU time (which other processes on the machine disturb less).

    .venv/bin/python benchmarks/epoch_time.py                # 3 rounds, 1 thread
    .venv/bin/python benchmarks/epoch_time.py --rounds 5 --threads 1
"""

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from tbptt_kit import RNNLearner, create_dls_silverbox, fun_rmse
from tbptt_kit.data.hdf5 import write_record
from tbptt_kit.data.silverbox import FS, load_silverbox, silverbox_split
from tbptt_kit.tooling.smoke import is_smoke

BS, WIN_SZ, STP_SZ, HIDDEN, LR, SUB_SEQ_LEN = 16, 500, 10, 40, 3e-3, 100
MODES = {"standard": None, "tbptt": SUB_SEQ_LEN}  # mode -> sub_seq_len
REPO = Path(__file__).resolve().parents[1]


# -- the kit ------------------------------------------------------------------------------
def kit_epoch(dls, sub_seq_len) -> dict:
    """One epoch with the kit, exactly as the example runs it."""
    lrn = RNNLearner(
        dls,
        rnn_type="lstm",
        hidden_size=HIDDEN,
        sub_seq_len=sub_seq_len,
        metrics=[fun_rmse],
        seed=0,
    )
    start, start_cpu = time.perf_counter(), time.process_time()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        lrn.fit_flat_cos(1, LR)
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    # Adam counts its own steps: the number of optimizer steps in the epoch.
    steps = int(next(iter(lrn.opt.state.values()))["step"])
    return {"seconds": seconds, "cpu": cpu, "steps": steps}


# -- a bare PyTorch loop ------------------------------------------------------------------
class BareLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(1, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, u, state=None):
        out, state = self.lstm(u, state)
        return self.head(out), state


def bare_data(dls) -> dict:
    """The kit's train and valid records, normalised once, cut into windows (views, no copy)."""
    norm = dls.norm
    data = {}
    for split, loader in (("train", dls.train), ("valid", dls.valid)):
        u = (loader.ds.u[0][:, 0] - float(norm.u_mean[0])) / float(norm.u_std[0])
        y = (loader.ds.y[0][:, 0] - float(norm.y_mean[0])) / float(norm.y_std[0])
        step = loader.ds.stp_sz
        # unfold: (T,) -> (n_windows, WIN_SZ), window i starting at sample i * step
        data[split] = (u.unfold(0, WIN_SZ, step), y.unfold(0, WIN_SZ, step))
    return data


def bare_epoch(data, sub_seq_len) -> dict:
    """One epoch of a plain loop. Standard BPTT is the case of one sub-window per window."""
    seq_len = sub_seq_len or WIN_SZ
    torch.manual_seed(0)
    model = BareLSTM()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    start, start_cpu = time.perf_counter(), time.process_time()

    # training: the same shuffled order as the kit's first epoch (a generator seeded with 0)
    u_win, y_win = data["train"]
    order = torch.randperm(len(u_win), generator=torch.Generator().manual_seed(0))
    model.train()
    steps, total = 0, 0.0
    for i in range(0, len(order), BS):
        idx = order[i : i + BS]
        u, y = u_win[idx].unsqueeze(-1), y_win[idx].unsqueeze(-1)  # (bs, WIN_SZ, 1)
        state = None  # a new window starts from zeros
        for t in range(0, WIN_SZ, seq_len):
            pred, state = model(u[:, t : t + seq_len], state)
            loss = (pred - y[:, t : t + seq_len]).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            state = tuple(s.detach() for s in state)  # keep the state, cut the graph
            total += loss.item()
            steps += 1

    # validation: windows in order, the state carried across sub-windows
    u_win, y_win = data["valid"]
    model.eval()
    errors = []
    with torch.no_grad():
        for i in range(0, len(u_win), BS):
            u, y = u_win[i : i + BS].unsqueeze(-1), y_win[i : i + BS].unsqueeze(-1)
            state = None
            for t in range(0, WIN_SZ, seq_len):
                pred, state = model(u[:, t : t + seq_len], state)
                errors.append((pred - y[:, t : t + seq_len]).flatten())
    errors = torch.cat(errors)
    valid_mae, valid_rmse = errors.abs().mean().item(), errors.pow(2).mean().sqrt().item()
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    return {"seconds": seconds, "cpu": cpu, "steps": steps, "valid": [valid_mae, valid_rmse]}


# -- tsfast, in its own Python ------------------------------------------------------------
def write_tsfast_folder(folder: Path) -> None:
    """The simulated Silverbox's train and valid parts as HDF5 files, in tsfast's layout:
    folder/train/train.hdf5 and folder/valid/valid.hdf5, datasets u0 and y0 (float32, the
    exact values the kit trains on)."""
    parts = silverbox_split(*load_silverbox("simulated", seed=0))
    for split in ("train", "valid"):
        u, y = parts[split]
        signals = {"u0": u.astype("float32"), "y0": y.astype("float32")}
        write_record(folder / split / f"{split}.hdf5", signals, FS)


class TsfastWorker:
    """tsfast's side runs in another Python; we ask it for one epoch at a time."""

    def __init__(self, python: Path, folder: Path, threads: int):
        self.log = open(folder / "tsfast_stderr.log", "w")  # tqdm's bars, and any error
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        self.proc = subprocess.Popen(
            [str(python), str(REPO / "benchmarks" / "tsfast_epoch.py"), "--data", str(folder)]
            + ["--threads", str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
        )
        self.info = self.read_result()

    def read_result(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT ") :])
        self.log.flush()
        tail = Path(self.log.name).read_text()[-2000:]
        raise RuntimeError(f"the tsfast worker stopped without an answer:\n{tail}")

    def epoch(self, mode: str) -> dict:
        self.proc.stdin.write(mode + "\n")
        self.proc.stdin.flush()
        return self.read_result()

    def close(self) -> None:
        self.proc.stdin.write("\n")
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.log.close()


# -- the benchmark ------------------------------------------------------------------------
def cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description="Time one epoch: kit, bare PyTorch, tsfast.")
    parser.add_argument("--rounds", type=int, default=3, help="timed repetitions of each run")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, for all three")
    default_python = REPO / ".venv-tsfast" / "bin" / "python"
    parser.add_argument(
        "--tsfast-python",
        type=Path,
        default=default_python if default_python.exists() else None,
        help="a Python with tsfast installed (default: .venv-tsfast/bin/python if present)",
    )
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed first round")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    if is_smoke():
        sys.exit("TBPTT_KIT_SMOKE is set: unset it, the benchmark needs the whole record.")
    dls = {
        mode: create_dls_silverbox(bs=BS, win_sz=WIN_SZ, stp_sz=STP_SZ, sub_seq_len=ssl)
        for mode, ssl in MODES.items()
    }
    data = bare_data(dls["standard"])
    kit_ds = dls["standard"].train.ds
    print(
        f"kit:  {len(kit_ds)} train windows of {WIN_SZ} (every {STP_SZ} samples) -> "
        f"{math.ceil(dls['standard'].train.n_windows / BS)} batches of up to {BS}; "
        f"{len(dls['standard'].valid.ds)} valid windows"
    )

    runners = {
        "kit": lambda mode: kit_epoch(dls[mode], MODES[mode]),
        "bare": lambda mode: bare_epoch(data, MODES[mode]),
    }
    worker = None
    tmp = tempfile.TemporaryDirectory(prefix="tsfast-silverbox-")
    if args.tsfast_python is None or not Path(args.tsfast_python).exists():
        print("tsfast: SKIPPED (no tsfast Python; pass --tsfast-python PATH to include it)")
    else:
        write_tsfast_folder(Path(tmp.name))
        try:
            worker = TsfastWorker(args.tsfast_python, Path(tmp.name), args.threads)
        except (OSError, RuntimeError) as err:
            print(f"tsfast: SKIPPED (its Python failed to start: {err})")
    if worker is not None:
        info = worker.info
        kit_sum = float(kit_ds[list(range(len(kit_ds)))][0].double().sum())
        same = abs(info["train_u_checksum"] - kit_sum) <= 1e-9 * abs(kit_sum)
        print(
            f"tsfast {info['tsfast_version']} (torch {info['torch_version']}, "
            f"{info['threads']} thread(s)): {info['train_windows']} train windows "
            f"(same windows as the kit: {'yes' if same else 'NO'}), shapes "
            f"{info['window_shapes']}; one pass yields {info['train_batches']} batches = "
            f"{info['train_windows_seen']} windows "
            f"({info['train_windows'] - info['train_windows_seen']} left out); "
            f"{info['valid_windows']} valid windows in {info['valid_batches']} batches"
        )
        runners["tsfast"] = worker.epoch

    names = list(runners)
    load_before = os.getloadavg()[0]
    wall = {(mode, name): [] for mode in MODES for name in names}
    cpu = {(mode, name): [] for mode in MODES for name in names}
    steps = {}
    rounds = ["warm-up"] * (not args.no_warmup) + [f"round {r + 1}" for r in range(args.rounds)]
    try:
        for r, label in enumerate(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]  # nobody always goes first
            for mode in MODES:
                for name in order:
                    result = runners[name](mode)
                    steps[mode, name] = result["steps"]
                    if label != "warm-up":
                        wall[mode, name].append(result["seconds"])
                        cpu[mode, name].append(result["cpu"])
                    print(
                        f"  {label:>8}  {mode:8}  {name:6}  wall {result['seconds']:6.2f} s  "
                        f"cpu {result['cpu']:6.2f} s",
                        flush=True,
                    )
    finally:
        if worker is not None:
            worker.close()
        tmp.cleanup()

    print()
    print(
        f"Machine: {cpu_name()}, {os.cpu_count()} cores; torch {torch.__version__}; "
        f"{args.threads} torch thread(s); medians of {args.rounds} interleaved rounds; "
        f"load average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after."
    )
    print()
    print("| BPTT | runner | optimizer steps | wall (s) | wall vs bare | CPU (s) | CPU vs bare |")
    print("|---|---|---|---|---|---|---|")
    verdicts = []
    for mode in MODES:
        med_wall = {name: statistics.median(wall[mode, name]) for name in names}
        med_cpu = {name: statistics.median(cpu[mode, name]) for name in names}
        for name in names:
            print(
                f"| {mode} | {name} | {steps[mode, name]} | {med_wall[name]:.2f} | "
                f"{med_wall[name] / med_wall['bare']:.2f}x | {med_cpu[name]:.2f} | "
                f"{med_cpu[name] / med_cpu['bare']:.2f}x |"
            )
        for other, target in (("bare", 1.05), ("tsfast", 1.0)):
            if other in names:
                # each round's two epochs ran next to each other: their ratio cancels the
                # machine's drift from round to round, which the medians above keep
                paired = [k / o for k, o in zip(wall[mode, "kit"], wall[mode, other])]
                ratio = statistics.median(paired)
                verdict = "met" if ratio <= target else "MISSED"
                verdicts.append(
                    f"{mode}: kit / {other} = {ratio:.2f} on the wall clock, the median of "
                    f"{len(paired)} rounds' ratios (range {min(paired):.2f}-{max(paired):.2f}; "
                    f"target <= {target:.2f}: {verdict}); ratio of the medians "
                    f"{med_wall['kit'] / med_wall[other]:.2f}, in CPU time "
                    f"{med_cpu['kit'] / med_cpu[other]:.2f}"
                )
    print()
    print("\n".join(verdicts))


if __name__ == "__main__":
    sys.exit(main())
