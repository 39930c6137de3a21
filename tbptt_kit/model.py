"""A stateful RNN: it carries its hidden state from one call to the next.

Truncated BPTT feeds a long window to the network as consecutive sub-windows.
Between two sub-windows the network keeps its hidden state (so information
flows forward in time) but *detaches* it from the graph of the sub-window that
produced it (so gradients stop at the boundary). At the start of a new window
the state is reset to zeros.

    sub-window 1        sub-window 2        sub-window 3
    h0=0 -> [RNN] -> h1 -detach-> [RNN] -> h2 -detach-> [RNN] -> h3
"""

from __future__ import annotations

import torch
from torch import nn

from .data.windows import Normalizer, check_int

RNN_TYPES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def detach_state(hidden_state):
    """Cut a hidden state (a tensor, or a tuple (h, c) for an LSTM) from its graph."""
    if hidden_state is None:
        return None
    if isinstance(hidden_state, tuple):
        return tuple(h.detach() for h in hidden_state)
    return hidden_state.detach()


def _state_batch_size(hidden_state) -> int:
    h = hidden_state[0] if isinstance(hidden_state, tuple) else hidden_state
    return h.shape[1]


def _state_to(hidden_state, device):
    if isinstance(hidden_state, tuple):
        return tuple(h.to(device) for h in hidden_state)
    return hidden_state.to(device)


class StatefulRNN(nn.Module):
    """An RNN (LSTM, GRU or plain) with a linear head, normalisation inside.

    Input u: (bs, seq_len, n_u) in the signal's units (volts for the Silverbox).
    Output: (bs, seq_len, n_y) in the signal's units. Inputs are normalised and
    outputs de-normalised with the training statistics, stored as buffers.

    ``stateful=True``: each call starts from ``self.hidden_state`` (None means
    zeros) and leaves the final state there, detached. ``reset_state()`` sets it
    back to zeros. ``stateful=False``: every call starts from zeros.
    """

    def __init__(
        self,
        n_u: int = 1,
        n_y: int = 1,
        rnn_type: str = "lstm",
        hidden_size: int = 40,
        num_layers: int = 1,
        norm: Normalizer | None = None,
        stateful: bool = True,
    ):
        super().__init__()
        if rnn_type not in RNN_TYPES:
            raise ValueError(
                f"rnn_type={rnn_type!r} is unknown: choose one of {sorted(RNN_TYPES)}."
            )
        for name, value in (
            ("n_u", n_u),
            ("n_y", n_y),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
        ):
            check_int(name, value)
        self.rnn_type, self.hidden_size, self.num_layers = rnn_type, hidden_size, num_layers
        self.stateful = stateful
        self.rnn = RNN_TYPES[rnn_type](n_u, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, n_y)
        for name, value, size in (
            ("u_mean", 0.0, n_u),
            ("u_std", 1.0, n_u),
            ("y_mean", 0.0, n_y),
            ("y_std", 1.0, n_y),
        ):
            stat = getattr(norm, name) if norm is not None else [value] * size
            self.register_buffer(name, torch.as_tensor(stat, dtype=torch.float32).reshape(size))
        self.hidden_state = None

    def forward_from(self, u: torch.Tensor, hidden_state=None):
        """Run from a given state; returns (y, final_state), graph attached. No side effects."""
        out, hidden_state = self.rnn((u - self.u_mean) / self.u_std, hidden_state)
        return self.head(out) * self.y_std + self.y_mean, hidden_state

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """(bs, seq_len, n_u) -> (bs, seq_len, n_y), continuing from the stored state."""
        if not self.stateful:
            return self.forward_from(u)[0]
        y, hidden_state = self.forward_from(u, self.state_for(u))
        self.hidden_state = detach_state(hidden_state)
        return y

    def reset_state(self) -> None:
        """Forget the past: the next call starts from zeros."""
        self.hidden_state = None

    def state_for(self, u: torch.Tensor):
        """The stored state, fitted to this batch: zeros on a batch-size change, moved to u's device."""
        if self.hidden_state is None or _state_batch_size(self.hidden_state) != u.shape[0]:
            return None
        return _state_to(self.hidden_state, u.device)
