# Graded test for exercise 03.2: saved_bytes(model, u, y), full BPTT's forward and loss.
# The reference counts the saved storages with a pack hook of its own; the kit's meters,
# its prediction and the check's counter are switched off.
import torch

import tbptt_kit as tk
from tbptt_kit.checks import nb03  # noqa: F401 (its _saved_variants counts them too)
from tbptt_kit.checks.grading import kit_disabled

KIT_ANSWERS = ("measure_memory", "SavedTensorMeter", "estimate_memory", "_saved_variants")
torch.manual_seed(0)
model_t = tk.StatefulRNN(1, 1, "gru", 8)
u_t, y_t = torch.randn(4, 30, 1), torch.randn(4, 30, 1)
with kit_disabled(saved_bytes, *KIT_ANSWERS):
    got = [saved_bytes(model_t, u_t[:, :T].clone(), y_t[:, :T].clone()) for T in (10, 20, 30)]
assert all(int(n) == n > 0 for n in got), f"return a number of bytes, got {got!r}"
assert got[2] - got[1] == got[1] - got[0], (
    f"a GRU saves the same bytes for every 10 more steps of the window; you count {got}"
)
# --- hidden tests ---


def reference_saved_bytes(model, u, y):
    there = [*model.parameters(), *model.buffers(), u, y]  # exist before and after the step
    skip = {t.untyped_storage().data_ptr() for t in there}
    blocks = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in skip:
            blocks[storage.data_ptr()] = storage.nbytes()  # each block once, views or not
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y_hat, _ = model.forward_from(u)  # from a zero state
        (y_hat - y).abs().mean()
    return sum(blocks.values())


for seed, rnn_type, hidden, layers, (bs, win_sz) in (
    (0, "lstm", 8, 1, (16, 200)),
    (1, "gru", 8, 1, (4, 50)),
    (2, "lstm", 8, 1, (2, 30)),
    (3, "rnn", 6, 1, (3, 20)),
    (4, "lstm", 5, 2, (3, 12)),
    (5, "gru", 4, 2, (1, 9)),
):
    torch.manual_seed(seed)
    model_t = tk.StatefulRNN(1, 1, rnn_type, hidden, layers)
    u_t, y_t = torch.randn(bs, win_sz, 1), torch.randn(bs, win_sz, 1)
    with torch.no_grad():  # a carried state, which full BPTT's forward must not start from
        model_t(torch.randn(bs, 5, 1))
    want = reference_saved_bytes(model_t, u_t, y_t)
    with kit_disabled(saved_bytes, *KIT_ANSWERS):
        got = saved_bytes(model_t, u_t, y_t)
    assert got == want, (
        f"{rnn_type.upper()} of {layers} layer(s), u {tuple(u_t.shape)}: you count {got!r} "
        f"bytes, want {want}. Count each saved storage once, without the weights and the batch."
    )
