"""pytest setup for the browser tests (JupyterLab 4 in headless Chromium).

These tests are slow and need Chromium, so `make test` does not collect them:
they run only with TBPTT_E2E=1, which `make e2e` sets.

Settings, all optional (environment variables):
  E2E_NOTEBOOKS     globs of the notebooks to run   (default: notebooks/[0-9]*.ipynb)
  E2E_LAB_NOTEBOOK  glob of the lab-panel notebook  (default: notebooks/05_*.ipynb)
  E2E_SCREENSHOTS   where screenshots go            (default: e2e-screenshots/)
  E2E_TIMEOUT       seconds for Run All, per notebook (default: 240)
  E2E_CHROMIUM      the browser binary              (default: /usr/bin/chromium)
"""

import os
import sys
from pathlib import Path

import pytest

# The fixture notebooks are data for the self-tests, never tests themselves.
collect_ignore = ["fixtures"]
if os.environ.get("TBPTT_E2E") != "1":
    collect_ignore += ["test_notebooks_in_browser.py", "test_site.py"]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    """One `jupyter lab` for the whole run (TBPTT_KIT_SMOKE=1 in its kernels)."""
    from lab_driver import LabServer

    server = LabServer(tmp_path_factory.mktemp("jupyter-lab"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium, driven by Playwright, with a fresh profile."""
    from lab_driver import open_browser
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = open_browser(playwright)
        yield context
        context.close()


@pytest.fixture
def page(browser, lab_server):
    """A new browser tab per test; its kernels are shut down afterwards."""
    tab = browser.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    tab.close()
    lab_server.shutdown_kernels()


@pytest.fixture(scope="session")
def screenshots():
    folder = Path(os.environ.get("E2E_SCREENSHOTS", REPO / "e2e-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pytest_terminal_summary(terminalreporter):
    """How long Run All took per notebook, and its slowest cell (the CI budget is tight)."""
    driver = sys.modules.get("lab_driver")
    if driver is None or not driver.TIMINGS:
        return
    terminalreporter.section("Run All times in JupyterLab")
    for path, total, cell, seconds in driver.TIMINGS:
        terminalreporter.write_line(f"{total:6.1f} s  {path}   slowest: {cell} {seconds:.1f} s")
