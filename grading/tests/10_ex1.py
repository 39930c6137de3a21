# Graded test for exercise 10.1: compensation_factors(probs, n), ages 1 ... n.
# The reference divides the tail sums P(L >= age) / P(L > age), written here; the kit's
# Truncation (whose .compensation is the answer) is switched off.
import math

from tbptt_kit.checks.grading import kit_disabled

KIT_ANSWERS = ("Truncation",)
with kit_disabled(compensation_factors, *KIT_ANSWERS):
    got = [float(f) for f in compensation_factors((0.5, 0.25, 0.25), 2)]
assert len(got) == 2, "return one factor per age 1 ... n"
assert math.isclose(got[0], 2.0), f"c(1) = 0.5, so the factor for age 1 is 2, not {got[0]}"
# --- hidden tests ---
from fractions import Fraction


def reference_compensation_factors(probs, n):
    """1 / (1 - c(age)) = P(L >= age) / P(L > age), from tail sums, exact in fractions."""
    probs = [Fraction(p) for p in probs]
    return [float(sum(probs[age - 1 :]) / sum(probs[age:])) for age in range(1, n + 1)]


CASES = [  # (probs, n): every age up to n keeps P(L > age) > 0
    ((0.5, 0.25, 0.25), 2),  # 2, 2
    ((0.5, 0.25, 0.25), 1),
    ((0.1, 0.2, 0.3, 0.4), 3),
    ((0.0, 0.0, 0.5, 0.5), 3),  # no cut can come first: factors 1, 1, 2
    ((0.25, 0.25, 0.25, 0.25), 3),  # 4/3, 3/2, 2
    ((0.7, 0.3), 1),
    ((0.5, 0.25, 0.25), 0),  # no ages: an empty list
    (tuple(0.2 * 0.8**k for k in range(40)) + (0.8**40,), 40),  # geometric: 1.25 at every age
]
for probs, n in CASES:
    want = reference_compensation_factors(probs, n)
    with kit_disabled(compensation_factors, *KIT_ANSWERS):
        got = [float(f) for f in compensation_factors(probs, n)]
    assert len(got) == n, f"compensation_factors({probs}, {n}) must return {n} factors"
    assert all(math.isclose(g, w, rel_tol=1e-6) for g, w in zip(got, want)), (
        f"compensation_factors({probs}, {n}) is not right"
    )
