"""The graded tests of exercises 02.1 to 06.3: the worked solutions pass them, a call to the
kit's own answer (itself right) does not, nor do the usual mistakes; and the kit's functions
are bound again afterwards."""

import ast
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import tbptt_kit as tk
import tbptt_kit.checks  # noqa: F401 (the notebooks import it: its helpers get switched off too)
from tbptt_kit import artbp, callbacks, lens, losses, plots
from tbptt_kit.bptt import BPTT
from tbptt_kit.checks import nb02, nb03
from tbptt_kit.data import windows
from tbptt_kit.memory import budget, measure, meter, predict
from tbptt_kit.model import detach_state

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import build_assignment  # noqa: E402
from tests.grading_support import passes, solution  # noqa: E402

MINE = ("02_ex1", "02_ex2", "03_ex1", "03_ex2", "05_ex1", "05_ex2", "06_ex1", "06_ex2", "06_ex3")
TESTS = {stem: build_assignment.test_source(build_assignment.TESTS / f"{stem}.py") for stem in MINE}
# every name a graded test switches off, where it lives, as it is before any test runs
DISABLED = {
    (losses, "fun_rmse"): losses.fun_rmse,
    (nb02, "_rmse_mv"): nb02._rmse_mv,
    (measure, "measure_memory"): measure.measure_memory,
    (meter, "SavedTensorMeter"): meter.SavedTensorMeter,
    (predict, "estimate_memory"): predict.estimate_memory,
    (nb03, "_saved_variants"): nb03._saved_variants,
    (budget, "largest_sub_seq_len"): budget.largest_sub_seq_len,
    (budget, "check_budget"): budget.check_budget,
    (windows, "WindowLoader"): windows.WindowLoader,
    (windows, "WindowDataset"): windows.WindowDataset,
    (plots, "window_starts"): plots.window_starts,
    (lens, "grad_by_lag"): lens.grad_by_lag,
    (lens, "learner_for"): lens.learner_for,
    (callbacks, "GradClipCB"): callbacks.GradClipCB,
    (artbp, "_zero_rows"): artbp._zero_rows,
}


STUDENT = {  # stem -> the student's function's name
    "02_ex1": "benchmark_rmse_mv",
    "02_ex2": "mean_model_rmse_mv",
    "03_ex1": "largest_window",
    "03_ex2": "saved_bytes",
    "05_ex1": "largest_fitting_sub_seq_len",
    "05_ex2": "steps_per_lab_epoch",
    "06_ex1": "my_truncated_grad_by_lag",
    "06_ex2": "clip_by_norm",
    "06_ex3": "start_state",
}


def right(stem: str):
    return solution(stem, STUDENT[stem])


def graded(stem: str, func) -> bool:
    return passes(stem, **{STUDENT[stem]: func})


@pytest.mark.parametrize("stem", MINE)
def test_graded_tests_pass_the_worked_solutions(stem):
    assert graded(stem, right(stem))


@pytest.mark.parametrize("stem", MINE)
def test_graded_tests_fail_an_empty_submission(stem):
    def stub(*args, **kwargs):
        raise NotImplementedError("not answered yet")

    with pytest.raises(NotImplementedError, match="not answered yet"):
        graded(stem, stub)


def test_visible_parts_give_no_solution_away():
    """What students see of a graded test holds no line of the worked solution (unless the
    notebook's own prose shows it) and none of the release's forbidden words."""
    import nbformat

    for stem in MINE:
        visible = (build_assignment.TESTS / f"{stem}.py").read_text()
        visible = visible.partition(build_assignment.HIDDEN_MARK)[0]
        (notebook,) = (ROOT / "notebooks").glob(f"{stem[:2]}_*.ipynb")
        prose = "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells)
        for stmt in ast.parse((ROOT / "notebooks" / "solutions" / f"{stem}.py").read_text()).body:
            if isinstance(stmt, ast.FunctionDef):
                for line in ast.unparse(stmt).splitlines()[1:]:
                    code = line.strip()
                    assert len(code) < 10 or code not in visible or code in prose, (stem, code)
        for forbidden in ("Stuck?", "%load", "solutions/", "checks.check_", "reference_"):
            assert forbidden not in visible, (stem, forbidden)


