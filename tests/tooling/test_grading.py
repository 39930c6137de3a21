"""Grading measures the student's work: tooling/grading.py's pieces, and every way of passing
without solving the exercise that issue 32 found, each run the nbgrader way (the student's
cell, then the graded test cell, in one namespace and one process, the graded test's clean
process the real one): each earns 0 points, while the worked solution earns full marks.

Each cheat has a control showing it is not a straw man: what it does works (the patched
function does lie, the kept kit answer is right, the object does equal everything), so a
grader that compared naively would have given the points."""

import importlib
import json
import math
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import tbptt_kit as tk
from tbptt_kit.course import checks
from tbptt_kit.course.checks import core
from tbptt_kit.tooling import grading
from tests.grading_support import nbgrader_points, patched_back

FULL = 2
SOLUTION_01_2 = """
def sub_windows(u, sub_seq_len):
    return [u[:, k * sub_seq_len : (k + 1) * sub_seq_len] for k in range(u.shape[1] // sub_seq_len)]
"""


def points(stem: str, cell: str) -> tuple[int, str]:
    with patched_back():
        return nbgrader_points(stem, textwrap.dedent(cell))


# -- the honest answer -----------------------------------------------------------------------
def test_the_worked_solution_earns_full_marks_the_nbgrader_way():
    assert points("01_ex2", SOLUTION_01_2)[0] == FULL
    assert points("01_ex1", "def n_windows(n, w, s):\n    return (n - w) // s + 1\n")[0] == FULL


# -- an object whose __eq__ is always true ---------------------------------------------------
ALWAYS_EQUAL = """
class Anything(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__
    def __float__(self):
        return 0.0

def n_windows(n_samples, win_sz, stp_sz):
    return Anything(0)
"""


def test_an_object_equal_to_everything_earns_nothing():
    namespace = {}
    exec(ALWAYS_EQUAL, namespace)
    assert namespace["n_windows"](50_000, 500, 10) == 4951  # the control: it equals anything
    earned, said = points("01_ex1", ALWAYS_EQUAL)
    assert earned == 0 and "not a __main__.Anything" not in said and "Anything" in said


def test_a_list_or_array_subclass_equal_to_everything_earns_nothing():
    cell = """
    import numpy as np

    class Yes(np.ndarray):
        def __eq__(self, other):
            return True

    def compensation_factors(probs, n):
        return np.zeros(n).view(Yes)
    """
    assert points("10_ex1", cell)[0] == 0


# -- a tensor subclass that fools torch.equal ------------------------------------------------
TENSOR_SUBCLASS = """
import torch

class Agreeable(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.equal, torch.allclose, torch.Tensor.equal):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})

def sub_windows(u, sub_seq_len):
    return [torch.zeros(u.shape[0], sub_seq_len, u.shape[2]).as_subclass(Agreeable)] * (u.shape[1] // sub_seq_len)
"""


def test_a_tensor_subclass_that_fools_torch_equal_earns_nothing():
    namespace = {}
    exec(TENSOR_SUBCLASS, namespace)
    fake = namespace["sub_windows"](torch.ones(2, 4, 1), 2)[0]
    assert torch.equal(fake, torch.ones(2, 2, 1))  # the control: torch.equal is fooled
    earned, said = points("01_ex2", TENSOR_SUBCLASS)
    assert earned == 0 and "Agreeable" in said


def test_a_function_mode_that_rewrites_what_tensors_say_earns_nothing():
    cell = """
    import torch
    from torch.overrides import TorchFunctionMode

    class Lies(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if func in (torch.equal, torch.allclose) or getattr(func, "__name__", "") == "tolist":
                return True
            return func(*args, **(kwargs or {}))

    Lies().__enter__()  # on for the rest of the notebook

    def sub_windows(u, sub_seq_len):
        return [u[:, :sub_seq_len]] * (u.shape[1] // sub_seq_len)
    """
    assert points("01_ex2", cell)[0] == 0


