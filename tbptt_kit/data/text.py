"""Character-level text for a language model, served in the stream layout.

Every document of the corpus is one record. Its input u is each character, as an id of the
vocabulary; its target y is the character that follows (cross-entropy on the next character):

    document:   h e l p ( )
    u (input):  h e l p (          ids of the characters 0 .. n-2
    y (target): e l p ( )          ids of the characters 1 .. n-1

The records go to ``bs`` streams as in ``streams.py`` (read its diagram): the state carries
across batches within a document, and a row's state is reset where a new document starts.
Batches hold token ids: u and y are (bs, sub_seq_len) int64, the model gives logits
(bs, sub_seq_len, V). Loss: cross-entropy in nats; metric: bits per character, the same
quantity in bits (log2 V for a model that knows nothing, lower is better).

The corpus needs no download: the help texts of Python's ``help()`` (``pydoc_data.topics``),
a copy from CPython 3.11.7 carried in this folder so that results do not drift with the
Python version (``python_topics.NOTICE.txt`` says what it is and its license).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..smoke import is_smoke, smoke_samples
from .streams import StreamDataset, StreamLoader
from .windows import DataLoaders, check_int

CORPUS = Path(__file__).with_name("python_topics.txt")


def load_corpus() -> list[str]:
    """The corpus: 79 documents (Python's help topics), about 465,000 characters in all."""
    return CORPUS.read_text(encoding="utf-8").split("\f")


class Vocab:
    """The characters a model knows, each with an id: 0 .. len(vocab) - 1, in sorted order."""

    def __init__(self, chars):
        self.itos = sorted(set(chars))  # id -> character
        if not self.itos:
            raise ValueError("a vocabulary needs at least one character, got none.")
        self.stoi = {c: i for i, c in enumerate(self.itos)}  # character -> id

    @classmethod
    def from_text(cls, text: str | Sequence[str]) -> Vocab:
        """Every character that occurs in ``text`` (a string or a list of strings)."""
        return cls("".join([text] if isinstance(text, str) else text))

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> np.ndarray:
        """A string -> its ids, an int64 array of len(text)."""
        unknown = sorted(set(text) - self.stoi.keys())
        if unknown:
            raise ValueError(
                f"characters {unknown} are not in the vocabulary ({len(self)} characters); "
                f"use only characters of the training text."
            )
        return np.array([self.stoi[c] for c in text], dtype=np.int64)

    def decode(self, ids) -> str:
        """Ids (a list, an array or a tensor, any shape) -> the string they spell."""
        return "".join(self.itos[i] for i in np.asarray(ids).reshape(-1).tolist())


@dataclass
class TextDataLoaders(DataLoaders):
    """``DataLoaders`` for text: no normalisation (``norm`` None), and the vocabulary."""

    vocab: Vocab | None = None

    @property
    def n_u(self) -> int:
        """Token models take ids: the input size is the vocabulary size."""
        return len(self.vocab)

    @property
    def n_y(self) -> int:
        return len(self.vocab)


def split_text(docs: Sequence[str], valid_frac: float) -> tuple[list[str], list[str]]:
    """The first (1 - valid_frac) of the characters for training, the rest for validation.

    The cut falls at a character, so the document it falls in is split in two; pieces of
    fewer than 2 characters (no input-target pair) are dropped.
    """
    cut = round(sum(map(len, docs)) * (1 - valid_frac))
    train, valid, start = [], [], 0
    for d in docs:
        a = min(max(cut - start, 0), len(d))
        train.append(d[:a])
        valid.append(d[a:])
        start += len(d)
    return [d for d in train if len(d) > 1], [d for d in valid if len(d) > 1]


def create_dls_text(
    text: str | Sequence[str] | None = None,
    *,
    bs: int = 32,
    sub_seq_len: int = 100,
    valid_frac: float = 0.1,
    valid_bs: int | None = None,
    seed: int = 0,
    device="cpu",
) -> TextDataLoaders:
    """Stream-layout loaders for a character-level language model.

    text: a string (one document), a list of strings (documents: each is a record, and the
    state resets where one starts), or None for ``load_corpus()``. The vocabulary holds every
    character of ``text``. Training gets the first (1 - valid_frac) of the characters (its
    documents reshuffled every epoch), validation the rest, in order.
    Batches: u and y (bs, sub_seq_len) int64 ids, y one character ahead of u. Smoke mode
    (TBPTT_KIT_SMOKE=1): the first 10 x 4,000 characters, bs cut to what they can fill.
    """
    docs = load_corpus() if text is None else [text] if isinstance(text, str) else text
    if not isinstance(docs, (list, tuple)) or not all(isinstance(d, str) for d in docs):
        raise TypeError(f"text must be a string or a list of strings, got {type(text).__name__}.")
    if sum(map(len, docs)) == 0:
        raise ValueError("text is empty: give at least a few characters per stream.")
    for i, d in enumerate(docs):
        if len(d) < 2:
            raise ValueError(
                f"text[{i}] has {len(d)} character(s): each document needs at least 2 "
                f"(an input and its next character); drop it."
            )
    if isinstance(valid_frac, bool) or not isinstance(valid_frac, (int, float)):
        raise TypeError(f"valid_frac must be a number in (0, 1), got {valid_frac!r}.")
    if not 0 < valid_frac < 1:
        raise ValueError(f"valid_frac must be in (0, 1) (e.g. 0.1), got {valid_frac}.")
    check_int("bs", bs)
    check_int("sub_seq_len", sub_seq_len)
    vocab = Vocab.from_text(docs)
    if is_smoke():  # the first characters only; the vocabulary stays the whole text's
        ends = np.cumsum([len(d) for d in docs])
        keep = 10 * smoke_samples(int(ends[-1]))
        docs = [d[: max(keep - e + len(d), 0)] for d, e in zip(docs, ends)]
        docs = [d for d in docs if len(d) > 1]

    def loader(pieces: list[str], what: str, **kw) -> StreamLoader:
        if not pieces:
            raise ValueError(f"valid_frac={valid_frac} leaves no {what} text: move it toward 0.5.")
        ids = [vocab.encode(p) for p in pieces]
        ds = StreamDataset([x[:-1] for x in ids], [x[1:] for x in ids])
        if is_smoke():
            kw["bs"] = min(kw["bs"], sum(math.ceil((len(x) - 1) / sub_seq_len) for x in ids))
        return StreamLoader(ds, sub_seq_len=sub_seq_len, device=device, what=what, **kw)

    train, valid = split_text(docs, valid_frac)
    return TextDataLoaders(
        train=loader(train, "train", bs=bs, shuffle=True, seed=seed),
        valid=loader(valid, "valid", bs=valid_bs or bs),
        test={},
        norm=None,
        vocab=vocab,
    )


def cross_entropy(pred: torch.Tensor, targ: torch.Tensor, mask=None) -> torch.Tensor:
    """Mean cross-entropy in nats: pred (..., V) logits, targ (...) int64 ids, e.g.
    (bs, T, V) and (bs, T). mask (...) bool: only the True steps count (None: all)."""
    if pred.shape[:-1] != targ.shape:
        raise ValueError(
            f"pred {tuple(pred.shape)} must be targ's shape {tuple(targ.shape)} plus one "
            f"last axis of logits, e.g. (bs, T, V) and (bs, T)."
        )
    loss = F.cross_entropy(
        pred.reshape(-1, pred.shape[-1]).float(), targ.reshape(-1), reduction="none"
    )
    if mask is not None:
        if mask.shape != targ.shape:
            raise ValueError(
                f"mask {tuple(mask.shape)} must have targ's shape {tuple(targ.shape)}."
            )
        loss = loss[mask.reshape(-1)]
    return loss.mean()


def bits_per_char(pred: torch.Tensor, targ: torch.Tensor, mask=None) -> torch.Tensor:
    """Cross-entropy in bits per character (shapes as ``cross_entropy``); log2 V at chance."""
    return cross_entropy(pred, targ, mask) / math.log(2)


@torch.no_grad()
def sample_text(
    model, vocab: Vocab, prompt: str, n_chars: int = 200, temperature: float = 1.0, seed: int = 0
) -> str:
    """``prompt`` and ``n_chars`` characters the model writes after it, one at a time.

    The model is stateful: it reads the prompt once, from a reset state, then only each new
    character, (1, 1) ids, carrying its state; ``model(x)`` with x (1, t) int64 gives logits
    (1, t, V). Each character is drawn from softmax(logits / temperature) with a generator
    seeded by ``seed`` (the same seed, the same text); temperature 0 takes the likeliest.
    The model's state is reset again afterwards; its train/eval mode is restored.
    """
    check_int("n_chars", n_chars, minimum=0)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"temperature must be a number >= 0, got {temperature!r}.")
    if temperature < 0:
        raise ValueError(
            f"temperature must be >= 0 (0: the likeliest character), got {temperature}."
        )
    if not prompt:
        raise ValueError("prompt is empty: give at least one character to start from.")
    x = torch.from_numpy(vocab.encode(prompt))[None]  # (1, len(prompt))
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    reset = getattr(model, "reset_state", lambda: None)
    was_training = model.training
    model.eval()
    reset()
    out = []
    try:
        for _ in range(n_chars):
            logits = model(x.to(device))[0, -1].float().cpu()  # (V,): the next character
            if temperature == 0:
                nxt = logits.argmax()
            else:
                probs = torch.softmax(logits / temperature, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator)[0]
            out.append(int(nxt))
            x = nxt.view(1, 1)
    finally:
        reset()
        model.train(was_training)
    return prompt + vocab.decode(out)