# -- a call to the kit's own answer: right, and refused ------------------------------------
def test_02_refuses_the_kits_rmse():
    def kit_benchmark(y, y_hat, n_init=50):
        pred = torch.as_tensor(np.ravel(y_hat)[n_init:])
        return 1000 * float(tk.fun_rmse(pred, torch.as_tensor(np.ravel(y)[n_init:])))

    def kit_benchmark_check(y, y_hat, n_init=50):
        return nb02._rmse_mv(y, y_hat, n_init)

    def kit_mean(y_train, y_test, n_init=50):
        return nb02._rmse_mv(y_test, np.full(len(y_test), np.mean(y_train)), n_init)

    rng = np.random.default_rng(0)
    y, y_hat = rng.standard_normal((300, 1)), rng.standard_normal(300)
    for kit in (kit_benchmark, kit_benchmark_check):
        assert math.isclose(kit(y, y_hat), right("02_ex1")(y, y_hat), rel_tol=1e-9)
        assert not graded("02_ex1", kit)
    assert math.isclose(kit_mean(y_hat, y), right("02_ex2")(y_hat, y), rel_tol=1e-9)
    assert not graded("02_ex2", kit_mean)


def test_03_refuses_the_kits_memory_meters():
    def kit_measured(model, u, y):
        return measure.measure_memory(model, (u, y), peak=False).activation_bytes

    def kit_predicted(model, u, y):
        sizes = (model.rnn_type, model.hidden_size, model.num_layers, *u.shape[:2])
        return predict.estimate_memory(*sizes)

    def kit_meter(model, u, y):
        counter = meter.SavedTensorMeter(exclude=[*model.parameters(), *model.buffers()])
        with counter.measuring(u, y):
            (model.forward_from(u)[0] - y).abs().mean()
        return counter.nbytes

    def kit_check(model, u, y):
        return nb03._saved_variants(model, u, y)["right"]

    torch.manual_seed(0)
    model = tk.StatefulRNN(1, 1, "lstm", 8)
    u, y = torch.randn(4, 30, 1), torch.randn(4, 30, 1)
    for kit in (kit_measured, kit_predicted, kit_meter, kit_check):
        assert kit(model, u, y) == right("03_ex2")(model, u, y)
        assert not graded("03_ex2", kit)


def test_05_refuses_the_budget_guard_and_the_loaders():
    def kit_largest(win_sz, bs, hidden_size, budget_bytes):
        sizes = dict(rnn_type="lstm", hidden_size=hidden_size, num_layers=1, bs=bs)
        return budget.largest_sub_seq_len(win_sz, budget_bytes, **sizes)

    def kit_guard(win_sz, bs, hidden_size, budget_bytes):
        for d in sorted((d for d in range(1, win_sz + 1) if win_sz % d == 0), reverse=True):
            try:
                budget.check_budget(budget_bytes, rnn_type="lstm", hidden_size=hidden_size,
                                    num_layers=1, bs=bs, win_sz=win_sz, sub_seq_len=d)  # fmt: skip
                return d
            except budget.MemoryBudgetExceeded:
                continue
        return None

    for args in ((2000, 64, 128, 256 * 2**20), (500, 16, 40, 1000)):
        assert kit_largest(*args) == right("05_ex1")(*args)
    assert kit_guard(600, 32, 64, 8 * 2**20) == right("05_ex1")(600, 32, 64, 8 * 2**20)
    assert not graded("05_ex1", kit_largest)
    assert not graded("05_ex1", kit_guard)

    def kit_loader(win_sz, sub_seq_len, bs):
        record = (np.zeros(50_000, np.float32), np.zeros(50_000, np.float32))
        sub = BPTT.for_window(win_sz, sub_seq_len).loader_sub_seq_len
        return len(windows.WindowLoader(windows.WindowDataset([record], win_sz, 50), bs,
                                        sub_seq_len=sub))  # fmt: skip

    def kit_starts(win_sz, sub_seq_len, bs):
        return math.ceil(len(plots.window_starts(50_000, win_sz, 50)) / bs) * (
            win_sz // sub_seq_len
        )

    for args in ((500, 100, 16), (560, 56, 16), (100, 10, 998)):
        assert kit_loader(*args) == kit_starts(*args) == right("05_ex2")(*args)
    assert not graded("05_ex2", kit_loader)
    assert not graded("05_ex2", kit_starts)


