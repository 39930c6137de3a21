"""The three places that list the kit's dependencies must agree.

pyproject.toml (pip), environment.yml (local conda) and binder/environment.yml
(Binder) each name the runtime dependencies; when one changes, the others must too.
"""

import re
from pathlib import Path

import pytest
import yaml  # PyYAML, installed with jupyterlab (via jupyter-events)

try:
    import tomllib  # Python 3.11+
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]
ENV_FILES = [REPO / "environment.yml", REPO / "binder" / "environment.yml"]

CONDA_TO_PIP = {"pytorch-cpu": "torch", "pytorch": "torch"}  # conda-forge name -> pip name
NOT_DEPENDENCIES = {"python", "pip"}  # the interpreter and the installer themselves
ENV_ONLY = {"jupyterlab"}  # the environments also bring the notebook app


def split(requirement: str) -> tuple[str, str]:
    """'numpy>=1.24' -> ('numpy', '>=1.24'); names lower-cased, '_' read as '-'."""
    match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", requirement)
    name, spec = match.group(1).lower().replace("_", "-"), match.group(2)
    return name, spec.split(";")[0].replace(" ", "")


def pyproject_dependencies() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return dict(split(r) for r in project["dependencies"])


def conda_dependencies(path: Path) -> dict[str, str]:
    deps = {}
    for entry in yaml.safe_load(path.read_text())["dependencies"]:
        if isinstance(entry, str):
            name, spec = split(entry)
            if name not in NOT_DEPENDENCIES:
                deps[CONDA_TO_PIP.get(name, name)] = spec
    return deps


def pip_lines(path: Path) -> list[str]:
    entries = yaml.safe_load(path.read_text())["dependencies"]
    return [line for e in entries if isinstance(e, dict) for line in e.get("pip", [])]


def test_environments_name_the_same_dependencies_as_pyproject():
    expected = pyproject_dependencies()
    for path in ENV_FILES:
        found = conda_dependencies(path)
        for name in ENV_ONLY:
            found.pop(name, None)
        where = path.relative_to(REPO)
        assert sorted(found) == sorted(expected), f"{where} and pyproject.toml differ"
        assert found == expected, f"{where}: version bounds differ from pyproject.toml"


def test_environments_install_the_kit_from_this_repository():
    # conda and mamba run pip from the environment file's folder, so the local
    # requirement must point from there to the repository root.
    for path in ENV_FILES:
        targets = [line.removeprefix("-e").strip() for line in pip_lines(path)]
        local = [t for t in targets if t.startswith(".")]
        assert len(local) == 1, f"{path.relative_to(REPO)}: expected one local pip install"
        assert (path.parent / local[0]).resolve() == REPO


def test_binder_folder_holds_only_environment_yml():
    # repo2docker would also act on any other config file found there (postBuild, ...)
    assert sorted(p.name for p in (REPO / "binder").iterdir()) == ["environment.yml"]
