"""Self-checks for the exercises of notebook 10 (beyond truncation)."""

from __future__ import annotations

import numpy as np

from ...modes.randomized import Truncation
from .core import check_cases

__all__ = ["check_compensation_factors", "check_shortest_safe_truncation"]

PROBS = [  # truncation length distributions P(L = 1), P(L = 2), ...
    (0.5, 0.25, 0.25),
    (0.1, 0.2, 0.3, 0.4),
    (0.0, 0.0, 0.5, 0.5),
    tuple(0.2 * 0.8**k for k in range(40)) + (0.8**40,),
]


def check_compensation_factors(compensation_factors) -> str:
    """Exercise 10.1: compensation_factors(probs, n) -> [1 / (1 - c(age)) for age 1..n],
    against ``Truncation(probs=...).compensation``."""
    cases = []
    for probs in PROBS:
        n = next(a for a in range(1, len(probs) + 1) if Truncation(probs=probs).survival(a) < 1e-12)
        truth = Truncation(probs=probs)
        cases.append(((probs, n - 1), {a: truth.compensation(a) for a in range(1, n)}))

    def as_dict(probs, n):  # {age: factor}, compared factor by factor
        got = compensation_factors(probs, n)
        try:
            return dict(enumerate(got, start=1))
        except TypeError:  # not a list: shown as it is, and wrong
            return got

    return check_cases(
        "Exercise 1",
        as_dict,
        cases,
        hint="c(age) = P(L = age) / P(L >= age); the factor is 1 / (1 - c(age)) = "
        "P(L >= age) / P(L > age).",
    )


def safe_truncation_answer(lens, tol: float) -> int:
    """The smallest k such that every lag >= k carries less than ``tol`` of the largest
    gradient in ``lens`` (lag 0 first): truncation at k then loses almost nothing."""
    lens = np.abs(np.asarray(lens, dtype=float))
    big = lens >= tol * lens.max()
    return int(np.nonzero(big)[0].max()) + 1


class _Lens(np.ndarray):
    """A gradient-by-lag array that prints as its name in a check's message."""

    def __repr__(self):
        return self.name


def _lens(values, name: str) -> _Lens:
    lens = np.asarray(values, dtype=float).view(_Lens)
    lens.name = name
    return lens


def _lenses():
    lags = np.arange(64)
    return [
        _lens(0.5**lags, "lens = 0.5 ** lag"),  # a fast-forgetting network
        _lens(0.9**lags, "lens = 0.9 ** lag"),
        _lens(0.3**lags + np.where(lags == 8, 0.5, 0.0), "lens = 0.3 ** lag, + 0.5 at lag 8"),
        _lens(np.exp(-((lags - 20) ** 2) / 8) + 0.7**lags, "lens = 0.7 ** lag + a bump at 20"),
    ]


def check_shortest_safe_truncation(shortest_safe_truncation) -> str:
    """Exercise 10.2: shortest_safe_truncation(lens, tol) on lenses of known shape."""
    cases = [
        ((lens, tol), safe_truncation_answer(lens, tol))
        for lens in _lenses()
        for tol in (1e-2, 1e-4)
    ]
    return check_cases(
        "Exercise 2",
        shortest_safe_truncation,
        cases,
        hint="find the last lag whose gradient is at least tol x the largest; k must reach it, "
        "and a truncation of k reaches lags 0 ... k - 1.",
    )
