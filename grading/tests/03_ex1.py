# Graded test for exercise 03.1: largest_window(w1, m1, w2, m2, budget).
# The reference solves the straight line in exact fractions; the kit has no function that
# extrapolates two measurements, so nothing is switched off.
import math
from fractions import Fraction

got = largest_window(100, 1_100_000, 1100, 10_100_000, 2 * 2**30)
assert got == 238_587, (
    f"9000 bytes per step and 200,000 fixed: 2 GiB holds 238,587 whole steps, got {got!r}"
)
# --- hidden tests ---


def reference_largest_window(w1, m1, w2, m2, budget):
    slope = Fraction(m2 - m1, w2 - w1)  # bytes per step, exact
    fixed = m1 - slope * w1
    return math.floor((budget - fixed) / slope)


for args in [
    (100, 1_100_000, 1100, 10_100_000, 2 * 2**30),
    (500, 23_683_072, 4000, 188_809_216, 2 * 2**30),  # a slope that is not a whole number
    (200, 2_505_728, 1000, 12_524_800, 256 * 2**20),
    (1000, 1000, 2000, 2000, 1500),  # no fixed part: 1 byte per step
    (10, 5000, 20, 6000, 5999),  # just below a whole step: round down
    (10, 5000, 20, 6000, 6000),  # exactly a whole step: it fits (<=, not <)
    (3, 100, 7, 130, 1000),  # 7.5 bytes per step, exactly 123 steps
    (3, 100, 7, 130, 1007),  # 123.9... steps
    (20, 6000, 10, 5000, 6100),  # the points in the other order: the same line
    (100, 1_000_000, 300, 2_900_000, 2_900_000),  # the budget is the second point
]:
    got = largest_window(*args)
    want = reference_largest_window(*args)
    assert got == want, f"largest_window{args}: got {got!r}, want {want}"
