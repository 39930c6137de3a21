"""Saved runs know what they are, and a failed save loses nothing.

``Learner.save`` writes the weights beside the model's settings, atomically; ``load`` checks
the settings against the learner and names what differs; broken files get the kit's message.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from tbptt_kit import RNNLearner, create_dls
from tbptt_kit.saving import read_saved

ROOT = Path(__file__).resolve().parent.parent


def dls():
    rng = np.random.default_rng(0)
    u = rng.standard_normal(600).astype(np.float32)
    y = (np.cumsum(u) * 0.01).astype(np.float32)
    return create_dls((u[:400], y[:400]), (u[400:], y[400:]), bs=4, win_sz=40, stp_sz=20,
                      sub_seq_len=20)  # fmt: skip


def learner(**kw):
    args = {"hidden_size": 8, "sub_seq_len": 20, "seed": 0, "progress": False} | kw
    return RNNLearner(dls(), **args)


def weights(learn):
    return [p.detach().clone() for p in learn.model.state_dict().values()]


def test_a_saved_file_holds_the_settings_and_no_stray_temporary(tmp_path):
    path = learner(rnn_type="gru", num_layers=2).save(tmp_path / "run.pt")
    settings = read_saved(path)["settings"]
    assert {k: settings[k] for k in ("rnn_type", "hidden_size", "num_layers", "n_u", "n_y")} == {
        "rnn_type": "gru", "hidden_size": 8, "num_layers": 2, "n_u": 1, "n_y": 1,
    }  # fmt: skip
    assert settings["bptt"] == "truncated" and settings["sub_seq_len"] == 20
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
        with pytest.raises(ValueError, match=r"do not fit this model.*rnn\.weight_hh_l0 \(64, 16\) \(this model: \(32, 8\)\)"):  # fmt: skip
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


# -- a failed save loses nothing ---------------------------------------------------------------
FULL_DISK = """
import resource, sys
sys.path.insert(0, {tests!r})
from test_saving import learner
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
    script = FULL_DISK.format(tests=str(Path(__file__).parent), path=str(path), limit=len(before))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "refused: " in out.stdout and "cannot save to" in out.stdout and str(path) in out.stdout
    assert "the file there before (if any) is unchanged" in out.stdout
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["run.pt"]
    assert learner().load(path).validate() == good.validate()


def test_saving_into_a_read_only_folder_names_the_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_saving import learner
        learn = learner()
        if os.geteuid() == 0:  # root writes anywhere: drop to an unprivileged user
            os.setgid(65534); os.setuid(65534)
        try:
            learn.save({str(folder / "run.pt")!r})
        except PermissionError as err:
            print("refused:", err)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"refused: [Errno 13] cannot save to {folder / 'run.pt'}" in out.stdout
    assert "choose a folder you can write to" in out.stdout
