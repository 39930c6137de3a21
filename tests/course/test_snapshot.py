"""Widget panels on the static site: a snapshot in their place, and nothing changes elsewhere.

While the site builds (TBPTT_KIT_SITE set by docs/conf.py) a panel displays as HTML: a line
saying it is a static snapshot, links to the live panel, a table computed from the panel's own
objects and (the window explorer) the plot. Without TBPTT_KIT_SITE it is the live widget.
"""

import matplotlib
import numpy as np
import pytest

from tbptt_kit.course.widgets import LabPanel, WindowExplorer
from tbptt_kit.course.widgets.snapshot import lab_grid

matplotlib.use("Agg")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def explorer():
    t = np.arange(6000)
    return WindowExplorer(np.sin(t / 50), np.cos(t / 50), win_sz=500, stp_sz=250)


def test_off_the_site_the_panel_is_the_live_widget(explorer, monkeypatch):
    monkeypatch.delenv("TBPTT_KIT_SITE", raising=False)
    bundle = explorer._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and "text/html" not in bundle


def test_on_the_site_the_explorer_shows_its_snapshot(explorer, monkeypatch):
    monkeypatch.setenv("TBPTT_KIT_SITE", "owner/name")
    bundle = explorer.panel._repr_mimebundle_()
    assert WIDGET_VIEW not in bundle
    page = bundle["text/html"]
    assert "Static snapshot" in page and "tbptt-launch:binder" in page
    assert "tbptt-launch:colab" in page and '<img src="data:image/png;base64,' in page
    assert explorer.describe() in page
    # the grid's counts are the explorer's own: 6000 samples, win_sz=500 every 250 -> 23
    assert "23 windows, 2 steps" in page and "<table" in page


def test_on_the_site_the_lab_shows_memory_and_trained_runs(monkeypatch):
    monkeypatch.setenv("TBPTT_KIT_SMOKE", "1")
    panel = LabPanel(win_sz=200, sub_seq_len=40, bs=16, hidden_size=8)
    page = lab_grid(panel.lab, win_szs=(100, 200), sub_seq_lens=(50, None))
    assert page.count("<table") == 2 and page.count(" mV, ") == 4
    assert panel.lab.runs == [], "the snapshot's runs are not the student's runs"
    monkeypatch.setenv("TBPTT_KIT_SITE", "owner/name")
    panel.panel.snapshot = lambda: page  # the default grid trains nine runs
    shown = panel._repr_mimebundle_()
    assert "Static snapshot" in shown["text/html"] and page in shown["text/html"]
    assert WIDGET_VIEW not in shown
