"""Saved runs know what they are, a failed save loses nothing, and a file is trusted only
after checking.

``RNNLearner.save`` writes the weights beside the model's settings, atomically, keeping the
permissions of the file it replaces; ``load`` and ``from_file`` check the format version,
each setting, and the settings against the weights' shapes before anything is built, and
name what differs; broken or crafted files get the kit's message.
"""

import os
import pickle
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tbptt_kit import RNNLearner, create_dls
from tbptt_kit.course import rnn_learner
from tbptt_kit.course.saving import read_saved

ROOT = Path(__file__).resolve().parents[2]


def dls():
    rng = np.random.default_rng(0)
    u = rng.standard_normal(600).astype(np.float32)
    y = (np.cumsum(u) * 0.01).astype(np.float32)
    return create_dls(
        (u[:400], y[:400]), (u[400:], y[400:]), bs=4, win_sz=40, stp_sz=20, sub_seq_len=20
    )


def learner(**kw):
    args = {"hidden_size": 8, "sub_seq_len": 20, "seed": 0, "progress": False} | kw
    return RNNLearner(dls(), **args)


def weights(learn):
    return [p.detach().clone() for p in learn.model.state_dict().values()]


def test_a_saved_file_holds_the_settings_and_no_stray_temporary(tmp_path):
    path = learner(rnn_type="gru", num_layers=2).save(tmp_path / "run.pt")
    settings = read_saved(path)["settings"]
    assert {k: settings[k] for k in ("rnn_type", "hidden_size", "num_layers", "n_u", "n_y")} == {
        "rnn_type": "gru",
        "hidden_size": 8,
        "num_layers": 2,
        "n_u": 1,
        "n_y": 1,
    }
    assert settings["mode"] == "truncated" and settings["sub_seq_len"] == 20
    assert len(settings["norm"]["u_mean"]) == 1 and settings["kit_version"]
    assert os.listdir(tmp_path) == ["run.pt"]


@pytest.mark.parametrize(
    "kw, pattern",
    [
        ({"hidden_size": 16}, r"hidden_size=8 \(this learner: 16\)"),
        ({"rnn_type": "gru"}, r"rnn_type='lstm' \(this learner: 'gru'\)"),
        ({"num_layers": 2}, r"num_layers=1 \(this learner: 2\)"),
    ],
)
def test_loading_into_another_model_names_what_differs_and_how_to_match(tmp_path, kw, pattern):
    path = learner().save(tmp_path / "run.pt")
    other = learner(**kw)
    before = weights(other)
    with pytest.raises(ValueError, match=pattern) as err:
        other.load(path)
    assert "RNNLearner(dls, rnn_type='lstm', hidden_size=8, num_layers=1)" in str(err.value)
    assert all(torch.equal(a, b) for a, b in zip(before, weights(other)))  # nothing copied


def test_from_file_builds_the_matching_learner(tmp_path):
    saved = learner(rnn_type="gru", hidden_size=6)
    saved.fit(1)
    path = saved.save(tmp_path / "run.pt")
    rebuilt = RNNLearner.from_file(path, dls(), progress=False)
    assert rebuilt.model.rnn_type == "gru" and rebuilt.bptt == saved.bptt
    assert rebuilt.validate() == saved.validate()


@pytest.mark.parametrize(
    "content, pattern",
    [
        (b"", r"run\.pt is empty \(0 bytes\)"),
        ("truncated", r"run\.pt is not a readable weights file \(damaged or truncated\?\)"),
        (b"not a torch file at all", r"run\.pt is not a readable weights file"),
    ],
)
def test_an_empty_or_damaged_file_gets_the_kits_message(tmp_path, content, pattern):
    path = tmp_path / "run.pt"
    if content == "truncated":
        learner().save(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=pattern):
        learner().load(path)


