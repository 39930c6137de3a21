"""Notebook 06's exercises: the self-check and the graded test agree on the worked solution,
the usual mistakes (each named) and the kit's or torch's own answer (torch's
``clip_grad_norm_``, the very function exercise 2 asks to write, included); the references are
``tk.grad_by_lag``, torch's clipping and the kit's row reset."""

import numpy as np
import torch

import tbptt_kit as tk
from tbptt_kit.course.checks import core, nb06
from tbptt_kit.modes import BPTT
from tests.grading_support import agreement_test, solution, stub

RIGHT_CLIP = solution("06_ex2", "clip_by_norm")
RIGHT_START = solution("06_ex3", "start_state")


def truncated(detach=True, flip=True):
    def my_truncated_grad_by_lag(model, u, y, sub_seq_len):
        u = u.clone().requires_grad_(True)
        state, preds = None, []
        for t in range(0, u.shape[1], sub_seq_len):
            pred, state = model(u[:, t : t + sub_seq_len], state)
            state = tk.detach_state(state) if detach else state
            preds.append(pred)
        pred = torch.cat(preds, dim=1)
        (grad,) = torch.autograd.grad(tk.mae(pred[:, -1], y[:, -1]), u)
        norms = grad.pow(2).sum(dim=(0, 2)).sqrt()
        return (norms.flip(0) if flip else norms).numpy()

    return my_truncated_grad_by_lag


def kit_lens(model, u, y, sub_seq_len):
    return tk.grad_by_lag(model, (u, y), bptt=BPTT.of(sub_seq_len), loss_func=tk.mae)


def norm_of(params):
    return float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params)))


def clamp_each(params, max_norm):
    norm = norm_of(params)
    for p in params:
        p.grad.clamp_(-max_norm, max_norm)
    return norm


def per_parameter(params, max_norm):
    norm = norm_of(params)
    for p in params:
        p.grad.mul_(min(1.0, max_norm / max(float(p.grad.norm()), 1e-30)))
    return norm


def not_in_place(params, max_norm):
    norm = norm_of(params)
    for p in params:
        p.grad = p.grad * min(1.0, max_norm / norm) if norm else p.grad
    return norm


def norm_after(params, max_norm):
    RIGHT_CLIP(params, max_norm)
    return norm_of(params)


def always_scaled(params, max_norm):
    norm = norm_of(params)
    for p in params:
        p.grad.mul_(max_norm / norm if norm else 1.0)
    return norm


def torch_clip(params, max_norm):
    return float(torch.nn.utils.clip_grad_norm_(params, max_norm))


def torch_epsilon(params, max_norm):  # torch's formula, written out: max_norm / (norm + 1e-6)
    norm = norm_of(params)
    for p in params:
        p.grad.mul_(min(1.0, max_norm / (norm + 1e-6)))
    return norm


def no_detach(state, reset, n_rows):
    if state is None or state.shape[1] != n_rows:
        return None
    return state * (~reset).to(state.dtype)[None, :, None]


def batch_first(state, reset, n_rows):
    if state is None or state.shape[1] != n_rows:
        return None
    state = state.detach().clone()
    state[..., reset.nonzero().flatten()] = 0  # the wrong axis
    return state


def keeps_rows(state, reset, n_rows):  # a smaller batch takes the state as it is
    if state is None:
        return None
    keep = torch.ones(state.shape[1])
    keep[: len(reset)] = (~reset).float()
    return state.detach() * keep[None, :, None]


def inverted(state, reset, n_rows):
    return RIGHT_START(state, ~reset, n_rows)


def kit_start_state(state, reset, n_rows):
    if state is None or state.shape[1] != n_rows:
        return None
    zeroed = tk.reset_rows(tk.detach_state(state), reset)
    return torch.zeros_like(state) if zeroed is None else zeroed


ANSWERS = [
    ("06.1", "solution", solution("06_ex1", "my_truncated_grad_by_lag"), "right, on all"),
    ("06.1", "stub", stub, "not done yet"),
    ("06.1", "no-detach", truncated(detach=False), "that is full BPTT's curve"),
    ("06.1", "time-order", truncated(flip=False), "your array is in time order"),
    ("06.1", "kit", kit_lens, "the kit's own answer"),
    ("06.2", "solution", RIGHT_CLIP, "right, on all"),
    ("06.2", "clamp", clamp_each, "you clipped each value on its own"),
    ("06.2", "per-parameter", per_parameter, "by its own norm"),
    ("06.2", "not-in-place", not_in_place, "in place"),
    ("06.2", "norm-after", norm_after, "the norm after clipping"),
    ("06.2", "always", always_scaled, "already below max_norm"),
    ("06.2", "epsilon", torch_epsilon, "adds 1e-6"),
    ("06.2", "unchanged", lambda params, max_norm: norm_of(params), "did not change"),
    ("06.2", "torch", torch_clip, "the kit's own answer"),
    ("06.3", "solution", RIGHT_START, "right, on all"),
    ("06.3", "no-detach", no_detach, "backward through the graph a second time"),
    ("06.3", "batch-first", batch_first, "still holds the previous one's"),
    ("06.3", "keeps-rows", keeps_rows, "Expected hidden size"),
    ("06.3", "inverted", inverted, "not yet right"),
    ("06.3", "kit", kit_start_state, "the kit's own answer"),
]


test_the_self_check_and_the_graded_test_agree_and_name_the_mistake = agreement_test(ANSWERS)


def test_the_lens_reference_is_tk_grad_by_lag_cliff_included():
    for case in core.all_cases(nb06.TRUNCATED_GRAD_BY_LAG, 0):
        model, u, y, k = nb06.TRUNCATED_GRAD_BY_LAG.call(case)["args"]
        want = nb06.reference_truncated_grad_by_lag(case)
        assert np.all(np.array(want[k:]) == 0) and np.all(np.array(want[:k]) > 0)
        assert nb06.compare_truncated(kit_lens(model, u, y, k).tolist(), want, case) is None


def test_the_clip_reference_is_torchs_clipping_but_for_its_epsilon():
    for case in core.all_cases(nb06.CLIP_BY_NORM, 0):
        if case[2] < 1e-3:
            continue  # tiny gradients: torch's 1e-6 in max_norm / (norm + 1e-6) shows
        params = nb06.CLIP_BY_NORM.call(case)["args"][0]
        norm = torch_clip(params, case[3])
        want = nb06.reference_clip_by_norm(case)
        got = [p.grad.reshape(-1).tolist() for p in params]
        assert np.isclose(norm, want["norm"], rtol=1e-6)
        assert np.allclose(
            np.concatenate(got or [[]]), np.concatenate(want["grads"] or [[]]), rtol=1e-5
        )


def test_the_start_state_reference_is_the_kits_row_reset():
    for case in core.all_cases(nb06.START_STATE, 0):
        state, reset, n_rows = nb06.START_STATE.call(case)["args"]
        want = nb06.reference_start_state(case)
        kit = kit_start_state(state, reset, n_rows)
        if want is None:
            assert kit is None
        else:
            assert kit.reshape(-1).tolist() == want["values"], case
