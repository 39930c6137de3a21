"""Several processes (torchrun, DDP, gloo on the CPU) train exactly what one process trains.

One torchrun launch of 2 processes (one thread each, one process group) runs the command
line on windows and on streams with padded rows, in every mode the kit has (full,
truncated, TBPTT(k1, k2), checkpointed, randomized/ARTBP), and on text
(tests/tooling/ddp_worker.py); this process runs the same flags alone and compares per-step
losses and final weights. Two more launches, each with its own process group, make a rank
hang and a rank die.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tbptt_kit.core.streams import StreamDataset, StreamLoader
from tbptt_kit.core.windows import WindowDataset, WindowLoader
from tbptt_kit.data.hdf5 import write_record
from tbptt_kit.data.text import load_corpus
from tbptt_kit.tooling import train
from tbptt_kit.tooling.distributed import RankShard, shard_rows

WORKER = Path(__file__).with_name("ddp_worker.py")
ROOT = Path(__file__).resolve().parents[2]
RTOL = 1e-5
SMALL = ["--hidden-size", "8", "--epochs", "2", "--lr", "1e-2", "--no-progress"]


def records(folder, lengths, seed=0):
    """HDF5 records of a filtered random input: y follows u through a decaying kernel."""
    rng, paths = np.random.default_rng(seed), []
    for i, n in enumerate(lengths):
        u = rng.standard_normal(n).astype(np.float32)
        y = np.convolve(u, np.exp(-np.arange(20) / 5.0))[:n].astype(np.float32)
        write_record(folder / f"r{seed}_{i}.h5", {"u0": u, "y0": y}, fs=100.0)
        paths.append(str(folder / f"r{seed}_{i}.h5"))
    return paths


def scenarios(tmp: Path) -> dict:
    """name -> flags. The windows: 77 windows in batches of 8, so the last batch has 5, all
    on rank 0 (rank 1 takes that step with one masked row). The streams: records that end
    inside a sub-window (padded, masked steps, per-row resets)."""
    train_w, valid_w = records(tmp, [600], 0), records(tmp, [300], 1)
    train_s, valid_s = records(tmp, [310, 127, 488, 90], 2), records(tmp, [260, 75], 3)
    text = tmp / "text.txt"
    text.write_text("\f".join(d[:1500] for d in load_corpus()[:8]), encoding="utf-8")
    windows = [
        "--data",
        "hdf5",
        "--layout",
        "windows",
        "--train",
        *train_w,
        "--valid",
        *valid_w,
        "--win-sz",
        "60",
        "--stp-sz",
        "7",
        "--bs",
        "8",
        *SMALL,
    ]
    streams = [
        "--data",
        "hdf5",
        "--train",
        *train_s,
        "--valid",
        *valid_s,
        "--bs",
        "4",
        "--valid-bs",
        "2",
        "--n-skip",
        "3",
        "--sub-seq-len",
        "25",
        *SMALL,
    ]
    return {
        "windows": [*windows, "--sub-seq-len", "20"],
        "windows_full": windows,
        "windows_tbptt": [*windows, "--sub-seq-len", "20", "--backprop-len", "35"],
        "windows_checkpointed": [*windows, "--mode", "checkpointed", "--sub-seq-len", "20"],
        "windows_artbp": [
            *windows,
            "--mode",
            "randomized",
            "--sub-seq-len",
            "20",
            "--truncation-mean",
            "8",
        ],
        "streams": streams,
        "streams_tbptt": [*streams, "--backprop-len", "40"],
        "streams_artbp": [*streams, "--mode", "randomized", "--truncation-mean", "10"],
        "text": [
            "--data",
            "text",
            "--text",
            str(text),
            "--sub-seq-len",
            "30",
            "--bs",
            "6",
            "--valid-bs",
            "2",
            *SMALL,
        ],
    }


NAMES = (
    "windows",
    "windows_full",
    "windows_tbptt",
    "windows_checkpointed",
    "windows_artbp",
    "streams",
    "streams_tbptt",
    "streams_artbp",
    "text",
)
STATE_CHECKED = ("windows", "streams", "text")  # the loop's own carry: its state is checked


def torchrun(tmp: Path, plan: dict, timeout=240):
    """The worker on 2 processes with ``plan``; the finished process and each rank's results."""
    (tmp / "plan.json").write_text(json.dumps(plan))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TBPTT_KIT_THREADS": "1", "PYTHONPATH": str(ROOT)}
    env.pop("TBPTT_KIT_SMOKE", None)
    done = subprocess.run(
        [*cmd, str(WORKER), str(tmp), str(tmp / "plan.json")],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    ranks = [tmp / f"rank{r}.json" for r in (0, 1)]
    return done, [json.loads(p.read_text()) if p.exists() else {} for p in ranks]


def log(out):
    rows = train.read_log(out)
    return [r for r in rows if "step" in r], [r for r in rows if r.get("event") == "epoch"]


def rel(a, b) -> float:
    """||a - b|| / ||a||, for weights (0 when both are zero)."""
    return float((a.double() - b.double()).norm() / max(float(a.double().norm()), 1e-30))


def weights(out: Path) -> dict:
    return torch.load(out / "model.pt", weights_only=True)["model"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every scenario on 2 processes (one launch, one process group), and each alone here."""
    tmp = tmp_path_factory.mktemp("ddp")
    plans = scenarios(tmp)
    two = {n: [*a, "--out", str(tmp / f"two_{n}")] for n, a in plans.items()}
    two["bs_odd"] = [*plans["streams"], "--bs", "3", "--out", str(tmp / "two_bs_odd")]
    done, ranks = torchrun(tmp, {"shared_group": True, "scenarios": two})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    one = {}
    for n, a in plans.items():
        assert train.main([*a, "--out", str(tmp / f"one_{n}")]) == 0, n
        one[n] = tmp / f"one_{n}"
    return tmp, plans, ranks, one, done


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_two_processes_train_what_one_process_trains_in_every_mode(runs, name):
    tmp, plans, _, one, _ = runs
    steps_1, epochs_1 = log(one[name])
    steps_2, epochs_2 = log(tmp / f"two_{name}")
    assert len(steps_1) == len(steps_2) > 10
    assert all(r["world_size"] == 2 for r in steps_2)
    assert [r["samples"] for r in steps_1] == [r["samples"] for r in steps_2]
    for a, b in zip(steps_1, steps_2):
        assert b["loss"] == pytest.approx(a["loss"], rel=RTOL), (a, b)
    for a, b in zip(epochs_1, epochs_2):
        assert b["valid_loss"] == pytest.approx(a["valid_loss"], rel=RTOL)
    w1, w2 = weights(one[name]), weights(tmp / f"two_{name}")
    assert w1.keys() == w2.keys()
    for k in w1:
        assert rel(w1[k], w2[k]) <= RTOL, k
    # the control: training moved every weight far more than the two runs differ
    fresh = train.build([*plans[name], "--out", str(tmp / "x")])[3].model.state_dict()
    for k in ("rnn.weight_hh_l0", "head.weight"):
        assert rel(w1[k], fresh[k]) > 100 * RTOL


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, other",
    [
        ("windows_tbptt", "windows"),
        ("windows_artbp", "windows"),
        ("streams_artbp", "streams"),
        ("streams_tbptt", "streams"),
        ("windows_checkpointed", "windows"),
    ],
)
def test_the_comparison_tells_the_modes_apart(runs, name, other):
    """The control of the test above: another mode's run is further off than the tolerance
    (checkpointed: the same gradient as full BPTT, not as truncated)."""
    tmp, _, _, one, _ = runs
    steps_1, _ = log(one[other])
    steps_2, _ = log(tmp / f"two_{name}")
    differ = [abs(b["loss"] - a["loss"]) > RTOL * abs(a["loss"]) for a, b in zip(steps_1, steps_2)]
    assert any(differ)


@pytest.mark.slow
def test_checkpointed_trains_what_full_bptt_trains_on_two_processes(runs):
    tmp, _, _, _, _ = runs
    full, checkpointed = log(tmp / "two_windows_full")[0], log(tmp / "two_windows_checkpointed")[0]
    for a, b in zip(full, checkpointed):
        assert b["loss"] == pytest.approx(a["loss"], rel=RTOL)


@pytest.mark.slow
@pytest.mark.parametrize("name", STATE_CHECKED)
def test_each_rank_carries_its_own_state_and_resets_its_rows(runs, name):
    _, _, ranks, _, _ = runs
    for r in ranks:
        assert r[name]["rc"] == 0
        assert r[name]["checked"] > 10 and r[name]["failed"] == 0
        assert r[name]["carried"] > 0
    assert ranks[0][name]["state_sum"] != ranks[1][name]["state_sum"]  # per rank, not shared


@pytest.mark.slow
@pytest.mark.parametrize("name", ["windows", "text"])
def test_a_checkpoint_of_rank_0_scores_the_same_in_one_process(runs, name):
    tmp, plans, _, _, _ = runs
    _, epochs_2 = log(tmp / f"two_{name}")
    args, rank, world_size, learn = train.build([*plans[name], "--out", str(tmp / "x")])
    assert (rank, world_size) == (0, 1)
    learn.load(tmp / f"two_{name}" / "model.pt")
    assert learn.validate()[0] == pytest.approx(epochs_2[-1]["valid_loss"], rel=RTOL)


@pytest.mark.slow
def test_a_global_bs_that_does_not_divide_among_the_processes_is_refused(runs):
    _, _, ranks, _, done = runs
    assert [r["bs_odd"]["rc"] for r in ranks] == [2, 2]
    assert "--bs 3 is the global number of rows and must divide among 2 processes" in done.stderr


@pytest.mark.slow
def test_a_rank_that_dies_stops_the_others_with_an_error_not_a_hang(tmp_path):
    flags = [*scenarios(tmp_path)["streams"], "--epochs", "50", "--timeout", "20"]
    plan = {"shared_group": False, "scenarios": {"die": [*flags, "--out", str(tmp_path / "o")]}}
    start = time.perf_counter()
    done, _ = torchrun(tmp_path, plan, timeout=120)
    assert done.returncode != 0
    assert time.perf_counter() - start < 90
    assert "exitcode  : 3" in done.stderr  # torchrun names the rank that died, and how


@pytest.mark.slow
def test_a_rank_that_hangs_makes_the_other_exit_with_a_clear_error_in_bounded_time(tmp_path):
    flags = [*scenarios(tmp_path)["streams"], "--timeout", "15", "--out", str(tmp_path / "o")]
    done, ranks = torchrun(tmp_path, {"shared_group": False, "scenarios": {"hang": flags}})
    assert ranks[0]["hang"]["rc"] == 1 and ranks[0]["hang"]["seconds"] < 45  # --timeout 15
    said = [line for line in done.stderr.splitlines() if "rank 0 of 2: lost contact" in line]
    assert len(said) == 1 and "tbptt-kit: error: rank 0 of 2: lost contact" in said[0]


# -- in one process: the rows, the flags --------------------------------------------------
def window_loader(n_windows=13, bs=4):
    rng = np.random.default_rng(0)
    u = rng.standard_normal(10 * (n_windows + 1)).astype(np.float32)
    ds = WindowDataset([(u, u)], win_sz=20, stp_sz=10)
    return WindowLoader(ds, bs, shuffle=True, sub_seq_len=10, seed=3)


def stream_loader(bs=4):
    rng = np.random.default_rng(0)
    recs = [rng.standard_normal((n, 1)).astype(np.float32) for n in (95, 40, 133, 61)]
    return StreamLoader(StreamDataset(recs, recs), bs, sub_seq_len=10, shuffle=True, seed=1)


@pytest.mark.parametrize("make", [window_loader, stream_loader])
def test_the_ranks_rows_are_disjoint_contiguous_and_together_the_batch(make):
    whole = list(make())
    shards = [list(RankShard(make(), r, 2)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == len(whole)
    for b, b0, b1 in zip(whole, *shards):
        n = len(b.u)
        parts = [x for x in (b0, b1) if x.mask is None or x.mask.any() or len(x.u) != 1]
        joined = torch.cat([x.u for x in parts])
        assert torch.equal(joined, b.u)  # rank 0's rows, then rank 1's: the batch, in order
        assert len(b0.u) == min(2, n) and b0.new_window == b1.new_window
        if b.mask is not None:
            assert torch.equal(torch.cat([x.mask for x in parts]), b.mask)
    assert any(len(b.u) < 4 for b in whole) == (make is window_loader)  # a short last batch


def test_a_rank_with_nothing_in_a_short_batch_gets_one_masked_row():
    for b0, b1 in zip(RankShard(window_loader(13), 0, 2), RankShard(window_loader(13), 1, 2)):
        if len(b0.u) < 2:
            assert len(b1.u) == 1 and not b1.mask.any()
            break
    else:
        pytest.fail("no short batch")


@pytest.mark.parametrize(
    "bs, world, says",
    [(6, 4, "must divide among 4 processes"), (2, 4, "4 processes but bs=2 rows")],
)
def test_rows_that_do_not_share_out_are_refused(bs, world, says):
    with pytest.raises(ValueError, match=says):
        shard_rows(bs, 0, world)


@pytest.mark.parametrize(
    "args, error, says",
    [
        ((4, 2, 2), ValueError, r"rank must be an int >= 0 and <= 1, got 2"),
        ((4, -1, 2), ValueError, r"rank must be an int >= 0 and <= 1, got -1"),
        ((4, 0, 0), ValueError, r"world_size must be an int >= 1, got 0"),
        ((4.0, 0, 2), TypeError, r"bs must be an int >= 1, got 4.0"),
        ((4, 0, 2.0), TypeError, r"world_size must be an int >= 1, got 2.0"),
        ((4, 1.0, 2), TypeError, r"rank must be an int >= 0 and <= 1, got 1.0"),
    ],
)
def test_a_rank_outside_the_world_float_sizes_and_no_world_are_refused(args, error, says):
    with pytest.raises(error, match=says):
        shard_rows(*args)


def test_the_last_rank_of_the_world_gets_the_last_rows():  # the control of the refusals
    assert shard_rows(6, 2, 3) == slice(4, 6) and shard_rows(6, 0, 3) == slice(0, 2)


def test_ddp_without_torchrun_says_what_is_missing(monkeypatch, capsys, tmp_path):
    for v in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(v, raising=False)
    assert train.main(["--ddp", "--data", "text", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "rendezvous variables" in err and "MASTER_ADDR" in err and "torchrun" in err
