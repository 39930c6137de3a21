"""Notebook 07's exercises (streams), each defined once for its self-check and its graded test.

The references deal whole records to rows as the exercise describes, written here: the
tests check them against the kit's loader (``pack_records``, ``StreamLoader``).
"""

from __future__ import annotations

import builtins
import heapq

from .core import Exercise, differs, named, reads

__builtins__ = dict(vars(builtins))  # a copy: a cell that patches builtins does not reach here

__all__ = [
    "BATCHES_PER_EPOCH",
    "MASKED_STEPS",
    "check_batches_per_epoch",
    "check_masked_steps",
    "reference_batches_per_epoch",
    "reference_masked_steps",
]

KIT_STREAMS = (
    ("pack_records", "tbptt_kit.core.streams:pack_records"),
    ("StreamLoader", "tbptt_kit.core.streams:StreamLoader"),
    ("stream_pieces", "tbptt_kit.data.loaders:stream_pieces"),
    ("stream_loader", "tbptt_kit.data.loaders:stream_loader"),
    ("record_places", "tbptt_kit.data.loaders:record_places"),
    ("tk.create_stream_dls", "tbptt_kit.data.loaders:create_stream_dls"),
)
FIXED = (  # (record lengths, bs, sub_seq_len)
    [[8, 7, 9, 4, 2], 3, 3],  # the notebook's drawing
    [[1000], 1, 100],  # one record, one row
    [[10], 1, 10],  # exactly one sub-window
    [[10], 1, 3],  # a padded last sub-window
    [[1, 1, 10], 2, 1],  # longest first: in the given order, or dealt in turn, it is 11
    [[3, 3, 2, 2, 2], 2, 1],  # the packing's count, 7, not the best split (6)
    [[1, 1, 4], 2, 1],  # longest first: in the given order it would be 5
    [[11, 11, 9, 9], 2, 10],  # each record padded on its own: 3, not ceil(20 / 10)
    [[5000, 40, 40, 40], 4, 64],  # one long record sets the count
    [[95, 205, 17], 2, 50],
    [[1000, 999, 20], 3, 100],
    [[6, 6, 6], 3, 3],  # no padding at all
    [[7, 7, 7, 7, 7, 7, 7], 3, 2],  # more records than rows, all alike
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 5, 4],
)


def draw_streams(rng) -> list:
    lengths = [rng.randint(1, 60) for _ in range(rng.randint(1, 12))]
    return [lengths, rng.randint(1, 5), rng.randint(1, 10)]


