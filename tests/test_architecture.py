"""The package's shape, read from its syntax trees: ARCHITECTURE.md says it, this checks it.

- the core (``tbptt_kit/core/``): the files and line counts of ARCHITECTURE.md's reading table,
  at most 700 lines in all, importing only torch, numpy, the standard library and itself;
- imports run one way, by the floors ARCHITECTURE.md gives;
- only ``tbptt_kit/modes/`` tells the modes apart, and the model keeps no state;
- the detach of the carried state exists once, in the loop;
- short modules, classes and functions, no line packing, every module's ``__all__``;
- notebooks import only the public modules;
- no callback replaces a learner method, and an interrupted fit leaves a finished learner.
"""

import ast
import inspect
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tbptt_kit import Callback, Learner, RNNLearner, create_dls
from tbptt_kit.course.memory import measure_memory
from tbptt_kit.modes import BPTT, MODES

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tbptt_kit"
MODULES = sorted(PACKAGE.rglob("*.py"))
ARCH = (ROOT / "ARCHITECTURE.md").read_text()


def rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def tables() -> list[list[list[str]]]:
    """ARCHITECTURE.md's tables: each a list of rows, each a list of cells."""
    found, rows = [], []
    for line in ARCH.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not set("".join(cells)) <= set("-: "):
                rows.append(cells)
        elif rows:
            found, rows = [*found, rows], []
    return found


def table_with(header: list[str]) -> list[list[str]]:
    return next(t[1:] for t in tables() if t[0] == header)


# -- the core ---------------------------------------------------------------------------
CORE_TABLE = table_with(["order", "file", "lines", "what it holds"])


def test_the_core_is_the_reading_table_and_at_most_700_lines():
    named = {
        re.search(r"`(core/[\w.]+)`", r[1]).group(1): int(r[2]) for r in CORE_TABLE if "`" in r[1]
    }
    on_disk = {rel(p): len(p.read_text().splitlines()) for p in (PACKAGE / "core").glob("*.py")}
    assert named == on_disk  # every core file in the table, with its line count
    total = int(next(r[2] for r in CORE_TABLE if "in all" in r[1]).strip("*"))
    assert total == sum(on_disk.values()) <= 700


def imported_modules(tree: ast.AST):
    """(module name, level) of every import in a syntax tree, function-level ones too;
    ``from . import a, b`` gives each of a and b."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((a.name, 0) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is None:
            yield from ((a.name, node.level) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.module, node.level


def test_the_core_imports_only_torch_numpy_the_standard_library_and_itself():
    allowed = set(sys.stdlib_module_names) | {"torch", "numpy"}
    for path in (PACKAGE / "core").glob("*.py"):
        for name, level in imported_modules(ast.parse(path.read_text())):
            if level:
                assert level == 1, f"{rel(path)} imports {'.' * level}{name}: outside the core"
            else:
                assert name.split(".")[0] in allowed, f"{rel(path)} imports {name}"


def test_the_import_check_can_fail():
    tree = ast.parse("from ..validation import check_int\nimport matplotlib.pyplot\n")
    assert list(imported_modules(tree)) == [("validation", 2), ("matplotlib.pyplot", 0)]


# -- floors -----------------------------------------------------------------------------
def floors() -> dict[str, int]:
    """ARCHITECTURE.md's floors: module path or folder ("core/") -> floor."""
    named = {}
    for floor, modules in table_with(["floor", "module"]):
        for name in re.findall(r"`([\w/]+(?:\.py|/))`", modules):
            named[name] = int(floor)
    return named


FLOORS = floors()


def floor_of(module: str) -> int:
    """The floor of a module path ("course/plots.py"): its own entry, else its folder's."""
    if module in FLOORS:
        return FLOORS[module]
    return FLOORS[module.split("/")[0] + "/"]


