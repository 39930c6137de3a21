"""modes/rtrl.py: RTRL's gradient, carried forward in time, is full BPTT's; its influence
matrix does not grow with the sequence; what it cannot run is refused with the numbers."""

import pytest
import torch

from tbptt_kit import StatefulRNN
from tbptt_kit.course.bias import relative_error, window_gradient
from tbptt_kit.modes import BPTT, check_rtrl, influence_bytes, rtrl_gradient


def windows(bs, T, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(bs, T, 1, generator=g, dtype=torch.float64)
    return u, torch.roll(u, 3, dims=1)  # an echo of 3 steps


@pytest.mark.parametrize("hidden, bs, T", [(4, 2, 30), (7, 3, 12), (10, 1, 50)])
def test_rtrl_gives_full_bptts_gradient(hidden, bs, T):
    torch.manual_seed(hidden)
    model = StatefulRNN(1, 1, "rnn", hidden).double()
    u, y = windows(bs, T)
    exact = window_gradient(model, u, y, BPTT())
    assert relative_error(rtrl_gradient(model, u, y), exact) < 1e-6
    truncated = window_gradient(model, u, y, BPTT.of(T // 2 if T % 2 == 0 else T // 3))
    assert relative_error(truncated, exact) > 1e-3  # the control: a different gradient


def test_rtrl_leaves_the_model_as_it_was():
    torch.manual_seed(0)
    model = StatefulRNN(1, 1, "rnn", 5).double()
    before = [p.detach().clone() for p in model.parameters()]
    rtrl_gradient(model, *windows(2, 10))
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_the_influence_matrix_does_not_grow_with_the_sequence():
    model = StatefulRNN(1, 1, "rnn", 16)
    n_theta = 16 * (1 + 16 + 2)
    assert influence_bytes(model, bs=4) == 2 * 4 * 16 * n_theta * 4
    assert influence_bytes(model.double(), bs=4) == 2 * 4 * 16 * n_theta * 8


def test_a_state_too_big_for_memory_is_refused_with_the_numbers():
    model = StatefulRNN(1, 1, "rnn", 256)
    u, y = windows(8, 5)
    says = r"hidden_size=256 and bs=8 .*8 x 256 x 66304: 2\.0 GiB.*max_memory=100\.0 MiB"
    with pytest.raises(ValueError, match=says):
        rtrl_gradient(model.double(), u, y, max_memory="100 MiB")
    check_rtrl(model, 8, max_memory="3 GiB")  # enough: no error


@pytest.mark.parametrize(
    "kw, says",
    [
        ({"rnn_type": "lstm"}, "got rnn_type='lstm'"),
        ({"rnn_type": "rnn", "num_layers": 2}, "num_layers=2"),
        ({"rnn_type": "rnn", "vocab_size": 5}, "vocab_size=5"),
    ],
)
def test_rtrl_runs_the_one_layer_plain_rnn_on_signals_only(kw, says):
    with pytest.raises(
        ValueError, match=rf"^RTRL here runs a one-layer plain tanh RNN on signals, .*{says}"
    ):
        check_rtrl(StatefulRNN(**{"hidden_size": 4} | kw), bs=1)
