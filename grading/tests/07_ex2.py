# Graded test for exercise 07.2: masked_steps(lengths, bs, sub_seq_len).
# The reference lays the records out row by row, written here, and counts the padded steps;
# the kit's loader, its packing and the self-check's loader are switched off.
from tbptt_kit.checks.grading import kit_disabled

KIT_ANSWERS = ("StreamLoader", "pack_records", "create_stream_dls", "_loader")
with kit_disabled(masked_steps, *KIT_ANSWERS):
    got = masked_steps([8, 7, 9, 4, 2], 3, 3)
assert got == 15, (
    f"masked_steps([8, 7, 9, 4, 2], bs=3, sub_seq_len=3) should be 15 (the blank squares of "
    f"the drawing), not {got!r}"
)
# --- hidden tests ---


def reference_masked_steps(lengths, bs, sub_seq_len):
    """Each row as its list of steps, True for a record's step, False for padding."""
    rows = [[] for _ in range(bs)]
    for n in sorted(lengths, reverse=True):  # longest first, to the row with the fewest
        n_sub = -(-n // sub_seq_len)  # sub-windows so far (the first such row)
        j = min(range(bs), key=lambda j: (len(rows[j]) // sub_seq_len, j))
        rows[j] += [True] * n + [False] * (n_sub * sub_seq_len - n)
    longest = max(len(row) for row in rows)  # every row is read for as many batches
    return sum(row.count(False) + longest - len(row) for row in rows)


CASES = [  # (lengths, bs, sub_seq_len)
    ([8, 7, 9, 4, 2], 3, 3),
    ([1000], 1, 100),  # no padding: 0
    ([10], 1, 3),  # only the last sub-window's padding
    ([6, 6, 6], 3, 3),  # every step counts: 0
    ([5, 5, 5], 3, 1),  # sub_seq_len 1: no record padding, no row padding
    ([3, 3, 2, 2, 2], 2, 1),  # rows of different lengths
    ([11, 11, 9, 9], 2, 10),  # each record padded on its own
    ([5000, 40, 40, 40], 4, 64),  # idle rows after their record
    ([95, 205, 17], 2, 50),
    ([1000, 999, 20], 3, 100),
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 5, 4),
]
for args in CASES:
    want = reference_masked_steps(*args)
    with kit_disabled(masked_steps, *KIT_ANSWERS):
        got = masked_steps(list(args[0]), *args[1:])
    assert got == want, f"masked_steps{args} is not right"
