"""Self-checks for the exercises of notebook 08 (text)."""

from __future__ import annotations

import math
from collections import Counter

from .core import check_cases

__all__ = ["check_perplexity", "check_unigram_bits_per_char"]


def _unigram(text: str) -> float:
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def check_unigram_bits_per_char(unigram_bits_per_char) -> str:
    """Exercise 08.1: the bits per character of a model that knows only how often each
    character occurs: the entropy of the character frequencies of ``text``."""
    texts = ["aaaa", "abab", "abcd", "aab", "hello, world", "def f(x):\n    return x\n" * 3]
    return check_cases(
        "Exercise 1",
        unigram_bits_per_char,
        [((t,), _unigram(t)) for t in texts],
        hint="p(c) = count(c) / len(text); bits = -sum over c of p(c) * log2 p(c).",
    )


def check_perplexity(perplexity) -> str:
    """Exercise 08.2: perplexity(bits_per_char) = 2 ** bits: among how many equally likely
    characters the model hesitates, on average."""
    return check_cases(
        "Exercise 2",
        perplexity,
        [((b,), 2.0**b) for b in (0.0, 1.0, 2.0, 1.5, 6.7, 3.25)],
        hint="b bits tell one choice among 2 ** b equally likely ones.",
    )
