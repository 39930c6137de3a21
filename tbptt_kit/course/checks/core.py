"""What every exercise's self-check and graded test share: one definition per exercise.

An ``Exercise`` holds the cases (fixed ones, and a recipe for random ones), one reference
of its own (independent code: not the kit's answer), and ``compare``, which says what is
wrong with a result in the student's terms. From it:

- the self-check (``check``, what ``checks.check_...`` runs in the notebook) calls the
  student's function on every case (``collect``), then computes the references and
  judges (``judge``);
- the graded test (``graded``, in grading/tests/) collects the same way, but the
  references and the verdict come from a fresh process that never ran the student's code
  (``verify.py``), which also draws the random cases' seed.

So a "right" from the self-check and full marks from the grader cannot disagree: the same
cases, the same reference, the same judgement. The student's results are read as plain
values of exact types (``tbptt_kit.tooling.grading``) and compared with Python's own
operators; while the student's function runs, the kit's answer and the reference are
switched off. A stub that still raises NotImplementedError is "not done", never a crash.
"""

from __future__ import annotations

import builtins
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from random import Random
from tracemalloc import get_traced_memory, is_tracing, reset_peak, start, stop

__builtins__ = dict(vars(builtins))  # a copy: a cell that patches builtins does not reach here

__all__ = [
    "EXERCISES",
    "NOT_DONE",
    "RIGHT",
    "WRONG",
    "Differs",
    "Exercise",
    "Verdict",
    "all_cases",
    "all_close",
    "close",
    "collect",
    "differs",
    "graded",
    "judge",
    "named",
    "reads",
    "wanted",
]

_DUMPS, _LOADS, _URANDOM = json.dumps, json.loads, os.urandom
VERIFY = str(Path(__file__).with_name("verify.py"))
EXERCISES: dict = {}  # "01.1" -> its Exercise, filled as the notebook modules are imported


class Verdict(str):
    """A check's result, "right", "wrong" or "not done": compares as a string, but a notebook
    cell ending in a check shows only the printed verdict, not this value again."""

    def _ipython_display_(self):
        pass


NOT_DONE, RIGHT, WRONG = Verdict("not done"), Verdict("right"), Verdict("wrong")


@dataclass(frozen=True)
class Exercise:
    """One exercise: ``key`` "NN.K"; ``func`` the student's function's name; ``fixed``
    cases (JSON values) and ``draw(rng) -> case`` for ``draws`` random ones; ``reference(case)``
    the right answer as plain values; ``compare(got, want, case)`` None or what is wrong.
    Student's side: ``inputs(case)`` -> {"args": the arguments, ...}; ``answer(result,
    call)`` the result as plain values (``NotPlain`` says what to return); ``blocked``
    ((name, "module:attribute"), ...), the kit's own answers; ``traced``: measure the call's
    memory (call["peak"], bytes); ``errors``: (words, what they mean) for an error the
    student's function may raise. ``show(case)`` writes the call; ``hint`` helps."""

    key: str
    func: str
    fixed: tuple
    reference: Callable
    compare: Callable
    answer: Callable
    inputs: Callable | None = None
    draw: Callable | None = None
    draws: int = 3
    blocked: tuple = ()
    traced: bool = False
    errors: tuple = ()
    show: Callable | None = None
    hint: str = ""

    def __post_init__(self):
        EXERCISES[self.key] = self

    @property
    def title(self) -> str:
        return f"Exercise {self.key.split('.')[1]}"

    def call(self, case) -> dict:
        """The arguments the student's function gets for ``case`` (built fresh each time)."""
        return self.inputs(case) if self.inputs else {"args": tuple(case)}

    def shown(self, case) -> str:
        if self.show:
            return self.show(case)
        return f"For {self.func}({', '.join(map(repr, case))})"

    def check(self, func, seed: int | None = None) -> Verdict:
        """The self-check: collect, then the references here, then the same judgement as
        the grader's; prints it and returns the verdict."""
        run = all_cases(self, seed)
        verdict, message = judge(self, run, collect(self, func, run), wanted(self, run))
        print(message)
        return verdict


