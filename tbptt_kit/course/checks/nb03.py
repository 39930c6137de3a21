"""Notebook 03's exercises, each defined once for its self-check and its graded test."""

from __future__ import annotations

import builtins
from fractions import Fraction
from math import floor

from .core import Exercise, differs, reads

__builtins__ = dict(vars(builtins))  # a copy: a cell that patches builtins does not reach here

__all__ = [
    "LARGEST_WINDOW",
    "SAVED_BYTES",
    "check_largest_window",
    "check_saved_bytes",
    "reference_largest_window",
    "reference_saved_bytes",
]


# -- Exercise 1: largest_window(w1, m1, w2, m2, budget) -----------------------------------
def reference_largest_window(case) -> int:
    """The straight line through the two points, solved in exact fractions."""
    w1, m1, w2, m2, budget = case
    slope = Fraction(m2 - m1, w2 - w1)  # bytes per step
    return floor((budget - (m1 - slope * w1)) / slope)


def compare_largest_window(got, want, case):
    if got == want:
        return None
    w1, m1, w2, m2, budget = case
    slope = Fraction(m2 - m1, w2 - w1)
    steps = (budget - (m1 - slope * w1)) / slope
    if got == round(steps):
        return f"you return {got}: you rounded to the nearest; a window must fit, round down."
    if steps == want and got == want - 1:
        return (
            f"you return {got}: a window of exactly {want} steps takes exactly the budget, "
            "and fits (<=, not <)."
        )
    if got == floor(budget / slope):
        return f"you return {got}: that leaves out the fixed part, m1 - slope * w1."
    return differs(got, want)


def draw_largest_window(rng) -> list:
    """Two points of a line with whole bytes, and a budget that does not fall within a
    millionth of a step of a whole window (float arithmetic may round either way there)."""
    while True:
        w1 = rng.randint(10, 5000)
        w2 = w1 + rng.randint(1, 5000)
        m1 = rng.randint(10**5, 10**8)
        m2 = m1 + rng.randint(1, 10**5) * (w2 - w1) + rng.randint(0, w2 - w1 - 1)
        budget = rng.randint(m2, 2**34)
        steps = (budget - (m1 - Fraction(m2 - m1, w2 - w1) * w1)) / Fraction(m2 - m1, w2 - w1)
        if 1e-6 < steps - floor(steps) < 1 - 1e-6:
            return [w1, m1, w2, m2, budget]


LARGEST_WINDOW = Exercise(
    key="03.1",
    func="largest_window",
    fixed=(
        [100, 1_100_000, 1100, 10_100_000, 2 * 2**30],  # 9000 bytes per step, 200,000 fixed
        [500, 23_683_072, 4000, 188_809_216, 2 * 2**30],  # a slope that is not whole
        [200, 2_505_728, 1000, 12_524_800, 256 * 2**20],
        [1000, 1000, 2000, 2000, 1500],  # no fixed part: 1 byte per step
        [10, 5000, 20, 6000, 5999],  # just below a whole step: round down
        [10, 5000, 20, 6000, 6000],  # exactly a whole step: it fits (<=, not <)
        [3, 100, 7, 130, 1000],  # 7.5 bytes per step, exactly 123 steps
        [3, 100, 7, 130, 1007],  # 123.9... steps
        [20, 6000, 10, 5000, 6100],  # the points in the other order: the same line
        [100, 1_000_000, 300, 2_900_000, 2_900_000],  # the budget is the second point
    ),
    draw=draw_largest_window,
    reference=reference_largest_window,
    compare=compare_largest_window,
    answer=reads("plain_whole", "a whole number of steps"),
    hint="slope = (m2 - m1) / (w2 - w1); the fixed part is m1 - slope * w1; round down.",
)


def check_largest_window(largest_window, seed: int | None = None) -> str:
    """Exercise 03.1: largest_window(w1, m1, w2, m2, budget), the largest whole win_sz whose
    memory, a straight line through (w1, m1) and (w2, m2), stays within budget bytes."""
    return LARGEST_WINDOW.check(largest_window, seed)


