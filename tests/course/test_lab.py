"""The lab of notebook 05: its rules and runs without widgets (``Lab``), then the panel as a
view over it (``LabPanel``), driven headless: set controls, click Train, read what changed.

Training uses the Silverbox in smoke mode (a few thousand samples) and a tiny LSTM, so each
run takes about a second.
"""

import importlib
import re
import sys

import matplotlib
import matplotlib.pyplot as plt
import pytest

from tbptt_kit.course.memory import estimate_memory, format_bytes

matplotlib.use("Agg")

SCORE = "valid RMSE (mV)"


@pytest.fixture
def lab_module(monkeypatch):
    """``tbptt_kit.course.widgets.lab`` imported afresh while ipywidgets cannot be imported."""
    monkeypatch.setenv("TBPTT_KIT_SMOKE", "1")
    fresh = ("tbptt_kit.course.widgets", "ipywidgets")
    for name in [m for m in sys.modules if m.startswith(fresh)]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # `import ipywidgets` fails
    return importlib.import_module("tbptt_kit.course.widgets.lab")


@pytest.fixture
def lab(lab_module):
    return lab_module.Lab(win_sz=200, sub_seq_len=40, bs=16, hidden_size=8)


# -- the Lab: rules ------------------------------------------------------------------------
def test_the_lab_needs_no_widgets(lab_module, lab):
    """With ipywidgets unimportable (the fixture), the lab still builds, sets and predicts."""
    assert lab.set(sub_seq_len=50) and lab.settings()["sub_seq_len"] == 50
    assert lab.predicted()["setting"] > 0 and lab.bptt.label == "truncated(50)"
    widgets = sys.modules["tbptt_kit.course.widgets"]
    assert widgets.Lab is lab_module.Lab
    with pytest.raises(ImportError, match="ipywidgets"):
        widgets.LabPanel  # noqa: B018 -- the panel, and only the panel, needs ipywidgets