def _plain(value):
    """The value as JSON gives it back: what the grader's process sees, here too."""
    return _LOADS(_DUMPS(value))


def all_cases(ex: Exercise, seed: int | None) -> list:
    """The fixed cases, then ``ex.draws`` drawn from ``seed`` (None: a fresh one)."""
    if seed is None:
        seed = int.from_bytes(_URANDOM(6), "big")
    rng = Random(seed)
    drawn = [ex.draw(rng) for _ in range(ex.draws)] if ex.draw else []
    return _plain([*ex.fixed, *drawn])


def wanted(ex: Exercise, cases: list) -> Callable:
    """want(i): the reference's answer to case i, computed when first asked."""
    found = {}

    def want(i: int):
        if i not in found:
            found[i] = _plain(ex.reference(cases[i]))
        return found[i]

    return want


def reads(reader: str, what: str) -> Callable:
    """An ``answer`` that reads the result with ``tooling.grading``'s ``reader`` (e.g.
    "plain_whole"), saying ``what`` to return when it cannot."""

    def answer(result, call):
        from ...tooling import grading

        return getattr(grading, reader)(result, what)

    return answer


# -- comparing plain values, with Python's own operators ------------------------------------
class Differs(str):
    """A mismatch with no diagnosis: the judgement adds the exercise's hint."""


def differs(got, want) -> Differs:
    return Differs(f"you return {got!r}; the right answer is {want!r}.")


def named(got, mistakes) -> str | None:
    """What is wrong with ``got``, from ``mistakes`` [(what that mistake returns, what it
    is)]: every one that gives ``got`` (a case may not tell two apart), or None."""
    found = [why for value, why in mistakes if value == got]
    return f"you return {got!r}: {' Or: '.join(found)}" if found else None


def close(got, want, rel: float = 1e-9, abs_: float = 0.0) -> bool:
    """Is the number ``got`` within ``rel`` (relative) or ``abs_`` of ``want``?"""
    if type(got) not in (int, float) or type(want) not in (int, float):
        return False
    if got == want:
        return True
    if got != got or want != want:  # NaN
        return False
    gap = got - want if got > want else want - got
    size = want if want > 0 else -want
    return gap <= rel * size or gap <= abs_


def all_close(got: list, want: list, rel: float, abs_: float = 0.0) -> bool:
    """Are two flat lists of numbers of one length, each within ``rel`` or ``abs_``?"""
    return len(got) == len(want) and all(close(g, w, rel, abs_) for g, w in zip(got, want))


def judge(ex: Exercise, cases: list, results: list, want: Callable) -> tuple[Verdict, str]:
    """The verdict and its message on ``results`` (one per case, in order, up to the first
    that is not a value): the first case that is wrong, named with what is wrong."""
    for i, case in enumerate(cases):
        if i >= len(results):
            return WRONG, f"{ex.title}: not yet right: there is no result for case {i + 1}."
        result = results[i]
        if "not done" in result:
            return NOT_DONE, (
                f"{ex.title}: not done yet. Fill in the cell above, run it, then run this one."
            )
        if "wrong" in result:
            return WRONG, f"{ex.title}: not yet right. {ex.shown(case)}: {result['wrong']}."
        problem = ex.compare(result["value"], want(i), case)
        if problem:
            hint = f" Hint: {ex.hint}" if isinstance(problem, Differs) and ex.hint else ""
            return WRONG, f"{ex.title}: not yet right. {ex.shown(case)}: {problem}{hint}"
    n, drawn = len(cases), len(cases) - len(ex.fixed)
    if drawn < 0:  # the first cases only: the part of a graded test a student sees
        more = f" and {ex.draws} drawn at random" if ex.draw else ""
        first = "the first case" if n == 1 else f"the first {n} cases"
        return RIGHT, f"{ex.title}: right on {first}; grading runs all {len(ex.fixed)}{more}."
    return RIGHT, f"{ex.title}: right, on all {n} cases" + (
        f", {drawn} of them drawn at random. Well done." if drawn else ". Well done."
    )


