"""Notebook 10's exercises (beyond truncation), each defined once for its self-check and its
graded test."""

from __future__ import annotations

import builtins
from fractions import Fraction
from math import exp

from .core import Exercise, all_close, differs, reads

__builtins__ = dict(vars(builtins))  # a copy: a cell that patches builtins does not reach here

__all__ = [
    "COMPENSATION",
    "SAFE_TRUNCATION",
    "check_compensation_factors",
    "check_shortest_safe_truncation",
    "lens_values",
    "reference_compensation_factors",
    "reference_shortest_safe_truncation",
]


# -- Exercise 1: compensation_factors(probs, n) --------------------------------------------
def reference_compensation_factors(case) -> list:
    """1 / (1 - c(age)) = P(L >= age) / P(L > age) for age 1 ... n, from tail sums, exact in
    fractions."""
    probs, n = case
    probs = [Fraction(p) for p in probs]
    return [float(sum(probs[age - 1 :]) / sum(probs[age:])) for age in range(1, n + 1)]


def compare_compensation(got, want, case):
    probs, n = case
    if len(got) != n:
        return f"return one factor per age 1 ... n: {n} of them, you return {len(got)}."
    if all_close(got, want, rel=1e-6):
        return None
    if all_close(got, [1 / (1 - p) for p in probs[:n]], rel=1e-6):
        return (
            "you used c(age) = P(L = age); it is the chance of a cut given none came before: "
            "P(L = age) / P(L >= age)."
        )
    if all_close(got, [1 - 1 / f for f in want], rel=1e-6):
        return "that is c(age) itself; the factor is 1 / (1 - c(age))."
    return differs(got, want)


def draw_probs(rng) -> list:
    k = rng.randint(2, 8)
    weights = [0.0] * rng.randint(0, 1) + [rng.random() + 0.05 for _ in range(k)]
    probs = [w / sum(weights) for w in weights]
    return [probs, rng.randint(0, len(probs) - 1)]


COMPENSATION = Exercise(
    key="10.1",
    func="compensation_factors",
    fixed=(
        [[0.5, 0.25, 0.25], 2],  # the notebook's example: 2, 2
        [[0.5, 0.25, 0.25], 1],
        [[0.1, 0.2, 0.3, 0.4], 3],
        [[0.0, 0.0, 0.5, 0.5], 3],  # no cut can come first: factors 1, 1, 2
        [[0.25, 0.25, 0.25, 0.25], 3],  # 4/3, 3/2, 2
        [[0.7, 0.3], 1],
        [[0.5, 0.25, 0.25], 0],  # no ages: an empty list
        [[0.2 * 0.8**k for k in range(40)] + [0.8**40], 40],  # geometric: 1.25 at every age
    ),
    draw=draw_probs,
    reference=reference_compensation_factors,
    compare=compare_compensation,
    answer=reads("plain_numbers", "a list of factors, one per age 1 ... n"),
    blocked=(("Truncation", "tbptt_kit.modes.randomized:Truncation"),),
    show=lambda c: (
        f"For probs {[round(p, 4) for p in c[0][:6]]}{'...' if len(c[0]) > 6 else ''}, n={c[1]}"
    ),
    hint="c(age) = P(L = age) / P(L >= age); the factor is 1 / (1 - c(age)) = "
    "P(L >= age) / P(L > age).",
)


def check_compensation_factors(compensation_factors, seed: int | None = None) -> str:
    """Exercise 10.1: compensation_factors(probs, n) -> [1 / (1 - c(age)) for age 1 ... n],
    what ``Truncation(probs=...).compensation`` gives."""
    return COMPENSATION.check(compensation_factors, seed)


# -- Exercise 2: shortest_safe_truncation(lens, tol) ---------------------------------------
CURVES = {  # gradient-by-lag shapes, lag 0 first, 64 lags
    "0.5 ** lag": lambda lag: 0.5**lag,  # a fast-forgetting network
    "0.9 ** lag": lambda lag: 0.9**lag,
    "0.3 ** lag, + 0.5 at lag 8": lambda lag: 0.3**lag + (0.5 if lag == 8 else 0.0),
    "0.7 ** lag + a bump at 20": lambda lag: exp(-((lag - 20) ** 2) / 8) + 0.7**lag,
    "0.2 x 0.7 ** lag + a bump at 20": lambda lag: exp(-((lag - 20) ** 2) / 8) + 0.2 * 0.7**lag,
}


def lens_values(case) -> list:
    """The lens of a case [curve, scale, tol]: a curve of CURVES, or "r:bump" (r ** lag, and
    a bump of that height at that lag), or a list of values; times ``scale``."""
    curve, scale, _ = case
    if isinstance(curve, list):
        return [scale * v for v in curve]
    if curve in CURVES:
        return [scale * CURVES[curve](lag) for lag in range(64)]
    rate, bump_lag, bump = (float(x) for x in curve.split(":"))
    return [scale * (rate**lag + (bump if lag == bump_lag else 0.0)) for lag in range(64)]


