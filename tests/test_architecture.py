"""The package's shape: short modules, imports one way, a loop that nothing patches.

ARCHITECTURE.md names the floors; a module imports only from its own floor or below.
"""

import ast
import inspect
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tbptt_kit import Callback, Learner, RNNLearner, create_dls
from tbptt_kit.memory import measure_memory

PACKAGE = Path(__file__).resolve().parent.parent / "tbptt_kit"
FLOORS = {
    "table": 0, "smoke": 0, "threads": 0,
    "data": 1, "progress": 1,
    "model": 2,
    "bptt": 3,
    "learner": 4,
    "callbacks": 5, "evaluate": 5, "memory": 5,
    "rnn_learner": 6,
    "lens": 7, "compare": 7, "plots": 7,
    "widgets": 8, "checks": 8,
    "__init__": 9,
}  # fmt: skip
MODULES = sorted(PACKAGE.rglob("*.py"))


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
            raise KeyboardInterrupt

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
            raise KeyboardInterrupt
        return super().step(closure)


@pytest.mark.parametrize("where", ["before_batch", "after_backward", "after_batch", "optimizer"])
def test_an_interrupted_fit_leaves_the_learner_as_a_finished_one(where):
    reference = RNNLearner(dls(), "lstm", 8, sub_seq_len=20, seed=0, progress=False)
    learn = RNNLearner(dls(), "lstm", 8, sub_seq_len=20, seed=0, progress=False)
    if where == "optimizer":
        learn.opt_func = lambda params, lr: InterruptedAdam(list(params), lr=lr)
    else:
        learn.add_cb(Interrupt(where))
    with pytest.raises(KeyboardInterrupt):
        learn.fit(2)
    assert not learn.training and not learn.model.training
    memory_after = measure_memory(learn, peak=False).activation_bytes
    assert memory_after == measure_memory(reference, peak=False).activation_bytes > 0
    learn.opt_func = reference.opt_func
    learn.fit(1)
    assert all(math.isfinite(v) for v in learn.validate())
    assert learn.recorder.epochs[-1]["act_mem"] == memory_after
