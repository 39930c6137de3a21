"""Turn course notebooks into an nbgrader assignment, by rules, so it can be rebuilt after any
edit of the notebooks.

    .venv/bin/python tools/build_assignment.py                 # the notebooks in GRADED
    .venv/bin/python tools/build_assignment.py 01_silverbox_and_windows.ipynb

Writes grading/source/<ASSIGNMENT>/<notebook>.ipynb (git-ignored): nbgrader's "source"
version, from which `nbgrader generate_assignment` (`make release`) makes the students' one.
In each notebook, for exercise K:

- the stub cell (the one that raises ``NotImplementedError("Exercise K``) becomes an
  nbgrader solution cell: the worked solution's function body from notebooks/solutions/
  NN_exK.py goes between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (the release keeps
  only the function's signature and ``raise NotImplementedError()``);
- its self-check cell (``checks.check_...``) becomes an autograded test cell:
  grading/tests/NN_exK.py, whose part below ``# --- hidden tests ---`` is hidden from
  students and restored when grading;
- the "Stuck?" cells and the ``%load solutions/...`` cells are dropped;
- in the exercises' text, a sentence about the self-check ("The check compares with ...")
  is dropped, "the check below" becomes "the test cell below", and each task says what its
  test cell does (``release_prose``): the release says only what it holds;
- the first code cells, up to the one that imports the kit, become read-only cells, which
  grading restores: the kit (and the grader's snapshot of what it uses) is imported before
  any cell of the student's runs.

A notebook whose exercise has no graded test in grading/tests/ is refused: write one first.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS, TESTS = ROOT / "notebooks", ROOT / "grading" / "tests"
ASSIGNMENT = "tbptt"
# Every notebook with exercises (a worked solution in notebooks/solutions/), in course order.
GRADED = sorted(
    nb.name
    for nb in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")
    if any((NOTEBOOKS / "solutions").glob(f"{nb.name[:2]}_ex*.py"))
)
POINTS = 2  # per exercise
HIDDEN_MARK = "# --- hidden tests ---"
STUB = re.compile(r'^(\s*)raise NotImplementedError\("Exercise (\d+)', re.M)
EXERCISES_START = re.compile(r"^##+ Exercise", re.M)
# a sentence about the notebook's self-check, which the release replaces with a graded test
ABOUT_THE_CHECK = re.compile(r"\b(?:the|a|its|this)\s+(?:self-)?checks?\b|\bself-checks?\b", re.I)
TEST_CELL = (
    "The test cell below your function tries it on the exercise's first case; grading runs "
    "it on every case, some drawn at random."
)


def is_solution_loader(cell) -> bool:
    return cell.cell_type == "code" and "%load solutions/" in cell.source


def is_stuck_hint(cell) -> bool:
    return cell.cell_type == "markdown" and cell.source.lstrip().startswith("Stuck?")


def is_self_check(cell) -> bool:
    return cell.cell_type == "code" and "checks.check_" in cell.source


def is_setup(cell) -> bool:
    """The Colab install cell or the cell that imports the kit."""
    return cell.cell_type == "code" and (
        "import tbptt_kit" in cell.source or "google.colab" in cell.source
    )


def sentences(text: str) -> list[str]:
    """``text`` cut into sentences (with the space after each), code spans kept whole: the
    pieces join back into ``text``."""
    spans = re.findall(r"`[^`]*`", text)
    masked = re.sub(r"`[^`]*`", "\0", text)
    pieces = re.split(r"(?<=[.!?])(\s+)(?=[A-Z`(*_\[]|$)", masked)
    joined = [a + b for a, b in zip(pieces[::2], [*pieces[1::2], ""])]
    restored = []
    for piece in joined:
        while "\0" in piece:
            piece = piece.replace("\0", spans.pop(0), 1)
        restored.append(piece)
    return restored


def release_prose(text: str) -> str:
    """The exercise text for the release: sentences about the self-check dropped, "the check
    below" now "the test cell below"."""
    kept = []
    for sentence in sentences(text):
        if re.search(r"\bthe\s+check\s+below\b", sentence, re.I):
            sentence = re.sub(
                r"\bthe\s+check\s+below\b", "the test cell below", sentence, flags=re.I
            )
        elif ABOUT_THE_CHECK.search(sentence):
            continue
        kept.append(sentence)
    return "".join(kept).rstrip() + ("\n" if text.endswith("\n") else "")


