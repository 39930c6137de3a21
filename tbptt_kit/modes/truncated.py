"""Full BPTT, truncated BPTT, and TBPTT(k1, k2): the modes of the literature's two lengths.

Full and plain truncated BPTT need nothing of their own: the loop's reset, carry and detach
(``core/learner.py``) are them, over whole windows or over sub-windows. TBPTT(k1, k2) has
a carry: before each sub-window of k1 steps it runs the k2 - k1 steps before it again, from
the detached state at their start, so that the gradient reaches k2 steps back:

    steps:      ... | a a a a | b b b b |          k1 = 4, k2 = 6
    runs again:           a a | b b b b |          the gradient of the b's reaches 6 steps back
"""

from __future__ import annotations

import torch

from ..core.checks import check_int
from ..core.model import detach_state, reset_rows

__all__ = ["Full", "ReRun", "Truncated", "check_k1"]


def check_k1(bptt, k2: bool = False) -> None:
    """A ValueError unless ``bptt`` has a sub_seq_len (k1); and a backprop_len (k2) only
    where ``k2`` says the mode takes one."""
    if bptt.sub_seq_len is None:
        raise ValueError(f"mode={bptt.mode!r} needs sub_seq_len (k1), got None.")
    check_int("sub_seq_len", bptt.sub_seq_len)
    if bptt.backprop_len is not None and not k2:
        raise ValueError(
            f"backprop_len={bptt.backprop_len} goes with mode='truncated' only, got "
            f"mode={bptt.mode!r}."
        )


class Full:
    """Full BPTT: whole windows, each from zeros, the gradient back to the window's start."""

    carries_state, exact = False, True

    @staticmethod
    def check(bptt) -> None:
        if (bptt.sub_seq_len, bptt.backprop_len, bptt.truncation) != (None, None, None):
            raise ValueError(
                f"mode='full' takes no sub_seq_len, backprop_len or truncation, got "
                f"sub_seq_len={bptt.sub_seq_len}, backprop_len={bptt.backprop_len}, "
                f"truncation={bptt.truncation}: leave them out."
            )

    @staticmethod
    def check_loaders(bptt, dls) -> None: ...

    @staticmethod
    def graph_len(bptt, win_sz: int) -> int:
        return win_sz

    @staticmethod
    def label(bptt) -> str:
        return "full"

    @staticmethod
    def carry(bptt):
        return None  # the loop's own: one sub-window per window, every batch resets


class Truncated(Full):
    """Truncated BPTT over sub-windows of k1; with ``backprop_len`` k2 > k1, TBPTT(k1, k2)."""

    carries_state = True

    @staticmethod
    def check(bptt) -> None:
        check_k1(bptt, k2=True)
        if bptt.truncation is not None:
            raise ValueError(
                f"truncation={bptt.truncation!r} goes with mode='randomized' only, got "
                f"mode={bptt.mode!r}."
            )
        if bptt.backprop_len is not None:
            check_int("backprop_len", bptt.backprop_len)
            if bptt.backprop_len < bptt.sub_seq_len:
                raise ValueError(
                    f"backprop_len={bptt.backprop_len} must be an int >= sub_seq_len="
                    f"{bptt.sub_seq_len} (k2 >= k1)."
                )

    @staticmethod
    def graph_len(bptt, win_sz: int) -> int:
        return min(bptt.backprop_len or bptt.sub_seq_len, win_sz)

    @staticmethod
    def label(bptt) -> str:
        if bptt.backprop_len is None:
            return f"truncated({bptt.sub_seq_len})"
        return f"TBPTT({bptt.sub_seq_len}, {bptt.backprop_len})"

    @staticmethod
    def carry(bptt):
        reach = bptt.backprop_len or bptt.sub_seq_len
        return None if reach == bptt.sub_seq_len else ReRun(reach)


class ReRun:
    """TBPTT(k1, k2)'s carry: the last k2 - k1 inputs, the detached state at their start, and
    the rows that start a record among those steps (stream loaders)."""

    def __init__(self, backprop_len: int):
        self.backprop_len, self.past_u, self.past_state = backprop_len, None, None
        self.past_resets = {}  # step of past_u -> the rows that start a record there

    def __call__(self, model, u: torch.Tensor, state, reset: torch.Tensor):
        """Run the kept steps again (rows that started a record among them zeroed where they
        did), then u (rows that ``reset`` zeroed where u starts); keep the steps and the
        state the next call needs. -> (u's predictions, state)."""
        if self.past_u is None or reset.all() or len(self.past_u) != len(u):
            self.past_u, self.past_state, self.past_resets = u[:, :0], state, {}
        n_past, span = self.past_u.shape[1], torch.cat([self.past_u, u], dim=1)
        resets = {**self.past_resets, n_past: reset}  # step -> the rows that start there
        keep = min(self.backprop_len - u.shape[1], span.shape[1])  # the next call runs again
        cut = span.shape[1] - keep
        state, preds, t = self.past_state, [], 0
        for end in sorted({*resets, cut, span.shape[1]} - {0}):
            y, state = model(span[:, t:end], state)
            preds.append(y)
            if end in resets:  # the rows of a new window or record start at 0
                state = reset_rows(state, resets[end])
            if end == cut:  # where the next call starts: its state, cut from this graph
                self.past_state = detach_state(state)
            t = end
        self.past_u = span[:, cut:]
        self.past_resets = {j - cut: r for j, r in resets.items() if j > cut and r.any()}
        return torch.cat(preds, dim=1)[:, -u.shape[1] :], state
