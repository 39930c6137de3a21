"""Store the course notebooks the way the repository keeps them.

    .venv/bin/python tools/store_notebooks.py                  # every notebooks/[0-9]*.ipynb
    .venv/bin/python tools/store_notebooks.py 01_silverbox_and_windows.ipynb

Runs each notebook in smoke mode (TBPTT_KIT_SMOKE=1, as nbval does in `make test`), then
writes it back with every output and execution count cleared and widget state dropped. The
printed text of cells that start with `# NBVAL_CHECK_OUTPUT` goes to tests/nbval_expected.json
(keyed by notebook and cell id, with the cell's source): the reference nbval compares against,
put back into those cells by the repo's conftest.py. tests/test_notebooks.py checks the result.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
EXPECTED = ROOT / "tests" / "nbval_expected.json"


def store(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    ran = nbformat.read(path, as_version=4)
    os.environ["TBPTT_KIT_SMOKE"] = "1"
    NotebookClient(
        ran, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    references = {}
    for cell, done in zip(nb.cells, ran.cells, strict=True):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if cell.source.lstrip().startswith(CHECK_MARK):
            outputs = [o for o in done.outputs if o.output_type == "stream"]
            references[cell.id] = {"source": cell.source, "outputs": outputs}
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    with open(EXPECTED.with_suffix(".lock"), "w") as lock:  # two stores at once lose nothing
        fcntl.flock(lock, fcntl.LOCK_EX)
        expected = json.loads(EXPECTED.read_text()) if EXPECTED.exists() else {}
        expected[path.name] = references
        tmp = EXPECTED.with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(sorted(expected.items())), indent=1) + "\n")
        tmp.replace(EXPECTED)
    return len(references)


def main(names: list[str]) -> None:
    paths = [ROOT / "notebooks" / n if not Path(n).exists() else Path(n) for n in names]
    for path in paths or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        print(f"{path.name}: kept the reference output of {store(path)} check cells")


if __name__ == "__main__":
    main(sys.argv[1:])
