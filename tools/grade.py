"""Release the graded assignment to students and grade what they hand in, with nbgrader.

    .venv/bin/python tools/grade.py release                  # make release
    .venv/bin/python tools/grade.py autograde submitted/     # make autograde SUBMITTED=...

``release`` builds nbgrader's source version of the graded notebooks (tools/
build_assignment.py), lets ``nbgrader generate_assignment`` strip every solution and hidden
test, and copies the students' version to ``release/tbptt/``, with nothing else: no
solutions folder, no "Stuck?" cell, no self-check that prints an answer.

``autograde`` takes a folder with one sub-folder per student holding their notebooks
(``submitted/alice/01_silverbox_and_windows.ipynb``, ...), runs ``nbgrader autograde`` (the
hidden tests go back in, every notebook runs in smoke mode: the graded tests do not depend on
the training runs, so a notebook grades in seconds), and writes ``grades.csv``: one row per
student and notebook, the points scored, the points possible, and ``flags``: what in the
student's own cells reaches for the grader rather than the exercise (``flags``), for a look
by hand.

The nbgrader course folder is ``grading/`` (its config: grading/nbgrader_config.py); the
gradebook and nbgrader's working folders there are git-ignored.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_assignment  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
COURSE = ROOT / "grading"
ASSIGNMENT = build_assignment.ASSIGNMENT


# What a student's own cells need not do to solve an exercise, but may do to fool a grader
# that runs in the same process: each such cell is named in grades.csv, for a look by hand.
SUSPECT = {
    "reaches into the grader": (
        r"tbptt_kit\.(?:course\.checks|tooling\.grading)|\bgrading\b|\bgraded\s*="
        r"|\bchecks\.(?!check_)\w"
    ),
    "replaces modules or builtins": r"\bsys\.modules\b|\bbuiltins\b|__builtins__|__import__|importlib",
    "inspects or patches code": (
        r"__code__|__globals__|__closure__|__defaults__|_getframe|\bf_back\b|\bf_locals\b"
        r"|\binspect\.|\bgc\."
    ),
    "watches or rewrites execution": (
        r"setprofile|settrace|get_ipython|input_transformers|TorchFunctionMode"
        r"|__torch_function__|__torch_dispatch__|addaudithook"
    ),
    "patches a library": r"\b(?:torch|np|numpy|math|tracemalloc|json|subprocess)(?:\.\w+)+\s*=[^=]",
    "starts processes": r"\bsubprocess\b|\bos\.(?:system|fork|exec|spawn|posix_spawn)|multiprocessing|ctypes",
    "defines equality": r"def __eq__|def __ne__|def __bool__",
}


def flags(submitted: Path, source: Path) -> str:
    """What the lines the student wrote in ``submitted`` (in solution cells, and in cells of
    theirs that the source notebook does not have; the notebook's own lines left out) do
    that SUSPECT names; "" for none."""
    import nbformat

    if not submitted.exists():  # not handed in: nbgrader scores it zero
        return ""
    given = {
        line for c in nbformat.read(source, as_version=4).cells for line in c.source.splitlines()
    }
    found = set()
    for cell in nbformat.read(submitted, as_version=4).cells:
        meta = cell.metadata.get("nbgrader")  # test and setup cells: nbgrader restores them
        if cell.cell_type != "code" or (meta and not meta.get("solution", False)):
            continue
        written = "\n".join(line for line in cell.source.splitlines() if line not in given)
        found |= {name for name, pattern in SUSPECT.items() if re.search(pattern, written)}
    return "; ".join(sorted(found))


def nbgrader(command: str, root: Path, *args: str) -> None:
    exe = Path(sys.executable).with_name("nbgrader")
    # nbgrader runs `alembic` (for a new gradebook) by name: the venv's bin must be on PATH.
    path = f"{exe.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "TBPTT_KIT_SMOKE": "1"}
    subprocess.run(
        [str(exe), command, ASSIGNMENT, "--force", f"--CourseDirectory.root={root}", *args],
        cwd=COURSE,  # its nbgrader_config.py
        env=env,
        check=True,
    )


def release(root: Path = COURSE, out: Path = ROOT / "release", names=None) -> Path:
    """Build the source notebooks, generate the students' version, copy it to ``out``.
    ``names``: the notebooks to release (default: every notebook with exercises)."""
    shutil.rmtree(root / "source" / ASSIGNMENT, ignore_errors=True)  # none left from before
    for name in names or build_assignment.GRADED:
        build_assignment.build(name, root / "source")
    nbgrader("generate_assignment", root)
    target = out / ASSIGNMENT
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(root / "release" / ASSIGNMENT, target)
    print(f"students' version: {target}")
    return target


def autograde(submitted: Path, root: Path = COURSE, table: Path | None = None) -> list[dict]:
    """Grade every student's notebooks in ``submitted``; rows of the grade table."""
    if not (root / "release" / ASSIGNMENT).is_dir():
        raise FileNotFoundError(f"no release in {root}: run `make release` first")
    students = sorted(p for p in Path(submitted).iterdir() if p.is_dir())
    if not students:
        raise ValueError(f"submitted: {submitted} has no student folders")
    for student in students:
        target = root / "submitted" / student.name / ASSIGNMENT
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for notebook in student.glob("*.ipynb"):
            shutil.copy(notebook, target / notebook.name)
    nbgrader("autograde", root, "--ExecutePreprocessor.timeout=300")
    rows = grade_rows(root, [s.name for s in students])
    for row in rows:
        name = f"{row['notebook']}.ipynb"
        submitted = root / "submitted" / row["student"] / ASSIGNMENT / name
        row["flags"] = flags(submitted, root / "source" / ASSIGNMENT / name)
    table = table or root / "grades.csv"
    with open(table, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        flagged = f"  look by hand: {row['flags']}" if row["flags"] else ""
        print(
            f"{row['student']:>16} {row['notebook']:<40} {row['score']:>5} / {row['max_score']}"
            f"{flagged}"
        )
    print(f"grade table: {table}")
    return rows


def grade_rows(root: Path, students: list[str]) -> list[dict]:
    """Points per student and notebook, from nbgrader's gradebook."""
    from nbgrader.api import Gradebook

    rows = []
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for student in students:
            submission = gradebook.find_submission(ASSIGNMENT, student)
            for notebook in sorted(submission.notebooks, key=lambda n: n.name):
                rows.append(
                    {
                        "student": student,
                        "notebook": notebook.name,
                        "score": notebook.score,
                        "max_score": notebook.max_score,
                    }
                )
    return rows


def notebook_names(numbers: list[str]) -> list[str]:
    """The graded notebooks' file names for numbers such as ``["01", "4"]``."""
    by_number = {name[:2]: name for name in build_assignment.GRADED}
    names = []
    for number in numbers:
        key = number.zfill(2)[:2] if number.isdigit() else number
        if key not in by_number:
            raise ValueError(
                f"notebooks: {number!r} has no exercises to grade; valid: {sorted(by_number)}"
            )
        names.append(by_number[key])
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release")
    rel.add_argument("notebooks", nargs="*", help="numbers to release, e.g. 01 04 (default: all)")
    grade = sub.add_parser("autograde")
    grade.add_argument("submitted", type=Path, help="one folder per student, notebooks inside")
    args = parser.parse_args()
    if args.command == "release":
        release(names=notebook_names(args.notebooks))
    else:
        autograde(args.submitted)


if __name__ == "__main__":
    main()
