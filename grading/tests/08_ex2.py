# Graded test for exercise 08.2: perplexity(bits_per_char).
# The reference counts the equally likely choices that b bits single out, 2 ** b, written here
# (the kit has no perplexity function: nothing to switch off).
import math

got = perplexity(1.0)
assert math.isclose(float(got), 2.0), f"1 bit is a choice between 2 characters, not {got!r}"
# --- hidden tests ---


def reference_perplexity(bits_per_char):
    return math.exp(bits_per_char * math.log(2))


for bits in (0.0, 1.0, 2.0, 3.0, 0.5, 1.5, 3.25, 6.7, math.log2(3), 12.0):
    got = perplexity(bits)
    assert math.isclose(float(got), reference_perplexity(bits), rel_tol=1e-6), (
        f"perplexity({bits!r}) is not right"
    )
for vocab in (2, 27, 65, 100):  # chance, log2 V bits, gives V back
    got = perplexity(math.log2(vocab))
    assert math.isclose(float(got), vocab, rel_tol=1e-6), (
        f"a model at chance among {vocab} characters pays log2({vocab}) bits: perplexity {vocab}"
    )
