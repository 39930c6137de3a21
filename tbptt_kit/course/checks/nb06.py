"""Notebook 06's exercises, each defined once for its self-check and its graded test: the
gradient by lag under truncation, clipping by norm, the state a stream batch starts from."""

from __future__ import annotations

import builtins
from math import sqrt

import numpy as np

from .core import Exercise, all_close, close, reads
from .nb04 import KIT_STEP, NUMBERS_DIFFER, compare_lens, lens_of, model_and_window

__builtins__ = dict(vars(builtins))  # a copy: a cell that patches builtins does not reach here

__all__ = [
    "CLIP_BY_NORM",
    "START_STATE",
    "TRUNCATED_GRAD_BY_LAG",
    "check_clip_by_norm",
    "check_start_state",
    "check_truncated_grad_by_lag",
    "reference_clip_by_norm",
    "reference_start_state",
    "reference_truncated_grad_by_lag",
]


# -- Exercise 1: my_truncated_grad_by_lag(model, u, y, sub_seq_len) -----------------------
def reference_truncated_grad_by_lag(case) -> list:
    """The curve of TBPTT(k) from a zero state (``nb04.lens_of``): exactly zero from lag k."""
    return lens_of(case)


def compare_truncated(got, want, case):
    seed, bs, win_sz, hidden, layers, k = case
    full = lens_of([seed, bs, win_sz, hidden, layers, win_sz])
    problem = compare_lens(got, want)
    if problem == NUMBERS_DIFFER and all_close(got, full, rel=1e-4, abs_=1e-5 * max(full)):
        return (
            "that is full BPTT's curve: you did not detach the state between sub-windows, "
            "so the gradient runs back to the window's start."
        )
    if problem == NUMBERS_DIFFER:
        return (
            "your numbers differ. From a zero state, for each sub-window: pred, state = "
            "model(u_sub, state); state = tk.detach_state(state). Then the mae loss of the "
            "last step, its gradient with respect to u, the norm per step, lag 0 first."
        )
    return problem


def draw_truncated(rng) -> list:
    k = rng.randint(2, 8)
    seed, bs, n_sub = rng.randint(0, 10**6), rng.randint(1, 5), rng.randint(2, 5)
    return [seed, bs, k * n_sub, rng.randint(2, 10), rng.randint(1, 2), k]


TRUNCATED_GRAD_BY_LAG = Exercise(
    key="06.1",
    func="my_truncated_grad_by_lag",
    fixed=(
        [0, 4, 24, 8, 1, 6],
        [1, 8, 40, 8, 1, 8],
        [2, 4, 30, 8, 1, 30],  # one sub-window: full BPTT
        [3, 2, 20, 6, 1, 1],  # every step cut: only lag 0 is reached
        [4, 3, 36, 5, 2, 12],  # two layers
    ),
    draw=draw_truncated,
    draws=2,
    inputs=lambda c: {"args": (*model_and_window(*c[:5]), c[5])},
    reference=reference_truncated_grad_by_lag,
    compare=compare_truncated,
    answer=reads("plain_numbers", "an array of one number per step, lag 0 first"),
    blocked=(*KIT_STEP, ("tk.grad_by_lag", "tbptt_kit.course.lens:grad_by_lag")),
    show=lambda c: (
        f"For seed {c[0]}, an LSTM of {c[3]} units and {c[4]} layer(s), u of shape "
        f"({c[1]}, {c[2]}, 1), sub_seq_len {c[5]}"
    ),
)


def check_truncated_grad_by_lag(my_truncated_grad_by_lag, seed: int | None = None) -> str:
    """Exercise 06.1: my_truncated_grad_by_lag(model, u, y, sub_seq_len) -> array (T,): the
    gradient of the last step's mae loss by lag when the window runs as TBPTT sub-windows
    of sub_seq_len from a zero state (what ``tk.grad_by_lag(..., bptt=BPTT.of(k))`` gives)."""
    return TRUNCATED_GRAD_BY_LAG.check(my_truncated_grad_by_lag, seed)


