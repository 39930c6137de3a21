"""How the kit's figures look: colours a colour-blind reader tells apart, a line style and a
marker for every curve as well, text that scales with matplotlib's font size, alt text.

- ``curve_style(i)``: colour, line style and marker of the i-th curve of a figure; two curves
  never differ by colour alone.
- ``lecture_style()``: one call before the figures of a lecture: every figure of the kit
  (and any other matplotlib figure) gets projector-sized text and thicker lines.
  ``lecture_style(False)`` goes back to the settings found. TBPTT_KIT_LECTURE=1 in the
  environment calls it when the kit is imported (``make executed`` does).
- ``describe(fig, alt)``: the figure's alt text, a sentence saying what it shows. It is
  printed as a caption under the cell (a screen reader reads it) and, when the figure is
  displayed in Jupyter, goes into the output's metadata (``image/png`` -> ``alt``), where a
  static-site build can put it in the HTML ``alt`` attribute.
"""

from __future__ import annotations

import os

import matplotlib as mpl

__all__ = ["LINESTYLES", "MARKERS", "PALETTE", "curve_style", "describe", "lecture_style"]

# Okabe & Ito's palette (2008), safe for the common colour-vision deficiencies; black last.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
LINESTYLES = ["-", "--", ":", "-."]
MARKERS = ["", "o", "s", "^", "D", "v", "x", "*"]

LECTURE = {  # projector sizes: 18 pt text makes "small" labels 15 pt
    "font.size": 18,
    "axes.titlesize": "large",
    "axes.labelsize": "medium",
    "xtick.labelsize": "small",
    "ytick.labelsize": "small",
    "legend.fontsize": "small",
    "figure.titlesize": "large",
    "lines.linewidth": 2.5,
    "lines.markersize": 8,
}
_saved: dict = {}


def curve_style(i: int, n_points: int | None = None) -> dict:
    """Keyword arguments for ``ax.plot`` of the i-th curve: colour, line style and marker
    (markers spaced out on long curves, ``n_points`` long)."""
    style = {
        "color": PALETTE[i % len(PALETTE)],
        "linestyle": LINESTYLES[i % len(LINESTYLES)],
        "marker": MARKERS[(i // len(LINESTYLES) + i) % len(MARKERS)] or None,
    }
    if n_points and n_points > 25:
        style["markevery"] = max(n_points // 12, 1)
    return style


def lecture_style(on: bool = True) -> None:
    """Projector-sized text (18 pt, no label below 14 pt) and thicker lines for every figure
    drawn from now on; ``lecture_style(False)`` restores the settings found."""
    if on:
        _saved.update({k: mpl.rcParams[k] for k in LECTURE if k not in _saved})
        mpl.rcParams.update(LECTURE)
    else:
        mpl.rcParams.update(_saved)
        _saved.clear()


def describe(fig, alt: str, caption: bool = True):
    """Give ``fig`` (a Figure or an Axes' figure) its alt text; print it as a caption unless
    ``caption`` is False (figures redrawn live). Returns the figure."""
    fig = getattr(fig, "figure", fig)
    fig.alt_text = alt
    _show_alt_in_outputs()
    if caption:
        print(f"Figure: {alt}")
    return fig


def _show_alt_in_outputs() -> None:
    """Wrap the running IPython's PNG formatter for figures (the inline backend's) so that a
    figure with alt text is displayed as (png, {"alt": ...}). No-op outside IPython."""
    try:
        from IPython import get_ipython
        from matplotlib.figure import Figure
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    formatter = shell.display_formatter.formatters["image/png"]
    try:
        png_of = formatter.lookup_by_type(Figure)
    except KeyError:
        return  # no inline figures here
    if getattr(png_of, "adds_alt", False):
        return

    def png_with_alt(fig):
        data, alt = png_of(fig), getattr(fig, "alt_text", None)
        return (data, {"alt": alt}) if alt and data is not None else data

    png_with_alt.adds_alt = True
    formatter.for_type(Figure, png_with_alt)


if os.environ.get("TBPTT_KIT_LECTURE") == "1":
    lecture_style()
