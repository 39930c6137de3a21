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

import argparse
import itertools
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import h5py
import torch

from ..core.learner import Callback
from ..core.model import RNN_TYPES
from ..course.losses import bits_per_char, fun_rmse
from ..course.rnn_learner import RNNLearner
from ..data.loaders import create_dls, create_stream_dls
from ..data.silverbox import TEST_NAMES, create_dls_silverbox, load_silverbox, silverbox_split
from ..data.text import create_dls_text
from ..modes import BPTT, MODES, Truncation
from . import distributed

__all__ = ["FlagError", "JsonLogCB", "build", "launch", "main", "parser", "read_log"]
__all__ += ["samples_per_s"]

RUN_FILES = ("log.jsonl", "model.pt")  # what a run writes into --out
MAX_SEED = 2**32 - 1
STREAM_SUB_SEQ_LEN = 100  # the stream layout's k1 when --sub-seq-len is not given
WINDOW_DEFAULTS = {"win_sz": 500, "stp_sz": 10}  # the window layout's, when not given
# library argument -> the flag that sets it, for the library's error messages
FLAG_OF = {"n_epoch": "--epochs", "mean_len": "--truncation-mean"}
LENGTH_FLAGS = {  # BPTT's lengths and the flags that give them
    "sub_seq_len": "--sub-seq-len",
    "backprop_len": "--backprop-len",
    "truncation": "--truncation-mean",
}


class FlagError(ValueError):
    """A flag, a flag's value or a file named by a flag that the command cannot use."""


class Parser(argparse.ArgumentParser):
    """argparse, but a wrong flag is a ``FlagError`` (one line), not usage text and exit."""

    def error(self, message):
        raise FlagError(re.sub(r"^argument ([^:]+): ", r"\1: ", message))


def whole(minimum: int, maximum: int | None = None):
    """An argparse type: a whole number in [minimum, maximum]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            upto = f" and <= {maximum}" if maximum is not None else ""
            raise argparse.ArgumentTypeError(
                f"takes a whole number >= {minimum}{upto}, got {text!r}"
            )
        return value

    return parse


def number(above: float):
    """An argparse type: a finite number > ``above``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > above):
            raise argparse.ArgumentTypeError(f"takes a finite number > {above:g}, got {text!r}")
        return value

    return parse


def parser() -> argparse.ArgumentParser:
    p = Parser(
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
        help="silverbox: windows (default) or streams (its one training record cut into "
        "--bs streams); hdf5: streams (default) or windows; text: streams",
    )
    data.add_argument("--train", nargs="+", help="--data hdf5: training records (u0, y0)")
    data.add_argument("--valid", nargs="+", help="--data hdf5: validation records")
    data.add_argument(
        "--text",
        help="--data text: a UTF-8 file, documents parted by form feeds (default: the kit's "
        "corpus)",
    )
    data.add_argument("--bs", type=whole(1), default=16, help="global rows per batch, all ranks")
    data.add_argument("--valid-bs", type=whole(1), default=None, help="streams: validation rows")
    data.add_argument("--win-sz", type=whole(1), default=None, help="windows: steps (500)")
    data.add_argument("--stp-sz", type=whole(1), default=None, help="windows: stride (10)")
    data.add_argument(
        "--sub-seq-len",
        type=whole(1),
        default=None,
        help=f"k1: steps per optimizer step (checkpointed: per chunk); streams: "
        f"{STREAM_SUB_SEQ_LEN} if not given; windows: none is full BPTT",
    )
    data.add_argument("--max-batches", type=whole(1), default=None, help="streams: steps per epoch")
    data.add_argument(
        "--cut-records",
        action="store_true",
        help="--data hdf5 --layout streams: cut the records laid end to end into --bs streams "
        "(each piece starts from a zero state); silverbox streams always are",
    )
    model = p.add_argument_group("model and training (RNNLearner's arguments)")
    model.add_argument("--rnn-type", choices=sorted(RNN_TYPES), default="lstm")
    model.add_argument("--hidden-size", type=whole(1), default=40)
    model.add_argument("--num-layers", type=whole(1), default=1)
    model.add_argument(
        "--mode",
        choices=list(MODES),
        default=None,
        help="how far back the gradient reaches (tbptt_kit.modes); default: truncated with "
        "--sub-seq-len or on streams, else full",
    )
    model.add_argument(
        "--backprop-len", type=whole(1), default=None, help="truncated: k2 >= k1, TBPTT(k1, k2)"
    )
    model.add_argument(
        "--truncation-mean",
        type=number(1),
        default=None,
        help="randomized (ARTBP): mean steps between random cuts, > 1",
    )
    model.add_argument("--bptt", choices=list(MODES), default=None, help="old name of --mode")
    model.add_argument("--n-skip", type=whole(0), default=0)
    model.add_argument("--clip-grad", type=number(0), default=None)
    model.add_argument("--epochs", type=whole(1), default=10)
    model.add_argument("--lr", type=number(0), default=3e-3)
    model.add_argument(
        "--schedule", choices=["flat_cos", "one_cycle", "constant"], default="flat_cos"
    )
    model.add_argument("--seed", type=whole(0, MAX_SEED), default=0)
    run = p.add_argument_group("run")
    run.add_argument("--out", default="tbptt-run", help="folder for log.jsonl and model.pt")
    run.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    run.add_argument(
        "--device",
        default="auto",
        help="auto (this rank's GPU if any, else cpu), cpu, cuda, cuda:N, mps",
    )
    run.add_argument("--ddp", action="store_true", help="require torchrun (else: auto)")
    run.add_argument(
        "--timeout",
        type=number(0),
        default=300.0,
        help="seconds a rank waits for the others before it fails",
    )
    run.add_argument("--no-progress", action="store_true")
    return p


