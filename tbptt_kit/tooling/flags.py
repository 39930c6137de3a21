"""The command line's flags: what each one takes, and the checks that turn a wrong flag, a
missing file or two flags that do not go together into one line naming the flag
(``FlagError``), before anything is loaded or trained. ``train.py`` runs what they say.

Which lengths a mode takes or needs is asked of the modes themselves (``tbptt_kit.modes``),
by building one: a mode added to ``MODES`` is offered by ``--mode`` and checked here as it is.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import re
import sys
from pathlib import Path

import h5py

from ..core.model import RNN_TYPES
from ..modes import BPTT, MODES, Truncation

__all__ = ["FlagError", "check_args", "layout_of", "parser", "speak_flags"]

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
    """The command line's flags (``tbptt-kit --help``)."""
    p = Parser(
        prog="tbptt-kit",
        description="Train a stateful RNN with (truncated) BPTT; under torchrun on several "
        "processes (DDP).",
    )
    data_flags(p.add_argument_group("data"))
    model_flags(p.add_argument_group("model and training (RNNLearner's arguments)"))
    run_flags(p.add_argument_group("run"))
    return p


def data_flags(data) -> None:
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


def model_flags(model) -> None:
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


def run_flags(run) -> None:
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
    for name, value in WINDOW_DEFAULTS.items():
        if layout == "windows" and getattr(args, name) is None:
            setattr(args, name, value)
    return bptt


def other(layout: str) -> str:
    """The layout that is not ``layout``."""
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
