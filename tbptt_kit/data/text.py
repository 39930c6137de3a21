"""Character-level text for a language model, served in the stream layout.

Every document of the corpus is one record. Its input u is each character, as an id of the
vocabulary; its target y is the character that follows (cross-entropy on the next character):

    document:   h e l p ( )
    u (input):  h e l p (          ids of the characters 0 .. n-2
    y (target): e l p ( )          ids of the characters 1 .. n-1

The records go to ``bs`` streams as in ``streams.py`` (read its diagram): the state carries
across batches within a document, and a row's state is reset where a new document starts.
Batches hold token ids: u and y are (bs, sub_seq_len) int64, the model gives logits
(bs, sub_seq_len, V). The loss and the metric (``cross_entropy``, ``bits_per_char``) are in
``losses.py``, sampling (``sample_text``) in ``evaluate.py``, the text lens
(``grad_by_lag_text``) in ``lens.py``: this module holds the corpus, the vocabulary and the
loaders.

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

from ..core.streams import StreamDataset, StreamLoader
from ..tooling.smoke import is_smoke, smoke_samples
from ..validation import check_int, check_number, check_seed
from .loaders import DataLoaders, stream_loader

__all__ = ["CORPUS", "TextDataLoaders", "Vocab", "create_dls_text", "load_corpus", "split_text"]

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
    docs = _documents(text)
    valid_frac = _check_valid_frac(valid_frac)
    bs, sub_seq_len = check_int("bs", bs), check_int("sub_seq_len", sub_seq_len)
    valid_bs = bs if valid_bs is None else check_int("valid_bs", valid_bs)
    seed = check_seed(seed)
    vocab = Vocab.from_text(docs)
    docs = _smoke_documents(docs) if is_smoke() else docs  # the vocabulary: the whole text's

    def loader(pieces: list[str], what: str, **kw) -> StreamLoader:
        if not pieces:
            raise ValueError(_no_text(docs, valid_frac, what))
        ids = [vocab.encode(p) for p in pieces]
        ds = StreamDataset([x[:-1] for x in ids], [x[1:] for x in ids])
        if is_smoke():
            kw["bs"] = min(kw["bs"], sum(math.ceil((len(x) - 1) / sub_seq_len) for x in ids))
        return stream_loader(
            ds, sub_seq_len=sub_seq_len, device=device, what=what, cut_records=True, **kw
        )

    train, valid = split_text(docs, valid_frac)
    return TextDataLoaders(
        train=loader(train, "train", bs=bs, shuffle=True, seed=seed),
        valid=loader(valid, "valid", bs=valid_bs),
        test={},
        norm=None,
        vocab=vocab,
    )


def _documents(text) -> list[str]:
    """``text`` as a list of documents (None: the corpus); a TypeError or ValueError for text
    that is not strings, is empty, or has a document too short for an input-target pair."""
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
    return list(docs)


def _no_text(docs: list[str], valid_frac: float, what: str) -> str:
    """Why ``split_text`` left ``what`` ("train" or "valid") no piece, and what would do."""
    n = sum(map(len, docs))
    got = round(n * (1 - valid_frac))
    got = got if what == "train" else n - got
    why = (
        f"valid_frac={valid_frac} leaves no {what} text: it gets {got} of the text's {n} "
        f"characters, and a piece needs at least 2 (an input and the character after it)."
    )
    if n < 4:
        return f"{why} Give a longer text: at least 4 characters, 2 for each part."
    return f"{why} Choose valid_frac from {2 / n:.3g} to {1 - 2 / n:.3g}."


def _check_valid_frac(valid_frac) -> float:
    return check_number("valid_frac", valid_frac, 0, 1, low_open=True, high_open=True)


def _smoke_documents(docs: list[str]) -> list[str]:
    """Smoke mode: the first 10 x ``smoke_samples`` characters of the documents, in order."""
    ends = np.cumsum([len(d) for d in docs])
    keep = 10 * smoke_samples(int(ends[-1]))
    docs = [d[: max(keep - e + len(d), 0)] for d, e in zip(docs, ends)]
    return [d for d in docs if len(d) > 1]