# -- Exercise 2: clip_by_norm(params, max_norm) --------------------------------------------
def gradients(case) -> list:
    """The case's gradients [seed, shapes, scale, max_norm], float32 arrays."""
    seed, shapes, scale, _ = case
    rng = np.random.default_rng([seed, 6])
    return [(scale * rng.standard_normal(shape)).astype(np.float32) for shape in shapes]


def inputs_clip(case) -> dict:
    import torch

    params = []
    for grad in gradients(case):
        p = torch.nn.Parameter(torch.zeros(grad.shape))
        p.grad = torch.from_numpy(grad)
        params.append(p)
    return {"args": (params, case[3]), "grads": [p.grad for p in params]}


def answer_clip(result, call) -> dict:
    from ...tooling.grading import plain_number, plain_tensor

    params, grads = call["args"][0], call["grads"]
    if result is None:
        return {"norm": None}
    after = [plain_tensor(p.grad, "the parameters' gradients")["values"] for p in params]
    in_place = all(p.grad is g for p, g in zip(params, grads))
    return {
        "norm": plain_number(result, "the norm before clipping"),
        "grads": after,
        "in_place": in_place,
    }


def reference_clip_by_norm(case, scale=None) -> dict:
    """The norm before clipping (float64) and the gradients after it; ``scale``: another
    factor rule (a usual mistake), given the norm and max_norm."""
    grads = [[float(v) for v in g.reshape(-1)] for g in gradients(case)]
    norm = sqrt(sum(v * v for g in grads for v in g))
    max_norm = case[3]
    factor = (scale or (lambda n, m: m / n if n > m else 1.0))(norm, max_norm)
    return {"norm": norm, "grads": [[v * factor for v in g] for g in grads]}


def _same(got: list, want: list) -> bool:
    size = max([abs(v) for g in want for v in g] + [1e-30])
    return all(all_close(g, w, rel=1e-5, abs_=1e-7 * size) for g, w in zip(got, want))


def compare_clip(got, want, case):
    norm, max_norm = want["norm"], case[3]
    if got["norm"] is None:
        return "you return None; return the norm of all gradients together, before clipping."
    if not close(got["norm"], norm, rel=1e-5, abs_=1e-30):
        if close(got["norm"], min(norm, max_norm), rel=1e-5):
            return f"you return {got['norm']:.6g}, the norm after clipping; return it before: {norm:.6g}."
        return f"you return {got['norm']!r}; the norm of all gradients together is {norm:.6g}."
    if not got["in_place"]:
        return "scale each p.grad in place (p.grad.mul_(factor)); do not assign a new tensor."
    if _same(got["grads"], want["grads"]):
        return None
    return f"(max_norm {max_norm}, norm before {norm:.3g}) " + _diagnose_clip(got, case)


def _diagnose_clip(got, case) -> str:
    before = reference_clip_by_norm(case, scale=lambda n, m: 1.0)["grads"]
    if _same(got["grads"], before):
        return "the gradients did not change: scale p.grad in place (p.grad.mul_(factor))."
    max_norm = case[3]
    if _same(got["grads"], [[max(-max_norm, min(max_norm, v)) for v in g] for g in before]):
        return (
            "you clipped each value on its own: that changes the gradient's direction. Scale "
            "all gradients by one factor, max_norm / total norm."
        )
    each = [
        [v * min(1.0, max_norm / max(sqrt(sum(x * x for x in g)), 1e-30)) for v in g]
        for g in before
    ]
    if _same(got["grads"], each):
        return (
            "you clipped each parameter's gradient by its own norm; the norm is over all "
            "parameters' gradients together, and one factor scales them all."
        )
    if _same(got["grads"], reference_clip_by_norm(case, scale=lambda n, m: m / n)["grads"]):
        return "the norm is already below max_norm: leave the gradients as they are."
    if _same(
        got["grads"],
        reference_clip_by_norm(case, scale=lambda n, m: min(1.0, m / (n + 1e-6)))["grads"],
    ):
        return (
            "the factor is max_norm / norm exactly (torch's clip_grad_norm_ adds 1e-6 to the norm)."
        )
    return "total norm = sqrt(sum of every gradient's squared entries); factor max_norm / norm."


