# Exercise 2, a worked solution.
# Under TBPTT the state entering a sub-window is detached: the loss at step t reaches back
# to the first step of its own sub-window, t - t % sub_seq_len, and no further.
# Full BPTT (sub_seq_len None) reaches back to the window's first step.
def gradient_reach(t, sub_seq_len):
    if sub_seq_len is None:
        return t + 1
    return t % sub_seq_len + 1


[gradient_reach(t, 100) for t in (0, 99, 100, 499)], gradient_reach(499, None)
