# Graded test for exercise 05.1: largest_fitting_sub_seq_len(win_sz, bs, hidden_size, budget_bytes).
# The reference tries every divisor against predict_step_memory's parts (the exercise's given);
# the kit's own answer, the budget guard and its advice, is switched off.
from tbptt_kit.checks.grading import kit_disabled
from tbptt_kit.memory import predict_step_memory

KIT_ANSWERS = ("largest_sub_seq_len", "check_budget")


def grading_step_bytes(win_sz, bs, hidden_size, sub_seq_len):
    return sum(predict_step_memory("lstm", hidden_size, 1, bs, win_sz, sub_seq_len).values())


with kit_disabled(largest_fitting_sub_seq_len, *KIT_ANSWERS):
    got = largest_fitting_sub_seq_len(2000, 64, 128, 256 * 2**20)
assert got is not None and 2000 % got == 0, f"return a divisor of win_sz=2000, got {got!r}"
assert grading_step_bytes(2000, 64, 128, got) <= 256 * 2**20, (
    f"sub_seq_len={got}: the step's predicted memory (all its parts) exceeds the budget"
)
# --- hidden tests ---


def reference_largest_fitting_sub_seq_len(win_sz, bs, hidden_size, budget_bytes):
    best = None
    for d in range(1, win_sz + 1):
        if win_sz % d == 0 and grading_step_bytes(win_sz, bs, hidden_size, d) <= budget_bytes:
            best = d
    return best


cases = [  # (win_sz, bs, hidden_size, budget_bytes)
    (2000, 64, 128, 256 * 2**20),
    (2000, 16, 40, 256 * 2**20),
    (1000, 64, 128, 64 * 2**20),
    (600, 32, 64, 8 * 2**20),
    (500, 16, 40, 2 * 2**20),
    (500, 16, 40, 2**40),  # everything fits: full BPTT, sub_seq_len = win_sz
    (500, 16, 40, 1000),  # not even sub_seq_len=1 fits: None
    (499, 8, 32, 4 * 2**20),  # a prime window: 1 or 499
]
# just over the whole step at 100: the activations alone of longer sub-windows fit, not the step
cases.append((500, 1, 512, grading_step_bytes(500, 1, 512, 100) + 1))
for d in (100, 125, 1):  # exactly the step at d fits it (<=, not <); a byte less does not
    cases.append((500, 16, 40, grading_step_bytes(500, 16, 40, d)))
    cases.append((500, 16, 40, grading_step_bytes(500, 16, 40, d) - 1))
cases.append((500, 16, 40, grading_step_bytes(500, 16, 40, 500)))  # exactly full BPTT's step
for args in cases:
    want = reference_largest_fitting_sub_seq_len(*args)
    with kit_disabled(largest_fitting_sub_seq_len, *KIT_ANSWERS):
        got = largest_fitting_sub_seq_len(*args)
    assert got == want, f"largest_fitting_sub_seq_len{args}: got {got!r}, want {want!r}"
