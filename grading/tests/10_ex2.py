# Graded test for exercise 10.2: shortest_safe_truncation(lens, tol), lens lag 0 first.
# The reference walks back from the last lag while the lag carries less than tol x the
# largest, written here; the kit's own (in the self-check) is switched off.
import numpy as np

from tbptt_kit.checks.grading import kit_disabled

# the kit's own answer (in the self-check)
KIT_ANSWERS = ("safe_truncation_answer",)
with kit_disabled(shortest_safe_truncation, *KIT_ANSWERS):
    got = shortest_safe_truncation(np.array([1.0, 0.5, 0.25, 0.125, 0.0625]), 0.2)
assert got == 3, f"lags 0, 1, 2 carry at least 0.2 of the largest: k = 3, not {got!r}"
# --- hidden tests ---


def reference_shortest_safe_truncation(lens, tol):
    lens = [float(x) for x in lens]
    k = len(lens)
    while k > 0 and lens[k - 1] < tol * max(lens):  # lag k - 1 carries less: not needed
        k -= 1
    return k


lags = np.arange(64)
CASES = [  # (lens, tol)
    (0.5**lags, 1e-2),
    (0.5**lags, 1e-4),
    (0.9**lags, 1e-2),
    (np.array([1.0, 0.5, 0.25, 0.125, 0.0625]), 0.25),  # lag 2 is exactly tol x the largest
    (np.array([1.0, 0.5, 0.25, 0.125, 0.0625]), 0.0625),  # ... the last lag exactly: k = 5
    (np.array([4.0, 2.0, 1.0, 0.5]), 0.25),  # 1.0 == 0.25 x 4.0: kept, k = 3
    (np.array([2.0, 1.0, 0.5, 0.25, 0.125]), 0.5),  # k = 2
    (0.3**lags + np.where(lags == 8, 0.5, 0.0), 1e-2),  # a late bump after a dip
    (0.3**lags + np.where(lags == 8, 0.5, 0.0), 0.6),  # ... the bump below tol
    (np.exp(-((lags - 20) ** 2) / 8) + 0.7**lags, 1e-2),  # the largest is not at lag 0
    (np.exp(-((lags - 20) ** 2) / 8) + 0.2 * 0.7**lags, 0.5),
    (np.array([0.1, 1.0, 0.1]), 0.5),  # the largest at lag 1: k = 2
    (np.array([3.0]), 1e-2),  # one lag: k = 1
    (np.ones(10), 0.5),  # every lag alike: k = 10
    (np.array([1.0, 0.0, 0.0, 0.0]), 1e-3),  # no gradient beyond lag 0: k = 1
]
for lens, tol in CASES:
    want = reference_shortest_safe_truncation(lens, tol)
    with kit_disabled(shortest_safe_truncation, *KIT_ANSWERS):
        got = shortest_safe_truncation(lens.copy(), tol)
    assert got == want, f"shortest_safe_truncation is not right for {lens[:6]}... and tol={tol}"
