"""The window explorer of notebook 01 (``course/widgets/explorer.py``), driven headless: set
sliders, check what changed."""

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets
import numpy as np
import pytest

from tbptt_kit.core.windows import WindowDataset, WindowLoader
from tbptt_kit.course.widgets import WindowExplorer


@pytest.fixture
def explorer():
    t = np.arange(10_000)
    return WindowExplorer(np.sin(t / 50), np.cos(t / 50), win_sz=500, stp_sz=250)


def loader_counts(n, win_sz, stp_sz, bs=16):
    record = (np.zeros(n, np.float32), np.zeros(n, np.float32))
    ds = WindowDataset([record], win_sz, stp_sz)
    return len(ds), len(WindowLoader(ds, bs))


def test_panel_is_a_widget_with_dom_hooks(explorer):
    assert isinstance(explorer.panel, widgets.VBox)
    assert "tbptt-window-explorer" in explorer.panel._dom_classes
    assert "tbptt-window-explorer-win-sz" in explorer.win_sz._dom_classes
    assert "tbptt-window-explorer-plot" in explorer.out._dom_classes
    for slider in (explorer.win_sz, explorer.stp_sz):
        assert isinstance(slider, widgets.IntSlider)
        assert slider.continuous_update is False  # redraw on release, not on every pixel
    assert explorer.n_draws == 1 and explorer.figure is not None  # drawn once on creation


def test_counts_match_the_loader(explorer):
    assert (explorer.n_windows, explorer.steps_per_epoch) == loader_counts(10_000, 500, 250)
    explorer.stp_sz.value = 10
    assert (explorer.n_windows, explorer.steps_per_epoch) == loader_counts(10_000, 500, 10)
    explorer.win_sz.value = 1000
    assert (explorer.n_windows, explorer.steps_per_epoch) == loader_counts(10_000, 1000, 10)


def test_moving_a_slider_redraws_and_rewrites_the_summary(explorer):
    before_summary, before_figure, draws = explorer.summary.value, explorer.figure, explorer.n_draws
    explorer.stp_sz.value = 500
    assert explorer.n_draws == draws + 1
    assert explorer.figure is not before_figure
    assert explorer.summary.value != before_summary
    assert "back to back" in explorer.summary.value
    # the figure shows the windows the sliders ask for: one bar per window, each win_sz long
    bars = explorer.figure.axes[2].collections
    assert len(bars) == min(explorer.max_drawn, len(explorer.starts[explorer.starts < 4000]))
    x0, width = (
        bars[1].get_paths()[0].vertices[:, 0].min(),
        np.ptp(bars[1].get_paths()[0].vertices[:, 0]),
    )
    assert (x0, width) == (500, 500)
    assert "win_sz=500, stp_sz=500" in explorer.figure.axes[2].get_title()


def test_summary_explains_overlap_and_gaps(explorer):
    explorer.win_sz.value, explorer.stp_sz.value = 500, 100
    assert "overlap by 400 samples (80%)" in explorer.describe()
    assert "up to 5 windows" in explorer.describe()
    explorer.stp_sz.value = 700
    assert "200 samples between windows are never trained on" in explorer.describe()


def test_unused_tail(explorer):
    explorer.win_sz.value, explorer.stp_sz.value = 600, 700
    starts = explorer.starts
    assert explorer.unused_tail == 10_000 - (starts[-1] + 600)
    assert f"{explorer.unused_tail} samples at the end" in explorer.describe()


def test_setting_the_same_value_does_not_redraw(explorer):
    draws = explorer.n_draws
    explorer.win_sz.value = explorer.win_sz.value
    assert explorer.n_draws == draws


def test_slider_limits_follow_the_record():
    short = WindowExplorer(np.zeros(1200), np.zeros(1200), win_sz=5000, stp_sz=5000)
    assert short.win_sz.max <= 1200 and short.win_sz.value <= short.win_sz.max
    assert short.n_windows >= 1


def test_rejects_mismatched_signals():
    with pytest.raises(ValueError, match="differ in length"):
        WindowExplorer(np.zeros(100), np.zeros(99))


def test_displays_as_its_panel(explorer):
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.panel.model_id


def test_the_window_axis_counts_whole_windows():
    t = np.arange(10_000)
    few = WindowExplorer(np.sin(t / 50), np.cos(t / 50), win_sz=1500, stp_sz=1000)
    ax = few.figure.axes[2]
    assert len(ax.collections) == 3  # three windows start in the first 4000 samples
    ticks = [tick for tick in ax.get_yticks() if -0.5 <= tick <= 2.5]
    assert ticks and all(float(tick).is_integer() for tick in ticks)


def test_the_package_exports_the_notebooks_names():
    import tbptt_kit.course.widgets as w

    assert {"Lab", "LabPanel", "LiveLossCB", "WindowExplorer"} <= set(w.__all__)
    assert all(getattr(w, name) for name in w.__all__)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        w.Nope  # noqa: B018
