"""Train from a terminal or a batch scheduler: ``python -m tbptt_kit.train`` (or ``tbptt-kit``).

The same run as a notebook's ``RNNLearner``, its arguments as flags. It writes, into
``--out``, ``log.jsonl`` (one line per step: step, loss, samples, seconds, world_size; one
per epoch with the validation scores) and ``model.pt`` (``Learner.save``), and shows the
progress bar. Under torchrun the same command trains on several processes:

    python -m tbptt_kit.train --data text --bs 32 --sub-seq-len 100 --hidden-size 128
    torchrun --nproc_per_node=2 -m tbptt_kit.train --data text --bs 32 --sub-seq-len 100 ...

``--bs`` stays the global number of rows (streams or windows); each rank takes its
contiguous share (``tbptt_kit.distributed``), and only rank 0 writes files or prints.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from ..core.learner import Callback
from ..course.losses import bits_per_char, fun_rmse
from ..course.rnn_learner import RNNLearner
from ..data.loaders import create_dls, create_stream_dls
from ..data.silverbox import TEST_NAMES, create_dls_silverbox, load_silverbox, silverbox_split
from ..data.text import create_dls_text
from . import distributed

__all__ = ["JsonLogCB", "build", "launch", "main", "parser", "read_log", "samples_per_s"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tbptt-kit",
        description="Train a stateful RNN with (truncated) BPTT; under torchrun on several "
        "processes (DDP).",
    )
    data = p.add_argument_group("data")
    data.add_argument("--data", choices=["silverbox", "text", "hdf5"], default="silverbox")
    data.add_argument(
        "--layout",
        choices=["windows", "streams"],
        default=None,
        help="silverbox: windows (default) or streams; hdf5: streams (default) or windows; text: streams",
    )
    data.add_argument("--train", nargs="+", help="--data hdf5: training records (u0, y0)")
    data.add_argument("--valid", nargs="+", help="--data hdf5: validation records")
    data.add_argument(
        "--text",
        help="--data text: a UTF-8 file, documents parted by form "
        "feeds (default: the kit's corpus)",
    )
    data.add_argument("--bs", type=int, default=16, help="global rows per batch, all ranks")
    data.add_argument("--valid-bs", type=int, default=None)
    data.add_argument("--win-sz", type=int, default=500)
    data.add_argument("--stp-sz", type=int, default=10)
    data.add_argument("--sub-seq-len", type=int, default=None, help="k1; none: full BPTT")
    data.add_argument("--max-batches", type=int, default=None, help="streams: steps per epoch")
    model = p.add_argument_group("model and training (RNNLearner's arguments)")
    model.add_argument("--rnn-type", choices=["lstm", "gru", "rnn"], default="lstm")
    model.add_argument("--hidden-size", type=int, default=40)
    model.add_argument("--num-layers", type=int, default=1)
    model.add_argument("--bptt", choices=["full", "truncated"], default=None)
    model.add_argument("--n-skip", type=int, default=0)
    model.add_argument("--clip-grad", type=float, default=None)
    model.add_argument("--epochs", type=int, default=10)
    model.add_argument("--lr", type=float, default=3e-3)
    model.add_argument(
        "--schedule", choices=["flat_cos", "one_cycle", "constant"], default="flat_cos"
    )
    model.add_argument("--seed", type=int, default=0)
    run = p.add_argument_group("run")
    run.add_argument("--out", default="tbptt-run", help="folder for log.jsonl and model.pt")
    run.add_argument("--device", default="auto", help="auto: this rank's GPU if any, else cpu")
    run.add_argument("--ddp", action="store_true", help="require torchrun (else: auto)")
    run.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds a rank waits for the others before it fails",
    )
    run.add_argument("--no-progress", action="store_true")
    return p


def device_for(name: str) -> torch.device:
    """ "auto": this rank's GPU (LOCAL_RANK) when CUDA is there, else the CPU."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def make_dls(args, device):
    """The global loaders the flags describe (every rank builds the same)."""
    kw = dict(bs=args.bs, seed=args.seed, device=device)
    if args.data == "text":
        text = None if args.text is None else Path(args.text).read_text(encoding="utf-8")
        text = text.split("\f") if text is not None else None  # form feeds part documents
        dls = create_dls_text(
            text, sub_seq_len=args.sub_seq_len or 100, valid_bs=args.valid_bs, **kw
        )
        dls.train.max_batches = args.max_batches
        return dls
    if (args.layout or ("windows" if args.data == "silverbox" else "streams")) == "windows":
        if args.data == "silverbox":
            return create_dls_silverbox(
                win_sz=args.win_sz, stp_sz=args.stp_sz, sub_seq_len=args.sub_seq_len, **kw
            )
        return create_dls(
            args.train,
            args.valid,
            win_sz=args.win_sz,
            stp_sz=args.stp_sz,
            sub_seq_len=args.sub_seq_len,
            **kw,
        )
    kw.update(
        sub_seq_len=args.sub_seq_len or 100, valid_bs=args.valid_bs, max_batches=args.max_batches
    )
    if args.data == "silverbox":
        parts = silverbox_split(*load_silverbox())
        test = {name: parts[name] for name in TEST_NAMES}
        return create_stream_dls(parts["train"], parts["valid"], test, units=("mV", 1e3), **kw)
    return create_stream_dls(list(args.train), list(args.valid), **kw)


