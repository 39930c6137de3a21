"""Grading a student's function so that only its own work earns the points.

In nbgrader (and in a notebook's self-check) the student's cells and the test run in one
Python process: whatever the student's cell did (patch ``torch.equal`` or ``math.isclose``,
keep the kit's answer in a closure, return an object equal to everything) is still there
when the test runs. This module holds what stands up to that:

- ``plain_number``, ``plain_whole``, ``plain_numbers``, ``plain_tensor``: a result as
  plain Python values (``int``, ``float``, lists of them), accepted only from types the
  exercise could return (exact ``int``/``float``, numpy's numbers and arrays, a plain
  ``torch.Tensor``): an object that claims to equal anything, or a tensor subclass, is
  refused before anything compares it. Comparisons then use Python's own operators on
  those values: no function a cell can replace.
- ``answers_blocked(functions)``: while the student's function runs, a call of any of
  ``functions`` (the kit's own answer, the check's reference) is noted, and the result
  refused; they are recognised by their code, not their name, so a copy kept in a closure,
  a default argument, an alias, a module imported again or a copy of the file is caught
  too. Starting another process or switching the watch off is refused as well.
- ``CleanProcess``: a fresh Python (``python -I``) that never runs the student's code: the
  graded test's references and verdict are computed there.

What this module uses of Python, numpy and torch is taken when it is imported (the
notebook's first cell, before any cell of the student's), so a later patch does not
reach it. Code that replaces this module's own functions, or rewrites the cells that come
after it, attacks the grader itself: no test that runs in the same process can stop that
(``docs/lecturers/assignments.md`` says what the lecturer can do).
"""

from __future__ import annotations

import builtins
import contextlib
import os
import subprocess
import sys
import threading

import numpy
import torch

__builtins__ = dict(vars(builtins))  # a copy: a cell that patches builtins does not reach here

__all__ = [
    "CleanProcess",
    "KitAnswerUsed",
    "NotPlain",
    "answers_blocked",
    "plain_number",
    "plain_numbers",
    "plain_tensor",
    "plain_whole",
]

_TENSOR, _TENSOR_BASE = torch.Tensor, torch._C.TensorBase
_TOLIST, _SIZE, _NUMEL = _TENSOR_BASE.tolist, _TENSOR_BASE.size, _TENSOR_BASE.numel
_RESHAPE = _TENSOR_BASE.reshape
_GRAD_FN = vars(_TENSOR_BASE)["grad_fn"].__get__  # read on torch's own type: a patch of
_REQUIRES_GRAD = vars(_TENSOR_BASE)["requires_grad"].__get__  # torch.Tensor misses it
_NO_TORCH_FUNCTION = torch._C.DisableTorchFunction  # no subclass or mode intercepts a read
_NDARRAY, _ND_TOLIST = numpy.ndarray, numpy.ndarray.tolist
_NP_INTS = {numpy.dtype(c).type for c in "bhilqBHILQ"}
_NP_FLOATS = {numpy.float16, numpy.float32, numpy.float64}
_SETPROFILE, _GETPROFILE = sys.setprofile, sys.getprofile
_THREAD_SETPROFILE, _THREAD_GETPROFILE = threading.setprofile, threading.getprofile
_POPEN, _PIPE, _TIMEOUT = subprocess.Popen, subprocess.PIPE, subprocess.TimeoutExpired
_THREAD = threading.Thread
_EXECUTABLE = sys.executable
# where numpy and torch are installed (a user site, which python -I would not read, too)
_LIBRARIES = sorted({os.path.dirname(os.path.dirname(m.__file__)) for m in (numpy, torch)})
_BOOT = (
    f"import runpy, sys; sys.path[:0] = {_LIBRARIES!r}; sys.argv = sys.argv[1:]; "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)
