"""Every figure the kit draws (``course/plots.py`` and the figures of the lens, the memory
sweep, the recorder and the learner), readable from the back of a lecture hall: under
``tk.lecture_style()`` no text is below 14 pt, each figure carries alt text, and no two
curves of a legend differ by colour alone. The style itself: ``test_style.py``."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.text import Text  # noqa: E402

import tbptt_kit as tk  # noqa: E402
from tbptt_kit.course import plots  # noqa: E402
from tbptt_kit.course.callbacks import Recorder  # noqa: E402
from tbptt_kit.course.memory import SweepRow, plot_memory_sweep  # noqa: E402

rng = np.random.default_rng(0)
U, Y = rng.standard_normal(3000) * 0.1, rng.standard_normal(3000) * 0.1


def cut_at(k: int) -> np.ndarray:
    """A gradient by lag that fades, exactly zero from lag k on (60 lags)."""
    return np.r_[np.exp(-np.arange(k) / 9), np.zeros(60 - k)]


LAGS = {
    "full BPTT": cut_at(60),
    "TBPTT(16)": cut_at(16),
    "TBPTT(4, 12)": cut_at(12),
    "TBPTT(8)": cut_at(8),
    "checkpointed": cut_at(60),
}


def recorder_figure():
    rec = Recorder()
    rec.losses, rec.epochs = (
        list(np.linspace(1, 0.1, 40)),
        [{"valid_loss": 0.5}, {"valid_loss": 0.2}],
    )
    return rec.plot_losses()


def show_results_figure():
    u = rng.standard_normal((400, 1)).astype(np.float32)
    dls = tk.create_dls(
        (u[:300], u[:300]), (u[300:], u[300:]), bs=2, win_sz=40, stp_sz=20, sub_seq_len=20
    )
    learn = tk.RNNLearner(dls, "lstm", hidden_size=4, sub_seq_len=20, seed=0, progress=False)
    learn.show_results(max_n=2)
    return plt.gcf()


def sweep_rows():
    return [
        SweepRow(w, s, w * (s or w), w * (s or w), 2 * w * (s or w))
        for s in (None, 50, 100)
        for w in (100, 1000, 10000)
    ]


FIGURES = {
    "plot_record": lambda: plots.plot_record(
        U, Y, fs=610.0, parts={"train": slice(0, 2000), "test": slice(2000, 3000)}, title="rec"
    ),
    "plot_sources": lambda: plots.plot_sources(
        {"simulated": (U, Y), "official": (Y, U)}, 610.0, zoom=slice(100, 300)
    ),
    "plot_windows": lambda: plots.plot_windows(U, Y, win_sz=500, stp_sz=250),
    "plot_free_run": lambda: plots.plot_free_run(Y, Y + 0.01, fs=610.0, title="free run"),
    "plot_lab_losses": lambda: plots.plot_lab_losses(
        np.linspace(1, 0.1, 50), {f"run {i}": np.linspace(1, 0.2 * i, 50) for i in range(1, 6)}
    ),
    "plot_error_by_position": lambda: plots.plot_error_by_position(
        {k: v + 0.1 for k, v in LAGS.items()}, units="mV"
    ),
    "plot_sub_windows": lambda: plots.plot_sub_windows(500, 100, bs=4, n_batches=2),
    "plot_grad_norms": lambda: plots.plot_grad_norms(
        {k: v + 0.1 for k, v in LAGS.items()}, max_norm=1.0
    ),
    "plot_grad_by_lag": lambda: tk.plot_grad_by_lag(LAGS),
    "plot_memory_sweep": lambda: plot_memory_sweep(sweep_rows()),
    "Recorder.plot_losses": recorder_figure,
    "RNNLearner.show_results": show_results_figure,
}


def draw(name):
    plt.close("all")
    fig = FIGURES[name]()
    return getattr(fig, "figure", fig)


def texts(fig):
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


@pytest.fixture
def lecture():
    tk.lecture_style()
    yield
    tk.lecture_style(False)


@pytest.mark.parametrize("name", FIGURES)
def test_every_text_is_projector_sized_under_lecture_style(name, lecture):
    fig = draw(name)
    fig.canvas.draw()  # tick labels exist only once drawn
    small = {t.get_text(): t.get_fontsize() for t in texts(fig) if t.get_fontsize() < 14}
    assert not small, f"{name}: text below 14 pt: {small}"


@pytest.mark.parametrize("name", FIGURES)
def test_every_figure_carries_alt_text(name, capsys):
    fig = draw(name)
    assert len(getattr(fig, "alt_text", "")) > 40, f"{name}: no alt text"
    if name != "plot_lab_losses":  # redrawn live: alt text only, no caption
        assert f"Figure: {fig.alt_text}" in capsys.readouterr().out


def curve_key(line: Line2D):
    hollow = (
        line.get_markerfacecolor() == "none"
        if line.get_marker() not in ("", "None", None)
        else False
    )
    return (str(line.get_linestyle()), str(line.get_marker()), hollow, round(line.get_linewidth()))


@pytest.mark.parametrize("name", FIGURES)
def test_no_two_curves_differ_by_colour_alone(name):
    fig = draw(name)
    for ax in fig.axes:
        curves = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
        keys = [curve_key(ln) for ln in curves]
        same = [
            (a.get_label(), b.get_label())
            for i, a in enumerate(curves)
            for b in curves[i + 1 :]
            if curve_key(a) == curve_key(b)
        ]
        assert not same, f"{name}: told apart by colour only: {same}"
        assert len(set(keys)) == len(keys)


def test_controls_default_text_is_small_and_restored():
    fig = draw("plot_grad_by_lag")
    fig.canvas.draw()
    default = min(t.get_fontsize() for t in texts(fig))
    assert default < 14  # the lecture test is not passed by default settings
    tk.lecture_style()
    tk.lecture_style(False)
    fig = draw("plot_grad_by_lag")
    fig.canvas.draw()
    assert min(t.get_fontsize() for t in texts(fig)) == default
    same_style = Line2D([0], [0], color="red", label="a"), Line2D([0], [0], color="blue", label="b")
    assert curve_key(same_style[0]) == curve_key(same_style[1])  # colour alone is caught


def test_live_plot_follows_matplotlibs_dpi():
    with plt.rc_context({"figure.dpi": 150}):
        assert plots.plot_lab_losses([1.0, 0.5]).dpi == 150


@pytest.mark.slow
def test_alt_text_reaches_the_notebook_output_metadata():
    """In a real kernel with the inline backend, a kit figure's PNG output carries its alt
    text (``metadata["image/png"]["alt"]``), for a static site's HTML ``alt``."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%matplotlib inline\nimport tbptt_kit as tk"),
        nbformat.v4.new_code_cell(
            "from tbptt_kit.course.plots import plot_sub_windows\nplot_sub_windows();"
        ),
    ]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[1].outputs
    (png,) = [o for o in outputs if "image/png" in o.get("data", {})]
    alt = png.metadata["image/png"]["alt"]
    assert alt.startswith("2 batches of 4 windows of 500 steps")
    assert any(o.get("text", "").startswith(f"Figure: {alt}") for o in outputs)
