"""Saving and loading a learner's model: the weights, and the settings they belong to.

A saved file holds the model's state dict beside its settings (RNN type, sizes, layers, the
BPTT mode, the normaliser, the vocabulary of a text model, the kit's version). ``save_model``
writes it atomically: into a temporary file in the same folder, then a rename, so a write
that fails half-way (a full disk, a size limit) leaves the old file whole. ``load_model``
reads it with ``weights_only=True`` (never runs code from the file) and checks the settings
against the learner before a single weight is copied: it says what differs and how to build
a matching learner. A plain state dict (``torch.save(model.state_dict(), path)``) is accepted
when its names and shapes match the model exactly, with a warning that nothing else could be
checked.
"""

from __future__ import annotations

import io
import os
import pickle
import secrets
import warnings
import zipfile
from importlib import metadata
from pathlib import Path

import torch

from ..modes import BPTT

__all__ = ["kit_version", "load_model", "read_saved", "save_model", "settings_of"]

FORMAT = "tbptt-kit learner v1"
ARCHITECTURE = ("rnn_type", "hidden_size", "num_layers", "n_u", "n_y", "vocab_size", "vocab")
OLD_NAMES = {"bptt": "mode", "bptt_len": "backprop_len"}


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
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")  # same folder: rename
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0o666 minus the umask
    except OSError as err:
        raise type(err)(
            err.errno, f"cannot save to {path}: {err.strerror}; choose a folder you can write to"
        ) from err
    try:
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
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        settings = state.get("settings")
        if isinstance(settings, dict):  # the names an older kit saved: bptt, bptt_len
            settings = {OLD_NAMES.get(k, k): v for k, v in settings.items()}
        return {"settings": settings, "model": state["model"]}
    if isinstance(state, dict) and state and all(torch.is_tensor(v) for v in state.values()):
        return {"settings": None, "model": state}  # a plain state dict
    raise ValueError(
        f"{path} holds a {type(state).__name__}, not weights: save with Learner.save "
        f"or torch.save(model.state_dict(), path)."
    )


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