def _sub_windows(lengths, k) -> list:
    return [-(-n // k) for n in lengths]


def _deal(n_subs, bs, order) -> list:
    """Sub-windows per row when the records (their sub-window counts) go, in ``order``
    ("longest", "given" or "turns"), each to the row with the fewest so far."""
    if order == "turns":
        rows = [0] * bs
        for i, n in enumerate(n_subs):
            rows[i % bs] += n
        return rows
    rows = [(0, j) for j in range(bs)]  # (sub-windows so far, row): the heap's top is the
    heapq.heapify(rows)  # row with the fewest, the first such row on a tie
    for n in sorted(n_subs, reverse=True) if order == "longest" else n_subs:
        fill, j = heapq.heappop(rows)
        heapq.heappush(rows, (fill + n, j))
    return [fill for fill, _ in sorted(rows, key=lambda r: r[1])]


# -- Exercise 1: batches_per_epoch(lengths, bs, sub_seq_len) ------------------------------
def reference_batches_per_epoch(case) -> int:
    """Whole records dealt longest first, each to the emptiest row: the longest row."""
    lengths, bs, k = case
    return max(_deal(_sub_windows(lengths, k), bs, "longest"))


def _cut(lengths, bs, k) -> int:
    return -(-sum(_sub_windows(lengths, k)) // bs)


def compare_batches(got, want, case):
    if got == want:
        return None
    lengths, bs, k = case
    n_subs = _sub_windows(lengths, k)
    orders = (n_subs, sorted(n_subs, reverse=True))
    dealt = {max(_deal(order, bs, how)) for order in orders for how in ("given", "turns")}
    return named(
        got,
        [
            (
                _cut(lengths, bs, k),
                "the count if the records were cut across rows, as text is. Here each row "
                "reads whole records: pack them (longest first, each into the emptiest row) "
                f"and the longest row, {want}, sets the count.",
            ),
            *[
                (
                    count,
                    "deal the records longest first, each to the row holding the fewest "
                    "sub-windows so far: not in the order given, not in turns.",
                )
                for count in dealt - {want}
            ],
            (
                -(-max(_deal(lengths, bs, "longest")) // k),
                "each record is padded to whole sub-windows on its own.",
            ),
        ],
    ) or differs(got, want)


BATCHES_PER_EPOCH = Exercise(
    key="07.1",
    func="batches_per_epoch",
    fixed=FIXED,
    draw=draw_streams,
    draws=4,
    inputs=lambda case: {"args": (list(case[0]), case[1], case[2])},
    reference=reference_batches_per_epoch,
    compare=compare_batches,
    answer=reads("plain_whole", "a whole number of batches"),
    blocked=KIT_STREAMS,
    show=lambda c: f"For lengths {c[0]}, bs={c[1]}, sub_seq_len={c[2]}",
    hint="each record takes ceil(length / sub_seq_len) sub-windows in one row; longest "
    "first, each into the row with the fewest so far; the longest row is the answer.",
)


def check_batches_per_epoch(batches_per_epoch, seed: int | None = None) -> str:
    """Exercise 07.1: batches_per_epoch(lengths, bs, sub_seq_len), the batches of one epoch
    of the stream layout: whole records, longest first, each to the emptiest row."""
    return BATCHES_PER_EPOCH.check(batches_per_epoch, seed)


# -- Exercise 2: masked_steps(lengths, bs, sub_seq_len) ------------------------------------
def reference_masked_steps(case) -> int:
    """Each row laid out step by step (a record's steps, its last sub-window's padding), and
    every row read for as many batches as the longest: the padded steps counted."""
    lengths, bs, k = case
    rows = [[] for _ in range(bs)]
    for n in sorted(lengths, reverse=True):  # longest first, to the row with the fewest
        j = min(range(bs), key=lambda j: (len(rows[j]) // k, j))  # (the first such row)
        rows[j] += [True] * n + [False] * (-(-n // k) * k - n)
    longest = max(len(row) for row in rows)
    return sum(row.count(False) + longest - len(row) for row in rows)


def compare_masked(got, want, case):
    if got == want:
        return None
    lengths, bs, k = case
    own = sum(s * k - n for s, n in zip(_sub_windows(lengths, k), lengths))
    return named(
        got,
        [
            (
                own,
                "only each record's own padding. Rows that have read all their records go on "
                "with padding until the longest row ends: count those steps too.",
            ),
            (
                bs * _cut(lengths, bs, k) * k - sum(lengths),
                "that is the layout that cuts records across rows.",
            ),
            (want - own, "only the idle rows' steps; each record's last sub-window is padded too."),
        ],
    ) or differs(got, want)


MASKED_STEPS = Exercise(
    key="07.2",
    func="masked_steps",
    fixed=(*FIXED, [[5, 5, 5], 3, 1]),
    draw=draw_streams,
    draws=4,
    inputs=lambda case: {"args": (list(case[0]), case[1], case[2])},
    reference=reference_masked_steps,
    compare=compare_masked,
    answer=reads("plain_whole", "a whole number of steps"),
    blocked=KIT_STREAMS,
    show=lambda c: f"For lengths {c[0]}, bs={c[1]}, sub_seq_len={c[2]}",
    hint="an epoch holds bs x batches x sub_seq_len steps; the records fill the rest.",
)


def check_masked_steps(masked_steps, seed: int | None = None) -> str:
    """Exercise 07.2: masked_steps(lengths, bs, sub_seq_len), the steps of one epoch's
    batches that the mask leaves out: records' padding and the idle rows' steps."""
    return MASKED_STEPS.check(masked_steps, seed)
