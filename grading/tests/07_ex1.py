# Graded test for exercise 07.1: batches_per_epoch(lengths, bs, sub_seq_len).
# The reference deals whole records to rows with a heap, written here; the kit's loader, its
# packing and the self-check's loader are switched off while the student's function runs.
from tbptt_kit.checks.grading import kit_disabled

KIT_ANSWERS = ("StreamLoader", "pack_records", "create_stream_dls", "_loader")
with kit_disabled(batches_per_epoch, *KIT_ANSWERS):
    got = batches_per_epoch([8, 7, 9, 4, 2], 3, 3)
assert got == 5, (
    f"batches_per_epoch([8, 7, 9, 4, 2], bs=3, sub_seq_len=3) should be 5, not {got!r}: each "
    "record stays whole in one row (the drawing in the notebook), it is not cut across rows"
)
# --- hidden tests ---
import heapq


def reference_batches_per_epoch(lengths, bs, sub_seq_len):
    rows = [(0, j) for j in range(bs)]  # (sub-windows so far, row): the heap's top is the
    heapq.heapify(rows)  # row with the fewest, the first such row on a tie
    for n_sub in sorted((-(-n // sub_seq_len) for n in lengths), reverse=True):
        fill, j = heapq.heappop(rows)
        heapq.heappush(rows, (fill + n_sub, j))
    return max(fill for fill, _ in rows)


CASES = [  # (lengths, bs, sub_seq_len)
    ([8, 7, 9, 4, 2], 3, 3),  # the notebook's drawing
    ([1000], 1, 100),  # one record, one row
    ([10], 1, 10),  # exactly one sub-window
    ([10], 1, 3),  # a padded last sub-window
    ([3, 3, 2, 2, 2], 2, 1),  # the packing's count, 7, not the best split (6)
    ([1, 1, 4], 2, 1),  # longest first: in the given order it would be 5
    ([11, 11, 9, 9], 2, 10),  # each record padded on its own: 3, not ceil(20 / 10)
    ([5000, 40, 40, 40], 4, 64),  # one long record sets the count
    ([95, 205, 17], 2, 50),
    ([1000, 999, 20], 3, 100),
    ([6, 6, 6], 3, 3),  # no padding at all
    ([7, 7, 7, 7, 7, 7, 7], 3, 2),  # more records than rows, all alike
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 5, 4),
]
for args in CASES:
    want = reference_batches_per_epoch(*args)
    with kit_disabled(batches_per_epoch, *KIT_ANSWERS):
        got = batches_per_epoch(list(args[0]), *args[1:])
    assert got == want, f"batches_per_epoch{args} is not right"
