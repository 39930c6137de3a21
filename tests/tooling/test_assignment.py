"""The graded assignment (tools/build_assignment.py, tools/grade.py): the students' release
holds no solution and no hidden test, and its text says only what it holds (no sentence about
a self-check it no longer has); grading restores the cells that import the kit; autograde
gives full marks to the worked solutions and nothing to an empty submission, to one that
calls the kit's own answer or to one that cheats, and names the cells that reach for the
grader."""

import ast
import copy
import json
import re
from pathlib import Path

import nbformat
import pytest

from tests.grading_support import ROOT, build_assignment

pytest.importorskip("nbgrader", reason="nbgrader is in the [grade] extra (make test installs it)")
import grade  # noqa: E402  (tools/, on the path through grading_support)

SOLUTIONS = sorted((ROOT / "notebooks" / "solutions").glob("*.py"))


def solution_lines(path: Path) -> list[str]:
    """The statements inside each function of a worked solution, one stripped line each."""
    text = path.read_text()
    lines = text.splitlines()
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef):
            for stmt in node.body:
                for line in lines[stmt.lineno - 1 : stmt.end_lineno]:
                    code = line.split("#")[0].strip()
                    if len(code) >= 10:
                        found.append(code)
    return found


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    target = grade.release(root=root, out=tmp_path_factory.mktemp("out"))
    return root, target


def cells(path: Path) -> list:
    return nbformat.read(path, as_version=4).cells


def released_text(target: Path) -> str:
    """Every released file's text, notebooks as their cells' sources."""
    texts = []
    for path in sorted(target.rglob("*")):
        if path.suffix == ".ipynb":
            texts += [c.source for c in cells(path)]
        elif path.is_file():
            texts.append(path.read_text())
    return "\n".join(texts)


def course_prose(number: str) -> str:
    """What the course notebook itself shows before any solution is loaded (its hints)."""
    (path,) = (ROOT / "notebooks").glob(f"{number}_*.ipynb")
    return "\n".join(c.source for c in cells(path))


def test_the_release_holds_no_solution_code_nor_hidden_test(course):
    root, target = course
    released = released_text(target)
    source = released_text(root / "source")
    assert sorted(p.name for p in target.iterdir()) == sorted(build_assignment.GRADED)
    checked = 0
    for path in SOLUTIONS:
        shown = course_prose(path.name[:2])
        for line in solution_lines(path):
            if line in shown:
                continue  # the task's own hint, e.g. "state = None" in its prose
            assert line not in released, f"{path.name}: {line!r} is in the release"
            checked += 1
    assert any(line in source for p in SOLUTIONS for line in solution_lines(p))  # the control
    assert checked > 40
    for forbidden in ("Stuck?", "%load", "solutions/", "checks.check_", "HIDDEN TESTS"):
        assert forbidden not in released, forbidden
    hidden = [
        s for s in build_assignment.TESTS.glob("*.py") if "--- hidden tests ---" in s.read_text()
    ]
    assert len(hidden) == 21 and "### BEGIN HIDDEN TESTS" in source  # in the source, removed


def exercise_prose(nb) -> list[str]:
    """The markdown of a notebook's exercises, from the first "## Exercise" heading on."""
    found, started = [], False
    for cell in nb:
        if cell.cell_type == "markdown":
            started = started or bool(build_assignment.EXERCISES_START.search(cell.source))
            if started:
                found.append(cell.source)
    return found


def test_the_release_says_nothing_of_a_self_check_it_no_longer_has(course):
    _, target = course
    about_the_check = build_assignment.ABOUT_THE_CHECK
    in_the_course = [
        s
        for name in build_assignment.GRADED
        for text in exercise_prose(cells(ROOT / "notebooks" / name))
        for s in build_assignment.sentences(text)
        if about_the_check.search(s)
    ]
    assert in_the_course, "the control: the course's own text speaks of its self-checks"
    for name in build_assignment.GRADED:
        released = cells(target / name)
        for text in exercise_prose(released):
            for sentence in build_assignment.sentences(text):
                assert not about_the_check.search(sentence), (name, sentence)
        tests = [i for i, c in enumerate(released) if "graded(" in c.source]
        for i in tests:  # each test cell: its task says what it does
            task = [c for c in released[:i] if c.cell_type == "markdown"][-1]
            assert build_assignment.TEST_CELL in task.source, (name, task.source[-300:])
        assert len(tests) == len(list((ROOT / "notebooks/solutions").glob(f"{name[:2]}_ex*.py")))


def test_release_prose_drops_or_rewords_each_sentence_about_the_check():
    text = (
        "Write `f(x)` (it returns `x.mean()`). The check compares with\n`tk.split_windows`. "
        "Then run the check below it. Try it on (T, 1) arrays.\n"
    )
    assert build_assignment.release_prose(text) == (
        "Write `f(x)` (it returns `x.mean()`). Then run the test cell below it. "
        "Try it on (T, 1) arrays.\n"
    )


def test_the_cells_that_import_the_kit_are_restored_when_graded(course):
    root, target = course
    for name in build_assignment.GRADED:
        setup = [
            c
            for c in cells(root / "source" / "tbptt" / name)
            if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("setup_")
        ]
        assert any("import tbptt_kit" in c.source for c in setup), name
        assert all(c.metadata["nbgrader"]["locked"] for c in setup)
        course_cells = {c.source for c in cells(ROOT / "notebooks" / name)}
        assert all(c.source in course_cells for c in setup)


