"""TBPTT over one long HDF5 record: the lazy stream loader's memory is flat in record length.

One record of n samples (u0, y0 float32: 8 bytes a sample), bs 16 streams, sub_seq_len 100,
an LSTM of 40 units with a linear head, Adam at lr 3e-3, MAE; a plain training loop (state
carried and detached between batches, zeroed in the rows a batch resets).

For each record length, after the record is written (block by block) and dropped from the OS
page cache (posix_fadvise), so that every process below starts cold:

- memory: two fresh Python processes, one per loader, each builds ``create_stream_dls`` on
  the file (the normalisation pass reads the whole record once) and trains a few hundred
  steps; its peak resident memory (VmHWM) is its own. lazy: ``lazy=True``, sub-windows
  read from disk when needed; in-memory: ``lazy=False``, the whole record read first.
- speed: one process trains with both loaders, each with its own model, taking turns every
  50 steps, so that both see the same load on the machine; samples per second, and the
  time spent waiting for the loader.

Printed: the table, the ratio of the lazy loader's peak RSS at the two lengths, and the lazy
loader's samples per second as a fraction of the in-memory loader's (target: >= 0.9).

    .venv/bin/python benchmarks/long_record.py --quick     # 1e6 and 1e7 samples, < 1 minute
    .venv/bin/python benchmarks/long_record.py             # 1e7 and 1e8 samples (0.8 GB of disk)
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from scipy.signal import lfilter

ROOT = Path(__file__).resolve().parents[1]
BS, SUB_SEQ_LEN, HIDDEN, LR = 16, 100, 40, 3e-3
BLOCK = 1 << 20  # samples written at a time


def write_long_record(path: Path, n: int, seed: int = 0) -> None:
    """u: smoothed noise; y: a slow leaky integrator of tanh(2u). Written block by block."""
    rng = np.random.default_rng(seed)
    zi_u, zi_y = np.zeros(7), np.zeros(1)
    with h5py.File(path, "w") as f:
        f.attrs["fs"] = 1.0
        du = f.create_dataset("u0", shape=(n,), dtype=np.float32)
        dy = f.create_dataset("y0", shape=(n,), dtype=np.float32)
        for a in range(0, n, BLOCK):
            u, zi_u = lfilter(
                np.ones(8) / 8, [1.0], rng.standard_normal(min(BLOCK, n - a)), zi=zi_u
            )
            y, zi_y = lfilter([0.05], [1.0, -0.995], np.tanh(2 * u), zi=zi_y)
            du[a : a + len(u)], dy[a : a + len(u)] = u, y
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def drop_from_page_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


class Trainer:
    """The plain TBPTT loop over one loader: state carried, reset by rows, detached."""

    def __init__(self, dls):
        import torch
        from torch import nn

        torch.manual_seed(0)
        self.lstm, self.head = nn.LSTM(1, HIDDEN, batch_first=True), nn.Linear(HIDDEN, 1)
        params = [*self.lstm.parameters(), *self.head.parameters()]
        self.opt = torch.optim.Adam(params, lr=LR)
        self.norm = [torch.as_tensor(x, dtype=torch.float32) for x in vars(dls.norm).values()]
        self.dls, self.batches, self.state = dls, iter(dls.train), None

    def steps(self, n: int) -> float:
        """Train n steps; returns the seconds spent waiting for the loader."""
        import torch

        um, us, ym, ys = self.norm
        load_s = 0.0
        for _ in range(n):
            t = time.perf_counter()
            b = next(self.batches, None)
            if b is None:  # a new epoch (short records)
                self.batches = iter(self.dls.train)
                b = next(self.batches)
            load_s += time.perf_counter() - t
            if b.new_window:
                self.state = None
            if self.state is not None:  # zero the rows that start a record
                keep = (~b.reset).to(torch.float32)[None, :, None]
                self.state = tuple(s * keep for s in self.state)
            out, state = self.lstm((b.u - um) / us, self.state)
            err = (self.head(out) - (b.y - ym) / ys).abs()
            loss = err.mean() if b.mask is None else err[b.mask].mean()
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            self.state = tuple(s.detach() for s in state)  # the truncation
        return load_s


def build(path: str, lazy: bool):
    from tbptt_kit.data.streams import create_stream_dls

    valid = Path(path).with_name("valid.h5")  # a short record beside it, not trained on
    # one record in 16 rows: cut into 16 streams, each piece from a zero state
    return create_stream_dls(
        path, valid, bs=BS, sub_seq_len=SUB_SEQ_LEN, lazy=lazy, cut_records=True
    )


def peak_rss_mib() -> float:
    """This process's peak resident memory: VmHWM on Linux (ru_maxrss survives exec there, so
    a child could report its parent's peak), ru_maxrss elsewhere."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_memory(path: str, mode: str, steps: int) -> dict:
    """Peak RSS of this (fresh) process: build one loader, train ``steps`` steps."""
    rss_after_imports = peak_rss_mib()
    start = time.perf_counter()
    dls = build(path, lazy=mode == "lazy")
    build_s = time.perf_counter() - start
    Trainer(dls).steps(steps)
    peak = peak_rss_mib()
    return dict(peak_mib=peak, growth_mib=peak - rss_after_imports, build_s=build_s)


