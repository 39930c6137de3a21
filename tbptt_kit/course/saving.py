"""Saving and loading a learner's model: the weights, and the settings they belong to.

A saved file holds the model's state dict beside its settings (RNN type, sizes, layers, the
BPTT mode, the normaliser, the vocabulary of a text model, the kit's version). ``save_model``
writes it atomically: into a temporary file in the same folder, then a rename, so a write
that fails half-way (a full disk, a size limit) leaves the old file whole. ``load_model``
reads it with ``weights_only=True`` (never runs code from the file) and checks the settings
against the learner before a single weight is copied: it says what differs and how to build
a matching learner. A plain state dict (``torch.save(model.state_dict(), path)``) is accepted
when its names and shapes match the model exactly, with a warning that nothing else could be
checked. Every file is checked before anything is built from it: its format version, the
type of each setting, and the settings against the shapes of the weights (a file that claims
hidden_size=10**7 beside weights of 4 units is refused, naming both).
"""

from __future__ import annotations

import io
import os
import pickle
import re
import secrets
import stat
import warnings
import zipfile
from importlib import metadata
from pathlib import Path

import torch

from ..core.model import RNN_TYPES, StatefulRNN
from ..modes import BPTT, MODES

__all__ = ["check_settings", "kit_version", "load_model", "read_saved", "save_model", "settings_of"]

FORMAT_VERSION = 1  # the newest format this kit reads and the one it writes
FORMAT = f"tbptt-kit learner v{FORMAT_VERSION}"
ARCHITECTURE = ("rnn_type", "hidden_size", "num_layers", "n_u", "n_y", "vocab_size", "vocab")
OLD_NAMES = {"bptt": "mode", "bptt_len": "backprop_len"}
REQUIRED = ("rnn_type", "hidden_size", "num_layers")  # what from_file builds the model from


def _whole(minimum: int, none: bool = False):
    """A test for a setting: an int >= minimum (None allowed when ``none``)."""

    def test(value) -> bool:
        if none and value is None:
            return True
        return isinstance(value, int) and not isinstance(value, bool) and value >= minimum

    return test, f"an int >= {minimum}" + (" or None" if none else "")


# each setting a saved file may hold: (test, what is valid); others are left alone
SETTINGS = {
    "rnn_type": (lambda v: isinstance(v, str) and v in RNN_TYPES, f"one of {sorted(RNN_TYPES)}"),
    "hidden_size": _whole(1),
    "num_layers": _whole(1),
    "n_u": _whole(1),
    "n_y": _whole(1),
    "vocab_size": _whole(2, none=True),
    "vocab": (lambda v: isinstance(v, str) and len(v) > 0, "a non-empty string"),
    "mode": (lambda v: isinstance(v, str) and v in MODES, f"one of {sorted(MODES)}"),
    "sub_seq_len": _whole(1, none=True),
    "backprop_len": _whole(1, none=True),
    "kit_version": (lambda v: isinstance(v, str), "a string"),
    "norm": (lambda v: isinstance(v, dict), "a dict of the training statistics"),
}


def kit_version() -> str:
    try:
        return metadata.version("tbptt-kit")
    except metadata.PackageNotFoundError:
        return "unknown"


def settings_of(learn) -> dict:
    """What a learner's weights mean: the model's shape, the BPTT mode, the normaliser,
    the vocabulary (text), the kit's version. Plain values only (safe to load)."""
    model, dls = learn.model, learn.dls
    settings = {"kit_version": kit_version(), **BPTT.of_learner(learn).settings()}
    for name in ("rnn_type", "hidden_size", "num_layers", "vocab_size"):
        if hasattr(model, name):
            settings[name] = getattr(model, name)
    if hasattr(model, "u_mean") and getattr(model, "vocab_size", None) is None:
        settings["n_u"], settings["n_y"] = len(model.u_mean), len(model.y_mean)
        settings["norm"] = {
            k: getattr(model, k).tolist() for k in ("u_mean", "u_std", "y_mean", "y_std")
        }
    vocab = getattr(dls, "vocab", None)
    if vocab is not None:
        settings["vocab"] = "".join(vocab.itos)
    return settings


