# Exercise 2, a worked solution.
# Time is dimension 1 of a batch (bs, win_sz, n_u): slice it, keep every window (dimension 0).
# Sub-window k holds steps k * sub_seq_len to (k + 1) * sub_seq_len, so the list is in time order.
def sub_windows(u, sub_seq_len):
    n = u.shape[1] // sub_seq_len
    return [u[:, k * sub_seq_len : (k + 1) * sub_seq_len] for k in range(n)]


[tuple(s.shape) for s in sub_windows(batch.u, 100)]
