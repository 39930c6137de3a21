# Exercise 1, a worked solution.
# A window of win_sz steps is handed out as win_sz // sub_seq_len sub-windows, in time order;
# only the first one starts a new window (the moment TbpttResetCB resets the state).
def sub_window_schedule(win_sz, sub_seq_len):
    n_sub = win_sz // sub_seq_len
    return [(k, k == 0) for k in range(n_sub)]


sub_window_schedule(500, 100)
