"""How the kit's figures look (``course/style.py``): curve styles told apart without colour,
``lecture_style`` on and back off (also from the environment), and alt text given by
``describe``. Every figure of the kit under these rules: ``test_plots.py``."""

import importlib

import matplotlib

matplotlib.use("Agg")

import matplotlib as mpl  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from tbptt_kit.course import style  # noqa: E402
from tbptt_kit.course.style import LECTURE, curve_style, describe, lecture_style  # noqa: E402


def test_the_first_curves_differ_by_more_than_colour():
    """Line style and marker tell the curves of a figure apart for a reader who cannot see
    the colours: no two of the first 16 share both."""
    looks = [(curve_style(i)["linestyle"], curve_style(i)["marker"]) for i in range(16)]
    assert len(set(looks)) == len(looks)
    assert curve_style(0, n_points=500)["markevery"] == 500 // 12  # markers spaced out
    assert "markevery" not in curve_style(0, n_points=20)


def test_lecture_style_sets_projector_sizes_and_restores_what_it_found():
    with mpl.rc_context({"font.size": 11, "lines.linewidth": 1.25}):
        lecture_style()
        lecture_style()  # twice: still restores the settings found before the first call
        assert mpl.rcParams["font.size"] == 18 and mpl.rcParams["lines.linewidth"] == 2.5
        lecture_style(False)
        assert mpl.rcParams["font.size"] == 11 and mpl.rcParams["lines.linewidth"] == 1.25
    assert LECTURE["font.size"] == 18


def test_lecture_style_from_the_environment(monkeypatch):
    monkeypatch.setenv("TBPTT_KIT_LECTURE", "1")
    fresh = importlib.reload(style)  # as when the kit is imported in a new kernel
    try:
        assert mpl.rcParams["font.size"] == 18
    finally:
        fresh.lecture_style(False)
    assert mpl.rcParams["font.size"] != 18
    monkeypatch.setenv("TBPTT_KIT_LECTURE", "0")  # the control: anything else leaves it off
    importlib.reload(style)
    assert mpl.rcParams["font.size"] != 18


def test_describe_gives_the_figure_its_alt_text_and_prints_it_as_a_caption(capsys):
    fig, ax = plt.subplots()
    assert describe(ax, "A line going up.") is fig and fig.alt_text == "A line going up."
    assert capsys.readouterr().out == "Figure: A line going up.\n"
    describe(fig, "Redrawn live.", caption=False)
    assert fig.alt_text == "Redrawn live." and capsys.readouterr().out == ""
    plt.close(fig)


@pytest.fixture(autouse=True)
def no_lecture_style_left_behind():
    yield
    lecture_style(False)
