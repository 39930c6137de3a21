"""GPU figures, in one run: memory against win_sz and the speed of full BPTT against TBPTT.

1. Memory of one training step on CUDA (LSTM/GRU/RNN, hidden 40 and 128, bs 16, win_sz
   500 ... 5000, full BPTT and TBPTT(100)): the activation memory autograd keeps (the
   kit's saved-tensor meter), the allocator's peak (``torch.cuda.max_memory_allocated``)
   and ``estimate_memory``'s cuDNN prediction beside them.
2. Speed at the example's settings (simulated Silverbox, win_sz 500, stp_sz 10, bs 16,
   LSTM 40, Adam 3e-3): batches of windows per second, full BPTT and TBPTT(100), for the
   kit (``RNNLearner``, timed over its training batches, ``tbptt_kit.course.gpu_speed``),
   eager and with ``cuda_graph=True`` (its peak memory beside), and for a bare PyTorch loop
   (``nn.LSTM`` + ``nn.Linear``, the state carried and detached), and the bare loop with its
   (sub-)window step (forward, loss, backward) captured in a CUDA graph.

It writes gpu.json and gpu.md (a Markdown table) into --out. Needs a CUDA GPU.
``--speed-only`` skips part 1 (a few minutes). ``--table FILE`` prints the table of an
earlier run's gpu.json with the predictions of the ``estimate_memory`` in this checkout (no
GPU needed): tbptt_kit/course/runs/gpu-h200.json holds the run that benchmarks/README.md shows.

    python benchmarks/gpu.py --out gpu-run
    python benchmarks/gpu.py --speed-only --out gpu-run    # benchmarks/gpu_check.sh runs it
    python benchmarks/gpu.py --table tbptt_kit/course/runs/gpu-h200.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from torch import nn

from tbptt_kit import create_dls_silverbox
from tbptt_kit.core.model import StatefulRNN
from tbptt_kit.course.gpu_speed import kit_speed
from tbptt_kit.course.memory import estimate_memory, measure_memory

BS, WIN_SZ, STP_SZ, HIDDEN, LR, K1 = 16, 500, 10, 40, 3e-3, 100


# -- 1. memory --------------------------------------------------------------------------
def memory_rows(win_szs=(500, 1000, 2000, 5000), hiddens=(40, 128, 256)) -> list[dict]:
    """One row per setting: the example's (bs 16, one layer) over win_sz and hidden size,
    then two layers and other batch sizes at a few settings."""
    settings = [
        (rnn_type, hidden, 1, BS, win_szs)
        for rnn_type in ("lstm", "gru", "rnn")
        for hidden in hiddens
    ]
    settings += [(rnn_type, 40, 2, BS, (500, 1000)) for rnn_type in ("lstm", "gru", "rnn")]
    settings += [
        (rnn_type, 40, 1, bs, (500,)) for rnn_type in ("lstm", "gru", "rnn") for bs in (1, 4, 64)
    ]
    rows = []
    for rnn_type, hidden, layers, bs, lens in settings:
        torch.manual_seed(0)
        model = StatefulRNN(rnn_type=rnn_type, hidden_size=hidden, num_layers=layers).cuda()
        for win_sz in lens:
            u = torch.randn(bs, win_sz, 1, device="cuda")
            y = torch.randn(bs, win_sz, 1, device="cuda")
            for k1 in (None, K1):
                r = measure_memory(model, (u, y), sub_seq_len=k1)
                pred = estimate_memory(rnn_type, hidden, layers, bs, win_sz, k1, device="cuda")
                rows.append(
                    dict(
                        rnn_type=rnn_type,
                        hidden=hidden,
                        layers=layers,
                        bs=bs,
                        win_sz=win_sz,
                        sub_seq_len=k1,
                        activation_bytes=r.activation_bytes,
                        peak_bytes=r.peak_bytes,
                        predicted_bytes=pred,
                        path=r.path,
                        kernel=r.kernel,
                    )
                )
                print(rows[-1], flush=True)
    return rows


# -- 2. speed ---------------------------------------------------------------------------
class Bare(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn, self.head = nn.LSTM(1, HIDDEN, batch_first=True), nn.Linear(HIDDEN, 1)

    def forward(self, u, state=None):
        out, state = self.rnn(u, state)
        return self.head(out), state


def bare_speed(batches, k1, graphed=False) -> dict:
    """A plain loop over ``batches`` [(u, y)] on CUDA: full BPTT, or TBPTT(k1) with the state
    carried and detached; ``graphed``: each sub-window's forward+loss+backward is one CUDA
    graph replay (the optimizer step runs outside the graph)."""
    torch.manual_seed(0)
    model = Bare().cuda()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    k1 = k1 or WIN_SZ
    if graphed:
        static_u = torch.zeros(BS, k1, 1, device="cuda")
        static_y = torch.zeros(BS, k1, 1, device="cuda")
        static_h = torch.zeros(1, BS, HIDDEN, device="cuda")
        static_c = torch.zeros(1, BS, HIDDEN, device="cuda")
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):  # warm up on a side stream, as torch's docs ask
            for _ in range(3):
                opt.zero_grad(set_to_none=False)
                pred, (h, c) = model(static_u, (static_h, static_c))
                (pred - static_y).abs().mean().backward()
        torch.cuda.current_stream().wait_stream(s)
        opt.zero_grad(set_to_none=True)  # the graph's backward fills fresh .grad tensors
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            pred, (h_out, c_out) = model(static_u, (static_h, static_c))
            static_loss = (pred - static_y).abs().mean()
            static_loss.backward()

    def step(u, y, state):
        if graphed:
            with torch.no_grad():
                static_u.copy_(u), static_y.copy_(y)
                if state is None:
                    static_h.zero_(), static_c.zero_()
                else:
                    static_h.copy_(state[0]), static_c.copy_(state[1])
            graph.replay()
            opt.step()
            return (h_out, c_out)  # read by the next copy_ before the next replay
        opt.zero_grad(set_to_none=True)
        pred, state = model(u, state)
        (pred - y).abs().mean().backward()
        opt.step()
        return tuple(s.detach() for s in state)

    def epoch(n):
        for u, y in batches[:n]:
            state = None
            for t in range(0, WIN_SZ, k1):
                state = step(u[:, t : t + k1], y[:, t : t + k1], state)

    epoch(20)  # warm-up
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    epoch(len(batches))
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return dict(batches_per_s=len(batches) / dt, steps_per_s=len(batches) * (WIN_SZ // k1) / dt)


def speed_rows() -> list[dict]:
    rows = []
    for k1 in (None, K1):
        dls = create_dls_silverbox(bs=BS, win_sz=WIN_SZ, stp_sz=STP_SZ, sub_seq_len=k1).to("cuda")
        for graphed in (False, True):
            try:
                r = kit_speed(dls, k1, cuda_graph=graphed)
            except Exception as e:  # report, go on: the table says what failed
                r = dict(error=f"{type(e).__name__}: {e}"[:300])
            rows.append(dict(who="kit + CUDA graph" if graphed else "kit", sub_seq_len=k1, **r))
            print(rows[-1], flush=True)
    dls = create_dls_silverbox(bs=BS, win_sz=WIN_SZ, stp_sz=STP_SZ)
    batches = [(b.u.cuda(), b.y.cuda()) for b in dls.train if len(b.u) == BS][:400]
    for k1 in (None, K1):
        for graphed in (False, True):
            try:
                r = bare_speed(batches, k1, graphed)
            except Exception as e:  # report, go on: the table says what failed
                r = dict(error=f"{type(e).__name__}: {e}"[:300])
            rows.append(
                dict(who="bare" + (" + CUDA graph" if graphed else ""), sub_seq_len=k1, **r)
            )
            print(rows[-1], flush=True)
    return rows


# -- the table --------------------------------------------------------------------------
def mib(n):
    return "" if n is None else f"{n / 2**20:.2f}"


def markdown(info, mem, speed) -> str:
    lines = [f"GPU: {info['gpu']}, torch {info['torch']}, cuDNN {info['cudnn']}", ""]
    if mem:
        lines += [
            "| RNN | H | layers | bs | win_sz | mode | activations MiB | predicted MiB | pred/meas | peak MiB |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
    for r in mem:
        mode = "full" if r["sub_seq_len"] is None else f"TBPTT({r['sub_seq_len']})"
        ratio = r["predicted_bytes"] / r["activation_bytes"]
        lines.append(
            f"| {r['rnn_type']} | {r['hidden']} | {r['layers']} | {r['bs']} | {r['win_sz']} | {mode} | "
            f"{mib(r['activation_bytes'])} | {mib(r['predicted_bytes'])} | {ratio:.3f} | "
            f"{mib(r['peak_bytes'])} |"
        )
    lines += [
        "",
        "| who | mode | batches/s | optimizer steps/s | peak MiB | reserved MiB | steps replayed / eager |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in speed:
        mode = "full" if r["sub_seq_len"] is None else f"TBPTT({r['sub_seq_len']})"
        if "error" in r:
            lines.append(f"| {r['who']} | {mode} | failed: {r['error'][:80]} | | | | |")
            continue
        replayed = f"{r['replayed']} / {r['eager']}" if "replayed" in r else ""
        lines.append(
            f"| {r['who']} | {mode} | {r['batches_per_s']:.0f} | {r['steps_per_s']:.0f} | "
            f"{mib(r.get('peak_bytes'))} | {mib(r.get('reserved_bytes'))} | {replayed} |"
        )
    return "\n".join([*lines, "", *summary(speed)]) + "\n"


def summary(speed) -> list[str]:
    """Issue 34's ratios: the kit's graphed TBPTT(100) and graphed full BPTT against its eager
    full BPTT (targets 0.8 and 2), and the graphed peak memory against the eager one."""
    rate = {
        (r["who"], r["sub_seq_len"]): r for r in speed if "error" not in r and "batches_per_s" in r
    }
    eager_full = rate.get(("kit", None))
    lines = []
    for k1, target in ((K1, 0.8), (None, 2.0)):
        graphed, eager = rate.get(("kit + CUDA graph", k1)), rate.get(("kit", k1))
        mode = "full" if k1 is None else f"TBPTT({k1})"
        if graphed is None or eager_full is None:
            lines.append(f"graphed {mode}: not measured in this run")
            continue
        ratio = graphed["batches_per_s"] / eager_full["batches_per_s"]
        memory = graphed["peak_bytes"] / eager["peak_bytes"] if eager else float("nan")
        lines.append(
            f"graphed {mode} / eager full: {ratio:.2f}x (target >= {target}: "
            f"{'met' if ratio >= target else 'NOT met'}); peak memory graphed / eager "
            f"{mode}: {memory:.3f}"
        )
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="gpu-run")
    ap.add_argument("--table", help="an earlier run's gpu.json: print its table, run nothing")
    ap.add_argument("--speed-only", action="store_true", help="skip the memory sweep (part 1)")
    args = ap.parse_args()
    if args.table:
        run = json.loads(Path(args.table).read_text())
        for r in run["memory"]:  # the prediction of this checkout, beside the measurement
            sizes = [r[k] for k in ("rnn_type", "hidden", "layers", "bs", "win_sz", "sub_seq_len")]
            r["predicted_bytes"] = estimate_memory(*sizes, path="cudnn")
        print(markdown(run["info"], run["memory"], run["speed"]))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    info = dict(
        gpu=torch.cuda.get_device_name(),
        torch=torch.__version__,
        cudnn=torch.backends.cudnn.version(),
        python=platform.python_version(),
    )
    print(info, flush=True)
    mem = [] if args.speed_only else memory_rows()
    (out / "gpu.json").write_text(json.dumps(dict(info=info, memory=mem), indent=1))
    speed = speed_rows()
    (out / "gpu.json").write_text(json.dumps(dict(info=info, memory=mem, speed=speed), indent=1))
    (out / "gpu.md").write_text(markdown(info, mem, speed))
    print(markdown(info, mem, speed))


if __name__ == "__main__":
    main()
