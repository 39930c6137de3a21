"""Drive JupyterLab 4 in headless Chromium, the way a student meets a notebook.

Used by test_notebooks_in_browser.py.  Three pieces:

* LabServer    -- a private `jupyter lab` on a free localhost port.
* open_browser -- Debian's Chromium, driven by Playwright (no Playwright browser download).
* LabNotebook  -- opens one notebook, runs Run > Run All Cells, and reports what a
                  student would see go wrong.

What counts as a problem (see LabNotebook.problems):

1. A cell shows an error: an error output, or a traceback drawn inside a widget
   (an Output widget that caught the exception with `with out:`).  Cells tagged
   `raises-exception` (exercise stubs) are allowed to fail.
2. A code cell never ran (its prompt is `[ ]:` or `[*]:` once Run All is over).
3. A widget did not render as a widget: "Error displaying widget", "Loading widget..."
   that never goes away, no widget element inside a widget output, or the plain-text
   fallback (`IntSlider(value=3)`) that appears when the widget front-end is missing.
4. A widget callback raised.  Errors from a Button.on_click handler or an observer run
   by a front-end change never reach a cell; JupyterLab only counts them in its Log
   Console.  We listen to the kernel's iopub channel in the page and collect every
   `error` message (and every stderr stream with a traceback) whose parent is not an
   execute_request.  They are attributed to the cell being interacted with.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
# The network is closed: keep Chromium from phoning home (it floods refused connections).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RUN_TIMEOUT_S = float(os.environ.get("E2E_TIMEOUT", "240"))  # per notebook, for Run All

# JupyterLab user settings for the test server only (a throw-away settings folder).
LAB_SETTINGS = {
    # Keep every cell in the DOM (the default lazily attaches off-screen cells), and
    # record each cell's run time in its metadata (for the timing summary).
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "recordTiming": True},
    # Never write outputs back into the repo's notebooks.
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    # No news or update toasts (and no network requests for them).
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

# text/plain reprs that mean "a widget was shown as text, not drawn".
WIDGET_REPR = re.compile(
    r"^\s*(HBox|VBox|Box|GridBox|Tab|Accordion|Output|Button|ToggleButtons?|Dropdown|"
    r"Select|SelectionSlider|IntSlider|FloatSlider|FloatLogSlider|IntRangeSlider|"
    r"FloatRangeSlider|Checkbox|Play|IntProgress|FloatProgress|interactive)\("
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def notebook_paths(pattern: str) -> list[str]:
    """Repo-relative paths matching one or more space-separated globs, sorted."""
    found = {p for glob in pattern.split() for p in REPO.glob(glob) if p.is_file()}
    return sorted(str(p.relative_to(REPO)) for p in found)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """`jupyter lab` from this venv, on localhost, with a random token."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.log_path = workdir / "jupyter-lab.log"
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        """The server's environment, which its kernels inherit: a student's, not the CI's.

        MPLBACKEND is dropped: CI machines often set it to Agg, which would stop plt.show()
        from drawing in the notebook (ipykernel picks the inline backend only when it is unset).
        """
        env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
        env.update(
            TBPTT_KIT_SMOKE="1",  # the kit's smoke mode: tiny data, few epochs
            JUPYTERLAB_SETTINGS_DIR=str(self.workdir / "lab-settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(self.workdir / "workspaces"),
            JUPYTER_CONFIG_DIR=str(self.workdir / "config"),
            JUPYTER_RUNTIME_DIR=str(self.workdir / "runtime"),
        )
        return env

    def start(self, timeout: float = 90) -> None:
        settings = self.workdir / "lab-settings"
        for plugin, values in LAB_SETTINGS.items():
            path = settings / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = self.env()
        cmd = [
            str(Path(sys.executable).parent / "jupyter"),
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={REPO}",
            "--ServerApp.allow_root=True",  # CI runs as root
            # Opening a notebook saves a checkpoint copy: keep those out of the repo.
            f"--FileCheckpoints.root_dir={self.workdir / 'checkpoints'}",
            # window.jupyterapp lets the test read the notebook model and kernel messages.
            "--LabApp.expose_app_in_browser=True",
        ]
        log = open(self.log_path, "w")  # noqa: SIM115 -- closed with the process
        # A new session (process group) so that stop() can end it and its children.
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited early:\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status")
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"jupyter lab did not answer /api/status:\n{self.log_tail()}")

    def api(self, method: str, path: str):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def lab_url(self, rel_path: str) -> str:
        # `reset` starts from an empty workspace: only this notebook is open.
        return f"http://127.0.0.1:{self.port}/lab/tree/{quote(rel_path)}?token={self.token}&reset"

    def shutdown_kernels(self) -> None:
        """Kernels run in their own process groups: end them through the API."""
        try:
            for session in self.api("GET", "/api/sessions"):
                self.api("DELETE", f"/api/sessions/{session['id']}")
            for kernel in self.api("GET", "/api/kernels"):
                self.api("DELETE", f"/api/kernels/{kernel['id']}")
        except OSError:
            pass

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.shutdown_kernels()
        pgid = os.getpgid(self.proc.pid)
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def open_browser(playwright):
    """Headless Debian Chromium with a fresh profile; returns a browser context."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            f"{CHROMIUM} not found: `make e2e` installs Debian's chromium "
            "(or set E2E_CHROMIUM to a Chrome/Chromium binary)"
        )
    return playwright.chromium.launch_persistent_context(
        tempfile.mkdtemp(prefix="e2e-chromium-"),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        viewport={"width": 1400, "height": 1000},
    )


# --- JavaScript run in the page -------------------------------------------------------

# Find the notebook panel, then record kernel messages that a student never sees in a cell.
JS_ATTACH = """async (path) => {
  const app = window.jupyterapp;
  const panel = [...app.shell.widgets('main')].find(w => w.context && w.context.path === path);
  await panel.sessionContext.ready;
  const e2e = {panel, started: false, context: null, errors: []};
  window.__e2e = e2e;
  panel.sessionContext.iopubMessage.connect((_, msg) => {
    const type = msg.header.msg_type;
    const parent = (msg.parent_header || {}).msg_type || '';
    if (type === 'execute_input') e2e.started = true;
    if (parent === 'execute_request') return;  // those show up in the cells
    let text = null;
    if (type === 'error') text = msg.content.traceback.join('\\n');
    if (type === 'stream' && msg.content.name === 'stderr' && /Traceback/.test(msg.content.text))
      text = msg.content.text;
    if (text !== null) e2e.errors.push({parent, text, context: e2e.context});
  });
}"""

JS_KERNEL_STATUS = """() => {
  const k = window.__e2e.panel.sessionContext.session?.kernel;
  return k ? k.status : 'no kernel';
}"""

JS_RUN_STATE = """() => {
  const e2e = window.__e2e;
  const k = e2e.panel.sessionContext.session?.kernel;
  const prompts = [...e2e.panel.content.node.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
  return {started: e2e.started, status: k ? k.status : 'no kernel',
          running: prompts.filter(p => p.textContent.includes('*')).length};
}"""

# What each cell shows: its prompt, its outputs (model + DOM) and outputs drawn inside widgets.
JS_SNAPSHOT = """() => window.__e2e.panel.content.widgets.map(cell => {
  const info = {type: cell.model.type, prompt: '', outputs: [], nested: []};
  if (cell.model.type !== 'code') return info;
  info.prompt = cell.node.querySelector('.jp-InputArea-prompt')?.textContent || '';
  const model = cell.model.outputs;
  const children = cell.outputArea.widgets;
  for (let j = 0; j < model.length; j++) {
    const out = model.get(j).toJSON();
    const data = out.data || {};
    const view = data['application/vnd.jupyter.widget-view+json'];
    const node = children[j] ? children[j].node.querySelector('.jp-OutputArea-output') : null;
    info.outputs.push({
      type: out.output_type, ename: out.ename || '', evalue: out.evalue || '',
      widget: view ? String(view.model_id || '') : null,
      plain: Object.keys(data).length === 1 ? String(data['text/plain'] || '') : '',
      text: node ? node.innerText.slice(0, 300) : '',
      drawn: node ? node.querySelector('.jupyter-widgets') !== null : false,
    });
  }
  for (const node of cell.node.querySelectorAll('.jupyter-widgets .jp-OutputArea-output')) {
    info.nested.push({mime: node.getAttribute('data-mime-type') || '',
                      text: node.innerText.slice(0, 3000)});
  }
  return info;
})"""


# The first cell still showing [*].
JS_FIRST_RUNNING = """() => window.__e2e.panel.content.widgets.findIndex(cell =>
  (cell.node.querySelector('.jp-InputArea-prompt')?.textContent || '').includes('*'))"""

# Seconds each code cell took, from the timing JupyterLab records in cell metadata.
JS_CELL_SECONDS = """() => window.__e2e.panel.content.widgets.map(cell => {
  const t = cell.model.getMetadata('execution') || {};
  const start = Date.parse(t['iopub.execute_input']), end = Date.parse(t['shell.execute_reply']);
  return end >= start ? (end - start) / 1000 : null;
})"""

# (notebook, Run All seconds, slowest cell label, its seconds), for the summary
# printed at the end of the run (see conftest.py): the CI budget is tight.
TIMINGS: list[tuple[str, float, str, float]] = []


def _cell_number(problem: str) -> int:
    """Sort key: problems about cell N in cell order, the others first."""
    match = re.match(r"cell (\d+) ", problem)
    return int(match.group(1)) if match else -1


def _last_line(text: str) -> str:
    lines = [line.strip() for line in ANSI.sub("", text).splitlines() if line.strip()]
    return lines[-1] if lines else ""


class LabNotebook:
    """One notebook opened in JupyterLab in one browser tab."""

    def __init__(self, page, server: LabServer, rel_path: str, screenshots: Path):
        self.page = page
        self.server = server
        self.path = rel_path
        self.screenshots = screenshots
        self.cells = json.loads((REPO / rel_path).read_text())["cells"]
        self.found: list[str] = []  # problems met while running (time-outs, dead kernel)
        self.timed_out = False

    # --- naming things in messages ---
    def source(self, i: int) -> str:
        src = self.cells[i]["source"]
        return "".join(src) if isinstance(src, list) else src

    def label(self, i) -> str:
        if not isinstance(i, int):
            return str(i)
        first = next((ln for ln in self.source(i).splitlines() if ln.strip()), "")
        return f"cell {i} (`{first.strip()[:70]}`)"

    def allowed_to_fail(self, i: int) -> bool:
        return "raises-exception" in self.cells[i].get("metadata", {}).get("tags", [])

    def cell(self, i: int):
        """Playwright locator of cell i (cells counted from 0, as in the .ipynb)."""
        return self.page.locator(".jp-Notebook .jp-Cell").nth(i)

    # --- actions ---
    def open(self, timeout: float = 90) -> None:
        self.page.goto(self.server.lab_url(self.path))
        self.page.wait_for_function(
            "(path) => window.jupyterapp && [...window.jupyterapp.shell.widgets('main')]"
            ".some(w => w.context && w.context.path === path)",
            arg=self.path,
            timeout=timeout * 1000,
        )
        self.page.evaluate(JS_ATTACH, self.path)
        deadline = time.monotonic() + timeout
        while self.page.evaluate(JS_KERNEL_STATUS) != "idle":
            # A notebook without kernel metadata asks which kernel: take the default.
            accept = self.page.locator(".jp-Dialog .jp-mod-accept")
            if accept.count():
                accept.first.click()
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.path}: the kernel never became idle")
            self.page.wait_for_timeout(250)

    def run_all(self, timeout: float = RUN_TIMEOUT_S) -> None:
        """Run > Run All Cells from the menu bar, then wait until nothing is running."""
        if not any(c["cell_type"] == "code" and "".join(c["source"]).strip() for c in self.cells):
            return
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        started = time.monotonic()
        deadline = started + timeout
        quiet = 0  # consecutive polls that saw nothing running
        while quiet < 2:
            state = self.page.evaluate(JS_RUN_STATE)
            if state["status"] in ("dead", "no kernel"):
                self.found.append(f"the kernel died during Run All ({state['status']})")
                return
            done = state["started"] and state["status"] == "idle" and not state["running"]
            quiet = quiet + 1 if done else 0
            if time.monotonic() > deadline:
                self.timed_out = True
                busy = self.page.evaluate(JS_FIRST_RUNNING)
                self.found.append(
                    f"{self.label(busy)}: Run All did not finish within {timeout:.0f} s; "
                    f"this cell was still running ({state['running']} cell(s) still [*])"
                )
                return
            self.page.wait_for_timeout(300)
        seconds = self.page.evaluate(JS_CELL_SECONDS)
        slowest = max(range(len(seconds)), key=lambda i: seconds[i] or 0)
        TIMINGS.append(
            (self.path, time.monotonic() - started, self.label(slowest), seconds[slowest] or 0)
        )

    def wait_idle(self, timeout: float = 60) -> None:
        """Wait until the kernel has been idle for two polls in a row."""
        self.page.wait_for_timeout(300)  # let a click's comm message reach the kernel
        deadline, quiet = time.monotonic() + timeout, 0
        while quiet < 2 and time.monotonic() < deadline:
            quiet = quiet + 1 if self.page.evaluate(JS_KERNEL_STATUS) == "idle" else 0
            self.page.wait_for_timeout(250)

    @contextmanager
    def interacting(self, cell_index: int):
        """Attribute kernel errors raised while the block runs to cell_index."""
        self.page.evaluate("(i) => { window.__e2e.context = i; }", cell_index)
        try:
            yield
            self.wait_idle()
        finally:
            self.page.evaluate("() => { window.__e2e.context = null; }")

    # --- checks ---
    def problems(self, settle_s: float = 15) -> list[str]:
        """Everything a student would see go wrong so far (see the module docstring)."""
        deadline = time.monotonic() + settle_s
        while True:  # give widget views a moment to draw
            snapshot = self.page.evaluate(JS_SNAPSHOT)
            pending = any(
                o["widget"] and not o["drawn"] and "Error displaying" not in o["text"]
                for c in snapshot
                for o in c["outputs"]
            )
            if not pending or time.monotonic() > deadline:
                break
            self.page.wait_for_timeout(250)

        found = list(self.found)
        for i, (cell, info) in enumerate(zip(self.cells, snapshot, strict=False)):
            if info["type"] != "code":
                continue
            where = self.label(i)
            if not self.allowed_to_fail(i):
                for o in info["outputs"]:
                    if o["type"] == "error":
                        found.append(f"{where}: raised {o['ename']}: {o['evalue']}")
                for n in info["nested"]:
                    if "stderr" in n["mime"] and "Traceback" in n["text"]:
                        found.append(
                            f"{where}: a widget shows a traceback: {_last_line(n['text'])}"
                        )
            queued = self.timed_out and "*" in info["prompt"]  # already reported
            ran = re.search(r"\[\d+\]", info["prompt"])
            if "".join(cell["source"]).strip() and not ran and not queued:
                found.append(
                    f"{where}: did not run (prompt {info['prompt'].strip() or '[ ]:'}); "
                    "an error in an earlier cell stops Run All"
                )
            for o in info["outputs"]:
                if not o["widget"]:  # not a widget (or an empty, hidden one)
                    continue
                if "Error displaying widget" in o["text"]:
                    found.append(f"{where}: {o['text'].strip()}")
                elif not o["drawn"]:
                    shown = o["text"].strip() or "nothing"
                    found.append(f"{where}: a widget was not drawn (the page shows {shown!r})")
            plain = [o["plain"] for o in info["outputs"]]
            plain += [n["text"] for n in info["nested"] if n["mime"] == "text/plain"]
            for text in plain:
                if WIDGET_REPR.match(text):
                    found.append(
                        f"{where}: a widget is shown as plain text {text.strip()[:60]!r} "
                        "(is the ipywidgets front-end extension missing?)"
                    )

        for err in self.page.evaluate("() => window.__e2e.errors"):
            context = err["context"]
            place = self.label(context) if context is not None else "outside any cell"
            found.append(
                f"{place}: a widget callback raised ({err['parent']}): {_last_line(err['text'])}"
            )
        return sorted(found, key=_cell_number)

    def report(self, found: list[str], shot: str) -> str:
        """Failure message naming the notebook and cells; saves a screenshot of the page."""
        cells = [n for n in map(_cell_number, found) if n >= 0]
        if cells:  # show the first cell that went wrong
            self.cell(min(cells)).scroll_into_view_if_needed()
        path = self.screenshot(shot)
        lines = [f"{self.path}: {len(found)} problem(s) in JupyterLab (cells counted from 0)"]
        lines += [f"  - {p}" for p in found]
        lines.append(f"screenshot: {path}")
        return "\n".join(lines)

    def screenshot(self, name: str, locator=None) -> Path:
        self.screenshots.mkdir(parents=True, exist_ok=True)
        path = self.screenshots / f"{name}.png"
        (locator or self.page).screenshot(path=str(path))
        return path
