"""Notebook 04's exercises, each defined once for its self-check and its graded test:
write TBPTT by hand, measure the gradient by lag.

The references are ``lstm.py``'s LSTM with its gradients worked out by hand in float64:
neither torch's autograd nor the kit's step. The weights are drawn from the case's seed
(``lstm.weights``); the student's side copies them into ``nn.LSTM`` or a ``StatefulRNN``.
"""

from __future__ import annotations

import builtins

import numpy as np

from .core import Exercise, all_close, reads
from .lstm import reference_run, weights

__builtins__ = dict(vars(builtins))  # a copy: a cell that patches builtins does not reach here

__all__ = [
    "GRAD_BY_LAG",
    "NUMBERS_DIFFER",
    "TBPTT_GRADS",
    "check_grad_by_lag",
    "check_tbptt_grads",
    "compare_lens",
    "exercise_setup",
    "lens_of",
    "model_and_window",
    "reference_grad_by_lag",
    "reference_tbptt_grads",
    "windows_of",
]

KIT_STEP = (
    ("the kit's Learner", "tbptt_kit.core.learner:Learner"),
    ("tk.run_windows", "tbptt_kit.course.run:run_windows"),
    ("tk.learner_for", "tbptt_kit.course.run:learner_for"),
)


def windows_of(seed: int, bs: int, win_sz: int, n: int = 1) -> list:
    """``n`` batches of windows [(u, y)], float32 arrays (bs, win_sz, 1), from ``seed``:
    y is u three steps late, plus noise."""
    rng = np.random.default_rng([seed, 1])
    batches = []
    for _ in range(n):
        u = rng.standard_normal((bs, win_sz, 1))
        y = np.roll(u, 3, axis=1) + 0.1 * rng.standard_normal((bs, win_sz, 1))
        batches.append((u.astype(np.float32), y.astype(np.float32)))
    return batches


def _into(modules, params) -> None:
    import torch

    with torch.no_grad():
        for p, value in zip([q for m in modules for q in m.parameters()], params):
            p.copy_(torch.from_numpy(value))


# -- Exercise 1: tbptt_grads(rnn, head, batches, sub_seq_len) -----------------------------
def exercise_setup(seed: int = 0, bs: int = 4, win_sz: int = 24, hidden_size: int = 8):
    """A seeded (nn.LSTM, nn.Linear) and two batches of whole windows [(u, y), (u, y)],
    each u, y of shape (bs, win_sz, 1): what exercise 1 hands the student's function."""
    import torch
    from torch import nn

    rnn, head = nn.LSTM(1, hidden_size, batch_first=True), nn.Linear(hidden_size, 1)
    _into([rnn, head], weights(seed, hidden_size))
    batches = [
        (torch.from_numpy(u), torch.from_numpy(y)) for u, y in windows_of(seed, bs, win_sz, 2)
    ]
    return rnn, head, batches


def reference_tbptt_grads(case, **mistake) -> list:
    """The gradients after both batches ran as TBPTT, [rnn's, then head's]; ``mistake``:
    one of ``lstm.reference_run``'s usual mistakes instead."""
    seed, bs, win_sz, hidden, k = case
    grads, _ = reference_run(weights(seed, hidden), windows_of(seed, bs, win_sz, 2), k, **mistake)
    return [{"shape": list(g.shape), "values": g.reshape(-1).tolist()} for g in grads]


def answer_grads(result, call) -> list:
    from ...tooling.grading import NotPlain, plain_tensor

    if type(result) not in (list, tuple):
        raise NotPlain(
            f"return a list of tensors, the p.grad of each parameter, not a {type(result).__name__}"
        )
    return [plain_tensor(g, "a list of tensors, the p.grad of each parameter") for g in result]


def same_grads(got: list, want: list) -> bool:
    if len(got) != len(want) or any(g["shape"] != w["shape"] for g, w in zip(got, want)):
        return False
    for g, w in zip(got, want):
        size = max([abs(v) for v in w["values"]] + [1e-30])
        if not all_close(g["values"], w["values"], rel=1e-4, abs_=1e-5 * size):
            return False
    return True


