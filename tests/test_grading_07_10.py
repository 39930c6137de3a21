"""The graded tests of notebooks 07 to 10: the worked solutions pass them; a student who only
calls the kit's own answer does not (while that answer, unblocked, is right and would); the
usual mistakes do not; and the kit is whole again afterwards."""

import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

import tbptt_kit as tk
import tbptt_kit.artbp
import tbptt_kit.checks.nb07
import tbptt_kit.checks.nb08
import tbptt_kit.checks.nb10
import tbptt_kit.data.streams
import tbptt_kit.distributed
import tbptt_kit.losses

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import build_assignment  # noqa: E402
from tests.grading_support import passes, solution  # noqa: E402

MINE = ["07_ex1", "07_ex2", "08_ex1", "08_ex2", "09_ex1", "09_ex2", "10_ex1", "10_ex2"]
TESTS = {stem: build_assignment.test_source(build_assignment.TESTS / f"{stem}.py") for stem in MINE}
IMPORT_KIT_DISABLED = "from tbptt_kit.checks.grading import kit_disabled"
# The kit's functions that the graded tests switch off, as they are bound before any test runs.
KIT = {
    (tbptt_kit.data.streams, "StreamLoader"): tbptt_kit.data.streams.StreamLoader,
    (tbptt_kit.data.streams, "pack_records"): tbptt_kit.data.streams.pack_records,
    (tbptt_kit.data.streams, "create_stream_dls"): tbptt_kit.data.streams.create_stream_dls,
    (tk, "create_stream_dls"): tk.create_stream_dls,
    (tbptt_kit.checks.nb07, "_loader"): tbptt_kit.checks.nb07._loader,
    (tbptt_kit.losses, "bits_per_char"): tbptt_kit.losses.bits_per_char,
    (tbptt_kit.losses, "cross_entropy"): tbptt_kit.losses.cross_entropy,
    (tk, "bits_per_char"): tk.bits_per_char,
    (tbptt_kit.checks.nb08, "_unigram"): tbptt_kit.checks.nb08._unigram,
    (tbptt_kit.distributed, "shard_rows"): tbptt_kit.distributed.shard_rows,
    (tbptt_kit.distributed, "RankShard"): tbptt_kit.distributed.RankShard,
    (tbptt_kit.distributed, "shard_dls"): tbptt_kit.distributed.shard_dls,
    (tk, "Truncation"): tk.Truncation,
    (tbptt_kit.artbp, "Truncation"): tbptt_kit.artbp.Truncation,
    (tbptt_kit.checks.nb10, "safe_truncation_answer"): (
        tbptt_kit.checks.nb10.safe_truncation_answer
    ),
}


def passes_unblocked(test: str, **names) -> bool:
    """``passes`` with kit_disabled made a no-op: would the kit's answer pass but for the block?"""
    source = TESTS[test]
    assert IMPORT_KIT_DISABLED in source
    source = source.replace(
        IMPORT_KIT_DISABLED,
        "from contextlib import nullcontext\n\ndef kit_disabled(*a):\n    return nullcontext()",
    )
    try:
        exec(compile(source, test, "exec"), {"np": np, "torch": torch, "tk": tk, **names})
        return True
    except AssertionError:
        return False


# -- the kit's own answers, called the way a student in the notebook would -------------------
def kit_batches_per_epoch(lengths, bs, sub_seq_len):
    records = [np.zeros((n, 1), np.float32) for n in lengths]
    ds = tbptt_kit.data.streams.StreamDataset(records, records)
    return len(tbptt_kit.data.streams.StreamLoader(ds, bs, sub_seq_len))


def kit_pack_records(lengths, bs, sub_seq_len):
    return tbptt_kit.data.streams.pack_records(lengths, range(len(lengths)), bs, sub_seq_len)[1]


def kit_check_loader(lengths, bs, sub_seq_len):
    return len(tbptt_kit.checks.nb07._loader(lengths, bs, sub_seq_len))


def kit_masked_steps(lengths, bs, sub_seq_len):
    records = [np.zeros((n, 1), np.float32) for n in lengths]
    ds = tbptt_kit.data.streams.StreamDataset(records, records)
    loader = tbptt_kit.data.streams.StreamLoader(ds, bs, sub_seq_len)
    return sum(int((~b.mask).sum()) for b in loader if b.mask is not None)


def kit_unigram(text):
    chars = sorted(set(text))
    counts = Counter(text)
    logits = torch.log(torch.tensor([counts[c] for c in chars], dtype=torch.float64))
    ids = torch.tensor([chars.index(c) for c in text])
    return float(tk.bits_per_char(logits.expand(len(text), -1), ids))


def kit_rank_rows(bs, rank, world_size):
    rows = tbptt_kit.distributed.shard_rows(bs, rank, world_size)
    return rows.start, rows.stop


