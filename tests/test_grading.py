"""The graded assignment: the students' release holds no solution, and grading gives full
marks to a correct submission, nothing to an empty one or to one that calls the kit's own
answer. The graded tests compare with references of their own, not with the kit."""

import ast
import copy
import json
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

import tbptt_kit as tk

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import build_assignment  # noqa: E402
from tests.grading_support import passes, solution  # noqa: E402

pytest.importorskip("nbgrader", reason="nbgrader is in the [grade] extra (make test installs it)")
import grade  # noqa: E402

SOLUTIONS = sorted((ROOT / "notebooks" / "solutions").glob("*.py"))
TESTS = {
    p.stem: build_assignment.test_source(p) for p in sorted(build_assignment.TESTS.glob("*.py"))
}


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
    out = tmp_path_factory.mktemp("out")
    target = grade.release(root=root, out=out)
    return root, target


def released_text(target: Path) -> str:
    """Every released file's text, notebooks as their cells' sources."""
    texts = []
    for path in sorted(target.rglob("*")):
        if path.suffix == ".ipynb":
            texts += [c.source for c in nbformat.read(path, as_version=4).cells]
        elif path.is_file():
            texts.append(path.read_text())
    return "\n".join(texts)


def course_prose(number: str) -> str:
    """What the course notebook itself shows before any solution is loaded (its hints)."""
    (path,) = (ROOT / "notebooks").glob(f"{number}_*.ipynb")
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)


def test_release_holds_no_solution_code_nor_hidden_test(course):
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
    graded = [p for p in SOLUTIONS if p.name[:2] in {n[:2] for n in build_assignment.GRADED}]
    assert any(line in source for p in graded for line in solution_lines(p))  # the control
    assert checked > 40
    for forbidden in (
        "Stuck?",
        "%load",
        "solutions/",
        "checks.check_",
        "HIDDEN TESTS",
        "reference_",
    ):
        assert forbidden not in released, forbidden
    assert "reference_" in source  # hidden tests exist in the source, and were removed


def with_bodies(nb, bodies: dict) -> nbformat.NotebookNode:
    """A copy of the released notebook with each solution cell's function body replaced,
    cut to its imports and exercise cells (grading runs in seconds; the rest is not graded)."""
    nb = copy.deepcopy(nb)
    head = [c for c in nb.cells[:3] if c.cell_type == "code"]  # the Colab cell, the imports
    nb.cells = [*head, *(c for c in nb.cells if "nbgrader" in c.metadata)]
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if grade_id in bodies:
            cell.source = cell.source.replace(
                "    # YOUR CODE HERE\n    raise NotImplementedError()", bodies[grade_id]
            )
    return nb


KIT_CALLS_01 = {
    "ex01_1_solution": "    from tbptt_kit.data.windows import WindowDataset\n\n"
    "    return len(WindowDataset([(np.zeros(n_samples), np.zeros(n_samples))], win_sz, stp_sz))",
    "ex01_2_solution": "    return [b.u for b in tk.split_windows(u, u, sub_seq_len)]",
}


@pytest.mark.slow
def test_autograde_full_marks_zero_and_zero_for_calling_the_kit(course, tmp_path):
    """Every graded notebook: the worked solutions score full marks, an empty submission zero;
    notebook 01 also with a student who only calls the kit (zero). The in-process tests below
    check the kit's answer for every exercise."""
    root, target = course
    students = {"correct": {}, "empty": {}, "kit": {}}
    for name in build_assignment.GRADED:
        released = nbformat.read(target / name, as_version=4)
        source = nbformat.read(root / "source" / "tbptt" / name, as_version=4)
        right = {
            c.metadata["nbgrader"]["grade_id"]: c.source.split("### BEGIN SOLUTION\n")[1].split(
                "\n    ### END SOLUTION"
            )[0]
            for c in source.cells
            if c.metadata.get("nbgrader", {}).get("solution")
        }
        students["correct"][name] = with_bodies(released, right)
        students["empty"][name] = with_bodies(released, {})
        if name.startswith("01"):
            students["kit"][name] = with_bodies(released, KIT_CALLS_01)
    for student, notebooks in students.items():
        (tmp_path / student).mkdir()
        for name, nb in notebooks.items():
            nbformat.write(nb, tmp_path / student / name)
    rows = grade.autograde(tmp_path, root=root, table=tmp_path / "grades.csv")
    scores = {(r["student"], r["notebook"]): (r["score"], r["max_score"]) for r in rows}
    for name in build_assignment.GRADED:
        points = 2.0 * len(list((ROOT / "notebooks" / "solutions").glob(f"{name[:2]}_ex*.py")))
        assert scores["correct", name[:-6]] == (points, points), name
        assert scores["empty", name[:-6]] == (0.0, points), name
    assert scores["kit", build_assignment.GRADED[0][:-6]] == (0.0, 4.0)
    assert (tmp_path / "grades.csv").read_text().startswith("student,notebook,score,max_score")


