"""Why TBPTT waits on launches on a GPU, and what a CUDA graph changes: the figures of a run.

At the reference settings (LSTM 40, bs 16, win_sz 500) one optimizer step asks a GPU for
very little arithmetic, in hundreds of small kernels: the GPU finishes each before Python
has launched the next. A step of TBPTT(100) then costs about what a step of full BPTT
costs, and a batch of five of them five times as much. A CUDA graph (``cuda_graph=True``,
``tooling/cuda_graph.py``) replays a step's kernels with one launch.

    run = gpu_speed()          # measured here on a CUDA GPU; else the stored run
    show_gpu_speed(run)        # the table and what it says, from its own figures
    plot_gpu_speed(run)

A stored run is the JSON ``benchmarks/gpu.py`` writes, kept in ``tbptt_kit/course/runs/``
(``gpu-h200.json``, ...): package data, so the course finds it wherever the kit is installed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ..core.learner import Callback
from ..data.silverbox import create_dls_silverbox
from ..tooling.cuda_graph import CudaGraphCB
from .claims import claim
from .rnn_learner import RNNLearner
from .style import PALETTE, describe

__all__ = ["RUNS", "TrainTimer", "gpu_speed", "kit_speed", "plot_gpu_speed", "show_gpu_speed"]

RUNS = Path(__file__).resolve().parent / "runs"  # the stored GPU runs (package data)
REFERENCE = dict(bs=16, win_sz=500, stp_sz=10, hidden=40, lr=3e-3, sub_seq_len=100)


class TrainTimer(Callback):
    """Times the training steps of a run after ``warmup`` optimizer steps (synchronised)."""

    def __init__(self, warmup: int = 20):
        self.warmup, self.t0, self.t1, self.n = warmup, None, None, 0

    def after_batch(self, learn):
        if not learn.training:
            return
        self.n += 1
        if self.n == self.warmup:
            torch.cuda.synchronize()
            self.t0, self.n0 = time.perf_counter(), self.n
        if self.t0 is not None:
            torch.cuda.synchronize()
            self.t1, self.n1 = time.perf_counter(), self.n


def kit_speed(dls, sub_seq_len: int | None, cuda_graph: bool = False, epochs: int = 1) -> dict:
    """One ``RNNLearner`` run of the reference example on CUDA loaders: batches of windows
    and optimizer steps per second after 20 warm-up steps (fewer in a short run), the
    allocator's peaks above the start (bytes: allocated, reserved), and for a graphed run
    the steps replayed and run eagerly."""
    timer = TrainTimer(warmup=min(20, len(dls.train) * epochs // 4))  # smoke mode: short
    torch.cuda.synchronize()
    torch.cuda.empty_cache()  # the reserved peak: this run's, not an earlier run's cache
    torch.cuda.reset_peak_memory_stats()
    base, base_reserved = torch.cuda.memory_allocated(), torch.cuda.memory_reserved()
    learn = RNNLearner(
        dls,
        "lstm",
        REFERENCE["hidden"],
        sub_seq_len=sub_seq_len,
        progress=False,
        seed=0,
        cuda_graph=cuda_graph,
        cbs=[timer],
    )
    learn.fit_flat_cos(epochs, lr=REFERENCE["lr"])
    steps, seconds = timer.n1 - timer.n0, timer.t1 - timer.t0
    per_batch = 1 if sub_seq_len is None else REFERENCE["win_sz"] // sub_seq_len
    row = dict(
        steps_per_s=steps / seconds,
        batches_per_s=steps / per_batch / seconds,
        peak_bytes=torch.cuda.max_memory_allocated() - base,
        reserved_bytes=torch.cuda.max_memory_reserved() - base_reserved,
    )
    graphs = [cb for cb in learn.cbs if isinstance(cb, CudaGraphCB)]
    if graphs and graphs[0].carry is not None:
        row.update(replayed=graphs[0].carry.replays, eager=graphs[0].carry.eager)
    return row


def gpu_speed(path=None, live: bool | None = None) -> dict:
    """A run's figures: measured here (``live``; None: when a CUDA GPU is present), else
    read from ``path`` (None: the last by name of the stored runs with the kit's graphed
    rows, else ``runs/gpu-h200.json``). {"gpu", "source", "speed": [rows]}."""
    if live is None:
        live = path is None and torch.cuda.is_available()
    if live and not torch.cuda.is_available():
        raise ValueError("live=True measures on a CUDA GPU, and torch sees none here.")
    if live:
        return measure_here()
    if path is None:
        stored = sorted(RUNS.glob("gpu-*.json"))
        graphed = [p for p in stored if "kit + CUDA graph" in p.read_text()]
        path = (graphed or [RUNS / "gpu-h200.json"])[-1]
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"path={str(path)!r}: no stored GPU run there; benchmarks/gpu.py writes one "
            f"(python benchmarks/gpu.py --out DIR), or pass live=True on a CUDA GPU."
        )
    run = json.loads(path.read_text())
    return {"gpu": run["info"]["gpu"], "source": f"stored run {path.name}", "speed": run["speed"]}


def measure_here() -> dict:
    """The kit's rows at the reference settings, eager and graphed, on this machine's GPU."""
    rows = []
    for sub in (None, REFERENCE["sub_seq_len"]):
        sizes = {k: REFERENCE[k] for k in ("bs", "win_sz", "stp_sz")}
        dls = create_dls_silverbox(**sizes, sub_seq_len=sub).to("cuda")
        for graphed in (False, True):
            who = "kit + CUDA graph" if graphed else "kit"
            rows.append(dict(who=who, sub_seq_len=sub, **kit_speed(dls, sub, graphed)))
    return {"gpu": torch.cuda.get_device_name(), "source": "measured here", "speed": rows}


def row(run: dict, who: str, sub_seq_len) -> dict | None:
    return next(
        (r for r in run["speed"] if r["who"] == who and r["sub_seq_len"] == sub_seq_len), None
    )


def show_gpu_speed(run: dict) -> dict:
    """Print the run's table and, from its figures, why TBPTT is launch-bound and what a
    CUDA graph changes (each reading a ``claim``). Returns the ratios it printed."""
    k1 = REFERENCE["sub_seq_len"]
    print(f"{run['gpu']} ({run['source']}): LSTM 40, bs 16, win_sz 500")
    print(f"{'who':<18}{'mode':<13}{'batches/s':>10}{'steps/s':>10}")
    for r in run["speed"]:
        mode = "full" if r["sub_seq_len"] is None else f"TBPTT({r['sub_seq_len']})"
        if "error" not in r:
            print(f"{r['who']:<18}{mode:<13}{r['batches_per_s']:>10.0f}{r['steps_per_s']:>10.0f}")
    full, tbptt = row(run, "kit", None), row(run, "kit", k1)
    ratios = {"steps": tbptt["steps_per_s"] / full["steps_per_s"]}
    claim(
        f"Eagerly, a step of TBPTT({k1}) runs at {tbptt['steps_per_s']:.0f} steps/s and a step "
        f"of full BPTT over 500 steps at {full['steps_per_s']:.0f}: a fifth of the work makes "
        f"a step only **{ratios['steps']:.2f}×** as fast. The step's time is launching its "
        f"kernels, not computing them, so TBPTT({k1}) trains "
        f"{tbptt['batches_per_s'] / full['batches_per_s']:.2f}× the batches/s of full BPTT.",
        ratios["steps"] < 2 and tbptt["batches_per_s"] < full["batches_per_s"],
    )
    who = "kit + CUDA graph" if row(run, "kit + CUDA graph", k1) else "bare + CUDA graph"
    base = "kit" if who.startswith("kit") else "bare"
    graphed, eager = row(run, who, k1), row(run, base, k1)
    ratios["graphed"] = graphed["batches_per_s"] / eager["batches_per_s"]
    ratios["graphed_vs_full"] = graphed["batches_per_s"] / row(run, base, None)["batches_per_s"]
    claim(
        f"Replayed as CUDA graphs ({who}), TBPTT({k1}) trains {graphed['batches_per_s']:.0f} "
        f"batches/s: **{ratios['graphed']:.1f}×** the same loop run eagerly, and "
        f"{ratios['graphed_vs_full']:.2f}× its eager full BPTT.",
        ratios["graphed"] > 1,
    )
    return ratios


def plot_gpu_speed(run: dict):
    """Batches of windows per second, full BPTT and TBPTT(100), each loop of the run."""
    whos = list(dict.fromkeys(r["who"] for r in run["speed"] if "error" not in r))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    width = 0.8 / len(whos)
    for i, who in enumerate(whos):
        values = [(row(run, who, s) or {}).get("batches_per_s", 0) for s in (None, 100)]
        places = [j + i * width for j in (0, 1)]
        hatch = ["", "//", "..", "xx"][i % 4]  # told apart without colour, too
        ax.bar(places, values, width, label=who, color=PALETTE[i], hatch=hatch)
    ax.set_xticks([j + 0.4 - width / 2 for j in (0, 1)], ["full BPTT", "TBPTT(100)"])
    ax.set(ylabel="batches of windows / s", title=f"{run['gpu']}: {run['source']}")
    ax.legend(fontsize="small")
    describe(
        fig,
        f"Bars: batches of 16 windows of 500 steps trained per second on the {run['gpu']}, "
        f"full BPTT (left group) and TBPTT(100) (right group), for each loop: "
        f"{', '.join(whos)}.",
    )
    return fig
