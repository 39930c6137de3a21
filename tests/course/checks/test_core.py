"""What every exercise's check shares (checks/core.py, checks/verify.py): every exercise has
one definition and the name the notebook calls; a stub is "not done" and a number where
something else is asked "wrong", for all 21; the self-checks refuse the cheats the graded
tests refuse; the random cases never make a worked solution wrong; and each exercise's cell
runs in well under 1 GB."""

import re
import subprocess
import sys
import textwrap

import nbformat
import pytest
import torch

from tbptt_kit.course import checks
from tbptt_kit.course.checks import core, verify
from tests.grading_support import ROOT, patched_back, self_check, solution, stub

KEYS = sorted(checks.EXERCISES)


def right(key: str):
    return solution(key.replace(".", "_ex"), checks.EXERCISES[key].func)


def test_every_exercise_has_one_definition_and_the_check_its_notebook_calls():
    called = set()
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            called |= set(re.findall(r"checks\.(check_\w+)\(", cell.source))
    assert len(KEYS) == 21 and len(called) == 21, called
    assert all(callable(getattr(checks, name)) for name in called)
    stems = {p.stem for p in (ROOT / "notebooks" / "solutions").glob("*.py")}
    assert {k.replace(".", "_ex") for k in KEYS} == stems


@pytest.mark.parametrize("key", KEYS)
def test_a_stub_is_not_done_and_a_stray_number_is_wrong(key):
    assert self_check(key, stub) == (
        checks.NOT_DONE,
        f"{checks.EXERCISES[key].title}: not done "
        "yet. Fill in the cell above, run it, then run this one.\n",
    )
    verdict, said = self_check(key, lambda *args: -1.0)
    assert verdict == checks.WRONG and "not yet right" in said


@pytest.mark.parametrize("key", KEYS)
def test_the_random_cases_never_make_the_worked_solution_wrong(key):
    ex = checks.EXERCISES[key]
    func = right(key)
    for seed in range(8):
        drawn = core.all_cases(ex, seed)[len(ex.fixed) :]
        verdict, message = core.judge(
            ex, drawn, core.collect(ex, func, drawn), core.wanted(ex, drawn)
        )
        assert verdict == checks.RIGHT, (seed, message)


# -- the self-checks refuse the cheats the graded tests refuse -------------------------------
class Anything(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class Agreeable(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.equal, torch.allclose):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


def test_the_self_checks_refuse_an_object_equal_to_everything():
    assert Anything(0) == 4951  # the control: it equals anything
    for key in ("01.1", "03.1", "05.2", "07.1", "10.2"):
        verdict, said = self_check(key, lambda *args: Anything(0))
        assert verdict == checks.WRONG and "Anything" in said


def test_the_self_checks_refuse_a_tensor_subclass_that_fools_torch_equal():
    def sub_windows(u, k):
        return [torch.zeros(u.shape[0], k, u.shape[2]).as_subclass(Agreeable)] * (u.shape[1] // k)

    assert torch.equal(sub_windows(torch.ones(1, 2, 1), 1)[0], torch.ones(1, 1, 1))  # control
    verdict, said = self_check("01.2", sub_windows)
    assert verdict == checks.WRONG and "Agreeable" in said


def test_the_self_checks_do_not_use_what_a_cell_patched():
    import math

    with patched_back():
        torch.equal = lambda *args, **kwargs: True
        math.isclose = lambda *args, **kwargs: True
        __builtins__["all"] = lambda *args: True
        assert torch.equal(torch.zeros(1), torch.ones(1)) and all([False])  # the control
        first_steps = self_check("01.2", lambda u, k: [u[:, :k]] * (u.shape[1] // k))
        half = self_check("08.2", lambda bits: 2.0**bits / 2)
    assert first_steps[0] == half[0] == checks.WRONG


def test_the_self_checks_refuse_the_kits_answer_kept_in_a_closure():
    import tbptt_kit as tk

    def make(cut=tk.split_windows):
        return lambda u, k: [b.u for b in cut(u, u, k)]

    verdict, said = self_check("01.2", make())
    assert verdict == checks.WRONG and "your function called tk.split_windows" in said


def test_a_self_check_computes_its_references_after_the_students_calls():
    """Nothing the reference computed is anywhere the student's function could look."""
    seen = []

    def peeking(n_samples, win_sz, stp_sz):
        frame = sys._getframe(1)
        while frame is not None:
            seen.extend(
                v for v in frame.f_locals.values() if isinstance(v, dict) and "want" in str(v)
            )
            frame = frame.f_back
        return -1

    assert self_check("01.1", peeking)[0] == checks.WRONG and seen == []


# -- the judgement ------------------------------------------------------------------------------
def test_missing_results_are_wrong_not_right():
    ex = checks.EXERCISES["08.2"]
    run = core.all_cases(ex, 0)
    verdict, message = core.judge(ex, run, [], core.wanted(ex, run))
    assert verdict == checks.WRONG and "no result for case 1" in message
    reply = verify.reply("08.2", 0, "{}")
    assert '"verdict": "wrong"' in reply and "could not be read" in reply


def test_close_compares_with_operators_only():
    assert core.close(1.0, 1.0 + 1e-12) and not core.close(1.0, 1.1)
    assert not core.close(float("nan"), float("nan")) and core.close(0.0, 1e-12, abs_=1e-9)
    assert not core.close(Anything(0), 5) and not core.close("1", 1)


# -- memory: every exercise's cell in a fresh process, well under 1 GB -------------------------
MEASURE = """
import ast, resource, sys
from pathlib import Path
import numpy as np, torch
import tbptt_kit as tk
from tbptt_kit.course import checks
for key, ex in sorted(checks.EXERCISES.items()):
    path = Path("notebooks/solutions") / (key.replace(".", "_ex") + ".py")
    tree = ast.parse(path.read_text())
    tree.body = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.Import, ast.ImportFrom))]
    namespace = {"np": np, "torch": torch, "tk": tk, "checks": checks}
    exec(compile(tree, str(path), "exec"), namespace)
    assert ex.check(namespace[ex.func]) == "right", key
    if key.startswith("02"):  # the notebook's own call: a whole multisine record, (T, 1)
        y = np.random.default_rng(0).standard_normal((21_638, 1)).astype(np.float32)
        args = (y, y[:, 0] + 0.001) if key == "02.1" else (y[:2000], y)
        namespace[ex.func](*args)
print("peak", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.slow
def test_every_exercise_cell_runs_in_well_under_1_gb():
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(MEASURE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    peak_kib = int(done.stdout.split("peak")[-1])  # Linux: ru_maxrss in KiB
    assert peak_kib < 2**20, f"peak RSS {peak_kib / 1024:.0f} MiB"