def test_source_notebooks_are_valid_nbgrader_json(course):
    root, _ = course
    for name in build_assignment.GRADED:
        nb = json.loads((root / "source" / "tbptt" / name).read_text())
        ids = [
            c["metadata"]["nbgrader"]["grade_id"]
            for c in nb["cells"]
            if "nbgrader" in c["metadata"]
        ]
        graded = [i for i in ids if not i.startswith("setup_")]
        n_exercises = len(list((ROOT / "notebooks" / "solutions").glob(f"{name[:2]}_ex*.py")))
        assert len(ids) == len(set(ids)) and len(graded) == 2 * n_exercises  # solution, test


def test_every_exercise_of_the_course_is_graded():
    numbers = {p.name[:2] for p in SOLUTIONS}
    assert {name[:2] for name in build_assignment.GRADED} == numbers
    stems = {p.stem for p in build_assignment.TESTS.glob("*.py")}
    assert stems == {p.stem for p in SOLUTIONS}  # one graded test per worked solution
    from tbptt_kit.course.checks import EXERCISES

    assert {k.replace(".", "_ex") for k in EXERCISES} == stems  # and one definition each


def test_release_names_notebooks_by_number_and_refuses_one_without_exercises():
    assert grade.notebook_names(["1", "04"]) == [
        "01_silverbox_and_windows.ipynb",
        "04_tbptt_and_stateful_models.ipynb",
    ]
    with pytest.raises(ValueError, match="'00' has no exercises"):
        grade.notebook_names(["00"])


# -- autograde --------------------------------------------------------------------------------
def with_bodies(nb, bodies: dict) -> nbformat.NotebookNode:
    """A copy of the released notebook with each solution cell's function body replaced,
    cut to its nbgrader cells (the kit's import, the exercises: grading runs in seconds)."""
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if "nbgrader" in c.metadata]
    for cell in nb.cells:
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        if grade_id in bodies:
            cell.source = cell.source.replace(
                "    # YOUR CODE HERE\n    raise NotImplementedError()", bodies[grade_id]
            )
    return nb


CHEATS_01 = {  # an object equal to everything; the kit's own answer, kept in a default argument
    "ex01_1_solution": "    class Anything(int):\n        def __eq__(self, other):\n"
    "            return True\n\n    return Anything(0)",
    "ex01_2_solution": "    def cut(u, k, split=tk.split_windows):\n"
    "        return [b.u for b in split(u, u, k)]\n\n    return cut(u, sub_seq_len)",
}


def test_flags_name_a_cell_that_reaches_for_the_grader(tmp_path, course):
    root, target = course
    name = build_assignment.GRADED[0]
    source = root / "source" / "tbptt" / name
    for student, bodies, want in (
        ("honest", {}, ""),
        ("cheat", CHEATS_01, "defines equality"),
        ("sneak", {"ex01_1_solution": "    import sys\n    return sys.modules['x']"}, "replaces"),
    ):
        path = tmp_path / f"{student}.ipynb"
        nbformat.write(with_bodies(cells_of(target / name), bodies), path)
        assert (want in grade.flags(path, source)) if want else grade.flags(path, source) == ""


def cells_of(path: Path):
    return nbformat.read(path, as_version=4)


@pytest.mark.slow
def test_autograde_full_marks_for_the_solutions_and_nothing_for_the_rest(course, tmp_path):
    """Every graded notebook: the worked solutions score full marks. Notebook 01 also with an
    empty submission (zero) and a student who cheats and calls the kit's answer (zero, and
    flagged); tests/course/checks refuse every other notebook's stubs, and
    tests/tooling/test_grading.py runs every cheat class against the graded tests."""
    root, target = course
    students = {"correct": {}, "empty": {}, "cheat": {}}
    for name in build_assignment.GRADED:
        released = cells_of(target / name)
        source = cells_of(root / "source" / "tbptt" / name)
        right = {
            c.metadata["nbgrader"]["grade_id"]: c.source.split("### BEGIN SOLUTION\n")[1].split(
                "\n    ### END SOLUTION"
            )[0]
            for c in source.cells
            if c.metadata.get("nbgrader", {}).get("solution")
        }
        students["correct"][name] = with_bodies(released, right)
        if name.startswith("01"):
            students["empty"][name] = with_bodies(released, {})
            students["cheat"][name] = with_bodies(released, CHEATS_01)
    for student, notebooks in students.items():
        (tmp_path / student).mkdir()
        for name, nb in notebooks.items():
            nbformat.write(nb, tmp_path / student / name)
    rows = grade.autograde(tmp_path, root=root, table=tmp_path / "grades.csv")
    scores = {(r["student"], r["notebook"]): (r["score"], r["max_score"]) for r in rows}
    flags = {(r["student"], r["notebook"]): r["flags"] for r in rows}
    for name in build_assignment.GRADED:
        points = 2.0 * len(list((ROOT / "notebooks" / "solutions").glob(f"{name[:2]}_ex*.py")))
        assert scores["correct", name[:-6]] == (points, points), name
        assert flags["correct", name[:-6]] == "", name
    first = build_assignment.GRADED[0][:-6]
    assert scores["empty", first] == (0.0, 4.0)
    assert scores["cheat", first] == (0.0, 4.0)
    assert "defines equality" in flags["cheat", first]
    graded = cells_of(root / "autograded" / "cheat" / "tbptt" / f"{first}.ipynb")
    said = " ".join(str(o.get("evalue", "")) for c in graded.cells for o in c.get("outputs", []))
    assert "not a __main__.Anything" in said and "the kit's own answer" in said
    table = (tmp_path / "grades.csv").read_text()
    assert table.startswith("student,notebook,score,max_score,flags")
    assert re.search(r"cheat,01_silverbox_and_windows,0\.0,4\.0,defines equality", table)
