"""An LSTM with a linear head, its gradients worked out by hand in float64 numpy: the
references of exercises 04.1, 04.2 and 06.1, independent of torch's autograd and of the kit.

Weights follow ``nn.LSTM``'s layout (per layer W_ih (4H, in), W_hh (4H, H), b_ih, b_hh;
gates i, f, g, o) and ``nn.Linear``'s (W (n_y, H), b): ``weights`` draws them (float32
values, as torch holds them) from a seed, so the student's side builds the same model.

A *segment* runs from a given state with no gradient flowing into that state: exactly what
a detached state is. Truncated BPTT is a chain of segments; full BPTT is one segment.
"""

from __future__ import annotations

import builtins

import numpy as np

__builtins__ = dict(vars(builtins))  # a copy: a cell that patches builtins does not reach here

__all__ = ["reference_run", "weights"]


def weights(seed: int, hidden: int, layers: int = 1, n_in: int = 1, n_out: int = 1) -> list:
    """The parameters in ``nn.LSTM`` then ``nn.Linear`` order, float32 arrays, drawn as
    torch's own initialisation does (uniform in +-1/sqrt(hidden))."""
    rng, bound = np.random.default_rng(seed), hidden**-0.5
    params = []
    for layer in range(layers):
        inputs = n_in if layer == 0 else hidden
        for shape in ((4 * hidden, inputs), (4 * hidden, hidden), (4 * hidden,), (4 * hidden,)):
            params.append(rng.uniform(-bound, bound, shape).astype(np.float32))
    params.append(rng.uniform(-bound, bound, (n_out, hidden)).astype(np.float32))
    params.append(rng.uniform(-bound, bound, (n_out,)).astype(np.float32))
    return params


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _layer_forward(w_ih, w_hh, b, x, h, c):
    """One layer over x (B, T, in) from (h, c): outputs (B, T, H), last (h, c), the cache."""
    H, outs, cache = w_hh.shape[1], [], []
    for t in range(x.shape[1]):
        z = x[:, t] @ w_ih.T + h @ w_hh.T + b
        i, f, o = _sigmoid(z[:, :H]), _sigmoid(z[:, H : 2 * H]), _sigmoid(z[:, 3 * H :])
        g = np.tanh(z[:, 2 * H : 3 * H])
        c_new = f * c + i * g
        tanh_c = np.tanh(c_new)
        cache.append((x[:, t], h, c, i, f, g, o, tanh_c))
        h, c = o * tanh_c, c_new
        outs.append(h)
    return np.stack(outs, axis=1), (h, c), cache


def _layer_backward(w_ih, w_hh, cache, d_out):
    """Gradients of one layer from d_out (B, T, H), nothing flowing into its first state:
    (d_x (B, T, in), d_w_ih, d_w_hh, d_b)."""
    H = w_hh.shape[1]
    d_w_ih, d_w_hh, d_b = np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros(4 * H)
    d_x = np.zeros((d_out.shape[0], d_out.shape[1], w_ih.shape[1]))
    d_h_next, d_c_next = np.zeros_like(d_out[:, 0]), np.zeros_like(d_out[:, 0])
    for t in reversed(range(d_out.shape[1])):
        x, h, c, i, f, g, o, tanh_c = cache[t]
        d_h = d_out[:, t] + d_h_next
        d_c = d_h * o * (1 - tanh_c**2) + d_c_next
        d_z = np.concatenate(
            [d_c * g * i * (1 - i), d_c * c * f * (1 - f), d_c * i * (1 - g**2)]
            + [d_h * tanh_c * o * (1 - o)],
            axis=1,
        )
        d_w_ih += d_z.T @ x
        d_w_hh += d_z.T @ h
        d_b += d_z.sum(axis=0)
        d_x[:, t] = d_z @ w_ih
        d_h_next, d_c_next = d_z @ w_hh, d_c * f
    return d_x, d_w_ih, d_w_hh, d_b


