"""Train from a terminal or a batch scheduler: ``python -m tbptt_kit`` (or ``tbptt-kit``).

The same run as a notebook's ``RNNLearner``, its arguments as flags. It writes, into
``--out``, ``log.jsonl`` (one line per step: step, loss, samples, seconds, world_size; one
per epoch with the validation scores) and ``model.pt`` (``RNNLearner.save``), and shows the
progress bar. Under torchrun the same command trains on several processes:

    python -m tbptt_kit --data text --bs 32 --sub-seq-len 100 --hidden-size 128
    torchrun --nproc_per_node=2 -m tbptt_kit --data text --bs 32 --sub-seq-len 100 ...

``--bs`` stays the global number of rows (streams or windows); each rank takes its
contiguous share (``tbptt_kit.tooling.distributed``), and only rank 0 writes files or prints.

A flag that is wrong, or a file that is not there, ends the command with one line on stderr
that names the flag and what it takes, and exit status 2; a folder that already holds a run
is never written over without ``--overwrite``.
"""

from __future__ import annotations

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
from ..modes import BPTT
from . import distributed
from .flags import FlagError, check_args, layout_of, parser, speak_flags

__all__ = ["FlagError", "JsonLogCB", "build", "launch", "main", "parser", "read_log"]
__all__ += ["samples_per_s"]


def device_for(name: str) -> torch.device:
    """The device --device names. "auto": this rank's GPU (LOCAL_RANK) when CUDA is there,
    else the CPU; "cuda" under torchrun: this rank's GPU."""
    local = int(os.environ.get("LOCAL_RANK", 0))
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    valid = "auto, cpu, cuda, cuda:N or mps"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise FlagError(f"--device {name!r} is not a device: use {valid}.") from None
    if device.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise FlagError(
                f"--device {name}: torch sees no CUDA GPU on this machine: use --device cpu "
                f"(or auto)."
            )
        index = local if device.index is None else device.index
        if index >= n:
            raise FlagError(f"--device {name}: this machine has {n} GPU(s), cuda:0..cuda:{n - 1}.")
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise FlagError(f"--device {name}: MPS (Apple's GPU) is not available here: use cpu.")
    if device.type not in ("cpu", "cuda", "mps"):
        raise FlagError(f"--device {name}: the kit trains on {valid}.")
    return device


def check_model_size(args, n_u: int) -> None:
    """Refuse, before allocating, a model whose weights alone could not fit in memory."""
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[args.rnn_type]
    h, layers = args.hidden_size, args.num_layers
    n_weights = gates * h * (n_u + h + 2) + (layers - 1) * gates * h * (2 * h + 2) + h * n_u
    have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if n_weights * 4 > have / 2:
        raise FlagError(
            f"--hidden-size {h} --num-layers {layers}: the weights alone take "
            f"{n_weights * 4 / 2**30:,.1f} GiB, more than half of this machine's "
            f"{have / 2**30:,.1f} GiB: choose a smaller --hidden-size."
        )


# -- the loaders and the learner ----------------------------------------------------------
def make_dls(args, device, bptt: BPTT):
    """The global loaders the flags describe (every rank builds the same)."""
    kw = dict(bs=args.bs, seed=args.seed, device=device)
    if args.data == "text":
        text = None
        if args.text is not None:
            try:
                text = Path(args.text).read_text(encoding="utf-8").split("\f")  # documents
            except UnicodeDecodeError as e:
                raise FlagError(f"--text {args.text} is not UTF-8 text ({e.reason}).") from None
        sub_seq_len = bptt.loader_sub_seq_len
        dls = create_dls_text(text, sub_seq_len=sub_seq_len, valid_bs=args.valid_bs, **kw)
        dls.train.max_batches = args.max_batches
        return dls
    if layout_of(args) == "windows":
        windows = dict(win_sz=args.win_sz, stp_sz=args.stp_sz, sub_seq_len=bptt.loader_sub_seq_len)
        if args.data == "silverbox":
            return create_dls_silverbox(**windows, **kw)
        return create_dls(args.train, args.valid, **windows, **kw)
    kw.update(sub_seq_len=bptt.loader_sub_seq_len, valid_bs=args.valid_bs)
    kw.update(max_batches=args.max_batches)
    if args.data == "silverbox":  # one training record: its streams are pieces of it
        parts = silverbox_split(*load_silverbox())
        test = {name: parts[name] for name in TEST_NAMES}
        return create_stream_dls(
            parts["train"], parts["valid"], test, units=("mV", 1e3), cut_records=True, **kw
        )
    return create_stream_dls(list(args.train), list(args.valid), cut_records=args.cut_records, **kw)