# -- checking the flags, before anything is loaded or trained -----------------------------
def layout_of(args) -> str:
    """The layout the flags ask for: the data's default unless --layout says."""
    return args.layout or ("windows" if args.data == "silverbox" else "streams")


def check_args(args) -> BPTT:
    """The mode the flags name; a FlagError for flags that do not go together, or files that
    are not there."""
    layout, given = layout_of(args), lambda name: getattr(args, name) not in (None, False)
    if args.data == "text" and args.layout == "windows":
        raise FlagError("--data text is served as streams only: leave out --layout.")
    if args.data == "hdf5" and not (args.train and args.valid):
        raise FlagError("--data hdf5 needs --train and --valid record files (u0, y0).")
    for name, goes_with in (
        ("train", args.data == "hdf5"),
        ("valid", args.data == "hdf5"),
        ("text", args.data == "text"),
        ("win_sz", layout == "windows"),
        ("stp_sz", layout == "windows"),
        ("valid_bs", layout == "streams"),
        ("max_batches", layout == "streams"),
        ("cut_records", args.data == "hdf5" and layout == "streams"),
    ):
        if given(name) and not goes_with:
            where = {"train": "--data hdf5", "valid": "--data hdf5", "text": "--data text"}
            where["cut_records"] = "--data hdf5 --layout streams"
            raise FlagError(
                f"{flag(name)} goes with {where.get(name, f'the {other(layout)} layout')}, "
                f"not with --data {args.data} --layout {layout}: leave it out."
            )
    bptt = check_mode(args, layout)
    for name in ("train", "valid"):
        for path in getattr(args, name) or ():
            check_file(name, path)
            if not h5py.is_hdf5(path):
                raise FlagError(f"--{name} {path} is not an HDF5 file (with datasets u0, y0).")
    if args.text is not None:
        check_file("text", args.text)
    check_out(args)
    return bptt


def other(layout: str) -> str:
    return "windows" if layout == "streams" else "streams"


def flag(name: str) -> str:
    """--the-flag of an argument's name."""
    return FLAG_OF.get(name, "--" + name.replace("_", "-"))


