# Graded test for exercise 06.3: start_state(state, reset, n_rows) -> a state or None.
# The reference detaches and zeroes the flagged rows along the rows axis (dim 1); the kit's
# row zeroing (ARTBP's _zero_rows) is switched off.
import torch

from tbptt_kit.checks.grading import kit_disabled

KIT_ANSWERS = ("_zero_rows",)
with kit_disabled(start_state, *KIT_ANSWERS):
    got = start_state(None, torch.tensor([True, True]), 2)
assert got is None, (
    f"before the first batch there is no state: the answer is None (zeros), got {got!r}"
)
torch.manual_seed(0)
_, state_t = torch.nn.RNN(1, 4, batch_first=True)(torch.randn(2, 5, 1))  # (1, 2, 4), attached
with kit_disabled(start_state, *KIT_ANSWERS):
    got = start_state(state_t, torch.tensor([False, False]), 2)
assert isinstance(got, torch.Tensor) and got.grad_fn is None, (
    "cut the state from the last batch's graph (detach it)"
)
assert torch.equal(got, state_t.detach()), "with no row flagged, every row carries its state"
# --- hidden tests ---


def reference_start_state(state, reset, n_rows):
    if state is None or state.shape[1] != n_rows:
        return None
    out = state.detach().clone()
    for row in range(n_rows):
        if bool(reset[row]):
            out[:, row, :] = 0.0  # every layer of that row: the rows axis is dim 1
    return out


def grading_state(seed, layers, rows, hidden):
    torch.manual_seed(seed)
    rnn = torch.nn.GRU(1, hidden, layers, batch_first=True)
    return rnn(torch.randn(rows, 5, 1))[1]  # (layers, rows, hidden), still in the graph


cases = [  # (layers, rows, hidden, reset, n_rows)
    (1, 4, 8, [False] * 4, 4),  # only the detach
    (1, 4, 8, [False, True, False, True], 4),  # records start in rows 1 and 3
    (1, 4, 8, [True] * 4, 4),  # the wrap-around: every row starts again
    (2, 2, 3, [True, False], 2),  # as many layers as rows: h[rows] would zero a layer
    (3, 5, 2, [False, False, True, False, False], 5),
    (1, 4, 8, [False] * 3, 3),  # the epoch's last, smaller batch
    (2, 4, 8, [True] * 3, 3),
    (1, 3, 8, [False] * 4, 4),  # more rows than the state has
    (1, 1, 8, [True], 1),
]
for seed, (layers, rows, hidden, reset, n_rows) in enumerate(cases):
    state_t = grading_state(seed, layers, rows, hidden)
    reset_t = torch.tensor(reset)
    want = reference_start_state(state_t, reset_t, n_rows)
    with kit_disabled(start_state, *KIT_ANSWERS):
        got = start_state(state_t, reset_t.clone(), n_rows)
    where = f"state {tuple(state_t.shape)}, reset {reset}, n_rows {n_rows}"
    if want is None:
        assert got is None, f"{where}: the state does not fit the batch, return None (zeros)"
        continue
    assert isinstance(got, torch.Tensor) and got.shape == want.shape, (
        f"{where}: return a tensor of shape {tuple(want.shape)}, (layers, rows, hidden)"
    )
    assert got.grad_fn is None and not got.requires_grad, (
        f"{where}: the state is still in the last batch's graph: detach it"
    )
    assert torch.equal(got, want), (
        f"{where}: zero the flagged rows, h[:, rows] (every layer), and keep the others"
    )
