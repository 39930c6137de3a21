"""The package's shape: short modules, imports one way, a loop that nothing patches.

ARCHITECTURE.md names the floors; a module imports only from its own floor or below.
"""

import ast
import inspect
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tbptt_kit import Callback, Learner, RNNLearner, create_dls
from tbptt_kit.memory import measure_memory

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tbptt_kit"
MODULES = sorted(PACKAGE.rglob("*.py"))


def floor_table() -> dict[str, int]:
    """ARCHITECTURE.md's table of floors: each module or folder it names -> its floor."""
    named = {}
    for line in (ROOT / "ARCHITECTURE.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].isdigit():
            for name in re.findall(r"`([\w/]+(?:\.py|/))`", cells[1]):
                named[name] = int(cells[0])
    return named


TABLE = floor_table()
FLOORS = {name.split("/")[0].removesuffix(".py"): floor for name, floor in TABLE.items()}


def floor_of(path: Path) -> int:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return FLOORS[parts[0]]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_longer_than_a_few_minutes_of_reading(path):
    assert len(path.read_text().splitlines()) <= 360


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_one_way(path):
    here = floor_of(path)
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    if path.name == "__init__.py":
        package = path.relative_to(PACKAGE.parent).parts[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        base = package[: len(package) - node.level + 1]
        target = [*base, *(node.module or "").split(".")] if node.module else list(base)
        names = [target] if node.module else [[*base, a.name] for a in node.names]
        for name in names:
            top = name[1] if len(name) > 1 else "__init__"
            if top not in FLOORS:
                continue
            assert FLOORS[top] <= here, f"{path.name} (floor {here}) imports {'.'.join(name)}"


def test_architecture_md_names_every_module_once_with_one_floor():
    for path in MODULES:
        rel = path.relative_to(PACKAGE).as_posix()
        folder = rel.split("/")[0] + "/"
        if rel == "data/__init__.py":
            continue  # the marker of the data/ package: a docstring, no code
        assert rel in TABLE or folder in TABLE, f"{rel} is not in ARCHITECTURE.md's table"
    data_floors = {f for n, f in TABLE.items() if n.startswith("data/")}
    assert data_floors == {FLOORS["data"]}  # a folder is one floor


# -- sizes: a class, a function, the branches of a function ------------------------------
def body_lines(fn) -> int:
    """Lines of a function, its docstring left out."""
    first = fn.body[0]
    doc = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant)
    doc_lines = first.end_lineno - first.lineno + 1 if doc else 0
    return fn.end_lineno - fn.lineno + 1 - doc_lines


def complexity(fn) -> int:
    """Cyclomatic complexity, counted as radon counts it: 1, plus 1 per if, loop, except,
    assert, conditional expression and comprehension clause, plus 1 per extra and/or operand."""
    n = 1
    for node in ast.walk(fn):
        if isinstance(node, (ast.If, ast.IfExp, ast.For, ast.While, ast.ExceptHandler, ast.Assert)):
            n += 1
        elif isinstance(node, ast.BoolOp):
            n += len(node.values) - 1
        elif isinstance(node, ast.comprehension):
            n += 1 + len(node.ifs)
    return n


def definitions(kind):
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, kind):
                yield path.relative_to(PACKAGE).as_posix(), node


def test_no_class_over_200_lines_and_no_function_over_50():
    long_classes = [(p, c.name) for p, c in definitions(ast.ClassDef)
                    if c.end_lineno - c.lineno + 1 > 200]  # fmt: skip
    long_functions = [(p, f.name) for p, f in definitions(ast.FunctionDef) if body_lines(f) > 50]
    assert not long_classes and not long_functions


def test_the_loop_and_the_modes_have_no_complex_function():
    """Radon's grade C starts at 11: none in the learner, the modes and the data."""
    core = [(p, f.name, complexity(f)) for p, f in definitions(ast.FunctionDef)
            if p in ("learner.py", "bptt.py") or p.startswith("data/")]  # fmt: skip
    assert [c for c in core if c[2] > 10] == []


def test_the_size_checks_can_fail():
    tree = ast.parse("def f(a, b):\n    if a and b:\n        return [x for x in a if x]\n"
                     + "    return 1 if b else 2\n")  # fmt: skip
    assert complexity(tree.body[0]) == 1 + 1 + 1 + 2 + 1 and body_lines(tree.body[0]) == 4


# -- one source of truth -------------------------------------------------------------------
BRANCH_ON_MODE = re.compile(r"\bmode\s*[!=]=|\.stateful\b|sub_seq_len\s*==\s*(self\.)?win_sz")


def code_lines(path: Path):
    """(line number, line) of a module's code, comments and docstrings left out."""
    tree = ast.parse(path.read_text())
    docs = {n.body[0].lineno for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}  # fmt: skip
    for i, line in enumerate(path.read_text().splitlines(), 1):
        code = line.split("#")[0]
        if i not in docs and code.strip() and not code.strip().startswith(("'", '"')):
            yield i, code


def test_only_bptt_py_branches_on_the_mode():
    found = [(p.relative_to(PACKAGE).as_posix(), i, line.strip()) for p in MODULES
             if p.name != "bptt.py" for i, line in code_lines(p) if BRANCH_ON_MODE.search(line)]  # fmt: skip
    model = [f for f in found if f[0] == "model.py"]
    assert model == [f for f in found if f[0] == "model.py" and "self.stateful" in f[2]]
    assert [f for f in found if f[0] != "model.py"] == []
    assert BRANCH_ON_MODE.search('if self.mode == "full":')  # the pattern can match