def nbgrader_meta(grade_id: str, solution: bool, grade: bool, locked=None) -> dict:
    locked = grade if locked is None else locked
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3}
    meta.update({"solution": solution, "task": False})
    if grade:
        meta["points"] = POINTS
    return meta


def solution_body(solution_file: Path, func_name: str) -> str:
    """The body of ``func_name`` in the worked solution, as source lines, preceded by the
    solution file's own imports (moved into the function: ``import math`` must come along)."""
    text = solution_file.read_text()
    lines = text.splitlines()
    tree = ast.parse(text).body
    imports = [
        f"    {lines[node.lineno - 1].strip()}"
        for node in tree
        if isinstance(node, (ast.Import, ast.ImportFrom)) and node.lineno == node.end_lineno
    ]
    for node in tree:
        if isinstance(node, ast.FunctionDef) and node.name == func_name:
            return "\n".join([*imports, *lines[node.lineno : node.end_lineno]])
    raise ValueError(f"{solution_file} defines no function {func_name}")


def test_source(test_file: Path) -> str:
    """The graded test, its hidden part between nbgrader's markers."""
    visible, _, hidden = test_file.read_text().partition(HIDDEN_MARK)
    if not hidden.strip():
        raise ValueError(f"{test_file} has no hidden tests (after {HIDDEN_MARK!r})")
    return (
        f"{visible.rstrip()}\n### BEGIN HIDDEN TESTS\n{hidden.strip()}\n### END HIDDEN TESTS\n"
    ).strip()


def build(name: str, out_dir: Path) -> Path:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    number = name[:2]
    cells, stubs, n_checks, in_exercises, setup = [], [], 0, False, True
    for i, cell in enumerate(nb.cells):
        if is_solution_loader(cell) or is_stuck_hint(cell):
            continue
        if setup and is_setup(cell):
            cell.metadata["nbgrader"] = nbgrader_meta(f"setup_{number}_{i}", False, False, True)
            setup = "import tbptt_kit" not in cell.source
        if cell.cell_type == "markdown":
            in_exercises = in_exercises or bool(EXERCISES_START.search(cell.source))
            if in_exercises:
                cell.source = release_prose(cell.source)
        if cell.cell_type == "code" and (match := STUB.search(cell.source)):
            stubs.append(solution_cell(cell, match, number))
            task = next((c for c in reversed(cells) if c.cell_type == "markdown"), None)
            if task is not None and TEST_CELL not in task.source:
                task.source = f"{task.source.rstrip()} {TEST_CELL}\n"
        elif is_self_check(cell):
            k = stubs[n_checks] if n_checks < len(stubs) else None
            if k is None:
                raise ValueError(f"{name}: a self-check cell before its exercise's stub")
            test_file = TESTS / f"{number}_ex{k}.py"
            if not test_file.exists():
                raise FileNotFoundError(f"{name}: exercise {k} has no graded test {test_file}")
            cell.source = test_source(test_file)
            cell.metadata["nbgrader"] = nbgrader_meta(f"ex{number}_{k}_tests", False, True)
            n_checks += 1
        cells.append(cell)
    if n_checks != len(stubs):
        raise ValueError(f"{name}: {len(stubs)} exercises but {n_checks} self-check cells")
    nb.cells = cells
    out = out_dir / ASSIGNMENT / name
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    return out


def solution_cell(cell, match, number: str) -> str:
    """Make the stub cell of exercise K an nbgrader solution cell, the worked solution's
    body between the markers; returns K."""
    indent, k = match.group(1), match.group(2)
    func = re.search(r"^def (\w+)\(", cell.source, re.M).group(1)
    body = solution_body(NOTEBOOKS / "solutions" / f"{number}_ex{k}.py", func)
    region = f"{indent}### BEGIN SOLUTION\n{body}\n{indent}### END SOLUTION"
    start, end = match.start(), cell.source.index("\n", match.start())
    cell.source = cell.source[:start] + region + cell.source[end:]
    cell.metadata["nbgrader"] = nbgrader_meta(f"ex{number}_{k}_solution", True, False)
    return k


def main(names: list[str]) -> None:
    out_dir = ROOT / "grading" / "source"
    for name in names or GRADED:
        print(f"{build(Path(name).name, out_dir).relative_to(ROOT)}: nbgrader source written")


if __name__ == "__main__":
    main(sys.argv[1:])
