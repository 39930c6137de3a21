"""The course notebooks as files: stored clean, all in the nbval run, built the course's way.

- No outputs and no execution counts are stored. Cells marked `# NBVAL_CHECK_OUTPUT` have
  their reference text in tests/nbval_expected.json (for the same cell source), which the
  repo's conftest.py gives back to nbval.
- `make test` runs every notebooks/[0-9]*.ipynb under nbval in smoke mode.
- Each notebook opens with its learning goals and ends with a recap.
- From 01 on: at least two exercises, each with a stub that raises NotImplementedError
  (tagged `raises-exception`), a self-check that reports "not done" for the stub and
  "right" for the worked solution, and the solution file in notebooks/solutions/.
- Notebook 04 prints the code that training runs: every function whose source it prints is
  called when a learner trains (a counting wrapper in its place), and the step it prints holds
  the reset, carry and detach lines next to each other.
"""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from unittest.mock import MagicMock

import nbformat
import numpy as np
import pytest

from tbptt_kit.course import checks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9]*.ipynb"))
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
EXERCISE = re.compile(r"^#+\s*Exercise\s+(\d+)", re.MULTILINE)
LOADER = re.compile(r"^#\s*%load\s+(solutions/\S+\.py)\s*$", re.MULTILINE)

ids = [p.stem for p in NOTEBOOKS]


def read(path: Path):
    return nbformat.read(path, as_version=4)


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def stubs(nb):
    return [c for c in code_cells(nb) if "raises-exception" in c.metadata.get("tags", [])]


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks/[0-9]*.ipynb in {NOTEBOOK_DIR}"


