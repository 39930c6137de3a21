"""Self-checks for the exercises of notebook 07 (streams)."""

from __future__ import annotations

import numpy as np

from .core import check_cases

__all__ = ["check_batches_per_epoch", "check_masked_steps"]

CASES = [  # (record lengths, bs, sub_seq_len)
    ([8, 7, 9, 4, 2], 3, 3),
    ([1000], 4, 100),
    ([1000], 3, 100),
    ([95, 205, 17], 2, 50),
    ([5000, 40, 40, 40], 8, 64),
    ([10], 1, 10),
]


def _loader(lengths, bs, sub_seq_len):
    from ..data.streams import StreamDataset, StreamLoader

    records = [np.zeros((n, 1), np.float32) for n in lengths]
    return StreamLoader(StreamDataset(records, records), bs, sub_seq_len)


def check_batches_per_epoch(batches_per_epoch) -> str:
    """Exercise 07.1: batches_per_epoch(lengths, bs, sub_seq_len), against the real loader."""
    cases = [((list(a), b, k), len(_loader(a, b, k))) for a, b, k in CASES]
    return check_cases(
        "Exercise 1",
        batches_per_epoch,
        cases,
        hint="each record takes ceil(length / sub_seq_len) sub-windows; bs streams share them.",
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
