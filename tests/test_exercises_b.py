"""Exercises of notebooks 04 and 06: the worked solution passes its check, and each usual
mistake gets the feedback that names it. Each check runs in well under 1 GB."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import tbptt_kit as tk
from tbptt_kit import checks

SOLUTIONS = Path(__file__).resolve().parent.parent / "notebooks" / "solutions"


def solution(name: str, func: str):
    """The function ``func`` a solution file defines (its other statements left out)."""
    tree = ast.parse((SOLUTIONS / name).read_text())
    keep = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.Import, ast.ImportFrom))]
    namespace = {}
    exec(compile(ast.Module(keep, []), name, "exec"), namespace)
    return namespace[func]


def verdict(check, func, capsys) -> tuple[str, str]:
    result = check(func)
    return result, capsys.readouterr().out


# -- 04, exercise 1: TBPTT by hand --------------------------------------------------------
def _loop(detach=True, reset="window", zero_each=False):
    def tbptt_grads(rnn, head, batches, sub_seq_len):
        state = None
        for u, y in batches:
            if reset == "window":
                state = None
            for t in range(0, u.shape[1], sub_seq_len):
                if reset == "every":
                    state = None
                if zero_each:
                    for p in [*rnn.parameters(), *head.parameters()]:
                        p.grad = None
                out, state = rnn(u[:, t : t + sub_seq_len], state)
                ((head(out) - y[:, t : t + sub_seq_len]) ** 2).mean().backward()
                if detach:
                    state = tuple(s.detach() for s in state)
        return [p.grad for p in [*rnn.parameters(), *head.parameters()]]

    return tbptt_grads


def test_04_ex1_solution_is_right(capsys):
    result, out = verdict(checks.check_tbptt_grads, solution("04_ex1.py", "tbptt_grads"), capsys)
    assert result == checks.RIGHT, out


def test_04_ex1_stub_is_not_done(capsys):
    def stub(*args):
        raise NotImplementedError

    assert verdict(checks.check_tbptt_grads, stub, capsys)[0] == checks.NOT_DONE


@pytest.mark.parametrize(
    "wrong, says",
    [
        (_loop(detach=False), "you did not detach: the graph grows across sub-windows"),
        (_loop(reset="every"), "You reset at every sub-window: the state never carries"),
        (_loop(reset="never"), "You did not reset at the new batch"),
        (_loop(zero_each=True), "No zero_grad in between"),
        (lambda *args: -1.0, "not yet right"),
    ],
)
def test_04_ex1_wrong_solutions_get_their_feedback(wrong, says, capsys):
    result, out = verdict(checks.check_tbptt_grads, wrong, capsys)
    assert result == checks.WRONG
    assert says in out, out


def test_04_ex1_summed_loss_without_detach_is_named(capsys):
    """Backpropagating the window's summed loss once is full BPTT: named as no detach."""

    def summed(rnn, head, batches, sub_seq_len):
        for u, y in batches:
            state, total = None, 0
            for t in range(0, u.shape[1], sub_seq_len):
                out, state = rnn(u[:, t : t + sub_seq_len], state)
                total = total + ((head(out) - y[:, t : t + sub_seq_len]) ** 2).mean()
            total.backward()
        return [p.grad for p in [*rnn.parameters(), *head.parameters()]]

    result, out = verdict(checks.check_tbptt_grads, summed, capsys)
    assert result == checks.WRONG and "You did not detach" in out, out


def test_04_ex1_reference_is_the_kit_learner_step():
    """The check's reference (the kit's StatefulRNN + Learner step) equals a plain loop."""
    rnn, head, batches = checks.exercise_setup(3)
    truth = checks.kit_grads(rnn, head, batches, 6)
    mine = _loop()(rnn, head, batches, 6)
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-7) for a, b in zip(truth, mine))


# -- 04, exercise 2: the gradient by lag ---------------------------------------------------
def _lag(flip=True, last_only=True, carried=False):
    def my_grad_by_lag(model, u, y):
        u = u.clone().requires_grad_(True)
        pred = model(u) if carried else model.forward_from(u)[0]
        loss = tk.mae(pred[:, -1], y[:, -1]) if last_only else tk.mae(pred, y)
        (grad,) = torch.autograd.grad(loss, u)
        norms = grad.pow(2).sum(dim=(0, 2)).sqrt()
        return (norms.flip(0) if flip else norms).numpy()

    return my_grad_by_lag


def test_04_ex2_solution_is_right(capsys):
    result, out = verdict(checks.check_grad_by_lag, solution("04_ex2.py", "my_grad_by_lag"), capsys)
    assert result == checks.RIGHT, out


