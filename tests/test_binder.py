"""Binder, checked without building it: what repo2docker will do with binder/.

mybinder.org builds the image with repo2docker. `jupyter-repo2docker --no-build --debug`
prints the Dockerfile it would build, without Docker. From it:

- the environment file it picks is binder/environment.yml (not the root environment.yml,
  which is for laptops), at the Python version that file names;
- the repository is copied into the image *before* that environment is built: its last pip
  line installs the kit from the repository (`-e ..`), which must be there by then;
- that pip line, read from the folder of the environment file (conda and mamba run pip
  there), is the repository root, whose pyproject.toml is the kit.
The control: without the local pip line repo2docker builds the environment before copying the
repository, and the test of the order sees it. The image itself is built and a notebook run in
it on GitHub (.github/workflows/binder.yml), not here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

try:
    import tomllib  # Python 3.11+
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
REPO2DOCKER = Path(sys.executable).parent / "jupyter-repo2docker"
ENV_UPDATE = re.compile(r'env update -p \$\{NB_PYTHON_PREFIX\} --file "([^"]+)"')


def dockerfile(repo: Path) -> list[str]:
    """The Dockerfile repo2docker would build for ``repo``, then its log, as lines."""
    if not REPO2DOCKER.exists():
        pytest.skip("jupyter-repo2docker is not installed (pip install -e '.[test]')")
    done = subprocess.run([str(REPO2DOCKER), "--no-build", "--debug", "--user-id", "1000",
                           "--user-name", "jovyan", str(repo)],
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    return done.stdout.splitlines() + done.stderr.splitlines()


def order(lines: list[str]) -> tuple[int, int, str]:
    """(line copying the repository, line building the environment, the file it builds)."""
    copy = [i for i, line in enumerate(lines) if re.match(r"COPY .*\bsrc/ \$\{REPO_DIR\}", line)]
    build = [(i, m.group(1)) for i, line in enumerate(lines) if (m := ENV_UPDATE.search(line))]
    assert len(copy) == 1 and len(build) == 1, "repo2docker's Dockerfile changed its shape"
    return copy[0], build[0][0], build[0][1]


@pytest.fixture(scope="module")
def lines():
    return dockerfile(ROOT)


def test_repo2docker_picks_binder_environment_yml(lines):
    env = yaml.safe_load((ROOT / "binder" / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert order(lines)[2] == "binder/environment.yml"
    assert f"Building conda environment for {python}" in lines, (
        f"repo2docker does not build the {python} that binder/environment.yml names"
    )


def test_the_repository_is_copied_before_the_environment_is_built(lines):
    copy, build, _ = order(lines)
    assert copy < build


def test_the_environment_installs_the_kit_from_the_repository():
    env = yaml.safe_load((ROOT / "binder" / "environment.yml").read_text())
    pip = [line for d in env["dependencies"] if isinstance(d, dict) for line in d.get("pip", [])]
    local = [p.split()[-1] for p in pip if p.split()[-1].startswith(".")]
    assert len(local) == 1, f"binder/environment.yml: no local pip line installs the kit: {pip}"
    root = (ROOT / "binder" / local[0]).resolve()
    assert root == ROOT
    assert tomllib.loads((root / "pyproject.toml").read_text())["project"]["name"] == "tbptt-kit"


def test_control_without_the_local_pip_line_the_order_flips(tmp_path):
    (tmp_path / "binder").mkdir()
    text = (ROOT / "binder" / "environment.yml").read_text()
    text = "\n".join(line for line in text.splitlines() if "-e .." not in line)
    (tmp_path / "binder" / "environment.yml").write_text(text)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    copy, build, name = order(dockerfile(tmp_path))
    assert name.endswith("environment.yml") and build < copy
