"""Notebook 05's exercises, each defined once for its self-check and its graded test."""

from __future__ import annotations

import builtins

from .core import Exercise, differs, named, reads

__builtins__ = dict(vars(builtins))  # a copy: a cell that patches builtins does not reach here

__all__ = [
    "LARGEST_FITTING",
    "STEPS_PER_LAB_EPOCH",
    "check_largest_fitting_sub_seq_len",
    "check_steps_per_lab_epoch",
    "reference_largest_fitting_sub_seq_len",
    "reference_steps_per_lab_epoch",
]


# -- Exercise 1: largest_fitting_sub_seq_len(win_sz, bs, hidden_size, budget_bytes) --------
def step_bytes(win_sz, bs, hidden_size, sub_seq_len, parts=None) -> int:
    """One LSTM step's predicted memory, all its parts (or only ``parts``): the exercise's
    given, ``predict_step_memory``."""
    from ..memory.budget import predict_step_memory

    memory = predict_step_memory("lstm", hidden_size, 1, bs, win_sz, sub_seq_len)
    return sum(memory[p] for p in parts or memory)


def budget_of(case) -> int:
    """A case's budget: bytes, or ["step", d, plus]: one step at sub_seq_len d, plus bytes."""
    win_sz, bs, hidden, budget = case
    if isinstance(budget, list):
        return step_bytes(win_sz, bs, hidden, budget[1]) + budget[2]
    return budget


def _divisors(n: int) -> list:
    return [d for d in range(1, n + 1) if n % d == 0]


def reference_largest_fitting_sub_seq_len(case, fits=None, parts=None):
    """Every divisor of win_sz tried, the largest whose step fits the budget (None: not
    even 1); ``fits``, ``parts``: a usual mistake's comparison or parts instead."""
    win_sz, bs, hidden, _ = case
    budget = budget_of(case)
    fits = fits or (lambda need: need <= budget)
    found = [d for d in _divisors(win_sz) if fits(step_bytes(win_sz, bs, hidden, d, parts))]
    return max(found) if found else None


def answer_sub_seq_len(result, call):
    from ...tooling.grading import plain_whole

    return None if result is None else plain_whole(result, "a divisor of win_sz, or None")


def compare_largest_fitting(got, want, case):
    if got == want:
        return None
    budget = budget_of(case)
    if got == reference_largest_fitting_sub_seq_len(case, fits=lambda need: need < budget):
        return (
            f"you return {got}: sub_seq_len={want} needs exactly the budget, and fits it "
            "(<=, not <)."
        )
    if got == reference_largest_fitting_sub_seq_len(case, parts=["activations"]):
        return f"you return {got}: that counts the activations only; sum every part of the step."
    if want is None:
        return f"you return {got!r}: not even sub_seq_len=1 fits this budget; return None."
    return differs(got, want)


def draw_largest_fitting(rng) -> list:
    win_sz = rng.choice([120, 240, 360, 500, 600, 720, 1000, 1200, 2000])
    bs, hidden = rng.randint(1, 64), rng.randint(8, 256)
    if rng.random() < 0.5:
        budget = ["step", rng.choice(_divisors(win_sz)), rng.choice([0, -1, 1])]
    else:
        budget = int(2 ** rng.uniform(18, 30))
    return [win_sz, bs, hidden, budget]


LARGEST_FITTING = Exercise(
    key="05.1",
    func="largest_fitting_sub_seq_len",
    fixed=(
        [2000, 64, 128, 256 * 2**20],
        [2000, 16, 40, 256 * 2**20],
        [1000, 64, 128, 64 * 2**20],
        [600, 32, 64, 8 * 2**20],
        [500, 16, 40, 2 * 2**20],
        [500, 16, 40, 2**40],  # everything fits: full BPTT, sub_seq_len = win_sz
        [500, 16, 40, 1000],  # not even sub_seq_len=1 fits: None
        [499, 8, 32, 4 * 2**20],  # a prime window: 1 or 499
        [500, 1, 512, ["step", 100, 1]],  # the activations of longer sub-windows fit, not the step
        [500, 16, 40, ["step", 100, 0]],  # exactly the step at 100 fits it (<=, not <)
        [500, 16, 40, ["step", 100, -1]],  # ... a byte less does not
        [500, 16, 40, ["step", 125, 0]],
        [500, 16, 40, ["step", 1, 0]],
        [500, 16, 40, ["step", 500, 0]],  # exactly full BPTT's step
    ),
    draw=draw_largest_fitting,
    inputs=lambda case: {"args": (*case[:3], budget_of(case))},
    reference=reference_largest_fitting_sub_seq_len,
    compare=compare_largest_fitting,
    answer=answer_sub_seq_len,
    blocked=(
        ("largest_sub_seq_len", "tbptt_kit.course.memory.budget:largest_sub_seq_len"),
        ("check_budget", "tbptt_kit.course.memory.budget:check_budget"),
        ("BudgetCB", "tbptt_kit.course.memory.budget:BudgetCB"),
    ),
    show=lambda c: f"For win_sz={c[0]}, bs={c[1]}, hidden_size={c[2]}, a budget of {c[3]} bytes",
    hint="try the divisors of win_sz from the largest down; sum predict_step_memory's parts.",
)


