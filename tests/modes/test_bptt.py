"""modes/bptt.py: ``BPTT``, one description of a mode, read everywhere: what it refuses,
what it says about itself (label, lengths, graph, carry), and the loaders it needs."""

import re

import numpy as np
import pytest

from tbptt_kit import create_dls, create_stream_dls
from tbptt_kit.modes import BPTT, MODES, Truncation
from tbptt_kit.modes.checkpointed import Chunks
from tbptt_kit.modes.randomized import RandomCuts
from tbptt_kit.modes.truncated import ReRun

GEO = Truncation(mean_len=16)


def record(n, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(n).astype(np.float32)
    return u, np.convolve(u, [0.5, 0.3, 0.2])[:n].astype(np.float32)


@pytest.mark.parametrize(
    "args, error, says",
    [
        (
            ("full", 50),
            ValueError,
            r"^mode='full' takes no sub_seq_len, backprop_len or truncation, got sub_seq_len=50",
        ),
        (("full", None, 50), ValueError, r"^mode='full' takes no .*backprop_len=50"),
        (
            ("full", None, None, GEO),
            ValueError,
            r"^mode='full' takes no .*truncation=Truncation\(mean_len=16",
        ),
        (
            ("checkpointed", 50, 100),
            ValueError,
            r"^backprop_len=100 goes with mode='truncated' only, got mode='checkpointed'",
        ),
        (
            ("randomized", 8, 10, GEO),
            ValueError,
            r"^backprop_len=10 goes with mode='truncated' only, got mode='randomized'",
        ),
        (("truncated", 50, 75.0), TypeError, r"^backprop_len must be an int >= 1, got 75\.0"),
        (("truncated", 50, True), TypeError, r"^backprop_len must be an int >= 1, got True"),
        (("truncated", 50, 0), ValueError, r"^backprop_len must be an int >= 1, got 0"),
        (
            ("truncated", 50, 49),
            ValueError,
            r"^backprop_len=49 must be an int >= sub_seq_len=50 \(k2 >= k1\)",
        ),
        (("truncated", None), ValueError, r"^mode='truncated' needs sub_seq_len \(k1\), got None"),
        (("checkpointed", None), ValueError, r"^mode='checkpointed' needs sub_seq_len \(k1\)"),
        (
            ("randomized", None, None, GEO),
            ValueError,
            r"^mode='randomized' needs sub_seq_len \(k1\)",
        ),
        (("truncated", 0), ValueError, r"^sub_seq_len must be an int >= 1, got 0"),
        (("truncated", 2.5), TypeError, r"^sub_seq_len must be an int >= 1, got 2\.5"),
        (
            ("sideways", 5),
            ValueError,
            r"^mode='sideways' is unknown: choose one of \('full', 'truncated', 'checkpointed', 'randomized'\)",
        ),
        (
            ("randomized", 8),
            ValueError,
            r"^mode='randomized' needs a truncation, e\.g\. truncation=Truncation\(mean_len=16\)",
        ),
        (("randomized", 8, None, 4), TypeError, r"^truncation must be a Truncation, got 4"),
        (
            ("truncated", 8, None, GEO),
            ValueError,
            r"^truncation=Truncation\(.*\) goes with mode='randomized' only, got mode='truncated'",
        ),
        (
            ("checkpointed", 8, None, GEO),
            ValueError,
            r"goes with mode='randomized' only, got mode='checkpointed'",
        ),
    ],
)
def test_bptt_refuses_what_it_cannot_run(args, error, says):
    with pytest.raises(error, match=says):
        BPTT(*args)


def test_the_modes_are_the_four_ways_to_train():
    assert list(MODES) == ["full", "truncated", "checkpointed", "randomized"]


@pytest.mark.parametrize(
    "bptt, label, carries_state, exact, loader_sub_seq_len, graph_len",
    [
        (BPTT(), "full", False, True, None, 500),
        (BPTT("truncated", 20), "truncated(20)", True, True, 20, 20),
        (BPTT("truncated", 50, 50), "TBPTT(50, 50)", True, True, 50, 50),
        (BPTT("truncated", 50, 51), "TBPTT(50, 51)", True, True, 50, 51),
        (BPTT("truncated", 50, 800), "TBPTT(50, 800)", True, True, 50, 500),
        (BPTT("checkpointed", 20), "checkpointed(20)", False, True, None, 20),
        (
            BPTT("randomized", 10, truncation=GEO),
            "ARTBP(10, geometric, mean 16)",
            True,
            False,
            10,
            26,
        ),
        (
            BPTT("randomized", 10, truncation=Truncation(probs=(0.5, 0.5))),
            "ARTBP(10, given P(L), mean 1.5)",
            True,
            False,
            10,
            12,
        ),
    ],
    ids=lambda x: x.label if isinstance(x, BPTT) else None,
)
def test_each_mode_says_what_the_loop_and_the_course_read(
    bptt, label, carries_state, exact, loader_sub_seq_len, graph_len
):
    assert bptt.label == label
    assert bptt.carries_state is carries_state and bptt.exact is exact
    assert bptt.loader_sub_seq_len == loader_sub_seq_len
    assert bptt.graph_len(500) == graph_len


def test_graph_len_never_exceeds_the_window():
    assert BPTT("truncated", 20).graph_len(10) == 10
    assert BPTT("checkpointed", 20).graph_len(10) == 10
    assert BPTT("randomized", 10, truncation=GEO).graph_len(20) == 20  # k1 + mean > 20
    assert BPTT().graph_len(7) == 7


@pytest.mark.parametrize(
    "bptt, carry",
    [
        (BPTT(), type(None)),
        (BPTT("truncated", 20), type(None)),  # the loop's own reset, carry, detach
        (BPTT("truncated", 20, 20), type(None)),  # k2 = k1: nothing to run again
        (BPTT("truncated", 20, 30), ReRun),
        (BPTT("checkpointed", 20), Chunks),
        (BPTT("randomized", 10, truncation=GEO), RandomCuts),
    ],
    ids=lambda x: x.label if isinstance(x, BPTT) else None,
)
def test_each_call_of_carry_gives_a_fresh_one(bptt, carry):
    a, b = bptt.carry(), bptt.carry()
    assert type(a) is carry and type(b) is carry
    assert a is None or a is not b
    if carry is ReRun:
        assert a.backprop_len == 30 and a.past_u is None
    if carry is Chunks:
        assert a.chunk_len == 20
    if carry is RandomCuts:
        assert a.truncation is GEO and a.past_u is None


def test_of_names_the_mode_the_learners_arguments_mean():
    assert BPTT.of() == BPTT("full") == BPTT()
    assert BPTT.of(20) == BPTT("truncated", 20)
    assert BPTT.of(20, backprop_len=40) == BPTT("truncated", 20, 40)
    assert BPTT.of(20, "checkpointed") == BPTT("checkpointed", 20)
    assert BPTT.of(None, "full") == BPTT()
    bptt = BPTT.of(10, "randomized", truncation=GEO)
    assert bptt == BPTT("randomized", 10, truncation=GEO) and bptt.truncation is GEO
    given = BPTT("truncated", 5, 9)
    assert BPTT.of(20, bptt=given) is given  # a BPTT given whole is taken as it is


def test_for_window_names_full_bptt_when_one_sub_window_is_the_window():
    assert BPTT.for_window(500, 500) == BPTT()
    assert BPTT.for_window(500, 100) == BPTT("truncated", 100)


def test_of_learner_names_the_mode_of_a_learner_built_without_one():
    class Bare:  # what of_learner reads: the learner's bptt and its loaders' sub_seq_len
        def __init__(self, bptt, sub_seq_len):
            self.bptt, self.dls = bptt, type("D", (), {"sub_seq_len": sub_seq_len})()

    assert BPTT.of_learner(Bare(None, 20)) == BPTT("truncated", 20)
    assert BPTT.of_learner(Bare(None, None)) == BPTT()
    given = BPTT("checkpointed", 5)
    assert BPTT.of_learner(Bare(given, None)) is given


def test_settings_build_the_mode_again_without_its_truncation():
    assert BPTT("truncated", 20, 40).settings() == {
        "mode": "truncated",
        "sub_seq_len": 20,
        "backprop_len": 40,
    }
    assert BPTT.of(**BPTT("checkpointed", 5).settings()) == BPTT("checkpointed", 5)
    assert BPTT().settings() == {"mode": "full", "sub_seq_len": None, "backprop_len": None}
    assert "truncation" not in BPTT("randomized", 5, truncation=GEO).settings()


def test_draw_i_is_itself_when_exact_and_a_seed_i_steps_on_when_random():
    exact = BPTT("truncated", 20, 30)
    assert exact.draw(0) is exact and exact.draw(7) is exact
    random = BPTT("randomized", 10, truncation=Truncation(mean_len=8, seed=3))
    drawn = random.draw(4)
    assert drawn.truncation == Truncation(mean_len=8, seed=7) and drawn.sub_seq_len == 10
    assert random.truncation.seed == 3  # the mode itself is left as it was
    assert random.draw(0) == random


# -- the loaders a mode needs --------------------------------------------------------------
def test_a_mode_and_loaders_that_disagree_say_what_each_hands_out():
    whole = create_dls(record(300), record(200, 1), win_sz=50)
    with pytest.raises(
        ValueError,
        match=r"^truncated\(10\) \(mode='truncated', sub_seq_len=10\) needs loaders that hand out sub-windows of 10, but these hand out whole windows: create the loaders with sub_seq_len=10 \(valid here: None\)",
    ):
        BPTT("truncated", 10).check_loaders(whole)
    cut = create_dls(record(300), record(200, 1), win_sz=50, sub_seq_len=10)
    with pytest.raises(
        ValueError,
        match=r"^full \(mode='full', sub_seq_len=None\) needs loaders that hand out whole windows, but these hand out sub-windows of 10",
    ):
        BPTT().check_loaders(cut)
    with pytest.raises(
        ValueError,
        match="needs loaders that hand out whole windows, but these hand out sub-windows of 10",
    ):
        BPTT("checkpointed", 10).check_loaders(cut)
    with pytest.raises(
        ValueError, match="hand out sub-windows of 5, but these hand out sub-windows of 10"
    ):
        BPTT("truncated", 5).check_loaders(cut)
    BPTT("truncated", 10).check_loaders(cut)
    BPTT("truncated", 10, 30).check_loaders(cut)
    BPTT().check_loaders(whole)


def test_a_checkpointed_chunk_must_divide_the_loaders_window():
    whole = create_dls(record(300), record(200, 1), win_sz=50)
    BPTT("checkpointed", 25).check_loaders(whole)
    with pytest.raises(ValueError, match="sub_seq_len=30 does not divide win_sz=50"):
        BPTT("checkpointed", 30).check_loaders(whole)


def test_a_randomized_mean_truncation_must_fit_the_loaders_window():
    cut = create_dls(record(300), record(200, 1), win_sz=50, sub_seq_len=10)
    BPTT.of(10, "randomized", truncation=Truncation(mean_len=50)).check_loaders(cut)
    with pytest.raises(ValueError, match=r"length 100 is longer than the window \(win_sz=50\)"):
        BPTT.of(10, "randomized", truncation=Truncation(mean_len=100)).check_loaders(cut)


def test_stream_loaders_train_with_a_mode_that_carries_the_state_over_their_sub_windows():
    dls = create_stream_dls(
        [record(200), record(150, 2)], record(100, 1), bs=2, valid_bs=1, sub_seq_len=10
    )
    BPTT("truncated", 10).check_loaders(dls)
    BPTT("truncated", 10, 20).check_loaders(dls)  # TBPTT(k1, k2) too: it zeroes rows itself
    BPTT("randomized", 10, truncation=Truncation(mean_len=8)).check_loaders(dls)
    for other in [BPTT(), BPTT("truncated", 5), BPTT("checkpointed", 10)]:
        with pytest.raises(
            ValueError,
            match=rf"^stream loaders \(sub_seq_len=10\) train with a mode that carries the state \(truncated or randomized\) and sub_seq_len=10 only, got {re.escape(other.label)}",
        ):
            other.check_loaders(dls)
