"""For graded work: the kit's own answer to an exercise, switched off while the student's
function runs.

Exercise 01.2 asks for what ``tk.split_windows`` does, exercise 04.2 for what
``tk.grad_by_lag`` does. A graded test runs the student's function inside
``kit_disabled(func, "split_windows")``: every binding of that name in the kit's modules and
in the function's own globals (the notebook's names) raises ``KitAnswerUsed`` for as long as
the block runs, so a one-line call to the kit earns nothing. Everything else in the kit still
works.
"""

from __future__ import annotations

import contextlib
import sys

__all__ = ["KitAnswerUsed", "kit_disabled"]


class KitAnswerUsed(AssertionError):
    """The student's function called the kit's own answer to the exercise."""


def _blocked(name: str):
    def blocked(*args, **kwargs):
        raise KitAnswerUsed(
            f"this exercise asks you to write what tbptt_kit.{name} does: "
            f"your function called {name}, which is switched off while it is graded"
        )

    return blocked


@contextlib.contextmanager
def kit_disabled(func, *names: str):
    """Within the block, ``tbptt_kit``'s functions ``names`` raise ``KitAnswerUsed``, wherever
    they are bound: in any kit module and in ``func.__globals__`` (the student's notebook)."""
    if not callable(func):
        raise TypeError(f"func must be the student's function, got {type(func).__name__}")
    originals = {}
    for module_name, module in list(sys.modules.items()):
        if module_name == "tbptt_kit" or module_name.startswith("tbptt_kit."):
            for name in names:
                if name in vars(module):
                    originals.setdefault(name, vars(module)[name])
    if set(names) - set(originals):
        raise ValueError(f"names: not in tbptt_kit: {sorted(set(names) - set(originals))}")
    namespaces = [vars(m) for n, m in list(sys.modules.items()) if n.split(".")[0] == "tbptt_kit"]
    namespaces.append(getattr(func, "__globals__", {}))
    saved = []  # (namespace, key, value) to put back
    for namespace in namespaces:
        for key, value in list(namespace.items()):
            for name, original in originals.items():
                if value is original:
                    saved.append((namespace, key, value))
                    namespace[key] = _blocked(name)
    try:
        yield
    finally:
        for namespace, key, value in saved:
            namespace[key] = value
