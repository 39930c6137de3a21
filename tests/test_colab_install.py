"""The Colab cell: installs the kit on Colab, leaves Colab's torch alone, does nothing elsewhere.

Every notebook's first code cell runs `pip install <the kit>` when `google.colab` is imported
(tools/repo_url.py writes it). The real test runs notebook 00 in a fresh virtual environment
that already holds a torch of *another version* (2.12.0, where the kit pins 2.13.0 for its own
venv), with the cell pointed at a copy of this checkout (TBPTT_KIT_INSTALL):

- The torch in that venv is a distribution pip sees as `torch 2.12.0` (its dist-info lives in
  the venv, so pip may uninstall it), built here as a small wheel whose .pth file lends it the
  real torch's code from the kit's own venv. A command that pinned or upgraded torch would
  replace it (the control below asks pip exactly that); the cell must not.
- Everything else the notebook needs (numpy, ipykernel, ...) is lent the same way from the
  kit's venv, outside the new venv's prefix (pip never uninstalls there), so the test needs no
  network: pip runs with PIP_NO_INDEX and without build isolation, as Colab's pip config might.
- Before the cell runs, `import tbptt_kit` fails in the new venv; after it, the kit is an
  installed copy in that venv and torch's dist-info is byte for byte the one installed first.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import site
import subprocess
import sys
import types
import zipfile
from pathlib import Path
from unittest import mock

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import repo_url  # noqa: E402

OTHER_TORCH = "2.12.0"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def colab_cell(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code")


# -- the cell itself, without installing anything -----------------------------------------
def run_cell(source: str, on_colab: bool) -> mock.MagicMock:
    with mock.patch.dict(sys.modules), mock.patch("subprocess.run") as run:
        if on_colab:
            sys.modules["google.colab"] = types.ModuleType("google.colab")
        else:
            sys.modules.pop("google.colab", None)
        exec(compile(source, "<colab cell>", "exec"), {})
    return run


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_cell_does_nothing_off_colab_and_never_names_torch(path):
    source = colab_cell(path)
    assert not run_cell(source, on_colab=False).called
    run = run_cell(source, on_colab=True)
    (args,), _ = run.call_args
    assert args[1:4] == ["-m", "pip", "install"]
    assert args[-1] == repo_url.links(repo_url.read_repo(ROOT), "")["install"]
    assert not any("torch" in a or a in ("-U", "--upgrade", "--force-reinstall") for a in args)


# -- the cell run in a fresh venv with another torch ----------------------------------------
def wheel(dest: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """A minimal wheel: the given files plus its dist-info (METADATA, WHEEL, RECORD)."""
    info = f"{name}-{version}.dist-info"
    files = dict(files)
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    files[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    out = dest / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return out


def lend(site_packages: Path, shim: Path) -> None:
    """Every package of the kit's venv but the kit and torch's dist-info, as symlinks."""
    shim.mkdir()
    for entry in site_packages.iterdir():
        name = entry.name.lower()
        if name.startswith(("tbptt_kit", "__editable__", "torch-")) or name.endswith(".pth"):
            continue
        (shim / entry.name).symlink_to(entry)


def in_venv(venv: Path, code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in the venv's Python, away from the checkout (no tbptt_kit/ in its cwd)."""
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, cwd=venv
    )


@pytest.mark.slow
def test_colab_cell_installs_the_kit_leaves_torch_and_notebook_00_runs(tmp_path, monkeypatch):
    venv, shim = tmp_path / "venv", tmp_path / "lent"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    lend(Path(site.getsitepackages()[0]), shim)
    torch_wheel = wheel(tmp_path, "torch", OTHER_TORCH, {"_lend_real_torch.pth": f"{shim}\n"})
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_NO_BUILD_ISOLATION="0")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "-q", "--no-deps", str(torch_wheel)], check=True, env=env)  # fmt: skip
    site_dir = Path(
        in_venv(venv, "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    )
    torch_info = site_dir / f"torch-{OTHER_TORCH}.dist-info"
    before = {p.name: p.read_bytes() for p in torch_info.iterdir()}
    assert in_venv(venv, "import torch; torch.zeros(1)").returncode == 0
    assert in_venv(venv, "import tbptt_kit").returncode != 0, "the kit leaked into the venv"

    # The control: pip sees this torch and would replace it when a command asks for another.
    newer = wheel(tmp_path, "torch", "2.13.5", {})
    report = subprocess.run([*pip, "install", "--dry-run", "--quiet", "--report", "-",
                             "--find-links", str(newer.parent), "torch==2.13.5"],
                            capture_output=True, text=True, env=env, check=True)  # fmt: skip
    assert [i["metadata"]["version"] for i in json.loads(report.stdout)["install"]] == ["2.13.5"]

    # A copy of the checkout's package, for the cell's `pip install` (TBPTT_KIT_INSTALL).
    kit = tmp_path / "kit"
    shutil.copytree(
        ROOT / "tbptt_kit", kit / "tbptt_kit", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, kit / name)
    kernels = tmp_path / "jupyter" / "kernels" / "colab-venv"
    kernels.mkdir(parents=True)
    argv = [str(venv / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (kernels / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "colab", "language": "python"})
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("TBPTT_KIT_INSTALL", str(kit))
    monkeypatch.setenv("TBPTT_KIT_SMOKE", "1")

    nb = nbformat.read(ROOT / "notebooks" / "00_welcome.ipynb", as_version=4)
    pretend = "import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')"
    nb.cells.insert(0, nbformat.v4.new_code_cell(pretend))
    NotebookClient(nb, timeout=300, kernel_name="colab-venv",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()  # fmt: skip

    where = in_venv(venv, "import tbptt_kit; print(tbptt_kit.__file__)").stdout.strip()
    assert Path(where).is_relative_to(site_dir), f"the kit was not installed into the venv: {where}"
    assert {p.name: p.read_bytes() for p in torch_info.iterdir()} == before, "torch was touched"
    versions = in_venv(venv, "from importlib.metadata import version as v; print(v('torch'))")
    assert versions.stdout.strip() == OTHER_TORCH
