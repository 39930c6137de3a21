# Graded test for exercise 08.1: unigram_bits_per_char(text).
# The reference sums -log2 of each character's frequency over the text, written here; the
# kit's cross-entropy (in nats and in bits) and the self-check's entropy are switched off.
import math

from tbptt_kit.checks.grading import kit_disabled

KIT_ANSWERS = ("bits_per_char", "cross_entropy", "_unigram")
with kit_disabled(unigram_bits_per_char, *KIT_ANSWERS):
    got = unigram_bits_per_char("abab")
assert math.isclose(float(got), 1.0), (
    f"'abab' has two characters, each half the time: 1 bit per character, not {got!r}"
)
# --- hidden tests ---


def reference_unigram_bits_per_char(text):
    """The average, over the text's characters, of the bits a frequency model pays for each."""
    freq = {c: text.count(c) / len(text) for c in set(text)}
    return sum(-math.log2(freq[c]) for c in text) / len(text)


TEXTS = [
    "a",  # one character: certain, 0 bits
    "aaaa",  # one character repeated: 0 bits
    "ab",  # a uniform alphabet of k characters: log2 k bits
    "abcd" * 3,
    "abcdefgh",
    "abcde" * 2,  # log2 5, not a whole number
    "aab",
    "hello, world",
    "def f(x):\n    return x\n" * 3,
    "The quick brown fox jumps over the lazy dog. " * 4,
    "\u00e9t\u00e9 \u2014 \u00e0 la plage",  # any characters, not only ASCII
]
for text in TEXTS:
    want = reference_unigram_bits_per_char(text)
    with kit_disabled(unigram_bits_per_char, *KIT_ANSWERS):
        got = unigram_bits_per_char(text)
    assert math.isclose(float(got), want, rel_tol=1e-6, abs_tol=1e-6), (
        f"unigram_bits_per_char({text!r}) is not right"
    )
for k in (1, 2, 3, 7, 26, 64):  # uniform alphabets, exactly log2 k
    text = "".join(chr(0x41 + i) for i in range(k)) * 2
    with kit_disabled(unigram_bits_per_char, *KIT_ANSWERS):
        got = unigram_bits_per_char(text)
    assert math.isclose(float(got), math.log2(k), rel_tol=1e-6, abs_tol=1e-6), (
        f"{k} equally frequent characters should cost log2({k}) bits each"
    )