def check_args(args) -> None:
    """Raise a ValueError for flags that do not go together."""
    if args.data == "hdf5" and not (args.train and args.valid):
        raise ValueError("--data hdf5 needs --train and --valid record files.")
    if args.data == "text" and args.layout == "windows":
        raise ValueError("--data text is served as streams only: leave out --layout.")
    if (
        args.layout != "windows"
        and args.data != "silverbox"
        and args.bptt == "full"
        or (args.layout == "streams" and args.bptt == "full")
    ):
        raise ValueError("the stream layout trains with truncated BPTT: leave out --bptt full.")


def build(argv=None, cbs=()):
    """(args, rank, world_size, learner) for these flags; joins the process group if torchrun
    started this process. The learner's loaders hold this rank's rows only."""
    args = parser().parse_args(argv)
    check_args(args)
    device = device_for(args.device)
    rank, world_size = distributed.start(args.ddp, args.timeout, device)
    dls = make_dls(args, device)
    if dls.layout == "streams":
        args.sub_seq_len = dls.sub_seq_len
    dls = distributed.shard_dls(dls, rank, world_size)
    extras = [distributed.DistributedCB()] if world_size > 1 else []
    if rank == 0:
        extras.append(JsonLogCB(Path(args.out), world_size, vars(args)))
    metrics = [bits_per_char] if args.data == "text" else [fun_rmse]
    learn = RNNLearner(
        dls,
        args.rnn_type,
        args.hidden_size,
        args.num_layers,
        args.sub_seq_len,
        metrics,
        n_skip=args.n_skip,
        seed=args.seed,
        cbs=[*extras, *cbs],
        bptt=args.bptt,
        progress=rank == 0 and not args.no_progress,
        act_mem=False,
        clip_grad=args.clip_grad,
    )
    return args, rank, world_size, learn


