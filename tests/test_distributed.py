"""Several processes (torchrun, DDP, gloo on the CPU) train exactly what one process trains.

One torchrun launch of 2 processes (one thread each) runs the CLI on windows, streams with
padded rows, and text (tests/ddp_worker.py); this process runs the same flags alone and
compares per-step losses and final weights. Another launch kills a rank mid-run.
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

from tbptt_kit import train
from tbptt_kit.data.hdf5 import write_record
from tbptt_kit.data.streams import StreamDataset, StreamLoader
from tbptt_kit.data.text import load_corpus
from tbptt_kit.data.windows import WindowDataset, WindowLoader
from tbptt_kit.distributed import RankShard, shard_rows

WORKER = Path(__file__).with_name("ddp_worker.py")
RTOL = 1e-5


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
    train_w, valid_w = records(tmp, [600], 0), records(tmp, [300], 1)
    train_s, valid_s = records(tmp, [310, 127, 488, 90], 2), records(tmp, [260, 75], 3)
    text = tmp / "text.txt"
    text.write_text("\f".join(d[:1500] for d in load_corpus()[:8]), encoding="utf-8")
    small = ["--hidden-size", "8", "--epochs", "2", "--lr", "1e-2", "--no-progress"]
    return {
        # 77 windows in batches of 8: the last batch has 5, all on rank 0 (unequal data)
        "windows": ["--data", "hdf5", "--layout", "windows", "--train", *train_w,
                    "--valid", *valid_w, "--win-sz", "60", "--stp-sz", "7",
                    "--sub-seq-len", "20", "--bs", "8", *small],
        # records that end inside a sub-window: padded, masked steps, per-row resets
        "streams": ["--data", "hdf5", "--train", *train_s, "--valid", *valid_s,
                    "--sub-seq-len", "25", "--bs", "4", "--valid-bs", "2", "--n-skip", "3",
                    *small],
        "text": ["--data", "text", "--text", str(text), "--sub-seq-len", "30", "--bs", "6",
                 "--valid-bs", "2", *small],
        "bs_odd": ["--data", "hdf5", "--train", *train_s, "--valid", *valid_s,
                   "--sub-seq-len", "25", "--bs", "3", "--valid-bs", "2", *small],
    }  # fmt: skip


def torchrun(*args, timeout=180):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TBPTT_KIT_THREADS": "1"}
    env.pop("TBPTT_KIT_SMOKE", None)
    return subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)  # fmt: skip


def log(out):
    rows = [json.loads(line) for line in open(Path(out) / "log.jsonl")]
    return [r for r in rows if "step" in r], [r for r in rows if r.get("event") == "epoch"]


def rel(a, b) -> float:
    """||a - b|| / ||a||, for weights (0 when both are zero)."""
    return float((a.double() - b.double()).norm() / max(float(a.double().norm()), 1e-30))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The scenarios on 2 processes (one launch) and each alone, in this process."""
    tmp = tmp_path_factory.mktemp("ddp")
    plans = scenarios(tmp)
    two = {n: [*a, "--out", str(tmp / f"two_{n}")] for n, a in plans.items()}
    # last, as it breaks the process group: rank 1 hangs 30 s at its third step
    two["hang"] = [*plans["streams"], "--timeout", "15", "--out", str(tmp / "two_hang")]
    (tmp / "plans.json").write_text(json.dumps(two))
    done = torchrun(WORKER, tmp, tmp / "plans.json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [json.loads((tmp / f"rank{r}.json").read_text()) for r in (0, 1)]
    one = {}
    for n, a in plans.items():
        if n not in ("bs_odd", "hang"):
            assert train.main([*a, "--out", str(tmp / f"one_{n}")]) == 0
            one[n] = tmp / f"one_{n}"
    return tmp, ranks, one, done


@pytest.mark.slow
@pytest.mark.parametrize("name", ["windows", "streams", "text"])
def test_two_processes_train_what_one_process_trains(runs, name):
    tmp, ranks, one, _ = runs
    steps_1, epochs_1 = log(one[name])
    steps_2, epochs_2 = log(tmp / f"two_{name}")
    assert len(steps_1) == len(steps_2) > 10
    assert all(r["world_size"] == 2 for r in steps_2)
    assert [r["samples"] for r in steps_1] == [r["samples"] for r in steps_2]
    for a, b in zip(steps_1, steps_2):
        assert b["loss"] == pytest.approx(a["loss"], rel=RTOL), (a, b)
    for a, b in zip(epochs_1, epochs_2):
        assert b["valid_loss"] == pytest.approx(a["valid_loss"], rel=RTOL)
    w1 = torch.load(one[name] / "model.pt", weights_only=True)["model"]
    w2 = torch.load(tmp / f"two_{name}" / "model.pt", weights_only=True)["model"]
    assert w1.keys() == w2.keys()
    for k in w1:
        assert rel(w1[k], w2[k]) <= RTOL, k
    # the control: training moved every weight far more than the two runs differ
    plans = json.loads((tmp / "plans.json").read_text())
    fresh = train.build([*plans[name][:-2], "--out", str(tmp / "x")])[3].model.state_dict()
    for k in ("rnn.weight_hh_l0", "head.weight"):
        assert rel(w1[k], fresh[k]) > 100 * RTOL


@pytest.mark.slow
@pytest.mark.parametrize("name", ["windows", "streams", "text"])
def test_each_rank_carries_its_own_state_and_resets_its_rows(runs, name):
    _, ranks, _, _ = runs
    for r in ranks:
        assert r[name]["rc"] == 0
        assert r[name]["checked"] > 10 and r[name]["failed"] == 0
        assert r[name]["carried"] > 0
    assert ranks[0][name]["state_sum"] != ranks[1][name]["state_sum"]  # per rank, not shared


@pytest.mark.slow
@pytest.mark.parametrize("name", ["windows", "text"])
def test_a_checkpoint_of_rank_0_scores_the_same_in_one_process(runs, name):
    tmp, _, _, _ = runs
    plans = json.loads((tmp / "plans.json").read_text())
    _, epochs_2 = log(tmp / f"two_{name}")
    args, rank, world_size, learn = train.build([*plans[name][:-2], "--out", str(tmp / "x")])
    assert (rank, world_size) == (0, 1)
    learn.load(tmp / f"two_{name}" / "model.pt")
    assert learn.validate()[0] == pytest.approx(epochs_2[-1]["valid_loss"], rel=RTOL)


@pytest.mark.slow
def test_a_global_bs_that_does_not_divide_among_the_processes_is_refused(runs):
    _, ranks, _, done = runs
    assert [r["bs_odd"]["rc"] for r in ranks] == [2, 2]
    assert "bs=3 is the global number of rows and must divide among 2 processes" in done.stderr


@pytest.mark.slow
def test_a_rank_that_dies_stops_the_others_with_an_error_not_a_hang(tmp_path):
    plans = scenarios(tmp_path)
    plan = {"die": [*plans["streams"], "--epochs", "50", "--timeout", "20",
                    "--out", str(tmp_path / "die")]}  # fmt: skip
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    start = time.perf_counter()
    done = torchrun(WORKER, tmp_path, tmp_path / "plan.json", timeout=120)
    took = time.perf_counter() - start
    assert done.returncode != 0
    assert took < 90
    assert "exitcode  : 3" in done.stderr  # torchrun names the rank that died, and how


@pytest.mark.slow
def test_a_rank_that_hangs_makes_the_other_exit_with_a_clear_error_in_bounded_time(runs):
    _, ranks, _, done = runs
    assert ranks[0]["hang"]["rc"] == 1 and ranks[0]["hang"]["seconds"] < 45  # --timeout 15
    assert "rank 0 of 2: lost contact with the other ranks" in done.stderr


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


def test_ddp_without_torchrun_says_what_is_missing(monkeypatch, capsys):
    for v in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(v, raising=False)
    assert train.main(["--ddp", "--data", "text"]) == 2
    err = capsys.readouterr().err
    assert "rendezvous variables" in err and "MASTER_ADDR" in err and "torchrun" in err