def kit_compensation_factors(probs, n):
    truncation = tk.Truncation(probs=probs)
    return [truncation.compensation(age) for age in range(1, n + 1)]


def kit_shortest_safe_truncation(lens, tol):
    return tbptt_kit.checks.nb10.safe_truncation_answer(lens, tol)


# -- 1. the worked solutions pass --------------------------------------------------------------
@pytest.mark.parametrize(
    "stem, name",
    [
        ("07_ex1", "batches_per_epoch"),
        ("07_ex2", "masked_steps"),
        ("08_ex1", "unigram_bits_per_char"),
        ("08_ex2", "perplexity"),
        ("09_ex1", "rank_rows"),
        ("09_ex2", "loss_weight"),
        ("10_ex1", "compensation_factors"),
        ("10_ex2", "shortest_safe_truncation"),
    ],
)
def test_graded_tests_07_10_pass_the_worked_solutions(stem, name):
    assert passes(stem, **{name: solution(stem, name)})


# -- 2. a call to the kit's own answer earns nothing, though that answer is right -------------
def test_graded_tests_07_10_refuse_a_call_to_the_kits_own_answer():
    # each kit answer is right on one case ...
    assert kit_batches_per_epoch([8, 7, 9, 4, 2], 3, 3) == 5
    assert kit_pack_records([3, 3, 2, 2, 2], 2, 1) == 7
    assert kit_check_loader([11, 11, 9, 9], 2, 10) == 3
    assert kit_masked_steps([8, 7, 9, 4, 2], 3, 3) == 15
    assert math.isclose(kit_unigram("abcd" * 3), 2.0, rel_tol=1e-9)
    assert math.isclose(tbptt_kit.checks.nb08._unigram("aab"), 0.9182958340544896)
    assert kit_rank_rows(12, 2, 3) == (8, 12)
    assert np.allclose(kit_compensation_factors((0.25,) * 4, 3), [4 / 3, 3 / 2, 2])
    assert kit_shortest_safe_truncation(np.array([1.0, 0.5, 0.25, 0.125]), 0.25) == 3
    kit_answers = {
        "07_ex1": [("batches_per_epoch", f) for f in
                   (kit_batches_per_epoch, kit_pack_records, kit_check_loader)],
        "07_ex2": [("masked_steps", kit_masked_steps)],
        "08_ex1": [("unigram_bits_per_char", kit_unigram),
                   ("unigram_bits_per_char", lambda t: tbptt_kit.checks.nb08._unigram(t))],
        "09_ex1": [("rank_rows", kit_rank_rows)],
        "10_ex1": [("compensation_factors", kit_compensation_factors)],
        "10_ex2": [("shortest_safe_truncation", kit_shortest_safe_truncation)],
    }  # fmt: skip
    for stem, answers in kit_answers.items():
        for name, func in answers:
            assert passes_unblocked(stem, **{name: func}), (stem, func)  # ... would pass ...
            assert not passes(stem, **{name: func}), (stem, func)  # ... and earns nothing
    # 08.2 and 09.2: the kit has no function that answers them (09.2's weight is a line
    # inside DistributedCB), so their graded tests switch nothing off
    assert IMPORT_KIT_DISABLED not in TESTS["08_ex2"] + TESTS["09_ex2"]
    assert not any("perplex" in name.lower() for name in dir(tk))