def test_every_module_says_what_it_exports_and_nobody_imports_a_private_name():
    for path in MODULES:
        tree = ast.parse(path.read_text())
        assigned = {t.id: n for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                    if isinstance(t, ast.Name)}  # fmt: skip
        rel = path.relative_to(PACKAGE).as_posix()
        if path.name == "__init__.py" and rel != "__init__.py" and "__all__" not in assigned:
            assert not [n for n in tree.body if isinstance(n, ast.ImportFrom)], rel
            continue  # a package marker only (data/)
        assert "__all__" in assigned, f"{rel} has no __all__"
        module = __import__(f"tbptt_kit.{rel[:-3].replace('/', '.')}".removesuffix(".__init__"),
                            fromlist=["*"])  # fmt: skip
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert not missing, f"{rel}: __all__ names {missing}, which it does not have"
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{rel} imports the private {private} of {node.module}"


PUBLIC = {"tbptt_kit", "tbptt_kit.memory", "tbptt_kit.plots", "tbptt_kit.widgets",
          "tbptt_kit.checks", "tbptt_kit.data.silverbox"}  # fmt: skip


def notebook_code(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebooks_use_the_public_api_only(path):
    code = notebook_code(path)
    imported = set(re.findall(r"^\s*(?:from|import)\s+(tbptt_kit[\w.]*)", code, re.M))
    assert imported <= PUBLIC, imported - PUBLIC
    assert not re.search(r"\.ds\b", code), "reach through dls.valid.records / windows instead"


def test_the_loop_fits_on_one_screen():
    lines = inspect.getsource(Learner.train_epoch) + inspect.getsource(Learner.one_batch)
    assert len(lines.splitlines()) <= 25


# -- a learner with every callback, and the guarantee that none patches it -----------------
def dls(sub_seq_len=20):
    rng = np.random.default_rng(0)
    u = rng.standard_normal(1500).astype(np.float32)
    y = np.convolve(u, np.exp(-np.arange(20) / 5.0))[:1500].astype(np.float32)
    return create_dls((u[:1200], y[:1200]), (u[1200:], y[1200:]), bs=4, win_sz=60, stp_sz=30,
                      sub_seq_len=sub_seq_len)  # fmt: skip


METHODS = {n for n, v in inspect.getmembers(RNNLearner) if callable(v)}


class NoPatch(Callback):
    """Fails the run if any learner method is replaced on the instance, at any event."""

    order = 100

    def check(self, learn):
        assert not METHODS & set(vars(learn)), METHODS & set(vars(learn))

    before_fit = before_epoch = before_batch = after_backward = check
    after_batch = after_epoch = after_fit = check


@pytest.mark.parametrize("kw", [{}, {"bptt_len": 40}, {"bptt": "checkpointed"}])
def test_no_callback_replaces_a_learner_method(kw, capsys):
    sub = 20 if kw.get("bptt") != "checkpointed" else None
    learn = RNNLearner(dls(sub), "lstm", 8, sub_seq_len=20, seed=0, clip_grad=1.0,
                       max_memory="1 GiB", cbs=[NoPatch()], **kw)  # fmt: skip
    learn.fit(1)
    measure_memory(learn)
    assert not METHODS & set(vars(learn))


# -- interrupted at every stage of a step, then refitted ----------------------------------
class Interrupt(Callback):
    """Ctrl-C once, at ``event`` of the fourth training step."""

    def __init__(self, event: str):
        self.event, self.fired = event, False

    def fire(self, learn, event):
        if event == self.event and learn.training and learn.step_in_epoch == 3 and not self.fired:
            self.fired = True
            raise KeyboardInterrupt(f"interrupted at {event}")

    def before_batch(self, learn):
        self.fire(learn, "before_batch")  # before the forward pass

    def after_backward(self, learn):
        self.fire(learn, "after_backward")  # after backward, before the step

    def after_batch(self, learn):
        self.fire(learn, "after_batch")


class InterruptedAdam(torch.optim.Adam):
    """Adam whose fourth step is interrupted half-way (inside the optimizer step)."""

    def step(self, closure=None):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 4:
            raise KeyboardInterrupt("interrupted in the optimizer step")
        return super().step(closure)


@pytest.mark.parametrize("where", ["before_batch", "after_backward", "after_batch", "optimizer"])
def test_an_interrupted_fit_leaves_the_learner_as_a_finished_one(where):
    reference = RNNLearner(dls(), "lstm", 8, sub_seq_len=20, seed=0, progress=False)
    learn = RNNLearner(dls(), "lstm", 8, sub_seq_len=20, seed=0, progress=False)
    if where == "optimizer":
        learn.opt_func = lambda params, lr: InterruptedAdam(list(params), lr=lr)
    else:
        learn.add_cb(Interrupt(where))
    with pytest.raises(KeyboardInterrupt, match="interrupted (at|in the optimizer)"):
        learn.fit(2)
    assert not learn.training and not learn.model.training
    memory_after = measure_memory(learn, peak=False).activation_bytes
    assert memory_after == measure_memory(reference, peak=False).activation_bytes > 0
    learn.opt_func = reference.opt_func
    learn.fit(1)
    assert all(math.isfinite(v) for v in learn.validate())
    assert learn.recorder.epochs[-1]["act_mem"] == memory_after