_ENV = {k: os.environ[k] for k in ("PATH", "HOME", "SYSTEMROOT", "TMPDIR") if k in os.environ}
_ENV |= {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # its work is small


class KitAnswerUsed(AssertionError):
    """The student's function called the kit's own answer to the exercise (or the check's)."""


class NotPlain(TypeError):
    """The student's result is not of a type the exercise asks for; says what to return."""


def _what(x) -> str:
    kind = type(x)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"


def _tensor_values(x):
    """(shape, flat list of Python numbers) of a plain tensor or numpy array, else None."""
    if type(x) is _TENSOR:
        with _NO_TORCH_FUNCTION():
            shape = list(_SIZE(x))
            values = _TOLIST(_RESHAPE(x, (-1,))) if _NUMEL(x) else []
        return shape, values
    if type(x) is _NDARRAY and x.dtype.kind in "biuf":
        return list(x.shape), _ND_TOLIST(x.reshape(-1))
    return None


def plain_number(x, what: str = "a number"):
    """``x`` as a Python int or float: from an exact int or float, a numpy number, or an
    array or tensor holding one number. Anything else raises ``NotPlain``."""
    if type(x) in (int, float):
        return x
    if type(x) in _NP_INTS:
        return int(x)
    if type(x) in _NP_FLOATS:
        return float(x)
    found = _tensor_values(x)
    if found is not None and len(found[1]) == 1:
        return _python_number(found[1][0], what)
    if found is not None:
        raise NotPlain(f"return {what}, not an array of shape {tuple(found[0])}")
    raise NotPlain(f"return {what}, not a {_what(x)}")


def _python_number(value, what: str):
    if type(value) is bool:
        raise NotPlain(f"return {what}, not a bool")
    return value


def plain_whole(x, what: str = "a whole number"):
    """``x`` as a Python int (a float counts when it is whole); ``None`` stays None only
    for callers that allow it (they test for it first)."""
    value = plain_number(x, what)
    if type(value) is float and value == value and value not in (float("inf"), -float("inf")):
        if value == int(value):
            return int(value)
        raise NotPlain(f"return {what}, not {value!r}")
    if type(value) is float:
        raise NotPlain(f"return {what}, not {value!r}")
    return value


def plain_numbers(x, what: str = "a list of numbers") -> list:
    """``x`` as a flat list of Python numbers: from a list or tuple of numbers, a numpy
    array or a plain tensor (any shape, read in order)."""
    if type(x) in (list, tuple):
        return [plain_number(v, f"numbers in {what}") for v in x]
    found = _tensor_values(x)
    if found is None:
        raise NotPlain(f"return {what}, not a {_what(x)}")
    return [_python_number(v, what) for v in found[1]]


def plain_tensor(x, what: str = "a tensor") -> dict:
    """A plain ``torch.Tensor`` (or numpy array) as {"shape": [...], "values": [...]}, with
    "attached": whether it is still part of a graph (it has a grad_fn or requires grad)."""
    found = _tensor_values(x)
    if found is None:
        raise NotPlain(f"return {what} (a torch.Tensor), not a {_what(x)}")
    attached = False
    if type(x) is _TENSOR:
        with _NO_TORCH_FUNCTION():
            attached = _GRAD_FN(x) is not None or _REQUIRES_GRAD(x)
    return {"shape": found[0], "values": found[1], "attached": attached}


# -- the kit's answers, switched off while the student's function runs ----------------------
def _codes(function) -> list:
    """The code objects of a function, a method, or every function of a class, nested code
    included (a decorator's wrapper is looked through, its own code left alone)."""
    if isinstance(function, type):
        found = []
        for value in vars(function).values():
            value = getattr(value, "fget", None) or getattr(value, "__func__", value)
            if callable(value) and hasattr(value, "__code__"):
                found += _codes(value)
        return found
    while hasattr(function, "__wrapped__"):
        function = function.__wrapped__
    code = getattr(function, "__code__", None)
    if code is None:
        raise TypeError(f"answers_blocked: {function!r} has no Python code to watch for")
    stack, found = [code], []
    while stack:
        code = stack.pop()
        found.append(code)
        stack += [c for c in code.co_consts if type(c) is type(code)]
    return found


class Watch:
    """What happened while the student's function ran: ``used``, the name of a blocked
    function it called; ``meddled``, what it did to the watch itself."""

    def __init__(self, names: dict):
        self.names, self.used, self.meddled = names, None, None

    def problem(self) -> str | None:
        """The sentence that refuses the result, or None."""
        if self.used:
            return (
                f"your function called {self.used}, which is the kit's own answer (or the "
                "check's): the exercise asks you to write it yourself"
            )
        if self.meddled:
            return f"your function {self.meddled}, which a graded function must not do"
        return None


_WATCHES: list[Watch] = []  # the watch of the function running now (at most one)
_MEDDLING = {
    "sys.setprofile": "switched off the check's watch (sys.setprofile)",
    "sys.settrace": "switched off the check's watch (sys.settrace)",
    "subprocess.Popen": "started another process",
    "os.system": "started another process",
    "os.posix_spawn": "started another process",
    "os.spawn": "started another process",
    "os.exec": "started another program",
    "os.fork": "forked the process",
    "os.forkpty": "forked the process",
}


def _audit(event: str, args) -> None:
    if _WATCHES and event in _MEDDLING and _WATCHES[-1].meddled is None:
        _WATCHES[-1].meddled = _MEDDLING[event]
        if not event.startswith("sys."):
            raise KitAnswerUsed(f"a graded function must not do this: {_MEDDLING[event]}")


sys.addaudithook(_audit)  # once, for the life of the process: hooks cannot be removed


@contextlib.contextmanager
def answers_blocked(functions: dict):
    """Within the block, a call of any of ``functions`` ({name: function or class}) is noted,
    however the function was reached; yields a ``Watch`` that says afterwards what happened
    (``watch.problem()``). Starting another process raises ``KitAnswerUsed``."""
    codes = {code: name for name, function in functions.items() for code in _codes(function)}
    watch = Watch(codes)

    def hook(frame, event, arg):
        if event == "call" and watch.used is None and frame.f_code in codes:
            watch.used = codes[frame.f_code]  # noted, not raised: a student may catch errors

    previous, previous_threads = _GETPROFILE(), _THREAD_GETPROFILE()
    _SETPROFILE(hook)
    _THREAD_SETPROFILE(hook)
    _WATCHES.append(watch)
    try:
        yield watch
    finally:
        _WATCHES.remove(watch)
        still_on = _GETPROFILE() is hook
        _THREAD_SETPROFILE(previous_threads)
        _SETPROFILE(previous)
        if not still_on and watch.used is None and watch.meddled is None:
            watch.meddled = "switched off the check's watch"


# -- a clean process for the references ----------------------------------------------------
class CleanProcess:
    """``python -I script *args`` (no PYTHONPATH, not the current folder on its path, a small
    environment; numpy's and torch's folders first): a process the student's code never ran
    in. It talks in lines of text: ``readline`` the next one, ``finish`` sends the rest and
    reads the end."""

    def __init__(self, script: str, *args: str):
        self.command = " ".join(["python -I", script, *args])
        self._process = _POPEN(
            [_EXECUTABLE, "-I", "-B", "-c", _BOOT, script, *args],
            stdin=_PIPE,
            stdout=_PIPE,
            stderr=_PIPE,
            env=_ENV,
        )

    def readline(self, timeout: float) -> str:
        """The next line it writes, within ``timeout`` seconds."""
        found = []
        reader = _THREAD(target=lambda: found.append(self._process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            self.close()
            raise TimeoutError(f"{self.command} said nothing in {timeout:.0f} s")
        if not found[0]:
            raise RuntimeError(f"{self.command} ended: {self._stderr()}")
        return found[0].decode()

    def finish(self, text: str, timeout: float) -> str:
        """Send ``text``, close its input, and return its last line of output."""
        try:
            out, err = self._process.communicate(text.encode(), timeout=timeout)
        except _TIMEOUT:
            self.close()
            raise TimeoutError(f"{self.command} did not finish in {timeout:.0f} s") from None
        lines = out.decode().strip().splitlines()
        if self._process.returncode != 0 or not lines:
            raise RuntimeError(f"{self.command} failed: {err.decode()[-2000:]}")
        return lines[-1]

    def _stderr(self) -> str:
        self._process.wait(timeout=10)
        return self._process.stderr.read().decode()[-2000:]

    def close(self) -> None:
        """Stop it if it still runs."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(timeout=10)
        for stream in (self._process.stdin, self._process.stdout, self._process.stderr):
            if stream and not stream.closed:
                stream.close()
