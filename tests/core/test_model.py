"""core/model.py: ``y, state = model(u, state)`` and nothing kept; ``detach_state`` cuts the
gradient's path and keeps the values; ``reset_rows`` zeroes exactly the rows that start.

Each mechanism beside its broken version: a model that keeps a state, a loop without the
detach, a reset that misses a row."""

import numpy as np
import pytest
import torch

from tbptt_kit.core.model import RNN_TYPES, StatefulRNN, detach_state, reset_rows
from tbptt_kit.data.loaders import Normalizer

RNN_NAMES = sorted(RNN_TYPES)


def as_tuple(state):
    """(h,) for a GRU or plain RNN, (h, c) for an LSTM."""
    return state if isinstance(state, tuple) else (state,)


def tensors_held(module) -> list[str]:
    """Every tensor a module and its children hold, other than their parameters and buffers."""
    own = {id(t) for t in [*module.parameters(), *module.buffers()]}
    found = []

    def walk(name, value):
        if torch.is_tensor(value) and id(value) not in own:
            found.append(name)
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(f"{name}[{i}]", v)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(f"{name}[{k!r}]", v)

    for prefix, m in module.named_modules():
        for key, value in vars(m).items():
            if key not in ("_parameters", "_buffers", "_modules"):
                walk(f"{prefix or 'model'}.{key}", value)
    return found


class KeepsItsState(StatefulRNN):
    """The broken version: the state stored on the model and used when none is given."""

    def forward(self, u, hidden_state=None):
        if hidden_state is None:
            hidden_state = getattr(self, "hidden_state", None)
        y, self.hidden_state = super().forward(u, hidden_state)
        return y, self.hidden_state


# -- the model keeps no state ---------------------------------------------------------------
@pytest.mark.parametrize("rnn_type", RNN_NAMES)
def test_after_a_call_the_model_holds_nothing_but_its_parameters_and_buffers(rnn_type):
    torch.manual_seed(0)
    model = StatefulRNN(rnn_type=rnn_type, hidden_size=5)
    u = torch.randn(3, 7, 1, requires_grad=True)
    _, state = model(u)
    model(u, state)[0].sum().backward()
    assert tensors_held(model) == []
    broken = KeepsItsState(rnn_type=rnn_type, hidden_size=5)  # the control
    broken(u)
    assert tensors_held(broken) != []


@pytest.mark.parametrize("cls", [StatefulRNN, KeepsItsState])
def test_the_same_input_and_state_give_the_same_output_whatever_ran_before(cls):
    torch.manual_seed(0)
    model = cls(rnn_type="gru", hidden_size=6)
    u, other = torch.randn(2, 9, 1), torch.randn(2, 9, 1)
    with torch.no_grad():
        start = model(torch.randn(2, 4, 1))[1]
        first = [model(u), model(u, start)]
        model(other)  # anything in between
        model(other, start)
        model(other)
        again = [model(u), model(u, start)]
    same = all(torch.equal(a[0], b[0]) for a, b in zip(first, again))
    assert same == (cls is StatefulRNN)  # the model that keeps a state answers otherwise


def test_the_state_goes_in_and_comes_out_as_with_nn_lstm():
    torch.manual_seed(0)
    model = StatefulRNN(rnn_type="lstm", hidden_size=5, num_layers=2)
    y, (h, c) = model(torch.randn(3, 7, 1))
    assert y.shape == (3, 7, 1) and h.shape == c.shape == (2, 3, 5)
    assert h.grad_fn is not None  # attached to this call's graph
    _, h = StatefulRNN(rnn_type="gru", hidden_size=5)(torch.randn(3, 7, 1))
    assert torch.is_tensor(h) and h.shape == (1, 3, 5)


