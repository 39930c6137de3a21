"""Sphinx configuration of the course's static site (make site).

    sphinx-build -b html -c docs . build/site      # from the repository root

The source folder is the repository root, so the README (the home page: docs/index.md,
``readme_as_home_page``), every notebooks/[0-9]*.ipynb, benchmarks/README.md, ARCHITECTURE.md, REFERENCES.md and every
docs/**/*.md page are picked up without listing them here. myst-nb executes each notebook at
build time (in smoke mode when TBPTT_KIT_SMOKE=1) and caches the result: the cache folder is
named after a hash of the kit's code, so a change to tbptt_kit/ (or to the solutions, or
smoke mode) starts a fresh cache and a page never shows outputs of older code.
TBPTT_KIT_SITE tells the notebooks' widget panels to show a static snapshot instead
(tbptt_kit/widgets/snapshot.py).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from repo_url import links, read_repo  # noqa: E402

REPO = read_repo(ROOT)
SMOKE = os.environ.get("TBPTT_KIT_SMOKE", "") not in ("", "0")


def code_hash(root: Path = ROOT, smoke: bool = SMOKE) -> str:
    """A hash of everything a notebook's outputs depend on besides its own cells: the kit's
    code and data files, the exercises' solutions, pyproject.toml, smoke mode."""
    digest = hashlib.sha256(f"smoke={smoke}".encode())
    files = sorted(p for p in (root / "tbptt_kit").rglob("*") if p.is_file() and p.suffix != ".pyc")
    files += sorted((root / "notebooks" / "solutions").rglob("*.py")) + [root / "pyproject.toml"]
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def cache_path(root: Path = ROOT, smoke: bool = SMOKE) -> Path:
    """build/jupyter_cache/<mode>-<code hash>: the executed notebooks of this code."""
    mode = "smoke" if smoke else "full"
    return root / "build" / "jupyter_cache" / f"{mode}-{code_hash(root, smoke)}"


def remove_stale_caches(root: Path = ROOT, smoke: bool = SMOKE) -> None:
    """Remove this mode's caches of older code (run by Sphinx, not on import)."""
    keep = cache_path(root, smoke)
    for old in keep.parent.glob(f"{keep.name.split('-')[0]}-*"):
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


project = "tbptt-kit"
author = "the tbptt-kit authors"
copyright = "the tbptt-kit authors"
root_doc = "docs/index"
include_patterns = [
    "docs/*.md",
    "docs/**/*.md",
    "notebooks/[0-9]*.ipynb",
    "benchmarks/README.md",
    "ARCHITECTURE.md",
    "REFERENCES.md",
]
exclude_patterns = ["build", ".venv", "**/.ipynb_checkpoints"]