def target_of(path: Path, name: str, level: int) -> str | None:
    """The module path (relative to the package) a relative import reaches, or None."""
    if not level:
        return None
    base = path.relative_to(PACKAGE).parent.parts[
        : len(path.relative_to(PACKAGE).parent.parts) - level + 1
    ]
    parts = [*base, *name.split(".")] if name else list(base)
    for candidate in ("/".join(parts) + ".py", "/".join(parts) + "/__init__.py"):
        if (PACKAGE / candidate).exists():
            return candidate
    return "/".join(parts) + "/"  # a folder imported as a package


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_every_module_has_a_floor_and_imports_only_at_or_below_it(path):
    here = floor_of(rel(path))
    for name, level in imported_modules(ast.parse(path.read_text())):
        target = target_of(path, name, level)
        if target is not None:
            assert floor_of(target) <= here, f"{rel(path)} (floor {here}) imports {target}"


# -- the modes: only modes/ tells them apart; the model keeps no state -------------------
MODE_FIELDS = {"truncation", "backprop_len", "bptt_len", "past_u", "past_state", "past_resets"}
MODE_CLASSES = {c.__name__ for c in MODES.values()} | {"ReRun", "Chunks", "RandomCuts"}
TESTS = (ast.If, ast.IfExp, ast.While, ast.Assert, ast.comprehension, ast.Match)


def mode_branches(tree: ast.AST) -> list[str]:
    """Where code outside modes/ tells the modes apart: reads a mode's own fields, compares
    a mode's name, tests ``.mode``, or imports a mode's class."""
    found = []
    tested = set()
    for node in ast.walk(tree):
        if isinstance(node, TESTS):
            expr = node.subject if isinstance(node, ast.Match) else getattr(node, "test", None)
            for part in [expr] if expr is not None else node.ifs:
                tested |= {id(n) for n in ast.walk(part)}
        if isinstance(node, ast.Compare):
            tested |= {id(n) for n in ast.walk(node)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in MODE_FIELDS:
            found.append(f"line {node.lineno}: reads .{node.attr}")
        elif isinstance(node, ast.Attribute) and node.attr == "mode" and id(node) in tested:
            found.append(f"line {node.lineno}: tests .mode")
        elif isinstance(node, ast.Constant) and node.value in MODES and id(node) in tested:
            found.append(f"line {node.lineno}: compares the mode name {node.value!r}")
        elif isinstance(node, ast.ImportFrom) and MODE_CLASSES & {a.name for a in node.names}:
            found.append(
                f"line {node.lineno}: imports {MODE_CLASSES & {a.name for a in node.names}}"
            )
    return found


@pytest.mark.parametrize("path", [p for p in MODULES if "modes" not in p.parts], ids=rel)
def test_only_the_modes_folder_tells_the_modes_apart(path):
    allowed = {"deprecated.py"}  # the old names point at the new ones, nothing more
    if rel(path) not in allowed:
        assert mode_branches(ast.parse(path.read_text())) == []


def test_the_mode_check_can_fail():
    code = (
        "if learn.bptt.mode == 'full': pass\n"
        "k2 = bptt.backprop_len\n"
        "x = 1 if b.mode in ('a',) else 2\n"
        "ok = name == 'checkpointed'\n"
        "from .modes.truncated import ReRun\n"
        "label = bptt.label; mode = args.mode\n"  # reading a label or passing a name on: fine
    )
    flagged = {int(f.split(":")[0].removeprefix("line ")) for f in mode_branches(ast.parse(code))}
    assert flagged == {1, 2, 3, 4, 5}


def test_every_mode_says_what_the_loop_and_the_course_read():
    for name, mode in MODES.items():
        for attr in (
            "check",
            "check_loaders",
            "graph_len",
            "label",
            "carry",
            "carries_state",
            "exact",
        ):
            assert hasattr(mode, attr), f"mode {name!r} has no {attr}"
    for prop in ("label", "loader_sub_seq_len", "graph_len", "carries_state", "exact", "carry"):
        assert hasattr(BPTT, prop)


def state_assignments(tree: ast.AST) -> list[tuple[str, int]]:
    """(what, line) of each attribute assignment of a hidden state or a mode's past."""
    found = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else []
        for t in targets:
            for a in ast.walk(t):
                if isinstance(a, ast.Attribute) and a.attr in {"hidden_state", *MODE_FIELDS}:
                    found.append((ast.unparse(a), node.lineno))
    return found


def test_the_model_keeps_no_state_and_the_carried_state_is_held_by_the_loop_or_a_mode():
    holders = {}
    for path in MODULES:
        for what, _ in state_assignments(ast.parse(path.read_text())):
            holders.setdefault(what.split(".")[0], set()).add(rel(path))
    # the loop (self in core/learner.py), run_windows putting it back (learn), a mode's carry
    assert holders.pop("self") <= {"core/learner.py", "modes/truncated.py", "modes/randomized.py"}
    assert set(holders) <= {"learn"}, holders


def test_the_detach_of_the_carried_state_exists_once_in_the_loop():
    found = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", "") == "detach_state"
                and any(
                    isinstance(t, ast.Attribute) and t.attr == "hidden_state" for t in node.targets
                )
            ):
                found.append(rel(path))
    assert found == ["core/learner.py"]
    source = inspect.getsource(Learner.one_batch)
    for line in re.findall(
        r"^(state = .*|self\.pred, state = .*|self\.hidden_state = .*)$", ARCH, re.M
    ):
        assert line.split("  #")[0] in source  # ARCHITECTURE.md quotes the lines that run


