"""One (sub-)batch, what the loop sees: inputs, targets, and the rows whose state starts here.

Truncated BPTT hands a batch of windows to the network as sub-windows of ``sub_seq_len``
steps, in time order. ``Batch.reset`` says, per row, where a hidden state starts from
zeros: every row on a window's first sub-window, no row on the sub-windows that go on.

    window (win_sz = 6), sub_seq_len = 2:    | 0 1 | 2 3 | 4 5 |
    Batch:                                    sub_idx 0 · 1 · 2
    reset:                                    True · False · False
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch

from .checks import check_sub_seq_len

__all__ = ["Batch", "split_windows"]


class Batch(NamedTuple):
    """One step of training: a batch of (sub-)windows.

    u: (bs, seq_len, n_u) inputs, or token ids (bs, seq_len); y: (bs, seq_len, n_y) targets.
    reset: bool (bs,), True for the rows that start from a zero state at this batch (a new
        window; in the stream layout, a row's new record), False for the rows that go on.
    sub_idx: which sub-window of its window this is (0, 1, ...); None for streams.
    mask: bool (bs, seq_len), False on padded steps the loss leaves out; None: all count.
    """

    u: torch.Tensor
    y: torch.Tensor
    reset: torch.Tensor
    sub_idx: int | None = None
    mask: torch.Tensor | None = None

    @property
    def new_window(self) -> bool:
        """Does every row start here (``reset.all()``)?"""
        return bool(self.reset.all())


def split_windows(u: torch.Tensor, y: torch.Tensor, sub_seq_len: int | None) -> Iterator[Batch]:
    """Whole windows u (bs, win_sz, ...), y (bs, win_sz, ...) as their sub-windows of
    ``sub_seq_len`` steps, in time order (None: one Batch of the whole windows). A
    ValueError for what cannot be cut exactly: no tail is ever dropped."""
    for name, x in (("u", u), ("y", y)):
        if not torch.is_tensor(x) or x.ndim not in (2, 3):  # 2-D: token ids (bs, win_sz)
            shape = f"shape {tuple(x.shape)}" if hasattr(x, "shape") else type(x).__name__
            raise ValueError(
                f"{name} must be a tensor (bs, win_sz, n) or ids (bs, win_sz), got {shape}."
            )
    if u.shape[:2] != y.shape[:2]:
        raise ValueError(
            f"u {tuple(u.shape)} and y {tuple(y.shape)} must have the same (bs, win_sz): "
            f"every input step needs its target."
        )
    check_sub_seq_len(u.shape[1], sub_seq_len)
    seq_len = sub_seq_len or u.shape[1]
    starts = torch.ones(u.shape[0], dtype=torch.bool, device=u.device)
    for k in range(u.shape[1] // seq_len):
        t = slice(k * seq_len, (k + 1) * seq_len)
        yield Batch(u[:, t], y[:, t], reset=starts if k == 0 else ~starts, sub_idx=k)
