"""The graded test's other half, in a process of its own: ``python -I verify.py KEY``.

``graded`` (core.py) starts it before calling the student's function. It writes a fresh
random seed (one line), from which both sides draw the random cases; reads the student's
results (JSON, one line) from its input; computes the references and judges with the
exercise's own definition, read from the kit's files; writes the verdict (JSON, one line).
The student's code never runs here, so nothing it patched or kept can reach the
references or the comparison. Only the modules the exercise needs are imported: the
packages' ``__init__`` files are skipped (most exercises need numpy alone).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import types
from pathlib import Path

__all__ = ["load", "main", "reply"]

# packages whose __init__ would import much more than an exercise needs
BARE_PACKAGES = ("", ".course", ".course.checks", ".course.memory")


def load(key: str):
    """The checks' core module and the Exercise ``key`` ("01.2"), from the files."""
    root = Path(__file__).resolve().parents[2]
    for suffix in BARE_PACKAGES:
        name = f"tbptt_kit{suffix}"
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(root.joinpath(*suffix.split(".")[1:]))]
            sys.modules[name] = package
    core = importlib.import_module("tbptt_kit.course.checks.core")
    importlib.import_module(f"tbptt_kit.course.checks.nb{key.split('.')[0]}")
    return core, core.EXERCISES[key]


def reply(key: str, seed: int, results_text: str) -> str:
    """The verdict (JSON) on the student's results (JSON) for the cases of ``seed``."""
    core, ex = load(key)
    results = json.loads(results_text)
    run = core.all_cases(ex, seed)
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        verdict, message = core.WRONG, f"{ex.title}: the results could not be read."
    else:
        verdict, message = core.judge(ex, run, results, core.wanted(ex, run))
    return json.dumps({"verdict": str(verdict), "message": message})


def main(argv: list[str]) -> None:
    seed = int.from_bytes(os.urandom(6), "big")
    print(seed, flush=True)
    load(argv[1])  # the imports, while the student's function runs
    print(reply(argv[1], seed, sys.stdin.read()))


if __name__ == "__main__":
    main(sys.argv)
