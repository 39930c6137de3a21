"""Self-checks for the exercises of notebook 06: the gradient by lag under truncation, and
gradient clipping by norm, each against the kit (``tk.grad_by_lag``, torch's clipping)."""

from __future__ import annotations

import numpy as np
import torch

from ...core.model import StatefulRNN
from ...modes.bptt import BPTT
from ..lens import grad_by_lag
from ..losses import mae
from .core import RIGHT, WRONG, call_student
from .nb04 import lag_layout_problem

__all__ = ["check_clip_by_norm", "check_start_state", "check_truncated_grad_by_lag"]


def check_truncated_grad_by_lag(my_truncated_grad_by_lag) -> str:
    """Exercise 06.1: my_truncated_grad_by_lag(model, u, y, sub_seq_len) -> array (T,): the
    gradient of the last step's mae loss by lag when the window runs as TBPTT(sub_seq_len)
    sub-windows from a zero state, against ``tk.grad_by_lag(..., bptt=BPTT.of(sub_seq_len))``."""
    for seed, (bs, win_sz, k) in ((0, (4, 24, 6)), (1, (8, 40, 8)), (2, (4, 30, 30))):
        torch.manual_seed(seed)
        model = StatefulRNN(1, 1, "lstm", 8)
        u, y = torch.randn(bs, win_sz, 1), torch.randn(bs, win_sz, 1)
        truth = grad_by_lag(model, (u, y), bptt=BPTT.of(k), loss_func=mae)
        got, verdict = call_student(
            "Exercise 1", my_truncated_grad_by_lag, model, u.clone(), y.clone(), k
        )
        if verdict:
            return verdict
        got = np.asarray(torch.as_tensor(got).detach(), dtype=np.float64).ravel()
        if got.shape == truth.shape and np.allclose(got, truth, rtol=1e-4, atol=1e-9):
            continue
        print(f"Exercise 1: not yet right (sub_seq_len {k}).", _diagnose(got, truth, model, u, y))
        return WRONG
    print("Exercise 1: right: your curves are tk.grad_by_lag's, cliff included, on 3 cases.")
    return RIGHT


def _diagnose(got, truth, model, u, y) -> str:
    if problem := lag_layout_problem(got, truth):
        return problem
    full = grad_by_lag(model, (u, y), bptt=BPTT.of(), loss_func=mae)
    if np.allclose(got, full, rtol=1e-4, atol=1e-9):
        return (
            "That is full BPTT's curve: you did not detach the state between sub-windows, "
            "so the gradient runs back to the window's start."
        )
    if np.any(got[truth == 0] != 0):
        return "Beyond the last sub-window your gradient is not zero: detach the carried state."
    return (
        "Your numbers differ. From a zero state, for each sub-window: out, state = "
        "model(u_sub, state); state = tk.detach_state(state). Then the mae loss "
        "of the last step, its gradient with respect to u, the norm per step, lag 0 first."
    )


def _grads(seed: int):
    torch.manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(s)) for s in ((3, 4), (4,), (2, 2))]
    for p in params:
        p.grad = torch.randn(p.shape) * (1 + 2 * seed)
    return params


def check_clip_by_norm(clip_by_norm) -> str:
    """Exercise 06.2: clip_by_norm(params, max_norm) scales every gradient by one factor so
    that the norm of all gradients together is at most max_norm, in place, and returns the
    norm before clipping; against ``torch.nn.utils.clip_grad_norm_``."""
    for seed, max_norm in ((0, 1.0), (1, 0.5), (2, 100.0), (3, 3.0)):
        mine, ref = _grads(seed), _grads(seed)
        before = [p.grad.clone() for p in mine]
        norm = float(torch.nn.utils.clip_grad_norm_(ref, max_norm))
        got, verdict = call_student("Exercise 2", clip_by_norm, mine, max_norm)
        if verdict:
            return verdict
        same = all(torch.allclose(p.grad, r.grad, rtol=1e-5, atol=1e-7) for p, r in zip(mine, ref))
        if same and got is not None and np.isclose(float(got), norm, rtol=1e-5):
            continue
        print(
            f"Exercise 2: not yet right (max_norm {max_norm}, norm before {norm:.3g}).",
            _diagnose_clip(mine, before, ref, got, norm, max_norm, same),
        )
        return WRONG
    print("Exercise 2: right: the same gradients as torch's clip_grad_norm_, on 4 cases.")
    return RIGHT