@pytest.mark.parametrize(
    "wrong, says",
    [
        (_lag(flip=False), "Your array is in time order"),
        (_lag(last_only=False), "You used the loss of every step"),
        (_lag(carried=True), "Start from a zero state"),
        (lambda *args: -1.0, "not yet right"),
    ],
)
def test_04_ex2_wrong_solutions_get_their_feedback(wrong, says, capsys):
    result, out = verdict(checks.check_grad_by_lag, wrong, capsys)
    assert result == checks.WRONG and says in out, out


# -- 06, exercise 1: the gradient by lag under truncation ----------------------------------
def _truncated(detach=True, flip=True):
    def my_truncated_grad_by_lag(model, u, y, sub_seq_len):
        u = u.clone().requires_grad_(True)
        state, preds = None, []
        for t in range(0, u.shape[1], sub_seq_len):
            pred, state = model.forward_from(u[:, t : t + sub_seq_len], state)
            state = tk.detach_state(state) if detach else state
            preds.append(pred)
        pred = torch.cat(preds, dim=1)
        (grad,) = torch.autograd.grad(tk.mae(pred[:, -1], y[:, -1]), u)
        norms = grad.pow(2).sum(dim=(0, 2)).sqrt()
        return (norms.flip(0) if flip else norms).numpy()

    return my_truncated_grad_by_lag


def test_06_ex1_solution_is_right(capsys):
    func = solution("06_ex1.py", "my_truncated_grad_by_lag")
    result, out = verdict(checks.check_truncated_grad_by_lag, func, capsys)
    assert result == checks.RIGHT, out


@pytest.mark.parametrize(
    "wrong, says",
    [
        (_truncated(detach=False), "That is full BPTT's curve: you did not detach"),
        (_truncated(flip=False), "Your array is in time order"),
        (lambda *args: -1.0, "not yet right"),
    ],
)
def test_06_ex1_wrong_solutions_get_their_feedback(wrong, says, capsys):
    result, out = verdict(checks.check_truncated_grad_by_lag, wrong, capsys)
    assert result == checks.WRONG and says in out, out


# -- 06, exercise 2: clipping by norm ------------------------------------------------------
def clamp_each(params, max_norm):
    for p in params:
        p.grad.clamp_(-max_norm, max_norm)
    return float(torch.sqrt(sum((p.grad**2).sum() for p in params)))


def per_parameter(params, max_norm):
    total = float(torch.sqrt(sum((p.grad**2).sum() for p in params)))
    for p in params:
        p.grad.mul_(min(1.0, max_norm / float(p.grad.norm())))
    return total


def test_06_ex2_solution_is_right(capsys):
    result, out = verdict(checks.check_clip_by_norm, solution("06_ex2.py", "clip_by_norm"), capsys)
    assert result == checks.RIGHT, out


@pytest.mark.parametrize(
    "wrong, says",
    [
        (clamp_each, "You clipped each value on its own"),
        (per_parameter, "You clipped each parameter's gradient by its own norm"),
        (lambda params, max_norm: -1.0, "The gradients did not change"),
    ],
)
def test_06_ex2_wrong_solutions_get_their_feedback(wrong, says, capsys):
    result, out = verdict(checks.check_clip_by_norm, wrong, capsys)
    assert result == checks.WRONG and "not yet right" in out and says in out, out


# -- memory: every exercise cell well under 1 GB --------------------------------------------
CELL = """
import resource, ast, sys
import numpy as np, torch
import tbptt_kit as tk
from tbptt_kit import checks
src = open({path!r}).read()
tree = ast.parse(src)
keep = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.Import, ast.ImportFrom))]
ns = {{"checks": checks, "tk": tk, "np": np, "torch": torch}}
exec(compile(ast.Module(keep, []), "sol", "exec"), ns)
assert getattr(checks, {check!r})(ns[{func!r}]) == checks.RIGHT
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.parametrize(
    "name, check, func",
    [
        ("04_ex1.py", "check_tbptt_grads", "tbptt_grads"),
        ("04_ex2.py", "check_grad_by_lag", "my_grad_by_lag"),
        ("06_ex1.py", "check_truncated_grad_by_lag", "my_truncated_grad_by_lag"),
        ("06_ex2.py", "check_clip_by_norm", "clip_by_norm"),
    ],
)
def test_exercise_checks_stay_under_1_gb(name, check, func):
    code = CELL.format(path=str(SOLUTIONS / name), check=check, func=func)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    peak_kib = int(done.stdout.split()[-1])  # Linux: ru_maxrss in KiB
    assert peak_kib < 2**20, f"{name}: peak {peak_kib / 1024:.0f} MiB"
