"""compare: one table, the same data and seed for every configuration, and equal steps."""

import functools
import math

import numpy as np
import pytest

from tbptt_kit import create_dls
from tbptt_kit.course.compare import compare, config_name, epochs_for_equal_steps
from tbptt_kit.course.table import Table

CONFIGS = [
    {"name": "full"},
    {"sub_seq_len": 10},
    {"mode": "checkpointed", "sub_seq_len": 10},
    {"sub_seq_len": 10, "backprop_len": 20},
]


def make_dls(sub_seq_len=None):
    rng = np.random.default_rng(0)
    u = rng.standard_normal(700).astype(np.float32)
    y = np.convolve(u, np.exp(-np.arange(10) / 3.0))[:700].astype(np.float32)
    return create_dls(
        (u[:500], y[:500]),
        (u[500:], y[500:]),
        {"rec": (u[500:], y[500:])},
        bs=8,
        win_sz=40,
        stp_sz=20,
        sub_seq_len=sub_seq_len,
        units=("mV", 1e3),
    )


run = functools.partial(compare, make_dls=make_dls, hidden_size=4, lr=1e-2, memory=False)


def test_one_row_per_configuration_with_the_reported_columns():
    table = run(CONFIGS, n_epoch=2)
    assert [row["name"] for row in table] == [
        "full",
        "truncated(10)",
        "checkpointed(10)",
        "TBPTT(10, 20)",
    ]
    assert [row["bptt"] for row in table][1:] == [config_name(c) for c in CONFIGS[1:]]
    assert table.columns == [
        "name",
        "bptt",
        "epochs",
        "steps",
        "samples",
        "valid_mV",
        "test_rec_mV",
        "time_s",
        "cpu_s",
    ]
    n_batches = len(make_dls().train)  # 24 windows in batches of 8
    assert [row["steps"] for row in table] == [
        2 * n_batches,
        8 * n_batches,
        2 * n_batches,
        8 * n_batches,
    ]
    assert [row["samples"] for row in table] == [2 * 24 * 40, 2 * 24 * 40, 2 * 24 * 40, 2 * 24 * 40]
    assert all(row["valid_mV"] > 0 and row["time_s"] > 0 for row in table)
    # checkpointing changes memory and time, never the gradient: the same training
    assert table[2]["valid_mV"] == pytest.approx(table[0]["valid_mV"], rel=1e-4)


def test_equal_steps_trains_fewer_epochs_not_shorter_ones():
    table = run(CONFIGS, n_epoch=4, equal_steps=True)
    steps = {row["steps"] for row in table}
    assert steps == {4 * len(make_dls().train)}
    assert [row["epochs"] for row in table] == [4, 1, 4, 1]  # 4 sub-windows per window


def test_equal_steps_to_a_given_number():
    table = run(CONFIGS[:2], n_epoch=4, equal_steps=12)
    assert [row["epochs"] for row in table] == [4, 1] and [r["steps"] for r in table] == [12, 12]


def test_inexact_equal_steps_warn_and_the_table_shows_the_truth():
    assert epochs_for_equal_steps([3, 12], 8, True) == [8, 2]
    with pytest.warns(UserWarning, match="make 12 steps, not 9"):
        assert epochs_for_equal_steps([3, 12], 3, True) == [3, 1]


def test_memory_columns():
    table = compare(CONFIGS[:2], make_dls, n_epoch=1, hidden_size=4, memory=True)
    for row in table:
        assert row["activation_MiB"] > 0 and row["peak_MiB"] > 0
    assert table[1]["activation_MiB"] < table[0]["activation_MiB"]  # 10 steps held, not 40


def test_a_diverging_run_gets_a_nan_row():
    with pytest.warns(UserWarning, match="became nan"):
        table = run([{"name": "bad"}], n_epoch=1, loss_func=lambda p, t: p.sum() * math.nan)
    assert math.isnan(table[0]["valid_mV"])


def test_table_renderings():
    table = Table([{"name": "a", "x": 1.23456, "t": 1234.5}, {"name": "b<", "y": None}])
    assert table.columns == ["name", "x", "t", "y"]
    text = table.to_text().splitlines()
    assert text[0].split() == ["name", "x", "t", "y"] and text[1].split() == [
        "a",
        "1.23",
        "1234",
        "-",
    ]
    assert table.to_markdown().splitlines()[1] == "|---|---|---|---|"
    assert "<td>b&lt;</td>" in table._repr_html_()


def test_learners_keeps_each_trained_learner_by_name():
    kept = {}
    table = run(CONFIGS[:2], n_epoch=1, learners=kept)
    assert list(kept) == ["full", "truncated(10)"]
    # the kept learner is the trained one: scoring it again gives the table's score
    again = sum(kept["full"].score("valid").values())
    assert again == pytest.approx(table[0]["valid_mV"], rel=1e-6)
    assert len(kept["truncated(10)"].recorder.losses) == table[1]["steps"]
