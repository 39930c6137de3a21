"""The repository's address, in one place: pyproject.toml's ``[project.urls] Repository``.

    .venv/bin/python tools/repo_url.py                 # print owner/name and check every link
    .venv/bin/python tools/repo_url.py someone/fork    # re-point every link (make repo-url)
    .venv/bin/python tools/repo_url.py --add-launch notebooks/09_x.ipynb   # a new notebook

Every badge and launch link of the course is made from that address: the Binder badge in the
README, the Binder and Colab badges in each notebook's first cell, the Colab install cell
(``pip install git+https://github.com/owner/name``), the hub's install (hub/requirements.txt),
the citation (CITATION.cff), the site's launch buttons (docs/conf.py
reads pyproject.toml when the site is built). ``links(repo, notebook)`` makes them;
``problems(root)`` lists every link that disagrees with pyproject.toml (tests/test_links.py);
``repoint(root, repo)`` rewrites pyproject.toml and the links, and nothing else.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import tomllib  # Python 3.11+
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
REPO_FORMAT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
BRANCH = "main"  # Colab opens the notebook from this branch; Binder builds HEAD
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"

# Every link to the course's own repository, by the part that names it: group 2 is owner/name.
# It may end in a backslash: in a notebook's JSON the install cell's address is followed by an
# escaped quote (\"), and a link missed there would leave a fork's Colab cell installing ours.
LINK = re.compile(
    r"(https://mybinder\.org/v2/gh/|https://colab\.research\.google\.com/github/"
    r"|git\+https://github\.com/|https://github\.com/)"
    r"([A-Za-z0-9-]+/[A-Za-z0-9._-]+?)(?=\.git\b|[/?#@)\"'\s\\]|$)"
)
PAGES = re.compile(r"https://([A-Za-z0-9-]+)\.github\.io/([A-Za-z0-9._-]+)")
LAUNCH = re.compile(
    r"(https://mybinder\.org/v2/gh/[^/]+/[^/]+/HEAD\?urlpath=lab/tree/"
    r"|https://colab\.research\.google\.com/github/[^/]+/[^/]+/blob/[^/]+/)([^)\s\"]+)"
)


def check_repo(repo) -> str:
    """``repo`` as 'owner/name', or a ValueError saying what is valid."""
    if not isinstance(repo, str) or not REPO_FORMAT.match(repo):
        raise ValueError(f"repo must be 'owner/name' (a GitHub repository), got {repo!r}")
    return repo


def read_repo(root: Path = ROOT) -> str:
    """owner/name from pyproject.toml's [project.urls] Repository."""
    urls = tomllib.loads((root / "pyproject.toml").read_text())["project"]["urls"]
    match = LINK.match(urls["Repository"])
    if not match or match.group(1) != "https://github.com/":
        raise ValueError(
            f"pyproject.toml [project.urls] Repository is not a GitHub address: {urls}"
        )
    return check_repo(match.group(2))


def links(repo: str, notebook: str) -> dict[str, str]:
    """Launch links of one notebook ('notebooks/05_the_lab.ipynb', a path in the repository)."""
    owner, name = check_repo(repo).split("/")
    return {
        "binder": f"https://mybinder.org/v2/gh/{repo}/HEAD?urlpath=lab/tree/{notebook}",
        "colab": f"https://colab.research.google.com/github/{repo}/blob/{BRANCH}/{notebook}",
        "repository": f"https://github.com/{repo}",
        "site": f"https://{owner}.github.io/{name}/",
        "install": f"git+https://github.com/{repo}",
    }


def launch_badges(repo: str, notebook: str) -> str:
    """The Markdown line of Binder and Colab badges that opens a notebook's first cell."""
    url = links(repo, notebook)
    return (
        f"[![Open in Binder]({BINDER_BADGE})]({url['binder']}) "
        f"[![Open in Colab]({COLAB_BADGE})]({url['colab']})"
    )


def linked_files(root: Path) -> list[Path]:
    """The files whose links must agree with pyproject.toml."""
    files = [root / "pyproject.toml", root / "README.md", root / "CITATION.cff"]
    files += [root / "hub" / "requirements.txt"]  # the class-wide install: the kit from a tag
    files += sorted((root / "notebooks").glob("[0-9]*.ipynb"))
    files += sorted((root / "docs").rglob("*.md"))
    return [f for f in files if f.exists()]


