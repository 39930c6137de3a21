"""The notebooks as slides: every cell carries its slide type (tools/tag_notebooks.py), and
``nbconvert --to slides`` (what jupyterlab-rise shows, too) makes one slide per section,
without the imports, the hints and the worked solutions."""

import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbconvert import SlidesExporter

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
sys.path.insert(0, str(ROOT / "tools"))
import tag_notebooks  # noqa: E402


def test_every_notebook_is_tagged_by_the_rules():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert not tag_notebooks.tag(nb), f"{path.name}: run tools/tag_notebooks.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_slide_export(path):
    nb = nbformat.read(path, as_version=4)
    html, _ = SlidesExporter().from_notebook_node(nb)
    kinds = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
    starts = kinds.count("slide") + kinds.count("subslide")
    assert starts >= 5, f"{path.name}: only {starts} slides"
    assert len(re.findall(r"<section\b", html)) >= starts  # reveal.js: a <section> per slide
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    title = re.search(r"^# (.+)$", markdown, re.M).group(1).strip()
    assert title.split("·")[-1].strip() in html
    for cell, kind in zip(nb.cells, kinds):
        if kind == "skip" and cell.source.strip():
            first = cell.source.strip().splitlines()[0]
            assert first not in html, f"{path.name}: a skipped cell is on a slide: {first!r}"
