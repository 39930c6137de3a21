# Graded test for exercise 01.2: sub_windows(u, sub_seq_len), in time order.
# The reference gathers every step by its index; tk.split_windows is switched off.
import torch

from tbptt_kit.checks.grading import kit_disabled

u_test = torch.arange(4 * 12 * 1, dtype=torch.float32).reshape(4, 12, 1)
with kit_disabled(sub_windows, "split_windows"):
    got = list(sub_windows(u_test, 3))
assert len(got) == 4, "a window of 12 steps has 4 sub-windows of 3"
assert all(tuple(s.shape) == (4, 3, 1) for s in got), "each sub-window is (bs, sub_seq_len, n_u)"
# --- hidden tests ---


def reference_sub_windows(u, sub_seq_len):
    n_sub = u.shape[1] // sub_seq_len
    return [
        torch.stack([u[:, k * sub_seq_len + j] for j in range(sub_seq_len)], dim=1)
        for k in range(n_sub)
    ]


for bs, win_sz, n_u, sub_seq_len in ((4, 12, 1, 3), (3, 20, 2, 5), (16, 500, 1, 100), (2, 9, 3, 9)):
    u_test = torch.randn(bs, win_sz, n_u, generator=torch.Generator().manual_seed(win_sz))
    with kit_disabled(sub_windows, "split_windows"):
        got = list(sub_windows(u_test.clone(), sub_seq_len))
    want = reference_sub_windows(u_test, sub_seq_len)
    assert len(got) == len(want), f"wrong number of sub-windows for win_sz={win_sz}"
    assert all(torch.equal(g, w) for g, w in zip(got, want)), "sub-windows differ"
