"""Every course notebook, run as a student runs it: JupyterLab 4 in a real browser.

For each notebook: open it, Run > Run All Cells, wait for the kernel, then check
that no cell shows an error (cells tagged `raises-exception` may), that every code
cell ran, and that every widget was drawn as a widget.  See lab_driver.py and
lab_panel.py for the details, conftest.py for the settings.  Run with `make e2e`.

The self-tests at the bottom run the same checks on tests/e2e/fixtures/ and prove
that a broken notebook really fails and a good one passes.
"""

import os
from pathlib import Path

import pytest
from lab_driver import LabNotebook, notebook_paths
from lab_panel import drive_lab_panel

pytestmark = pytest.mark.e2e

LAB_GLOB = os.environ.get("E2E_LAB_NOTEBOOK", "notebooks/05_*.ipynb")
LAB_NOTEBOOK = (notebook_paths(LAB_GLOB) or [None])[0]
# The lab notebook gets the same checks in test_lab_panel: run it only once.
NOTEBOOKS = [
    path
    for path in notebook_paths(os.environ.get("E2E_NOTEBOOKS", "notebooks/[0-9]*.ipynb"))
    if path != LAB_NOTEBOOK
]
FIXTURES = "tests/e2e/fixtures"


def run_and_check(page, lab_server, screenshots, path):
    """Open, Run All, check; fail with a message naming the notebook and cells."""
    nb = LabNotebook(page, lab_server, path, screenshots)
    nb.open()
    nb.run_all()
    found = nb.problems()
    if found:
        pytest.fail(nb.report(found, f"FAILED-{Path(path).stem}"), pytrace=False)
    nb.screenshot(Path(path).stem)
    return nb


@pytest.mark.parametrize(
    "path",
    NOTEBOOKS or [pytest.param(None, marks=pytest.mark.skip(reason="no notebooks yet"))],
)
def test_notebook_runs_clean(page, lab_server, screenshots, path):
    run_and_check(page, lab_server, screenshots, path)


@pytest.mark.parametrize("path", [LAB_NOTEBOOK])
def test_lab_panel(page, lab_server, screenshots, path):
    """Run All is clean, then: the sliders change the predicted memory, an invalid
    pair is explained, Train draws the loss plot and adds a row to the results."""
    if path is None:
        pytest.skip(f"no lab notebook matches {LAB_GLOB} yet")
    nb = run_and_check(page, lab_server, screenshots, path)
    found = drive_lab_panel(nb, f"lab-panel-{Path(path).stem}")
    found += nb.problems()
    if found:
        pytest.fail(nb.report(found, f"FAILED-lab-panel-{Path(path).stem}"), pytrace=False)


# --- self-tests: the checks catch what they should ---------------------------------


def test_self_check_good_notebook_passes(page, lab_server, screenshots):
    nb = LabNotebook(page, lab_server, f"{FIXTURES}/good_widget.ipynb", screenshots)
    nb.open()
    nb.run_all()
    # Move the slider: the plot is redrawn inside the Output widget, without errors.
    with nb.interacting(2):
        nb.cell(2).locator(".noUi-handle").press("ArrowRight")
    assert nb.cell(2).locator(".jupyter-widgets img").count() == 1
    assert nb.problems() == []
    nb.screenshot("selftest-good_widget")


def test_self_check_broken_notebook_fails(page, lab_server, screenshots):
    nb = LabNotebook(page, lab_server, f"{FIXTURES}/broken_widget.ipynb", screenshots)
    nb.open()
    nb.run_all()
    with nb.interacting(3):  # a button whose callback raises
        nb.cell(3).locator("button").click()
    with nb.interacting(4):  # a slider whose observer raises
        nb.cell(4).locator(".noUi-handle").press("ArrowRight")
    found = nb.problems()
    message = nb.report(found, "selftest-broken_widget")
    print(message)  # shown with `pytest -s`: what a failing notebook looks like

    expected = [  # in cell order, one problem per broken cell
        ("cell 2 (`out = widgets.Output()`): a widget shows a traceback", "ValueError"),
        ("cell 3 (`def on_click(button):`): a widget callback raised", "button callback"),
        ("cell 4 (`def on_change(change):`): a widget callback raised", "slider observer"),
        ("cell 5 (`# What a student sees", "shown as plain text 'IntSlider(value=3)'"),
        ("cell 6 (`# A widget view whose model", "widget"),
        ("cell 7 (`1 / 0  # a plain error", "raised ZeroDivisionError"),
        ("cell 8 (`print(", "did not run"),
    ]
    assert message.startswith(f"{FIXTURES}/broken_widget.ipynb: 7 problem(s)"), message
    for problem, (start, detail) in zip(found, expected, strict=True):
        assert problem.startswith(start) and detail in problem, (start, message)
    assert Path(screenshots, "selftest-broken_widget.png").stat().st_size > 0


def test_self_check_lab_panel_driver(page, lab_server, screenshots):
    """The lab-panel test, on a stand-in panel that follows the DOM contract."""
    path = f"{FIXTURES}/fake_lab_panel.ipynb"
    nb = run_and_check(page, lab_server, screenshots, path)
    found = drive_lab_panel(nb, "selftest-lab-panel") + nb.problems()
    assert found == [], nb.report(found, "FAILED-selftest-lab-panel")
    assert nb.page.locator(".tbptt-results tr").count() == 2  # header + one run