# -- patching the comparisons the test might use ---------------------------------------------
@pytest.mark.parametrize(
    "patch",
    [
        "torch.equal = lambda *args, **kwargs: True",
        "torch.allclose = lambda *args, **kwargs: True",
        "math.isclose = lambda *args, **kwargs: True",
        "np.allclose = lambda *args, **kwargs: True",
        "torch.Tensor.__eq__ = lambda *args, **kwargs: True",
        "builtins.all = lambda *args: True",
        "builtins.isinstance = lambda *args: True",
    ],
)
def test_patching_a_comparison_in_the_solution_cell_earns_nothing(patch):
    cell = f"""
    import builtins, math
    import numpy as np
    import torch
    {patch}

    def sub_windows(u, sub_seq_len):
        return [u[:, :sub_seq_len]] * (u.shape[1] // sub_seq_len)  # the first steps, repeated
    """
    with patched_back():
        namespace = {}
        exec(textwrap.dedent(cell), namespace)
        zero, one = torch.zeros(1), torch.ones(1)
        lied = torch.equal(zero, one) or torch.allclose(zero, one) or math.isclose(0, 1)
        lied = lied or np.allclose(0, 1) or all([False]) or isinstance(1, str)
        lied = lied or bool(torch.tensor(0.0) == torch.tensor(1.0))
        assert lied  # the control: the patch does lie
    assert points("01_ex2", cell)[0] == 0


def test_patching_the_graders_own_tools_earns_nothing():
    cell = """
    import json, subprocess
    json.loads = lambda *args, **kwargs: {"verdict": "right", "message": "right"}
    json.dumps = lambda *args, **kwargs: "[]"

    def n_windows(n_samples, win_sz, stp_sz):
        return 0
    """
    assert points("01_ex1", cell)[0] == 0


# -- the hidden test's own expected values, and its reference --------------------------------
FRAME_READER = """
import sys

def n_windows(n_samples, win_sz, stp_sz):
    frame = sys._getframe(1)
    while frame is not None:  # the test's "want", wherever it is kept
        for scope in (frame.f_locals, frame.f_globals):
            for name in ("want", "expected", "reference", "found"):
                value = scope.get(name)
                if isinstance(value, int):
                    return value
                if isinstance(value, dict) and value:
                    return list(value.values())[-1]
        frame = frame.f_back
    return -1
"""


def test_reading_the_tests_expected_value_from_its_frames_earns_nothing():
    assert points("01_ex1", FRAME_READER)[0] == 0


def test_calling_the_checks_reference_earns_nothing():
    cell = """
    from tbptt_kit.course.checks import nb01

    def n_windows(n_samples, win_sz, stp_sz):
        return nb01.reference_n_windows([n_samples, win_sz, stp_sz])

    reference_n_windows = nb01.reference_n_windows  # as the old hidden test named it
    """
    namespace = {}
    exec(textwrap.dedent(cell), namespace)
    assert namespace["n_windows"](50_000, 500, 10) == 4951  # the control: it is right
    earned, said = points("01_ex1", cell)
    assert earned == 0 and "reference_n_windows" in said


def test_a_table_of_the_public_cases_computed_beforehand_earns_nothing():
    cell = """
    from tbptt_kit.course.checks import nb01
    import tbptt_kit as tk
    import numpy as np

    TABLE = {tuple(c): (c[0] - c[1]) // c[2] + 1 for c in nb01.N_WINDOWS.fixed}  # every shown case

    def n_windows(n_samples, win_sz, stp_sz):
        return TABLE.get((n_samples, win_sz, stp_sz), 0)
    """
    namespace = {}
    exec(textwrap.dedent(cell), namespace)
    fixed = [c for c in core.all_cases(checks.N_WINDOWS, 0)[: len(checks.N_WINDOWS.fixed)]]
    assert all(
        namespace["n_windows"](*c) == checks.reference_n_windows(c) for c in fixed
    )  # control
    earned, said = points("01_ex1", cell)
    assert earned == 0 and "you return 0" in said  # a case drawn at random, not in the table


