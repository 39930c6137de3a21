"""Notebook 04's exercises: the self-check and the graded test agree on the worked solution,
the usual mistakes of a hand-written TBPTT loop and of the gradient by lag (each named) and
the kit's own step; the float64 references are the kit's step and ``tk.grad_by_lag``."""

import numpy as np
import torch

import tbptt_kit as tk
from tbptt_kit.core.learner import Callback
from tbptt_kit.core.model import StatefulRNN
from tbptt_kit.course.checks import core, nb04
from tbptt_kit.modes import BPTT
from tests.grading_support import agreement_test, solution, stub


def loop(detach=True, reset="window", zero_each=False):
    def tbptt_grads(rnn, head, batches, sub_seq_len):
        state = None
        for u, y in batches:
            if reset == "window":
                state = None
            for t in range(0, u.shape[1], sub_seq_len):
                if reset == "every":
                    state = None
                if zero_each:
                    for p in [*rnn.parameters(), *head.parameters()]:
                        p.grad = None
                out, state = rnn(u[:, t : t + sub_seq_len], state)
                ((head(out) - y[:, t : t + sub_seq_len]) ** 2).mean().backward()
                if detach:
                    state = tuple(s.detach() for s in state)
        return [p.grad for p in [*rnn.parameters(), *head.parameters()]]

    return tbptt_grads


def summed(rnn, head, batches, sub_seq_len):
    """The window's summed loss backpropagated once: full BPTT, named as no detach."""
    for u, y in batches:
        state, total = None, 0
        for t in range(0, u.shape[1], sub_seq_len):
            out, state = rnn(u[:, t : t + sub_seq_len], state)
            total = total + ((head(out) - y[:, t : t + sub_seq_len]) ** 2).mean()
        total.backward()
    return [p.grad for p in [*rnn.parameters(), *head.parameters()]]


class Losses(Callback):
    def __init__(self):
        self.taken = []

    def after_batch(self, learn):
        self.taken.append(learn.loss)


def kit_grads(rnn, head, batches, sub_seq_len):
    """The kit's answer: the same weights in a StatefulRNN, each batch through the learner's
    own step (tk.run_windows), every sub-window's loss backpropagated."""
    model = StatefulRNN(rnn.input_size, head.out_features, "lstm", rnn.hidden_size)
    model.rnn.load_state_dict(rnn.state_dict())
    model.head.load_state_dict(head.state_dict())
    mse = lambda p, t: ((p - t) ** 2).mean()  # noqa: E731
    learn = tk.learner_for(model, *batches[0], BPTT.of(sub_seq_len), loss_func=mse)
    losses = Losses()
    learn.add_cb(losses)
    for u, y in batches:
        tk.run_windows(learn, u, y, backward=False)
        sum(losses.taken).backward()
        losses.taken.clear()
    return [p.grad.clone() for p in model.parameters()]


def lens(flip=True, last_only=True):
    def my_grad_by_lag(model, u, y):
        u = u.clone().requires_grad_(True)
        pred, _ = model(u)
        loss = tk.mae(pred[:, -1], y[:, -1]) if last_only else tk.mae(pred, y)
        (grad,) = torch.autograd.grad(loss, u)
        norms = grad.pow(2).sum(dim=(0, 2)).sqrt()
        return (norms.flip(0) if flip else norms).numpy()

    return my_grad_by_lag


def kit_lens(model, u, y):
    return tk.grad_by_lag(model, (u, y), bptt=BPTT.of(), loss_func=tk.mae)


ANSWERS = [
    ("04.1", "solution", solution("04_ex1", "tbptt_grads"), "right, on all"),
    ("04.1", "stub", stub, "not done yet"),
    ("04.1", "no-detach", loop(detach=False), "backward through the graph a second time"),
    ("04.1", "summed", summed, "You did not detach"),
    ("04.1", "reset-every", loop(reset="every"), "You reset at every sub-window"),
    ("04.1", "never-reset", loop(reset="never"), "You did not reset at the new batch"),
    ("04.1", "zero-grad", loop(zero_each=True), "only the last sub-window's gradients"),
    ("04.1", "kit", kit_grads, "the kit's own answer"),
    ("04.1", "a-number", lambda *args: -1.0, "return a list of tensors"),
    ("04.2", "solution", solution("04_ex2", "my_grad_by_lag"), "right, on all"),
    ("04.2", "time-order", lens(flip=False), "your array is in time order"),
    ("04.2", "every-step", lens(last_only=False), "the loss of every step"),
    ("04.2", "kit", kit_lens, "the kit's own answer"),
    ("04.2", "a-number", lambda *args: -1.0, "not yet right"),
]


test_the_self_check_and_the_graded_test_agree_and_name_the_mistake = agreement_test(ANSWERS)


def test_the_tbptt_reference_is_the_kits_own_step():
    for case in core.all_cases(nb04.TBPTT_GRADS, 0):
        rnn, head, batches, k = nb04.inputs_tbptt_grads(case)["args"]
        want = nb04.reference_tbptt_grads(case)
        got = [
            {"shape": list(g.shape), "values": g.reshape(-1).tolist()}
            for g in kit_grads(rnn, head, batches, k)
        ]
        assert nb04.same_grads(got, want), case


def test_the_lens_reference_is_tk_grad_by_lag():
    for case in core.all_cases(nb04.GRAD_BY_LAG, 0):
        model, u, y = nb04.inputs_grad_by_lag(case)["args"]
        assert (
            nb04.compare_lens(kit_lens(model, u, y).tolist(), nb04.reference_grad_by_lag(case))
            is None
        )


def test_exercise_setup_is_the_first_case_the_check_runs():
    rnn, head, batches = nb04.exercise_setup()
    again = nb04.inputs_tbptt_grads(nb04.TBPTT_GRADS.fixed[0])["args"]
    assert all(torch.equal(a, b) for a, b in zip(rnn.parameters(), again[0].parameters()))
    assert len(batches) == 2 and batches[0][0].shape == (4, 24, 1)
    assert np.isfinite(solution("04_ex1", "tbptt_grads")(rnn, head, batches, 6)[0].numpy()).all()