CLIP_BY_NORM = Exercise(
    key="06.2",
    func="clip_by_norm",
    fixed=(
        [0, [[3, 4], [4], [2, 2]], 1.0, 1.0],  # several parameters, one norm over all
        [1, [[3, 4], [4], [2, 2]], 3.0, 0.5],
        [2, [[5]], 1.0, 100.0],  # below max_norm: untouched
        [3, [[8, 3], [3]], 2.0, 3.0],
        [4, [[6], [2, 3]], 1e-5, 1e-6],  # small gradients: the factor is max_norm / norm exactly
        [5, [[4, 4]], 1e-4, 2e-5],
        [6, [[3], [3]], 0.0, 1.0],  # all zero: norm 0, nothing to clip
    ),
    draw=lambda rng: [
        rng.randint(0, 10**6),
        [[rng.randint(1, 6) for _ in range(rng.randint(1, 2))] for _ in range(rng.randint(1, 4))],
        10 ** rng.uniform(-4, 1),
        10 ** rng.uniform(-4, 1),
    ],
    inputs=inputs_clip,
    reference=reference_clip_by_norm,
    compare=compare_clip,
    answer=answer_clip,
    blocked=(
        ("torch.nn.utils.clip_grad_norm_", "torch.nn.utils.clip_grad:clip_grad_norm_"),
        ("torch.nn.utils.clip_grad_norm", "torch.nn.utils.clip_grad:clip_grad_norm"),
        ("torch.nn.utils.get_total_norm", "torch.nn.utils.clip_grad:_get_total_norm"),
        ("torch.nn.utils.clip_grads_with_norm_", "torch.nn.utils.clip_grad:_clip_grads_with_norm_"),
        ("tk.GradClipCB", "tbptt_kit.course.callbacks:GradClipCB"),
    ),
    show=lambda c: f"For gradients of shapes {[tuple(s) for s in c[1]]} and max_norm={c[3]:.3g}",
)


def check_clip_by_norm(clip_by_norm, seed: int | None = None) -> str:
    """Exercise 06.2: clip_by_norm(params, max_norm) scales every gradient, in place, by one
    factor max_norm / norm when the norm of all gradients together exceeds max_norm, and
    returns the norm before clipping. Calling torch's clip_grad_norm_ does not count."""
    return CLIP_BY_NORM.check(clip_by_norm, seed)


# -- Exercise 3: start_state(state, reset, n_rows) -----------------------------------------
def _state_values(case) -> list:
    seed, layers, rows, hidden, _, _ = case
    rng = np.random.default_rng([seed, 63])
    return rng.standard_normal(layers * rows * hidden).astype(np.float32).tolist()


def inputs_start_state(case) -> dict:
    import torch

    seed, layers, rows, hidden, reset, n_rows = case
    state = None
    if layers:  # a state still in the last batch's graph
        leaf = torch.tensor(_state_values(case), requires_grad=True)
        state = (leaf * 1.0).reshape(layers, rows, hidden)
    return {"args": (state, torch.tensor(reset, dtype=torch.bool), n_rows)}


def answer_start_state(result, call):
    from ...tooling.grading import plain_tensor

    return None if result is None else plain_tensor(result, "the state (a tensor) or None")