def check_largest_fitting_sub_seq_len(largest_fitting_sub_seq_len, seed: int | None = None) -> str:
    """Exercise 05.1: largest_fitting_sub_seq_len(win_sz, bs, hidden_size, budget_bytes), an
    LSTM: the largest divisor of win_sz whose step (every part predict_step_memory
    counts) fits the budget; None when not even 1 fits."""
    return LARGEST_FITTING.check(largest_fitting_sub_seq_len, seed)


# -- Exercise 2: steps_per_lab_epoch(win_sz, sub_seq_len, bs) -------------------------------
N_SAMPLES, STP_SZ = 50_000, 50  # the lab's training record and its step between windows


def reference_steps_per_lab_epoch(case) -> int:
    """The epoch walked through: window starts, batches of them (the last one smaller),
    a step per sub-window of each batch."""
    win_sz, sub_seq_len, bs = case
    starts = [s for s in range(0, N_SAMPLES, STP_SZ) if s + win_sz <= N_SAMPLES]
    batches = [starts[first : first + bs] for first in range(0, len(starts), bs)]
    return sum(len(range(0, win_sz, sub_seq_len)) for _ in batches)


def compare_steps(got, want, case):
    if got == want:
        return None
    win_sz, sub_seq_len, bs = case
    n_windows, per_batch = (N_SAMPLES - win_sz) // STP_SZ + 1, win_sz // sub_seq_len
    fewer = "count the windows again: (50,000 - win_sz) // 50 + 1."
    return named(
        got,
        [
            (
                n_windows // bs * per_batch,
                "the last, smaller batch of windows is a batch too (round up).",
            ),
            (-(-(n_windows - 1) // bs) * per_batch, fewer),
            (-(-(N_SAMPLES // STP_SZ) // bs) * per_batch, fewer),
            (
                -(-n_windows // bs),
                "that counts batches; each batch runs win_sz // sub_seq_len steps.",
            ),
        ],
    ) or differs(got, want)


def draw_steps(rng) -> list:
    sub_seq_len = rng.randint(1, 500)
    return [sub_seq_len * rng.randint(1, 49_999 // sub_seq_len), sub_seq_len, rng.randint(1, 1100)]


STEPS_PER_LAB_EPOCH = Exercise(
    key="05.2",
    func="steps_per_lab_epoch",
    fixed=(
        [500, 100, 16],
        [500, 500, 16],  # full BPTT: one step per batch
        [2000, 100, 64],
        [300, 25, 4],
        [550, 50, 16],  # 50,000 - 550 is a multiple of 50
        [560, 56, 16],  # ... and 50,000 - 560 is not
        [1050, 50, 1],  # one window per batch: no partial batch
        [100, 10, 999],  # 999 windows: exactly one full batch
        [100, 10, 1000],  # ... the same with a larger batch
        [100, 10, 998],  # ... and a last batch of one window
        [50_000, 10_000, 16],  # one window, the whole record
    ),
    draw=draw_steps,
    reference=reference_steps_per_lab_epoch,
    compare=compare_steps,
    answer=reads("plain_whole", "a whole number of optimizer steps"),
    blocked=(
        ("WindowLoader", "tbptt_kit.core.windows:WindowLoader"),
        ("WindowDataset", "tbptt_kit.core.windows:WindowDataset"),
        ("window_starts", "tbptt_kit.course.plots:window_starts"),
    ),
    hint="windows, then batches of windows (round up), then sub-windows per batch.",
)


def check_steps_per_lab_epoch(steps_per_lab_epoch, seed: int | None = None) -> str:
    """Exercise 05.2: steps_per_lab_epoch(win_sz, sub_seq_len, bs), the optimizer steps of
    one lab epoch: 50,000 training samples, a window every 50 samples."""
    return STEPS_PER_LAB_EPOCH.check(steps_per_lab_epoch, seed)
