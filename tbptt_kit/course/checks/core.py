"""Self-checks for the notebooks' exercises: each says what is right or wrong.

A check calls the student's function on a few cases and compares with the package's own
answer. A stub that still raises NotImplementedError is reported as "not done yet", never
as a crash, so a notebook runs top to bottom before any exercise is solved.
Every check returns "right", "wrong" or "not done" (tests use that) and prints its verdict.
"""

from __future__ import annotations

import math

__all__ = ["NOT_DONE", "RIGHT", "WRONG", "Verdict", "call_student", "check_cases"]


class Verdict(str):
    """A check's result, "right", "wrong" or "not done": compares as a string, but a notebook
    cell ending in a check shows only the printed verdict, not this value again."""

    def _ipython_display_(self):
        pass


NOT_DONE, RIGHT, WRONG = Verdict("not done"), Verdict("right"), Verdict("wrong")


def call_student(exercise: str, func, *args):
    """(func(*args), None); or (None, NOT_DONE) for a stub that still raises
    NotImplementedError, (None, WRONG) when it raises anything else; either way, said."""
    try:
        return func(*args), None
    except NotImplementedError:
        print(f"{exercise}: not done yet. Fill in the cell above, run it, then run this one.")
        return None, NOT_DONE
    except Exception as err:  # the student's code may fail in any way: say how
        print(f"{exercise}: your function raised {type(err).__name__}: {err}")
        return None, WRONG


def check_cases(exercise: str, func, cases, rel: float = 1e-6, hint: str = "") -> str:
    """Call ``func(*args)`` for each (args, expected) in ``cases``; report the first mismatch."""
    for args, expected in cases:
        got, verdict = call_student(exercise, func, *args)
        if verdict:
            return verdict
        if not close_enough(got, expected, rel):
            shown = ", ".join(map(repr, args))
            print(
                f"{exercise}: not yet right. For ({shown}) you return {got!r}, "
                f"the right answer is {expected!r}." + (f" Hint: {hint}" if hint else "")
            )
            return WRONG
    print(f"{exercise}: right, on all {len(cases)} cases. Well done.")
    return RIGHT


def close_enough(got, expected, rel: float) -> bool:
    """Does ``got`` equal ``expected`` to relative tolerance ``rel`` (numbers, dicts of them,
    or anything else compared with ==)?"""
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and got.keys() == expected.keys()
            and all(close_enough(got[k], expected[k], rel) for k in expected)
        )
    try:
        return math.isclose(float(got), float(expected), rel_tol=rel, abs_tol=1e-12)
    except (TypeError, ValueError):
        return got == expected
