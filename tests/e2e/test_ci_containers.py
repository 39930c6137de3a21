"""What CI and containers change: running as root, and MPLBACKEND=Agg in the environment.

These run without a browser (in `make test`): they check the pieces the browser suite and
`make lab` rely on.
"""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from lab_driver import LabServer, _free_port

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
JUPYTER = str(Path(sys.executable).parent / "jupyter")


def lab_command() -> list[str]:
    """The command `make lab` runs here (read with make -n), less the notebook folder."""
    if shutil.which("make") is None:
        pytest.skip("no make here")
    done = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", "lab"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    line = [x for x in done.stdout.splitlines() if "jupyter lab" in x][-1]
    words = line.split()
    assert words[-1] == "notebooks/"
    return words[words.index("lab") + 1 : -1]  # the flags between `lab` and the folder


def test_make_lab_allows_root_only_as_root():
    flags = lab_command()
    assert ("--allow-root" in flags) == (os.geteuid() == 0)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_make_lab_opens_jupyterlab_as_root(tmp_path):
    """As root, `jupyter lab` with make's flags serves; without them it refuses."""
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"))
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "cfg")
    base = [JUPYTER, "lab", "--no-browser", f"--ServerApp.root_dir={tmp_path}"]
    refused = subprocess.run(
        [*base, "--ServerApp.port=0"], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0 and "Running as root is not recommended" in refused.stderr

    port = _free_port()
    cmd = [*base, *lab_command(), f"--ServerApp.port={port}", "--IdentityProvider.token=t"]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline, status = time.monotonic() + 60, None
        while status is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                url = f"http://127.0.0.1:{port}/api/status?token=t"
                status = json.load(urllib.request.urlopen(url, timeout=2))
            except OSError:
                time.sleep(0.5)
        assert status is not None, f"jupyter lab exited ({proc.poll()}) or did not answer"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_lab_server_drops_mplbackend(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    env = LabServer(tmp_path).env()
    assert "MPLBACKEND" not in env and env["TBPTT_KIT_SMOKE"] == "1"


def images_from(cells: list[str], env: dict) -> int:
    """Run code cells in a fresh kernel with ``env``; count the PNG images it sends out."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", env=env)
    images = 0
    try:
        for code in cells:
            msg_id = kc.execute(code)
            while True:
                msg = kc.get_iopub_msg(timeout=60)
                content = msg["content"]
                if msg["msg_type"] in ("display_data", "execute_result"):
                    images += "image/png" in content["data"]
                if msg["msg_type"] == "error":
                    raise AssertionError("\n".join(content["traceback"]))
                if (
                    msg["msg_type"] == "status"
                    and content["execution_state"] == "idle"
                    and msg["parent_header"].get("msg_id") == msg_id
                ):
                    break
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return images


@pytest.mark.parametrize("backend", ["Agg", None])
def test_fixture_plots_show_under_any_backend(tmp_path, backend):
    """The fixture notebooks draw their plots even when the kernel runs with MPLBACKEND=Agg."""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update(JUPYTER_RUNTIME_DIR=str(tmp_path))
    if backend:
        env["MPLBACKEND"] = backend
    for name, setup, expected in [
        ("good_widget.ipynb", [], 1),  # redraw() on first display
        ("fake_lab_panel.ipynb", ["train.click()"], 5),  # one plot per fake epoch
    ]:
        nb = json.loads((FIXTURES / name).read_text())
        cells = [
            "".join(c["source"])
            for c in nb["cells"]
            if c["cell_type"] == "code" and "raises-exception" not in c["metadata"].get("tags", [])
        ]
        assert images_from(cells + setup, env) == expected, (name, backend)