MISTAKES_04_1 = (
    (
        {"detach": False},
        "You did not detach: the graph grows across sub-windows, so the gradient of each "
        "sub-window runs back to the window's start (full BPTT, at growing cost).",
    ),
    (
        {"reset": "every"},
        "You reset at every sub-window: the state never carries. Reset only when a new batch "
        "of windows starts; between sub-windows, carry the state, detached.",
    ),
    (
        {"reset": "never"},
        "You did not reset at the new batch: its windows started from the state the previous, "
        "unrelated windows left. Reset (state = None) at each new batch.",
    ),
    (
        {"accumulate": False},
        "You kept only the last sub-window's gradients: no zero_grad in between, the "
        "gradients add up over every sub-window of both batches.",
    ),
)


def compare_tbptt_grads(got, want, case):
    if same_grads(got, want):
        return None
    if len(got) != len(want):
        return f"return {len(want)} gradients, rnn's parameters then head's; you return {len(got)}."
    for mistake, message in MISTAKES_04_1:
        if same_grads(got, reference_tbptt_grads(case, **mistake)):
            return message
    return (
        "your gradients differ from TBPTT's. Per batch: state = None; per sub-window: out, "
        "state = rnn(u_sub, state); loss = ((head(out) - y_sub) ** 2).mean(); loss.backward(); "
        "detach the state. No zero_grad in between: the gradients add up."
    )


def inputs_tbptt_grads(case) -> dict:
    seed, bs, win_sz, hidden, k = case
    rnn, head, batches = exercise_setup(seed, bs, win_sz, hidden)
    return {"args": (rnn, head, batches, k)}


TBPTT_GRADS = Exercise(
    key="04.1",
    func="tbptt_grads",
    fixed=(
        [0, 4, 24, 8, 6],
        [1, 4, 24, 8, 8],
        [2, 4, 24, 8, 4],
        [3, 4, 24, 8, 24],
        [4, 3, 20, 5, 5],
    ),
    draw=lambda rng: [
        rng.randint(0, 10**6),
        rng.randint(1, 5),
        24,
        rng.randint(2, 10),
        rng.choice([3, 4, 6, 8, 12]),
    ],
    draws=2,
    inputs=inputs_tbptt_grads,
    reference=reference_tbptt_grads,
    compare=compare_tbptt_grads,
    answer=answer_grads,
    blocked=(*KIT_STEP, ("tk.split_windows", "tbptt_kit.core.batch:split_windows")),
    errors=(
        (
            "backward through the graph a second time",
            "You did not detach: the graph grows across sub-windows, and the second backward "
            "runs into the first sub-window's graph, already freed. Detach the state after "
            "each sub-window (state = tuple(s.detach() for s in state)).",
        ),
    ),
    show=lambda c: (
        f"For seed {c[0]}, windows ({c[1]}, {c[2]}, 1), hidden_size {c[3]}, sub_seq_len {c[4]}"
    ),
)


def check_tbptt_grads(tbptt_grads, seed: int | None = None) -> str:
    """Exercise 04.1: tbptt_grads(rnn, head, batches, sub_seq_len), the gradients of rnn's
    then head's parameters after every batch of windows ran as TBPTT (state carried and
    detached between sub-windows, reset at each new batch, mse loss, backward per
    sub-window, no optimizer step)."""
    return TBPTT_GRADS.check(tbptt_grads, seed)


# -- Exercise 2: my_grad_by_lag(model, u, y) ------------------------------------------------
def lens_of(case, **mistake) -> list:
    """The gradient of the last step's mae loss by lag (lag 0 first), under TBPTT with
    sub-windows of ``k`` (k = win_sz: full BPTT) from a zero state, for a case [seed, bs,
    win_sz, hidden, layers, k]."""
    seed, bs, win_sz, hidden, layers, k = case
    loss = mistake.pop("loss", "last")
    _, d_u = reference_run(
        weights(seed, hidden, layers), windows_of(seed, bs, win_sz), k, loss, **mistake
    )
    return np.sqrt((d_u**2).sum(axis=(0, 2)))[::-1].tolist()