def _segment(params, u, state):
    """Forward over u (B, T, n_in) from ``state`` (per layer (h, c)): predictions
    (B, T, n_out), the state it ends in, and the caches for ``_segment_backward``."""
    layers = (len(params) - 2) // 4
    x, caches, ends = u, [], []
    for layer in range(layers):
        w_ih, w_hh, b_ih, b_hh = params[4 * layer : 4 * layer + 4]
        x, end, cache = _layer_forward(w_ih, w_hh, b_ih + b_hh, x, *state[layer])
        caches.append(cache)
        ends.append(end)
    w_head, b_head = params[-2:]
    return x @ w_head.T + b_head, ends, (caches, x)


def _segment_backward(params, caches, d_pred):
    """Gradients of a segment from d_pred (B, T, n_out): d_u and each parameter's."""
    layer_caches, top = caches
    w_head = params[-2]
    grads = [None] * len(params)
    grads[-2] = np.einsum("bto,bth->oh", d_pred, top)
    grads[-1] = d_pred.sum(axis=(0, 1))
    d_x = d_pred @ w_head
    for layer in reversed(range(len(layer_caches))):
        w_ih, w_hh = params[4 * layer : 4 * layer + 2]
        d_x, d_w_ih, d_w_hh, d_b = _layer_backward(w_ih, w_hh, layer_caches[layer], d_x)
        grads[4 * layer : 4 * layer + 4] = [d_w_ih, d_w_hh, d_b, d_b.copy()]
    return d_x, grads


def reference_run(
    params, batches, sub_seq_len, loss="mse", detach=True, reset="batch", accumulate=True
):
    """Truncated BPTT over ``batches`` [(u, y), ...] (arrays (B, T, 1)) in sub-windows of
    ``sub_seq_len``, gradients summed over every sub-window's loss: (the gradient of each
    parameter, the gradient with respect to the last batch's u).

    loss: "mse" (each sub-window's mean squared error), "last" (the mean absolute error of
    the window's last step) or "every" (the mean absolute error of every step). The usual
    mistakes, for naming them: ``detach=False`` (one graph through the whole window),
    ``reset="every"`` (each sub-window from zeros), ``reset="never"`` (a batch goes on from
    the last batch's state), ``accumulate=False`` (gradients zeroed before each backward)."""
    params = [np.asarray(p, dtype=np.float64) for p in params]
    layers, H = (len(params) - 2) // 4, params[1].shape[1]
    totals, state = [np.zeros_like(p) for p in params], None
    for u, y in batches:
        u, y = np.asarray(u, dtype=np.float64), np.asarray(y, dtype=np.float64)
        B, T = u.shape[:2]
        if state is None or reset == "batch":
            state = [(np.zeros((B, H)), np.zeros((B, H))) for _ in range(layers)]
        step = sub_seq_len if detach else T
        d_u = np.zeros_like(u)
        for t0 in range(0, T, step):
            t1 = min(t0 + step, T)
            if reset == "every":
                state = [(np.zeros((B, H)), np.zeros((B, H))) for _ in range(layers)]
            pred, state, caches = _segment(params, u[:, t0:t1], state)
            d_pred = _loss_grad(pred, y[:, t0:t1], loss, T - t1, sub_seq_len)
            d_u[:, t0:t1], grads = _segment_backward(params, caches, d_pred)
            totals = [a + g for a, g in zip(totals, grads)] if accumulate else grads
    return totals, d_u


def _loss_grad(pred, y, loss, steps_after, sub_seq_len):
    """d loss / d pred for one segment. "mse": the sum of each sub-window's mean squared
    error (a segment without the detach holds several sub-windows); "last": the mean
    absolute error of the window's last step, zero unless this segment holds it; "every":
    the mean absolute error of every step."""
    d = np.zeros_like(pred)
    if loss == "every":  # one segment: the whole window
        return np.sign(pred - y) / pred.size
    if loss == "last":
        if steps_after == 0:
            d[:, -1] = np.sign(pred[:, -1] - y[:, -1]) / (pred.shape[0] * pred.shape[2])
        return d
    B, T, n_out = pred.shape
    for t0 in range(0, T, sub_seq_len):  # each sub-window's own mean
        t1 = min(t0 + sub_seq_len, T)
        d[:, t0:t1] = 2 * (pred[:, t0:t1] - y[:, t0:t1]) / (B * (t1 - t0) * n_out)
    return d
