"""Notebook 10's exercises: the self-check and the graded test agree on the worked solution,
the usual mistakes (each named; an absolute tolerance in 10.2 among them, which curves that
do not peak at 1.0 catch) and the kit's own Truncation; the compensation reference is
Truncation's."""

import numpy as np
import pytest

from tbptt_kit.course.checks import core, nb10
from tbptt_kit.modes import Truncation
from tests.grading_support import agreement_test, solution, stub

RIGHT_SAFE = solution("10_ex2", "shortest_safe_truncation")


def kit_compensation(probs, n):
    truncation = Truncation(probs=probs)
    return [truncation.compensation(age) for age in range(1, n + 1)]


def unconditioned(probs, n):
    return [1 / (1 - probs[age - 1]) for age in range(1, n + 1)]


def hazard_only(probs, n):
    return [probs[age - 1] / sum(probs[age - 1 :]) for age in range(1, n + 1)]


def one_short(probs, n):
    return [sum(probs[age - 1 :]) / sum(probs[age:]) for age in range(1, n)]


def threshold(rule, strict=False):
    def shortest_safe_truncation(lens, tol):
        lens = np.abs(np.asarray(lens, dtype=float))
        big = lens > rule(lens, tol) if strict else lens >= rule(lens, tol)
        return int(np.nonzero(big)[0].max()) + 1

    return shortest_safe_truncation


ANSWERS = [
    ("10.1", "solution", solution("10_ex1", "compensation_factors"), "right, on all"),
    ("10.1", "stub", stub, "not done yet"),
    ("10.1", "unconditioned", unconditioned, "the chance of a cut given none came before"),
    ("10.1", "hazard", hazard_only, "that is c(age) itself"),
    ("10.1", "one-short", one_short, "one factor per age"),
    ("10.1", "kit", kit_compensation, "the kit's own answer"),
    (
        "10.1",
        "array",
        lambda p, n: np.array(solution("10_ex1", "compensation_factors")(p, n)),
        "right, on all",
    ),
    ("10.2", "solution", RIGHT_SAFE, "right, on all"),
    ("10.2", "stub", stub, "not done yet"),
    ("10.2", "absolute", threshold(lambda lens, tol: tol), "tol is relative to the largest"),
    ("10.2", "from-lag-0", threshold(lambda lens, tol: tol * lens[0]), "not always at lag 0"),
    ("10.2", "strict", threshold(lambda lens, tol: tol * lens.max(), strict=True), "(>=, not >)"),
    ("10.2", "last-lag", lambda lens, tol: RIGHT_SAFE(lens, tol) - 1, "one more than the last lag"),
]


test_the_self_check_and_the_graded_test_agree_and_name_the_mistake = agreement_test(ANSWERS)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_compensation_reference_is_truncations(seed):
    for probs, n in core.all_cases(nb10.COMPENSATION, seed):
        want = nb10.reference_compensation_factors([probs, n])
        assert np.allclose(want, kit_compensation(probs, n), rtol=1e-9), probs


def test_an_absolute_tolerance_fails_because_some_curves_do_not_peak_at_one():
    absolute = threshold(lambda lens, tol: tol)
    peaks = [max(nb10.lens_values(case)) for case in nb10.SAFE_TRUNCATION.fixed]
    assert min(peaks) < 0.1 and max(peaks) > 10
    case = ["0.5 ** lag", 40.0, 1e-2]
    lens = np.array(nb10.lens_values(case))
    assert absolute(lens, 1e-2) == 12 != nb10.reference_shortest_safe_truncation(case) == 7