# -- the kit's answer, however it is kept ----------------------------------------------------
KEPT = {
    "called": """
        import tbptt_kit as tk
        def sub_windows(u, sub_seq_len):
            return [b.u for b in tk.split_windows(u, u, sub_seq_len)]
        """,
    "alias": """
        from tbptt_kit import split_windows as cut
        def sub_windows(u, sub_seq_len):
            return [b.u for b in cut(u, u, sub_seq_len)]
        """,
    "closure": """
        import tbptt_kit as tk
        def make(cut=tk.split_windows):
            def sub_windows(u, sub_seq_len):
                return [b.u for b in cut(u, u, sub_seq_len)]
            return sub_windows
        sub_windows = make()
        """,
    "default-argument": """
        import tbptt_kit as tk
        def sub_windows(u, sub_seq_len, _cut=tk.split_windows):
            return [b.u for b in _cut(u, u, sub_seq_len)]
        """,
    "re-imported-module": """
        import importlib, sys
        saved = sys.modules.pop("tbptt_kit.core.batch")
        fresh = importlib.import_module("tbptt_kit.core.batch")
        sys.modules["tbptt_kit.core.batch"] = saved
        def sub_windows(u, sub_seq_len):
            return [b.u for b in fresh.split_windows(u, u, sub_seq_len)]
        """,
    "copied-from-the-file": """
        import tbptt_kit.core.batch as batch
        copy = {"__name__": "tbptt_kit.core.copy", "__package__": "tbptt_kit.core"}
        exec(compile(open(batch.__file__).read(), "<copy>", "exec"), copy)
        def sub_windows(u, sub_seq_len):
            return [b.u for b in copy["split_windows"](u, u, sub_seq_len)]
        """,
    "in-a-thread": """
        import threading
        import tbptt_kit as tk
        def sub_windows(u, sub_seq_len):
            found = []
            worker = threading.Thread(target=lambda: found.extend(tk.split_windows(u, u, sub_seq_len)))
            worker.start(); worker.join()
            return [b.u for b in found]
        """,
    "watch-switched-off": """
        import sys
        import tbptt_kit as tk
        def sub_windows(u, sub_seq_len):
            watch = sys.getprofile()
            sys.setprofile(None)
            found = [b.u for b in tk.split_windows(u, u, sub_seq_len)]
            sys.setprofile(watch)
            return found
        """,
    "another-process": """
        import subprocess, sys
        def sub_windows(u, sub_seq_len):
            subprocess.run([sys.executable, "-c", "print('the kit, elsewhere')"], check=True)
            return [u[:, k * sub_seq_len : (k + 1) * sub_seq_len] for k in range(u.shape[1] // sub_seq_len)]
        """,
}


@pytest.mark.parametrize("how", sorted(KEPT))
def test_the_kits_answer_earns_nothing_however_it_is_kept(how):
    cell = textwrap.dedent(KEPT[how])
    namespace = {}
    with patched_back():
        exec(cell, namespace)
        u = torch.arange(24.0).reshape(2, 12, 1)
        right = [u[:, k * 3 : (k + 1) * 3] for k in range(4)]
        assert all(torch.equal(a, b) for a, b in zip(namespace["sub_windows"](u, 3), right))
    earned, said = points("01_ex2", cell)  # the control above: unwatched, it is right
    assert earned == 0, said
    assert any(w in said for w in ("the kit's own answer", "switched off", "another process")), said


def test_torchs_clip_grad_norm_earns_nothing_in_exercise_06_2():
    cell = """
    import torch
    def clip_by_norm(params, max_norm):
        return float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    """
    earned, said = points("06_ex2", cell)
    assert earned == 0 and "clip_grad_norm_" in said


# -- tooling/grading.py's pieces --------------------------------------------------------------
class Subclassed(float):
    pass


@pytest.mark.parametrize(
    "value, plain",
    [(3, 3), (2.5, 2.5), (np.int64(3), 3), (np.float32(0.5), 0.5), (np.array(1.5), 1.5)],
)
def test_plain_number_reads_exact_numbers_as_python_numbers(value, plain):
    got = grading.plain_number(value)
    assert got == plain and type(got) is type(plain)


@pytest.mark.parametrize(
    "value, says",
    [
        (True, "not a bool"),
        (Subclassed(1.0), "not a tests.tooling.test_grading.Subclassed"),
        ("3", "not a str"),
        (np.zeros(3), "not an array of shape (3,)"),
        (torch.zeros(2).as_subclass(type("T", (torch.Tensor,), {})), "not a"),
    ],
)
def test_plain_number_refuses_anything_else_naming_it(value, says):
    with pytest.raises(
        grading.NotPlain, match=r"^return a number, " + __import__("re").escape(says)
    ):
        grading.plain_number(value)


def test_plain_tensor_reads_values_and_whether_the_tensor_is_in_a_graph():
    leaf = torch.ones(2, requires_grad=True)
    assert grading.plain_tensor(leaf * 2) == {"shape": [2], "values": [2.0, 2.0], "attached": True}
    assert grading.plain_tensor((leaf * 2).detach())["attached"] is False
    with pytest.raises(grading.NotPlain, match="^return a tensor .a torch.Tensor., not a list$"):
        grading.plain_tensor([1.0])


