"""Predict the activation memory of one training step from the sizes alone.

The course's claim in one formula: autograd keeps a few floats per sample and per step of
the sequence it backpropagates through. Full BPTT backpropagates through the window
(T = win_sz), so memory grows with it; truncated BPTT through one sub-window at a time
(T = sub_seq_len), so memory stays flat. ``measure.py`` checks the formula on this machine.
"""

from __future__ import annotations

from ...core.model import RNN_TYPES
from ...validation import check_int
from .kernels import FLOAT_BYTES, kernel_path, onednn_workspace_bytes

__all__ = ["CUDNN_CELL", "NATIVE_CELL", "estimate_memory"]

# Floats kept per step, per sample and per layer by PyTorch's native cells (check with
# benchmarks/memory_sweep.py --paths; estimate_memory's docstring says what they are).
NATIVE_CELL = {"lstm": 7, "gru": 7, "rnn": 1}
# What cuDNN keeps per step, per sample and per layer (its reserve space and its output), in
# units of hidden_size: measured with benchmarks/gpu.py (benchmarks/README.md, GPU section).
CUDNN_CELL = {"lstm": 6, "gru": 7, "rnn": 2}
CUDNN_FIXED_BYTES = 256  # measured: a constant per call, whatever the sizes


def estimate_memory(
    rnn_type: str,
    hidden_size: int,
    num_layers: int,
    bs: int,
    win_sz: int,
    sub_seq_len: int | None = None,
    input_size: int = 1,
    output_size: int = 1,
    device="cpu",
    path: str | None = None,
    *,
    graph_len: int | None = None,
) -> int:
    """Predict the activation memory (bytes) of one training step of a ``StatefulRNN``.

    Autograd keeps, for the backward pass, a number of floats (4 bytes each) per sample
    and per step of the sequence it backpropagates through, T steps: T = sub_seq_len under
    truncated BPTT (sub-windows run one after another, so one is held at a time), T = win_sz
    under full BPTT. Any other mode: give ``graph_len`` instead of sub_seq_len, the steps one
    optimizer step's graph holds, ``BPTT.graph_len(win_sz)`` (k2 for TBPTT(k1, k2), the
    chunk for checkpointing). With B = bs, H = hidden_size, L = num_layers, I = input_size,
    O = output_size:

        bytes = 4 * B * T * (I + O + H)  +  L * (what one layer keeps)

    - I: the normalised input (the model normalises u: a new tensor, not the batch).
    - O: the loss's residual pred - y (mean absolute and mean squared error keep it).
    - H: the linear head's input, a contiguous copy of the last layer's output (the fused
      kernels, oneDNN and cuDNN, return it time-major; with bs = 1 it needs no copy).

    What one layer keeps depends on the kernel path (``kernel_path``):

    native (GRU and plain RNN on CPU; the LSTM when oneDNN is off): PyTorch's own cells,
        small operations that each keep their inputs; per step:
        LSTM 7H: the gates i, f, g, o (4H, activated in place: one block), c(t-1) for
                 f * c, tanh(c(t)) for o * tanh(c), and h(t-1) for W_hh h.
        GRU 7H: r, z and W_hn h + b_hn (one block of 3H), a copy of W_hn h + b_hn taken
                before r * (...) overwrites it, n, h(t-1) - n, and h(t-1).
        RNN 1H: h(t) = tanh(...), which is also the next step's h(t-1); plus h(0).
        A layer below the last also has its output sequence (H) kept by the layer above:
        bytes = 4 * B * T * (I + O + L * H + L * cell)   [+ 4 * B * H * L for the RNN]
    onednn (the LSTM on CPU, by default): one fused kernel per layer. It keeps its output
        sequence (H) and the states it starts from and ends at (4 of B x H), and a
        workspace with, per step, the gates (4H) and h (H), and for each of T + 1 time
        points and both of the layer's rows (its input and its output): h, c, and room
        for the gradients of h (twice) and c. Rows that hold h or its gradient are
        padded to ld = H rounded up to 16 floats; each part starts on a 4 KiB page:
        per step about ld(4H) + ld(H) + 6 ld(H) + 4H, i.e. 15H for H a multiple of 16,
        16.4H for H = 40 (``onednn_workspace_bytes`` has the exact sizes).
    cudnn: cuDNN's reserve space and output sequence, per step 6H for the LSTM, 7H for the
        GRU, 2H for the RNN; the state it starts from (h, and c for the LSTM); 256 bytes
        more per call. Measured on an H200 with cuDNN 9.19 (benchmarks/gpu.py).

    An exact backward pass needs less. For an LSTM: the 4 gates and c(t) of every
    step, 5H; h(t) = o * tanh(c(t)) is cheap to recompute. Native keeps 7H, oneDNN ~16H.

    device: where it will run ("cpu", "cuda"); path: force a kernel path ("onednn",
    "native", "cudnn"); default: the one ``kernel_path`` predicts for this machine.
    Assumes float32 and the oneDNN workspace layout of PyTorch 2.x's bundled oneDNN.
    """
    if rnn_type not in RNN_TYPES:
        raise ValueError(f"rnn_type={rnn_type!r} is unknown: choose one of {sorted(RNN_TYPES)}.")
    sizes = dict(hidden_size=hidden_size, num_layers=num_layers, bs=bs, win_sz=win_sz)
    sizes |= dict(input_size=input_size, output_size=output_size)
    hidden_size, num_layers, bs, win_sz, input_size, output_size = (
        check_int(name, value) for name, value in sizes.items()
    )
    T = _steps_held(win_sz, sub_seq_len, graph_len)
    path = path or kernel_path(rnn_type, device)
    if path == "onednn" and rnn_type != "lstm":
        raise ValueError(f"oneDNN has no {rnn_type} path in PyTorch: only the LSTM takes it.")
    B, H, L = bs, hidden_size, num_layers
    n_states = 2 if rnn_type == "lstm" else 1  # (h, c) or h
    head_copy = H if B > 1 or path == "native" else 0  # time-major output made batch-first
    floats = B * T * (input_size + output_size + head_copy)  # input, residual, the head's copy
    nbytes = 0
    # layers differ only as the first (its input) and the last (no layer above keeps its
    # output): one of each kind, counted as often as it occurs (time flat in num_layers)
    kinds = {0: 1, L - 1: 1} | ({1: L - 2} if L > 2 else {})
    for layer, count in kinds.items():
        if path == "onednn":
            layer_in = input_size if layer == 0 else H
            nbytes += count * onednn_workspace_bytes(T, B, layer_in, H)
            floats += count * (B * T * H + 2 * n_states * B * H)  # output; first, last states
        elif path == "native":
            floats += count * B * T * NATIVE_CELL[rnn_type] * H
            floats += count * B * T * H * (layer < L - 1)  # its output, kept by the layer above
            floats += count * B * H * (rnn_type == "rnn")  # h(0); LSTM, GRU: in the 7H
        elif path == "cudnn":
            floats += count * (B * T * CUDNN_CELL[rnn_type] * H + n_states * B * H)
            nbytes += CUDNN_FIXED_BYTES * (layer == 0)
        else:
            raise ValueError(f"path={path!r} is unknown: choose 'onednn', 'native' or 'cudnn'.")
    return nbytes + FLOAT_BYTES * floats


def _steps_held(win_sz: int, sub_seq_len: int | None = None, graph_len: int | None = None) -> int:
    """T, the steps one optimizer step's graph holds, at most ``win_sz``: ``graph_len`` (any
    mode, ``BPTT.graph_len(win_sz)``), else ``sub_seq_len`` (truncated BPTT's sub-window),
    else ``win_sz`` (full BPTT). A ValueError when both are given."""
    if sub_seq_len is not None and graph_len is not None:
        raise ValueError(
            f"give sub_seq_len (truncated BPTT's sub-window) or graph_len (the steps one "
            f"step's graph holds, any mode), not both: got sub_seq_len={sub_seq_len}, "
            f"graph_len={graph_len}."
        )
    name, steps = (
        ("graph_len", graph_len) if graph_len is not None else ("sub_seq_len", sub_seq_len)
    )
    return win_sz if steps is None else check_int(name, steps, maximum=win_sz)
