"""Self-checks for the exercises of notebook 04: write TBPTT by hand, measure the gradient by lag.

Exercise 1 gives a seeded ``nn.LSTM`` and ``nn.Linear`` and two batches of whole windows;
the student's ``tbptt_grads`` must return the parameters' gradients after both batches, run
in sub-windows the TBPTT way. The check computes the same with the kit's own step (a
``StatefulRNN`` with the same weights, ``run_windows``) and, where the answer is
wrong, with the usual mistakes (each a deliberately wrong loop), to name the one made.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...core.learner import Callback
from ...core.model import StatefulRNN
from ...modes.bptt import BPTT
from ..lens import grad_by_lag
from ..losses import mae
from ..run import learner_for, run_windows
from .core import NOT_DONE, RIGHT, WRONG, call_student

__all__ = ["check_grad_by_lag", "check_tbptt_grads", "exercise_setup", "kit_grads"]


def mse(pred: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
    """The exercise's loss: mean squared error over the sub-window."""
    return ((pred - targ) ** 2).mean()


def exercise_setup(seed: int = 0, bs: int = 4, win_sz: int = 24, hidden_size: int = 8):
    """A seeded (nn.LSTM, nn.Linear) and two batches of whole windows [(u, y), (u, y)],
    each u, y of shape (bs, win_sz, 1): what exercise 1 hands the student's function."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    rnn, head = nn.LSTM(1, hidden_size, batch_first=True), nn.Linear(hidden_size, 1)
    batches = []
    for _ in range(2):
        u = torch.randn(bs, win_sz, 1, generator=gen)
        y = torch.roll(u, 3, dims=1) + 0.1 * torch.randn(bs, win_sz, 1, generator=gen)
        batches.append((u, y))
    return rnn, head, batches


def kit_grads(rnn, head, batches, sub_seq_len: int) -> list[torch.Tensor]:
    """The kit's answer: the same weights in a StatefulRNN, each batch of windows run through
    the learner's own step (``run_windows``: sub-windows in time order, the reset,
    the carried and detached state, the loss), and the sub-windows' losses backpropagated."""
    model = StatefulRNN(rnn.input_size, head.out_features, "lstm", rnn.hidden_size)
    model.rnn.load_state_dict(rnn.state_dict())
    model.head.load_state_dict(head.state_dict())
    learn = learner_for(model, *batches[0], BPTT.of(sub_seq_len), loss_func=mse)
    losses = _Losses()
    learn.add_cb(losses)
    for u, y in batches:
        run_windows(learn, u, y, backward=False)
        sum(losses.taken).backward()  # the gradients of every sub-window add up
        losses.taken.clear()
    return [p.grad.clone() for p in model.parameters()]


class _Losses(Callback):
    """Keeps the loss of every (sub-)batch the learner runs."""

    def __init__(self):
        self.taken = []

    def after_batch(self, learn):
        self.taken.append(learn.loss)


def _variant_grads(rnn, head, batches, sub_seq_len: int, detach=True, reset="window"):
    """Gradients of the usual mistakes: no detach, a reset at every sub-window, no reset."""
    rnn, head = _copy(rnn), _copy(head)
    state = None
    for u, y in batches:
        if reset == "window":
            state = None
        loss_sum = 0
        for t in range(0, u.shape[1], sub_seq_len):
            if reset == "every":
                state = None
            out, state = rnn(u[:, t : t + sub_seq_len], state)
            loss = mse(head(out), y[:, t : t + sub_seq_len])
            if detach:
                loss.backward()
                state = tuple(s.detach() for s in state)
            else:
                loss_sum = loss_sum + loss
        if not detach:
            loss_sum.backward()
            state = tuple(s.detach() for s in state)
    return [p.grad.clone() for p in [*rnn.parameters(), *head.parameters()]]


def _copy(module: nn.Module) -> nn.Module:
    import copy

    clone = copy.deepcopy(module)
    clone.zero_grad(set_to_none=True)
    return clone


def _same(a, b) -> bool:
    return len(a) == len(b) and all(
        x.shape == y.shape and torch.allclose(x, y, rtol=1e-5, atol=1e-7) for x, y in zip(a, b)
    )