def _diagnose_clip(mine, before, ref, got, norm, max_norm, same) -> str:
    if same:
        return f"The gradients are right; return the norm before clipping ({norm:.4g})."
    if all(torch.equal(p.grad, b) for p, b in zip(mine, before)):
        return "The gradients did not change: scale p.grad in place (p.grad.mul_(factor))."
    clamped = [b.clamp(-max_norm, max_norm) for b in before]
    if all(torch.allclose(p.grad, c) for p, c in zip(mine, clamped)):
        return (
            "You clipped each value on its own: that changes the gradient's direction. "
            "Scale all gradients by one factor, max_norm / total norm."
        )
    each = [b * min(1.0, max_norm / float(b.norm())) for b in before]
    if all(torch.allclose(p.grad, e, rtol=1e-5) for p, e in zip(mine, each)):
        return (
            "You clipped each parameter's gradient by its own norm; the norm is over all "
            "parameters' gradients together, and one factor scales them all."
        )
    if norm < max_norm:
        return "The norm is already below max_norm: leave the gradients as they are."
    return "Total norm = sqrt(sum of every gradient's squared entries); factor max_norm / norm."


def _start_state_problem(got, state, reset, n_rows, what):
    """What is wrong with ``got`` as the start state, in the student's terms; None if right."""
    if state is None or n_rows != state.shape[1]:
        if got is None:
            return None
        rows = (
            "" if state is None else f" (the batch has {n_rows} rows, your state {state.shape[1]})"
        )
        return (
            f"with {what}{rows} return None, a zero state. PyTorch raises 'Expected hidden "
            "size ...' for a state of the wrong rows."
        )
    expected = state.detach() * (~reset).float()[None, :, None]
    if not isinstance(got, torch.Tensor) or got.shape != state.shape:
        return f"return a tensor of shape {tuple(state.shape)}, got {type(got).__name__}."
    if got.grad_fn is not None:
        return (
            "your state is still attached to the previous batch's graph, so the next "
            "backward() goes through it again: 'Trying to backward through the graph a "
            "second time'. retain_graph=True only hides that, while the graph (and its "
            "memory) grows every batch. Detach it."
        )
    if not torch.equal(got[:, reset], expected[:, reset]):
        where = (
            "the first batch of an epoch (every row flagged: the wrap-around)"
            if what == "wrap"
            else "rows flagged in reset"
        )
        return (
            f"in {where} a new record starts, but your state still holds the previous "
            "one's. Zero those rows."
        )
    if not torch.allclose(got[:, ~reset], expected[:, ~reset]):
        return (
            "you changed rows whose record goes on (reset False); those must carry their "
            "state unchanged."
        )
    return None


def check_start_state(start_state) -> str:
    """Exercise 06.3: start_state(state, reset, n_rows) -> the state a stream batch of n_rows
    rows starts from: None if ``state`` is None or holds another number of rows; else
    ``state`` detached, with the rows flagged in ``reset`` (n_rows,) bool zeroed."""
    torch.manual_seed(0)
    rnn = torch.nn.RNN(1, 8, batch_first=True)
    _, attached = rnn(torch.randn(4, 5, 1))  # (1, 4, 8), still in the graph
    cases = [  # (state, reset, n_rows, what the case is about)
        (None, torch.tensor([True] * 4), 4, "no state yet"),
        (attached, torch.tensor([False] * 4), 4, "detach"),
        (attached, torch.tensor([False, True, False, True]), 4, "rows"),
        (attached, torch.tensor([True] * 4), 4, "wrap"),
        (attached, torch.tensor([False] * 3), 3, "fewer rows"),
    ]
    for state, reset, n_rows, what in cases:
        got, verdict = call_student("Exercise 3", start_state, state, reset.clone(), n_rows)
        if verdict:
            return verdict
        problem = _start_state_problem(got, state, reset, n_rows, what)
        if problem:
            print(f"Exercise 3: not yet right: {problem}")
            return WRONG
    print(f"Exercise 3: right, on all {len(cases)} cases. Well done.")
    return RIGHT
