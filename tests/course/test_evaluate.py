"""Scoring the benchmark's way (``course/evaluate.py``): free-run simulation of whole records
from a state the first outputs explain, the RMSE per record and per position in the window,
and a text model sampling one character at a time, the state carried from call to call."""

import numpy as np
import pytest
import torch
from torch import nn

from tbptt_kit import NoResetCB, RNNLearner, create_dls, create_stream_dls
from tbptt_kit.core.model import StatefulRNN
from tbptt_kit.course.evaluate import (
    error_by_position,
    free_run_rmse,
    initial_state,
    sample_text,
    simulate,
)
from tbptt_kit.data.text import Vocab


def record(n=600, seed=0):
    """A record (u, y), float32, y a smoothed copy of u (volts)."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(n).astype(np.float32)
    y = np.convolve(u, np.exp(-np.arange(10) / 3.0))[:n].astype(np.float32) * 0.1
    return u, y


def model(rnn_type="lstm", seed=0):
    torch.manual_seed(seed)
    return StatefulRNN(1, 1, rnn_type, hidden_size=8)


def random_state(m, seed=1):
    """A state far from zeros, (h, c) for an LSTM: (num_layers, 1, hidden_size) each."""
    g = torch.Generator().manual_seed(seed)
    shape = (m.num_layers, 1, m.hidden_size)
    parts = [torch.randn(shape, generator=g) for _ in range(2 if m.rnn_type == "lstm" else 1)]
    return tuple(parts) if len(parts) == 2 else parts[0]


# -- simulate -------------------------------------------------------------------------------
def test_simulate_free_runs_the_whole_record_from_zeros():
    m, (u, _) = model(), record()
    y_hat = simulate(m, u)
    with torch.no_grad():
        whole, _ = m(torch.from_numpy(u).reshape(1, -1, 1))
        first, state = m(torch.from_numpy(u[:250]).reshape(1, -1, 1))
        rest, _ = m(torch.from_numpy(u[250:]).reshape(1, -1, 1), state)
        rest_from_zeros, _ = m(torch.from_numpy(u[250:]).reshape(1, -1, 1))
    assert y_hat.shape == (600, 1)
    np.testing.assert_allclose(y_hat, whole[0].numpy(), rtol=1e-5, atol=1e-6)
    # one run through the record: the same as two pieces with the state carried between them,
    np.testing.assert_allclose(y_hat[250:], rest[0].numpy(), rtol=1e-4, atol=1e-5)
    # not as two pieces each from zeros (the control)
    assert np.abs(y_hat[250:260] - rest_from_zeros[0, :10].numpy()).max() > 1e-3


def test_simulate_starts_from_the_state_the_first_outputs_explain():
    m, (u, y) = model(), record()
    state = initial_state(m, u[:50], y[:50])
    with torch.no_grad():
        expected, _ = m(torch.from_numpy(u).reshape(1, -1, 1), state)
    np.testing.assert_allclose(simulate(m, (u, y), n_init=50), expected[0].numpy(), rtol=1e-5)
    np.testing.assert_allclose(simulate(m, (u, y), n_init=0), simulate(m, u), rtol=1e-6)
    m.train()
    simulate(m, (u, y))
    assert m.training  # the train/eval mode as found
    with pytest.raises(ValueError, match="the record has 40 samples: it needs more than n_init=50"):
        simulate(m, (u[:40], y[:40]), n_init=50)
    with pytest.raises(ValueError, match="u has 2 channels, the model takes 1"):
        simulate(m, np.zeros((100, 2), np.float32))


# -- initial_state --------------------------------------------------------------------------
@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_initial_state_explains_the_first_outputs_better_than_zeros(rnn_type):
    """Outputs the model itself gives from a state far from zeros: the state found explains
    them much better than zeros do; the weights are left as they were."""
    m, (u, _) = model(rnn_type), record()
    u_t = torch.from_numpy(u[:50]).reshape(1, -1, 1)
    with torch.no_grad():
        y = m(u_t, random_state(m))[0][0].numpy()
        from_zeros = m(u_t)[0][0].numpy()
    weights = [p.detach().clone() for p in m.parameters()]
    state = initial_state(m, u[:50], y, n_iter=200)
    with torch.no_grad():
        from_found = m(u_t, state)[0][0].numpy()
    assert np.sqrt(np.mean((from_found - y) ** 2)) < 0.2 * np.sqrt(np.mean((from_zeros - y) ** 2))
    assert isinstance(state, tuple) == (rnn_type == "lstm")
    for h in state if isinstance(state, tuple) else (state,):
        assert h.shape == (1, 1, 8) and not h.requires_grad
    assert all(torch.equal(p, w) and p.requires_grad for p, w in zip(m.parameters(), weights))


# -- free_run_rmse --------------------------------------------------------------------------
def test_free_run_rmse_scores_each_record_after_n_init_in_the_units_asked():
    m, rec, other = model(), record(), record(seed=1)
    scores = free_run_rmse(m, {"a": rec, "b": other}, n_init=50, units=("mV", 1e3))
    assert list(scores) == ["a", "b"]
    y_hat = simulate(m, rec, n_init=50)
    by_hand = np.sqrt(np.mean((y_hat[50:, 0] - rec[1][50:]) ** 2)) * 1e3
    assert scores["a"] == pytest.approx(by_hand, rel=1e-6)
    assert free_run_rmse(m, {"a": rec}, n_init=50)["a"] == pytest.approx(by_hand / 1e3, rel=1e-6)
    assert scores["b"] != pytest.approx(scores["a"], rel=1e-3)
    with pytest.raises(ValueError, match="needs at least one record, got none"):
        free_run_rmse(m, {})


# -- error_by_position ----------------------------------------------------------------------
def windows_dls(sub_seq_len=None):
    u, y = record(2000)
    train, valid = (u[:1500], y[:1500]), (u[1500:], y[1500:])
    return create_dls(train, valid, bs=4, win_sz=50, stp_sz=25, sub_seq_len=sub_seq_len)


def by_hand(learn) -> np.ndarray:
    """RMSE at each step of the window, each validation window run whole from zeros."""
    u, y = learn.dls.valid.ds[list(range(len(learn.dls.valid.ds)))]
    with torch.no_grad():
        pred, _ = learn.model(u)
    return (pred - y).pow(2).mean(dim=(0, 2)).sqrt().numpy()


def test_error_by_position_scores_each_step_of_windows_that_start_from_zeros():
    learn = RNNLearner(windows_dls(10), "gru", 8, sub_seq_len=10, seed=0, progress=False)
    errors = error_by_position(learn)
    assert errors.shape == (50,)
    np.testing.assert_allclose(errors, by_hand(learn), rtol=1e-4)
    # the control: without the reset each window goes on from another window's state
    broken = error_by_position(learn.add_cb(NoResetCB()))
    assert np.abs(broken[:5] - errors[:5]).max() > 1e-3
    np.testing.assert_allclose(broken[-10:], errors[-10:], rtol=0.05)  # by then forgotten


def test_error_by_position_needs_windows():
    records = [record(1000), record(1000, seed=1)]
    streams = create_stream_dls(records, records, bs=2, sub_seq_len=50)
    learn = RNNLearner(streams, "gru", 8, sub_seq_len=50, progress=False)
    with pytest.raises(ValueError, match="stream loaders have none"):
        error_by_position(learn)


# -- sample_text ----------------------------------------------------------------------------
TEXT = ["The quick brown fox jumps over the lazy dog. " * 3, "Pack my box. " * 5]


class CharModel(nn.Module):
    """Embedding, LSTM, head: ``logits, state = model(ids, state)``; keeps each call's input
    shape, the state it was given and the state it returned."""

    def __init__(self, vocab_size):
        super().__init__()
        torch.manual_seed(0)
        self.emb, self.rnn = nn.Embedding(vocab_size, 16), nn.LSTM(16, 32, batch_first=True)
        self.head, self.calls = nn.Linear(32, vocab_size), []

    def forward(self, x, state=None):
        out, new_state = self.rnn(self.emb(x), state)
        self.calls.append((tuple(x.shape), state, new_state))
        return self.head(out), new_state


def manual_sample(model, vocab, prompt, n_chars, temperature, seed):
    """The loop sample_text runs, written out: the prompt once, then one character a call."""
    generator, out = torch.Generator().manual_seed(seed), []
    x, state = torch.from_numpy(vocab.encode(prompt))[None], None
    with torch.no_grad():
        for _ in range(n_chars):
            logits, state = model(x, state)
            probs = torch.softmax(logits[0, -1].double() / temperature, dim=-1)
            x = torch.multinomial(probs, 1, generator=generator).view(1, 1)
            out.append(int(x))
    return prompt + vocab.decode(out)


def test_sample_text_goes_on_from_the_state_each_call_returns():
    vocab = Vocab.from_text(TEXT)
    m = CharModel(len(vocab))
    greedy = sample_text(m, vocab, "The ", n_chars=30, temperature=0)
    assert [shape for shape, _, _ in m.calls] == [(1, 4)] + [(1, 1)] * 29
    assert m.calls[0][1] is None  # the prompt from zeros
    assert all(now[1] is before[2] for before, now in zip(m.calls, m.calls[1:]))
    assert m.training  # the train/eval mode as found
    # each greedy character is the likeliest after everything before it read in one call:
    # true only if the state was carried from call to call
    with torch.no_grad():
        logits, _ = m(torch.from_numpy(vocab.encode(greedy[:-1]))[None])
    assert vocab.decode(logits[0, 3:].argmax(-1)) == greedy[4:]
    assert greedy.startswith("The ") and len(greedy) == 34


def test_sample_text_is_seeded_and_is_the_loop_written_out():
    vocab = Vocab.from_text(TEXT)
    m = CharModel(len(vocab))
    a = sample_text(m, vocab, "The ", n_chars=40, temperature=0.8, seed=1)
    assert a == sample_text(m, vocab, "The ", n_chars=40, temperature=0.8, seed=1)
    assert a != sample_text(m, vocab, "The ", n_chars=40, temperature=0.8, seed=2)
    assert a == manual_sample(m, vocab, "The ", n_chars=40, temperature=0.8, seed=1)
    greedy = sample_text(m, vocab, "The ", n_chars=20, temperature=0, seed=5)
    assert greedy == sample_text(m, vocab, "The ", n_chars=20, temperature=0, seed=6)


def test_sample_text_refuses_what_it_cannot_sample():
    vocab = Vocab.from_text(TEXT)
    m = CharModel(len(vocab))
    with pytest.raises(ValueError, match="prompt is empty"):
        sample_text(m, vocab, "", n_chars=5)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        sample_text(m, vocab, "#", n_chars=5)
    with pytest.raises(
        ValueError, match=r"temperature must be a finite number in \[0, inf\], got -1"
    ):
        sample_text(m, vocab, "The", temperature=-1)