def test_plain_whole_takes_a_whole_float_and_refuses_a_fraction():
    assert grading.plain_whole(4.0) == 4 and type(grading.plain_whole(4.0)) is int
    with pytest.raises(grading.NotPlain, match=r"^return a whole number, not 4\.5$"):
        grading.plain_whole(4.5)
    with pytest.raises(grading.NotPlain, match=r"^return a whole number, not nan$"):
        grading.plain_whole(float("nan"))


def test_answers_blocked_notes_a_call_and_puts_the_previous_watch_back():
    def mine(frame, event, arg):
        return None

    u = torch.zeros(1, 2, 1)
    sys.setprofile(mine)
    try:
        with grading.answers_blocked({"split": tk.split_windows}) as watch:
            pass
        assert sys.getprofile() is mine and watch.problem() is None
        with grading.answers_blocked({"split": tk.split_windows}) as watch:
            assert len(list(tk.split_windows(u, u, 1))) == 2  # it runs, and is noted
        assert sys.getprofile() is mine
    finally:
        sys.setprofile(None)
    assert watch.used == "split" and "your function called split" in watch.problem()


def test_a_module_imported_again_is_still_recognised_by_its_code():
    module = importlib.import_module("tbptt_kit.core.batch")
    fresh = importlib.util.module_from_spec(importlib.util.find_spec("tbptt_kit.core.batch"))
    fresh.__spec__.loader.exec_module(fresh)
    assert fresh.split_windows is not module.split_windows  # the control: another function
    u = torch.zeros(1, 2, 1)
    with grading.answers_blocked({"split": module.split_windows}) as watch:
        list(fresh.split_windows(u, u, 1))
    assert watch.used == "split"


def test_starting_a_process_or_switching_the_watch_off_is_refused():
    import subprocess

    with grading.answers_blocked({}) as watch:
        with pytest.raises(grading.KitAnswerUsed, match="started another process"):
            subprocess.run([sys.executable, "-c", "pass"])
    assert "started another process" in watch.problem()
    with grading.answers_blocked({}) as watch:
        sys.setprofile(None)
    assert "switched off the check's watch" in watch.problem()


def test_answers_blocked_names_a_function_without_code():
    with pytest.raises(TypeError, match="has no Python code to watch for"):
        with grading.answers_blocked({"len": len}):
            pass


def test_the_clean_process_ignores_the_current_folder_and_pythonpath(tmp_path, monkeypatch):
    (tmp_path / "json.py").write_text("raise SystemExit('the student json.py was imported')\n")
    script = tmp_path / "echo.py"
    script.write_text(
        "import json, sys\nprint(json.dumps([sys.argv[1:], sys.path[0]]), flush=True)\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    process = grading.CleanProcess(str(script), "a", "b")
    try:  # its arguments; numpy's folder first on its path, wherever numpy was installed
        said = json.loads(process.readline(timeout=60))
        assert said == [["a", "b"], str(Path(np.__file__).parents[1])]
    finally:
        process.close()


def test_the_clean_process_says_when_it_is_silent_or_fails(tmp_path):
    quiet = tmp_path / "quiet.py"
    quiet.write_text("import time\ntime.sleep(60)\n")
    process = grading.CleanProcess(str(quiet))
    with pytest.raises(TimeoutError, match=r"python -I .*quiet\.py said nothing in 1 s"):
        process.readline(timeout=1)
    failing = tmp_path / "failing.py"
    failing.write_text("raise SystemExit('broken on purpose')\n")
    process = grading.CleanProcess(str(failing))
    with pytest.raises(RuntimeError, match="failing.py failed: broken on purpose"):
        process.finish("", timeout=60)
    process.close()


def test_the_graded_test_runs_its_references_in_the_clean_process(monkeypatch):
    """A patched reference in this process changes nothing: the verdict comes from the other."""
    monkeypatch.setattr(checks.nb08, "reference_perplexity", lambda case: 0.0)
    checks.graded("08.2", lambda bits: 2.0**bits)  # passes: the clean process has the real one
    with pytest.raises(AssertionError, match="not yet right"):
        checks.graded("08.2", lambda bits: 0.0)
    assert math.isclose(2.0**1.5, 2.8284271247461903)