def test_a_plain_state_dict_is_accepted_when_it_fits_and_says_so(tmp_path):
    source = learner()
    source.fit(1)
    torch.save(source.model.state_dict(), tmp_path / "plain.pt")
    target = learner()
    with pytest.warns(UserWarning, match=r"plain\.pt holds weights without the kit's settings"):
        target.load(tmp_path / "plain.pt")
    assert all(torch.equal(a, b) for a, b in zip(weights(source), weights(target)))


def test_a_plain_state_dict_that_does_not_fit_is_refused_naming_the_shapes(tmp_path):
    torch.save(learner(hidden_size=16).model.state_dict(), tmp_path / "plain.pt")
    with pytest.warns(UserWarning, match="without the kit's settings"):
        with pytest.raises(
            ValueError,
            match=r"do not fit this model.*rnn\.weight_hh_l0 \(64, 16\) \(this model: \(32, 8\)\)",
        ):
            learner().load(tmp_path / "plain.pt")


def test_a_file_that_holds_no_weights_is_refused(tmp_path):
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ValueError, match=r"list\.pt holds a list, not weights"):
        learner().load(tmp_path / "list.pt")


def test_a_missing_file_or_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"path: no such file: .*none\.pt"):
        learner().load(tmp_path / "none.pt")
    with pytest.raises(FileNotFoundError, match=r"cannot save to .*no_folder.*run\.pt"):
        learner().save(tmp_path / "no_folder" / "run.pt")


# -- a file is trusted only after checking ------------------------------------------------------
def crafted(tmp_path, change) -> Path:
    """A file saved by the kit, then changed by ``change(state)`` as an editor could."""
    path = learner().save(tmp_path / "run.pt")
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)
    return path


def test_settings_that_claim_a_huge_model_are_refused_before_anything_is_built(
    tmp_path, monkeypatch
):
    """hidden_size=10**7 beside weights of 8 units: building it would ask for 1.6 PB."""
    path = crafted(tmp_path, lambda s: s["settings"].update(hidden_size=10**7))
    built = []
    monkeypatch.setattr(rnn_learner, "StatefulRNN", lambda *a, **k: built.append(a))
    start = time.perf_counter()
    with pytest.raises(
        ValueError, match=r"run\.pt: its settings say hidden_size=10000000, but its weights have 8"
    ):
        RNNLearner.from_file(path, dls(), progress=False)
    assert built == [] and time.perf_counter() - start < 5  # nothing built, nothing allocated


@pytest.mark.parametrize(
    "change, pattern",
    [
        (
            lambda s: s["settings"].update(num_layers=3),
            r"settings say num_layers=3, but its weights have 1",
        ),
        (
            lambda s: s["settings"].update(num_layers=10**9),
            r"settings say num_layers=1000000000, but its weights have 1",
        ),
        (
            lambda s: s["settings"].update(rnn_type="gru"),
            r"settings \(rnn_type='gru', .*\) do not describe its weights: rnn\.bias_hh_l0 is \(32,\), the settings make it \(24,\)",
        ),
        (
            lambda s: s["settings"].update(n_u=3),
            r"do not describe its weights: .*rnn\.weight_ih_l0 is \(32, 1\), the settings make it \(32, 3\)",
        ),
        (
            lambda s: s["settings"].update(vocab_size=5),
            r"do not describe its weights: .*embed\.weight is missing",
        ),
    ],
)
def test_settings_that_do_not_describe_the_weights_are_refused_naming_both(
    tmp_path, change, pattern
):
    path = crafted(tmp_path, change)
    with pytest.raises(ValueError, match=pattern):
        RNNLearner.from_file(path, dls(), progress=False)
    with pytest.raises(ValueError, match=pattern):
        learner().load(path)


