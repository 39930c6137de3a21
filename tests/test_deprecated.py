"""tbptt_kit/deprecated.py: every old name still works, and says its new one with a
``DeprecationWarning``. (This file is the one place allowed to use them.)"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import tbptt_kit as tk
from tbptt_kit.deprecated import MOVED
from tbptt_kit.modes import BPTT

ROOT = Path(__file__).resolve().parent.parent


def windows_dls(sub_seq_len=None):
    rng = np.random.default_rng(0)
    u = rng.standard_normal(400).astype(np.float32)
    y = np.convolve(u, [0.5, 0.3, 0.2])[:400].astype(np.float32)
    return tk.create_dls((u, y), (u, y), bs=2, win_sz=40, stp_sz=40, sub_seq_len=sub_seq_len)


# -- the model keeps no state: its old methods and switch ------------------------------------
def test_forward_from_is_a_call_of_the_model():
    torch.manual_seed(0)
    model = tk.StatefulRNN(hidden_size=4)
    u = torch.randn(2, 6, 1)
    start = model(u)[1]
    with pytest.warns(
        DeprecationWarning,
        match=r"model\.forward_from\(u, state\) is deprecated: use model\(u, state\)",
    ):
        y, state = model.forward_from(u, start)
    want, want_state = model(u, start)
    assert torch.equal(y, want) and all(torch.equal(a, b) for a, b in zip(state, want_state))


def test_reset_state_does_nothing_and_says_the_state_is_none():
    model = tk.StatefulRNN(hidden_size=4)
    with pytest.warns(
        DeprecationWarning,
        match=r"model\.reset_state\(\) is deprecated: use a hidden_state of None",
    ):
        assert model.reset_state() is None
    with pytest.warns(DeprecationWarning, match=r"reset_state"):
        model.reset_state(rows=torch.tensor([True]))


@pytest.mark.parametrize("stateful", [True, False])
def test_the_stateful_switch_is_accepted_and_changes_nothing(stateful):
    with pytest.warns(
        DeprecationWarning,
        match=r"StatefulRNN\(stateful=\.\.\.\) is deprecated: use y, state = model\(u, state\)",
    ):
        model = tk.StatefulRNN(hidden_size=4, stateful=stateful)
    torch.manual_seed(0)
    plain = tk.StatefulRNN(hidden_size=4)
    model.load_state_dict(plain.state_dict())
    u = torch.randn(2, 5, 1)
    assert torch.equal(model(u)[0], plain(u)[0])


def test_no_stateful_switch_no_warning(recwarn):
    tk.StatefulRNN(hidden_size=4)
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]


def test_tbptt_reset_cb_is_a_callback_that_changes_nothing():
    with pytest.warns(
        DeprecationWarning,
        match=r"TbpttResetCB is deprecated: use nothing: Learner\.one_batch resets the state itself",
    ):
        cb = tk.TbpttResetCB()
    assert isinstance(cb, tk.Callback)
    results = []
    for cbs in ([cb], []):
        torch.manual_seed(0)
        learn = tk.Learner(windows_dls(20), tk.StatefulRNN(hidden_size=4), BPTT.of(20), cbs=cbs)
        results.append(learn.predict()[0])
    assert torch.equal(*results)


def test_learn_run_windows_is_run_windows_of_the_learner():
    torch.manual_seed(0)
    learn = tk.Learner(windows_dls(20), tk.StatefulRNN(hidden_size=4), BPTT.of(20))
    u, y = learn.dls.windows("valid", 2)
    with pytest.warns(
        DeprecationWarning,
        match=r"learn\.run_windows\(u, y\) is deprecated: use tbptt_kit\.run_windows\(learn, u, y\)",
    ):
        old = learn.run_windows(u, y, backward=False)
    assert torch.equal(old, tk.run_windows(learn, u, y, backward=False))


# -- renamed arguments -----------------------------------------------------------------------
def test_bptt_len_is_backprop_len():
    with pytest.warns(
        DeprecationWarning,
        match=r"bptt_len= is now backprop_len=: bptt means the chunk length \(k1\)",
    ):
        bptt = BPTT.of(20, bptt_len=40)
    assert bptt == BPTT("truncated", 20, 40)
    with pytest.warns(DeprecationWarning, match="bptt_len is now backprop_len"):
        assert bptt.bptt_len == 40
    with pytest.warns(DeprecationWarning, match="bptt_len= is now backprop_len="):
        learn = tk.RNNLearner(
            windows_dls(20), hidden_size=4, sub_seq_len=20, bptt_len=40, progress=False
        )
    assert learn.bptt == BPTT("truncated", 20, 40)


def test_the_warning_points_at_the_line_that_used_the_old_name():
    with pytest.warns(DeprecationWarning, match="bptt_len= is now backprop_len=") as caught:
        tk.RNNLearner(windows_dls(20), hidden_size=4, sub_seq_len=20, bptt_len=40, progress=False)
    assert [w.filename for w in caught] == [__file__]


def test_a_string_as_bptt_is_the_mode():
    with pytest.warns(
        DeprecationWarning,
        match=r"bptt= is now mode=: bptt means the chunk length \(k1\) in PyTorch's word_language_model",
    ):
        assert BPTT.of(20, bptt="checkpointed") == BPTT("checkpointed", 20)
    with pytest.warns(DeprecationWarning, match="bptt= is now mode="):
        learn = tk.RNNLearner(
            windows_dls(), hidden_size=4, sub_seq_len=20, bptt="checkpointed", progress=False
        )
    assert learn.bptt == BPTT("checkpointed", 20)


def test_the_new_names_give_no_warning(recwarn):
    BPTT.of(20, "checkpointed")
    BPTT.of(20, backprop_len=40)
    assert BPTT.of(20, bptt=BPTT("truncated", 20)) == BPTT("truncated", 20)  # a BPTT: no warning
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]


# -- influence balancing's old names ------------------------------------------------------------
def test_influence_model_is_the_balancing_chain():
    with pytest.warns(DeprecationWarning, match="InfluenceModel is deprecated: use BalancingChain"):
        model = tk.InfluenceModel(10, 4, theta=0.5)
    assert isinstance(model, tk.BalancingChain) and model.best_theta == -0.25
    assert float(model.theta.detach()) == 0.5


def test_create_dls_influence_and_fit_influence_are_the_balancing_ones():
    with pytest.warns(
        DeprecationWarning, match="create_dls_influence is deprecated: use create_dls_balancing"
    ):
        old = tk.create_dls_influence(40, 10, n_windows=2)
    new = tk.create_dls_balancing(40, 10, n_windows=2)
    assert (old.win_sz, old.sub_seq_len, len(old.train.ds)) == (
        new.win_sz,
        new.sub_seq_len,
        len(new.train.ds),
    )
    with pytest.warns(DeprecationWarning, match="fit_influence is deprecated: use fit_balancing"):
        old_fit = tk.fit_influence(BPTT.of(8), n_epoch=1, win_sz=40, n_windows=2)
    assert old_fit == tk.fit_balancing(BPTT.of(8), n_epoch=1, win_sz=40, n_windows=2)


# -- moved modules, in a fresh interpreter (an import is cached per process) -------------------
IMPORTS = textwrap.dedent("""
    import importlib, json, sys, warnings
    sys.path.insert(0, sys.argv[1])
    from tbptt_kit.deprecated import MOVED
    out = {}
    for old, new in MOVED.items():
        sys.modules.pop(old, None)  # imported as another's parent: afresh, so that it warns
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = importlib.import_module(old)
        new = importlib.import_module(MOVED[old])
        same = all(getattr(module, n) is getattr(new, n) for n in getattr(new, "__all__", []))
        out[old] = [module.__doc__, same, [str(w.message) for w in caught if w.category is DeprecationWarning]]
    print(json.dumps(out))