def test_06_refuses_the_kits_lens_clipping_and_row_reset():
    def kit_lens(model, u, y, sub_seq_len):
        return tk.grad_by_lag(model, (u, y), bptt=BPTT.of(sub_seq_len), loss_func=tk.mae)

    torch.manual_seed(0)
    model = tk.StatefulRNN(1, 1, "lstm", 8)
    u, y = torch.randn(4, 24, 1), torch.randn(4, 24, 1)
    want = right("06_ex1")(model, u, y, 6)
    assert np.allclose(kit_lens(model, u, y, 6), want, rtol=1e-5, atol=1e-12)
    assert not graded("06_ex1", kit_lens)

    def kit_clip_cb(params, max_norm):
        clip = tk.GradClipCB(max_norm)
        clip.before_fit(None)
        clip.after_backward(SimpleNamespace(model=SimpleNamespace(parameters=lambda: params)))
        return clip.norms[-1]

    def torch_clip(params, max_norm):  # torch's, which no kit_disabled can switch off
        return float(torch.nn.utils.clip_grad_norm_(params, max_norm))

    for clip in (kit_clip_cb, torch_clip):
        mine, theirs = [torch.nn.Parameter(torch.zeros(2)) for _ in range(2)]
        mine.grad, theirs.grad = torch.tensor([3.0, 4.0]), torch.tensor([3.0, 4.0])
        assert clip([theirs], 1.0) == pytest.approx(right("06_ex2")([mine], 1.0))
        assert torch.allclose(theirs.grad, mine.grad)  # right on ordinary gradients ...
        assert not graded("06_ex2", clip)  # ... refused (torch's: by its 1e-6 in the factor)

    def kit_rows(state, reset, n_rows):
        if state is None or state.shape[1] != n_rows:
            return None
        return artbp._zero_rows(detach_state(state), reset)

    state = torch.nn.RNN(1, 4, 2, batch_first=True)(torch.randn(3, 5, 1))[1]
    reset = torch.tensor([True, False, True])
    assert torch.equal(kit_rows(state, reset, 3), right("06_ex3")(state, reset, 3))
    assert not graded("06_ex3", kit_rows)


# -- the usual mistakes -----------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # a mistake averages an empty slice
def test_02_refuses_the_usual_mistakes():
    def no_ravel(y, y_hat, n_init=50):  # (T, 1) minus (T,): a (T, T) matrix
        return float(np.sqrt(np.mean((y_hat[n_init:] - y[n_init:]) ** 2)) * 1000)

    def in_volts(y, y_hat, n_init=50):
        return right("02_ex1")(y, y_hat, n_init) / 1000

    def off_by_one(y, y_hat, n_init=50):
        return right("02_ex1")(y, y_hat, max(n_init - 1, 0))

    def std_of_error(y, y_hat, n_init=50):  # drops the error's mean: a bias goes unscored
        return float(np.std(np.ravel(y_hat)[n_init:] - np.ravel(y)[n_init:]) * 1000)

    for mistake in (no_ravel, in_volts, off_by_one, std_of_error):
        assert not graded("02_ex1", mistake), mistake.__name__

    def test_mean(y_train, y_test, n_init=50):
        return right("02_ex2")(y_test, y_test, n_init)

    def train_mean_after_n_init(y_train, y_test, n_init=50):
        return right("02_ex2")(np.ravel(y_train)[n_init:], y_test, n_init)

    def broadcasts(y_train, y_test, n_init=50):  # the right number, through a (T, T) matrix
        y_hat = np.full(len(y_test), np.mean(y_train))
        return float(np.sqrt(np.mean((y_hat[n_init:] - y_test[n_init:]) ** 2)) * 1000)

    def all_samples(y_train, y_test, n_init=50):
        return right("02_ex2")(y_train, y_test, 0)

    for mistake in (test_mean, train_mean_after_n_init, broadcasts, all_samples):
        assert not graded("02_ex2", mistake), mistake.__name__


