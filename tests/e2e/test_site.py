"""The course's static site in a real browser: every page, its images, search and launch links.

The site is built once per run in smoke mode (`make site SMOKE=1`: build/site-smoke/, the
executed notebooks cached in build/jupyter_cache/), served by a plain static HTTP server, and
opened in headless Chromium:

- every page loads with no JavaScript error of the site's own, every <img> loads, and every
  figure of a notebook has its own alt text (tk.describe's);
- the navigation of the home page reaches every notebook's page;
- the search page finds "sub_seq_len";
- each widget cell shows its static snapshot (notebooks 01 and 05), with its own launch links;
- on every notebook's page the Binder and Colab links point at the address in pyproject.toml
  and at that page's notebook; on every page every Binder or Colab link points at it;
- the home page also opens from disk (file://);
- screenshots of three pages go to e2e-screenshots/.
Run with `make e2e`.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_DIR / "tools"))
import repo_url  # noqa: E402

SITE = REPO_DIR / "build" / "site-smoke"
NOTEBOOKS = sorted(p.stem for p in (REPO_DIR / "notebooks").glob("[0-9]*.ipynb"))
WIDGET_PAGES = ("01_silverbox_and_windows", "05_the_lab")
REPO = repo_url.read_repo(REPO_DIR)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def site_url():
    """Build the smoke site (cached notebooks), serve it on a free port; yields its URL."""
    env = dict(os.environ, TBPTT_KIT_SMOKE="1")
    sphinx = Path(sys.executable).parent / "sphinx-build"
    subprocess.run(
        [str(sphinx), "-b", "html", "-q", "-E", "-j", "auto", "-c", "docs", ".", str(SITE)],
        cwd=REPO_DIR,
        env=env,
        check=True,
    )
    handler = functools.partial(QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def pages() -> list[str]:
    """Every HTML page of the site but Sphinx's own index pages, relative to its root."""
    skip = {"genindex.html", "search.html", "index.html"}
    return sorted(
        str(p.relative_to(SITE))
        for p in SITE.rglob("*.html")
        if p.name not in skip and "_static" not in p.parts and ".doctrees" not in p.parts
    )


def open_page(browser, url: str):
    """Open ``url``; returns the tab and the JavaScript errors of the site's own (a script
    that fails, an error logged from the site's pages or files; not a third-party server
    that cannot be reached from CI, such as MathJax's CDN)."""
    tab, errors = browser.new_page(), []
    origin = url.split("/")[2] if url.startswith("http") else ""

    def console(msg):
        where = msg.location.get("url", "")
        if msg.type == "error" and (not where.startswith("http") or where.split("/")[2] == origin):
            errors.append(f"{msg.text} ({where})")

    tab.on("pageerror", lambda err: errors.append(str(err)))
    tab.on("console", console)
    tab.goto(url, wait_until="load")
    return tab, errors


NO_ALT = "() => [...document.images].filter(i => i.src.includes('/_images/') && (!i.alt || i.alt.includes('_images/') || i.alt === 'a figure of the course')).map(i => i.src.slice(-20))"
BROKEN_IMAGES = "() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src.slice(0, 80))"
LINKS = "(sel) => [...document.querySelectorAll(sel)].map(a => a.href)"


def test_every_page_loads_with_its_images_and_agrees_with_pyproject(browser, site_url, screenshots):
    found, seen = [], pages()
    assert len(seen) >= len(NOTEBOOKS) + 2, f"too few pages: {seen}"
    for rel in seen:
        tab, errors = open_page(browser, f"{site_url}/{rel}")
        tab.wait_for_function("() => [...document.images].every(i => i.complete)")
        if errors:
            found.append(f"{rel}: JavaScript errors {errors}")
        if broken := tab.evaluate(BROKEN_IMAGES):
            found.append(f"{rel}: broken images {broken}")
        if no_alt := tab.evaluate(NO_ALT):
            found.append(f"{rel}: figures without their own alt text {no_alt}")
        launch = tab.evaluate(
            LINKS, 'a[href*="mybinder.org/v2"], a[href*="colab.research.google.com/github"]'
        )
        stray = [h for h in launch if f"/{REPO}/" not in h]
        if stray:
            found.append(f"{rel}: launch links not at {REPO}: {stray}")
        stem = Path(rel).stem
        if rel.startswith("notebooks/"):
            nb = f"notebooks/{stem}.ipynb"
            binder = [h for h in launch if "mybinder.org" in h and h.endswith(nb)]
            colab = [h for h in launch if "colab.research" in h and h.endswith(nb)]
            if not binder or not colab or len(binder) + len(colab) != len(launch):
                found.append(f"{rel}: Binder/Colab links {launch} do not all open {nb}")
        if stem in WIDGET_PAGES:
            snapshot = tab.locator(".tbptt-snapshot")
            if snapshot.count() < 1 or "Static snapshot" not in snapshot.first.inner_text():
                found.append(f"{rel}: the widget cell shows no static snapshot")
            elif snapshot.first.locator("table").count() < 1:
                found.append(f"{rel}: the snapshot has no table")
            if tab.locator(".jupyter-widgets, .widget-view").count():
                found.append(f"{rel}: a live widget's placeholder is on the static page")
        if stem in WIDGET_PAGES and tab.locator(".tbptt-snapshot").count():
            tab.locator(".tbptt-snapshot").first.scroll_into_view_if_needed()
        if stem in ("index", *WIDGET_PAGES):
            tab.screenshot(path=str(screenshots / f"site-{stem}.png"), full_page=False)
        tab.close()
    assert not found, "\n".join(found)


def test_navigation_reaches_every_notebook(browser, site_url):
    tab, errors = open_page(browser, f"{site_url}/docs/index.html")
    hrefs = tab.evaluate(LINKS, "nav a, .bd-sidebar a")
    tab.close()
    missing = [nb for nb in NOTEBOOKS if not any(h.endswith(f"notebooks/{nb}.html") for h in hrefs)]
    assert not missing, f"the home page's navigation does not reach {missing}"
    assert not errors, errors


def test_search_finds_sub_seq_len(browser, site_url):
    tab, errors = open_page(browser, f"{site_url}/search.html?q=sub_seq_len")
    tab.wait_for_selector("#search-results ul li", timeout=30_000)
    hits = tab.locator("#search-results ul li").count()
    tab.close()
    assert hits >= 3, f"search for sub_seq_len found {hits} pages"
    assert not errors, errors


def test_the_site_opens_from_disk(browser, site_url):
    tab, errors = open_page(browser, (SITE / "index.html").as_uri())
    tab.wait_for_url("**/docs/index.html")
    titles = tab.evaluate(LINKS, "nav a")
    tab.close()
    assert any(h.endswith("00_welcome.html") for h in titles), "from disk: no link to notebook 00"
