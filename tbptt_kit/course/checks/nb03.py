"""Self-checks for the exercises of notebook 03."""

from __future__ import annotations

import math

from .core import RIGHT, WRONG, call_student, check_cases

__all__ = ["check_largest_window", "check_saved_bytes"]


def check_largest_window(largest_window) -> str:
    """Exercise 03.1: the largest win_sz under a budget, from two points of a straight line."""

    def truth(w1, m1, w2, m2, budget):
        slope = (m2 - m1) / (w2 - w1)
        return math.floor((budget - (m1 - slope * w1)) / slope)

    cases = [
        (args, truth(*args))
        for args in [
            (100, 1_100_000, 1100, 10_100_000, 2 * 2**30),  # 9000 bytes per step, 200_000 fixed
            (500, 23_683_072, 4000, 188_809_216, 2 * 2**30),
            (1000, 1000, 2000, 2000, 1500),  # no fixed part: 1 byte per step
            (10, 5000, 20, 6000, 5999),  # just below a whole step
        ]
    ]
    return check_cases(
        "Exercise 1",
        largest_window,
        cases,
        rel=0,
        hint="slope = (m2 - m1) / (w2 - w1); the fixed part is m1 - slope * w1; round down.",
    )


def _saved_variants(model, u, y) -> dict[str, int]:
    """Bytes saved for backward by forward + loss, counted the right way and two wrong ways."""
    import torch

    own = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    batch = {u.untyped_storage().data_ptr(), y.untyped_storage().data_ptr()}
    seen, every, with_weights = {}, [0], {}

    def pack(t):
        storage = t.untyped_storage()
        ptr, nbytes = storage.data_ptr(), storage.nbytes()
        every[0] += t.numel() * t.element_size()
        if ptr not in batch:
            with_weights[ptr] = nbytes
        if ptr not in own | batch and ptr != 0:
            seen[ptr] = nbytes
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        (model(u)[0] - y).abs().mean()
    return {"right": sum(seen.values()), "every": every[0], "weights": sum(with_weights.values())}


def check_saved_bytes(saved_bytes) -> str:
    """Exercise 03.2: saved_bytes(model, u, y), the activation memory of full BPTT's forward
    and loss on windows u, y, against ``measure_memory(model, (u, y)).activation_bytes``."""
    import torch

    from ...core.model import StatefulRNN
    from ..memory import measure_memory

    for rnn_type, bs, win_sz in (("lstm", 16, 200), ("gru", 4, 50), ("lstm", 2, 30)):
        torch.manual_seed(0)
        model = StatefulRNN(rnn_type=rnn_type, hidden_size=8)
        u, y = torch.randn(bs, win_sz, 1), torch.randn(bs, win_sz, 1)
        want = measure_memory(model, (u, y), peak=False).activation_bytes
        variants = _saved_variants(model, u, y)
        got, verdict = call_student("Exercise 2", saved_bytes, model, u, y)
        if verdict:
            return verdict
        if got == want:
            continue
        reasons = {
            "every": "you counted every saved tensor, views included: several are views of "
            "one block of memory (oneDNN saves its output twice). Count each storage once: "
            "key a dict by t.untyped_storage().data_ptr().",
            "weights": "you counted the weights too. They exist before the step and stay "
            "after it: leave out the storages of model.parameters() and model.buffers().",
        }
        why = " Or ".join(reasons[k] for k in reasons if variants[k] == got) or (
            "count each saved storage once, without the weights and the batch u, y."
        )
        print(
            f"Exercise 2: not yet right. For a {rnn_type.upper()} on u of shape "
            f"{tuple(u.shape)} you return {got!r} bytes, measure_memory says {want}. {why}"
        )
        return WRONG
    print("Exercise 2: right, your count matches measure_memory on 3 models. Well done.")
    return RIGHT