def test_03_refuses_the_usual_mistakes():
    def rounded(w1, m1, w2, m2, budget):
        slope = (m2 - m1) / (w2 - w1)
        return round((budget - (m1 - slope * w1)) / slope)

    def strictly_below(w1, m1, w2, m2, budget):  # < budget instead of <= budget
        slope = (m2 - m1) / (w2 - w1)
        return math.ceil((budget - (m1 - slope * w1)) / slope) - 1

    def no_fixed_part(w1, m1, w2, m2, budget):
        return math.floor(budget / ((m2 - m1) / (w2 - w1)))

    for mistake in (rounded, strictly_below, no_fixed_part):
        assert not graded("03_ex1", mistake), mistake.__name__

    def counting(skip_weights=True, each_view_once=True, with_loss=True):
        def saved_bytes(model, u, y):
            there = [*model.parameters(), *model.buffers()] if skip_weights else []
            skip = {t.untyped_storage().data_ptr() for t in [*there, u, y]}
            seen, views = {}, [0]

            def pack(t):
                storage = t.untyped_storage()
                if storage.data_ptr() not in skip:
                    seen[storage.data_ptr()] = storage.nbytes()
                    views[0] += t.numel() * t.element_size()
                return t

            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                y_hat, _ = model.forward_from(u)
                if with_loss:
                    (y_hat - y).abs().mean()
            return sum(seen.values()) if each_view_once else views[0]

        return saved_bytes

    assert graded("03_ex2", counting())  # the control
    assert not graded("03_ex2", counting(skip_weights=False))  # the weights counted
    assert not graded("03_ex2", counting(each_view_once=False))  # every view counted
    assert not graded("03_ex2", counting(with_loss=False))  # the loss forgotten


