"""core/batch.py: a batch of windows cut into its sub-windows in time order, the first
resetting every row, the others none; nothing is ever trimmed or padded."""

import pytest
import torch

from tbptt_kit.core.batch import Batch, split_windows


def windows(bs=3, win_sz=12, n_u=2, n_y=1):
    """u[b, t] = 100 b + t in every channel: each step says where it came from."""
    t = torch.arange(win_sz, dtype=torch.float32)[None, :, None]
    u = (100 * torch.arange(bs)[:, None, None] + t).expand(bs, win_sz, n_u).clone()
    return u, -u[..., :n_y]


@pytest.mark.parametrize("sub_seq_len", [1, 3, 4, 6, 12])
def test_sub_windows_come_in_time_order_and_only_the_first_resets(sub_seq_len):
    u, y = windows()
    batches = list(split_windows(u, y, sub_seq_len))
    assert len(batches) == 12 // sub_seq_len
    assert [b.sub_idx for b in batches] == list(range(len(batches)))
    assert [b.reset.tolist() for b in batches] == [[True] * 3] + [[False] * 3] * (len(batches) - 1)
    assert [b.new_window for b in batches] == [True] + [False] * (len(batches) - 1)
    assert all(b.mask is None for b in batches)  # every step of a window counts
    for k, b in enumerate(batches):
        assert b.u.shape == (3, sub_seq_len, 2) and b.y.shape == (3, sub_seq_len, 1)
        assert torch.equal(b.u[:, 0, 0], 100 * torch.arange(3.0) + k * sub_seq_len)
    assert torch.equal(torch.cat([b.u for b in batches], 1), u)  # nothing lost, nothing added
    assert torch.equal(torch.cat([b.y for b in batches], 1), y)


def test_without_sub_seq_len_the_whole_window_is_one_batch():
    u, y = windows()
    (batch,) = split_windows(u, y, None)
    assert torch.equal(batch.u, u) and torch.equal(batch.y, y)
    assert batch.sub_idx == 0 and batch.reset.all() and batch.reset.dtype == torch.bool


def test_token_ids_are_windows_too():
    ids = torch.arange(24).reshape(2, 12)
    batches = list(split_windows(ids, ids + 1, 4))
    assert [tuple(b.u.shape) for b in batches] == [(2, 4)] * 3
    assert torch.equal(batches[2].y, ids[:, 8:] + 1)


def test_the_reset_lies_on_the_windows_device():
    u, y = (x.to("meta") for x in windows())
    assert {b.reset.device.type for b in split_windows(u, y, 4)} == {"meta"}


def test_new_window_means_every_row_resets():
    u, y = windows(bs=2)
    assert Batch(u, y, torch.tensor([True, True])).new_window
    assert not Batch(u, y, torch.tensor([True, False])).new_window  # a stream's row only
    assert not Batch(u, y, torch.tensor([False, False])).new_window
    assert Batch(u, y, torch.tensor([True, True])).sub_idx is None  # streams have none


@pytest.mark.parametrize(
    "u, y, says",
    [
        (
            torch.zeros(2, 12, 1, 1),
            torch.zeros(2, 12, 1),
            r"^u must be a tensor .*shape \(2, 12, 1, 1\)",
        ),
        (torch.zeros(2, 12, 1), torch.zeros(12), r"^y must be a tensor .*shape \(12,\)"),
        ([[0.0] * 12], torch.zeros(1, 12, 1), r"^u must be a tensor .*got list"),
        (torch.zeros(2, 12, 1), torch.zeros(3, 12, 1), r"u \(2, 12, 1\) and y \(3, 12, 1\)"),
        (torch.zeros(2, 12, 1), torch.zeros(2, 10, 1), r"must have the same \(bs, win_sz\)"),
    ],
)
def test_what_cannot_be_cut_is_refused_by_name(u, y, says):
    with pytest.raises(ValueError, match=says):
        list(split_windows(u, y, 4))


def test_a_sub_seq_len_that_does_not_divide_the_window_is_refused_never_trimmed():
    u, y = windows(win_sz=12)
    with pytest.raises(ValueError, match=r"sub_seq_len=5 does not divide win_sz=12.*\[4, 6\]"):
        list(split_windows(u, y, 5))
    with pytest.raises(ValueError, match=r"sub_seq_len=13 is longer than win_sz=12"):
        list(split_windows(u, y, 13))
