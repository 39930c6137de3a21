import torch

# Exercise 3, a worked solution.
# A batch with another number of rows (the epoch's last, smaller batch) cannot continue the
# state: start it from zeros (None). Otherwise cut the state from the last batch's graph (the
# detach: the truncation), then zero the rows where a new record starts (on an epoch's first
# batch, every row: the wrap-around).


def start_state(state, reset, n_rows):
    if state is None or state.shape[1] != n_rows:
        return None
    keep = (~reset).to(state.dtype)[None, :, None]  # (1, rows, 1): 0 where a record starts
    return state.detach() * keep


start_state(None, torch.tensor([True, True]), 2)