# -- the graded tests themselves, in this process: fast, and each one's controls -------------


def test_graded_tests_pass_the_worked_solutions():
    assert passes("01_ex1", n_windows=solution("01_ex1", "n_windows"))
    assert passes("01_ex2", sub_windows=solution("01_ex2", "sub_windows"))
    assert passes("04_ex1", tbptt_grads=solution("04_ex1", "tbptt_grads"))
    assert passes("04_ex2", my_grad_by_lag=solution("04_ex2", "my_grad_by_lag"))


def test_graded_tests_refuse_a_call_to_the_kits_own_answer():
    from tbptt_kit.checks.nb04 import kit_grads, lag_norms

    def kit_n_windows(n_samples, win_sz, stp_sz):
        from tbptt_kit.data.windows import WindowDataset

        return len(WindowDataset([(np.zeros(n_samples), np.zeros(n_samples))], win_sz, stp_sz))

    def kit_sub_windows(u, sub_seq_len):
        return [b.u for b in tk.split_windows(u, u, sub_seq_len)]

    def kit_grad_by_lag(model, u, y):
        return tk.grad_by_lag(model, (u, y))

    assert kit_n_windows(1000, 300, 250) == 3  # the kit's answers are right ...
    assert not passes("01_ex1", n_windows=kit_n_windows)  # ... and earn nothing
    assert not passes("01_ex2", sub_windows=kit_sub_windows)
    assert not passes("04_ex1", tbptt_grads=lambda rnn, head, b, k: kit_grads(rnn, head, b, k))
    assert not passes("04_ex2", my_grad_by_lag=kit_grad_by_lag)
    assert not passes("04_ex2", my_grad_by_lag=lambda m, u, y: lag_norms(m, u, y))
    assert tk.grad_by_lag is not None and callable(tk.split_windows)  # put back afterwards


def test_graded_tests_refuse_the_usual_mistakes():
    assert not passes("01_ex1", n_windows=lambda n, w, s: n // s)
    assert not passes("01_ex2", sub_windows=lambda u, k: list(u.split(k, dim=0)))
    assert not passes("01_ex2", sub_windows=lambda u, k: list(u.split(k, dim=1))[::-1])

    def no_detach(rnn, head, batches, sub_seq_len):
        for u, y in batches:
            state = None
            for t in range(0, u.shape[1], sub_seq_len):
                out, state = rnn(u[:, t : t + sub_seq_len], state)
                ((head(out) - y[:, t : t + sub_seq_len]) ** 2).mean().backward(retain_graph=True)
        return [p.grad for p in [*rnn.parameters(), *head.parameters()]]

    assert not passes("04_ex1", tbptt_grads=no_detach)
    right = solution("04_ex2", "my_grad_by_lag")
    assert not passes("04_ex2", my_grad_by_lag=lambda m, u, y: right(m, u, y)[::-1].copy())


def test_kit_disabled_names_a_bad_argument():
    from tbptt_kit.checks.grading import kit_disabled

    with pytest.raises(ValueError, match="not_a_kit_function"):
        with kit_disabled(print, "not_a_kit_function"):
            pass
    with pytest.raises(TypeError, match="func"):
        with kit_disabled("n_windows", "split_windows"):
            pass


def test_source_notebooks_are_valid_nbgrader_json(course):
    root, _ = course
    for name in build_assignment.GRADED:
        nb = json.loads((root / "source" / "tbptt" / name).read_text())
        ids = [
            c["metadata"]["nbgrader"]["grade_id"]
            for c in nb["cells"]
            if "nbgrader" in c["metadata"]
        ]
        n_exercises = len(list((ROOT / "notebooks" / "solutions").glob(f"{name[:2]}_ex*.py")))
        assert len(ids) == len(set(ids)) == 2 * n_exercises  # a solution and a test each


def test_every_exercise_of_the_course_is_graded():
    numbers = {p.name[:2] for p in SOLUTIONS}
    assert {name[:2] for name in build_assignment.GRADED} == numbers
    assert set(TESTS) == {p.stem for p in SOLUTIONS}  # one graded test per worked solution


def test_release_names_notebooks_by_number_and_refuses_one_without_exercises():
    assert grade.notebook_names(["1", "04"]) == [
        "01_silverbox_and_windows.ipynb",
        "04_tbptt_and_stateful_models.ipynb",
    ]
    with pytest.raises(ValueError, match="'00' has no exercises"):
        grade.notebook_names(["00"])
