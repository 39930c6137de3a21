"""Influence balancing (after Tallec & Ollivier 2017): a task where truncation gets the sign
of the gradient wrong.

A chain of ``n_units`` linear units and one scalar parameter θ, no input:

    s[t+1] = A s[t] + θ b,   A = 0.5 (I + ones just above the diagonal),   b = (+1 ... +1, -1 ... -1)
    output: s[t]_1 (the first unit);   target: 1;   loss: (s_1 - 1)²

Unit i feeds unit i - 1, so θ's push on unit i reaches the output i - 1 steps later at the
earliest, and mostly about 2 (i - 1) steps later; at equilibrium each unit weighs the same,
s_1 = 2 θ sum_i b_i. The first ``n_plus`` units push the output up (a short influence), the
more numerous others down (a long one, and the stronger: sum_i b_i < 0). A gradient
truncated after k <= n_plus steps sees only the short, positive influence: it moves θ the wrong way, and training diverges. Full BPTT, and any
unbiased estimate of it, sees the balance and converges to θ* = 1 / (2 sum_i b_i).

``BalancingChain`` takes and returns its state as ``StatefulRNN`` does
(``y, state = chain(u, state)``), so every mode trains it through the learner. (The name
says *balancing*: RTRL's *influence* matrix, ``modes/rtrl.py``, is another idea.)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..core.windows import WindowDataset, WindowLoader
from ..validation import check_int, check_number, check_sub_seq_len
from .loaders import DataLoaders, Normalizer

__all__ = ["BalancingChain", "create_dls_balancing"]


class BalancingChain(nn.Module):
    """The chain above: u (bs, T, 1) is ignored, output (bs, T, 1) is s_1; one parameter θ."""

    def __init__(self, n_units: int = 10, n_plus: int = 4, theta: float = 0.0):
        super().__init__()
        check_int("n_units", n_units, minimum=2)
        if isinstance(n_plus, bool) or not isinstance(n_plus, int) or not 1 <= n_plus < n_units / 2:
            raise ValueError(
                f"n_plus must be an int >= 1 and < n_units / 2 = {n_units / 2} (the long, "
                f"negative influence must win), got {n_plus!r}."
            )
        self.theta = nn.Parameter(torch.tensor(check_number("theta", theta)))
        a = 0.5 * (torch.eye(n_units) + torch.diag(torch.ones(n_units - 1), 1))
        b = torch.cat([torch.ones(n_plus), -torch.ones(n_units - n_plus)])
        self.register_buffer("a", a)
        self.register_buffer("b", b)
        self.n_units = n_units
        self.steps_run = 0  # steps computed by forward passes so far: the cost of a mode

    @property
    def best_theta(self) -> float:
        """θ* = 1 / (2 sum_i b_i): the θ whose equilibrium output is the target 1."""
        gain = (torch.linalg.inv(torch.eye(self.n_units) - self.a) @ self.b)[0]
        return float(1 / gain)

    def forward(self, u: torch.Tensor, hidden_state=None):
        """Run the chain for u's steps from ``hidden_state`` (1, bs, n_units), laid out as
        an ``nn.RNN``'s (None: zeros): (the output (bs, T, 1), the final state)."""
        s = u.new_zeros(u.shape[0], self.n_units) if hidden_state is None else hidden_state[0]
        outs, self.steps_run = [], self.steps_run + u.shape[1]
        for _ in range(u.shape[1]):
            s = s @ self.a.T + self.theta * self.b
            outs.append(s[:, :1])
        return torch.stack(outs, dim=1), s[None]


def create_dls_balancing(
    win_sz: int = 400, sub_seq_len: int | None = None, n_windows: int = 8
) -> DataLoaders:
    """Loaders for influence balancing: ``n_windows`` windows of ``win_sz`` steps, one per
    batch (bs 1), inputs 0 and targets 1 (unitless); ``sub_seq_len`` hands them out as
    sub-windows. The state starts from zeros at each window; with ``n_skip`` of a few
    ``n_units`` the loss sees the chain near its equilibrium."""
    win_sz, n_windows = check_int("win_sz", win_sz), check_int("n_windows", n_windows)
    check_sub_seq_len(win_sz, sub_seq_len)
    n = win_sz * n_windows
    records = [(np.zeros(n, np.float32), np.ones(n, np.float32))]
    ds = WindowDataset(records, win_sz=win_sz, stp_sz=win_sz)
    loader = WindowLoader(ds, 1, sub_seq_len=sub_seq_len)
    norm = Normalizer(*(np.zeros(1), np.ones(1)) * 2)  # unused: the chain has no input
    return DataLoaders(loader, loader, {}, norm)