def reference_start_state(case):
    """None without a state or for another number of rows; else the state, detached, with
    the flagged rows zeroed in every layer (the rows are dim 1)."""
    _, layers, rows, hidden, reset, n_rows = case
    if not layers or rows != n_rows:
        return None
    values = _state_values(case)
    for layer in range(layers):
        for row in range(rows):
            if reset[row]:
                start = (layer * rows + row) * hidden
                values[start : start + hidden] = [0.0] * hidden
    return {"shape": [layers, rows, hidden], "values": values, "attached": False}


def compare_start_state(got, want, case):
    _, layers, rows, hidden, reset, n_rows = case
    if want is None:
        if got is None:
            return None
        why = (
            "before the first batch there is no state"
            if not layers
            else (
                f"the batch has {n_rows} rows, the state {rows}: PyTorch raises 'Expected hidden "
                "size ...' for a state of the wrong rows"
            )
        )
        return f"return None, a zero state: {why}."
    if got is None or got["shape"] != want["shape"]:
        shape = None if got is None else tuple(got["shape"])
        return f"return the state, a tensor of shape {tuple(want['shape'])}, not {shape}."
    if got["attached"]:
        return (
            "your state is still attached to the previous batch's graph, so the next "
            "backward() goes through it again: 'Trying to backward through the graph a second "
            "time'. retain_graph=True only hides that, while the graph (and its memory) grows "
            "every batch. Detach it."
        )
    flagged = [i for i, (g, w) in enumerate(zip(got["values"], want["values"])) if w == 0.0]
    if any(got["values"][i] != 0.0 for i in flagged):
        where = (
            "the first batch of an epoch (every row flagged: the wrap-around)"
            if all(reset)
            else "rows flagged in reset"
        )
        return f"in {where} a new record starts, but your state still holds the previous one's. Zero those rows."
    if not all_close(got["values"], want["values"], rel=1e-6):
        return "you changed rows whose record goes on (reset False); those carry their state unchanged."
    return None


def draw_start_state(rng) -> list:
    rows = rng.randint(1, 6)
    seed, layers, hidden = rng.randint(0, 10**6), rng.randint(1, 3), rng.randint(1, 6)
    return [seed, layers, rows, hidden, [rng.random() < 0.4 for _ in range(rows)], rows]


START_STATE = Exercise(
    key="06.3",
    func="start_state",
    fixed=(
        [0, 0, 4, 8, [True] * 4, 4],  # no state yet
        [1, 1, 4, 8, [False] * 4, 4],  # only the detach
        [2, 1, 4, 8, [False, True, False, True], 4],  # records start in rows 1 and 3
        [3, 1, 4, 8, [True] * 4, 4],  # the wrap-around: every row starts again
        [4, 2, 2, 3, [True, False], 2],  # as many layers as rows: h[rows] would zero a layer
        [5, 3, 5, 2, [False, False, True, False, False], 5],
        [6, 1, 4, 8, [False] * 3, 3],  # the epoch's last, smaller batch
        [7, 2, 4, 8, [True] * 3, 3],
        [8, 1, 3, 8, [False] * 4, 4],  # more rows than the state has
        [9, 1, 1, 8, [True], 1],
    ),
    draw=draw_start_state,
    inputs=inputs_start_state,
    reference=reference_start_state,
    compare=compare_start_state,
    answer=answer_start_state,
    blocked=(("tk.reset_rows", "tbptt_kit.core.model:reset_rows"),),
    show=lambda c: (
        f"For state None, reset {c[4]}, n_rows {c[5]}"
        if not c[1]
        else f"For a state of shape ({c[1]}, {c[2]}, {c[3]}), reset {c[4]}, n_rows {c[5]}"
    ),
)


def check_start_state(start_state, seed: int | None = None) -> str:
    """Exercise 06.3: start_state(state, reset, n_rows) -> the state a stream batch of n_rows
    rows starts from: None if ``state`` is None or holds another number of rows; else
    ``state`` detached, the rows flagged in ``reset`` (n_rows,) bool zeroed."""
    return START_STATE.check(start_state, seed)
