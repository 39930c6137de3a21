"""Notebook 08's exercises: the self-check and the graded test agree on the worked solution,
the usual mistakes (each named) and the kit's own cross-entropy; the reference is the kit's
bits per character of a frequency model."""

import math
from collections import Counter

import pytest
import torch

import tbptt_kit as tk
from tbptt_kit.course.checks import core, nb08
from tests.grading_support import agreement_test, solution, stub

RIGHT = solution("08_ex1", "unigram_bits_per_char")


def kit_unigram(text):
    chars = sorted(set(text))
    counts = Counter(text)
    logits = torch.log(torch.tensor([counts[c] for c in chars], dtype=torch.float64))
    ids = torch.tensor([chars.index(c) for c in text])
    return float(tk.bits_per_char(logits.expand(len(text), -1), ids))


ANSWERS = [
    ("08.1", "solution", RIGHT, "right, on all"),
    ("08.1", "stub", stub, "not done yet"),
    ("08.1", "nats", lambda text: RIGHT(text) * math.log(2), "that is in nats"),
    ("08.1", "no-minus", lambda text: -RIGHT(text), "log2 p(c) is negative"),
    ("08.1", "chance", lambda text: math.log2(len(set(text))), "a model at chance"),
    ("08.1", "kit", kit_unigram, "the kit's own answer"),
    ("08.2", "solution", solution("08_ex2", "perplexity"), "right, on all"),
    ("08.2", "nats", math.exp, "reads the bits as nats"),
    ("08.2", "square", lambda b: b**2, "the base is 2"),
    ("08.2", "probability", lambda b: 2.0**-b, "one over the perplexity"),
    ("08.2", "a-string", lambda b: f"{2**b}", "not a str"),
]


test_the_self_check_and_the_graded_test_agree_and_name_the_mistake = agreement_test(ANSWERS)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_reference_is_the_kits_bits_per_char(seed):
    for case in core.all_cases(nb08.UNIGRAM_BITS, seed):
        assert math.isclose(
            nb08.reference_unigram_bits_per_char(case),
            kit_unigram(case[0]),  # the kit's cross-entropy: float32
            rel_tol=1e-6,
            abs_tol=1e-12,
        )
    for case in core.all_cases(nb08.PERPLEXITY, seed):
        assert math.isclose(nb08.reference_perplexity(case), 2.0 ** case[0], rel_tol=1e-12)