def test_a_file_of_a_newer_format_is_refused_naming_its_version(tmp_path):
    path = crafted(tmp_path, lambda s: s.update(format="tbptt-kit learner v2"))
    newer = r"run\.pt was saved in format version 2 .* reads up to version 1: update tbptt-kit"
    with pytest.raises(ValueError, match=newer):
        learner().load(path)
    with pytest.raises(ValueError, match=newer):
        RNNLearner.from_file(path, dls(), progress=False)
    path = crafted(tmp_path, lambda s: s.update(format="someone else's v1"))
    with pytest.raises(
        ValueError, match=r"has format \"someone else's v1\", which this kit does not"
    ):
        learner().load(path)
    path = crafted(tmp_path, lambda s: None)  # the control: this kit's own format loads
    assert learner().load(path).validate() == learner().validate()


@pytest.mark.parametrize(
    "change, pattern",
    [
        (lambda s: s.update(settings=[1, 2]), r"the entry 'settings' must be a dict, got list"),
        (
            lambda s: s["settings"].pop("hidden_size"),
            r"the settings lack 'hidden_size', needed to build the model",
        ),
        (
            lambda s: s["settings"].update(hidden_size="8"),
            r"the setting 'hidden_size' must be an int >= 1, got '8'",
        ),
        (
            lambda s: s["settings"].update(hidden_size=8.0),
            r"the setting 'hidden_size' must be an int >= 1, got 8\.0",
        ),
        (
            lambda s: s["settings"].update(num_layers=True),
            r"the setting 'num_layers' must be an int >= 1, got True",
        ),
        (
            lambda s: s["settings"].update(rnn_type=None),
            r"the setting 'rnn_type' must be one of \['gru', 'lstm', 'rnn'\], got None",
        ),
        (
            lambda s: s["settings"].update(mode=3),
            r"the setting 'mode' must be one of \[.*'truncated'\], got 3",
        ),
        (
            lambda s: s["settings"].update(sub_seq_len=-20),
            r"the setting 'sub_seq_len' must be an int >= 1 or None, got -20",
        ),
        (
            lambda s: s["settings"].update(vocab=7),
            r"the setting 'vocab' must be a non-empty string, got 7",
        ),
        (
            lambda s: s["settings"].update(norm=[0.0]),
            r"the setting 'norm' must be a dict of the training statistics",
        ),
        (lambda s: s.update(format=3), r"has format 3, which this kit does not know"),
        (lambda s: s.update(model=[1]), r"the entry 'model' must hold the weights .* got \[1\]"),
        (
            lambda s: s["model"].update({"head.bias": [0.0]}),
            r"the weights entry 'head\.bias' must be a tensor under a name, got list",
        ),
    ],
)
def test_malformed_entries_are_refused_naming_the_entry(tmp_path, change, pattern):
    path = crafted(tmp_path, change)
    with pytest.raises(ValueError, match=pattern):
        learner().load(path)
    with pytest.raises(ValueError, match=pattern):
        RNNLearner.from_file(path, dls(), progress=False)


def test_an_older_kits_file_still_loads_under_the_old_setting_names(tmp_path):
    """Files saved before the renames hold "bptt" and "bptt_len" (``OLD_NAMES``)."""
    saved = learner(backprop_len=40)
    path = saved.save(tmp_path / "run.pt")
    state = torch.load(path, weights_only=True)
    settings = state["settings"]
    settings["bptt"], settings["bptt_len"] = settings.pop("mode"), settings.pop("backprop_len")
    torch.save(state, path)
    rebuilt = RNNLearner.from_file(path, dls(), progress=False)
    assert rebuilt.bptt == saved.bptt and rebuilt.bptt.backprop_len == 40
    assert rebuilt.validate() == saved.validate()


