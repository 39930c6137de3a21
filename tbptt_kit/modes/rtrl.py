"""Real-time recurrent learning (RTRL, Williams & Zipser 1989): the exact gradient, carried
forward in time, with no truncation and no stored past.

BPTT keeps every step's activations and walks back through them: memory grows with the
sequence length T. RTRL instead carries, forward, the *influence matrix*
P_t = dh_t / dθ (how the state h_t (H,) depends on the recurrent weights θ (n_θ,)):

    h_t = tanh(a_t),  a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    P_t = diag(1 - h_t²) (∂a_t/∂θ + W_hh P_{t-1})          (H, n_θ), P_0 = 0
    dL/dθ = sum_t dℓ_t/dh_t · P_t                            no backward pass in time

Nothing of the past is kept but P_t: memory is flat in T. But P_t holds H x n_θ numbers,
n_θ = H (n_u + H + 2), so about H³, and W_hh P_{t-1} costs about H⁴ operations per step:
quartic in the state size, which is why it is not used at scale (UORO and SnAp approximate
P_t cheaply). Here for a plain tanh ``StatefulRNN`` ("rnn", one layer, signals).
"""

from __future__ import annotations

import torch

from ..units import format_bytes, parse_bytes
from ..validation import check_int

__all__ = ["check_rtrl", "influence_bytes", "rtrl_gradient"]


def influence_bytes(model, bs: int) -> int:
    """Peak bytes of ``rtrl_gradient``: two influence matrices, P_{t-1} and the P_t built
    from it, 2 x bs x H x n_θ numbers (the rest is O(bs H + n_θ)). Against the measured
    peak: 17% under at H = 8, bs = 1; within 1% from H = 32 (``benchmarks/rtrl_memory.py``)."""
    bs = check_int("bs", bs)
    hidden, n_theta = model.hidden_size, sum(p.numel() for p in model.rnn.parameters())
    return 2 * bs * hidden * n_theta * next(model.parameters()).element_size()


def check_rtrl(model, bs: int, max_memory="1 GiB") -> None:
    """Raise a ValueError unless RTRL can run ``model`` (a one-layer tanh RNN on signals)
    with ``bs`` windows within ``max_memory`` (bytes or e.g. "1 GiB")."""
    if model.rnn_type != "rnn" or model.num_layers != 1 or model.vocab_size is not None:
        raise ValueError(
            f"RTRL here runs a one-layer plain tanh RNN on signals, got rnn_type="
            f"{model.rnn_type!r}, num_layers={model.num_layers}, vocab_size={model.vocab_size}."
        )
    need, budget = influence_bytes(model, bs), parse_bytes(max_memory)
    if need > budget:
        hidden, n_theta = model.hidden_size, sum(p.numel() for p in model.rnn.parameters())
        raise ValueError(
            f"RTRL with hidden_size={hidden} and bs={bs} holds two influence matrices of "
            f"bs x H x n_θ = {bs} x {hidden} x {n_theta}: "
            f"{format_bytes(need)}, more than max_memory="
            f"{format_bytes(budget)}. Choose a smaller hidden_size (the memory grows like H³)."
        )


def _add_immediate(p: torch.Tensor, x: torch.Tensor, h_prev: torch.Tensor) -> None:
    """p += ∂a_t/∂θ with h_{t-1} held fixed, in place. p: (bs, H, n_θ), θ = (W_ih, W_hh,
    b_ih, b_hh) flattened row by row. ∂a_i/∂W[k, j] = δ_ik x_j is zero off the diagonal
    i = k: only that diagonal is written (a view), no (bs, H, n_θ) array is built."""
    hidden, n_u = p.shape[1], x.shape[1]
    blocks = p.split([hidden * n_u, hidden * hidden, hidden, hidden], dim=2)
    for block, row in ((blocks[0], x), (blocks[1], h_prev)):  # W_ih: x_j, W_hh: h_j
        block.unflatten(2, (hidden, -1)).diagonal(dim1=1, dim2=2).add_(row[:, :, None])
    for bias in blocks[2:]:  # b_ih, b_hh: δ_ik
        bias.diagonal(dim1=1, dim2=2).add_(1)


def rtrl_gradient(model, u: torch.Tensor, y: torch.Tensor, max_memory="1 GiB") -> torch.Tensor:
    """The gradient of sum((pred - y)²) / numel over windows u (bs, T, n_u), y (bs, T, n_y),
    from a zero state, computed forward in time by RTRL. Returns it flattened (n_params,), in
    the order of ``model.parameters()``: the same vector as full BPTT's
    (``bias.window_gradient(model, u, y, BPTT())``). Memory: flat in T. u and y are taken
    in the model's dtype (float64 windows for a float32 model: float32, as the loaders do)."""
    u, y = _check_windows(model, u, y)
    check_rtrl(model, u.shape[0], max_memory)
    rnn, w_hh = model.rnn, model.rnn.weight_hh_l0.detach()
    bs, hidden, scale = u.shape[0], model.hidden_size, y.numel()
    x_all = ((u - model.u_mean) / model.u_std).detach()
    h = u.new_zeros(bs, hidden)
    n_theta = sum(p.numel() for p in rnn.parameters())
    influence = u.new_zeros(bs, hidden, n_theta)  # P_0 = 0
    grad_rnn = u.new_zeros(n_theta)
    grad_head = [torch.zeros_like(p) for p in model.head.parameters()]
    for t in range(u.shape[1]):
        x = x_all[:, t]
        with torch.no_grad():
            a = x @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ w_hh.T + rnn.bias_hh_l0
            h_new = torch.tanh(a)
            carried = torch.matmul(w_hh, influence)  # W_hh P_{t-1}: the H⁴ step
            _add_immediate(carried, x, h)  # + ∂a_t/∂θ
            influence = carried.mul_((1 - h_new**2)[:, :, None])  # P_t; P_{t-1} is freed
        h = h_new
        h_leaf = h.detach().requires_grad_(True)  # this step's loss, local in time
        pred = model.head(h_leaf) * model.y_std + model.y_mean
        loss = (pred - y[:, t]).pow(2).sum() / scale
        d_h, *d_head = torch.autograd.grad(loss, [h_leaf, *model.head.parameters()])
        grad_rnn += torch.bmm(d_h[:, None, :], influence).sum(dim=(0, 1))  # dℓ/dh_t · P_t
        grad_head = [g + d for g, d in zip(grad_head, d_head)]
    return torch.cat([grad_rnn, *(g.flatten() for g in grad_head)])


def _check_windows(model, u, y) -> tuple[torch.Tensor, torch.Tensor]:
    """u (bs, T, n_u) and y (bs, T, n_y) as tensors of the model's dtype; a TypeError or a
    ValueError naming the shapes for anything else."""
    if not (torch.is_tensor(u) and torch.is_tensor(y)) or u.is_complex() or y.is_complex():
        raise TypeError(
            f"u and y must be real tensors (bs, T, n_u) and (bs, T, n_y), got "
            f"{type(u).__name__} and {type(y).__name__}."
        )
    want = (len(model.u_mean), len(model.y_mean))
    if u.ndim != 3 or y.ndim != 3 or u.shape[:2] != y.shape[:2] or (u.shape[2], y.shape[2]) != want:
        raise ValueError(
            f"u {tuple(u.shape)} and y {tuple(y.shape)} must be windows (bs, T, n_u) and "
            f"(bs, T, n_y) with the same bs and T, and the model's (n_u, n_y) = {want}."
        )
    dtype = next(model.parameters()).dtype
    return u.to(dtype), y.to(dtype)