def child_speed(path: str, steps: int, block: int = 50) -> dict:
    """Both loaders in one process, taking turns every ``block`` steps, each with its own
    model: the same load on the machine for both, so their ratio is fair."""
    trainers = {"lazy": Trainer(build(path, lazy=True)), "memory": Trainer(build(path, lazy=False))}
    wall, cpu, load = ({m: 0.0 for m in trainers} for _ in range(3))
    for tr in trainers.values():
        tr.steps(20)  # warm-up, untimed
    for i in range(0, steps, block):
        for mode, tr in trainers.items() if i % (2 * block) == 0 else reversed(trainers.items()):
            w, c = time.perf_counter(), time.process_time()
            load[mode] += tr.steps(min(block, steps - i))
            wall[mode] += time.perf_counter() - w
            cpu[mode] += time.process_time() - c
    samples = steps * BS * SUB_SEQ_LEN
    return {
        m: dict(
            samples_per_s=samples / wall[m],
            cpu_samples_per_s=samples / cpu[m],
            step_ms=1e3 * wall[m] / steps,
            loader_ms=1e3 * load[m] / steps,
        )
        for m in trainers
    }


def run_child(*child_args, threads: int) -> dict:
    """Run ``--child ...`` in a fresh Python, the record dropped from the page cache first."""
    drop_from_page_cache(Path(child_args[1]))
    cmd = [sys.executable, __file__, "--threads", str(threads), "--child", *map(str, child_args)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1e6 and 1e7 samples, fewer steps")
    parser.add_argument("--lengths", type=float, nargs=2, help="the two record lengths")
    parser.add_argument("--steps", type=int, help="timed steps per loader (speed)")
    parser.add_argument("--memory-steps", type=int, help="steps trained when measuring memory")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", help="where the records go (default: a temporary folder)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        sys.path.insert(0, str(ROOT))
        import tbptt_kit.data.streams  # noqa: F401  (imported before the baseline is read)

        kind, *rest = args.child
        res = (
            child_memory(rest[0], rest[1], int(rest[2]))
            if kind == "memory"
            else child_speed(rest[0], int(rest[1]))
        )
        print(json.dumps(res))
        return
    lengths = [int(x) for x in args.lengths or ((1e6, 1e7) if args.quick else (1e7, 1e8))]
    steps = args.steps or (300 if args.quick else 3000)
    memory_steps = args.memory_steps or (100 if args.quick else 500)
    folder = Path(args.data_dir or tempfile.mkdtemp(prefix="long_record_"))
    folder.mkdir(parents=True, exist_ok=True)
    need = 8 * sum(lengths)
    if shutil.disk_usage(folder).free < 1.2 * need:
        free = shutil.disk_usage(folder).free
        sys.exit(f"{folder} has {free / 1e9:.1f} GB free; the records need {need / 1e9:.1f} GB.")
    start = time.perf_counter()
    mem, speed = {}, {}
    try:
        write_long_record(folder / "valid.h5", 100_000, seed=1)
        for n in lengths:
            path = folder / f"record_{n}.h5"
            if not path.exists():
                t = time.perf_counter()
                write_long_record(path, n)
                print(
                    f"wrote {path} ({n:,} samples) in {time.perf_counter() - t:.1f} s", flush=True
                )
            for mode in ("lazy", "memory"):
                mem[n, mode] = run_child("memory", path, mode, memory_steps, threads=args.threads)
                print(f"n={n:,} {mode}: peak RSS {mem[n, mode]['peak_mib']:.0f} MiB", flush=True)
            speed[n] = run_child("speed", path, steps, threads=args.threads)
            print(
                f"n={n:,}: lazy {speed[n]['lazy']['samples_per_s']:,.0f} samples/s, "
                f"in-memory {speed[n]['memory']['samples_per_s']:,.0f}",
                flush=True,
            )
    finally:
        if not args.data_dir:
            shutil.rmtree(folder)
    print_table(mem, speed, lengths, steps, memory_steps, args.threads)
    print(f"\nwhole run: {time.perf_counter() - start:.0f} s")


def print_table(mem, speed, lengths, steps, memory_steps, threads) -> None:
    print(
        f"\nbs {BS}, sub_seq_len {SUB_SEQ_LEN}, LSTM {HIDDEN}, {threads} thread(s); memory: "
        f"{memory_steps} steps after the build; speed: {steps} steps per loader, interleaved\n"
    )
    print(
        "| record (samples) | loader | peak RSS (MiB) | growth after imports (MiB) | "
        "build incl. statistics pass (s) | step (ms) | of which loader (ms) | "
        "samples/s (wall) | samples/s (CPU) |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for n in lengths:
        for mode, name in (("lazy", "lazy"), ("memory", "in-memory")):
            m, s = mem[n, mode], speed[n][mode]
            print(
                f"| {n:,} | {name} | {m['peak_mib']:.0f} | {m['growth_mib']:.1f} | "
                f"{m['build_s']:.2f} | {s['step_ms']:.2f} | {s['loader_ms']:.3f} | "
                f"{s['samples_per_s']:,.0f} | {s['cpu_samples_per_s']:,.0f} |"
            )
    a, b = (mem[n, "lazy"] for n in lengths)
    print(
        f"\nlazy loader, {lengths[1]:,} against {lengths[0]:,} samples: peak RSS ratio "
        f"{b['peak_mib'] / a['peak_mib']:.3f} (growth after imports {b['growth_mib']:.1f} "
        f"against {a['growth_mib']:.1f} MiB)"
    )
    for n in lengths:
        wall = speed[n]["lazy"]["samples_per_s"] / speed[n]["memory"]["samples_per_s"]
        cpu = speed[n]["lazy"]["cpu_samples_per_s"] / speed[n]["memory"]["cpu_samples_per_s"]
        extra = speed[n]["lazy"]["loader_ms"] - speed[n]["memory"]["loader_ms"]
        share = extra / speed[n]["memory"]["step_ms"]
        verdict = "met" if wall >= 0.9 else "NOT met"
        print(
            f"n={n:,}: lazy / in-memory samples per second {wall:.2f} wall, {cpu:.2f} CPU: "
            f"{verdict} (target >= 0.9); the lazy loader's own extra time: {extra:+.3f} ms a "
            f"step, {100 * share:+.1f}% of the in-memory step"
        )


if __name__ == "__main__":
    main()
