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

from .data.windows import Normalizer
from .validation import check_int

__all__ = ["RNN_TYPES", "StatefulRNN", "detach_state"]

RNN_TYPES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def detach_state(hidden_state):
    """Cut a hidden state (a tensor, or a tuple (h, c) for an LSTM) from its graph."""
    if hidden_state is None:
        return None
    if isinstance(hidden_state, tuple):
        return tuple(h.detach() for h in hidden_state)
    return hidden_state.detach()


def _first(hidden_state) -> torch.Tensor:
    """h of an LSTM's (h, c), or the state itself: (num_layers, bs, hidden_size)."""
    return hidden_state[0] if isinstance(hidden_state, tuple) else hidden_state


def _state_to(hidden_state, device):
    if isinstance(hidden_state, tuple):
        return tuple(h.to(device) for h in hidden_state)
    return hidden_state.to(device)


class StatefulRNN(nn.Module):
    """An RNN (LSTM, GRU or plain) with a linear head, normalisation inside.

    Signals: u (bs, seq_len, n_u) in the signal's units (volts for the Silverbox) ->
    y (bs, seq_len, n_y) in the same units; inputs are normalised and outputs de-normalised
    with the training statistics, stored as buffers. Text (``vocab_size=V``): u is token ids
    (bs, seq_len), int64, read through an embedding; the output is logits (bs, seq_len, V).

    Called directly, ``model(u)``: with ``stateful=True`` each call starts from
    ``self.hidden_state`` (None means zeros) and leaves the final state there, detached;
    ``stateful=False``: every call starts from zeros. ``reset_state()`` forgets the state.
    A learner never reads this switch: its ``BPTT`` says whether state is carried
    (``tbptt_kit.bptt``), through ``forward_from`` and ``hidden_state``.
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
        vocab_size: int | None = None,
    ):
        super().__init__()
        if rnn_type not in RNN_TYPES:
            raise ValueError(
                f"rnn_type={rnn_type!r} is unknown: choose one of {sorted(RNN_TYPES)}."
            )
        n_u, n_y = check_int("n_u", n_u), check_int("n_y", n_y)
        hidden_size, num_layers = (
            check_int("hidden_size", hidden_size),
            check_int("num_layers", num_layers),
        )
        if vocab_size is not None:
            vocab_size = check_int("vocab_size", vocab_size, minimum=2)
            n_u = n_y = vocab_size
        self.rnn_type, self.hidden_size, self.num_layers = rnn_type, hidden_size, num_layers
        self.stateful, self.vocab_size = stateful, vocab_size
        self.embed = nn.Embedding(vocab_size, hidden_size) if vocab_size else None
        rnn_in = hidden_size if vocab_size else n_u
        self.rnn = RNN_TYPES[rnn_type](rnn_in, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, n_y)
        for name, value, size in (
            ("u_mean", 0.0, n_u),
            ("u_std", 1.0, n_u),
            ("y_mean", 0.0, n_y),
            ("y_std", 1.0, n_y),
        ):
            stat = getattr(norm, name) if norm is not None else [value] * size
            self.register_buffer(name, torch.as_tensor(stat, dtype=torch.float32).reshape(size))
        self.hidden_state = None  # the state the next call starts from; None: zeros
        self.past_u = None  # TBPTT(k1, k2) only: the last k2 - k1 inputs (see bptt.py)
        self.past_resets = None  # ARTBP only: [(step of past_u, rows reset there)] (artbp.py)

    def forward_from(self, u: torch.Tensor, hidden_state=None):
        """Run from a given state; returns (y, final_state), graph attached. No side effects."""
        if self.embed is not None:
            out, hidden_state = self.rnn(self.embed(u), hidden_state)
            return self.head(out), hidden_state
        out, hidden_state = self.rnn((u - self.u_mean) / self.u_std, hidden_state)
        return self.head(out) * self.y_std + self.y_mean, hidden_state

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """(bs, seq_len, n_u) -> (bs, seq_len, n_y), continuing from the carried state."""
        if not self.stateful:
            return self.forward_from(u)[0]
        y, hidden_state = self.forward_from(u, self.state_for(u))
        self.hidden_state = detach_state(hidden_state)  # the truncation: gradients stop here
        return y

    def reset_state(self, rows: torch.Tensor | None = None) -> None:
        """Forget the past: all rows (``rows=None``), or only the rows where the bool
        tensor ``rows`` (bs,) is True; those start the next call from zeros."""
        if rows is not None and self.past_resets is not None:  # ARTBP runs past_u again:
            self.past_resets.append((self.past_u.shape[1], rows))  # zero the rows there
            return
        if rows is None or self.hidden_state is None:
            self.hidden_state = self.past_u = self.past_resets = None
            return
        if self.past_u is not None:
            raise ValueError("reset_state(rows=...) does not apply to TBPTT(k1, k2).")
        keep = (~rows.to(torch.bool)).to(_first(self.hidden_state).device)
        keep = keep.reshape(1, -1, 1).to(_first(self.hidden_state).dtype)
        if isinstance(self.hidden_state, tuple):
            self.hidden_state = tuple(h * keep for h in self.hidden_state)
        else:
            self.hidden_state = self.hidden_state * keep

    def state_for(self, u: torch.Tensor):
        """The stored state, fitted to this batch: zeros on a batch-size change, moved to u's device."""
        if self.hidden_state is None or _first(self.hidden_state).shape[1] != u.shape[0]:
            return None
        return _state_to(self.hidden_state, u.device)
