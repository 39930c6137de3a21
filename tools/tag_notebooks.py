"""Set every course notebook's slide metadata from rules, so it can be re-applied after any
edit of the notebooks (nothing is tagged by hand).

    .venv/bin/python tools/tag_notebooks.py           # rewrite notebooks/[0-9]*.ipynb
    .venv/bin/python tools/tag_notebooks.py --check   # exit 1 if a notebook is not tagged

The rules, for JupyterLab's RISE (jupyterlab-rise) and ``jupyter nbconvert --to slides``:

- a ``#`` or ``##`` heading starts a slide; a ``###`` heading a sub-slide (downwards);
- any other text cell starts a sub-slide, and the code cells after it stay on it, so one
  slide is one idea: its prose, its code, its output;
- not projected ("skip"): the launch badges, cells tagged ``remove-cell`` (the Colab
  install), the imports cell at the top, the "Stuck?" hints and the
  ``%load`` cells of the worked solutions; these also get the tag ``solution-loader``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def slide_type(cell, index_of_code: int | None) -> str:
    text = cell.source.lstrip()
    if cell.cell_type == "markdown":
        if text.startswith(("# ", "## ")) or re.search(r"^# ", text, re.M):  # title + badges
            return "slide"
        if text.startswith(("Stuck?", "[![")):  # a hint, the launch badges
            return "skip"
        return "subslide"
    if (
        "%load solutions/" in text
        or index_of_code == 0
        and text.startswith(("%matplotlib", "import", "from"))
    ):
        return "skip"
    return "-"


def tag(nb) -> bool:
    """Set the slide type of every cell; True if anything changed."""
    changed, n_code = False, 0
    for cell in nb.cells:
        hidden = "remove-cell" in cell.metadata.get("tags", [])  # e.g. the Colab install cell
        kind = "skip" if hidden else slide_type(cell, n_code if cell.cell_type == "code" else None)
        n_code += cell.cell_type == "code" and not hidden
        if cell.metadata.get("slideshow", {}).get("slide_type") != kind:
            cell.metadata["slideshow"] = {"slide_type": kind}
            changed = True
        tags = cell.metadata.get("tags", [])
        if "%load solutions/" in cell.source and "solution-loader" not in tags:
            cell.metadata["tags"] = [*tags, "solution-loader"]
            changed = True
    return changed


def main(args: list[str]) -> int:
    check = "--check" in args
    untagged = []
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        if tag(nb):
            untagged.append(path.name)
            if not check:
                nbformat.write(nb, path)
    verb = "not tagged" if check else "tagged"
    print(f"{verb}: {', '.join(untagged) or 'none'}")
    return 1 if check and untagged else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