def save_model(learn, path) -> Path:
    """Write ``learn``'s weights and settings to ``path`` atomically; returns the path.
    OSError naming the path when it cannot be written; the file there before is kept."""
    path = Path(path)
    buffer = io.BytesIO()
    state = {"format": FORMAT, "settings": settings_of(learn), "model": learn.model.state_dict()}
    torch.save(state, buffer)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)  # a file there keeps its permissions
    except OSError:
        mode = None  # a new file: 0o666 minus the umask
    try:  # a temporary name in the same folder (for the rename), short whatever the name
        tmp = path.with_name(f".{path.name[:100]}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode)
    except OSError as err:
        raise type(err)(
            err.errno, f"cannot save to {path}: {err.strerror}; choose a folder you can write to"
        ) from err
    try:
        if mode is not None:
            os.fchmod(fd, mode)  # exactly the old file's bits (the umask took some away)
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise type(err)(
                err.errno,
                f"cannot save to {path}: {err.strerror}; the file "
                "there before (if any) is unchanged",
            ) from err
        raise
    return path


def read_saved(path) -> dict:
    """{"settings": dict or None, "model": state dict} from a file written by ``save_model``
    (or an older kit's save, or a plain state dict). ValueError naming the path for a file
    that is empty, damaged or not weights; pickle.UnpicklingError for one that holds objects
    loading would have to run code for."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no such file: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes): it holds no weights; save the learner again.")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive
        raise ValueError(
            f"{path} is not a readable weights file (damaged or truncated?): it is not the zip "
            f"archive torch.save writes."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # the kit's message, the same type
        raise pickle.UnpicklingError(
            f"{path} holds more than weights; refused, because loading it would unpickle "
            f"arbitrary objects (weights_only=True): {str(err).splitlines()[0]}"
        ) from err
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise ValueError(
            f"{path} is not a readable weights file (damaged or truncated?): {err}"
        ) from err
    if isinstance(state, dict) and ("format" in state or "settings" in state):  # the kit's
        _check_format(state.get("format"), path)
        weights = _check_weights(state.get("model"), path)
        settings = state.get("settings")
        if settings is not None:
            settings = check_settings(settings, weights, path)
        return {"settings": settings, "model": weights}
    if isinstance(state, dict) and isinstance(state.get("model"), dict):  # an older kit's
        return {"settings": None, "model": _check_weights(state["model"], path)}
    if isinstance(state, dict) and state and all(torch.is_tensor(v) for v in state.values()):
        return {"settings": None, "model": _check_weights(state, path)}  # a plain state dict
    raise ValueError(
        f"{path} holds a {type(state).__name__}, not weights: save with Learner.save "
        f"or torch.save(model.state_dict(), path)."
    )


def _check_format(fmt, path) -> None:
    """A ValueError naming the version for a file this kit cannot read (None: an older
    kit's save, from before the format was recorded)."""
    if fmt is None or fmt == FORMAT:
        return
    found = re.fullmatch(r"tbptt-kit learner v(\d+)", fmt) if isinstance(fmt, str) else None
    if found and int(found.group(1)) > FORMAT_VERSION:
        raise ValueError(
            f"{path} was saved in format version {found.group(1)} ({fmt!r}) by a newer "
            f"tbptt-kit; this one (version {kit_version()}) reads up to version "
            f"{FORMAT_VERSION}: update tbptt-kit to load it."
        )
    raise ValueError(
        f"{path} has format {_short(fmt)}, which this kit does not know (it reads {FORMAT!r})."
    )


def _check_weights(weights, path) -> dict:
    """The file's weights: a dict of names (str) to tensors; a ValueError naming the entry."""
    if not isinstance(weights, dict) or not weights:
        raise ValueError(
            f"{path}: the entry 'model' must hold the weights (a dict of names to tensors), "
            f"got {_short(weights)}."
        )
    for name, value in weights.items():
        if not isinstance(name, str) or not torch.is_tensor(value):
            raise ValueError(
                f"{path}: the weights entry {_short(name)} must be a tensor under a name, "
                f"got {type(value).__name__}."
            )
    return weights


def check_settings(settings, weights: dict, path) -> dict:
    """The settings of a saved file, each checked, and checked against the weights beside
    them before anything is built from them. Older names (``OLD_NAMES``) are renamed.
    A ValueError naming the entry, or the setting and the weight that disagree."""
    if not isinstance(settings, dict):
        raise ValueError(
            f"{path}: the entry 'settings' must be a dict, got {type(settings).__name__}."
        )
    settings = {OLD_NAMES.get(k, k): v for k, v in settings.items()}
    for name in REQUIRED:
        if name not in settings:
            raise ValueError(
                f"{path}: the settings lack {name!r}, needed to build the model (they hold "
                f"{sorted(map(str, settings))})."
            )
    for name, value in settings.items():
        test, what = SETTINGS.get(name, (None, None))
        if test is not None and not test(value):
            raise ValueError(f"{path}: the setting {name!r} must be {what}, got {_short(value)}.")
    _check_against_weights(settings, weights, path)
    return settings


def _check_against_weights(settings: dict, weights: dict, path) -> None:
    """A ValueError unless the model the settings describe has the weights' names and shapes.
    The model is built on the meta device (shapes only, no memory), after the two sizes
    that make building it slow are checked against the file: num_layers, hidden_size."""
    layers = sum(bool(re.fullmatch(r"rnn\.weight_hh_l\d+", k)) for k in weights)
    width = weights["rnn.weight_hh_l0"].shape[-1] if "rnn.weight_hh_l0" in weights else None
    for name, here in (("num_layers", layers), ("hidden_size", width)):
        if settings[name] != here:
            raise ValueError(
                f"{path}: its settings say {name}={settings[name]}, but its weights have "
                f"{here} (rnn.weight_hh_l*: {_short(_shapes(weights, 'rnn.weight_hh'))}): "
                f"the file is damaged or was edited; save the learner again."
            )
    with torch.device("meta"):
        model = StatefulRNN(
            _channels(settings, weights, "u"),
            _channels(settings, weights, "y"),
            settings["rnn_type"],
            settings["hidden_size"],
            settings["num_layers"],
            vocab_size=settings.get("vocab_size"),
        )
    expected = model.state_dict()
    differ = [
        f"{k} is {tuple(weights[k].shape)}, the settings make it {tuple(expected[k].shape)}"
        for k in sorted(set(weights) & set(expected))
        if tuple(weights[k].shape) != tuple(expected[k].shape)
    ]
    missing, extra = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if differ or missing or extra:
        named = (*REQUIRED, "vocab_size", "n_u", "n_y")
        described = ", ".join(f"{k}={settings[k]!r}" for k in named if k in settings)
        differ += [f"{k} is missing" for k in missing] + [f"{k} is not theirs" for k in extra]
        raise ValueError(
            f"{path}: its settings ({described}) do not describe its weights: "
            f"{'; '.join(differ)}. The file is damaged or was edited; save the learner again."
        )


def _channels(settings: dict, weights: dict, signal: str) -> int:
    """n_u or n_y: the setting, or (a file that lacks it) the size of the saved mean."""
    mean = weights.get(f"{signal}_mean")
    return settings.get(f"n_{signal}", 1 if mean is None else max(mean.numel(), 1))


def _shapes(weights: dict, prefix: str) -> list:
    return [tuple(v.shape) for k, v in weights.items() if k.startswith(prefix)]


def load_model(learn, path) -> None:
    """Copy the weights in ``path`` into ``learn.model`` after checking that they fit it."""
    saved = read_saved(path)
    if saved["settings"] is None:
        warnings.warn(
            f"{path} holds weights without the kit's settings (a plain state dict or an older "
            f"save): only their names and shapes could be checked.",
            stacklevel=3,
        )
    else:
        _check_settings(saved["settings"], settings_of(learn), path)
    _check_shapes(saved["model"], learn.model.state_dict(), path)
    learn.model.load_state_dict(saved["model"])
    learn.hidden_state = None  # the state of the old run means nothing here
    learn.loaded_settings = saved["settings"]


def _check_settings(saved: dict, here: dict, path) -> None:
    differ = [k for k in ARCHITECTURE if k in saved and k in here and saved[k] != here[k]]
    differ += [k for k in ("vocab",) if (k in saved) != (k in here)]
    if not differ:
        return
    show = ", ".join(
        f"{k}={_short(saved.get(k))} (this learner: {_short(here.get(k))})" for k in differ
    )
    build = ", ".join(
        f"{k}={saved[k]!r}" for k in ("rnn_type", "hidden_size", "num_layers") if k in saved
    )
    raise ValueError(
        f"{path} holds a model that does not fit this learner: {show}. Build a matching one, "
        f"e.g. RNNLearner(dls, {build}) on loaders with the same channels"
        f"{' and vocabulary' if 'vocab' in saved else ''}, or RNNLearner.from_file(path, dls)."
    )


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "...'"


def _check_shapes(saved: dict, here: dict, path) -> None:
    missing, extra = sorted(set(here) - set(saved)), sorted(set(saved) - set(here))
    shapes = [
        f"{k} {tuple(saved[k].shape)} (this model: {tuple(here[k].shape)})"
        for k in sorted(set(saved) & set(here))
        if tuple(saved[k].shape) != tuple(here[k].shape)
    ]
    if missing or extra or shapes:
        raise ValueError(
            f"the weights in {path} do not fit this model: missing {missing}, unexpected "
            f"{extra}, other shapes {shapes}. Build a learner like the one that saved them."
        )