""")


def test_every_old_module_path_imports_the_moved_module_and_says_where():
    run = subprocess.run(
        [sys.executable, "-c", IMPORTS, str(ROOT)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert sorted(got) == sorted(MOVED)
    for old, new in MOVED.items():
        doc, same, warned = got[old]
        assert doc.startswith(f"Moved to {new}") and same, f"import {old} gave {doc}"
        assert f"{old} is deprecated: use {new}." in warned, (old, warned)
    assert {"tbptt_kit.plots", "tbptt_kit.bptt", "tbptt_kit.memory", "tbptt_kit.train"} <= set(
        MOVED
    )


def test_an_old_module_that_was_split_finds_each_name_where_it_went(monkeypatch):
    code = (
        "import warnings; warnings.simplefilter('ignore')\n"
        "from tbptt_kit.learner import learner_for, adam, Learner, TbpttResetCB\n"
        "from tbptt_kit.data.windows import divisors, create_dls, WindowDataset\n"
        "from tbptt_kit.data.streams import create_stream_dls, StreamLoader\n"
        "from tbptt_kit.data.influence import InfluenceModel, BalancingChain\n"
        "from tbptt_kit.memory.units import format_bytes\n"
        "import tbptt_kit.course.plots as p; print(p.__spec__.name)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "tbptt_kit.course.plots"  # the moved module keeps its name
    monkeypatch.delitem(sys.modules, "tbptt_kit.lens", raising=False)  # afresh: it warns
    with pytest.warns(DeprecationWarning, match="tbptt_kit.lens is deprecated"):
        import tbptt_kit.lens as old_lens
    with pytest.raises(
        AttributeError, match="moved to tbptt_kit.course.lens.*no attribute 'nothing'"
    ):
        old_lens.nothing  # noqa: B018


def test_an_old_module_path_gives_the_new_modules_names(monkeypatch):
    for old, new in (
        ("tbptt_kit.artbp", "tbptt_kit.modes.randomized"),
        ("tbptt_kit.lens", "tbptt_kit.course.lens"),
    ):
        monkeypatch.delitem(sys.modules, old, raising=False)  # imported afresh: it warns
        module = sys.modules[new]  # (the import renames its spec: put back after the test)
        monkeypatch.setattr(module, "__spec__", module.__spec__)
    with pytest.warns(
        DeprecationWarning,
        match=r"tbptt_kit\.artbp is deprecated: use tbptt_kit\.modes\.randomized",
    ):
        from tbptt_kit.artbp import Truncation
    with pytest.warns(
        DeprecationWarning, match=r"tbptt_kit\.lens is deprecated: use tbptt_kit\.course\.lens"
    ):
        from tbptt_kit.lens import grad_by_lag
    assert Truncation is tk.Truncation and grad_by_lag is tk.grad_by_lag


def test_python_m_the_old_command_line_still_runs_and_says_the_new_one():
    run = subprocess.run(
        [sys.executable, "-m", "tbptt_kit.train", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage: tbptt-kit")
    assert (
        "note: python -m tbptt_kit.train is deprecated: use python -m tbptt_kit.tooling.train"
        in run.stderr
    )
