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

__all__ = ["check_rtrl", "influence_bytes", "rtrl_gradient"]


def influence_bytes(model, bs: int) -> int:
    """Bytes of RTRL's influence matrix (and of one step's ∂a/∂θ beside it): 2 x bs x H x n_θ."""
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
            f"RTRL with hidden_size={hidden} and bs={bs} holds an influence matrix of "
            f"bs x H x n_θ = {bs} x {hidden} x {n_theta}: "
            f"{format_bytes(need)} with one step's ∂a/∂θ, more than max_memory="
            f"{format_bytes(budget)}. Choose a smaller hidden_size (the memory grows like H³)."
        )


def _immediate(x: torch.Tensor, h_prev: torch.Tensor, hidden: int) -> torch.Tensor:
    """∂a_t/∂θ with h_{t-1} held fixed: (bs, H, n_θ), θ = (W_ih, W_hh, b_ih, b_hh) flattened."""
    bs, eye = x.shape[0], torch.eye(hidden, dtype=x.dtype, device=x.device)
    w_ih = eye[None, :, :, None] * x[:, None, None, :]  # (bs, H, H, n_u): δ_ki x_j
    w_hh = eye[None, :, :, None] * h_prev[:, None, None, :]  # (bs, H, H, H): δ_ki h_j
    biases = eye.expand(bs, hidden, hidden)
    return torch.cat([w_ih.flatten(2), w_hh.flatten(2), biases, biases], dim=2)


def rtrl_gradient(model, u: torch.Tensor, y: torch.Tensor, max_memory="1 GiB") -> torch.Tensor:
    """The gradient of sum((pred - y)²) / numel over windows u (bs, T, n_u), y (bs, T, n_y),
    from a zero state, computed forward in time by RTRL. Returns it flattened (n_params,), in
    the order of ``model.parameters()``: the same vector as full BPTT's
    (``bias.window_gradient(model, u, y, BPTT())``). Memory: flat in T."""
    check_rtrl(model, u.shape[0], max_memory)
    w_hh = model.rnn.weight_hh_l0.detach()
    bs, hidden, scale = u.shape[0], model.hidden_size, y.numel()
    x_all = ((u - model.u_mean) / model.u_std).detach()
    h = torch.zeros(bs, hidden, dtype=u.dtype, device=u.device)
    n_theta = sum(p.numel() for p in model.rnn.parameters())
    influence = torch.zeros(bs, hidden, n_theta, dtype=u.dtype, device=u.device)
    grad_rnn = torch.zeros(n_theta, dtype=u.dtype, device=u.device)
    grad_head = [torch.zeros_like(p) for p in model.head.parameters()]
    rnn = model.rnn
    for t in range(u.shape[1]):
        x = x_all[:, t]
        with torch.no_grad():
            a = x @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ w_hh.T + rnn.bias_hh_l0
            h_new = torch.tanh(a)
            carried = torch.einsum("ij,bjn->bin", w_hh, influence)  # the H⁴ step
            influence = (1 - h_new**2)[:, :, None] * (_immediate(x, h, hidden) + carried)
        h = h_new
        h_leaf = h.detach().requires_grad_(True)  # this step's loss, local in time
        pred = model.head(h_leaf) * model.y_std + model.y_mean
        loss = (pred - y[:, t]).pow(2).sum() / scale
        d_h, *d_head = torch.autograd.grad(loss, [h_leaf, *model.head.parameters()])
        grad_rnn += torch.einsum("bi,bin->n", d_h, influence)
        grad_head = [g + d for g, d in zip(grad_head, d_head)]
    return torch.cat([grad_rnn, *(g.flatten() for g in grad_head)])