@pytest.mark.parametrize("rnn_type", RNN_NAMES)
def test_a_window_in_pieces_with_the_state_carried_is_the_whole_window(rnn_type):
    torch.manual_seed(0)
    model = StatefulRNN(rnn_type=rnn_type, hidden_size=6, norm=far_normalizer(1, 1))
    u = torch.randn(2, 12, 1)
    with torch.no_grad():
        whole, end = model(u)
        a, state = model(u[:, :5])
        b, state = model(u[:, 5:], state)
        cold, _ = model(u[:, 5:])  # the control: the second piece from zeros
    torch.testing.assert_close(torch.cat([a, b], 1), whole, rtol=1e-6, atol=1e-6)
    for s, e in zip(as_tuple(state), as_tuple(end), strict=True):
        torch.testing.assert_close(s, e, rtol=1e-6, atol=1e-6)
    assert not torch.allclose(cold, b, atol=1e-4)


def test_a_change_of_batch_size_needs_nothing_but_a_new_state():
    model = StatefulRNN(hidden_size=4)
    model(torch.randn(16, 10, 1))
    y, (h, _) = model(torch.randn(5, 10, 1))
    assert y.shape == (5, 10, 1) and h.shape == (1, 5, 4)


# -- detach: the gradient stops at the boundary --------------------------------------------
def sub_windows(model, u, sub_seq_len, detach=True):
    """u (bs, T, 1) as consecutive sub-windows, the state carried (and detached): outputs."""
    state, outs = None, []
    for t in range(0, u.shape[1], sub_seq_len):
        y, state = model(u[:, t : t + sub_seq_len], state)
        state = detach_state(state) if detach else state
        outs.append(y)
    return outs


@pytest.mark.parametrize("rnn_type", RNN_NAMES)
@pytest.mark.parametrize("detach", [True, False])
def test_gradient_is_exactly_zero_across_a_sub_window_boundary(rnn_type, detach):
    torch.manual_seed(0)
    model = StatefulRNN(rnn_type=rnn_type, hidden_size=8)
    u = torch.randn(3, 60, 1, requires_grad=True)
    outs = sub_windows(model, u, 20, detach)
    outs[2].pow(2).sum().backward()  # the loss of the third sub-window only
    grad = u.grad[:, :, 0]
    assert torch.all(grad[:, 40:].abs().sum(0) > 0), "no gradient inside the sub-window"
    if detach:
        assert torch.all(grad[:, :40] == 0), "gradient leaked into earlier sub-windows"
    else:  # the control: without the detach, full BPTT's gradient reaches the early inputs
        assert torch.all(grad[:, 30:40].abs() > 0)


@pytest.mark.parametrize("rnn_type", RNN_NAMES)
def test_the_state_is_carried_within_a_window(rnn_type):
    torch.manual_seed(0)
    model = StatefulRNN(rnn_type=rnn_type, hidden_size=8)
    u = torch.randn(2, 40, 1)
    with torch.no_grad():
        before = sub_windows(model, u, 20)[1]
        u2 = u.clone()
        u2[:, :20] += 1.0  # change only the first sub-window
        after = sub_windows(model, u2, 20)[1]
    assert not torch.allclose(before, after), "the second sub-window did not see the first"


def test_detach_state_keeps_the_values_and_cuts_the_graph():
    assert detach_state(None) is None
    h = torch.randn(1, 2, 3, requires_grad=True) * 2
    d = detach_state(h)
    assert torch.equal(d, h) and not d.requires_grad and d.grad_fn is None
    hc = (h, h + 1)
    dh, dc = detach_state(hc)
    assert torch.equal(dh, h) and torch.equal(dc, h + 1)
    assert not dh.requires_grad and not dc.requires_grad
    assert h.grad_fn is not None  # the original is left attached


# -- reset_rows: exactly the rows that start ----------------------------------------------
def a_state(rnn_type, bs=4):
    torch.manual_seed(0)
    model = StatefulRNN(rnn_type=rnn_type, hidden_size=5, num_layers=2)
    with torch.no_grad():
        return model, model(torch.randn(bs, 7, 1))[1]


