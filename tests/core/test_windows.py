"""core/windows.py: windows of ``win_sz`` samples every ``stp_sz`` over records of any
length, and the loader that hands them out as sub-windows in time order."""

import math

import numpy as np
import pytest
import torch

from tbptt_kit.core.windows import WindowDataset, WindowLoader, as_columns


def tagged(n, r=0):
    """Record r: u at sample t is 1000 r + t (exact in float32), y = -u."""
    u = 1000.0 * r + np.arange(n, dtype=np.float64)
    return u, -u


def test_a_signal_becomes_float32_columns():
    assert as_columns(np.arange(5)).shape == (5, 1)
    two = as_columns(np.ones((5, 2), dtype=np.float64))
    assert two.shape == (5, 2) and two.dtype == torch.float32


def test_windows_start_every_stp_sz_samples_in_each_record_and_never_overrun_it():
    ds = WindowDataset([tagged(100, 0), tagged(47, 1)], win_sz=20, stp_sz=15)
    # record 0: starts 0, 15, ..., 75 (75 + 20 <= 100); record 1: 0, 15 (15 + 20 <= 47; 30 no)
    assert ds.starts == [(0, s) for s in range(0, 76, 15)] + [(1, 0), (1, 15)]
    assert len(ds) == 8
    u, y = ds[range(len(ds))]
    assert u.shape == y.shape == (8, 20, 1) and u.dtype == torch.float32
    for i, (r, s) in enumerate(ds.starts):
        assert torch.equal(u[i, :, 0], torch.arange(20.0) + 1000 * r + s)
        assert torch.equal(y[i], -u[i])


def test_a_window_as_long_as_the_record_is_the_record():
    ds = WindowDataset([tagged(30)], win_sz=30, stp_sz=1)
    assert ds.starts == [(0, 0)]
    assert torch.equal(ds[[0]][0][0, :, 0], torch.arange(30.0))


def loader(n_windows=10, bs=4, win_sz=12, sub_seq_len=None, **kw):
    ds = WindowDataset([tagged(win_sz * n_windows)], win_sz=win_sz, stp_sz=win_sz)
    return WindowLoader(ds, bs, sub_seq_len=sub_seq_len, **kw)


@pytest.mark.parametrize("sub_seq_len, n_sub", [(None, 1), (3, 4), (4, 3), (12, 1)])
def test_one_step_per_sub_window_of_every_batch_of_windows(sub_seq_len, n_sub):
    dl = loader(n_windows=10, bs=4, sub_seq_len=sub_seq_len)
    assert dl.n_sub == n_sub and dl.n_windows == 10
    assert dl.seq_len == (sub_seq_len or 12)
    assert len(dl) == math.ceil(10 / 4) * n_sub == len(list(dl))
    batches = list(dl)
    assert [b.sub_idx for b in batches] == list(range(n_sub)) * 3
    assert [len(b.u) for b in batches] == [4] * 2 * n_sub + [2] * n_sub  # the last: 2 windows
    assert [b.new_window for b in batches] == ([True] + [False] * (n_sub - 1)) * 3


def test_in_order_the_sub_windows_go_on_where_the_last_one_ended():
    batches = list(loader(sub_seq_len=4))
    for prev, cur in zip(batches, batches[1:]):
        if cur.sub_idx > 0:  # the same windows, the next steps
            assert torch.equal(cur.u[:, 0, 0], prev.u[:, -1, 0] + 1)
    whole = torch.cat([b.u[:, :, 0] for b in batches[:3]], 1)  # the first batch of windows
    assert torch.equal(whole, torch.arange(48.0).reshape(4, 12))


def test_without_shuffle_the_windows_come_in_order_every_epoch():
    dl = loader()
    for _ in range(2):
        firsts = torch.cat([b.u[:, 0, 0] for b in dl])
        assert torch.equal(firsts, 12 * torch.arange(10.0))


def first_samples(dl):
    return torch.cat([b.u[:, 0, 0] for b in dl if b.sub_idx == 0]).tolist()


def test_shuffle_draws_a_new_order_every_epoch_from_the_loaders_own_seed():
    dl = loader(shuffle=True, seed=5)
    epochs = [first_samples(dl) for _ in range(3)]
    assert all(sorted(e) == [12.0 * i for i in range(10)] for e in epochs)  # each window once
    assert len({tuple(e) for e in epochs}) == 3  # a new order each epoch
    torch.manual_seed(123)  # the global generator plays no part
    again = loader(shuffle=True, seed=5)
    assert [first_samples(again) for _ in range(3)] == epochs
    other = loader(shuffle=True, seed=6)
    assert first_samples(other) != epochs[0]
    default = loader(shuffle=True)  # seed 0
    assert first_samples(default) == first_samples(loader(shuffle=True, seed=0))


def test_shuffled_sub_windows_still_continue_their_own_windows():
    batches = list(loader(shuffle=True, seed=1, sub_seq_len=3))
    for prev, cur in zip(batches, batches[1:]):
        if cur.sub_idx > 0:
            assert torch.equal(cur.u[:, 0, 0], prev.u[:, -1, 0] + 1)


def test_batches_are_on_the_loaders_device():
    # "meta" tensors have a device but no data: a move to it is seen without a GPU
    batch = next(iter(loader(sub_seq_len=4, device="meta")))
    assert {t.device.type for t in (batch.u, batch.y, batch.reset)} == {"meta"}