# -- 3. the usual mistakes fail ----------------------------------------------------------------
def test_graded_tests_07_10_refuse_the_usual_mistakes():
    # 07.1: records cut across rows, as text is (the self-check's named misconception)
    def cut(lengths, bs, k):
        return math.ceil(sum(math.ceil(n / k) for n in lengths) / bs)

    def in_given_order(lengths, bs, k):  # greedy, but not longest first
        rows = [0] * bs
        for n in lengths:
            rows[rows.index(min(rows))] += math.ceil(n / k)
        return max(rows)

    def rows_in_steps(lengths, bs, k):  # packs steps, forgets each record's own padding
        rows = [0] * bs
        for n in sorted(lengths, reverse=True):
            rows[rows.index(min(rows))] += n
        return math.ceil(max(rows) / k)

    assert cut([8, 7, 9, 4, 2], 3, 3) == 4 and not passes("07_ex1", batches_per_epoch=cut)
    assert in_given_order([8, 7, 9, 4, 2], 3, 3) == 5  # right on the visible case ...
    assert not passes("07_ex1", batches_per_epoch=in_given_order)  # ... caught by hidden ones
    assert not passes("07_ex1", batches_per_epoch=rows_in_steps)

    # 07.2: the cut layout's count; only each record's own padding; only the idle rows' steps
    right_07_1 = solution("07_ex1", "batches_per_epoch")

    def cut_masked(lengths, bs, k):
        return bs * cut(lengths, bs, k) * k - sum(lengths)

    def only_records(lengths, bs, k):
        return sum(math.ceil(n / k) * k - n for n in lengths)

    def only_idle_rows(lengths, bs, k):
        return bs * right_07_1(lengths, bs, k) * k - sum(math.ceil(n / k) * k for n in lengths)

    assert not passes("07_ex2", masked_steps=cut_masked)
    assert not passes("07_ex2", masked_steps=only_records)
    assert not passes("07_ex2", masked_steps=only_idle_rows)

    # 08.1: natural log (nats, not bits); chance (log2 of the alphabet); the minus forgotten
    right_08_1 = solution("08_ex1", "unigram_bits_per_char")

    def nats(text):
        return right_08_1(text) * math.log(2)

    def chance(text):
        return math.log2(len(set(text)))

    def no_minus(text):
        return -right_08_1(text)

    assert nats("a") == 0 and not passes("08_ex1", unigram_bits_per_char=nats)
    assert not passes("08_ex1", unigram_bits_per_char=chance)
    assert not passes("08_ex1", unigram_bits_per_char=no_minus)

    # 08.2: e ** b (nats); b ** 2 (right at b = 2, the notebook's example); 2 ** -b
    assert not passes("08_ex2", perplexity=lambda b: math.exp(b))
    assert not passes("08_ex2", perplexity=lambda b: b**2)
    assert not passes("08_ex2", perplexity=lambda b: 2.0**-b)

    # 09.1: an inclusive end; (first, count) instead of (first, end); rank x world_size
    assert not passes("09_ex1", rank_rows=lambda bs, r, w: (r * bs // w, (r + 1) * bs // w - 1))
    assert not passes("09_ex1", rank_rows=lambda bs, r, w: (r * bs // w, bs // w))
    assert not passes("09_ex1", rank_rows=lambda bs, r, w: (r * w, r * w + bs // w))

    # 09.2: DDP's division by world_size forgotten; integer division; divided twice
    assert not passes("09_ex2", loss_weight=lambda n, total, w: n / total)
    assert not passes("09_ex2", loss_weight=lambda n, total, w: n * w // total)
    assert not passes("09_ex2", loss_weight=lambda n, total, w: n / total / w)

    # 10.1: c(age) = P(L = age) not conditioned on L >= age; the hazard itself, not the factor;
    # one age short (range(1, n))
    def unconditioned(probs, n):
        return [1 / (1 - probs[age - 1]) for age in range(1, n + 1)]

    def hazard_only(probs, n):
        return [probs[age - 1] / sum(probs[age - 1 :]) for age in range(1, n + 1)]

    def one_short(probs, n):  # range(1, n): the ages 1 ... n - 1
        return [sum(probs[age - 1 :]) / sum(probs[age:]) for age in range(1, n)]

    assert unconditioned((0.5, 0.25, 0.25), 2)[0] == 2.0  # right on the visible case's age 1
    assert not passes("10_ex1", compensation_factors=unconditioned)
    assert not passes("10_ex1", compensation_factors=hazard_only)
    assert not passes("10_ex1", compensation_factors=one_short)

    # 10.2: > instead of >= (the boundary exactly at tol); the last lag instead of one more;
    # tol x lens[0] instead of tol x the largest
    def strict(lens, tol):
        lens = np.asarray(lens, dtype=float)
        return int(np.nonzero(lens > tol * lens.max())[0].max()) + 1

    def last_lag(lens, tol):
        return solution("10_ex2", "shortest_safe_truncation")(lens, tol) - 1

    def from_lag_0(lens, tol):
        lens = np.asarray(lens, dtype=float)
        return int(np.nonzero(lens >= tol * lens[0])[0].max()) + 1

    assert strict(np.array([1.0, 0.5, 0.25, 0.125, 0.0625]), 0.2) == 3  # the visible case
    assert not passes("10_ex2", shortest_safe_truncation=strict)  # only the boundary tells
    assert not passes("10_ex2", shortest_safe_truncation=last_lag)
    assert not passes("10_ex2", shortest_safe_truncation=from_lag_0)


# -- 4. the kit is whole again -----------------------------------------------------------------
def test_graded_tests_07_10_leave_the_kit_bound_again():
    for stem, name, func in (
        ("07_ex1", "batches_per_epoch", kit_batches_per_epoch),
        ("08_ex1", "unigram_bits_per_char", kit_unigram),
        ("09_ex1", "rank_rows", kit_rank_rows),
        ("10_ex1", "compensation_factors", kit_compensation_factors),
        ("10_ex2", "shortest_safe_truncation", kit_shortest_safe_truncation),
    ):
        assert not passes(stem, **{name: func})
    for (module, name), original in KIT.items():
        assert getattr(module, name) is original, f"{module.__name__}.{name} is not put back"
    assert kit_batches_per_epoch([8, 7, 9, 4, 2], 3, 3) == 5  # and they work
    assert kit_rank_rows(8, 1, 2) == (4, 8)
    assert kit_compensation_factors((0.5, 0.25, 0.25), 2) == [2.0, 2.0]