@pytest.mark.parametrize("rnn_type", RNN_NAMES)
@pytest.mark.parametrize("rows", [[True, False, True, False], [0, 1, 1, 0]])
def test_reset_rows_zeroes_exactly_those_rows_of_h_and_c_and_leaves_the_others_bit_identical(
    rnn_type, rows
):
    _, state = a_state(rnn_type)
    before = [s.clone() for s in as_tuple(state)]
    rows = torch.tensor(rows)  # bool, or 0/1 ints
    after = as_tuple(reset_rows(state, rows))
    assert len(after) == (2 if rnn_type == "lstm" else 1)  # an LSTM keeps both h and c
    reset = rows.to(torch.bool)
    for b, a in zip(before, after, strict=True):
        assert a.shape == b.shape == (2, 4, 5)  # (num_layers, bs, hidden_size)
        assert torch.all(b[:, reset] != 0)  # there was something to forget
        assert torch.all(a[:, reset] == 0), "a reset row kept its state"
        assert torch.equal(a[:, ~reset], b[:, ~reset]), "a row that was not reset changed"
    for b, s in zip(before, as_tuple(state)):
        assert torch.equal(b, s)  # the state given is left as it was


def test_all_rows_mean_zeros_for_all_and_no_rows_the_same_state():
    _, state = a_state("lstm")
    assert reset_rows(state, torch.ones(4, dtype=torch.bool)) is None
    kept = reset_rows(state, torch.zeros(4, dtype=torch.bool))
    assert all(k is s for k, s in zip(kept, state, strict=True))  # h and c themselves
    _, h = a_state("gru")
    assert reset_rows(h, torch.zeros(4, dtype=torch.bool)) is h
    assert reset_rows(None, torch.tensor([True, False])) is None  # no state yet: zeros


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_a_reset_row_goes_on_exactly_as_from_a_zero_state(rnn_type):
    model, state = a_state(rnn_type, bs=3)
    u = torch.randn(3, 6, 1)
    with torch.no_grad():
        y, _ = model(u, reset_rows(state, torch.tensor([False, True, False])))
        fresh, _ = model(u[1:2])
        carried, _ = model(u, state)
    torch.testing.assert_close(y[1:2], fresh, rtol=0, atol=1e-6)  # a batch of 1 rounds apart
    torch.testing.assert_close(y[[0, 2]], carried[[0, 2]], rtol=0, atol=0)


@pytest.mark.parametrize("reset", [[True, False], [False, False]])
def test_a_batch_that_changes_its_size_must_reset_every_row(reset):
    _, state = a_state("lstm", bs=4)
    with pytest.raises(
        ValueError, match=r"the carried state has 4 rows, the batch 2: .*reset all True"
    ):
        reset_rows(state, torch.tensor(reset))
    assert reset_rows(state, torch.tensor([True, True])) is None  # all rows: fine


# -- the network between the normaliser and its inverse ---------------------------------
def far_normalizer(n_u=2, n_y=3):
    """Training statistics far from mean 0 and std 1, different in every channel."""
    return Normalizer(
        u_mean=np.array([5.0, -3.0][:n_u]),
        u_std=np.array([4.0, 0.25][:n_u]),
        y_mean=np.array([-7.0, 2.0, 11.0][:n_y]),
        y_std=np.array([0.2, 3.0, 9.0][:n_y]),
    )


@pytest.mark.parametrize("rnn_type", RNN_NAMES)
def test_the_model_is_the_network_between_the_normaliser_and_its_inverse(rnn_type):
    norm = far_normalizer()
    torch.manual_seed(0)
    model = StatefulRNN(n_u=2, n_y=3, rnn_type=rnn_type, hidden_size=6, norm=norm)
    u = 5.0 + 3.0 * torch.randn(2, 9, 2)
    f32 = dict(dtype=torch.float32)
    u_mean, u_std = torch.tensor(norm.u_mean, **f32), torch.tensor(norm.u_std, **f32)
    y_mean, y_std = torch.tensor(norm.y_mean, **f32), torch.tensor(norm.y_std, **f32)
    with torch.no_grad():
        start = model(u[:, :4])[1]  # a non-zero state to start from
        y, state = model(u, start)
        out, want_state = model.rnn((u - u_mean) / u_std, start)
        want = model.head(out) * y_std + y_mean
    torch.testing.assert_close(y, want, rtol=1e-6, atol=1e-6)
    for s, w in zip(as_tuple(state), as_tuple(want_state), strict=True):
        torch.testing.assert_close(s, w, rtol=0, atol=0)
    for name in ("u_mean", "u_std", "y_mean", "y_std"):  # buffers: saved, moved with the model
        assert name in dict(model.named_buffers())


