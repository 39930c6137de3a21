"""Notebook 03's exercises: the self-check and the graded test agree on the worked solution,
the usual mistakes (each named) and the kit's own memory meters; the saved-bytes reference is
what ``measure_memory`` reports."""

import math

import torch

from tbptt_kit.course.checks import core, nb03
from tbptt_kit.course.memory import SavedTensorMeter, estimate_memory, measure_memory
from tests.grading_support import agreement_test, solution, stub


def rounded(w1, m1, w2, m2, budget):
    slope = (m2 - m1) / (w2 - w1)
    return round((budget - (m1 - slope * w1)) / slope)


def strictly_below(w1, m1, w2, m2, budget):  # < budget instead of <= budget
    slope = (m2 - m1) / (w2 - w1)
    return math.ceil((budget - (m1 - slope * w1)) / slope) - 1


def no_fixed_part(w1, m1, w2, m2, budget):
    return math.floor(budget / ((m2 - m1) / (w2 - w1)))


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
            y_hat, _ = model(u)
            if with_loss:
                (y_hat - y).abs().mean()
        return sum(seen.values()) if each_view_once else views[0]

    return saved_bytes


def kit_measured(model, u, y):
    return measure_memory(model, (u, y), peak=False).activation_bytes


def kit_meter(model, u, y):
    counter = SavedTensorMeter(exclude=[*model.parameters(), *model.buffers()])
    with counter.measuring(u, y):
        (model(u)[0] - y).abs().mean()
    return counter.nbytes


def kit_predicted(model, u, y):
    return estimate_memory(model.rnn_type, model.hidden_size, model.num_layers, *u.shape[:2])


ANSWERS = [
    ("03.1", "solution", solution("03_ex1", "largest_window"), "right, on all"),
    ("03.1", "stub", stub, "not done yet"),
    ("03.1", "rounded", rounded, "round down"),
    ("03.1", "strict", strictly_below, "(<=, not <)"),
    ("03.1", "no-fixed-part", no_fixed_part, "leaves out the fixed part"),
    (
        "03.1",
        "half-step",
        lambda *a: solution("03_ex1", "largest_window")(*a) + 0.5,
        "not 238587.5",
    ),
    ("03.2", "solution", solution("03_ex2", "saved_bytes"), "right, on all"),
    ("03.2", "weights", counting(skip_weights=False), "you counted the weights too"),
    ("03.2", "views", counting(each_view_once=False), "views included"),
    ("03.2", "no-loss", counting(with_loss=False), "over the forward and the loss"),
    ("03.2", "kit-measured", kit_measured, "the kit's own answer"),
    ("03.2", "kit-meter", kit_meter, "the kit's own answer"),
    ("03.2", "kit-predicted", kit_predicted, "the kit's own answer"),
]


test_the_self_check_and_the_graded_test_agree_and_name_the_mistake = agreement_test(ANSWERS)


def test_the_saved_bytes_reference_is_what_measure_memory_reports():
    for case in core.all_cases(nb03.SAVED_BYTES, 0):
        model, u, y = nb03.inputs_saved_bytes(case)["args"]
        assert (
            nb03.reference_saved_bytes(case) == kit_measured(model, u, y) == kit_meter(model, u, y)
        )


def test_the_line_reference_is_exact_at_the_boundary_where_floats_may_round():
    assert nb03.reference_largest_window([10, 5000, 20, 6000, 6000]) == 20  # exactly 20 steps
    assert nb03.reference_largest_window([10, 5000, 20, 6000, 5999]) == 19
    assert nb03.reference_largest_window([3, 100, 7, 130, 1000]) == 123
