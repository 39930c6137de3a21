# Exercise 1, a worked solution: the gradient by lag when the window runs as TBPTT sub-windows.
import torch

import tbptt_kit as tk


def my_truncated_grad_by_lag(model, u, y, sub_seq_len):
    u = u.clone().requires_grad_(True)
    state, preds = None, []  # the window starts from zeros
    for t in range(0, u.shape[1], sub_seq_len):
        pred, state = model(u[:, t : t + sub_seq_len], state)  # carry
        state = tk.detach_state(state)  # the truncation
        preds.append(pred)
    pred = torch.cat(preds, dim=1)
    loss = tk.mae(pred[:, -1], y[:, -1])  # the last step's loss only
    (grad,) = torch.autograd.grad(loss, u)
    return grad.pow(2).sum(dim=(0, 2)).sqrt().flip(0).numpy()  # lag 0 first


g = my_truncated_grad_by_lag(model, batch[0], batch[1], sub_seq_len=16)
print(f"exactly zero from lag {np.flatnonzero(g == 0)[0]} on")
