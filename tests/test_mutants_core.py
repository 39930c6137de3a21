"""Behaviour that mutation testing (``make mutation``, benchmarks/mutation.md) found unpinned.

Each test here kills mutants that survived the rest of the suite: a code change that leaves
every other test green but changes what the kit computes. They go through the public API
only (``StatefulRNN``, ``BPTT``, ``Learner``, the loaders), so a refactoring that keeps the
behaviour keeps them green.
"""

import numpy as np
import pytest
import torch

from tbptt_kit import (
    BPTT,
    Callback,
    Learner,
    RNNLearner,
    StatefulRNN,
    TbpttResetCB,
    create_dls,
    create_stream_dls,
    resident_memory,
)
from tbptt_kit.data.hdf5 import write_record
from tbptt_kit.data.streams import check_records
from tbptt_kit.data.windows import Normalizer, WindowDataset


def record(n, seed=0, n_u=1, n_y=1):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((n, n_u)).astype(np.float32)
    y = np.stack([np.convolve(u[:, 0], [0.5, 0.3, 0.2])[:n] * (k + 1) for k in range(n_y)], 1)
    return u, y.astype(np.float32)


def as_tuple(hidden_state):
    """(h,) for a GRU or plain RNN, (h, c) for an LSTM."""
    return hidden_state if isinstance(hidden_state, tuple) else (hidden_state,)


