"""Shared by the grading tests: run one graded test (grading/tests/NN_exK.py, hidden part
included) in this process, and load a worked solution's function."""

import ast
import sys
from pathlib import Path

import numpy as np
import torch

import tbptt_kit as tk

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import build_assignment  # noqa: E402

__all__ = ["passes", "solution"]


def passes(test: str, **names) -> bool:
    """Does the graded test ``test`` (e.g. "01_ex2") pass with the student's ``names``?"""
    source = build_assignment.test_source(build_assignment.TESTS / f"{test}.py")
    try:
        exec(compile(source, test, "exec"), {"np": np, "torch": torch, "tk": tk, **names})
        return True
    except AssertionError:
        return False


def solution(stem: str, name: str, **context):
    """The function ``name`` of the worked solution notebooks/solutions/<stem>.py."""
    namespace = {"np": np, "torch": torch, "tk": tk, **context}
    body = (ROOT / "notebooks" / "solutions" / f"{stem}.py").read_text()
    tree = ast.parse(body)
    tree.body = [
        n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.Import, ast.ImportFrom))
    ]
    exec(compile(tree, stem, "exec"), namespace)
    return namespace[name]
