"""The course says only what it measures, and every exercise runs the same way.

- Exercise flow: in every notebook each exercise is its task (Markdown), a stub (tagged
  `raises-exception`), the "Stuck?" note, the `%load` cell (tagged `solution-loader`), then the
  check: a student always meets the check after the solution they may have loaded.
- Numbers in prose: a Markdown cell states no measured figure or comparison. Those are printed
  by code (`tbptt_kit.claim`), which raises when the claim stops holding. Definitions of
  settings and facts of the set-up are on a short allow-list below.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
ids = [p.stem for p in NOTEBOOKS]


def kind(cell) -> str:
    tags = cell.metadata.get("tags", [])
    src = cell.source.lstrip()
    if "raises-exception" in tags:
        return "stub"
    if "solution-loader" in tags or src.startswith("# %load solutions/"):
        return "load"
    if cell.cell_type == "code" and "checks.check" in src:
        return "check"
    if cell.cell_type == "markdown" and src.startswith("Stuck?"):
        return "stuck"
    return ""


def exercise_flow(nb) -> list[list[str]]:
    """For each stub, the kinds of the cells from it to its check: [stub, stuck, load, check]."""
    kinds = [kind(c) for c in nb.cells]
    flows = []
    for i, k in enumerate(kinds):
        if k == "stub":
            flows.append([x for x in kinds[i : i + 6] if x][:4])
    return flows


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if "00_" not in p.name], ids=ids[1:])
def test_every_exercise_runs_task_stub_load_check(path):
    nb = nbformat.read(path, as_version=4)
    flows = exercise_flow(nb)
    assert len(flows) >= 2, f"{path.name} has {len(flows)} exercises"
    for n, flow in enumerate(flows, 1):
        assert flow == ["stub", "stuck", "load", "check"], (
            f"{path.name}, exercise {n}: the cells run {flow}; the course's order is task, "
            "stub, the Stuck? note, the %load cell (tag solution-loader), then the check."
        )


def test_the_flow_test_fails_on_a_check_before_its_load():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "def f(): raise NotImplementedError", metadata={"tags": ["raises-exception"]}
        ),
        nbformat.v4.new_code_cell("checks.check_f(f)"),
        nbformat.v4.new_markdown_cell("Stuck? ..."),
        nbformat.v4.new_code_cell("# %load solutions/x.py"),
    ]
    assert exercise_flow(nb) == [["stub", "check", "stuck", "load"]]
