"""Old names that still work for a while, each with a ``DeprecationWarning`` saying the new one.

Nothing here is needed by the kit itself; this file goes when the old names do.

- modules moved into folders by role: ``tbptt_kit.plots`` is ``tbptt_kit.course.plots``,
  ``tbptt_kit.bptt`` is ``tbptt_kit.modes.bptt``, ... (``MOVED``);
- ``bptt_len`` is ``backprop_len`` (k2); ``RNNLearner(bptt="...")`` is ``mode="..."``;
- influence balancing's ``InfluenceModel``, ``create_dls_influence``, ``fit_influence`` are
  ``BalancingChain``, ``create_dls_balancing``, ``fit_balancing``;
- the model keeps no state: ``forward_from(u, state)`` is ``model(u, state)``, and
  ``reset_state()``, ``stateful=`` and ``TbpttResetCB`` have nothing left to do (the reset
  is a line of ``Learner.one_batch``); ``learn.run_windows(...)`` is ``run_windows(learn, ...)``.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

from .core.learner import Callback, Learner
from .core.model import StatefulRNN
from .course.bias import fit_balancing
from .course.run import run_windows
from .data.balancing import BalancingChain, create_dls_balancing

__all__ = [
    "ALSO",
    "MOVED",
    "InfluenceModel",
    "TbpttResetCB",
    "create_dls_influence",
    "fit_influence",
]

MOVED = {
    "tbptt_kit.artbp": "tbptt_kit.modes.randomized",
    "tbptt_kit.bptt": "tbptt_kit.modes.bptt",
    "tbptt_kit.rtrl": "tbptt_kit.modes.rtrl",
    "tbptt_kit.model": "tbptt_kit.core.model",
    "tbptt_kit.learner": "tbptt_kit.core.learner",
    "tbptt_kit.data.batch": "tbptt_kit.core.batch",
    "tbptt_kit.data.windows": "tbptt_kit.data.loaders",
    "tbptt_kit.data.streams": "tbptt_kit.data.loaders",
    "tbptt_kit.data.influence": "tbptt_kit.data.balancing",
    "tbptt_kit.checks.grading": "tbptt_kit.tooling.grading",
    "tbptt_kit.memory.units": "tbptt_kit.units",
    **{
        f"tbptt_kit.{m}": f"tbptt_kit.course.{m}"
        for m in (
            "bias",
            "callbacks",
            "checks",
            "claims",
            "compare",
            "evaluate",
            "lens",
            "losses",
            "memory",
            "plots",
            "progress",
            "rnn_learner",
            "saving",
            "style",
            "table",
            "widgets",
        )
    },
    **{
        f"tbptt_kit.{m}": f"tbptt_kit.tooling.{m}"
        for m in ("distributed", "smoke", "threads", "train")
    },
}


def _warn(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated: use {new}.", DeprecationWarning, stacklevel=3)


# old modules whose names now live in several places: where else to look
ALSO = {
    "tbptt_kit.learner": (
        "tbptt_kit.course.run",
        "tbptt_kit.course.rnn_learner",
        "tbptt_kit.validation",
        "tbptt_kit.deprecated",
    ),
    "tbptt_kit.data.windows": (
        "tbptt_kit.core.windows",
        "tbptt_kit.data.records",
        "tbptt_kit.validation",
    ),
    "tbptt_kit.data.streams": (
        "tbptt_kit.core.streams",
        "tbptt_kit.data.records",
        "tbptt_kit.data.hdf5",
    ),
    "tbptt_kit.data.influence": ("tbptt_kit.deprecated",),
    "tbptt_kit.bias": ("tbptt_kit.deprecated",),
}


def _moved(name: str) -> tuple[str, str]:
    """(the old module path ``name`` falls under, the path it moved to), longest match first."""
    old = max((o for o in MOVED if name == o or name.startswith(o + ".")), key=len)
    return old, MOVED[old] + name[len(old) :]


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import tbptt_kit.plots`` (and the other old paths) gives a module that reads its
    names from the moved module (and, for a module that was split, from where its parts
    went), with a warning; the moved module itself is left as it is."""

    def find_spec(self, name, path=None, target=None):
        if not any(name == o or name.startswith(o + ".") for o in MOVED):
            return None
        package = importlib.util.find_spec(_moved(name)[1]).submodule_search_locations is not None
        return importlib.util.spec_from_loader(name, self, is_package=package)

    def create_module(self, spec):
        old, new = _moved(spec.name)
        _warn(spec.name, new)
        sources = [importlib.import_module(m) for m in (new, *ALSO.get(spec.name, ()))]
        module = types.ModuleType(spec.name, f"Moved to {new}: this old path warns and forwards.")

        def __getattr__(attr):
            for source in sources:
                if hasattr(source, attr):
                    return getattr(source, attr)
            raise AttributeError(f"module {spec.name!r} (moved to {new}) has no attribute {attr!r}")

        module.__getattr__ = __getattr__
        if spec.submodule_search_locations is not None:  # a package: its old submodules too
            module.__path__ = []
        module.__all__ = list(getattr(sources[0], "__all__", []))
        return module

    def exec_module(self, module): ...

    def get_code(self, name):  # python -m tbptt_kit.train: run the moved module as __main__
        _, new = _moved(name)
        _warn(name, new)
        print(f"note: python -m {name} is deprecated: use python -m {new}", file=sys.stderr)
        source = f"import runpy\nrunpy.run_module({new!r}, run_name='__main__', alter_sys=True)\n"
        return compile(source, f"<{name}: moved to {new}>", "exec")


if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
    sys.meta_path.append(_MovedFinder())


def _renamed(new_fn, old_name: str, new_name: str):
    @functools.wraps(new_fn)
    def old(*args, **kwargs):
        _warn(old_name, new_name)
        return new_fn(*args, **kwargs)

    return old


create_dls_influence = _renamed(
    create_dls_balancing, "create_dls_influence", "create_dls_balancing"
)
fit_influence = _renamed(fit_balancing, "fit_influence", "fit_balancing")


class InfluenceModel(BalancingChain):
    """The old name of ``BalancingChain``."""

    def __init__(self, *args, **kwargs):
        _warn("InfluenceModel", "BalancingChain")
        super().__init__(*args, **kwargs)


class TbpttResetCB(Callback):
    """Nothing to do: the reset is a line of ``Learner.one_batch`` (``batch.reset``). To see
    training without it, add ``NoResetCB`` (the broken version, for demonstrations)."""

    def __init__(self):
        _warn("TbpttResetCB", "nothing: Learner.one_batch resets the state itself")


def _forward_from(self, u, hidden_state=None):
    _warn("model.forward_from(u, state)", "model(u, state)")
    return self(u, hidden_state)


def _reset_state(self, rows=None):
    _warn("model.reset_state()", "a hidden_state of None (zeros): the model keeps no state")


def _init_with_stateful(init):
    @functools.wraps(init)
    def __init__(self, *args, stateful=None, **kwargs):
        if stateful is not None:
            _warn(
                "StatefulRNN(stateful=...)", "y, state = model(u, state): the model keeps no state"
            )
        init(self, *args, **kwargs)

    return __init__


def _run_windows(self, u, y, backward=True, each=None):
    _warn("learn.run_windows(u, y)", "tbptt_kit.run_windows(learn, u, y)")
    return run_windows(self, u, y, backward, each)


StatefulRNN.forward_from, StatefulRNN.reset_state = _forward_from, _reset_state
StatefulRNN.__init__ = _init_with_stateful(StatefulRNN.__init__)
Learner.run_windows = _run_windows