def check_mode(args, layout: str) -> BPTT:
    """The mode the flags name, with the lengths it takes. Which flags a mode takes or needs
    is asked of the modes themselves (``tbptt_kit.modes``), by building it."""
    flags = vars(args)
    mode, old = flags["mode"], flags.pop("bptt")
    if old is not None:
        if mode not in (None, old):
            raise FlagError(f"--bptt {old} and --mode {mode} disagree: give --mode only.")
        print("tbptt-kit: note: --bptt is now --mode (--bptt will go).", file=sys.stderr)
        mode = flags["mode"] = old
    carries = mode is None or MODES[mode].carries_state
    if layout == "streams" and flags["sub_seq_len"] is None and carries:
        flags["sub_seq_len"] = STREAM_SUB_SEQ_LEN
    mean = flags["truncation_mean"]
    lengths = {
        "sub_seq_len": flags["sub_seq_len"],
        "backprop_len": flags["backprop_len"],
        "truncation": None if mean is None else Truncation(mean_len=mean, seed=flags["seed"]),
    }
    if layout == "streams" and not carries:
        carrying = [name for name, cls in MODES.items() if cls.carries_state]
        raise FlagError(
            f"--mode {mode} backpropagates through whole windows, and the stream layout has "
            f"none: use --mode {' or '.join(carrying)}, or --layout windows."
        )
    try:
        bptt = BPTT.of(mode=mode, **lengths)
    except (TypeError, ValueError) as e:
        raise FlagError(explain_mode(mode, lengths, e)) from None
    return bptt


def explain_mode(mode, lengths: dict, e: Exception) -> str:
    """Why ``BPTT.of(mode=mode, **lengths)`` failed, in flags: a length the mode takes no
    part of, or one it needs; else the library's own message."""
    says = f"--mode {mode}" if mode else "the default mode (full; truncated with --sub-seq-len)"
    k1 = lengths["sub_seq_len"] or STREAM_SUB_SEQ_LEN
    sample = {"sub_seq_len": k1, "backprop_len": 2 * k1, "truncation": Truncation(mean_len=16)}
    shown = {"sub_seq_len": k1, "backprop_len": 2 * k1, "truncation": 16}

    def builds(m, **change) -> bool:
        try:
            BPTT.of(mode=m, **{**lengths, **change})
        except (TypeError, ValueError):
            return False
        return True

    for name, value in lengths.items():
        if value is None and builds(mode, **{name: sample[name]}):
            return f"{says} needs {LENGTH_FLAGS[name]}, e.g. {LENGTH_FLAGS[name]} {shown[name]}."
        if value is not None and builds(mode, **{name: None}):
            if not builds(mode, **{name: sample[name]}):
                others = [k for k in lengths if k != name]
                takers = [
                    m
                    for m in MODES
                    if any(
                        builds(m, **{name: sample[name], **dict(zip(others, values))})
                        for values in itertools.product(*([None, sample[k]] for k in others))
                    )
                ]
                return (
                    f"{says} takes no {LENGTH_FLAGS[name]} (it goes with --mode "
                    f"{' or '.join(takers)}): leave it out."
                )
    return speak_flags(str(e))


def check_file(name: str, path: str) -> None:
    if not Path(path).is_file():
        what = "is a folder" if Path(path).is_dir() else "does not exist"
        raise FlagError(f"--{name} {path}: this file {what}; --{name} takes a file.")
    if not os.access(path, os.R_OK):
        raise FlagError(f"--{name} {path}: this file cannot be read (permission denied).")


def check_out(args) -> None:
    """--out names a folder this process may write, holding no run unless --overwrite."""
    if int(os.environ.get("RANK", "0")) != 0:
        return  # only rank 0 writes
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise FlagError(
            f"--out {out} is a file: --out takes a folder (for {' and '.join(RUN_FILES)})."
        )
    held = [name for name in RUN_FILES if (out / name).exists()]
    if held and not args.overwrite:
        raise FlagError(
            f"--out {out} already holds a run ({', '.join(held)}): pass --overwrite to replace "
            f"it, or name a new folder with --out."
        )
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise FlagError(f"--out {out}: cannot create or write it under {parent}.")


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


def speak_flags(message: str) -> str:
    """A library error in the command line's words, on one line: ``sub_seq_len=7`` becomes
    ``--sub-seq-len 7``, ``cut_records=True`` becomes ``--cut-records``."""
    names = [a.dest for a in parser()._actions if a.option_strings] + list(FLAG_OF)

    def say(match):
        name, value = match.group(1), match.group(2).strip("'")
        return flag(name) if value == "True" else f"{flag(name)} {value}"

    pattern = (
        r"\b(" + "|".join(sorted(set(names), key=len, reverse=True)) + r")=('[^']*'|[^\s,;:)]+)"
    )
    return " ".join(re.sub(pattern, say, message).split())


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
    for name, value in WINDOW_DEFAULTS.items():
        if layout_of(args) == "windows" and getattr(args, name) is None:
            setattr(args, name, value)
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
