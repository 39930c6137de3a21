"""Behaviour the second ``make mutation`` run (2026-12-05, benchmarks/mutation.md) found unpinned.

The run drew a new seeded sample of mutants after issue 23's refactoring; each test here
fails on one or more of its survivors and passes on the code. Public API only.
"""

import numpy as np
import pytest
import torch
from test_mutants_core import record  # a (u, y) record of n samples: (n, 1) each

from tbptt_kit import BPTT, StatefulRNN, Truncation, create_dls, create_stream_dls
from tbptt_kit.data.streams import StreamDataset, StreamLoader, streaming_normalizer
from tbptt_kit.data.windows import Normalizer, WindowDataset, check_channels


def three_d(n=20):
    return np.zeros((n, 1, 1), np.float32)  # neither (T,) nor (T, n): refused, by name


# -- bptt.py --------------------------------------------------------------------------------
def test_a_checkpointed_chunk_must_divide_the_loaders_window():
    whole = create_dls(record(300), record(200, 1), win_sz=50)
    BPTT("checkpointed", 25).check_loaders(whole)
    with pytest.raises(ValueError, match="sub_seq_len=30 does not divide win_sz=50"):
        BPTT("checkpointed", 30).check_loaders(whole)


def test_a_randomized_mean_truncation_must_fit_the_loaders_window():
    cut = create_dls(record(300), record(200, 1), win_sz=50, sub_seq_len=10)
    BPTT.of(10, "randomized", truncation=Truncation(mean_len=50)).check_loaders(cut)
    with pytest.raises(ValueError, match=r"length 100 is longer than the window \(win_sz=50\)"):
        BPTT.of(10, "randomized", truncation=Truncation(mean_len=100)).check_loaders(cut)


def test_the_lab_slider_names_full_bptt_when_one_sub_window_is_the_window():
    assert BPTT.for_window(500, 500) == BPTT()
    assert BPTT.for_window(500, 100) == BPTT("truncated", 100)


def test_a_randomized_mode_keeps_its_truncation_and_counts_it_in_its_graph():
    truncation = Truncation(mean_len=16)
    bptt = BPTT.of(10, "randomized", truncation=truncation)
    assert bptt.truncation is truncation
    assert bptt.graph_len(500) == 10 + 16  # k1 + the mean truncation length
    assert bptt.graph_len(20) == 20  # never more than the window


def test_randomized_bptt_reaches_back_past_the_sub_window_truncated_never():
    """ARTBP runs the steps since its last cut again, so the loss of sub-window 2 has a
    gradient on sub-window 1's inputs; truncated BPTT's detach stops it at the boundary."""
    always_10 = Truncation(probs=(0,) * 9 + (1,))  # every truncation length is 10 steps
    reach = {}
    for bptt in (BPTT.of(5, "randomized", truncation=always_10), BPTT("truncated", 5)):
        torch.manual_seed(0)
        model = StatefulRNN(rnn_type="gru", hidden_size=4)
        u1, u2 = torch.randn(2, 5, 1, requires_grad=True), torch.randn(2, 5, 1)
        bptt.forward(model, u1)  # no cut within these 10 steps
        bptt.forward(model, u2).sum().backward()
        reach[bptt.mode] = u1.grad
    assert reach["truncated"] is None
    assert reach["randomized"] is not None and reach["randomized"].abs().min() > 0


def test_a_row_reset_under_randomized_bptt_starts_that_row_from_zeros_where_it_falls():
    """A stream row that starts a new record between two sub-windows: ARTBP re-runs the
    steps since its last cut, and the reset must fall at the right step of that re-run."""
    torch.manual_seed(0)
    model = StatefulRNN(rnn_type="lstm", hidden_size=4)
    bptt = BPTT.of(5, "randomized", truncation=Truncation(probs=(0,) * 14 + (1,)))
    u1, u2 = torch.randn(2, 5, 1), torch.randn(2, 5, 1)
    bptt.forward(model, u1)
    model.reset_state(rows=torch.tensor([True, False]))
    got = bptt.forward(model, u2)
    with torch.no_grad():
        fresh = model.forward_from(u2[:1])[0]  # row 0: a new record, from zeros
        carried = model.forward_from(torch.cat([u1, u2], 1)[1:])[0][:, 5:]  # row 1 goes on
    assert torch.allclose(got[:1], fresh, atol=1e-6)
    assert torch.allclose(got[1:], carried, atol=1e-6)


