# Graded test for exercise 01.1: n_windows(n_samples, win_sz, stp_sz).
# The reference counts the windows one by one; the kit's own counters are switched off.
from tbptt_kit import plots  # noqa: F401 (its window_starts counts windows too)
from tbptt_kit.checks.grading import kit_disabled

with kit_disabled(n_windows, "WindowDataset", "window_starts"):
    assert n_windows(50_000, 500, 10) == 4951, "n_windows(50_000, 500, 10) is not right yet"
# --- hidden tests ---


def reference_n_windows(n_samples, win_sz, stp_sz):
    return sum(1 for start in range(0, n_samples, stp_sz) if start + win_sz <= n_samples)


for args in [(50_000, 500, 500), (1000, 300, 250), (1000, 1000, 7), (4000, 100, 1),
             (999, 100, 1000), (99, 100, 1), (12_345, 678, 9)]:  # fmt: skip
    with kit_disabled(n_windows, "WindowDataset", "window_starts"):
        got = n_windows(*args)
    assert got == reference_n_windows(*args), f"n_windows{args} is not right"