# -- sizes and style ----------------------------------------------------------------------
def body_lines(fn) -> int:
    """Lines of a function, its docstring left out."""
    first = fn.body[0]
    doc = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant)
    doc_lines = first.end_lineno - first.lineno + 1 if doc else 0
    return fn.end_lineno - fn.lineno + 1 - doc_lines


def complexity(fn) -> int:
    """Cyclomatic complexity as radon counts it: 1, plus 1 per if, loop, except, assert,
    conditional expression and comprehension clause, plus 1 per extra and/or operand."""
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
                yield rel(path), node


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_no_module_is_longer_than_a_few_minutes_of_reading_and_none_packs_lines(path):
    text = path.read_text()
    assert len(text.splitlines()) <= 360
    assert "fmt: skip" not in text and "fmt: off" not in text  # formatted as ruff formats it


def test_no_class_over_200_lines_and_no_function_over_50():
    long_classes = [
        (p, c.name) for p, c in definitions(ast.ClassDef) if c.end_lineno - c.lineno + 1 > 200
    ]
    long_functions = [(p, f.name) for p, f in definitions(ast.FunctionDef) if body_lines(f) > 50]
    assert not long_classes and not long_functions


def test_the_core_the_modes_and_the_data_have_no_complex_function():
    """Radon's grade C starts at 11."""
    parts = ("core/", "modes/", "data/")
    complex_ = [
        (p, f.name, complexity(f)) for p, f in definitions(ast.FunctionDef) if p.startswith(parts)
    ]
    assert [c for c in complex_ if c[2] > 10] == []


def test_the_size_checks_can_fail():
    tree = ast.parse(
        "def f(a, b):\n    if a and b:\n        return [x for x in a if x]\n    return 1 if b else 2\n"
    )
    assert complexity(tree.body[0]) == 1 + 1 + 1 + 2 + 1 and body_lines(tree.body[0]) == 4


def test_every_module_says_what_it_exports_and_nobody_imports_a_private_name():
    for path in MODULES:
        tree = ast.parse(path.read_text())
        assigned = {
            t.id
            for n in tree.body
            if isinstance(n, ast.Assign)
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        if path.name == "__main__.py":
            continue  # the command line's entry point: it exports nothing
        if path.name == "__init__.py" and "__all__" not in assigned:
            relative = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.level]
            assert not relative, f"{rel(path)}: a package's reading guide imports nothing"
            continue
        assert "__all__" in assigned, f"{rel(path)} has no __all__"
        name = f"tbptt_kit.{rel(path)[:-3].replace('/', '.')}".removesuffix(".__init__")
        module = __import__(name, fromlist=["*"])
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert not missing, f"{rel(path)}: __all__ names {missing}, which it does not have"
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{rel(path)} imports the private {private} of {node.module}"