class JsonLogCB(Callback):
    """Rank 0's record of the run: ``log.jsonl`` (a line per step and per epoch, flushed)
    and ``model.pt`` after every epoch (``Learner.save``, the bare model's weights)."""

    order = 50  # after the recorder (30): the row of the epoch is there

    def __init__(self, out: Path, world_size: int, settings: dict):
        self.out, self.world_size, self.settings = out, world_size, settings

    def before_fit(self, learn):
        self.out.mkdir(parents=True, exist_ok=True)
        self.file = open(self.out / "log.jsonl", "w", encoding="utf-8")
        self.write(event="start", settings=self.settings)
        self.start, self.step, self.samples = time.perf_counter(), 0, 0

    def after_batch(self, learn):
        if not learn.training:
            return
        n = getattr(learn, "batch_samples", None)  # the global count (DistributedCB)
        if n is None:
            n = len(learn.kept(learn.batch.y, learn.batch)[1])
        self.step, self.samples = self.step + 1, self.samples + n
        self.write(step=self.step, epoch=learn.epoch, loss=learn.loss.item(), samples=self.samples)

    def after_epoch(self, learn):
        names = ["valid_loss", *(m.__name__ for m in learn.metrics)]
        self.write(event="epoch", epoch=learn.epoch, **dict(zip(names, learn.valid_scores)))
        learn.save(self.out / "model.pt")

    def after_fit(self, learn):
        self.file.close()

    def write(self, **row):
        row.update(seconds=time.perf_counter() - self.start if "step" in row else None)
        row["world_size"] = self.world_size
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()


def fit(learn, args) -> None:
    """The schedule the flags name."""
    schedule = {"flat_cos": learn.fit_flat_cos, "one_cycle": learn.fit_one_cycle}
    schedule.get(args.schedule, learn.fit)(args.epochs, args.lr)


def main(argv=None, cbs=()) -> int:
    """Train as the flags say; the exit status (0: done)."""
    joined_here = not torch.distributed.is_initialized()
    try:
        args, rank, world_size, learn = build(argv, cbs)
    except ValueError as e:
        print(f"tbptt-kit: error: {e}", file=sys.stderr)
        return 2
    try:
        fit(learn, args)
        if learn.dls.test:
            scores = distributed.score(learn)
            if rank == 0:
                print("free-run test RMSE:", {k: round(v, 3) for k, v in scores.items()})
        if world_size > 1:
            torch.distributed.barrier()  # every rank done: then each leaves the group
    except RuntimeError as e:  # another rank died or hung: say so, exit
        if not lost_contact(e, world_size):
            raise
        print(
            f"tbptt-kit: rank {rank} of {world_size}: lost contact with the other ranks "
            f"({type(e).__name__}: {str(e).splitlines()[0]}). Another rank has probably "
            f"died or hangs: its own error is in torchrun's summary.",
            file=sys.stderr,
        )
        return 1
    finally:
        if joined_here and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    return 0


def lost_contact(e: RuntimeError, world_size: int) -> bool:
    """Is ``e`` a collective that failed because another rank is gone or stuck?"""
    said = ("gloo", "nccl", "connection", "timed out", "timeout", "closed by peer")
    return world_size > 1 and (
        isinstance(e, torch.distributed.DistError) or any(w in str(e).lower() for w in said)
    )


# -- for notebooks and benchmarks: the command in new processes, and its log -------------
def launch(flags: list[str], n_proc: int = 1, out=None, timeout: float = 600) -> list[dict]:
    """Run this command with ``flags`` in new processes: alone (``n_proc=1``) or under
    ``torchrun --standalone --nproc_per_node=n_proc``, one thread each. Returns the rows
    of its log (``read_log``); raises a RuntimeError with the output when it fails."""
    out = Path(out or "tbptt-run")
    cmd = [sys.executable, "-m", "tbptt_kit.train"]
    if n_proc > 1:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={n_proc}",
            "-m",
            "tbptt_kit.train",
        ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TBPTT_KIT_THREADS": "1"}
    done = subprocess.run(
        [*cmd, *flags, "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return read_log(out)


def read_log(out) -> list[dict]:
    """The rows of ``out/log.jsonl``: the start, one per step, one per epoch."""
    return [json.loads(line) for line in open(Path(out) / "log.jsonl", encoding="utf-8")]


def samples_per_s(rows: list[dict], warm: int = 5) -> float:
    """Samples (kept steps) per second over a log's steps after the first ``warm``."""
    steps = [r for r in rows if "step" in r]
    a, b = steps[warm - 1], steps[-1]
    return (b["samples"] - a["samples"]) / (b["seconds"] - a["seconds"])


if __name__ == "__main__":
    sys.exit(main())