# -- data/windows.py ------------------------------------------------------------------------
def test_window_checks_name_the_signal_they_refuse():
    u, y = record(40)
    with pytest.raises(ValueError, match=r"^train y must be 1-D"):
        check_channels([(u, three_d())], [], {})
    with pytest.raises(ValueError, match=r"^u must be 1-D"):
        Normalizer.from_records([(three_d(), y)])
    with pytest.raises(ValueError, match=r"^y must be 1-D"):
        Normalizer.from_records([(u, three_d())])
    with pytest.raises(ValueError, match=r"^u must be 1-D"):
        WindowDataset([(three_d(40), y)], win_sz=10, stp_sz=10)


def test_windows_gives_the_first_n_and_stream_loaders_say_where_to_look_instead():
    dls = create_dls(record(300), record(200, 1), win_sz=50, stp_sz=50)
    u, y = dls.windows("valid", 2)
    assert u.shape == (2, 50, 1) and y.shape == (2, 50, 1)
    assert dls.windows("valid")[0].shape == (4, 50, 1)
    streams = create_stream_dls(record(200), record(100, 1), bs=1, sub_seq_len=10)
    with pytest.raises(ValueError, match=r"use records\(part\) instead"):
        streams.windows("valid")


# -- data/streams.py ------------------------------------------------------------------------
def test_stream_record_errors_name_valid_and_test_records():
    with pytest.raises(ValueError, match=r"^valid record 0 u must be 1-D"):
        create_stream_dls(record(200), (three_d(), record(20)[1]), bs=1, sub_seq_len=10)
    with pytest.raises(ValueError, match=r"^test 'a' record 0 u must be 1-D"):
        create_stream_dls(
            record(200), record(100, 1), {"a": (three_d(), record(20)[1])}, bs=1, sub_seq_len=10
        )


def test_streaming_statistics_hold_for_a_signal_with_a_tiny_mean():
    """Merged block by block, the mean and std equal the whole record's to float64 precision,
    also for a signal whose mean is far below 1 (a running mean started anywhere but 0 would
    lose it in rounding)."""
    rng = np.random.default_rng(0)
    u = (3e-9 + 1e-9 * rng.standard_normal((1000, 1))).astype(np.float32)
    y = (1e-12 * rng.standard_normal((1000, 1))).astype(np.float32)
    got = streaming_normalizer(StreamDataset([u], [y]), block=64)
    want = Normalizer.from_records([(u, y)])
    for name in ("u_mean", "u_std", "y_mean", "y_std"):
        assert np.allclose(getattr(got, name), getattr(want, name), rtol=1e-9, atol=0), name


def test_a_stream_loader_reads_records_in_order_unless_told_to_shuffle_with_seed_0():
    recs = [record(30, seed) for seed in range(8)]
    ds = StreamDataset([u for u, _ in recs], [y for _, y in recs])
    assert StreamLoader(ds, 2, 10).order() == list(range(8))
    assert StreamLoader(ds, 2, 10, shuffle=True).order() == (
        StreamLoader(ds, 2, 10, shuffle=True, seed=0).order()
    )


def test_places_says_at_which_row_and_step_each_record_starts_in_the_batches():
    lengths = [35, 20, 50, 12]
    recs = [record(n, seed) for seed, n in enumerate(lengths)]
    loader = StreamLoader(StreamDataset([u for u, _ in recs], [y for _, y in recs]), 2, 10)
    u = torch.cat([batch.u for batch in loader], dim=1)  # (rows, steps, 1), time in order
    places = loader.places()
    assert sorted(places) == [0, 1, 2, 3]
    for r, (row, start) in places.items():
        assert isinstance(start, int) and start % 10 == 0  # a record starts a sub-window
        got = u[row, start : start + lengths[r]].numpy()
        assert np.array_equal(got, recs[r][0]), f"record {r} is not at row {row}, step {start}"
