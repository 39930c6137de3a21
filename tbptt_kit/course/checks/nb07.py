"""Self-checks for the exercises of notebook 07 (streams)."""

from __future__ import annotations

import math

import numpy as np

from .core import WRONG, call_student, check_cases

__all__ = ["check_batches_per_epoch", "check_masked_steps"]

CASES = [  # (record lengths, bs, sub_seq_len)
    ([8, 7, 9, 4, 2], 3, 3),
    ([1000], 1, 100),
    ([1000, 999, 20], 3, 100),
    ([95, 205, 17], 2, 50),
    ([5000, 40, 40, 40], 4, 64),
    ([10], 1, 10),
]


def _loader(lengths, bs, sub_seq_len):
    from ...core.streams import StreamDataset, StreamLoader

    records = [np.zeros((n, 1), np.float32) for n in lengths]
    return StreamLoader(StreamDataset(records, records), bs, sub_seq_len)


def _cut_count(lengths, bs, sub_seq_len) -> int:
    """The batches if records were cut across rows (text's convention), not this layout's."""
    return math.ceil(sum(math.ceil(n / sub_seq_len) for n in lengths) / bs)


def check_batches_per_epoch(batches_per_epoch) -> str:
    """Exercise 07.1: batches_per_epoch(lengths, bs, sub_seq_len), against the real loader."""
    cases = [((list(a), b, k), len(_loader(a, b, k))) for a, b, k in CASES]
    for args, right in cases:  # a specific diagnosis first: rows that share cut records
        got, verdict = call_student("Exercise 1", batches_per_epoch, *args)
        if verdict:
            return verdict
        if got != right and got == _cut_count(*args):
            print(
                f"Exercise 1: not yet right. For {args} you return {got!r}: the count if the "
                "records were cut across rows, as text is. Here each row reads whole records: "
                f"pack them (longest first, each into the emptiest row) and the longest row, "
                f"{right}, sets the count."
            )
            return WRONG
    return check_cases(
        "Exercise 1",
        batches_per_epoch,
        cases,
        hint="each record takes ceil(length / sub_seq_len) sub-windows in one row; longest "
        "first, each into the row with the fewest so far; the longest row is the answer.",
    )


def check_masked_steps(masked_steps) -> str:
    """Exercise 07.2: masked_steps(lengths, bs, sub_seq_len): the steps of an epoch's
    batches that the mask leaves out, counted on the real loader."""
    cases = []
    for a, b, k in CASES:
        out = sum(int((~batch.mask).sum()) for batch in _loader(a, b, k) if batch.mask is not None)
        cases.append(((list(a), b, k), out))
    return check_cases(
        "Exercise 2",
        masked_steps,
        cases,
        hint="an epoch holds bs x batches x sub_seq_len steps; the records fill the rest.",
    )
