"""The command line (``python -m tbptt_kit``, tbptt_kit/tooling/train.py) is as careful as
the library: every bad flag or file is one line on stderr naming the flag and what it takes,
with exit status 2 and no traceback; every layout and mode ``--help`` offers trains on the
default data; a second run never writes over the first without ``--overwrite``.

Most cases run ``main(argv)`` in this process (fast); two run the real command in a new
process, to show what a terminal shows.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tbptt_kit.data.hdf5 import write_record
from tbptt_kit.modes import MODES
from tbptt_kit.tooling import train

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--hidden-size", "4", "--epochs", "1", "--no-progress"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder with two small HDF5 records, a file that is not HDF5, a text file, a file
    that is not UTF-8, and a folder holding a finished run."""
    tmp = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    for name, n in (("a.h5", 400), ("b.h5", 300)):
        u = rng.standard_normal(n).astype(np.float32)
        write_record(tmp / name, {"u0": u, "y0": np.cumsum(u) / 10}, fs=100.0)
    (tmp / "plain.txt").write_text("not a record\n")
    (tmp / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (tmp / "run").mkdir()
    (tmp / "run" / "log.jsonl").write_text('{"event": "start"}\n')
    return tmp


@pytest.fixture(autouse=True)
def small_and_offline(monkeypatch, tmp_path_factory):
    """Smoke mode (a short Silverbox), the simulated record cached in one folder per run."""
    monkeypatch.setenv("TBPTT_KIT_SMOKE", "1")
    monkeypatch.setenv("TBPTT_KIT_DATA", str(tmp_path_factory.getbasetemp() / "data"))
    for v in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(v, raising=False)


def hdf5(folder, windows=True):
    """Flags for the fixture's records: windows of 100 steps every 50, or streams."""
    layout = ["--layout", "windows", "--win-sz", "100", "--stp-sz", "50"] if windows else []
    return [
        "--data",
        "hdf5",
        "--train",
        str(folder / "a.h5"),
        "--valid",
        str(folder / "b.h5"),
        *layout,
    ]


# (flags, what the one line must say); {f} is the folder of the fixture
BAD = [
    (["--text", "{f}/nope.txt", "--data", "text"], "--text {f}/nope.txt: this file does not exist"),
    (["--text", "{f}", "--data", "text"], "this file is a folder; --text takes a file"),
    (["--text", "{f}/latin1.txt", "--data", "text"], "--text {f}/latin1.txt is not UTF-8 text"),
    (
        ["--data", "hdf5", "--train", "{f}/nope.h5", "--valid", "{f}/b.h5"],
        "--train {f}/nope.h5: this file does not exist",
    ),
    (
        ["--data", "hdf5", "--train", "{f}/a.h5", "--valid", "{f}/plain.txt"],
        "--valid {f}/plain.txt is not an HDF5 file",
    ),
    (["--data", "hdf5"], "--data hdf5 needs --train and --valid"),
    (["--data", "bogus"], "--data: invalid choice: 'bogus' (choose from"),
    (["--train", "{f}/a.h5"], "--train goes with --data hdf5"),
    (["--valid", "{f}/a.h5"], "--valid goes with --data hdf5"),
    (["--epochs", "0"], "--epochs: takes a whole number >= 1, got '0'"),
    (["--epochs", "two"], "--epochs: takes a whole number >= 1, got 'two'"),
    (["--device", "bogus"], "--device 'bogus' is not a device: use auto, cpu, cuda"),
    (["--device", "meta"], "--device meta: the kit trains on auto, cpu, cuda"),
    (["--max-batches", "-1", "--data", "text"], "--max-batches: takes a whole number >= 1"),
    (["--max-batches", "3"], "--max-batches goes with the streams layout"),
    (["--out", "{f}/plain.txt"], "--out {f}/plain.txt is a file: --out takes a folder"),
    (["--out", "{f}/plain.txt/run"], "--out {f}/plain.txt/run: cannot create or write it"),
    (["--out", "{f}/run"], "--out {f}/run already holds a run (log.jsonl): pass --overwrite"),
    (["--out", "{f}/plain.txt", "--overwrite"], "--out {f}/plain.txt is a file"),
    (["--bs", "0"], "--bs: takes a whole number >= 1, got '0'"),
    (["--bs", "1e3"], "--bs: takes a whole number >= 1, got '1e3'"),
    (["--valid-bs", "0", "--data", "text"], "--valid-bs: takes a whole number >= 1"),
    (["--valid-bs", "4"], "--valid-bs goes with the streams layout"),
    (["--win-sz", "0"], "--win-sz: takes a whole number >= 1"),
    (["--win-sz", "100000"], "--win-sz 100000 is longer than the shortest train record"),
    (["--win-sz", "100", "--layout", "streams"], "--win-sz goes with the windows layout"),
    (["--stp-sz", "-5"], "--stp-sz: takes a whole number >= 1"),
    (["--stp-sz", "5", "--data", "text"], "--stp-sz goes with the windows layout"),
    (["--sub-seq-len", "0"], "--sub-seq-len: takes a whole number >= 1"),
    (["--sub-seq-len", "7"], "--sub-seq-len 7 does not divide --win-sz 500"),
    (["--sub-seq-len", "7", "--win-sz", "1000000000"], "--sub-seq-len 7 does not divide"),
    (["--layout", "diagonal"], "--layout: invalid choice: 'diagonal'"),
    (["--layout", "windows", "--data", "text"], "--data text is served as streams only"),
    (["--layout", "streams", "--bs", "100000000"], "--bs 100000000 is larger than the number"),
    (["--cut-records"], "--cut-records goes with --data hdf5 --layout streams"),
    (["--rnn-type", "transformer"], "--rnn-type: invalid choice: 'transformer'"),
    (["--hidden-size", "0"], "--hidden-size: takes a whole number >= 1"),
    (["--hidden-size", "100000000"], "--hidden-size 100000000 --num-layers 1: the weights alone"),
    (["--num-layers", "0"], "--num-layers: takes a whole number >= 1"),
    (["--mode", "greedy"], "--mode: invalid choice: 'greedy'"),
    (["--mode", "full", "--sub-seq-len", "100"], "--mode full takes no --sub-seq-len"),
    (["--mode", "checkpointed"], "--mode checkpointed needs --sub-seq-len, e.g."),
    (["--mode", "randomized", "--sub-seq-len", "100"], "--mode randomized needs --truncation-mean"),
    (["--mode", "full", "--layout", "streams"], "--mode full backpropagates through whole windows"),
    (["--backprop-len", "0"], "--backprop-len: takes a whole number >= 1"),
    (
        ["--backprop-len", "50", "--sub-seq-len", "100"],
        "--backprop-len 50 must be an int >= --sub-seq-len 100",
    ),
    (
        ["--backprop-len", "200", "--mode", "checkpointed", "--sub-seq-len", "100"],
        "--mode checkpointed takes no --backprop-len (it goes with --mode truncated)",
    ),
    (["--truncation-mean", "1"], "--truncation-mean: takes a finite number > 1, got '1'"),
    (["--truncation-mean", "16"], "takes no --truncation-mean (it goes with --mode randomized)"),
    (
        ["--truncation-mean", "600", "--mode", "randomized", "--sub-seq-len", "100"],
        "the mean truncation length 600 is longer than the window (--win-sz 500)",
    ),
    (["--bptt", "sideways"], "--bptt: invalid choice: 'sideways'"),
    (["--bptt", "full", "--mode", "truncated"], "--bptt full and --mode truncated disagree"),
    (["--n-skip", "-1"], "--n-skip: takes a whole number >= 0"),
    (["--n-skip", "30", "--sub-seq-len", "20"], "--n-skip 30 leaves nothing of the first"),
    (["--clip-grad", "0"], "--clip-grad: takes a finite number > 0, got '0'"),
    (["--clip-grad", "inf"], "--clip-grad: takes a finite number > 0, got 'inf'"),
    (["--lr", "nan"], "--lr: takes a finite number > 0, got 'nan'"),
    (["--lr", "-1"], "--lr: takes a finite number > 0"),
    (["--schedule", "linear"], "--schedule: invalid choice: 'linear'"),
    (["--seed", "-1"], "--seed: takes a whole number >= 0 and <= 4294967295"),
    (["--seed", str(2**64)], "--seed: takes a whole number >= 0 and <= 4294967295"),
    (["--timeout", "0"], "--timeout: takes a finite number > 0"),
    (["--ddp", "--data", "text"], "rendezvous variables"),
    (["--no-progress", "--bogus"], "unrecognized arguments: --bogus"),
    (["--overwrite", "--epochs", "0"], "--epochs: takes a whole number >= 1"),
]


def fill(items, folder):
    return [s.replace("{f}", str(folder)) for s in items]


@pytest.mark.parametrize("flags, says", BAD, ids=[" ".join(f) for f, _ in BAD])
def test_a_bad_flag_or_file_is_one_line_naming_it_and_exit_status_2(folder, capsys, flags, says):
    flags, says = fill(flags, folder), fill([says], folder)[0]
    out = [] if "--out" in flags else ["--out", str(folder / "unused")]
    start = time.perf_counter()
    assert train.main([*flags, *out]) == 2
    assert time.perf_counter() - start < 20  # a refusal takes no time that grows with a number
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tbptt-kit: error: "), err
    assert says in err
    assert not (folder / "unused").exists()  # nothing written by a refused run


def test_every_flag_of_the_parser_has_a_bad_case():
    """So a flag added later gets its case (the cases above are checked, not trusted)."""
    flags = {o for a in train.parser()._actions for o in a.option_strings} - {"-h", "--help"}
    tried = {f for case, _ in BAD for f in case if f.startswith("--")}
    assert flags - tried == set()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_device_cuda_without_a_gpu_says_so(capsys, folder):
    assert train.main(["--device", "cuda", "--out", str(folder / "unused")]) == 2
    err = capsys.readouterr().err
    assert "--device cuda: torch sees no CUDA GPU on this machine: use --device cpu" in err


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--epochs", "0"], "--epochs: takes a whole number >= 1, got '0'"),
        (["--data", "text", "--text", "nope.txt"], "--text nope.txt: this file does not exist"),
    ],
)
def test_in_a_terminal_a_bad_flag_is_one_line_exit_2_and_no_traceback(tmp_path, flags, says):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "tbptt_kit", *flags],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no tbptt-run/ left behind


