"""Store the course notebooks the way the repository keeps them.

    .venv/bin/python tools/store_notebooks.py                  # every notebooks/[0-9]*.ipynb
    .venv/bin/python tools/store_notebooks.py 01_silverbox_and_windows.ipynb

Runs each notebook in smoke mode (TBPTT_KIT_SMOKE=1, as nbval does in `make test`), then
writes it back with every output and execution count cleared, except in cells that start
with `# NBVAL_CHECK_OUTPUT`: those keep their printed text and a count, the reference nbval
compares against. Widget state is dropped. tests/test_notebooks.py checks the result.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"


def store(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    ran = nbformat.read(path, as_version=4)
    os.environ["TBPTT_KIT_SMOKE"] = "1"
    NotebookClient(
        ran, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    kept, count = 0, 0
    for cell, done in zip(nb.cells, ran.cells, strict=True):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if cell.source.lstrip().startswith(CHECK_MARK):
            count += 1
            cell.outputs = [o for o in done.outputs if o.output_type == "stream"]
            cell.execution_count = count
            kept += 1
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    return kept


def main(names: list[str]) -> None:
    paths = [ROOT / "notebooks" / n if not Path(n).exists() else Path(n) for n in names]
    for path in paths or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        print(f"{path.name}: kept the reference output of {store(path)} check cells")


if __name__ == "__main__":
    main(sys.argv[1:])
