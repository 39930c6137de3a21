"""modes/checkpointed.py: full BPTT's gradient (its carry ``Chunks`` runs the window in
chunks, each recomputed during backward), for a fraction of full BPTT's peak memory."""

import numpy as np
import pytest
import torch

from tbptt_kit import Learner, StatefulRNN, create_dls, measure_memory
from tbptt_kit.course.bias import relative_error, window_gradient
from tbptt_kit.modes import BPTT
from tbptt_kit.modes.checkpointed import Chunks


def windows(bs=4, win_sz=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(bs, win_sz, 1, generator=g, dtype=torch.float64)
    return u, torch.roll(u, 3, dims=1)  # an echo of 3 steps


@pytest.mark.parametrize("rnn_type", ["lstm", "gru", "rnn"])
def test_the_checkpointed_gradient_is_full_bptts(rnn_type):
    torch.manual_seed(0)
    model = StatefulRNN(rnn_type=rnn_type, hidden_size=16).double()
    u, y = windows()
    full = window_gradient(model, u, y, BPTT())
    ckpt = window_gradient(model, u, y, BPTT("checkpointed", 50))
    assert relative_error(ckpt, full) < 1e-12
    truncated = window_gradient(model, u, y, BPTT("truncated", 50))  # the control
    assert relative_error(truncated, full) > 1e-3


def test_training_checkpointed_is_training_with_full_bptt():
    def run(bptt):
        rng = np.random.default_rng(0)
        u = rng.standard_normal(1000).astype(np.float32)
        y = np.convolve(u, [0.5, 0.3, 0.2])[:1000].astype(np.float32)
        dls = create_dls((u[:800], y[:800]), (u[800:], y[800:]), bs=4, win_sz=100, stp_sz=50)
        torch.manual_seed(0)
        learn = Learner(dls, StatefulRNN(rnn_type="gru", hidden_size=8), bptt, seed=0)
        learn.fit(1, lr=1e-2)
        return learn.validate()[0], [p.detach() for p in learn.model.parameters()]

    (full_loss, full_w), (ckpt_loss, ckpt_w) = run(BPTT()), run(BPTT("checkpointed", 25))
    assert ckpt_loss == pytest.approx(full_loss, rel=1e-5)
    for a, b in zip(full_w, ckpt_w, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


def test_chunks_run_the_window_from_the_state_given_in_order():
    torch.manual_seed(0)
    model = StatefulRNN(rnn_type="lstm", hidden_size=5)
    u = torch.randn(3, 12, 1)
    start = model(torch.randn(3, 4, 1))[1]
    pred, (h, c) = Chunks(5)(model, u, start, torch.zeros(3, dtype=torch.bool))  # 5, 5, 2
    want, (wh, wc) = model(u, start)
    assert pred.shape == (3, 12, 1)
    for a, b in ((pred, want), (h, wh), (c, wc)):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    zeros, _ = Chunks(4)(model, u, None, torch.ones(3, dtype=torch.bool))
    torch.testing.assert_close(zeros, model(u)[0], rtol=1e-6, atol=1e-6)


def test_checkpointed_peak_memory_is_at_most_a_quarter_of_full_bptts_at_win_sz_5000():
    rng = np.random.default_rng(0)
    u = rng.standard_normal(12000).astype(np.float32)
    dls = create_dls((u, u), (u, u), bs=16, win_sz=5000, stp_sz=1000)
    torch.manual_seed(0)
    full = Learner(dls, StatefulRNN(hidden_size=40), BPTT())
    ckpt = Learner(dls, StatefulRNN(hidden_size=40), BPTT("checkpointed", 100))
    batch = next(iter(dls.train))
    peak_full = measure_memory(full, batch).peak_bytes
    peak_ckpt = measure_memory(ckpt, batch).peak_bytes
    assert peak_ckpt <= peak_full / 4, (peak_full, peak_ckpt)