def test_only_divisors_are_offered_and_follow_win_sz(lab):
    for win_sz in (200, 300, 700, 2000):
        lab.set(win_sz=win_sz)
        options = lab.sub_seq_len_options()
        divisors = [d for d in range(1, win_sz + 1) if win_sz % d == 0]
        assert options == [d for d in divisors if win_sz // d <= lab.max_sub_windows]
        assert win_sz in options and lab.sub_seq_len in options  # win_sz itself: full BPTT


def test_an_invalid_pair_is_refused_and_explained(lab):
    assert lab.set(win_sz=500, sub_seq_len=100) and lab.message == ""
    assert lab.set(sub_seq_len=30) is False
    assert lab.sub_seq_len == 100  # unchanged
    assert lab.message.startswith("Not set: sub_seq_len=30 does not divide win_sz=500")
    assert "[25, 50]" in lab.message  # the nearest divisors
    assert lab.set(sub_seq_len=5) is False and "at most 20" in lab.message  # 100 sub-windows
    assert lab.why_not(100) == ""
    lab.set(win_sz=100)
    assert lab.why_not(200).startswith("sub_seq_len=200 is longer than win_sz=100")


def test_a_win_sz_that_breaks_the_pair_moves_it_and_says_so(lab):
    lab.set(win_sz=300, sub_seq_len=60)
    lab.set(win_sz=400)  # 60 does not divide 400
    assert lab.sub_seq_len == 50 and "does not divide" in lab.message
    assert "Moved to sub_seq_len=50" in lab.message
    assert lab.set(win_sz=300, sub_seq_len=60) and lab.message == ""  # both at once: no note


def test_bad_settings_name_the_parameter(lab):
    with pytest.raises(ValueError, match=r"bs=5 is not on offer.*\(4, 8, 16, 32, 64\)"):
        lab.set(bs=5)
    with pytest.raises(ValueError, match="win_sz must be an int from 100 to 2000, got 50"):
        lab.set(win_sz=50)
    with pytest.raises(ValueError, match="layout='waves'"):
        lab.set(layout="waves")
    with pytest.raises(ValueError, match="n_epoch must be an int"):
        lab.set(n_epoch=1.5)
    with pytest.raises(ValueError, match="sub_seq_len must be an int >= 1, got 0"):
        lab.set(sub_seq_len=0)
    with pytest.raises(TypeError, match="unknown setting 'lr'"):
        lab.set(lr=0.1)
    assert lab.settings()["bs"] == 16 and lab.win_sz == 200


def test_predicted_memory_is_the_course_formula(lab):
    lab.set(win_sz=400, sub_seq_len=100, bs=32, hidden_size=64, rnn_type="gru")
    full, tbptt = (
        estimate_memory("gru", 64, 1, 32, 400),
        estimate_memory("gru", 64, 1, 32, 400, 100),
    )
    assert lab.predicted() == {"setting": tbptt, "full": full}
    assert format_bytes(full) in lab.memory_text and format_bytes(tbptt) in lab.memory_text
    lab.set(sub_seq_len=400)
    assert lab.predicted()["setting"] == full and "full BPTT" in lab.memory_text


def test_the_stream_layout_has_its_own_rules(lab_module, lab):
    lab.set(layout="streams")
    assert lab.sub_seq_len_options() == list(
        importlib.import_module("tbptt_kit.course.widgets.lab_rules").STREAM_SUB_SEQ_LENS
    )
    assert lab.sub_seq_len == 50 and "Moved to sub_seq_len=50" in lab.message  # 40 not on offer
    before = lab.predicted()
    lab.set(win_sz=1000)  # win_sz does not apply to streams
    assert lab.predicted() == before == {"setting": estimate_memory("lstm", 8, 1, 16, 50)}
    assert "streams" in lab.memory_text and not lab.full
    assert lab.set(sub_seq_len=30) is False and "not on offer for streams" in lab.message
    learn = lab.learner()
    assert learn.dls.layout == "streams" and learn.dls.sub_seq_len == 50
    assert learn.bptt.label == "truncated(50)"
    lab.set(layout="windows")
    assert lab.learner().dls.layout == "windows"


def test_a_setting_over_the_memory_budget_is_refused(lab_module):
    lab = lab_module.Lab(win_sz=1000, sub_seq_len=1000, bs=64, hidden_size=128, max_memory="50 MiB")
    assert lab.message.startswith("Refused:") and "Largest sub_seq_len" in lab.message
    assert lab.train() is None and lab.runs == [] and lab.learn is None
    assert lab.set(sub_seq_len=50) and lab.message == "" and lab.refusal() == ""


# -- the Lab: runs -------------------------------------------------------------------------
def test_a_run_is_scored_free_run_and_kept(lab):
    updates = []
    row = lab.train(on_update=lambda lab: updates.append(lab.status))
    assert lab.last_error is None, lab.last_error
    assert row is lab.runs[-1] and len(lab.runs) == 1 and type(lab.runs).__name__ == "Table"
    scores = lab.learn.score("valid")  # free-run, 50 samples initialise: the course's score
    assert row[SCORE] == pytest.approx(sum(scores.values()) / len(scores))
    assert row["steps"] == len(lab.learn.recorder.losses) == len(lab.live.losses) > 0
    assert row["win_sz"] == 200 and row["sub_seq_len"] == 40 and row["layout"] == "windows"
    assert row["measured act."] == row["predicted act."]  # ActMemCB agrees with the formula
    assert len(updates) >= 2 and updates[0].startswith("Training: epoch 1/1, step 1/")
    assert lab.status.startswith("Done") and not lab.running
    assert list(lab.curves) == ["#1 lstm 8, win 200, truncated(40)"]
    lab.set(sub_seq_len=200, rnn_type="gru")
    assert lab.train()["sub_seq_len"] == "full" and len(lab.runs) == 2
    assert SCORE in lab.runs._repr_html_()


def test_a_stream_run(lab):
    lab.set(layout="streams", sub_seq_len=50)
    row = lab.train()
    assert lab.last_error is None, lab.last_error
    assert row["layout"] == "streams" and row["win_sz"] is None and row["sub_seq_len"] == 50
    assert row[SCORE] > 0 and row["measured act."] == row["predicted act."]


def test_a_failed_run_is_reported_not_raised(lab):
    def broken_loaders(**kwargs):
        raise OSError("no data here")

    lab.make_dls = broken_loaders
    assert lab.train() is None and isinstance(lab.last_error, OSError)
    assert lab.message == "Training failed: OSError: no data here" and not lab.running


def test_the_stop_button_leaves_the_lab_usable(lab):
    def stop_on_the_second_update(lab):
        if len(lab.live.losses) > 1:
            raise KeyboardInterrupt("stop")  # what the kernel's stop button raises mid-run

    lab.redraw_s = 0.0  # update after every step
    with pytest.raises(KeyboardInterrupt, match="stop"):
        lab.train(on_update=stop_on_the_second_update)
    assert not lab.running and lab.runs == [] and lab.curves == {}
    assert lab.status == "Stopped after 2 steps; no row kept."
    row = lab.train()  # and the next run trains as usual
    assert lab.last_error is None and row["run"] == 1 and len(lab.runs) == 1
    assert row["measured act."] == row["predicted act."]  # no meter hook left behind


# -- the panel: a view over a Lab ----------------------------------------------------------
HOOKS = (
    "tbptt-layout",
    "tbptt-win-sz",
    "tbptt-sub-seq-len",
    "tbptt-predicted-memory",
    "tbptt-message",
    "tbptt-train",
    "tbptt-status",
    "tbptt-loss-plot",
    "tbptt-results",
)


@pytest.fixture
def panel(monkeypatch):
    monkeypatch.setenv("TBPTT_KIT_SMOKE", "1")
    from tbptt_kit.course.widgets import LabPanel

    return LabPanel(win_sz=200, sub_seq_len=40, bs=16, hidden_size=8)


def body_rows(table_html: str) -> int:
    return len(re.findall(r"<tr>", table_html.partition("<tbody>")[2]))


def all_classes(widget) -> set:
    found = set(widget._dom_classes)
    for child in getattr(widget, "children", ()):
        found |= all_classes(child)
    return found


def test_the_panel_carries_the_dom_hooks_of_the_browser_tests(panel):
    assert "tbptt-lab-panel" in panel.panel._dom_classes
    assert set(HOOKS) <= all_classes(panel.panel)
    for slider in (panel.win_sz, panel.bs, panel.hidden_size, panel.n_epoch):
        assert slider.continuous_update is False
    assert panel._repr_mimebundle_()["application/vnd.jupyter.widget-view+json"]


def test_the_controls_set_the_lab_and_show_its_state(panel):
    panel.win_sz.value = 700
    assert panel.lab.win_sz == 700
    assert list(panel.sub_seq_len.options) == panel.lab.sub_seq_len_options()
    assert panel.sub_seq_len.value == panel.lab.sub_seq_len == 35  # 40 does not divide 700
    assert "Moved to sub_seq_len=35" in panel.message.value
    seen = {panel.memory.value}
    for name, value in (("sub_seq_len", 100), ("bs", 32), ("hidden_size", 64), ("rnn_type", "gru")):
        getattr(panel, name).value = value
        assert panel.lab.settings()[name] == value
        seen.add(panel.memory.value)
    assert len(seen) == 5 and panel.memory_text in panel.memory.value


def test_set_from_code_shows_a_refusal(panel):
    assert panel.set(win_sz=500, sub_seq_len=100)
    assert panel.set(sub_seq_len=30) is False and panel.sub_seq_len.value == 100
    assert "does not divide" in panel.message.value and "30" in panel.message_text


def test_the_budget_disables_train(monkeypatch):
    monkeypatch.setenv("TBPTT_KIT_SMOKE", "1")
    from tbptt_kit.course.widgets import LabPanel

    panel = LabPanel(win_sz=1000, sub_seq_len=1000, bs=64, hidden_size=128, max_memory="50 MiB")
    assert panel.train_button.disabled and "Refused" in panel.message.value
    panel.sub_seq_len.value = 50  # TBPTT fits where full BPTT does not
    assert not panel.train_button.disabled and panel.message.value == ""


def test_streams_disable_win_sz(panel):
    panel.layout.value = "streams"
    assert panel.win_sz.disabled and panel.lab.layout == "streams"
    assert list(panel.sub_seq_len.options) == panel.lab.sub_seq_len_options()
    assert "streams" in panel.memory.value
    panel.layout.value = "windows"
    assert not panel.win_sz.disabled and panel.lab.win_sz % panel.sub_seq_len.value == 0


def test_train_streams_the_plot_and_adds_a_row_per_run(panel):
    figures_before, draws = plt.get_fignums(), panel.n_draws
    assert body_rows(panel.results.value) == 0
    panel.train_button.click()  # runs the handler synchronously
    assert panel.last_error is None, panel.last_error
    assert panel.n_draws >= draws + 2  # the first step and the end, at least
    (output,) = panel.loss_plot.outputs
    assert output["data"]["image/png"]
    assert body_rows(panel.results.value) == 1 and SCORE in panel.results.value
    assert "Done" in panel.status.value and panel.train_button.description == "Train"
    assert not panel.train_button.disabled
    panel.set(sub_seq_len=200, rnn_type="gru")
    panel.train_button.click()
    assert body_rows(panel.results.value) == 2 and panel.runs[-1]["sub_seq_len"] == "full"
    assert plt.get_fignums() == figures_before  # nothing left open in pyplot


def test_failures_and_the_stop_button_leave_the_panel_usable(panel):
    def stopped(**kwargs):
        raise KeyboardInterrupt("stop")

    panel.lab.make_dls = stopped
    panel.train_button.click()  # the click handler swallows it: nothing more to stop
    with pytest.raises(KeyboardInterrupt, match="stop"):
        panel.train()  # from code (a loop of runs in a cell), the stop goes on up
    assert panel.train_button.description == "Train" and not panel.train_button.disabled
    assert "Stopped" in panel.status.value
    panel.lab.make_dls = lambda **kwargs: 1 / 0
    assert panel.train() is None and isinstance(panel.last_error, ZeroDivisionError)
    assert "Training failed" in panel.message.value and not panel.train_button.disabled
