"""Which RNN kernel runs, and the workspace layout of oneDNN's LSTM.

Each implementation of the same RNN keeps a different amount for backward: PyTorch's
native cells, oneDNN's fused LSTM (the CPU default), cuDNN on NVIDIA GPUs. ``kernel_path``
says which will run, ``path_of`` reads which did from a loss's graph.
"""

from __future__ import annotations

import torch

__all__ = ["FLOAT_BYTES", "kernel_path", "onednn_workspace_bytes", "path_of"]

FLOAT_BYTES = 4  # float32
_PAGE = 4096

# grad_fn names of the RNN kernels, as PyTorch names their backward nodes
_KERNELS = {
    "MkldnnRnnLayerBackward": "onednn",  # CPU LSTM, the default
    "CudnnRnnBackward": "cudnn",
    "MiopenRnnBackward": "miopen",
    "ThnnFusedLstmCellBackward": "native",  # CUDA without cuDNN: fused cells
    "ThnnFusedGruCellBackward": "native",
}


def path_of(loss: torch.Tensor, max_nodes: int = 5000) -> tuple[str, str]:
    """(path, grad_fn name) of the RNN kernel behind ``loss``, read from its graph.

    Walks back from ``loss.grad_fn`` to the first node that names an RNN kernel. The
    native path has no such node: its cells are plain operations whose outputs are
    stacked (``StackBackward0``). Works after ``backward()`` too: the nodes remain.
    """
    todo, seen, stacked = [loss.grad_fn], set(), None
    while todo and len(seen) < max_nodes:
        node = todo.pop(0)
        if node is None or node in seen:
            continue
        seen.add(node)
        name = node.name()
        for prefix, path in _KERNELS.items():
            if name.startswith(prefix):
                return path, name
        if name.startswith("StackBackward") and stacked is None:
            stacked = name
        todo.extend(fn for fn, _ in node.next_functions)
    return ("native", stacked) if stacked else ("unknown", "")


def kernel_path(rnn_type: str, device="cpu") -> str:
    """The path PyTorch will take for this RNN here, before running it.

    CPU: the LSTM takes oneDNN when PyTorch has it and it is enabled (the default);
    GRU and plain RNN have no oneDNN path and run PyTorch's native cells. CUDA: cuDNN
    when enabled (the default), else PyTorch's fused native cells.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return (
            "cudnn"
            if torch.backends.cudnn.is_available() and torch.backends.cudnn.enabled
            else "native"
        )
    onednn = torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
    return "onednn" if rnn_type == "lstm" and onednn else "native"


def _onednn_ld(n: int) -> int:
    """oneDNN's row length for n floats: rounded up to 16 floats (64 bytes), plus 16 more
    when the result is a multiple of 256 (to dodge 4 KiB cache aliasing)."""
    ld = -(-n // 16) * 16
    return ld + 16 if ld % 256 == 0 else ld


def onednn_workspace_bytes(seq_len: int, bs: int, input_size: int, hidden_size: int) -> int:
    """Bytes of the workspace oneDNN's LSTM keeps for backward, for one layer.

    Seven sections, each starting on a 4 KiB page, in floats per sample:
    gates 4H and the hidden output H for each of the T steps; for each of the T + 1
    time points (the initial state too) and for both the layer's input and its output
    (2 rows): the states h, the cell states c, and room for the gradients of h (twice,
    for the layer and the iteration directions) and of c. Rows holding h or its gradient
    have the padded length ld(max(input_size, H)).
    """
    T, B, H = seq_len, bs, hidden_size
    w = _onednn_ld(max(input_size, H))
    sections = [
        T * B * _onednn_ld(4 * H),  # gates i, f, g, o
        T * B * _onednn_ld(H),  # hidden output h
        2 * (T + 1) * B * w,  # states h (input and output rows)
        2 * (T + 1) * B * H,  # cell states c
        2 * (T + 1) * B * w,  # gradient of h, layer direction
        2 * (T + 1) * B * w,  # gradient of h, iteration direction
        2 * (T + 1) * B * H,  # gradient of c
    ]
    return sum(-(-FLOAT_BYTES * s // _PAGE) * _PAGE for s in sections)