# -- stored clean -------------------------------------------------------------------------
@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_stored_without_outputs(path):
    nb = read(path)
    nbformat.validate(nb)
    dirty = [
        f"cell {i} has outputs or an execution count"
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert "widgets" not in nb.metadata, "saved widget state in the notebook's metadata"
    assert not dirty, (
        f"{path.name} is stored with outputs: {dirty}. Store it with: "
        ".venv/bin/python tools/store_notebooks.py " + path.name
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_every_check_cell_has_its_reference_output(path):
    expected = json.loads((ROOT / "tests" / "nbval_expected.json").read_text())
    references = expected.get(path.name, {})
    for i, cell in enumerate(code_cells(read(path))):
        if not cell.source.lstrip().startswith(CHECK_MARK):
            continue
        ref = references.get(cell.id)
        assert ref and ref["source"] == cell.source and ref["outputs"], (
            f"{path.name} code cell {i} ({CHECK_MARK}) has no up-to-date reference output "
            f"in tests/nbval_expected.json: run .venv/bin/python tools/store_notebooks.py "
            f"{path.name}"
        )


# -- in the nbval run ---------------------------------------------------------------------
def nbval_command() -> list[str]:
    """The nbval command of the Makefile's `test` target, as arguments."""
    text = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^test:.*\n((?:\t.*\n?)+)", text, re.MULTILINE)
    assert recipe, "the Makefile has no `test` target"
    lines = [line.strip() for line in recipe.group(1).splitlines() if "--nbval" in line]
    assert len(lines) == 1, "the `test` target must run nbval exactly once"
    return shlex.split(lines[0])


def test_make_test_runs_nbval_in_smoke_mode():
    args = nbval_command()
    assert "TBPTT_KIT_SMOKE=1" in args
    for flag in ("--nbval-lax", "--nbval-current-env"):
        assert flag in args


def test_every_notebook_is_collected_by_nbval():
    args = nbval_command()
    paths = [a for a in args[args.index("pytest") + 1 :] if not a.startswith(("-", "$("))]
    assert paths, "the nbval command names no notebooks"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "--nbval-lax",
            "-p",
            "no:cacheprovider",
            *paths,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    collected = {line.split("::")[0] for line in done.stdout.splitlines() if "::" in line}
    missing = [
        str(p.relative_to(ROOT)) for p in NOTEBOOKS if str(p.relative_to(ROOT)) not in collected
    ]
    assert not missing, f"not in the nbval run of `make test`: {missing}\n{done.stdout[-2000:]}"


# -- the course's shape -------------------------------------------------------------------
@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_opens_with_goals_and_ends_with_recap(path):
    cells = read(path).cells
    assert cells[0].cell_type == "markdown" and "learning goals" in cells[0].source.lower()
    assert cells[-1].cell_type == "markdown" and re.search(
        r"^#+\s*Recap", cells[-1].source, re.MULTILINE
    )


def exercises(nb) -> dict[int, dict]:
    """Exercise number -> its stub cell, self-check cell and solution path."""
    found, current = {}, None
    for cell in nb.cells:
        heading = EXERCISE.search(cell.source) if cell.cell_type == "markdown" else None
        if heading:
            current = found.setdefault(int(heading.group(1)), {})
            continue
        if current is None or cell.cell_type != "code":
            continue
        if "raises-exception" in cell.metadata.get("tags", []):
            current["stub"] = cell
        elif LOADER.search(cell.source):  # a comment: Run All never reveals the solution
            current["solution"] = NOTEBOOK_DIR / LOADER.search(cell.source).group(1)
        elif "stub" in current:  # the first code cell after the stub checks it
            current.setdefault("check", cell)
    return found


COURSE = [p for p in NOTEBOOKS if not p.name.startswith("00")]


@pytest.mark.parametrize("path", COURSE, ids=[p.stem for p in COURSE])
def test_exercises_have_stub_check_and_solution(path):
    found = exercises(read(path))
    assert len(found) >= 2, f"{path.name}: {len(found)} exercises, need at least 2"
    for n, ex in found.items():
        for part in ("stub", "check", "solution"):
            assert part in ex, f"{path.name}, exercise {n}: no {part} cell"
        assert "raise NotImplementedError" in ex["stub"].source
        assert ex["solution"].is_file(), f"{ex['solution']} is missing"
        assert ex["solution"].name.startswith(path.name[:2] + "_ex")
        # The solution defines what the stub asks for.
        assert defined(ex["stub"].source) <= defined(ex["solution"].read_text())


class Anything(dict):
    """A namespace in which every unknown name is a MagicMock: runs a cell out of context."""

    def __missing__(self, key):
        return getattr(builtins, key) if hasattr(builtins, key) else MagicMock(name=key)


def defined(source: str) -> set[str]:
    return {n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)}


def functions_of(source: str) -> dict:
    """The functions a cell or file defines (its other statements left out)."""
    tree = ast.parse(source)
    keep = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.Import, ast.ImportFrom))]
    namespace = {}
    exec(compile(ast.Module(keep, []), "<cell>", "exec"), namespace)
    return {k: v for k, v in namespace.items() if callable(v) and not k.startswith("__")}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_stubs_raise_not_implemented(path):
    for cell in stubs(read(path)):
        code = "\n".join(
            line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        with pytest.raises(NotImplementedError, match=r"Exercise \d+: replace this line"):
            exec(compile(code, f"{path.name} stub", "exec"), {}, Anything())


# -- self-checks: "not done" for a stub, "right" for the solution -------------------------
def tiny_learner():
    """A small trained-for-nothing learner with a multisine test record, for check_* calls."""
    import tbptt_kit as tk

    rng = np.random.default_rng(0)
    u = 0.02 * rng.standard_normal(400)
    y = np.convolve(u, [0.5, 0.3, 0.2])[:400]
    dls = tk.create_dls((u, y), (u, y), test={"multisine": (u, y)}, bs=4, win_sz=50, stp_sz=25)
    return tk.RNNLearner(dls, "gru", hidden_size=4, seed=0, progress=False)


CHECKS = {
    "n_windows": lambda f: checks.check_n_windows(f),
    "sub_windows": lambda f: checks.check_sub_windows(f),
    "saved_bytes": lambda f: checks.check_saved_bytes(f),
    "tbptt_grads": lambda f: checks.check_tbptt_grads(f),
    "my_grad_by_lag": lambda f: checks.check_grad_by_lag(f),
    "my_truncated_grad_by_lag": lambda f: checks.check_truncated_grad_by_lag(f),
    "clip_by_norm": lambda f: checks.check_clip_by_norm(f),
    "start_state": lambda f: checks.check_start_state(f),
    "batches_per_epoch": lambda f: checks.check_batches_per_epoch(f),
    "masked_steps": lambda f: checks.check_masked_steps(f),
    "unigram_bits_per_char": lambda f: checks.check_unigram_bits_per_char(f),
    "perplexity": lambda f: checks.check_perplexity(f),
    "steps_per_epoch": lambda f: checks.check_steps_per_epoch(f),
    "benchmark_rmse_mv": lambda f: checks.check_benchmark_rmse(f, tiny_learner()),
    "mean_model_rmse_mv": lambda f: checks.check_mean_model_rmse(f),
    "largest_fitting_sub_seq_len": lambda f: checks.check_largest_fitting_sub_seq_len(f),
    "largest_window": lambda f: checks.check_largest_window(f),
    "largest_full_window": lambda f: checks.check_largest_full_window(f),
    "steps_per_lab_epoch": lambda f: checks.check_steps_per_lab_epoch(f),
    "compensation_factors": lambda f: checks.check_compensation_factors(f),
    "shortest_safe_truncation": lambda f: checks.check_shortest_safe_truncation(f),
    "rank_rows": lambda f: checks.check_rank_rows(f),
    "loss_weight": lambda f: checks.check_loss_weight(f),
}


def all_exercises():
    for path in COURSE:
        for n, ex in exercises(read(path)).items():
            if "stub" in ex and "solution" in ex:
                yield pytest.param(ex, id=f"{path.stem}-ex{n}")


@pytest.mark.parametrize("ex", list(all_exercises()))
def test_self_check_says_not_done_then_right(ex, capsys):
    stub = functions_of(ex["stub"].source)
    solution = functions_of(ex["solution"].read_text())
    name = next((n for n in stub if n in CHECKS), None)
    if name is None:
        pytest.skip(f"no entry in CHECKS for {sorted(stub)}: add one to test its self-check")
    assert CHECKS[name](stub[name]) == checks.NOT_DONE
    assert "not done yet" in capsys.readouterr().out
    assert CHECKS[name](solution[name]) == checks.RIGHT
    assert CHECKS[name](lambda *args: -1.0) == checks.WRONG
    assert "not yet right" in capsys.readouterr().out


# -- notebook 04 prints the code that training runs -----------------------------------------
PRINTED = re.compile(r"inspect\.getsource\(\s*(tk(?:\.\w+)+)\s*\)")


def printed_functions(nb) -> list[str]:
    """The names (``tk.Learner.one_batch``, ...) whose source the notebook's code prints."""
    code = "\n".join(c.source for c in code_cells(nb))
    return list(dict.fromkeys(PRINTED.findall(code)))


def resolve(name: str):
    """``tk.Learner.one_batch`` -> the function object it names."""
    import tbptt_kit

    obj = tbptt_kit
    for part in name.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


def count_calls(func, monkeypatch) -> list[bool]:
    """Put a counting wrapper in place of ``func`` wherever the kit looks it up: on the class
    that defines it (a method) or in every kit module that holds it by name (a function).
    Returns the list the wrapper appends to, one entry per call: was a gradient being taken?"""
    import torch

    calls = []

    @functools.wraps(func)
    def counting(*args, **kwargs):
        calls.append(torch.is_grad_enabled())
        return func(*args, **kwargs)

    owner, _, attr = func.__qualname__.rpartition(".")
    if owner:  # a method: replace it on its class; subclasses that do not override inherit it
        cls = getattr(sys.modules[func.__module__], owner)
        monkeypatch.setattr(cls, attr, counting)
    else:
        for module in [m for n, m in sys.modules.items() if n.split(".")[0] == "tbptt_kit"]:
            for key, value in list(vars(module).items()):
                if value is func:
                    monkeypatch.setattr(module, key, counting)
    return calls


def small_learner():
    """Truncated BPTT (sub-windows of 10) on a small record, as the course trains."""
    import tbptt_kit as tk

    rng = np.random.default_rng(0)
    u = 0.02 * rng.standard_normal(400)
    y = np.convolve(u, [0.5, 0.3, 0.2])[:400]
    dls = tk.create_dls((u, y), (u, y), bs=4, win_sz=50, stp_sz=25, sub_seq_len=10)
    return tk.RNNLearner(dls, "lstm", hidden_size=4, sub_seq_len=10, seed=0, progress=False)


def notebook_04():
    (path,) = NOTEBOOK_DIR.glob("04_*.ipynb")
    return read(path)


def test_notebook_04_prints_the_step_and_the_loop():
    nb = notebook_04()
    names = printed_functions(nb)
    assert {"tk.Learner.one_batch", "tk.Learner.forward"} <= set(names), names
    assert "TbpttResetCB" not in "\n".join(c.source for c in nb.cells)
    step = [line.strip() for line in inspect.getsource(resolve("tk.Learner.one_batch")).split("\n")]
    reset, carry, detach = (
        next(i for i, line in enumerate(step) if line.startswith(start))
        for start in (
            "state = reset_rows(",
            "self.pred, state = self.forward(",
            "self.hidden_state = detach_state(",
        )
    )
    assert carry == reset + 1 and detach == reset + 2, "reset, carry, detach: three adjacent lines"


@pytest.mark.parametrize("name", printed_functions(notebook_04()))
def test_training_calls_every_function_notebook_04_prints(name, monkeypatch):
    learn = small_learner()
    calls = count_calls(resolve(name), monkeypatch)
    learn.fit(1)
    assert any(calls), (
        f"notebook 04 prints {name}, but training a learner never calls it while taking a "
        f"gradient ({len(calls)} calls in all): the notebook shows code that does not run."
    )


def test_the_call_count_fails_for_code_training_does_not_run(monkeypatch):
    """The controls: the deprecated copy of the model's step, which nothing calls any more,
    gets no call; the step itself, when the learner only validates, is called but never while
    a gradient is taken. The test above would fail for either."""
    import tbptt_kit as tk

    learn = small_learner()
    copy = count_calls(tk.StatefulRNN.forward_from, monkeypatch)
    learn.fit(1)
    assert copy == []
    learn = small_learner()
    step = count_calls(tk.Learner.one_batch, monkeypatch)
    learn.validate()
    assert step and not any(step)