def test_help_offers_every_mode_of_the_library(capsys):
    assert train.main(["--help"]) == 0
    help_text = capsys.readouterr().out
    for flag in ("--mode", "--backprop-len", "--truncation-mean", "--overwrite", "--layout"):
        assert flag in help_text
    assert "{" + ",".join(MODES) + "}" in " ".join(help_text.split())


# -- every layout and mode --help offers, on the default data (the Silverbox) -------------
OFFERED = {  # name: (flags, the mode they name)
    "windows, full": ([], "full"),
    "windows, truncated": (["--sub-seq-len", "100"], "truncated"),
    "windows, TBPTT(k1, k2)": (["--sub-seq-len", "100", "--backprop-len", "250"], "truncated"),
    "windows, checkpointed": (["--mode", "checkpointed", "--sub-seq-len", "100"], "checkpointed"),
    "windows, randomized": (
        ["--mode", "randomized", "--sub-seq-len", "100", "--truncation-mean", "50"],
        "randomized",
    ),
    "streams, truncated": (["--layout", "streams"], "truncated"),
    "streams, randomized": (
        ["--layout", "streams", "--mode", "randomized", "--truncation-mean", "50"],
        "randomized",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", OFFERED)
def test_every_layout_and_mode_help_offers_trains_on_the_default_data(tmp_path, capsys, name):
    flags, mode = OFFERED[name]
    windows = [] if "streams" in flags else ["--stp-sz", "250"]
    assert train.main([*flags, *windows, *TINY, "--out", str(tmp_path)]) == 0
    rows = train.read_log(tmp_path)
    assert rows[0]["settings"]["mode"] == mode
    assert [r for r in rows if "step" in r] and (tmp_path / "model.pt").exists()
    assert "free-run test RMSE" in capsys.readouterr().out


def test_the_old_bptt_flag_still_works_with_a_note(tmp_path, capsys, folder):
    flags = [*hdf5(folder), "--bptt", "truncated", "--sub-seq-len", "50", *TINY]
    assert train.main([*flags, "--out", str(tmp_path)]) == 0
    assert "--bptt is now --mode" in capsys.readouterr().err
    assert train.read_log(tmp_path)[0]["settings"]["mode"] == "truncated"


def test_streams_of_fewer_records_than_rows_point_to_cut_records(tmp_path, capsys, folder):
    flags = [*hdf5(folder, windows=False), "--bs", "4", "--sub-seq-len", "50", *TINY]
    flags += ["--out", str(tmp_path)]
    assert train.main(flags) == 2
    err = capsys.readouterr().err
    assert "--bs 4 rows need at least 4 train records" in err and "--cut-records" in err
    assert "cut_records" not in err  # the library's name, not a flag
    assert train.main([*flags, "--cut-records"]) == 0  # the control: what it says works


# -- a second run ---------------------------------------------------------------------------
def test_a_second_run_never_writes_over_the_first_without_overwrite(tmp_path, capsys, folder):
    flags = [*hdf5(folder), "--sub-seq-len", "50", *TINY, "--out", str(tmp_path)]
    assert train.main(flags) == 0
    first = {n: (tmp_path / n).read_bytes() for n in ("log.jsonl", "model.pt")}
    capsys.readouterr()
    assert train.main([*flags, "--seed", "1"]) == 2
    assert "already holds a run (log.jsonl, model.pt): pass --overwrite" in capsys.readouterr().err
    assert {n: (tmp_path / n).read_bytes() for n in first} == first
    # the control: asked to, it replaces both files
    assert train.main([*flags, "--seed", "1", "--overwrite"]) == 0
    assert all((tmp_path / n).read_bytes() != first[n] for n in first)


def test_overwrite_removes_the_old_weights_when_the_new_run_starts(tmp_path, folder):
    """An overwritten run that stops in its first epoch leaves no old model.pt beside its log."""
    from tbptt_kit import Callback

    class Stop(Callback):
        def after_batch(self, learn):
            raise KeyboardInterrupt

    flags = [*hdf5(folder), "--sub-seq-len", "50", *TINY, "--out", str(tmp_path)]
    assert train.main(flags) == 0 and (tmp_path / "model.pt").exists()
    assert train.main([*flags, "--overwrite"], cbs=[Stop()]) == 130
    assert not (tmp_path / "model.pt").exists()
