"""RTRL: the exact gradient carried forward in time, equal to full BPTT's."""

import pytest
import torch

import tbptt_kit as tk
from tbptt_kit import BPTT
from tbptt_kit.bias import relative_error, window_gradient
from tbptt_kit.rtrl import influence_bytes, rtrl_gradient


def windows(bs, T, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(bs, T, 1, generator=g, dtype=torch.float64)
    return u, torch.roll(u, 3, dims=1)  # an echo of 3 steps


@pytest.mark.parametrize("hidden, bs, T", [(4, 2, 30), (7, 3, 12), (10, 1, 50)])
def test_rtrl_gives_full_bptts_gradient(hidden, bs, T):
    torch.manual_seed(hidden)
    model = tk.StatefulRNN(1, 1, "rnn", hidden).double()
    u, y = windows(bs, T)
    exact = window_gradient(model, u, y, BPTT())
    assert relative_error(rtrl_gradient(model, u, y), exact) < 1e-6
    truncated = window_gradient(model, u, y, BPTT.of(T // 2 if T % 2 == 0 else T // 3))
    assert relative_error(truncated, exact) > 1e-3  # the control: a different gradient


def test_the_influence_matrix_does_not_grow_with_the_sequence():
    model = tk.StatefulRNN(1, 1, "rnn", 16)
    n_theta = 16 * (1 + 16 + 2)
    assert influence_bytes(model, bs=4) == 2 * 4 * 16 * n_theta * 4


def test_a_state_too_big_for_memory_is_refused_with_the_numbers():
    model = tk.StatefulRNN(1, 1, "rnn", 256)
    u, y = windows(8, 5)
    says = r"hidden_size=256 and bs=8 .* 8 x 256 x 66304: 2.0 GiB .* max_memory=100.0 MiB"
    with pytest.raises(ValueError, match=says):
        rtrl_gradient(model.double(), u, y, max_memory="100 MiB")


def test_rtrl_runs_the_plain_rnn_only():
    with pytest.raises(ValueError, match="got rnn_type='lstm'"):
        rtrl_gradient(tk.StatefulRNN(1, 1, "lstm", 4), *windows(1, 4))
