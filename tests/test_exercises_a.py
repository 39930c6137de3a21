"""Exercises of notebooks 01, 02, 03 and 05: the worked solution passes its check, a
deliberately wrong one gets the feedback that names its misconception, and each solution
runs in well under 1 GB."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from tbptt_kit import checks

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "notebooks" / "solutions"


def solution(name: str, func: str):
    """The function ``func`` that solution file ``name`` defines (its other lines left out)."""
    import ast

    tree = ast.parse((SOLUTIONS / name).read_text())
    keep = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.Import, ast.ImportFrom))]
    namespace: dict = {}
    exec(compile(ast.Module(keep, []), name, "exec"), namespace)
    return namespace[func]


def tiny_learner():
    import tbptt_kit as tk

    rng = np.random.default_rng(0)
    u = 0.02 * rng.standard_normal(400)
    y = np.convolve(u, [0.5, 0.3, 0.2])[:400]
    dls = tk.create_dls((u, y), (u, y), test={"multisine": (u, y)}, bs=4, win_sz=50, stp_sz=25)
    dls.units = ("mV", 1e3)
    return tk.RNNLearner(dls, "gru", hidden_size=4, seed=0, progress=False)


# -- 01 --------------------------------------------------------------------------------------
def test_01_ex1(capsys):
    assert checks.check_n_windows(solution("01_ex1.py", "n_windows")) == checks.RIGHT
    assert checks.check_n_windows(lambda n, w, s: n // s) == checks.WRONG  # windows past the end
    assert "must end at or before the last sample" in capsys.readouterr().out


def test_01_ex2_right_and_not_done(capsys):
    assert checks.check_sub_windows(solution("01_ex2.py", "sub_windows")) == checks.RIGHT

    def stub(u, sub_seq_len):
        raise NotImplementedError

    assert checks.check_sub_windows(stub) == checks.NOT_DONE


def test_01_ex2_not_in_time_order(capsys):
    def reversed_order(u, k):
        return [u[:, i * k : (i + 1) * k] for i in range(u.shape[1] // k)][::-1]

    assert checks.check_sub_windows(reversed_order) == checks.WRONG
    assert "not in time order" in capsys.readouterr().out


def test_01_ex2_cut_the_batch_dimension(capsys):
    def batch_cut(u, k):  # slices dim 0 instead of dim 1
        return [u[i * k : (i + 1) * k] for i in range(u.shape[1] // k)]

    assert checks.check_sub_windows(batch_cut) == checks.WRONG
    assert "you cut the batch dimension" in capsys.readouterr().out


def test_01_ex2_interleaved_steps(capsys):
    def strided(u, k):  # every n-th step: right shapes, wrong steps
        n = u.shape[1] // k
        return [u[:, i::n] for i in range(n)]

    assert checks.check_sub_windows(strided) == checks.WRONG
    assert "other steps" in capsys.readouterr().out


# -- 02 --------------------------------------------------------------------------------------
def broadcasting_rmse_mv(y, y_hat, n_init=50):  # the bug of the old worked solution
    err = np.asarray(y_hat, dtype=float)[n_init:] - np.asarray(y, dtype=float)[n_init:]
    return float(np.sqrt(np.mean(err**2)) * 1000)


def test_02_ex1(capsys):
    learn = tiny_learner()
    assert checks.check_benchmark_rmse(solution("02_ex1.py", "benchmark_rmse_mv"), learn) == "right"
    out = capsys.readouterr().out
    assert "learn.test_rmse() says" in out
    assert checks.check_benchmark_rmse(broadcasting_rmse_mv, learn) == checks.WRONG
    assert "broadcasts to a (T, T) matrix" in capsys.readouterr().out
    no_init = lambda y, y_hat, n_init=50: broadcasting_rmse_mv(np.ravel(y), np.ravel(y_hat), 0)  # noqa: E731
    assert checks.check_benchmark_rmse(no_init, learn) == checks.WRONG
    assert "leave out y[:n_init]" in capsys.readouterr().out


def test_02_ex1_matches_test_rmse_on_the_record():
    learn = tiny_learner()
    u, y = learn.dls.test["multisine"]
    y_hat = learn.simulate((u, y))
    mine = solution("02_ex1.py", "benchmark_rmse_mv")(y, y_hat)
    assert math.isclose(mine, learn.test_rmse()["multisine"], rel_tol=1e-4)


def test_02_ex2(capsys):
    assert checks.check_mean_model_rmse(solution("02_ex2.py", "mean_model_rmse_mv")) == "right"

    def broadcasting(y_train, y_test, n_init=50):  # a (T,) prediction minus a (T, 1) target
        y_hat = np.full(len(y_test), np.mean(y_train))
        return float(np.sqrt(np.mean((y_hat[n_init:] - np.asarray(y_test)[n_init:]) ** 2)) * 1e3)

    assert checks.check_mean_model_rmse(broadcasting) == checks.WRONG
    assert "broadcasts to a (T, T) matrix" in capsys.readouterr().out


# -- 03 --------------------------------------------------------------------------------------
def test_03_ex1(capsys):
    assert checks.check_largest_window(solution("03_ex1.py", "largest_window")) == checks.RIGHT
    proportional = lambda w1, m1, w2, m2, budget: int(budget / (m2 / w2))  # noqa: E731
    assert checks.check_largest_window(proportional) == checks.WRONG
    assert "the fixed part" in capsys.readouterr().out


def test_03_ex2(capsys):
    assert checks.check_saved_bytes(solution("03_ex2.py", "saved_bytes")) == checks.RIGHT

    def with_weights(model, u, y):  # no exclusions: the weights count too
        seen = {}

        def pack(t):
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            (model.forward_from(u)[0] - y).abs().mean()
        return sum(seen.values())

    assert checks.check_saved_bytes(with_weights) == checks.WRONG
    assert "you counted the weights too" in capsys.readouterr().out


# -- 05 --------------------------------------------------------------------------------------
def test_05_ex1(capsys):
    right = solution("05_ex1.py", "largest_fitting_sub_seq_len")
    assert checks.check_largest_fitting_sub_seq_len(right) == checks.RIGHT
    from tbptt_kit.memory import estimate_memory

    def activations_only(win_sz, bs, hidden_size, budget):  # forgets gradients, Adam, batch
        fits = [
            d
            for d in range(1, win_sz + 1)
            if win_sz % d == 0 and estimate_memory("lstm", hidden_size, 1, bs, win_sz, d) <= budget
        ]
        return max(fits) if fits else None

    assert checks.check_largest_fitting_sub_seq_len(activations_only) == checks.WRONG
    assert "sum predict_step_memory's parts" in capsys.readouterr().out


def test_05_ex2(capsys):
    right = solution("05_ex2.py", "steps_per_lab_epoch")
    assert checks.check_steps_per_lab_epoch(right) == checks.RIGHT
    no_sub_windows = lambda w, s, bs: math.ceil(((50_000 - w) // 50 + 1) / bs)  # noqa: E731
    assert checks.check_steps_per_lab_epoch(no_sub_windows) == checks.WRONG
    assert "sub-windows per batch" in capsys.readouterr().out


# -- memory: each exercise's worked solution, in a fresh process, stays under 1 GB ------------
CELLS = {
    "01_ex2.py": "import torch; batch = type('B', (), {'u': torch.zeros(16, 500, 1)})",
    "02_ex1.py": "import numpy as np; from tests.test_exercises_a import tiny_learner",
    "02_ex2.py": "",
    "03_ex2.py": textwrap.dedent(
        """
        import tbptt_kit as tk
        from tbptt_kit.memory import measure_memory
        dls = tk.create_dls_silverbox(bs=16, win_sz=500, stp_sz=10)
        learn = tk.RNNLearner(dls, "lstm", hidden_size=40, seed=0, progress=False)
        report = measure_memory(learn, peak=False)
        """
    ),
}


@pytest.mark.parametrize("name", sorted(CELLS))
def test_solution_cell_peak_memory_under_1gb(name):
    code = CELLS[name] + "\n" + (SOLUTIONS / name).read_text()
    if name.startswith("02"):  # the check cells: whole multisine record, (T, 1) layout
        func = "benchmark_rmse_mv" if name == "02_ex1.py" else "mean_model_rmse_mv"
        code += textwrap.dedent(
            f"""
            import tbptt_kit as tk
            dls = tk.create_dls_silverbox(bs=16, win_sz=500, stp_sz=10)
            y = dls.test["multisine"][1]
            print({func}(y, y[:, 0] + 0.001))
            """
        )
    code += "\nimport resource; print('peak', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT / "notebooks",
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "TBPTT_KIT_SMOKE": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    peak_kib = int(done.stdout.split("peak")[-1])
    assert peak_kib < 1024 * 1024, f"{name}: peak RSS {peak_kib / 1024:.0f} MiB"