extensions = ["myst_nb"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3  # README links such as benchmarks/README.md#epoch-time

nb_execution_mode = "cache"
nb_execution_cache_path = str(cache_path())
# Per cell. The course's longest notebook takes about two minutes in all beside a busy process
# (README); a cell still running after ten has hung. A cell the kernel never starts is found
# sooner, by watch_cells below.
nb_execution_timeout = 600
CELL_START_S = 60  # a kernel says "busy" within milliseconds of being asked to run a cell
STALL = "(a stall, not a slow cell)"  # in the error of a cell the kernel left alone
nb_execution_raise_on_error = True  # a failing cell fails the build (no half-executed page)
nb_execution_show_tb = True
nb_merge_streams = True
nb_ipywidgets_js = {}  # no live widget on a static page: each panel shows its snapshot

html_theme = "sphinx_book_theme"
html_title = "tbptt-kit"
html_theme_options = {
    "repository_url": links(REPO, "")["repository"],
    "repository_branch": "main",
    "path_to_docs": "",
    "use_repository_button": True,
    "launch_buttons": {
        "binderhub_url": "https://mybinder.org",
        "colab_url": "https://colab.research.google.com",
        "notebook_interface": "jupyterlab",
    },
    "show_toc_level": 2,
}
html_context = {"default_mode": "light"}
html_static_path = ["_static"]  # docs/_static
html_favicon = "_static/favicon.svg"
# The launch badges come from the site itself: a page needs no third-party server to show them.
LOCAL_BADGES = {
    "https://mybinder.org/badge_logo.svg": "_static/binder-badge.svg",
    "https://colab.research.google.com/assets/colab-badge.svg": "_static/colab-badge.svg",
}
suppress_warnings = ["myst.header"]


README_MARK = "% The README goes here"
RELATIVE_LINK = re.compile(r"\]\((?!https?:|#|mailto:|/)([^)\s]+)\)")


def readme_as_home_page(app, docname, source):
    """docs/index.md shows the README (without its title), links made relative to docs/."""
    if docname == "docs/index" and README_MARK in source[0]:
        readme = (ROOT / "README.md").read_text().split("\n", 2)[2]
        readme = RELATIVE_LINK.sub(lambda m: f"](../{m.group(1)})", readme)
        source[0] = source[0].replace(README_MARK, readme + "\n\n% ", 1)


def launch_links(app, pagename, templatename, context, doctree):
    """Snapshots link to the live panel: put this page's own Binder and Colab links in.
    Launch badges are shown from the site's own copies."""
    body = context.get("body", "")
    for remote, local in LOCAL_BADGES.items():
        body = body.replace(f'src="{remote}"', f'src="{context["pathto"](local, 1)}"')
    context["body"] = body
    if "tbptt-launch:" in body:
        url = links(REPO, f"{pagename}.ipynb")
        body = body.replace("tbptt-launch:binder", url["binder"])
        context["body"] = body.replace("tbptt-launch:colab", url["colab"])


IMAGE = re.compile(r'<img alt="[^"]*" src="([^"]*_images/([0-9a-f]{64})\.png)"')


def figure_alt_texts(notebooks: list[Path]) -> dict[str, str]:
    """sha256 of each PNG output -> its alt text (``tk.describe`` puts it in the output's
    metadata, ``image/png`` -> ``alt``), read from executed notebooks."""
    alts = {}
    for notebook in (path for path in notebooks if path.exists()):
        for cell in json.loads(notebook.read_text()).get("cells", []):
            for output in cell.get("outputs", []):
                png = output.get("data", {}).get("image/png")
                alt = output.get("metadata", {}).get("image/png", {}).get("alt")
                if png and alt:
                    data = base64.b64decode("".join(png) if isinstance(png, list) else png)
                    alts[hashlib.sha256(data).hexdigest()] = alt
    return alts


def figure_alt_text(app, pagename, templatename, context, doctree):
    """myst-nb names a figure's file by the sha256 of its PNG and sets its alt to the file
    name; put the figure's own alt text there instead (issue 22: alt text on the site).
    The outputs are in the page's executed copy (build/jupyter_execute) after a fresh run,
    and only in the execution cache when the page came from it, so both are read."""
    body = context.get("body", "")
    if "_images/" not in body:
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    cached = sorted(Path(app.config.nb_execution_cache_path).glob("executed/*/base.ipynb"))
    alts = figure_alt_texts([executed, *cached])

    def with_alt(match):
        alt = html.escape(alts.get(match.group(2), "a figure of the course"), quote=True)
        return f'<img alt="{alt}" src="{match.group(1)}"'

    context["body"] = IMAGE.sub(with_alt, body)


def home_page(app, exception):
    """index.html at the top of the site, so the folder opens from disk or any static host."""
    if exception is None and app.builder.format == "html":
        target = Path(app.outdir) / "index.html"
        target.write_text(
            '<!DOCTYPE html><html><head><meta charset="utf-8">'
            '<meta http-equiv="refresh" content="0; url=docs/index.html">'
            "<title>tbptt-kit</title></head>"
            '<body><a href="docs/index.html">tbptt-kit: the course</a></body></html>\n'
        )


# -- a stalled notebook ends the build within minutes, naming the notebook and the cell ----
def say(message: str) -> None:
    """One line on the terminal, also from a parallel reader (whose log Sphinx drops when
    the notebook fails)."""
    print(f"site: {message}", file=sys.__stderr__, flush=True)


def watch_cells(client_class, start_s: float = CELL_START_S, where=lambda client: "a notebook"):
    """Make ``client_class`` (nbclient's NotebookClient) end a stalled cell within two
    ``start_s``, naming the notebook (``where``) and the cell: nbclient alone waits for the
    whole per-cell timeout.

    The kernel announces each request it takes with a "busy" status on IOPub, at once, and
    "idle" when it is done, just before its reply on the shell socket. ipykernel 7 reads and
    answers the shell socket from a thread of its own, and a request (or a reply) can be left
    unread there: the kernel sits idle, the client waits (ipython/ipykernel#1471, #1529,
    #1554). So when a cell has not started, or has finished without a reply, for
    ``start_s`` seconds, the client sends a kernel_info request (a second message on the
    shell socket wakes one left there); after another ``start_s`` it gives up with a
    CellTimeoutError saying so. A cell the kernel is running is left to the per-cell
    timeout."""
    import asyncio

    from nbclient.exceptions import CellControlSignal, CellTimeoutError

    run_cell, read = client_class.async_execute_cell, client_class.process_message

    def process_message(self, msg, cell, cell_index):
        if msg.get("msg_type") == "status":
            self.cell_state = msg["content"].get("execution_state", self.cell_state)
        return read(self, msg, cell, cell_index)

    async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
        if cell.cell_type != "code" or not cell.source.strip():
            return await run_cell(self, cell, cell_index, *args, **kwargs)
        name = f"{where(self)}, cell {cell_index} ({cell.source.strip().splitlines()[0][:60]})"
        self.cell_state = "sent"  # then "busy", then "idle"
        task = asyncio.ensure_future(run_cell(self, cell, cell_index, *args, **kwargs))
        woken = False
        try:
            while True:
                seen = self.cell_state
                await asyncio.wait({task}, timeout=start_s)
                if task.done():
                    return await task
                if self.cell_state == "busy" or self.cell_state != seen:
                    woken = False  # it runs, or it moved on: wait again
                    continue
                stuck = "not started" if seen == "sent" else "finished but no reply"
                if woken:
                    break
                say(f"{name}: {stuck} after {start_s:g} s; waking the kernel's shell socket")
                self.kc.kernel_info()
                woken = True
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)  # nbclient's "Kernel died"
            for other in asyncio.all_tasks():  # nbclient's own watch on the kernel, left over
                if other.get_coro().__name__ == "_async_poll_kernel_alive":
                    other.cancel()
            say(f"{name}: the kernel left this cell {stuck}: stopping")
            raise CellTimeoutError(
                f"{name}: the kernel left this cell {stuck} for {2 * start_s:g} s, also after "
                f"a kernel_info request on its shell socket {STALL}"
            )
        except (CellControlSignal, RuntimeError) as e:  # a failed or timed-out cell
            if STALL not in str(e):
                what = getattr(e, "evalue", None) or str(e).strip().splitlines()[0]
                say(f"{name}: {getattr(e, 'ename', None) or type(e).__name__}: {what[:200]}")
            raise

    client_class.process_message = process_message
    client_class.async_execute_cell = async_execute_cell
    client_class.execute_cell = _run_sync(async_execute_cell)


