"""`make install` picks PyTorch's CPU-only build when PyTorch's CPU index answers, and still
installs from the default index alone. Checked with pip's own resolver (``pip install
--dry-run --report``) against two local indexes: a "default" one holding torch 2.13.0 (on
PyPI, the CUDA build) and a "CPU" one holding 2.13.0+cpu. Nothing is downloaded."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.local_server import serving

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from torch_spec import torch_spec  # noqa: E402

VERSION = "2.13.0"


def fake_wheel(folder: Path, version: str) -> None:
    """A tiny wheel named torch ``version`` and a PEP 503 page listing it."""
    project = folder / "torch"
    project.mkdir(parents=True)
    name = f"torch-{version}-py3-none-any.whl"
    info = f"torch-{version}.dist-info"
    with zipfile.ZipFile(project / name, "w") as whl:
        whl.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n"
        )
        whl.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        whl.writestr(f"{info}/RECORD", "")
    href = name.replace("+", "%2B")
    (project / "index.html").write_text(f'<html><body><a href="{href}">{name}</a></body></html>')


@pytest.fixture(scope="module")
def indexes(tmp_path_factory):
    """URLs of the local default index, the CPU index, and a CPU index without 2.13.0."""
    root = tmp_path_factory.mktemp("indexes")
    fake_wheel(root / "default", VERSION)
    fake_wheel(root / "cpu", f"{VERSION}+cpu")
    fake_wheel(root / "cpu-old", "2.2.0+cpu")
    with serving(root) as base:
        yield {name: f"{base}/{name}" for name in ("default", "cpu", "cpu-old")}


def resolved_torch(spec: list[str], default_index: str, tmp_path: Path) -> dict:
    """What pip would install for ``spec``, with ``default_index`` standing in for PyPI."""
    report = tmp_path / "report.json"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--isolated", "--dry-run", "--no-deps",
         "--ignore-installed", "--quiet", "--report", str(report),
         "--index-url", default_index, *spec],
        check=True, timeout=120,
    )  # fmt: skip
    (item,) = json.loads(report.read_text())["install"]
    return {"version": item["metadata"]["version"], "url": item["download_info"]["url"]}


@pytest.mark.parametrize("system", ["Linux", "Windows"])
def test_cpu_build_when_the_cpu_index_answers(indexes, tmp_path, system):
    spec = torch_spec(VERSION, system=system, index=indexes["cpu"])
    got = resolved_torch(spec, indexes["default"], tmp_path)
    assert got["version"] == f"{VERSION}+cpu"
    assert got["url"].startswith(indexes["cpu"])


def test_plain_build_when_only_the_default_index_answers(indexes, tmp_path):
    unreachable = "http://127.0.0.1:9/cpu"  # the discard port: nothing answers there
    spec = torch_spec(VERSION, system="Linux", index=unreachable)
    assert spec == [f"torch=={VERSION}"]
    got = resolved_torch(spec, indexes["default"], tmp_path)
    assert got == {"version": VERSION, "url": got["url"]} and got["url"].startswith(
        indexes["default"]
    )


def test_plain_build_when_the_cpu_index_lacks_the_version(indexes, tmp_path):
    spec = torch_spec(VERSION, system="Linux", index=indexes["cpu-old"])
    assert resolved_torch(spec, indexes["default"], tmp_path)["version"] == VERSION


def test_macos_asks_the_default_index_without_probing(indexes):
    assert torch_spec(VERSION, system="Darwin", index=indexes["cpu"]) == [f"torch=={VERSION}"]


def test_make_install_uses_the_resolution(indexes):
    """The Makefile's torch line runs tools/torch_spec.py (shown by make -n, nothing run)."""
    out = subprocess.run(
        ["make", "-n", "-B", "-s", ".venv/.installed", f"PYTHON={sys.executable}"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"tools/torch_spec.py {VERSION}" in out


# -- the class-wide environment for a JupyterHub (hub/) ---------------------------------------
def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==")
            found[name.lower().replace("_", "-")] = version
    return found


def test_hub_requirements_take_cpu_torch_and_the_kit_from_a_tag():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")

    text = (ROOT / "hub" / "requirements.txt").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    version, repo = project["version"], project["urls"]["Repository"]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text.splitlines()
    assert f"torch=={VERSION}+cpu" in text.splitlines()
    assert f"tbptt-kit @ git+{repo}@v{version}" in text, "the kit from this version's tag"
    locked = pins(ROOT / "hub" / "constraints.txt")
    for name, pinned in pins(ROOT / "hub" / "requirements.txt").items():
        assert locked.get(name) == pinned, f"{name}: requirements {pinned}, lock {locked.get(name)}"
