# Exercise 2, a worked solution: the gradient of the last step's loss, lag by lag.
import torch

import tbptt_kit as tk


def my_grad_by_lag(model, u, y):
    u = u.clone().requires_grad_(True)
    pred, _ = model(u)  # full BPTT, from a zero state (no state given)
    loss = tk.mae(pred[:, -1], y[:, -1])  # the last step's loss only
    (grad,) = torch.autograd.grad(loss, u)  # (bs, T, n_u)
    return grad.pow(2).sum(dim=(0, 2)).sqrt().flip(0).numpy()  # lag 0 (the last step) first


g = my_grad_by_lag(learn.model, u_valid, y_valid)
print(f"below 1% of its largest value from lag {np.argmax(g < 0.01 * g.max())} on")
