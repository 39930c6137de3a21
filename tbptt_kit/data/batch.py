"""One (sub-)batch, what the training loop sees: inputs, targets, and where a state starts.

``Batch.reset`` is the one field that says where a hidden state starts from zero, per row:
every row on the first sub-window of new windows (``split_windows``), the rows whose stream
starts a new record in the stream layout (``streams.py``). ``TbpttResetCB`` reads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch

from ..validation import check_sub_seq_len

__all__ = ["Batch", "split_windows"]


class Batch(NamedTuple):
    """One step of training: a batch of (sub-)windows.

    u: (bs, seq_len, n_u) inputs; y: (bs, seq_len, n_y) targets.
    reset: a bool tensor (bs,), the one field that says where a state starts: True for the
        rows that start from a zero state at this batch (a new window; in the stream layout,
        a stream's new record), False for the rows that go on from the carried state.
    sub_idx: window layout, which sub-window of the window this is (0, 1, ..., n_sub - 1);
        None in the stream layout (no windows).
    mask: stream layout only, a bool tensor (bs, seq_len): False for padded steps that the
        loss must leave out. None: every step counts.
    """

    u: torch.Tensor
    y: torch.Tensor
    reset: torch.Tensor
    sub_idx: int | None = None
    mask: torch.Tensor | None = None

    @property
    def new_window(self) -> bool:
        """True when every row starts here (``reset.all()``): the first sub-window of new
        windows, or the first batch of an epoch of streams."""
        return bool(self.reset.all())


def split_windows(u: torch.Tensor, y: torch.Tensor, sub_seq_len: int | None) -> Iterator[Batch]:
    """A batch of whole windows u (bs, win_sz, n_u), y (bs, win_sz, n_y), as its sub-windows
    of ``sub_seq_len`` steps in time order; None: one Batch, the whole windows. A ValueError
    for what cannot be cut exactly: u and y of other (bs, win_sz), a sub_seq_len that does not
    divide win_sz (no tail is ever dropped)."""
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
    starts, goes_on = (torch.full((u.shape[0],), k, device=u.device) for k in (True, False))
    for k in range(u.shape[1] // seq_len):
        t = slice(k * seq_len, (k + 1) * seq_len)
        yield Batch(u[:, t], y[:, t], reset=starts if k == 0 else goes_on, sub_idx=k)