def build(argv=None, cbs=()):
    """(args, rank, world_size, learner) for these flags; joins the process group if torchrun
    started this process. The learner's loaders hold this rank's rows only. A FlagError
    (a ValueError) for flags the run cannot use."""
    args = parser().parse_args(argv)
    bptt = check_args(args)
    vars(args).update(mode=bptt.mode, label=bptt.label)  # what the log's settings record
    device = device_for(args.device)
    try:
        rank, world_size = distributed.start(args.ddp, args.timeout, device)
    except ValueError as e:  # --ddp without torchrun
        raise FlagError(str(e)) from None
    try:
        dls = make_dls(args, device, bptt)
        check_model_size(args, dls.n_u if getattr(dls, "vocab", None) is None else len(dls.vocab))
    except FlagError:
        raise
    except ValueError as e:
        raise FlagError(speak_flags(str(e))) from e
    try:
        dls = distributed.shard_dls(dls, rank, world_size)
    except ValueError as e:
        raise FlagError(speak_flags(str(e))) from e
    extras = [distributed.DistributedCB()] if world_size > 1 else []
    if rank == 0:
        extras.append(JsonLogCB(Path(args.out), world_size, vars(args)))
    metrics = [bits_per_char] if args.data == "text" else [fun_rmse]
    try:
        learn = RNNLearner(
            dls,
            args.rnn_type,
            args.hidden_size,
            args.num_layers,
            metrics=metrics,
            n_skip=args.n_skip,
            seed=args.seed,
            cbs=[*extras, *cbs],
            bptt=bptt,
            progress=rank == 0 and not args.no_progress,
            act_mem=False,
            clip_grad=args.clip_grad,
        )
    except ValueError as e:
        raise FlagError(speak_flags(str(e))) from e
    return args, rank, world_size, learn


class JsonLogCB(Callback):
    """Rank 0's record of the run: ``log.jsonl`` (a line per step and per epoch, flushed)
    and ``model.pt`` after every epoch (``RNNLearner.save``, the bare model's weights).
    A run it replaces (``--overwrite``) goes when training starts, both files together."""

    order = 50  # after the recorder (30): the row of the epoch is there

    def __init__(self, out: Path, world_size: int, settings: dict):
        self.out, self.world_size, self.settings = out, world_size, settings
        self.file = None

    def before_fit(self, learn):
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "model.pt").unlink(missing_ok=True)  # no old weights beside a new log
        self.file = open(self.out / "log.jsonl", "w", encoding="utf-8")
        self.start, self.step, self.samples = time.perf_counter(), 0, 0
        self.write(event="start", settings=self.settings)

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
        if self.file is not None:
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
    """Train as the flags say; the exit status: 0 done, 1 failed while training (a lost
    rank, a file that could not be written), 2 flags or files it cannot use (one line on
    stderr, no traceback), 130 interrupted."""
    joined_here = not torch.distributed.is_initialized()
    rank, world_size = 0, 1
    try:
        try:
            args, rank, world_size, learn = build(argv, cbs)
        except SystemExit as e:  # --help
            return int(e.code or 0)
        except FlagError as e:
            return error(f"{e} (tbptt-kit --help lists the flags)", 2)
        try:
            fit(learn, args)
        except ValueError as e:  # a refusal before the first step (e.g. the memory budget)
            return error(speak_flags(str(e)), 2)
        if learn.dls.test:
            scores = distributed.score(learn)
            if rank == 0:
                print("free-run test RMSE:", {k: round(v, 3) for k, v in scores.items()})
        if world_size > 1:
            torch.distributed.barrier()  # every rank done: then each leaves the group
    except OSError as e:  # --out filled up or went away while training
        return error(f"cannot write the run: {e}", 1)
    except KeyboardInterrupt:
        return error("interrupted: model.pt holds the last finished epoch, if any.", 130)
    except RuntimeError as e:  # another rank died or hung: say so, exit
        if not lost_contact(e, world_size):
            raise
        return error(
            f"rank {rank} of {world_size}: lost contact with the other ranks "
            f"({type(e).__name__}: {str(e).splitlines()[0]}). Another rank has probably "
            f"died or hangs: its own error is in torchrun's summary.",
            1,
        )
    finally:
        if joined_here and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    return 0


def error(message: str, status: int) -> int:
    """Say ``message`` on one line of stderr; the exit status."""
    print(f"tbptt-kit: error: {' '.join(message.split())}", file=sys.stderr)
    return status


def lost_contact(e: RuntimeError, world_size: int) -> bool:
    """Is ``e`` a collective that failed because another rank is gone or stuck?"""
    said = ("gloo", "nccl", "connection", "timed out", "timeout", "closed by peer")
    return world_size > 1 and (
        isinstance(e, torch.distributed.DistError) or any(w in str(e).lower() for w in said)
    )


# -- for notebooks and benchmarks: the command in new processes, and its log -------------
def launch(flags: list[str], n_proc: int = 1, out=None, timeout: float = 600) -> list[dict]:
    """Run this command with ``flags`` in new processes: alone (``n_proc=1``) or under
    ``torchrun --standalone --nproc_per_node=n_proc``, one thread each, into ``out``
    (replacing a run there). Returns the rows of its log (``read_log``); raises a
    RuntimeError with the output when it fails."""
    out = Path(out or "tbptt-run")
    cmd = [sys.executable, "-m", "tbptt_kit"]
    if n_proc > 1:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={n_proc}",
            "-m",
            "tbptt_kit",
        ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TBPTT_KIT_THREADS": "1"}
    done = subprocess.run(
        [*cmd, *flags, "--out", str(out), "--overwrite", "--no-progress"],
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
