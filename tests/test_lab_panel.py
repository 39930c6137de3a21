"""The lab panel (notebook 05), driven headless: set controls, click Train, read what changed.

Training uses the Silverbox in smoke mode (a few thousand samples) and a tiny LSTM, so
each click trains in about a second.
"""

import re

import matplotlib
import matplotlib.pyplot as plt
import pytest

from tbptt_kit.memory import estimate_memory, format_bytes
from tbptt_kit.widgets import LabPanel

matplotlib.use("Agg")

HOOKS = (
    "tbptt-win-sz",
    "tbptt-sub-seq-len",
    "tbptt-predicted-memory",
    "tbptt-message",
    "tbptt-train",
    "tbptt-loss-plot",
    "tbptt-results",
)


@pytest.fixture
def lab(monkeypatch):
    monkeypatch.setenv("TBPTT_KIT_SMOKE", "1")
    return LabPanel(win_sz=200, sub_seq_len=40, bs=16, hidden_size=8)


def rows(table_html: str) -> int:
    return len(re.findall(r"<tr>", table_html))


def all_classes(widget) -> set:
    found = set(widget._dom_classes)
    for child in getattr(widget, "children", ()):
        found |= all_classes(child)
    return found


def test_the_panel_carries_the_dom_hooks_of_the_browser_tests(lab):
    assert "tbptt-lab-panel" in lab.panel._dom_classes
    assert set(HOOKS) <= all_classes(lab.panel)
    assert lab.win_sz.continuous_update is False
    assert lab.bs.continuous_update is False and lab.n_epoch.continuous_update is False


def test_only_divisors_are_offered_and_follow_win_sz(lab):
    for win_sz in (200, 300, 700, 2000):
        lab.win_sz.value = win_sz
        options = lab.sub_seq_len.options
        assert options and all(win_sz % d == 0 for d in options)
        assert win_sz in options  # sub_seq_len = win_sz: full BPTT
        assert all(win_sz // d <= lab.max_sub_windows for d in options)
        assert lab.sub_seq_len.value in options


def test_predicted_memory_follows_every_control(lab):
    seen = {lab.memory.value}
    lab.win_sz.value = 400
    seen.add(lab.memory.value)
    lab.sub_seq_len.value = 100
    seen.add(lab.memory.value)
    lab.bs.value = 32
    seen.add(lab.memory.value)
    lab.hidden_size.value = 64
    seen.add(lab.memory.value)
    lab.rnn_type.value = "gru"
    seen.add(lab.memory.value)
    assert len(seen) == 6
    full = estimate_memory("gru", 64, 1, 32, 400)
    tbptt = estimate_memory("gru", 64, 1, 32, 400, 100)
    assert format_bytes(full) in lab.memory.value and format_bytes(tbptt) in lab.memory.value
    lab.sub_seq_len.value = 400
    assert "full BPTT" in lab.memory.value


def test_a_win_sz_that_breaks_the_pair_is_explained(lab):
    lab.set(win_sz=300, sub_seq_len=60)
    assert lab.message.value == ""
    lab.win_sz.value = 400  # 60 does not divide 400
    assert lab.sub_seq_len.value in lab.sub_seq_len.options
    assert "does not divide" in lab.message.value and "60" in lab.message.value
    assert not lab.train_button.disabled


def test_an_invalid_pair_is_refused_and_explained(lab):
    lab.set(win_sz=500, sub_seq_len=100)
    assert lab.set(sub_seq_len=30) is False
    assert lab.sub_seq_len.value == 100  # unchanged
    assert "30" in lab.message.value and "divide" in lab.message.value
    assert LabPanel.explain(500, 30).startswith("sub_seq_len=30 does not divide win_sz=500")
    assert LabPanel.explain(500, 100) == ""
    assert LabPanel.explain(100, 200).endswith("longer than win_sz=100.")


def test_a_setting_over_the_memory_budget_is_refused(monkeypatch):
    monkeypatch.setenv("TBPTT_KIT_SMOKE", "1")
    lab = LabPanel(win_sz=1000, sub_seq_len=1000, bs=64, hidden_size=128, max_memory="50 MiB")
    assert lab.train_button.disabled
    assert "Refused" in lab.message.value and "Largest sub_seq_len" in lab.message.value
    assert lab.train() is None and lab.runs == []
    lab.sub_seq_len.value = 50  # TBPTT fits where full BPTT does not
    assert not lab.train_button.disabled and lab.message.value == ""


def test_train_streams_the_plot_and_adds_a_row_per_run(lab):
    figures_before = plt.get_fignums()
    draws, before = lab.n_draws, rows(lab.results.value)
    lab.train_button.click()  # runs the handler synchronously
    assert lab.last_error is None, lab.last_error
    assert lab.n_draws >= draws + 2  # the first step and the end, at least
    (output,) = lab.loss_plot.outputs
    assert output["data"]["image/png"]
    assert rows(lab.results.value) == before + 1
    row = lab.runs[-1]
    assert row["win_sz"] == 200 and row["sub_seq_len"] == 40 and row["steps"] > 0
    assert row["valid RMSE (mV)"] > 0
    assert row["measured act."] == row["predicted act."]  # the predictor is exact for onednn
    assert "Done" in lab.status.value and lab.train_button.description == "Train"
    assert not lab.train_button.disabled

    lab.set(sub_seq_len=200, rnn_type="gru")  # full BPTT, another kernel path
    lab.train_button.click()
    assert lab.last_error is None, lab.last_error
    assert rows(lab.results.value) == before + 2 and len(lab.runs) == 2
    assert lab.runs[-1]["sub_seq_len"] == "full"
    assert plt.get_fignums() == figures_before  # nothing left open in pyplot


def test_a_failed_run_is_shown_in_the_panel_not_raised(lab):
    def broken_loaders(**kwargs):
        raise OSError("no data here")

    lab.make_dls = broken_loaders
    assert lab.train() is None
    assert isinstance(lab.last_error, OSError)
    assert "Training failed" in lab.message.value and "no data here" in lab.message.value
    assert lab.train_button.description == "Train" and not lab.train_button.disabled
