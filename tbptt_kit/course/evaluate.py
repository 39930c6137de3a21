"""Scoring a trained model the benchmark's way: free-run over whole records.

Training and validation see windows that start from a zero state. A benchmark scores the
model on a whole record instead: the model sees only the input u and simulates the output,
after at most ``n_init`` measured outputs have set its initial state (the Silverbox
benchmark allows 50). The first ``n_init`` steps are left out of the score.

- ``initial_state``: the hidden state that best explains the first measured outputs.
- ``simulate``: free-run a record from that state (or from zeros).
- ``free_run_rmse``: the score on each record, in the data's display units.
- ``error_by_position``: RMSE against the step within the window (zero-state transients).
- ``sample_text``: a text model free-running, one character at a time.
"""

from __future__ import annotations

import numpy as np
import torch

from ..core.model import detach_state
from ..data.silverbox import N_INIT
from ..data.text import Vocab
from ..validation import (
    as_signal,
    check_channels,
    check_int,
    check_number,
    check_same_length,
    check_seed,
    check_units,
)

__all__ = [
    "as_record_tensor",
    "error_by_position",
    "free_run_rmse",
    "initial_state",
    "sample_text",
    "simulate",
]


def as_record_tensor(x, device) -> torch.Tensor:
    """A record's signal (T,) or (T, n) as a float32 batch of one: (1, T, n)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim not in (1, 2) or len(x) == 0:
        raise ValueError(
            f"a record's signal must be (T,) or (T, n) with T > 0, got shape {x.shape}."
        )
    if not np.isfinite(x).all():
        raise ValueError(
            f"the record holds NaN or Inf (first at sample {int(np.argwhere(~np.isfinite(x))[0][0])})."
        )
    x = torch.as_tensor(x, device=device)
    return x.reshape(1, x.shape[0], -1)


def initial_state(model, u_init, y_init, n_iter: int = 100, lr: float = 0.05):
    """The hidden state that best explains the first measured outputs of a record.

    u_init (n,) or (n, n_u), y_init (n,) or (n, n_y), in the signal's units. Starting from
    zeros, Adam adjusts the state alone (the weights stay fixed) so that the model, run
    over u_init from that state, reproduces y_init (mean squared error). Cost: n_iter
    forward and backward passes over n steps.
    """
    n_iter, lr = check_int("n_iter", n_iter), check_number("lr", lr, 0, low_open=True)
    u_init, y_init = check_pair(model, u_init, y_init)
    device = next(model.parameters()).device
    u, y = as_record_tensor(u_init, device), as_record_tensor(y_init, device)
    shape = (model.num_layers, 1, model.hidden_size)
    parts = [torch.zeros(shape, device=device, requires_grad=True)]
    if model.rnn_type == "lstm":
        parts.append(torch.zeros(shape, device=device, requires_grad=True))  # (h, c)
    opt = torch.optim.Adam(parts, lr=lr)
    was_training = model.training
    model.eval()
    model.requires_grad_(False)
    try:
        with torch.enable_grad():
            for _ in range(n_iter):
                state = tuple(parts) if len(parts) == 2 else parts[0]
                loss = ((model(u, state)[0] - y) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
    finally:
        model.requires_grad_(True)
        model.train(was_training)
    return detach_state(tuple(parts) if len(parts) == 2 else parts[0])


@torch.no_grad()
def simulate(model, record, n_init: int = N_INIT) -> np.ndarray:
    """Free-run simulation of a whole record: -> y (T, n_y), in the signal's units.

    ``record``: the input u (T,) or (T, n_u), run from a zero state; or a pair (u, y),
    whose first ``n_init`` measured outputs set the initial state (``initial_state``).
    Either way the model sees only u after that.
    """
    u, y = record if isinstance(record, tuple) else (record, None)
    n_init = check_int("n_init", n_init, minimum=0)
    if y is not None:
        u, y = check_pair(model, u, y)
    else:
        u = as_signal(u, "the record's u")  # finite, and within float32's precision
    device = next(model.parameters()).device
    u_t = as_record_tensor(u, device)
    if u_t.shape[2] != model.u_mean.shape[0]:
        raise ValueError(f"u has {u_t.shape[2]} channels, the model takes {model.u_mean.shape[0]}.")
    state = None
    if y is not None and n_init > 0:
        if len(y) <= n_init:
            raise ValueError(
                f"the record has {len(y)} samples: it needs more than n_init={n_init}."
            )
        state = initial_state(model, u[:n_init], y[:n_init])
    was_training = model.training
    model.eval()
    y_hat, _ = model(u_t, state)
    model.train(was_training)
    return y_hat[0].cpu().numpy()


def check_pair(model, u, y) -> tuple[np.ndarray, np.ndarray]:
    """A record's (u (T, n_u), y (T, n_y)) checked against each other and the model: the same
    length, y with the model's output channels. No broadcasting, no trimming."""
    u, y = as_signal(u, "the record's u"), as_signal(y, "the record's y")
    check_same_length("the record's u", len(u), "its y", len(y))
    if hasattr(model, "y_mean"):
        check_channels("the record's y", y.shape[1], len(model.y_mean), "the model's output")
    return u, y


