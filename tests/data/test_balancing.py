"""Influence balancing's task (``data/balancing.py``): the chain, its state passed in and
returned like a ``StatefulRNN``'s, its best θ, its loaders, and the gradient truncation gets
the wrong way round. Training it in every mode: ``tests/course/test_bias.py``."""

import pytest
import torch

from tbptt_kit import BPTT, Truncation
from tbptt_kit.core.learner import Learner
from tbptt_kit.course.bias import window_gradient
from tbptt_kit.data.balancing import BalancingChain, create_dls_balancing


def test_the_chain_is_the_recurrence_written_out():
    """s[t+1] = A s[t] + θ b, A = 0.5 (I + ones above the diagonal); the output is s_1."""
    chain = BalancingChain(n_units=5, n_plus=2, theta=0.3)
    out, state = chain(torch.zeros(2, 7, 1))
    a = 0.5 * (torch.eye(5) + torch.diag(torch.ones(4), 1))
    b = torch.tensor([1.0, 1.0, -1.0, -1.0, -1.0])
    s, outs = torch.zeros(5), []
    for _ in range(7):
        s = a @ s + 0.3 * b
        outs.append(s[0])
    assert out.shape == (2, 7, 1) and state.shape == (1, 2, 5)  # as an nn.RNN's state
    torch.testing.assert_close(out[:, :, 0], torch.stack(outs).expand(2, 7))
    torch.testing.assert_close(state, s.expand(1, 2, 5))
    assert chain.steps_run == 7


def test_the_state_goes_in_and_comes_out():
    chain = BalancingChain(theta=0.1)
    u = torch.zeros(1, 30, 1)
    whole, _ = chain(u)
    first, state = chain(u[:, :12])
    rest, _ = chain(u[:, 12:], state)
    torch.testing.assert_close(torch.cat([first, rest], 1), whole)
    from_zeros, _ = chain(u[:, 12:])  # the control: without the state, another output
    assert (from_zeros - whole[:, 12:]).abs().max() > 1e-2
    assert chain.steps_run == 30 + 12 + 18 + 18


def test_the_best_theta_brings_the_output_to_the_target():
    chain = BalancingChain(10, 4)
    assert chain.best_theta == pytest.approx(-0.25)  # 1 / (2 sum_i b_i), sum_i b_i = -2
    with torch.no_grad():
        chain.theta.fill_(chain.best_theta)
        out, _ = chain(torch.zeros(1, 400, 1))
    assert out[0, -1, 0].item() == pytest.approx(1.0, abs=1e-4)


def test_truncation_gets_the_sign_of_the_gradient_wrong():
    """At θ = 0: full BPTT's gradient lowers θ towards θ* < 0; a gradient truncated after
    4 or 8 steps sees only the short, positive influence and raises it."""
    chain = BalancingChain(10, 4)
    u, y = torch.zeros(1, 200, 1), torch.ones(1, 200, 1)
    assert window_gradient(chain, u, y, BPTT()).item() > 0
    assert window_gradient(chain, u, y, BPTT.of(4)).item() < 0
    assert window_gradient(chain, u, y, BPTT.of(8)).item() < 0
    assert window_gradient(chain, u, y, BPTT.of(4, backprop_len=40)).item() > 0  # reaches far


def test_the_loaders_hand_out_windows_of_zeros_and_ones():
    dls = create_dls_balancing(win_sz=50, n_windows=3)
    batches = list(dls.train)
    assert len(batches) == 3 and all(b.u.shape == (1, 50, 1) for b in batches)
    assert all(b.u.eq(0).all() and b.y.eq(1).all() and b.new_window for b in batches)
    sub = list(create_dls_balancing(win_sz=50, sub_seq_len=10, n_windows=3).train)
    assert len(sub) == 15 and [b.sub_idx for b in sub[:5]] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "mode",
    [
        BPTT(),
        BPTT.of(10),
        BPTT.of(10, backprop_len=30),
        BPTT.of(10, mode="checkpointed"),
        BPTT("randomized", 10, truncation=Truncation(mean_len=8)),
    ],
    ids=lambda mode: mode.label,
)
def test_the_learner_trains_the_chain_in_every_mode(mode):
    """The chain takes and returns its state as the loop expects: every mode runs it."""
    dls = create_dls_balancing(win_sz=50, sub_seq_len=mode.loader_sub_seq_len, n_windows=2)
    chain = BalancingChain()
    learn = Learner(dls, chain, mode, lambda p, t: (p - t).pow(2).mean())
    learn.fit(1, lr=1e-4)
    assert chain.theta.item() != 0 and len(learn.validate()) == 1


def test_bad_chains_are_refused():
    with pytest.raises(ValueError, match=r"n_plus must be an int >= 1 and < n_units / 2 = 5.0"):
        BalancingChain(10, 5)
    with pytest.raises(ValueError, match="n_units must be an int >= 2, got 1"):
        BalancingChain(1, 1)