def test_saving_over_a_file_keeps_its_permissions(tmp_path):
    private = tmp_path / "private.pt"
    private.write_bytes(b"an older run")
    private.chmod(0o600)
    learner().save(private)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600  # not world-readable after the save
    shared = tmp_path / "shared.pt"
    shared.write_bytes(b"an older run")
    shared.chmod(0o664)  # group-writable: more than the umask would give a new file
    learner().save(shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o664
    umask = os.umask(0)
    os.umask(umask)
    fresh = learner().save(tmp_path / "fresh.pt")  # the control: a new file, 0o666 - umask
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("length", [245, 255])
def test_a_long_legal_file_name_is_saved_and_loaded(tmp_path, length):
    name = "r" * (length - 3) + ".pt"
    saved = learner()
    path = saved.save(tmp_path / name)
    assert os.listdir(tmp_path) == [name]  # no temporary left
    assert learner().load(path).validate() == saved.validate()


# -- a failed save loses nothing ---------------------------------------------------------------
FULL_DISK = """
import resource, sys
sys.path.insert(0, {root!r})
from tests.course.test_saving import learner
learn = learner(hidden_size=64)  # a bigger file than the one already there
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))  # no file may grow past it
try:
    learn.save({path!r})
except OSError as err:
    print("refused:", err)
"""


def test_a_save_that_fails_on_a_full_disk_leaves_the_old_file_loadable(tmp_path):
    good = learner()
    good.fit(1)
    path = good.save(tmp_path / "run.pt")
    before = path.read_bytes()
    script = FULL_DISK.format(root=str(ROOT), path=str(path), limit=len(before))
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "refused: " in out.stdout and "cannot save to" in out.stdout and str(path) in out.stdout
    assert "the file there before (if any) is unchanged" in out.stdout
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["run.pt"]
    assert learner().load(path).validate() == good.validate()


# -- a read-only folder: refused, naming it -----------------------------------------------------
DROP_AND_SAVE = """
import os, sys
sys.path.insert(0, {root!r})
from tests.course.test_saving import learner
learn = learner()
learn.save({warm!r})  # every module a save needs is imported now, while it can be read
if os.geteuid() == 0:  # root writes anywhere: drop to an unprivileged user
    os.setgid(65534)
    os.setuid(65534)
for folder in ({writable!r}, {read_only!r}):
    try:
        print("saved:", learn.save(os.path.join(folder, "run.pt")))
    except PermissionError as err:
        print("refused:", err)
"""


def test_saving_into_a_read_only_folder_names_the_folder(tmp_path):
    """As root the child drops to user nobody, who may not read the venv or the clone (a
    clone in /root): everything a save needs is imported before the drop, and the folders
    lie outside pytest's root-only tmp_path. Control: the same user saves into a folder it
    may write to, so the refusal is the read-only folder's."""
    base = Path(tempfile.mkdtemp(prefix="tbptt-kit-saving-"))
    writable, read_only = base / "writable", base / "read_only"
    try:
        base.chmod(0o755)
        writable.mkdir()
        writable.chmod(0o777)
        read_only.mkdir()
        read_only.chmod(0o555)
        script = DROP_AND_SAVE.format(
            root=str(ROOT),
            warm=str(tmp_path / "warm.pt"),
            writable=str(writable),
            read_only=str(read_only),
        )
        out = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
        )
        if out.returncode != 0 and ("os.setuid" in out.stderr or "os.setgid" in out.stderr):
            pytest.skip(f"cannot drop to user nobody here: {out.stderr.splitlines()[-1]}")
        assert out.returncode == 0, out.stderr
        if f"saved: {writable / 'run.pt'}" not in out.stdout:
            pytest.skip(f"user nobody cannot reach {base} (the control): {out.stdout.strip()}")
        assert f"refused: [Errno 13] cannot save to {read_only / 'run.pt'}" in out.stdout
        assert "choose a folder you can write to" in out.stdout
        assert os.listdir(read_only) == []
    finally:
        if read_only.exists():
            read_only.chmod(0o755)
        shutil.rmtree(base)


class Payload:
    """An object whose unpickling would run a shell command."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_loading_never_runs_code_from_the_file(tmp_path, monkeypatch):
    learn = learner()
    path = tmp_path / "evil.pt"
    torch.save({"model": learn.model.state_dict(), "extra": Payload()}, path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(pickle.UnpicklingError, match="(?i)weights_only|unpickl|global"):
        learn.load(path)
    assert not (tmp_path / "pwned").exists()