# -- the student's side: call the function, read its result --------------------------------
def _blocked(ex: Exercise) -> dict:
    """{name: function}: the kit's answers ``ex.blocked`` and the checks' own references
    (every function named ``reference...`` in this package)."""
    import importlib
    import sys

    functions = {}
    for name, where in ex.blocked:
        module, _, attribute = where.partition(":")
        functions[name] = getattr(importlib.import_module(module), attribute)
    package = __name__.rpartition(".")[0]
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith(package + "."):
            for name, value in vars(module).items():
                if name.startswith("reference") and callable(value):
                    functions[f"the check's {name}"] = value
    return functions


def collect(ex: Exercise, func, cases: list) -> list:
    """Call ``func`` on each case, the kit's answers switched off; each result as plain
    values ({"value": ...}), or why there is none ({"not done": ""}, {"wrong": why}),
    which ends the list."""
    from ...tooling import grading

    blocked, results = _blocked(ex), []
    for case in cases:
        call = ex.call(case)
        with grading.answers_blocked(blocked) as watch:
            outcome = _outcome(ex, func, call, grading)
        problem = watch.problem()
        outcome = {"wrong": problem} if problem else outcome
        results.append(_plain(outcome))
        if "value" not in outcome:
            break
    return results


def _outcome(ex: Exercise, func, call: dict, grading) -> dict:
    try:
        if ex.traced:
            result = _traced(func, call)
        else:
            result = func(*call["args"])
        return {"value": ex.answer(result, call)}
    except NotImplementedError:
        return {"not done": ""}
    except grading.NotPlain as err:
        return {"wrong": str(err)}
    except grading.KitAnswerUsed as err:
        return {"wrong": str(err)}
    except Exception as err:  # the student's code may fail in any way: say how
        meaning = [m for words, m in ex.errors if words in str(err)]
        return {"wrong": " ".join([f"your function raised {type(err).__name__}: {err}", *meaning])}


def _traced(func, call: dict):
    """func(*call["args"]), the bytes it allocated at its peak in call["peak"] (tracemalloc;
    a notebook's own tracing goes on)."""
    tracing = is_tracing()
    if tracing:
        reset_peak()
    else:
        start()
    before = get_traced_memory()[0]
    try:
        return func(*call["args"])
    finally:
        call["peak"] = get_traced_memory()[1] - before
        if not tracing:
            stop()


def graded(key: str, func, first: int | None = None) -> None:
    """The graded test of exercise ``key``: passes (prints the verdict) or raises
    AssertionError naming what is wrong. Every case runs, random ones drawn from a seed the
    clean process chooses, which also computes the references and the verdict. ``first``:
    only the first cases, judged here: the part of the test a student sees, a hint only
    (grading runs them again with the rest)."""
    from ...tooling import grading

    ex = EXERCISES[key]
    if first:
        run = all_cases(ex, 0)[:first]
        verdict, message = judge(ex, run, collect(ex, func, run), wanted(ex, run))
    else:
        verdict, message = _verified(ex, func, grading.CleanProcess(VERIFY, key))
    if verdict != RIGHT:
        raise AssertionError(message)
    print(message)


def _verified(ex: Exercise, func, process) -> tuple[str, str]:
    """Collect here, judge in ``process`` (verify.py): (verdict, message)."""
    try:
        run = all_cases(ex, int(process.readline(timeout=120)))
        results = collect(ex, func, run)
        if "value" not in results[0]:  # nothing to compare: no reference needed
            return judge(ex, run, results, want=None)
        reply = _LOADS(process.finish(_DUMPS(results), timeout=600))
        return reply["verdict"], reply["message"]
    finally:
        process.close()
