# Graded test for exercise 05.2: steps_per_lab_epoch(win_sz, sub_seq_len, bs).
# The reference walks through the epoch's windows, batch by batch; the kit's loaders and
# window counters are switched off.
from tbptt_kit import plots  # noqa: F401 (its window_starts counts windows too)
from tbptt_kit.checks.grading import kit_disabled

KIT_ANSWERS = ("WindowLoader", "WindowDataset", "window_starts")
with kit_disabled(steps_per_lab_epoch, *KIT_ANSWERS):
    got = steps_per_lab_epoch(500, 100, 16)
assert got == 310, (
    f"991 windows of 500 make 62 batches of 16 (the last one smaller), each 5 sub-windows of "
    f"100: 310 steps, got {got!r}"
)
# --- hidden tests ---


def reference_steps_per_lab_epoch(win_sz, sub_seq_len, bs):
    starts = [s for s in range(0, 50_000, 50) if s + win_sz <= 50_000]
    batches = [starts[first : first + bs] for first in range(0, len(starts), bs)]  # the last: fewer
    return sum(len(range(0, win_sz, sub_seq_len)) for _ in batches)  # a step per sub-window


for args in [
    (500, 100, 16),
    (500, 500, 16),  # full BPTT: one step per batch
    (2000, 100, 64),
    (300, 25, 4),
    (550, 50, 16),  # 50,000 - 550 is a multiple of 50
    (560, 56, 16),  # ... and 50,000 - 560 is not
    (1050, 50, 1),  # one window per batch: no partial batch
    (100, 10, 999),  # 999 windows: exactly one full batch
    (100, 10, 1000),  # ... the same with a larger batch
    (100, 10, 998),  # ... and a last batch of one window
    (50_000, 10_000, 16),  # one window, the whole record
]:
    want = reference_steps_per_lab_epoch(*args)
    with kit_disabled(steps_per_lab_epoch, *KIT_ANSWERS):
        got = steps_per_lab_epoch(*args)
    assert got == want, f"steps_per_lab_epoch{args}: got {got!r}, want {want}"
