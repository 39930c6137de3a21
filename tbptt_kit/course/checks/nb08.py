"""Notebook 08's exercises (text), each defined once for its self-check and its graded test."""

from __future__ import annotations

import builtins
from math import exp, log, log2

from .core import Exercise, close, differs, reads

__builtins__ = dict(vars(builtins))  # a copy: a cell that patches builtins does not reach here

__all__ = [
    "PERPLEXITY",
    "UNIGRAM_BITS",
    "check_perplexity",
    "check_unigram_bits_per_char",
    "reference_perplexity",
    "reference_unigram_bits_per_char",
]


# -- Exercise 1: unigram_bits_per_char(text) -----------------------------------------------
def reference_unigram_bits_per_char(case) -> float:
    """The bits a frequency model pays for each character of the text, averaged."""
    (text,) = case
    freq = {c: text.count(c) / len(text) for c in set(text)}
    return sum(-log2(freq[c]) for c in text) / len(text)


def compare_unigram(got, want, case):
    if close(got, want, rel=1e-6, abs_=1e-9):
        return None
    (text,) = case
    if close(got, want * log(2), rel=1e-6, abs_=1e-9):
        return f"you return {got!r}: that is in nats (natural log); bits use log2."
    if close(got, -want, rel=1e-6):
        return f"you return {got!r}: log2 p(c) is negative; the bits are -sum p(c) log2 p(c)."
    if close(got, log2(len(set(text))), rel=1e-6, abs_=1e-9):
        return (
            f"you return {got!r}: that is a model at chance among the text's characters; "
            "this model knows how often each occurs: weigh each by p(c)."
        )
    return differs(got, want)


def draw_text(rng) -> list:
    alphabet = rng.sample("abcdefghijklmnopqrstuvwxyz .,\n\u00e9\u2014", rng.randint(1, 12))
    weights = [rng.random() ** 2 + 0.01 for _ in alphabet]
    return ["".join(rng.choices(alphabet, weights, k=rng.randint(1, 300)))]


UNIGRAM_BITS = Exercise(
    key="08.1",
    func="unigram_bits_per_char",
    fixed=(
        ["abab"],  # two characters, each half the time: 1 bit
        ["a"],  # one character: certain, 0 bits
        ["aaaa"],
        ["abcd" * 3],  # a uniform alphabet of k characters: log2 k bits
        ["abcde" * 2],  # log2 5, not a whole number
        ["aab"],
        ["hello, world"],
        ["def f(x):\n    return x\n" * 3],
        ["The quick brown fox jumps over the lazy dog. " * 4],
        ["\u00e9t\u00e9 \u2014 \u00e0 la plage"],  # any characters, not only ASCII
        ["".join(chr(0x41 + i) for i in range(26)) * 2],
    ),
    draw=draw_text,
    reference=reference_unigram_bits_per_char,
    compare=compare_unigram,
    answer=reads("plain_number", "a number of bits"),
    blocked=(
        ("tk.bits_per_char", "tbptt_kit.course.losses:bits_per_char"),
        ("tk.cross_entropy", "tbptt_kit.course.losses:cross_entropy"),
    ),
    show=lambda c: f"For the text {c[0][:40]!r}" + ("..." if len(c[0]) > 40 else ""),
    hint="p(c) = count(c) / len(text); bits = -sum over c of p(c) * log2 p(c).",
)


def check_unigram_bits_per_char(unigram_bits_per_char, seed: int | None = None) -> str:
    """Exercise 08.1: the bits per character of a model that knows only how often each
    character occurs: the entropy of the character frequencies of ``text``."""
    return UNIGRAM_BITS.check(unigram_bits_per_char, seed)


# -- Exercise 2: perplexity(bits_per_char) -------------------------------------------------
def reference_perplexity(case) -> float:
    """The number of equally likely choices that b bits single out: 2 ** b."""
    (bits,) = case
    return exp(bits * log(2))


def compare_perplexity(got, want, case):
    if close(got, want, rel=1e-9):
        return None
    (bits,) = case
    for wrong, why in (
        (exp(bits), "e ** b: that reads the bits as nats"),
        (bits**2, "b ** 2: the base is 2, the bits are the exponent"),
        (2.0**-bits, "2 ** -b: a probability, one over the perplexity"),
    ):
        if close(got, wrong, rel=1e-9):
            return f"you return {got!r}, {why}."
    return differs(got, want)


PERPLEXITY = Exercise(
    key="08.2",
    func="perplexity",
    fixed=([1.0], [0.0], [2.0], [3.0], [0.5], [1.5], [3.25], [6.7], [log2(3)], [12.0], [log2(65)]),
    draw=lambda rng: [rng.uniform(0, 12)],
    reference=reference_perplexity,
    compare=compare_perplexity,
    answer=reads("plain_number", "a number"),
    hint="b bits tell one choice among 2 ** b equally likely ones.",
)


def check_perplexity(perplexity, seed: int | None = None) -> str:
    """Exercise 08.2: perplexity(bits_per_char) = 2 ** bits: among how many equally likely
    characters the model hesitates, on average."""
    return PERPLEXITY.check(perplexity, seed)