def test_without_a_normaliser_the_model_sees_and_gives_raw_signals():
    torch.manual_seed(0)
    model = StatefulRNN(n_u=2, n_y=3, hidden_size=6)
    for name, fill, size in (("u_mean", 0, 2), ("u_std", 1, 2), ("y_mean", 0, 3), ("y_std", 1, 3)):
        assert torch.equal(getattr(model, name), torch.full((size,), float(fill)))
    u = torch.randn(2, 5, 2)
    with torch.no_grad():
        assert torch.equal(model(u)[0], model.head(model.rnn(u)[0]))


def test_a_text_model_reads_ids_through_an_embedding_and_gives_logits():
    torch.manual_seed(0)
    model = StatefulRNN(rnn_type="gru", hidden_size=6, vocab_size=11)
    ids = torch.randint(0, 11, (2, 7))
    with torch.no_grad():
        logits, h = model(ids)
        want = model.head(model.rnn(model.embed(ids))[0])
    assert logits.shape == (2, 7, 11) and h.shape == (1, 2, 6)
    assert torch.equal(logits, want)  # no normalisation of ids or logits
    assert model.embed.num_embeddings == 11 and model.rnn.input_size == 6


def test_the_model_defaults_are_the_course_reference_lstm_of_40():
    model = StatefulRNN()
    assert (model.rnn_type, model.hidden_size, model.num_layers) == ("lstm", 40, 1)
    assert isinstance(model.rnn, torch.nn.LSTM) and model.rnn.input_size == 1
    assert model.rnn.batch_first
    assert model.head.out_features == 1 and model.vocab_size is None and model.embed is None


@pytest.mark.parametrize("rnn_type", RNN_NAMES)
def test_each_rnn_type_builds_its_torch_rnn(rnn_type):
    model = StatefulRNN(n_u=3, n_y=2, rnn_type=rnn_type, hidden_size=7, num_layers=2)
    assert type(model.rnn) is RNN_TYPES[rnn_type]
    assert (model.rnn.input_size, model.rnn.hidden_size, model.rnn.num_layers) == (3, 7, 2)
    assert model.head.in_features == 7 and model.head.out_features == 2


@pytest.mark.parametrize("name", ["n_u", "n_y", "hidden_size", "num_layers"])
def test_model_size_checks_name_their_parameter(name):
    with pytest.raises(ValueError, match=f"^{name} must be an int >= 1, got 0"):
        StatefulRNN(**{name: 0})
    with pytest.raises(TypeError, match=f"^{name} must be an int >= 1, got 2.5"):
        StatefulRNN(**{name: 2.5})


@pytest.mark.parametrize("vocab_size", [0, 1])
def test_a_text_model_needs_a_vocabulary_of_two_tokens_at_least(vocab_size):
    with pytest.raises(ValueError, match=f"^vocab_size must be an int >= 2, got {vocab_size}"):
        StatefulRNN(vocab_size=vocab_size)
    assert StatefulRNN(vocab_size=2).head.out_features == 2


def test_an_unknown_rnn_type_is_refused_with_the_known_ones():
    with pytest.raises(
        ValueError, match=r"^rnn_type='LSTM' is unknown: choose one of \['gru', 'lstm', 'rnn'\]"
    ):
        StatefulRNN(rnn_type="LSTM")