def names_the_kit(path: Path, text: str, match: re.Match) -> bool:
    """True for a plain GitHub link that must name this repository: pyproject.toml's, and
    CITATION.cff's own ``repository-code`` (its references name other projects)."""
    line = text[text.rfind("\n", 0, match.start()) + 1 : match.start()]
    return path.name == "pyproject.toml" or (
        path.name == "CITATION.cff" and line.startswith("repository-code:")
    )


def problems(root: Path = ROOT) -> list[str]:
    """Every link that disagrees with pyproject.toml: another repository, or a launch link
    of a notebook that opens a different notebook."""
    repo, found = read_repo(root), []
    owner, name = repo.split("/")
    for path in linked_files(root):
        rel, text = path.relative_to(root), path.read_text()
        for match in LINK.finditer(text):
            if match.group(1) == "https://github.com/" and not names_the_kit(path, text, match):
                continue  # plain GitHub links may name other projects; launch links may not
            if match.group(2) != repo:
                found.append(f"{rel}: {match.group(0)} is not {repo}")
        for match in PAGES.finditer(text):
            if (match.group(1), match.group(2)) != (owner, name):
                found.append(f"{rel}: {match.group(0)} is not the site of {repo}")
        if path.suffix == ".ipynb":
            own = f"notebooks/{path.name}"
            for match in LAUNCH.finditer(text):
                if match.group(2) != own:
                    found.append(f"{rel}: a launch link opens {match.group(2)}, not {own}")
    return found


def repoint(root: Path, repo: str) -> list[Path]:
    """Point pyproject.toml and every link at ``repo``; returns the files changed."""
    new, old = check_repo(repo), read_repo(root)
    (old_owner, old_name), (owner, name) = old.split("/"), new.split("/")
    changed = []
    for path in linked_files(root):
        text = path.read_text()
        out = LINK.sub(lambda m: m.group(1) + (new if m.group(2) == old else m.group(2)), text)
        out = PAGES.sub(
            lambda m: (
                f"https://{owner}.github.io/{name}"
                if (m.group(1), m.group(2)) == (old_owner, old_name)
                else m.group(0)
            ),
            out,
        )
        if out != text:
            path.write_text(out)
            changed.append(path)
    return changed


COLAB_MARK = "# Colab only: install the kit"


def colab_cell(repo: str) -> str:
    """The first code cell of every notebook: installs the kit on Colab, nothing elsewhere."""
    return (
        f"{COLAB_MARK} (Colab's own torch is kept). Elsewhere this cell does nothing.\n"
        "import os\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    kit = os.environ.get("TBPTT_KIT_INSTALL", "{links(repo, "")["install"]}")\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", kit], check=True)'
    )


def add_launch(path: Path, repo: str) -> bool:
    """Give a notebook its launch badges (first Markdown cell) and its Colab cell (first code
    cell), where it lacks them; True when the notebook changed."""
    import nbformat

    nb, changed = nbformat.read(path, as_version=4), False
    first = nb.cells[0]
    if first.cell_type == "markdown" and BINDER_BADGE not in first.source:
        first.source = launch_badges(repo, f"notebooks/{path.name}") + "\n\n" + first.source
        changed = True
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or not code[0].source.startswith(COLAB_MARK):
        at = nb.cells.index(code[0]) if code else len(nb.cells)
        cell = nbformat.v4.new_code_cell(colab_cell(repo))
        cell.metadata["tags"] = ["remove-cell"]  # the site (myst-nb) leaves it out: not Colab
        nb.cells.insert(at, cell)
        changed = True
    if changed:
        nbformat.write(nb, path)
    return changed


def main(args: list[str]) -> int:
    if args[:1] == ["--add-launch"]:
        for name in args[1:]:
            if add_launch(Path(name), read_repo(ROOT)):
                print(f"{name}: launch badges and Colab cell added")
        args = []
    if args:
        for path in repoint(ROOT, args[0]):
            print(f"re-pointed {path.relative_to(ROOT)}")
    print(f"repository: {read_repo(ROOT)}")
    bad = problems(ROOT)
    print("\n".join(bad) if bad else "every link agrees with pyproject.toml")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
