# Graded test for exercise 06.1: my_truncated_grad_by_lag(model, u, y, sub_seq_len), lag 0 first.
# The reference runs the sub-windows itself and differentiates the last step's loss;
# tk.grad_by_lag and the kit's training step are switched off.
import numpy as np
import torch

import tbptt_kit as tk
from tbptt_kit.checks.grading import kit_disabled

KIT_ANSWERS = ("grad_by_lag", "learner_for")
torch.manual_seed(0)
model_t = tk.StatefulRNN(1, 1, "lstm", 8)
u_t, y_t = torch.randn(4, 24, 1), torch.randn(4, 24, 1)
with kit_disabled(my_truncated_grad_by_lag, *KIT_ANSWERS):
    got = my_truncated_grad_by_lag(model_t, u_t.clone(), y_t.clone(), 6)
got = np.asarray(torch.as_tensor(got).detach(), dtype=np.float64).ravel()
assert got.shape == (24,), "return one number per step of the window, lag 0 first"
assert np.all(got[6:] == 0) and np.all(got[:6] > 0), (
    "TBPTT(6): the gradient reaches lags 0 to 5 and is exactly zero from lag 6 on"
)
# --- hidden tests ---


def reference_truncated_grad_by_lag(model, u, y, sub_seq_len):
    u = u.clone().requires_grad_(True)
    state, preds = None, []  # the window starts from zeros
    for start in range(0, u.shape[1], sub_seq_len):
        pred, state = model.forward_from(u[:, start : start + sub_seq_len], state)
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        preds.append(pred)
    loss = (torch.cat(preds, dim=1)[:, -1] - y[:, -1]).abs().mean()  # the last step's mae
    (grad,) = torch.autograd.grad(loss, u)
    per_step = torch.linalg.vector_norm(grad, dim=(0, 2))  # (T,), time order
    return per_step.detach().numpy()[::-1]  # the last step (lag 0) first


for seed, (bs, win_sz, hidden, layers), k in (
    (0, (4, 24, 8, 1), 6),
    (1, (8, 40, 8, 1), 8),
    (2, (4, 30, 8, 1), 30),  # one sub-window: full BPTT
    (3, (2, 20, 6, 1), 1),  # every step cut: only lag 0 is reached
    (4, (3, 36, 5, 2), 12),  # two layers
):
    torch.manual_seed(seed)
    model_t = tk.StatefulRNN(1, 1, "lstm", hidden, layers)
    u_t, y_t = torch.randn(bs, win_sz, 1), torch.randn(bs, win_sz, 1)
    with torch.no_grad():  # a carried state, which the measurement must not start from
        model_t(torch.randn(bs, 5, 1))
    want = reference_truncated_grad_by_lag(model_t, u_t, y_t, k)
    with kit_disabled(my_truncated_grad_by_lag, *KIT_ANSWERS):
        got = my_truncated_grad_by_lag(model_t, u_t.clone(), y_t.clone(), k)
    got = np.asarray(torch.as_tensor(got).detach(), dtype=np.float64).ravel()
    assert got.shape == want.shape, "return one number per step of the window"
    assert np.allclose(got, want, rtol=1e-4, atol=1e-9), (
        f"the curve differs (seed {seed}, sub_seq_len {k})"
    )
    assert np.all(got[k:] == 0), f"sub_seq_len {k}: from lag {k} on the gradient is exactly 0"