def reference_grad_by_lag(case) -> list:
    seed, bs, win_sz, hidden = case
    return lens_of([seed, bs, win_sz, hidden, 1, win_sz])


def model_and_window(seed, bs, win_sz, hidden, layers=1) -> tuple:
    """A StatefulRNN with the case's weights and one batch of windows (u, y)."""
    import torch

    from ...core.model import StatefulRNN

    model = StatefulRNN(1, 1, "lstm", hidden, layers)
    _into([model.rnn, model.head], weights(seed, hidden, layers))
    ((u, y),) = windows_of(seed, bs, win_sz)
    return model, torch.from_numpy(u), torch.from_numpy(y)


NUMBERS_DIFFER = "your numbers differ."


def compare_lens(got, want, every_step=None):
    """None if the curve ``got`` is ``want`` (exact zeros where it is zero), else what is
    wrong with it; ``every_step``: the curve of every step's loss, to name that mistake."""
    size = max(want + [1e-30])
    if len(got) == len(want) and all_close(got, want, rel=1e-4, abs_=1e-5 * size):
        if all(g == 0 for g, w in zip(got, want) if w == 0):
            return None
        return "beyond the last sub-window your gradient is not exactly zero: detach the carried state."
    if len(got) != len(want):
        return f"return one number per step: {len(want)} of them, you return {len(got)}."
    if all_close(got[::-1], want, rel=1e-4, abs_=1e-5 * size):
        return (
            "your array is in time order; a lag counts back from the last step: lag 0 is the "
            "last step. Flip it."
        )
    if every_step and all_close(got, every_step, rel=1e-4, abs_=1e-5 * max(every_step)):
        return "you used the loss of every step; take the loss of the last step only."
    return NUMBERS_DIFFER


def compare_grad_by_lag(got, want, case):
    seed, bs, win_sz, hidden = case
    problem = compare_lens(got, want, lens_of([seed, bs, win_sz, hidden, 1, win_sz], loss="every"))
    if problem == NUMBERS_DIFFER:
        return (
            "your numbers differ. Start from a zero state (pred, _ = model(u)), take "
            "tk.mae(pred[:, -1], y[:, -1]), its gradient with respect to u, the norm over the "
            "batch and the channels at each step, lag 0 first."
        )
    return problem


def inputs_grad_by_lag(case) -> dict:
    return {"args": model_and_window(*case)}


GRAD_BY_LAG = Exercise(
    key="04.2",
    func="my_grad_by_lag",
    fixed=([0, 4, 30, 8], [1, 8, 50, 8], [2, 2, 17, 8], [3, 1, 12, 5]),
    draw=lambda rng: [
        rng.randint(0, 10**6),
        rng.randint(1, 6),
        rng.randint(5, 40),
        rng.randint(2, 10),
    ],
    draws=2,
    inputs=inputs_grad_by_lag,
    reference=reference_grad_by_lag,
    compare=compare_grad_by_lag,
    answer=reads("plain_numbers", "an array of one number per step, lag 0 first"),
    blocked=(
        *KIT_STEP,
        ("tk.grad_by_lag", "tbptt_kit.course.lens:grad_by_lag"),
        ("tk.grad_by_lag_text", "tbptt_kit.course.lens:grad_by_lag_text"),
    ),
    show=lambda c: f"For seed {c[0]}, an LSTM of {c[3]} units, u of shape ({c[1]}, {c[2]}, 1)",
)


def check_grad_by_lag(my_grad_by_lag, seed: int | None = None) -> str:
    """Exercise 04.2: my_grad_by_lag(model, u, y) -> array (T,): for each lag the norm of the
    gradient of the last step's mae loss with respect to u[:, T-1-lag], under full BPTT
    from a zero state (what ``tk.grad_by_lag`` measures)."""
    return GRAD_BY_LAG.check(my_grad_by_lag, seed)