# -- model.py: per-row reset, the normaliser around the network, the defaults --------------
@pytest.mark.parametrize("rnn_type", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("rows", [[True, False, True, False], [0, 1, 1, 0]])
def test_reset_rows_zeroes_exactly_those_rows_of_h_and_c_and_leaves_the_others_bit_identical(
    rnn_type, rows
):
    torch.manual_seed(0)
    model = StatefulRNN(rnn_type=rnn_type, hidden_size=5, num_layers=2)
    with torch.no_grad():
        model(torch.randn(4, 7, 1))
    before = [s.clone() for s in as_tuple(model.hidden_state)]
    rows = torch.tensor(rows)  # bool, or 0/1 ints
    model.reset_state(rows=rows)
    after = as_tuple(model.hidden_state)
    assert len(after) == (2 if rnn_type == "lstm" else 1)  # an LSTM keeps both h and c
    reset = rows.to(torch.bool)
    for b, a in zip(before, after, strict=True):
        assert a.shape == b.shape == (2, 4, 5)  # (num_layers, bs, hidden_size)
        assert torch.all(b[:, reset] != 0)  # there was something to forget
        assert torch.all(a[:, reset] == 0), "a reset row kept its state"
        assert torch.equal(a[:, ~reset], b[:, ~reset]), "a row that was not reset changed"


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_a_reset_row_continues_exactly_as_from_a_zero_state(rnn_type):
    torch.manual_seed(0)
    model = StatefulRNN(rnn_type=rnn_type, hidden_size=5)
    u = torch.randn(3, 6, 1)
    with torch.no_grad():
        model(u)
        model.reset_state(rows=torch.tensor([False, True, False]))
        y = model(u)
        fresh = model.forward_from(u[1:2])[0]
    torch.testing.assert_close(y[1:2], fresh, rtol=0, atol=1e-6)  # a batch of 1 rounds apart


def test_reset_rows_before_any_state_leaves_zeros_and_reset_all_forgets_all():
    model = StatefulRNN(hidden_size=4)
    model.reset_state(rows=torch.tensor([True, False]))
    assert model.hidden_state is None  # nothing carried yet: the next call starts from zeros
    with torch.no_grad():
        model(torch.randn(2, 5, 1))
    assert model.hidden_state is not None
    model.reset_state()
    assert model.hidden_state is None and model.past_u is None


def test_reset_rows_refuses_tbptt_k1_k2_whose_state_is_re_run_from_past_inputs():
    model = StatefulRNN(hidden_size=4)
    with torch.no_grad():
        for _ in range(3):  # TBPTT(5, 10): a state, and the last 5 inputs to re-run
            BPTT("truncated", 5, 10).forward(model, torch.randn(2, 5, 1))
    assert model.hidden_state is not None and model.past_u.shape == (2, 5, 1)
    with pytest.raises(
        ValueError, match=r"^reset_state\(rows=\.\.\.\) does not apply to TBPTT\(k1, k2\)\.$"
    ):
        model.reset_state(rows=torch.tensor([True, False]))


@pytest.mark.parametrize("vocab_size", [0, 1])
def test_a_text_model_needs_a_vocabulary_of_two_tokens_at_least(vocab_size):
    with pytest.raises(ValueError, match=f"^vocab_size must be an int >= 2, got {vocab_size}"):
        StatefulRNN(vocab_size=vocab_size)
    assert StatefulRNN(vocab_size=2).head.out_features == 2


def test_the_model_defaults_are_the_course_reference_lstm_of_40():
    model = StatefulRNN()
    assert (model.rnn_type, model.hidden_size, model.num_layers, model.stateful) == (
        "lstm",
        40,
        1,
        True,
    )
    assert isinstance(model.rnn, torch.nn.LSTM) and model.rnn.input_size == 1
    assert model.head.out_features == 1 and model.vocab_size is None


@pytest.mark.parametrize("name", ["n_u", "n_y", "hidden_size", "num_layers"])
def test_model_size_checks_name_their_parameter(name):
    with pytest.raises(ValueError, match=f"^{name} must be an int >= 1, got 0"):
        StatefulRNN(**{name: 0})


def far_normalizer(n_u=2, n_y=3):
    """Training statistics far from mean 0 and std 1, different in every channel."""
    return Normalizer(
        u_mean=np.array([5.0, -3.0][:n_u]),
        u_std=np.array([4.0, 0.25][:n_u]),
        y_mean=np.array([-7.0, 2.0, 11.0][:n_y]),
        y_std=np.array([0.2, 3.0, 9.0][:n_y]),
    )


@pytest.mark.parametrize("rnn_type", ["lstm", "gru", "rnn"])
def test_forward_from_is_the_network_between_the_normaliser_and_its_inverse(rnn_type):
    norm = far_normalizer()
    torch.manual_seed(0)
    model = StatefulRNN(n_u=2, n_y=3, rnn_type=rnn_type, hidden_size=6, norm=norm)
    u = 5.0 + 3.0 * torch.randn(2, 9, 2)
    start = model.forward_from(u[:, :4])[1]  # a non-zero state to start from
    f32 = dict(dtype=torch.float32)
    u_mean, u_std = torch.tensor(norm.u_mean, **f32), torch.tensor(norm.u_std, **f32)
    y_mean, y_std = torch.tensor(norm.y_mean, **f32), torch.tensor(norm.y_std, **f32)
    with torch.no_grad():
        y, state = model.forward_from(u, start)
        out, want_state = model.rnn((u - u_mean) / u_std, start)
        want = model.head(out) * y_std + y_mean
    torch.testing.assert_close(y, want, rtol=1e-6, atol=1e-6)
    for s, w in zip(as_tuple(state), as_tuple(want_state), strict=True):
        torch.testing.assert_close(s, w, rtol=0, atol=0)


def test_without_a_normaliser_the_model_sees_and_gives_raw_signals():
    torch.manual_seed(0)
    model = StatefulRNN(n_u=2, n_y=3, hidden_size=6)
    for name, fill, size in (("u_mean", 0, 2), ("u_std", 1, 2), ("y_mean", 0, 3), ("y_std", 1, 3)):
        assert torch.equal(getattr(model, name), torch.full((size,), float(fill)))
    u = torch.randn(2, 5, 2)
    with torch.no_grad():
        assert torch.equal(model.forward_from(u)[0], model.head(model.rnn(u)[0]))


def test_a_stateful_model_continues_from_its_state_a_stateless_one_from_zeros():
    torch.manual_seed(0)
    model = StatefulRNN(hidden_size=4, norm=far_normalizer(1, 1))
    u = torch.randn(2, 8, 1)
    with torch.no_grad():
        whole = model.forward_from(u)[0]
        halves = torch.cat([model(u[:, :4]), model(u[:, 4:])], 1)  # stateful: carried
        torch.testing.assert_close(halves, whole, rtol=1e-6, atol=1e-6)
        model.stateful = False
        model.reset_state()
        assert torch.equal(model(u[:, 4:]), model.forward_from(u[:, 4:])[0])
        assert model.hidden_state is None  # a stateless model keeps nothing


def test_a_batch_size_change_starts_from_zeros():
    torch.manual_seed(0)
    model = StatefulRNN(hidden_size=4)
    with torch.no_grad():
        model(torch.randn(3, 5, 1))
        u = torch.randn(2, 5, 1)
        torch.testing.assert_close(model(u), model.forward_from(u)[0], rtol=0, atol=0)


# -- bptt.py: every check of a mode's arguments -------------------------------------------
@pytest.mark.parametrize(
    "args, error, says",
    [
        (("full", 50), ValueError, "takes no sub_seq_len"),
        (("full", None, 50), ValueError, "takes no sub_seq_len"),
        (("checkpointed", 50, 100), ValueError, "needs bptt='truncated'"),
        (("truncated", 50, 75.0), TypeError, "bptt_len must be an int"),
        (("truncated", 50, True), TypeError, "bptt_len must be an int"),
        (("truncated", 50, 49), ValueError, "k2 >= k1"),
        (("truncated", None), ValueError, "needs sub_seq_len"),
        (("checkpointed", None), ValueError, "needs sub_seq_len"),
        (("truncated", 0), ValueError, "sub_seq_len"),
        (("sideways", 5), ValueError, "is unknown"),
    ],
)
def test_bptt_refuses_what_it_cannot_run(args, error, says):
    with pytest.raises(error, match=says):
        BPTT(*args)


def test_bptt_accepts_its_valid_corners_and_names_them():
    assert BPTT("truncated", 50, 50).label == "TBPTT(50, 50)"
    assert BPTT("truncated", 50, 51).label == "TBPTT(50, 51)"
    assert BPTT("checkpointed", 20).label == "checkpointed(20)"
    assert BPTT("truncated", 20).label == "truncated(20)" and BPTT().label == "full"
    assert BPTT.of(20) == BPTT("truncated", 20) and BPTT.of() == BPTT("full")
    assert BPTT.of(20, "checkpointed") == BPTT("checkpointed", 20)
    assert [BPTT(*a).stateful for a in [("full",), ("truncated", 5), ("checkpointed", 5)]] == [
        False,
        True,
        False,
    ]
    assert BPTT("truncated", 5).loader_sub_seq_len == 5
    assert BPTT("checkpointed", 5).loader_sub_seq_len is None


def test_a_mode_and_loaders_that_disagree_say_what_each_hands_out():
    whole = create_dls(record(300), record(200, 1), win_sz=50)
    with pytest.raises(
        ValueError,
        match="needs loaders that hand out sub-windows of 10, but these hand out whole windows",
    ):
        BPTT("truncated", 10).check_loaders(whole)
    cut = create_dls(record(300), record(200, 1), win_sz=50, sub_seq_len=10)
    with pytest.raises(
        ValueError,
        match="needs loaders that hand out whole windows, but these hand out sub-windows of 10",
    ):
        BPTT().check_loaders(cut)


def test_stream_loaders_train_with_plain_truncated_bptt_of_their_sub_seq_len_only():
    dls = create_stream_dls(record(200), record(100, 1), bs=2, sub_seq_len=10, cut_records=True)
    BPTT("truncated", 10).check_loaders(dls)
    for other in [
        BPTT(),
        BPTT("truncated", 5),
        BPTT("truncated", 10, 20),
        BPTT("checkpointed", 10),
    ]:
        with pytest.raises(ValueError, match="stream loaders"):
            other.check_loaders(dls)


# -- data: windows of unequal records, the test records of the stream layout ---------------
def test_win_sz_must_fit_the_shortest_of_unequal_records():
    long, short, valid = record(300), record(120, 1), record(200, 2)
    with pytest.raises(ValueError, match=r"win_sz=150 is longer than the shortest record \(120"):
        create_dls([long, short], valid, win_sz=150, stp_sz=50)  # the train records' shortest
    dls = create_dls([long, short], valid, win_sz=120, stp_sz=60)
    assert len(dls.train.ds) == 4 + 1  # starts 0, 60, 120, 180 in the long one; 0 in the short


def test_create_stream_dls_keeps_the_test_records_whole():
    test = {"a": record(333, 5), "b": record(57, 6, n_u=1, n_y=1)}
    dls = create_stream_dls(
        record(200), record(100, 1), test, bs=2, sub_seq_len=10, cut_records=True
    )
    assert sorted(dls.test) == ["a", "b"]
    for name, (u, y) in test.items():
        got_u, got_y = dls.test[name]
        assert np.array_equal(got_u, u) and np.array_equal(got_y, y)


def test_a_nan_in_a_valid_target_names_valid_y():
    u, y = record(200)
    y_bad = y.copy()
    y_bad[17] = np.nan
    with pytest.raises(ValueError, match=r"valid y contains NaN or Inf \(first at sample 17\)"):
        create_dls((u, y), (u, y_bad), win_sz=50)


def test_window_dataset_checks_name_their_parameter():
    for kw, name in ((dict(win_sz=0, stp_sz=1), "win_sz"), (dict(win_sz=5, stp_sz=0), "stp_sz")):
        with pytest.raises(ValueError, match=f"^{name} must be an int >= 1, got 0"):
            WindowDataset([record(50)], **kw)


def test_records_gives_every_record_whole_by_name():
    train = [record(200), record(150, 1)]
    dls = create_dls(train, record(120, 2), win_sz=50)
    got = dls.records("train")
    assert list(got) == ["train", "train_1"]
    for (u, y), (want_u, want_y) in zip(got.values(), train, strict=True):
        assert np.array_equal(u, want_u) and np.array_equal(y, want_y)
    assert list(dls.records("valid")) == ["valid"]


@pytest.mark.parametrize("layout", ["windows", "streams"])
def test_every_tensor_of_a_batch_is_on_the_loaders_device(layout):
    # "meta" tensors have a device but no data: a move to it is seen without a GPU
    if layout == "windows":
        dls = create_dls(record(300), record(200, 1), win_sz=50, sub_seq_len=25)
    else:
        dls = create_stream_dls(
            [record(95), record(60, 1)], record(100, 1), bs=2, sub_seq_len=20, cut_records=True
        )
    assert dls.to("meta") is dls
    for loader in (dls.train, dls.valid):
        batch = next(iter(loader))
        tensors = [batch.u, batch.y] + [t for t in (batch.reset, batch.mask) if t is not None]
        assert {t.device.type for t in tensors} == {"meta"}


def test_stream_errors_name_the_part_of_the_data_they_are_about():
    with pytest.raises(ValueError, match="valid record 1 is empty"):
        empty = (np.zeros(0, np.float32), np.zeros(0, np.float32))
        create_stream_dls(
            record(200), [record(100, 1), empty], bs=2, sub_seq_len=10, cut_records=True
        )
    with pytest.raises(ValueError, match="train record 0 is empty"):
        check_records([0], [0], sub_seq_len=10)


def test_stream_training_shuffles_its_records_every_epoch_validation_never():
    recs = [record(30, seed) for seed in range(8)]
    dls = create_stream_dls(recs, recs, bs=2, sub_seq_len=10, seed=3, cut_records=True)
    train_orders = [dls.train.order() for _ in range(4)]
    assert all(sorted(o) == list(range(8)) for o in train_orders)
    assert len({tuple(o) for o in train_orders}) > 1  # reshuffled each epoch
    assert all(dls.valid.order() == list(range(8)) for _ in range(4))


def test_stream_test_records_from_hdf5_are_read_into_memory(tmp_path):
    u, y = record(500, 3)
    path = tmp_path / "test.h5"
    write_record(path, {"u0": u[:, 0], "y0": y[:, 0]}, fs=100.0)
    dls = create_stream_dls(
        record(200), record(100, 1), {"t": path}, bs=2, sub_seq_len=10, cut_records=True
    )
    got_u, got_y = dls.test["t"]
    assert isinstance(got_u, np.ndarray) and isinstance(got_y, np.ndarray)
    assert np.array_equal(got_u, u) and np.array_equal(got_y, y)


def test_resident_memory_sees_a_freed_array_and_forgets_the_peak_on_reset():
    resident_memory(reset_peak=True)
    big = np.ones(25_000_000)  # 200 MB, touched
    now_with, _ = resident_memory()
    del big
    now, peak = resident_memory()
    assert now_with - now > 150e6 and peak > now_with - 1e6  # freed; the peak remembers it
    now, peak = resident_memory(reset_peak=True)
    assert peak - now < 50e6 and peak < now_with - 150e6  # the peak starts again from now


# -- learner.py: whole-window predictions, callbacks in predict, run_windows' gradients ----
def test_predict_whole_windows_equals_a_stateful_run_over_each_window():
    # 5 valid windows of 60 steps, batches of 2 (the last one alone), 3 sub-windows each
    dls = create_dls(record(600, n_y=2), record(300, 1, n_y=2), bs=2, win_sz=60, sub_seq_len=20)
    lrn = RNNLearner(dls, "lstm", 6, sub_seq_len=20, seed=0, progress=False, n_skip=5)
    pred, targ = lrn.predict(whole_windows=True)
    assert pred.shape == targ.shape == (5, 60, 2)  # (n_windows, win_sz, n_y), nothing skipped
    u, y = dls.valid.ds[range(5)]
    assert torch.equal(targ, y)
    model = lrn.model
    with torch.no_grad():
        for w in range(5):
            model.reset_state()
            want = torch.cat([model(u[w : w + 1, t : t + 20]) for t in (0, 20, 40)], 1)
            torch.testing.assert_close(pred[w : w + 1], want, rtol=1e-6, atol=1e-6)


def test_predict_leaves_out_n_skip_steps_of_each_window_only_without_whole_windows():
    dls = create_dls(record(600), record(300, 1), bs=2, win_sz=60, sub_seq_len=20)
    lrn = RNNLearner(dls, "gru", 6, sub_seq_len=20, seed=0, progress=False, n_skip=5)
    pred, targ = lrn.predict()
    whole, whole_targ = lrn.predict(whole_windows=True)
    assert pred.shape == targ.shape == (5 * 55, 1)  # 5 windows of 60 steps, 5 skipped in each
    # the same steps, in the loader's order (sub-window by sub-window) rather than window by window
    assert torch.equal(pred.flatten().sort()[0], whole[:, 5:].flatten().sort()[0])
    assert torch.equal(targ.flatten().sort()[0], whole_targ[:, 5:].flatten().sort()[0])


class Count(Callback):
    def __init__(self):
        self.calls = {"before_batch": 0, "after_batch": 0}

    def before_batch(self, learn):
        self.calls["before_batch"] += 1

    def after_batch(self, learn):
        self.calls["after_batch"] += 1
        assert learn.pred.shape[:2] == learn.batch.y.shape[:2]  # the batch's predictions


def test_predict_runs_the_callbacks_around_every_validation_batch():
    dls = create_dls(record(600), record(300, 1), bs=2, win_sz=60, sub_seq_len=20)
    count = Count()
    lrn = RNNLearner(dls, "gru", 6, sub_seq_len=20, seed=0, progress=False, cbs=[count])
    lrn.predict()
    assert len(dls.valid) == 9  # 5 windows in batches of 2: 3 batches x 3 sub-windows
    assert count.calls == {"before_batch": 9, "after_batch": 9}


class SeenGrads(Callback):
    """The gradients the learner's own step leaves, after each sub-window of run_windows."""

    def __init__(self):
        self.seen = []

    def after_batch(self, learn):
        self.seen.append([p.grad.clone() for p in learn.model.parameters()])


@pytest.mark.parametrize("sub_seq_len", [None, 20])
def test_run_windows_sees_only_its_own_gradients_and_restores_the_ones_it_found(sub_seq_len):
    torch.manual_seed(0)
    model = StatefulRNN(hidden_size=6, stateful=sub_seq_len is not None)
    u, y = (torch.from_numpy(a)[None].repeat(2, 1, 1) for a in record(60))
    dls = create_dls(record(600), record(300, 1), bs=2, win_sz=60, sub_seq_len=sub_seq_len)
    seen = SeenGrads()
    lrn = Learner(dls, model, BPTT.of(sub_seq_len), cbs=[TbpttResetCB(), seen])
    lrn.run_windows(u, y)  # a clean run: no gradients before
    clean, seen.seen = seen.seen, []
    left = [torch.full_like(p, 7.0) for p in model.parameters()]
    for p, g in zip(model.parameters(), left):
        p.grad = g
    lrn.run_windows(u, y)
    assert len(seen.seen) == len(clean) == (3 if sub_seq_len else 1)
    for after_clean, after_left in zip(clean, seen.seen, strict=True):
        for a, b in zip(after_clean, after_left, strict=True):
            torch.testing.assert_close(b, a, rtol=0, atol=0)  # nothing of the 7s leaked in
    assert all(p.grad is g for p, g in zip(model.parameters(), left))  # the found ones, back
    assert all(torch.all(g == 7.0) for g in left)  # and untouched