def _run_sync(coroutine_function):
    from nbclient.util import run_sync

    return run_sync(coroutine_function)


NOTEBOOK = {"path": "a notebook"}  # the notebook this reader executes now


def run_again_after_a_stall(start):
    """myst-nb's ``start_client`` (it executes the notebook ``self.path``) that names the
    notebook for watch_cells and, when a cell of it stalled, runs it once more in a fresh
    kernel: a stranded message is rare, a second one in a row is not luck and fails."""

    def start_client(self):
        NOTEBOOK["path"] = str(Path(self.path).relative_to(ROOT)) if self.path else "a notebook"
        try:
            return start(self)
        except Exception as e:  # myst-nb's ExecutionError, from the cell's error
            if STALL not in str(e.__cause__):
                raise
            say(f"{NOTEBOOK['path']}: running it once more, in a fresh kernel")
            return start(self)

    return start_client


def create_execution_cache(path) -> None:
    """The execution cache's database (jupyter-cache's sqlite file), made before Sphinx forks
    its parallel readers: two readers that both find none both create its tables, and one
    fails ("table settings already exists") on every fresh cache."""
    from jupyter_cache.cache.db import create_db

    Path(path).mkdir(parents=True, exist_ok=True)
    create_db(path).dispose()  # no connection is carried into the forked readers


def setup(app):
    from nbclient import NotebookClient

    watch_cells(NotebookClient, where=lambda client: NOTEBOOK["path"])
    from myst_nb.core.execute.cache import NotebookClientCache

    NotebookClientCache.start_client = run_again_after_a_stall(NotebookClientCache.start_client)
    remove_stale_caches()
    create_execution_cache(nb_execution_cache_path)
    os.environ["TBPTT_KIT_SITE"] = REPO  # the notebooks' widget panels show their snapshot
    app.connect("source-read", readme_as_home_page)
    app.connect("html-page-context", launch_links)
    app.connect("html-page-context", figure_alt_text)
    app.connect("build-finished", home_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