def test_architecture_md_names_every_folder_and_every_top_level_module():
    folders = table_with(["folder", "for", "what"])
    text = " ".join(" ".join(r) for r in folders)
    for path in MODULES:
        parts = path.relative_to(PACKAGE).parts
        if len(parts) == 1:
            assert f"`{parts[0]}`" in text, f"{parts[0]} is not in ARCHITECTURE.md"
        else:
            assert f"`{parts[0]}/`" in text, f"{parts[0]}/ is not in ARCHITECTURE.md"
            if parts[0] != "core" and len(parts) == 2 and parts[1] != "__init__.py":
                assert f"`{parts[1]}`" in text or f"`{parts[1][:-3]}" in text, (
                    f"{rel(path)} is not named"
                )


# -- notebooks ----------------------------------------------------------------------------
PUBLIC = {
    "tbptt_kit",
    "tbptt_kit.course.plots",
    "tbptt_kit.course.memory",
    "tbptt_kit.course.widgets",
    "tbptt_kit.course.checks",
    "tbptt_kit.data.silverbox",
    "tbptt_kit.modes",
    "tbptt_kit.tooling.train",
    "tbptt_kit.tooling.distributed",
}


def notebook_imports(code: str) -> set[str]:
    """Every kit module a notebook's code imports, ``from tbptt_kit import module`` included."""
    lines = [line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))]
    found = set()
    for node in ast.walk(ast.parse("\n".join(lines))):
        names = (
            [a.name for a in node.names] if isinstance(node, (ast.Import, ast.ImportFrom)) else []
        )
        if isinstance(node, ast.Import):
            found |= {n for n in names if n.startswith("tbptt_kit")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tbptt_kit"):
            found.add(node.module)
            parent = __import__(node.module, fromlist=["*"])
            found |= {
                f"{node.module}.{n}" for n in names if inspect.ismodule(getattr(parent, n, None))
            }
    return found


def notebook_code(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebooks_import_only_the_public_modules(path):
    code = notebook_code(path)
    assert notebook_imports(code) <= PUBLIC, notebook_imports(code) - PUBLIC
    assert not re.search(r"\.ds\b", code), "reach through dls.records / dls.windows instead"


def test_the_notebook_import_check_can_fail():
    found = notebook_imports(
        "%matplotlib inline\nfrom tbptt_kit import claim, deprecated\nimport tbptt_kit.core.model\n"
    )
    assert found - PUBLIC == {"tbptt_kit.deprecated", "tbptt_kit.core.model"}


def test_the_loop_fits_on_one_screen():
    lines = [
        inspect.getsource(f) for f in (Learner.one_batch, Learner.forward, Learner.train_epoch)
    ]
    assert len("".join(lines).splitlines()) <= 40


# -- a learner with every callback, and the guarantee that none patches it ---------------
def dls(sub_seq_len=20):
    rng = np.random.default_rng(0)
    u = rng.standard_normal(1500).astype(np.float32)
    y = np.convolve(u, np.exp(-np.arange(20) / 5.0))[:1500].astype(np.float32)
    train, valid = (u[:1200], y[:1200]), (u[1200:], y[1200:])
    return create_dls(train, valid, bs=4, win_sz=60, stp_sz=30, sub_seq_len=sub_seq_len)


METHODS = {n for n, v in inspect.getmembers(RNNLearner) if callable(v)}


class NoPatch(Callback):
    """Fails the run if any learner method is replaced on the instance, at any event."""

    order = 100

    def check(self, learn):
        assert not METHODS & set(vars(learn)), METHODS & set(vars(learn))

    before_fit = before_epoch = before_batch = after_backward = check
    after_batch = after_epoch = after_fit = check


@pytest.mark.parametrize("kw", [{}, {"backprop_len": 40}, {"mode": "checkpointed"}])
def test_no_callback_replaces_a_learner_method(kw, capsys):
    sub = None if kw.get("mode") == "checkpointed" else 20
    learn = RNNLearner(
        dls(sub),
        "lstm",
        8,
        sub_seq_len=20,
        seed=0,
        clip_grad=1.0,
        max_memory="1 GiB",
        cbs=[NoPatch()],
        **kw,
    )
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
