"""The stateful RNN: the hidden state goes in and comes out, as with ``nn.LSTM``.

    y, hidden_state = model(u, hidden_state)      # hidden_state None: start from zeros

The model keeps no state of its own. Whoever runs it (the loop in ``learner.py``) holds
the state between two sub-windows and does the two things truncated BPTT does to it:

    sub-window 1        sub-window 2        sub-window 3
    h0=0 -> [RNN] -> h1 -detach-> [RNN] -> h2 -detach-> [RNN] -> h3
                                                        reset (a new window): h = 0

``detach_state`` cuts the gradient's path at the boundary; ``reset_rows`` starts the rows
of a new window or record from zeros.
"""

from __future__ import annotations

import torch
from torch import nn

from .checks import check_int

__all__ = ["RNN_TYPES", "StatefulRNN", "detach_state", "reset_rows"]

RNN_TYPES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class StatefulRNN(nn.Module):
    """An RNN (LSTM, GRU or plain tanh) with a linear head, the normalisation inside.

    Signals: u (bs, seq_len, n_u) in the signal's units (volts for the Silverbox) ->
    y (bs, seq_len, n_y) in the same units; the training statistics (``norm``) are buffers.
    Text (``vocab_size=V``): u is token ids (bs, seq_len), read through an embedding;
    y is logits (bs, seq_len, V). hidden_state: (num_layers, bs, hidden_size), for an LSTM
    a pair (h, c) of those; None means zeros.
    """

    def __init__(
        self,
        n_u: int = 1,
        n_y: int = 1,
        rnn_type: str = "lstm",
        hidden_size: int = 40,
        num_layers: int = 1,
        norm=None,
        vocab_size: int | None = None,
    ):
        super().__init__()
        if rnn_type not in RNN_TYPES:
            raise ValueError(
                f"rnn_type={rnn_type!r} is unknown: choose one of {sorted(RNN_TYPES)}."
            )
        n_u, n_y = check_int("n_u", n_u), check_int("n_y", n_y)
        hidden_size = check_int("hidden_size", hidden_size)
        num_layers = check_int("num_layers", num_layers)
        if vocab_size is not None:
            n_u = n_y = check_int("vocab_size", vocab_size, minimum=2)
        self.rnn_type, self.hidden_size, self.num_layers = rnn_type, hidden_size, num_layers
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, hidden_size) if vocab_size else None
        rnn_in = hidden_size if vocab_size else n_u
        self.rnn = RNN_TYPES[rnn_type](rnn_in, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, n_y)
        for name, size in (("u_mean", n_u), ("u_std", n_u), ("y_mean", n_y), ("y_std", n_y)):
            default = [1.0 if name.endswith("std") else 0.0] * size  # no norm: unchanged
            stat = getattr(norm, name) if norm is not None else default
            self.register_buffer(name, torch.as_tensor(stat, dtype=torch.float32).reshape(size))

    def forward(self, u: torch.Tensor, hidden_state=None):
        """(y, the final hidden_state), both attached to the graph of this call."""
        if self.embed is not None:
            out, hidden_state = self.rnn(self.embed(u), hidden_state)
            return self.head(out), hidden_state
        out, hidden_state = self.rnn((u - self.u_mean) / self.u_std, hidden_state)
        return self.head(out) * self.y_std + self.y_mean, hidden_state


def detach_state(hidden_state):
    """The same values, cut from the graph: a gradient stops here. (A tensor, (h, c), or None.)"""
    if isinstance(hidden_state, tuple):
        return tuple(h.detach() for h in hidden_state)
    return None if hidden_state is None else hidden_state.detach()


def reset_rows(hidden_state, reset: torch.Tensor):
    """The state with the rows where ``reset`` (bs,) is True set to zeros; None (zeros for
    every row) when all rows reset or there is no state yet."""
    if hidden_state is None or bool(reset.all()):
        return None
    if isinstance(hidden_state, tuple):
        return tuple(reset_rows(h, reset) for h in hidden_state)
    if hidden_state.shape[1] != len(reset):
        raise ValueError(
            f"the carried state has {hidden_state.shape[1]} rows, the batch {len(reset)}: a "
            f"batch that changes its size must start every row (reset all True)."
        )
    if not bool(reset.any()):
        return hidden_state
    keep = ~reset.to(device=hidden_state.device, dtype=torch.bool)
    return hidden_state * keep.reshape(1, -1, 1).to(hidden_state.dtype)