def test_05_refuses_the_usual_mistakes():
    def step(win_sz, bs, hidden_size, d, parts=None):
        memory = budget.predict_step_memory("lstm", hidden_size, 1, bs, win_sz, d)
        return sum(memory[p] for p in parts or memory)

    def largest(fits):
        def largest_fitting_sub_seq_len(win_sz, bs, hidden_size, budget_bytes):
            found = [d for d in range(1, win_sz + 1) if win_sz % d == 0
                     and fits(step(win_sz, bs, hidden_size, d), budget_bytes, win_sz, bs,
                              hidden_size, d)]  # fmt: skip
            return max(found) if found else None

        return largest_fitting_sub_seq_len

    assert graded("05_ex1", largest(lambda need, budget_bytes, *_: need <= budget_bytes))
    assert not graded("05_ex1", largest(lambda need, budget_bytes, *_: need < budget_bytes))
    activations_only = largest(
        lambda _, budget_bytes, w, bs, h, d: step(w, bs, h, d, ["activations"]) <= budget_bytes
    )
    assert not graded("05_ex1", activations_only)
    one_at_least = right("05_ex1")
    assert not graded("05_ex1", lambda *args: one_at_least(*args) or 1)

    def steps(n_windows, n_batches):
        return lambda w, k, bs: n_batches(n_windows(w), bs) * (w // k)

    def with_last(n, bs):
        return math.ceil(n / bs)

    assert graded("05_ex2", steps(lambda w: (50_000 - w) // 50 + 1, with_last))  # the control
    assert not graded("05_ex2", steps(lambda w: (50_000 - w) // 50 + 1, lambda n, bs: n // bs))
    assert not graded("05_ex2", steps(lambda w: (50_000 - w) // 50, with_last))
    assert not graded("05_ex2", steps(lambda w: 50_000 // 50, with_last))
    assert not graded("05_ex2", lambda w, k, bs: with_last((50_000 - w) // 50 + 1, bs))


def test_06_refuses_the_usual_mistakes():
    def lens(detach=True, lag_order=True, last_step_only=True):
        def my_truncated_grad_by_lag(model, u, y, sub_seq_len):
            u = u.clone().requires_grad_(True)
            state, preds = None, []
            for t in range(0, u.shape[1], sub_seq_len):
                pred, state = model.forward_from(u[:, t : t + sub_seq_len], state)
                state = tk.detach_state(state) if detach else state
                preds.append(pred)
            pred = torch.cat(preds, dim=1)
            loss = tk.mae(pred[:, -1], y[:, -1]) if last_step_only else tk.mae(pred, y)
            (grad,) = torch.autograd.grad(loss, u)
            norms = grad.pow(2).sum(dim=(0, 2)).sqrt()
            return (norms.flip(0) if lag_order else norms).numpy()

        return my_truncated_grad_by_lag

    assert graded("06_ex1", lens())  # the control
    assert not graded("06_ex1", lens(detach=False))  # full BPTT's curve
    assert not graded("06_ex1", lens(lag_order=False))  # time order
    assert not graded("06_ex1", lens(last_step_only=False))  # every step's loss

    def per_parameter(params, max_norm):
        norm = float(torch.sqrt(sum((p.grad**2).sum() for p in params)))
        for p in params:
            p.grad.mul_(min(1.0, max_norm / max(float(p.grad.norm()), 1e-30)))
        return norm

    def not_in_place(params, max_norm):
        norm = float(torch.sqrt(sum((p.grad**2).sum() for p in params)))
        for p in params:
            p.grad = p.grad * min(1.0, max_norm / norm) if norm else p.grad
        return norm

    def norm_after(params, max_norm):
        right("06_ex2")(params, max_norm)
        return float(torch.sqrt(sum((p.grad**2).sum() for p in params)))

    def clamped(params, max_norm):
        norm = float(torch.sqrt(sum((p.grad**2).sum() for p in params)))
        for p in params:
            p.grad.clamp_(-max_norm, max_norm)
        return norm

    for mistake in (per_parameter, not_in_place, norm_after, clamped):
        assert not graded("06_ex2", mistake), mistake.__name__

    def no_detach(state, reset, n_rows):
        if state is None or state.shape[1] != n_rows:
            return None
        return state * (~reset).to(state.dtype)[None, :, None]

    def layers_axis(state, reset, n_rows):  # (rows, 1, 1): broadcast against the layers
        if state is None or state.shape[1] != n_rows:
            return None
        return state.detach() * (~reset).to(state.dtype)[:, None, None]

    def sliced(state, reset, n_rows):  # a smaller batch takes the first rows' state
        if state is None or state.shape[1] < n_rows:
            return None
        return right("06_ex3")(state[:, :n_rows], reset, n_rows)

    def inverted(state, reset, n_rows):
        return right("06_ex3")(state, ~reset, n_rows)

    for mistake in (no_detach, layers_axis, sliced, inverted):
        assert not graded("06_ex3", mistake), mistake.__name__


def test_the_kits_functions_are_bound_again():
    """Last: every switched-off name is the kit's own function again, wherever it is bound."""
    for (module, name), original in DISABLED.items():
        assert getattr(module, name) is original, f"{module.__name__}.{name}"
    assert tk.fun_rmse is losses.fun_rmse and tk.grad_by_lag is lens.grad_by_lag
    assert (
        tk.GradClipCB is callbacks.GradClipCB and tk.memory.measure_memory is measure.measure_memory
    )
    assert budget.check_budget.__name__ == "check_budget"
