# Graded test for exercise 04.2: my_grad_by_lag(model, u, y), lag 0 first.
# The reference differentiates the last step's loss here; tk.grad_by_lag is switched off.
import numpy as np
import torch

import tbptt_kit as tk
from tbptt_kit.checks.grading import kit_disabled

KIT_ANSWERS = ("grad_by_lag", "lag_norms")
torch.manual_seed(0)
model_t = tk.StatefulRNN(1, 1, "lstm", 8)
u_t, y_t = torch.randn(4, 30, 1), torch.randn(4, 30, 1)
with kit_disabled(my_grad_by_lag, *KIT_ANSWERS):
    got = np.asarray(torch.as_tensor(my_grad_by_lag(model_t, u_t.clone(), y_t.clone())))
assert got.shape == (30,), "return one number per step of the window"
# --- hidden tests ---


def reference_grad_by_lag(model, u, y):
    u = u.clone().requires_grad_(True)
    pred, _ = model.forward_from(u)  # full BPTT from a zero state
    loss = (pred[:, -1] - y[:, -1]).abs().mean()
    (grad,) = torch.autograd.grad(loss, u)
    per_step = torch.linalg.vector_norm(grad, dim=(0, 2))  # (T,), time order
    return per_step.detach().numpy()[::-1]  # the last step (lag 0) first


for seed, (bs, win_sz) in ((0, (4, 30)), (1, (8, 50)), (2, (2, 17))):
    torch.manual_seed(seed)
    model_t = tk.StatefulRNN(1, 1, "lstm", 8)
    u_t, y_t = torch.randn(bs, win_sz, 1), torch.randn(bs, win_sz, 1)
    with torch.no_grad():  # a carried state, which the measurement must not start from
        model_t(torch.randn(bs, 5, 1))
    want = reference_grad_by_lag(model_t, u_t, y_t)
    with kit_disabled(my_grad_by_lag, *KIT_ANSWERS):
        got = my_grad_by_lag(model_t, u_t.clone(), y_t.clone())
    got = np.asarray(torch.as_tensor(got).detach(), dtype=np.float64).ravel()
    assert got.shape == want.shape, "return one number per step of the window"
    assert np.allclose(got, want, rtol=1e-4, atol=1e-9), f"the curve differs (seed {seed})"
