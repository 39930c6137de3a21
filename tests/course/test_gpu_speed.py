"""course/gpu_speed.py: the GPU figures the course shows, printed from a stored run's JSON
(tbptt_kit/course/runs/gpu-h200.json) without a GPU, with each reading a claim that could fail."""

import json
import re

import matplotlib
import pytest
import torch

from tbptt_kit import ClaimError
from tbptt_kit.course.gpu_speed import RUNS, gpu_speed, plot_gpu_speed, show_gpu_speed

matplotlib.use("Agg")
STORED = RUNS / "gpu-h200.json"
pytestmark = pytest.mark.skipif(not STORED.is_file(), reason="needs the repository's benchmarks")


def speed(run, who, sub_seq_len):
    return next(r for r in run["speed"] if r["who"] == who and r["sub_seq_len"] == sub_seq_len)


def test_without_a_gpu_the_stored_h200_run_is_shown_with_its_device(capsys):
    run = gpu_speed(live=False)
    raw = json.loads(STORED.read_text())
    assert run["gpu"] == raw["info"]["gpu"] == "NVIDIA H200"
    assert run["source"] == "stored run gpu-h200.json" and run["speed"] == raw["speed"]
    if not torch.cuda.is_available():  # no GPU: a stored run, by default
        assert gpu_speed()["source"].startswith("stored run gpu-")
    ratios = show_gpu_speed(run)
    out = capsys.readouterr().out
    assert out.startswith("NVIDIA H200 (stored run gpu-h200.json)")
    full, tbptt = speed(raw, "kit", None), speed(raw, "kit", 100)
    assert ratios["steps"] == tbptt["steps_per_s"] / full["steps_per_s"]
    assert f"**{ratios['steps']:.2f}×**" in out and f"{tbptt['steps_per_s']:.0f} steps/s" in out
    table_rows = re.findall(r"^(kit|bare)\S*.*\d$", out, re.M)
    assert len(table_rows) == len(raw["speed"])  # every row of the run, printed
    # the stored run has no graphed kit rows yet: the bare loop's graph is what it shows
    bare = speed(raw, "bare + CUDA graph", 100)["batches_per_s"]
    assert ratios["graphed"] == bare / speed(raw, "bare", 100)["batches_per_s"]
    assert "Replayed as CUDA graphs (bare + CUDA graph)" in out


def test_a_run_with_the_kits_graphed_rows_shows_those(tmp_path, capsys):
    raw = json.loads(STORED.read_text())
    graphed = [
        {**speed(raw, "bare + CUDA graph", s), "who": "kit + CUDA graph"} for s in (None, 100)
    ]  # made-up rows for this test: the bare loop's figures under the kit's name
    path = tmp_path / "gpu-test-cuda-graph.json"
    path.write_text(json.dumps({**raw, "speed": raw["speed"] + graphed}))
    ratios = show_gpu_speed(gpu_speed(path))
    out = capsys.readouterr().out
    assert "Replayed as CUDA graphs (kit + CUDA graph)" in out
    assert (
        ratios["graphed"] == graphed[1]["batches_per_s"] / speed(raw, "kit", 100)["batches_per_s"]
    )


def test_a_compute_bound_run_contradicts_the_launch_claim(tmp_path):
    """Control: the claim reads the figures; a GPU where a fifth of the work is five times
    faster (compute-bound) makes it fail."""
    raw = json.loads(STORED.read_text())
    for r in raw["speed"]:
        if r["who"] == "kit" and r["sub_seq_len"] == 100:
            r["steps_per_s"], r["batches_per_s"] = 5 * 386.0, 386.0
    path = tmp_path / "compute-bound.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ClaimError, match="a fifth of the work makes a step only"):
        show_gpu_speed(gpu_speed(path))


def test_the_figure_draws_every_loop_and_says_what_it_shows(capsys):
    fig = plot_gpu_speed(gpu_speed(live=False))
    assert len(fig.axes[0].patches) == 3 * 2  # kit, bare, bare + CUDA graph; full, TBPTT(100)
    assert "NVIDIA H200" in fig.alt_text and "bare + CUDA graph" in fig.alt_text


def test_a_missing_run_and_a_live_run_without_a_gpu_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"path='.*nowhere\.json': no stored GPU run"):
        gpu_speed(tmp_path / "nowhere.json")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="live=True measures on a CUDA GPU"):
            gpu_speed(live=True)