def grad_by_lag_text(learn_or_model, batch=None, sub_seq_len=None, T: int = 200, bs: int = 16):
    """The gradient-by-lag lens (``tk.grad_by_lag``) for a text model: for each lag ℓ, the
    norm of ∂L/∂e[T-1-ℓ], L the cross-entropy of the last step, e the *embedded* inputs (ids
    have no gradient). Returns an array (T,), lag 0 first; exactly 0.0 where no path is.

    batch: (u, y), (bs, T) ids; None takes ``bs`` pieces of ``T`` characters of a learner's
    validation text. sub_seq_len: truncated BPTT, the T steps run as sub-windows of this many
    (T a multiple), the state carried and detached between them; None: full BPTT.
    The model's weights, state and gradients are left as they were.
    """
    model = getattr(learn_or_model, "model", learn_or_model)
    if batch is None:
        if not hasattr(learn_or_model, "dls"):
            raise ValueError("grad_by_lag_text(model, ...) needs a batch: a (u, y) pair of ids.")
        ds = learn_or_model.dls.valid.ds
        u, y = (np.concatenate(x)[: bs * T] for x in (ds.u, ds.y))
        if len(u) < bs * T:
            raise ValueError(f"bs={bs} x T={T} characters exceed the validation text's {len(u)}.")
        batch = (torch.from_numpy(u).view(bs, T), torch.from_numpy(y).view(bs, T))
    u, y = (torch.as_tensor(x).to(model.head.weight.device) for x in batch)
    k = sub_seq_len or u.shape[1]
    check_int("sub_seq_len", k)
    if u.shape[1] % k:
        raise ValueError(f"T={u.shape[1]} must be a multiple of sub_seq_len={k}.")
    with torch.enable_grad():
        e = model.embed(u).detach().requires_grad_(True)  # (bs, T, hidden): the inputs
        state = None
        for a in range(0, u.shape[1], k):
            out, state = model.rnn(e[:, a : a + k], state)
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        loss = F.cross_entropy(model.head(out[:, -1]), y[:, -1])
        (grad,) = torch.autograd.grad(loss, e)
    return grad.pow(2).sum(dim=(0, 2)).sqrt().flip(0).cpu().numpy()