def free_run_rmse(model, records: dict, n_init: int = N_INIT, units=("", 1.0)) -> dict[str, float]:
    """Free-run RMSE on each record, name -> (u, y), scored on y[n_init:] and shown in
    ``units`` (name, factor): e.g. ("mV", 1000) for volts shown in millivolts."""
    if not records:
        raise ValueError("free_run_rmse needs at least one record, got none (no test records?).")
    units, scores = check_units(units), {}
    for name, (u, y) in records.items():
        u, y = check_pair(model, u, y)  # (T, n_y): no broadcasting
        y_hat = simulate(model, (u, y), n_init)
        scores[name] = float(np.sqrt(np.mean((y_hat[n_init:] - y[n_init:]) ** 2)) * units[1])
    return scores


def error_by_position(learn, dl=None) -> np.ndarray:
    """RMSE at each step of the window (shape (win_sz,)), over the validation windows,
    predicted the way the learner predicts (``Learner.predict``, its callbacks run).

    Every window starts from a zero state (``batch.reset``); with ``NoResetCB`` (the broken
    version) each row starts from the state the same row of the previous batch left:
    another window's.
    """
    if getattr(dl or learn.dls.valid, "layout", "windows") != "windows":
        raise ValueError(
            "error_by_position scores windows by step; stream loaders have none (their padded "
            "steps are not samples): use a window loader (create_dls), or score(...) for streams."
        )
    pred, targ = learn.predict(dl, whole_windows=True)
    return (pred - targ).pow(2).mean(dim=(0, 2)).sqrt().cpu().numpy()


@torch.no_grad()
def sample_text(
    model, vocab: Vocab, prompt: str, n_chars: int = 200, temperature: float = 1.0, seed: int = 0
) -> str:
    """``prompt`` and ``n_chars`` characters the model writes after it, one at a time.

    The state is carried: the model reads the prompt once, from zeros, then only each new
    character, (1, 1) ids, from the state the last call returned; ``model(x, state)`` with
    x (1, t) int64 gives logits (1, t, V) and the next state. Each character is drawn from
    softmax(logits / temperature) with a generator seeded by ``seed`` (the same seed, the
    same text); temperature 0 takes the likeliest. The train/eval mode is restored.
    """
    n_chars, seed = check_int("n_chars", n_chars, minimum=0), check_seed(seed)
    temperature = check_number("temperature", temperature, 0)  # 0: the likeliest character
    if not isinstance(vocab, Vocab):
        raise TypeError(f"vocab must be a Vocab (dls.vocab), got {type(vocab).__name__}.")
    _check_vocab_size(getattr(model, "vocab_size", len(vocab)), vocab)
    if not isinstance(prompt, str) or not prompt:
        raise ValueError(
            f"prompt is empty or not a string ({prompt!r}): give one character or more."
        )
    x = torch.from_numpy(vocab.encode(prompt))[None]  # (1, len(prompt))
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    was_training, state, out = model.training, None, []
    model.eval()
    try:
        for _ in range(n_chars):
            logits, state = model(x.to(device), state)
            _check_vocab_size(logits.shape[-1], vocab)  # a model without vocab_size
            logits = logits[0, -1].float().cpu()  # (V,): the next character
            if temperature == 0:
                nxt = logits.argmax()
            else:
                scaled = (logits.double() - logits.max()) / temperature  # <= 0: no overflow
                probs = torch.softmax(scaled, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator)[0]
            out.append(int(nxt))
            x = nxt.view(1, 1)
    finally:
        model.train(was_training)
    return prompt + vocab.decode(out)


def _check_vocab_size(size, vocab: Vocab) -> None:
    """A ValueError unless a model of ``size`` tokens (None: a signal model) fits ``vocab``."""
    if size != len(vocab):
        raise ValueError(
            f"the model's vocab_size={size} does not match the vocabulary's {len(vocab)} "
            f"characters: sample with the Vocab the model was trained on (dls.vocab)."
        )
