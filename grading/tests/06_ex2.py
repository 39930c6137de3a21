# Graded test for exercise 06.2: clip_by_norm(params, max_norm), in place, returns the norm.
# The reference computes the norm in float64 and the factor max_norm / norm exactly as the
# exercise says; tk.GradClipCB is switched off. torch's clip_grad_norm_ cannot be switched off:
# it scales by max_norm / (norm + 1e-6), which the small-gradient cases tell apart.
import math

import torch

from tbptt_kit.checks.grading import kit_disabled

KIT_ANSWERS = ("GradClipCB",)
params_t = [torch.nn.Parameter(torch.zeros(2))]
params_t[0].grad = torch.tensor([3.0, 4.0])  # norm 5
with kit_disabled(clip_by_norm, *KIT_ANSWERS):
    got = clip_by_norm(params_t, 1.0)
assert got is not None and math.isclose(float(got), 5.0, rel_tol=1e-6), (
    f"return the norm before clipping, 5.0; got {got!r}"
)
assert torch.allclose(params_t[0].grad, torch.tensor([0.6, 0.8])), (
    f"clipped to norm 1, [3, 4] is [0.6, 0.8]; got {params_t[0].grad}"
)
# --- hidden tests ---


def reference_clip_by_norm(grads, max_norm):
    """The clipped gradients (float64) and the norm before clipping."""
    norm = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads))
    factor = max_norm / norm if norm > max_norm else 1.0
    return [g.double() * factor for g in grads], norm


def grading_params(seed, shapes, scale):
    gen = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in shapes]
    for p in params:
        p.grad = scale * torch.randn(p.shape, generator=gen)
    return params


for seed, shapes, scale, max_norm in (
    (0, [(3, 4), (4,), (2, 2)], 1.0, 1.0),  # several parameters, one norm over all
    (1, [(3, 4), (4,), (2, 2)], 3.0, 0.5),
    (2, [(5,)], 1.0, 100.0),  # below max_norm: untouched
    (3, [(8, 3), (3,)], 2.0, 3.0),
    (4, [(6,), (2, 3)], 1e-5, 1e-6),  # small gradients: the factor is max_norm / norm exactly
    (5, [(4, 4)], 1e-4, 2e-5),
    (6, [(3,), (3,)], 0.0, 1.0),  # all zero: norm 0, nothing to clip
):
    params_t = grading_params(seed, shapes, scale)
    grads_t = [p.grad for p in params_t]  # the tensors that must change in place
    before = [g.clone() for g in grads_t]
    want, norm = reference_clip_by_norm(before, max_norm)
    with kit_disabled(clip_by_norm, *KIT_ANSWERS):
        got = clip_by_norm(params_t, max_norm)
    assert got is not None and math.isclose(float(got), norm, rel_tol=1e-5, abs_tol=1e-30), (
        f"return the norm before clipping, {norm:.6g}; got {got!r}"
    )
    assert all(p.grad is g for p, g in zip(params_t, grads_t)), (
        "scale each p.grad in place (p.grad.mul_(factor)), do not assign a new tensor"
    )
    if norm <= max_norm:
        assert all(torch.equal(g, b) for g, b in zip(grads_t, before)), (
            f"the norm {norm:.3g} is not above max_norm {max_norm}: leave the gradients as they are"
        )
    for g, w in zip(grads_t, want):
        assert torch.allclose(g.double(), w, rtol=1e-5, atol=1e-12), (
            f"max_norm {max_norm}, norm {norm:.3g}: the gradients are not scaled by "
            f"max_norm / norm, one factor for all"
        )
