"""The BPTT mode, and nothing else, decides whether the state is carried.

A learner built by hand (``Learner(dls, StatefulRNN(...), BPTT...)``, as the course invites)
must behave as ``RNNLearner`` does: full BPTT starts every window from a zero state, truncated
BPTT carries the state across the sub-windows of a window and never from one window to the
next, whatever the model's own ``stateful`` switch says.
"""

import numpy as np
import pytest
import torch

from tbptt_kit import BPTT, Learner, StatefulRNN, TbpttResetCB, create_dls, create_stream_dls


def dls(sub_seq_len=None):
    rng = np.random.default_rng(0)
    u = rng.standard_normal(1680).astype(np.float32)
    y = np.convolve(u, np.exp(-np.arange(20) / 5.0))[:1680].astype(np.float32)
    # 8 valid windows of 60 steps, back to back: two batches of 4 (the same batch size, so
    # a state left over from the first batch would be used by the second)
    return create_dls((u[:1200], y[:1200]), (u[1200:], y[1200:]), bs=4, win_sz=60, stp_sz=30,
                      sub_seq_len=sub_seq_len)  # fmt: skip


def each_window_from_zero(learn):
    """Every validation window run whole from a zero state: (n_windows, win_sz, n_y)."""
    u, _ = learn.dls.valid.ds[list(range(len(learn.dls.valid.ds)))]
    with torch.no_grad():
        return learn.model.forward_from(u)[0]


@pytest.mark.parametrize("stateful", [True, False])  # the model's switch must not matter
@pytest.mark.parametrize("mode", [BPTT(), BPTT.of(sub_seq_len=20), BPTT.of(20, "checkpointed")])
def test_a_hand_built_learner_starts_every_window_from_zero(mode, stateful):
    torch.manual_seed(0)
    model = StatefulRNN(hidden_size=8, stateful=stateful)
    learn = Learner(dls(mode.loader_sub_seq_len), model, mode)  # no callbacks given
    learn.fit(1)
    pred, _ = learn.predict(whole_windows=True)  # sub-windows joined in time
    assert pred.shape == (8, 60, 1)
    # truncated: the sub-windows continue each other exactly as the whole window does
    torch.testing.assert_close(pred, each_window_from_zero(learn), atol=1e-5, rtol=1e-5)


def test_without_the_reset_the_state_would_bleed_into_the_next_window():
    """The control: the check above can fail. Remove the reset, and the second batch of
    windows starts from the first batch's final state."""
    torch.manual_seed(0)
    learn = Learner(dls(20), StatefulRNN(hidden_size=8), BPTT.of(sub_seq_len=20))
    learn.fit(1)
    learn.remove_cb(TbpttResetCB)
    learn.model.reset_state()
    pred, _ = learn.predict(whole_windows=True)
    fresh = each_window_from_zero(learn)
    torch.testing.assert_close(pred[:4], fresh[:4], atol=1e-5, rtol=1e-5)  # started from zeros
    assert not torch.allclose(pred[4:], fresh[4:], atol=1e-3)  # carried over: wrong


def test_full_bptt_leaves_the_carried_state_alone():
    torch.manual_seed(0)
    learn = Learner(dls(), StatefulRNN(hidden_size=8), BPTT())
    learn.fit(1)
    assert learn.model.hidden_state is None
    assert sum(isinstance(cb, TbpttResetCB) for cb in learn.cbs) == 1


def test_whole_streams_are_joined_even_where_every_row_starts_a_record():
    """Records of equal length: every row resets at the same batch, mid-epoch. The rows are
    still one stream each (bs, stream_len, n_y), and each record starts from zero."""
    rng = np.random.default_rng(0)
    records = [tuple(rng.standard_normal((40, 1)).astype(np.float32) for _ in "uy") for _ in "abcd"]
    dls = create_stream_dls(records, records, bs=2, sub_seq_len=10)
    learn = Learner(dls, StatefulRNN(hidden_size=4), BPTT.of(sub_seq_len=10))
    pred, targ = learn.predict(whole_windows=True)
    assert pred.shape == targ.shape == (2, 80, 1)
    assert [bool(b.reset.all()) for b in dls.valid] == [True, False, False, False] * 2
    u = torch.from_numpy(np.stack([r[0] for r in records]))  # (4, 40, 1): a, b, c, d
    with torch.no_grad():
        fresh = learn.model.forward_from(u)[0]
    # packed longest first, ties in order: row 0 reads a then c, row 1 b then d
    torch.testing.assert_close(pred[:, 40:], fresh[[2, 3]], atol=1e-5, rtol=1e-5)
