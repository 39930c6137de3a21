"""One address for the repository: every badge and launch link agrees with pyproject.toml.

pyproject.toml's [project.urls] Repository names the repository; the README's Binder badge,
each notebook's Binder and Colab badges (opening that notebook) and its Colab install cell are
made from it (tools/repo_url.py); the site reads it when built (docs/conf.py, checked in the
browser by tests/e2e/test_site.py). `make repo-url REPO=owner/name` re-points them all and
changes nothing else.
"""

from __future__ import annotations

import difflib
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import repo_url  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
REPO = repo_url.read_repo(ROOT)


def test_every_link_agrees_with_pyproject():
    assert repo_url.problems(ROOT) == []


def test_readme_has_the_binder_badge():
    readme = (ROOT / "README.md").read_text()
    assert repo_url.links(REPO, "notebooks/00_welcome.ipynb")["binder"] in readme


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_opens_with_its_own_launch_badges_and_the_colab_cell(path):
    nb = nbformat.read(path, as_version=4)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "remove-cell" in first_code.metadata.get("tags", []), (
        "the site would show the Colab cell"
    )
    assert repo_url.launch_badges(REPO, f"notebooks/{path.name}") in nb.cells[0].source
    assert first_code.source == repo_url.colab_cell(REPO), (
        f"{path.name}: the first code cell is not the Colab install cell; add it with "
        f".venv/bin/python tools/repo_url.py --add-launch {path.relative_to(ROOT)}"
    )


def copy_of_the_repository(dest: Path) -> Path:
    for name in ("pyproject.toml", "README.md", "Makefile", "CITATION.cff"):
        shutil.copy(ROOT / name, dest / name)
    for folder in ("tools", "notebooks", "docs", "hub"):
        if (ROOT / folder).exists():
            shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns("*.py[co]"))
    return dest


def test_make_repo_url_changes_only_the_links(tmp_path):
    fork = copy_of_the_repository(tmp_path)
    before = {p: p.read_text() for p in repo_url.linked_files(fork)}
    subprocess.run(
        ["make", "-s", "repo-url", "REPO=someone/fork", f"PYTHON={sys.executable}"],
        cwd=fork,
        check=True,
        capture_output=True,
    )
    assert repo_url.read_repo(fork) == "someone/fork"
    assert repo_url.problems(fork) == []
    owner, name = REPO.split("/")
    changed = 0
    for path, old in before.items():
        new = path.read_text()
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0):
            if line.startswith("+") and not line.startswith("+++"):
                changed += 1
                back = line[1:].replace("someone/fork", REPO)
                back = back.replace("someone.github.io/fork", f"{owner}.github.io/{name}")
                assert back in old.splitlines(), f"{path.name}: not only a link changed: {line}"
    assert changed >= 2 + len(NOTEBOOKS), "the README, pyproject and every notebook re-pointed"


def test_make_repo_url_points_every_notebooks_colab_install_at_the_fork(tmp_path):
    """A fork's students on Colab install the fork's kit, not ours (issue 32)."""
    fork = copy_of_the_repository(tmp_path)
    subprocess.run(
        ["make", "-s", "repo-url", "REPO=someone/fork", f"PYTHON={sys.executable}"],
        cwd=fork,
        check=True,
        capture_output=True,
    )
    notebooks = sorted((fork / "notebooks").glob("[0-9]*.ipynb"))
    assert len(notebooks) == len(NOTEBOOKS) > 0
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        first_code = next(c for c in nb.cells if c.cell_type == "code")
        assert first_code.source == repo_url.colab_cell("someone/fork"), path.name
        assert "git+https://github.com/someone/fork" in first_code.source
        assert REPO not in path.read_text(), f"{path.name} still names {REPO}"


def test_a_notebook_whose_colab_cell_installs_another_repository_is_found(tmp_path):
    """The control of the check above: an install cell left pointing elsewhere is a problem."""
    fork = copy_of_the_repository(tmp_path)
    repo_url.repoint(fork, "someone/fork")
    assert repo_url.problems(fork) == []
    nb = fork / "notebooks" / NOTEBOOKS[-1].name
    text = nb.read_text()
    nb.write_text(
        text.replace("git+https://github.com/someone/fork", f"git+https://github.com/{REPO}")
    )
    assert nb.read_text() != text
    found = "\n".join(repo_url.problems(fork))
    assert f"notebooks/{nb.name}: git+https://github.com/{REPO} is not someone/fork" in found


def test_a_link_to_another_repository_or_notebook_is_found(tmp_path):
    fork = copy_of_the_repository(tmp_path)
    (fork / "docs" / "stray.md").write_text(
        "[Binder](https://mybinder.org/v2/gh/guess/name/HEAD)\n"
        "[site](https://guess.github.io/name/)\n"
    )
    nb = fork / "notebooks" / NOTEBOOKS[0].name
    nb.write_text(nb.read_text().replace(f"notebooks/{NOTEBOOKS[0].name}", "notebooks/other.ipynb"))
    found = "\n".join(repo_url.problems(fork))
    assert "guess/name" in found and "guess.github.io/name" in found
    assert "opens notebooks/other.ipynb" in found


def test_the_hub_install_and_the_citation_must_name_this_repository(tmp_path):
    fork = copy_of_the_repository(tmp_path)
    for rel in ("hub/requirements.txt", "CITATION.cff"):
        path = fork / rel
        path.write_text(path.read_text().replace(f"github.com/{REPO}", "github.com/guess/name"))
    found = "\n".join(repo_url.problems(fork))
    assert "hub/requirements.txt: git+https://github.com/guess/name" in found
    assert "CITATION.cff: https://github.com/guess/name" in found
    assert "nlsid_workshop25_tsfast" not in found, "the citation's references name others"
    repo_url.repoint(fork, "someone/fork")  # a re-point moves only links to the old repository
    assert "guess/name" in (fork / "hub" / "requirements.txt").read_text()


@pytest.mark.parametrize("bad", ["", "owner", "owner/name/extra", "-x/y", 42, "a b/c"])
def test_a_bad_address_is_refused(bad, tmp_path):
    with pytest.raises(ValueError, match="owner/name"):
        repo_url.repoint(copy_of_the_repository(tmp_path), bad)