# -- Exercise 2: saved_bytes(model, u, y) ---------------------------------------------------
def _model_and_batch(case):
    """A seeded StatefulRNN and a batch u, y for a case [seed, rnn_type, hidden, layers,
    bs, win_sz]."""
    import torch

    from ...core.model import StatefulRNN

    seed, rnn_type, hidden, layers, bs, win_sz = case
    with torch.random.fork_rng():  # the notebook's own random numbers are left as they were
        torch.manual_seed(seed)
        model = StatefulRNN(1, 1, rnn_type, hidden, layers)
        return model, torch.randn(bs, win_sz, 1), torch.randn(bs, win_sz, 1)


def inputs_saved_bytes(case) -> dict:
    return {"args": _model_and_batch(case)}


def reference_saved_bytes(case, skip_weights=True, once=True) -> int:
    """The bytes autograd saves for full BPTT's forward (from a zero state) and the mae
    loss, counted with a pack hook of its own: each storage once, the weights and the
    batch left out (the usual mistakes: ``skip_weights=False``, ``once=False``)."""
    import torch

    model, u, y = _model_and_batch(case)
    there = [*model.parameters(), *model.buffers()] if skip_weights else []
    skip = {t.untyped_storage().data_ptr() for t in [*there, u, y]}
    blocks, views = {}, [0]

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in skip:
            blocks[storage.data_ptr()] = storage.nbytes()  # each block once, views or not
            views[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y_hat, _ = model(u)
        (y_hat - y).abs().mean()
    return sum(blocks.values()) if once else views[0]


def compare_saved_bytes(got, want, case):
    if got == want:
        return None
    if got == reference_saved_bytes(case, skip_weights=False):
        return (
            f"you count {got} bytes, the right count is {want}: you counted the weights too. "
            "They exist before the step and stay after it: leave out the storages of "
            "model.parameters() and model.buffers()."
        )
    if got == reference_saved_bytes(case, once=False):
        return (
            f"you count {got} bytes, the right count is {want}: you counted every saved "
            "tensor, views included; several are views of one block of memory. Count each "
            "storage once: key a dict by t.untyped_storage().data_ptr()."
        )
    return (
        f"you count {got!r} bytes, the right count is {want}: count each saved storage once, "
        "without the weights and the batch u, y, over the forward and the loss."
    )


SAVED_BYTES = Exercise(
    key="03.2",
    func="saved_bytes",
    fixed=(
        [0, "lstm", 8, 1, 16, 200],
        [1, "gru", 8, 1, 4, 50],
        [2, "lstm", 8, 1, 2, 30],
        [3, "rnn", 6, 1, 3, 20],
        [4, "lstm", 5, 2, 3, 12],
        [5, "gru", 4, 2, 1, 9],
    ),
    draw=lambda rng: [
        rng.randint(0, 10**6),
        rng.choice(["lstm", "gru", "rnn"]),
        rng.randint(2, 12),
        rng.randint(1, 2),
        rng.randint(1, 8),
        rng.randint(5, 60),
    ],
    draws=2,
    inputs=inputs_saved_bytes,
    reference=reference_saved_bytes,
    compare=compare_saved_bytes,
    answer=reads("plain_whole", "a whole number of bytes"),
    blocked=(
        ("measure_memory", "tbptt_kit.course.memory.measure:measure_memory"),
        ("SavedTensorMeter", "tbptt_kit.course.memory.meter:SavedTensorMeter"),
        ("ActMemCB", "tbptt_kit.course.memory.meter:ActMemCB"),
        ("estimate_memory", "tbptt_kit.course.memory.predict:estimate_memory"),
    ),
    show=lambda c: (
        f"For a {c[1].upper()} of {c[2]} units and {c[3]} layer(s) on u of shape ({c[4]}, {c[5]}, 1)"
    ),
)


def check_saved_bytes(saved_bytes, seed: int | None = None) -> str:
    """Exercise 03.2: saved_bytes(model, u, y), the bytes autograd saves for full BPTT's
    forward from a zero state and the loss (y_hat - y).abs().mean(), each storage once,
    the weights and the batch left out (what ``measure_memory`` reports as activations)."""
    return SAVED_BYTES.check(saved_bytes, seed)