def check_tbptt_grads(tbptt_grads) -> str:
    """Exercise 04.1: tbptt_grads(rnn, head, batches, sub_seq_len) -> the list of gradients
    of rnn's then head's parameters, after every batch of windows ran as TBPTT (state carried
    and detached between sub-windows, reset at each new batch, mse loss, backward per
    sub-window, no optimizer step), against the kit's own step."""
    for seed, sub_seq_len in ((0, 6), (1, 8), (2, 4)):
        rnn, head, batches = exercise_setup(seed)
        truth = kit_grads(rnn, head, batches, sub_seq_len)
        student_rnn, student_head = _copy(rnn), _copy(head)
        try:
            got = tbptt_grads(student_rnn, student_head, batches, sub_seq_len)
        except NotImplementedError:
            print("Exercise 1: not done yet. Fill in the cell above, run it, then run this one.")
            return NOT_DONE
        except RuntimeError as err:
            if "backward through the graph a second time" in str(err):
                print(
                    "Exercise 1: you did not detach: the graph grows across sub-windows, and "
                    "the second backward runs into the first sub-window's graph, already freed. "
                    "Detach the state after each sub-window (state = tuple(s.detach() for s in "
                    "state))."
                )
            else:
                print(f"Exercise 1: your function raised RuntimeError: {err}")
            return WRONG
        except Exception as err:  # the student's code may fail in any way: say how
            print(f"Exercise 1: your function raised {type(err).__name__}: {err}")
            return WRONG
        try:
            got = [torch.as_tensor(g) for g in got]
        except TypeError:
            print(
                "Exercise 1: not yet right. Return a list of tensors: the p.grad of each parameter."
            )
            return WRONG
        if _same(got, truth):
            continue
        print(
            f"Exercise 1: not yet right (seed {seed}, sub_seq_len {sub_seq_len}).",
            _diagnose(got, rnn, head, batches, sub_seq_len),
        )
        return WRONG
    print("Exercise 1: right: your gradients are the kit's, on 3 cases. You wrote TBPTT.")
    return RIGHT


def _diagnose(got, rnn, head, batches, sub_seq_len) -> str:
    n = len(list(rnn.parameters())) + len(list(head.parameters()))
    if len(got) != n:
        return f"Return {n} gradients: rnn's parameters, then head's; you returned {len(got)}."
    if _same(got, _variant_grads(rnn, head, batches, sub_seq_len, detach=False)):
        return (
            "You did not detach: the graph grows across sub-windows, so the gradient of "
            "each sub-window runs back to the window's start (full BPTT, at growing cost)."
        )
    if _same(got, _variant_grads(rnn, head, batches, sub_seq_len, reset="every")):
        return (
            "You reset at every sub-window: the state never carries. Reset only when a new "
            "batch of windows starts; between sub-windows, carry the state, detached."
        )
    if _same(got, _variant_grads(rnn, head, batches, sub_seq_len, reset="never")):
        return (
            "You did not reset at the new batch: its windows started from the state the "
            "previous, unrelated windows left. Reset (state = None) at each new batch."
        )
    return (
        "Your gradients differ from the kit's. Per batch: state = None; per sub-window: "
        "out, state = rnn(u_sub, state); loss = mse(head(out), y_sub); loss.backward(); "
        "detach the state. No zero_grad in between: the gradients add up."
    )


def lag_norms(model, u: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Reference for exercise 2: the kit's grad_by_lag under full BPTT, mae loss."""
    return grad_by_lag(model, (u, y), bptt=BPTT.of(), loss_func=mae)


def check_grad_by_lag(my_grad_by_lag) -> str:
    """Exercise 04.2: my_grad_by_lag(model, u, y) -> array (T,): for each lag ℓ the norm of
    the gradient of the last step's mae loss with respect to u[:, T-1-ℓ], under full BPTT
    from a zero state, against ``tk.grad_by_lag``."""
    for seed, (bs, win_sz) in ((0, (4, 30)), (1, (8, 50))):
        torch.manual_seed(seed)
        model = StatefulRNN(1, 1, "lstm", 8)
        u, y = torch.randn(bs, win_sz, 1), torch.randn(bs, win_sz, 1)
        with torch.no_grad():  # a carried state that the measurement must not start from
            model(torch.randn(bs, 5, 1))
        truth = lag_norms(model, u, y)
        got, verdict = call_student("Exercise 2", my_grad_by_lag, model, u.clone(), y.clone())
        if verdict:
            return verdict
        got = np.asarray(torch.as_tensor(got).detach(), dtype=np.float64).ravel()
        if got.shape == truth.shape and np.allclose(got, truth, rtol=1e-4, atol=1e-9):
            continue
        print("Exercise 2: not yet right.", _diagnose_lag(got, truth, model, u, y))
        return WRONG
    print("Exercise 2: right: your curve is tk.grad_by_lag's, on 2 cases.")
    return RIGHT


def lag_layout_problem(got, truth) -> str | None:
    """What is wrong with the layout of a student's gradient-by-lag curve, or None."""
    if got.shape != truth.shape:
        return f"Return one number per step: shape {truth.shape}, you returned {got.shape}."
    if np.allclose(got[::-1], truth, rtol=1e-4, atol=1e-9):
        return (
            "Your array is in time order; a lag counts back from the last step: lag 0 is "
            "the last step. Flip it."
        )
    return None


def _diagnose_lag(got, truth, model, u, y) -> str:
    if problem := lag_layout_problem(got, truth):
        return problem
    u = u.clone().requires_grad_(True)
    pred, _ = model(u)
    (grad,) = torch.autograd.grad(mae(pred, y), u)
    every = grad.pow(2).sum(dim=(0, 2)).sqrt().flip(0).numpy()
    if np.allclose(got, every, rtol=1e-4, atol=1e-9):
        return "You used the loss of every step; take the loss of the last step only."
    return (
        "Your numbers differ. Start from a zero state (pred, _ = model(u), no state given), "
        "take mae(pred[:, -1], y[:, -1]), its gradient with "
        "respect to u, the norm over the batch and channels at each step, lag 0 first."
    )