def reference_shortest_safe_truncation(case, tol_of=None, strict=False) -> int:
    """A walk back from the last lag while the lag carries less than tol x the largest:
    one more than the last lag that carries at least that. ``tol_of``, ``strict``: a usual
    mistake's threshold or comparison instead."""
    lens = lens_values(case)
    tol = case[2]
    threshold = (tol_of or (lambda lens: tol * max(lens)))(lens)
    k = len(lens)
    while k > 0 and (lens[k - 1] <= threshold if strict else lens[k - 1] < threshold):
        k -= 1
    return k


def compare_safe_truncation(got, want, case):
    if got == want:
        return None
    tol = case[2]
    if got == reference_shortest_safe_truncation(case, tol_of=lambda lens: tol):
        return (
            f"you return {got}: tol is relative to the largest gradient: keep the lags with "
            "at least tol x max(lens), not tol."
        )
    if got == reference_shortest_safe_truncation(case, tol_of=lambda lens: tol * lens[0]):
        return f"you return {got}: the largest gradient is not always at lag 0; use max(lens)."
    if got == reference_shortest_safe_truncation(case, strict=True):
        return f"you return {got}: a lag exactly at tol x the largest counts (>=, not >)."
    if got == want - 1:
        return f"you return {got}: truncation at k keeps lags 0 ... k - 1, so k is one more than the last lag."
    return differs(got, want)


def draw_lens(rng) -> list:
    curve = f"{rng.uniform(0.2, 0.95)}:{rng.randint(1, 60)}:{rng.choice([0.0, rng.uniform(0, 1)])}"
    return [curve, 10 ** rng.uniform(-3, 3), 10 ** rng.uniform(-4, -0.5)]


SAFE_TRUNCATION = Exercise(
    key="10.2",
    func="shortest_safe_truncation",
    fixed=(
        [[1.0, 0.5, 0.25, 0.125, 0.0625], 1.0, 0.2],  # the notebook's example: k = 3
        ["0.5 ** lag", 1.0, 1e-2],
        ["0.5 ** lag", 1.0, 1e-4],
        ["0.9 ** lag", 1.0, 1e-2],
        ["0.5 ** lag", 40.0, 1e-2],  # curves that do not peak at 1.0: tol is relative
        ["0.9 ** lag", 0.02, 1e-2],
        [[1.0, 0.5, 0.25, 0.125, 0.0625], 4.0, 0.25],  # lag 2 is exactly tol x the largest
        [[1.0, 0.5, 0.25, 0.125, 0.0625], 1.0, 0.0625],  # ... the last lag exactly: k = 5
        [[2.0, 1.0, 0.5, 0.25, 0.125], 1.0, 0.5],  # k = 2
        ["0.3 ** lag, + 0.5 at lag 8", 1.0, 1e-2],  # a late bump after a dip
        ["0.3 ** lag, + 0.5 at lag 8", 3.0, 0.6],  # ... the bump below tol
        ["0.7 ** lag + a bump at 20", 7.0, 1e-2],
        ["0.2 x 0.7 ** lag + a bump at 20", 1.0, 0.5],  # the largest is not at lag 0
        [[0.1, 1.0, 0.1], 2.0, 0.5],  # the largest at lag 1: k = 2
        [[3.0], 1.0, 1e-2],  # one lag: k = 1
        [[1.0] * 10, 0.3, 0.5],  # every lag alike: k = 10
        [[1.0, 0.0, 0.0, 0.0], 5.0, 1e-3],  # no gradient beyond lag 0: k = 1
    ),
    draw=draw_lens,
    inputs=lambda case: {"args": (_array(lens_values(case)), case[2])},
    reference=reference_shortest_safe_truncation,
    compare=compare_safe_truncation,
    answer=reads("plain_whole", "a whole number of steps"),
    show=lambda c: (
        f"For lens = {c[1]:.3g} x ({c[0] if isinstance(c[0], str) else c[0][:6]}), tol = {c[2]:.3g}"
    ),
    hint="find the last lag whose gradient is at least tol x the largest; k must reach it, "
    "and a truncation of k reaches lags 0 ... k - 1.",
)


def _array(values: list):
    import numpy as np

    return np.array(values, dtype=np.float64)


def check_shortest_safe_truncation(shortest_safe_truncation, seed: int | None = None) -> str:
    """Exercise 10.2: shortest_safe_truncation(lens, tol), lens a gradient by lag (lag 0
    first): the smallest k such that every lag >= k carries less than tol x the largest."""
    return SAFE_TRUNCATION.check(shortest_safe_truncation, seed)
