"""Shared by the tests of the exercises' checks and of grading: load a worked solution, run
an exercise's self-check and its graded test on one answer, and run a student's cell and a
graded test the way nbgrader does (one namespace, one process)."""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import tbptt_kit as tk
from tbptt_kit.course import checks
from tbptt_kit.course.checks import core, verify

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import build_assignment  # noqa: E402

__all__ = [
    "agree",
    "graded_test",
    "nbgrader_points",
    "patched_back",
    "self_check",
    "solution",
    "stub",
]


def solution(stem: str, name: str, **context):
    """The function ``name`` of the worked solution notebooks/solutions/<stem>.py (its
    imports kept, its other statements, the notebook's demo lines, left out)."""
    namespace = {"np": np, "torch": torch, "tk": tk, "checks": checks, **context}
    tree = ast.parse((ROOT / "notebooks" / "solutions" / f"{stem}.py").read_text())
    keep = (ast.FunctionDef, ast.Import, ast.ImportFrom)
    tree.body = [n for n in tree.body if isinstance(n, keep)]
    exec(compile(tree, stem, "exec"), namespace)
    return namespace[name]


def stub(*args, **kwargs):
    """An exercise not done yet, as the notebook hands it out."""
    raise NotImplementedError("Exercise 1: replace this line with your code")


def self_check(key: str, func, seed: int = 0) -> tuple[str, str]:
    """(verdict, what it printed) of exercise ``key``'s self-check on ``func``."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        verdict = core.EXERCISES[key].check(func, seed)
    return verdict, out.getvalue()


class _VerifierHere:
    """verify.py's side of a graded test, run in this process (as ``core._verified``
    talks to it): the same code as the clean process, without the 1-5 s of its start."""

    def __init__(self, key: str, seed: int):
        self.key, self.seed = key, seed

    def readline(self, timeout):
        return f"{self.seed}\n"

    def finish(self, text, timeout):
        return verify.reply(self.key, self.seed, text)

    def close(self):
        pass


def graded_test(key: str, func, seed: int = 0) -> tuple[int, str]:
    """(points, message) of exercise ``key``'s graded test on ``func``, the clean process's
    side run here with the random cases of ``seed``."""
    verdict, message = core._verified(core.EXERCISES[key], func, _VerifierHere(key, seed))
    return (build_assignment.POINTS if verdict == checks.RIGHT else 0), message


def agree(key: str, func, seed: int = 0) -> tuple[str, str]:
    """Run the self-check and the graded test on ``func``: they must agree ("right" and full
    marks, or anything else and no marks, with the same message). (verdict, message)."""
    verdict, said = self_check(key, func, seed)
    points, message = graded_test(key, func, seed)
    assert (verdict == checks.RIGHT) == (points == build_assignment.POINTS), (verdict, message)
    assert message.strip() == said.strip(), (said, message)
    return verdict, message


def agreement_test(answers):
    """The test each tests/course/checks/test_nbNN.py runs on its answers [(key, name, answer,
    what the message says)]: the self-check and the graded test agree on each answer, and
    their message names the mistake ("right ..." for an answer that earns the points)."""

    @pytest.mark.parametrize(
        "key, answer, says", [pytest.param(k, a, s, id=f"{k}-{n}") for k, n, a, s in answers]
    )
    def test(key, answer, says):
        verdict, message = agree(key, answer)
        assert says in message, message
        assert (verdict == "right") == says.startswith("right")

    return test


def nbgrader_points(stem: str, student_cell: str) -> tuple[int, str]:
    """Run a student's cell, then exercise ``stem``'s graded test cell (visible and hidden
    parts) in one namespace, as nbgrader runs a notebook: (points, what the test said).
    The graded test's clean process is the real one."""
    namespace = {"np": np, "torch": torch, "tk": tk, "checks": checks}
    test = compile(
        build_assignment.test_source(build_assignment.TESTS / f"{stem}.py"), stem, "exec"
    )
    out = io.StringIO()
    exec(compile(student_cell, f"{stem} student", "exec"), namespace)
    try:
        with contextlib.redirect_stdout(out):
            exec(test, namespace)
    except Exception as err:  # nbgrader scores an error of any kind as zero
        return 0, f"{type(err).__name__}: {err}"
    return build_assignment.POINTS, out.getvalue()


PATCHABLE = [
    (torch, "equal"),
    (torch, "allclose"),
    (torch, "Tensor"),
    (torch.Tensor, "tolist"),
    (torch.Tensor, "__eq__"),
    (math, "isclose"),
    (np, "allclose"),
    (np, "array_equal"),
    (json, "loads"),
    (json, "dumps"),
    *[(builtins, name) for name in ("isinstance", "type", "float", "int", "abs", "all", "len")],
]


@contextlib.contextmanager
def patched_back():
    """Whatever a cheat's cell patches among PATCHABLE (and torch's function modes), put
    back afterwards, so that the next test sees the libraries whole."""
    saved = [(owner, name, owner.__dict__.get(name)) for owner, name in PATCHABLE]
    try:
        yield
    finally:
        while torch._C._len_torch_function_stack():
            torch._C._pop_torch_function_stack()
        for owner, name, value in saved:
            if value is None:
                with contextlib.suppress(AttributeError, TypeError):
                    delattr(owner, name)
            else:
                setattr(owner, name, value)
