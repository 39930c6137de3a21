"""Signal records in the stream layout: whole, in order, reset only where they start.

- No record is cut: each record lies in one row, from its first sample to its last, in
  consecutive steps, and that row is reset exactly where it starts (nowhere else).
- Record order does not change a record's predictions when the per-row resets are on; with
  the resets off it does (the control).
- The per-row reset has the effect it is for: on records that start from rest, produced by a
  known system, the model that *is* that system predicts every step exactly with the resets
  and errs after each record boundary without them, most right after the boundary.
"""

import numpy as np
import pytest
import torch

import tbptt_kit as tk
from tbptt_kit.data.streams import StreamDataset, StreamLoader


def toy_records(lengths):
    """Record r is filled with r + 1 (its id), its time index in y."""
    return [
        (np.full((n, 1), r + 1, np.float32), np.arange(n, dtype=np.float32)[:, None])
        for r, n in enumerate(lengths)
    ]


def record_cuts(loader) -> list[str]:
    """Everything that breaks "whole records, in order, reset only at a record's start"."""
    problems, seen = [], {}  # record -> (row, next time index expected, last step)
    for i, b in enumerate(loader):
        ids, t = b.u[..., 0].long(), b.y[..., 0].long()
        mask = torch.ones_like(ids, dtype=torch.bool) if b.mask is None else b.mask
        for row in range(ids.shape[0]):
            real = mask[row].nonzero().flatten()
            if len(real) == 0:
                continue
            starts_here = int(t[row, real[0]]) == 0 and int(real[0]) == 0
            if bool(b.reset[row]) != starts_here:
                problems.append(
                    f"batch {i} row {row}: reset {bool(b.reset[row])}, record start {starts_here}"
                )
            for s in real.tolist():
                r, ti = int(ids[row, s]), int(t[row, s])
                step = i * b.u.shape[1] + s
                if r not in seen:
                    if ti != 0:
                        problems.append(f"record {r} first seen at its sample {ti}")
                    seen[r] = (row, ti + 1, step)
                    continue
                r_row, expected, last = seen[r]
                if r_row != row:
                    problems.append(f"record {r} continues in row {row}, began in row {r_row}")
                if ti != expected or step != last + 1:
                    problems.append(f"record {r} jumps at batch {i} row {row}")
                seen[r] = (row, ti + 1, step)
    return problems


CASES = [
    ([8, 7, 9, 4, 2], 3, 3),
    ([95, 205, 17, 60, 60, 33], 2, 50),
    ([40] * 7, 3, 16),
    ([5000, 40, 40, 40], 4, 64),
]


@pytest.mark.parametrize("lengths,bs,k", CASES)
def test_no_record_is_cut_every_reset_is_a_record_start(lengths, bs, k):
    recs = toy_records(lengths)
    for shuffle, seed in [(False, 0), (True, 0), (True, 1)]:
        loader = StreamLoader(
            StreamDataset(*map(list, zip(*recs))), bs, k, shuffle=shuffle, seed=seed
        )
        assert record_cuts(loader) == []
        seen = {int(b.u[row, 0, 0]) for b in loader for row in range(bs) if b.reset[row]}
        assert seen == set(range(1, len(lengths) + 1))  # every record, once started


def test_the_control_cutting_records_fails_the_check():
    recs = toy_records([8, 7, 9, 4, 2])
    cut = StreamLoader(StreamDataset(*map(list, zip(*recs))), 3, 3, cut_records=True)
    assert any("first seen at its sample" in p for p in record_cuts(cut))


def test_rows_are_balanced_and_the_epoch_length_does_not_depend_on_the_order():
    lengths, bs, k = [95, 205, 17, 60, 60, 33, 120], 3, 10
    loader = StreamLoader(
        StreamDataset(*map(list, zip(*toy_records(lengths)))), bs, k, shuffle=True
    )
    sizes = {len(list(loader)) for _ in range(5)}
    assert sizes == {len(loader)}
    subs = sorted(-(-n // k) for n in lengths)
    assert len(loader) < sum(subs) // bs + max(subs)  # a greedy packing's bound, not one row


def test_fewer_records_than_rows_is_refused_with_the_way_out():
    recs = toy_records([100, 100])
    with pytest.raises(
        ValueError, match=r"bs=3 rows need at least 3 train records.*cut_records=True"
    ):
        tk.create_stream_dls(recs, recs, bs=3, sub_seq_len=10)
    assert len(tk.create_stream_dls(recs, recs, bs=3, sub_seq_len=10, cut_records=True).train) == 7


# -- predictions by record ------------------------------------------------------------------
def by_record(learn, loader):
    """Each record's predictions, (T,), read from the rows and steps where the loader put it."""
    pred, _ = learn.predict(loader, whole_windows=True)  # (rows, steps, 1)
    return {
        r: pred[row, start : start + loader.lengths[r], 0]
        for r, (row, start) in loader.places().items()
    }


def signal_records(lengths, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for n in lengths:
        u = rng.standard_normal(n).astype(np.float32)
        out.append((u, np.convolve(u, [0.5, 0.3, 0.2])[:n].astype(np.float32)))
    return out


@pytest.mark.parametrize("resets", [True, False])
def test_record_order_changes_no_records_predictions_when_resets_are_on(resets):
    recs = signal_records([70, 45, 90, 30, 55, 64])
    order = [3, 5, 0, 4, 1, 2]
    learn = tk.RNNLearner(tk.create_stream_dls(recs, recs, bs=2, sub_seq_len=10), "gru", 8,
                          sub_seq_len=10, seed=0, progress=False)  # fmt: skip
    if not resets:  # the control
        learn.remove_cb(tk.TbpttResetCB)
    first = by_record(learn, tk.create_stream_dls(recs, recs, bs=2, sub_seq_len=10).valid)
    shuffled = [recs[r] for r in order]
    again = by_record(learn, tk.create_stream_dls(shuffled, shuffled, bs=2, sub_seq_len=10).valid)
    gaps = [float((first[r] - again[i]).abs().max()) for i, r in enumerate(order)]
    if resets:
        assert max(gaps) < 1e-6, gaps
    else:
        assert max(gaps) > 1e-3, gaps


# -- the reset's effect, on a system the model is exactly ------------------------------------
def true_system(seed=0):
    """A plain tanh RNN of 4 units with slow modes (memory of tens of steps)."""
    g = torch.Generator().manual_seed(seed)
    model = tk.StatefulRNN(1, 1, "rnn", hidden_size=4)
    with torch.no_grad():
        q, _ = torch.linalg.qr(torch.randn(4, 4, generator=g))
        model.rnn.weight_hh_l0.copy_(0.95 * q)  # near the edge: a state fades slowly
        model.rnn.weight_ih_l0.copy_(torch.randn(4, 1, generator=g))
        model.rnn.bias_hh_l0.zero_()
        model.rnn.bias_ih_l0.zero_()
        model.head.weight.copy_(torch.randn(1, 4, generator=g))
        model.head.bias.zero_()
    return model


@pytest.mark.parametrize("resets", [True, False])
def test_without_per_row_resets_a_record_from_rest_is_wrong_after_the_boundary(resets):
    system, rng = true_system(), np.random.default_rng(1)
    recs = []
    for n in [120, 80, 150, 100, 90, 130]:  # each record from rest: the system's zero state
        u = rng.standard_normal((n, 1)).astype(np.float32)
        with torch.no_grad():
            y = system.forward_from(torch.from_numpy(u)[None])[0][0].numpy()
        recs.append((u, y))
    dls = tk.create_stream_dls(recs, recs, bs=2, sub_seq_len=10)
    learn = tk.RNNLearner(dls, "rnn", 4, sub_seq_len=10, seed=0, progress=False)
    learn.model.load_state_dict(system.state_dict())  # the model is the system
    if not resets:  # the control
        learn.remove_cb(tk.TbpttResetCB)
    pred = by_record(learn, dls.valid)
    places = dls.valid.places()
    later = [r for r, (_, start) in places.items() if start > 0]  # records after another one
    assert len(later) >= 3
    err = np.stack(
        [(pred[r][:40] - torch.from_numpy(recs[r][1][:40, 0])).abs().numpy() for r in later]
    )
    if resets:
        assert err.max() < 1e-4
    else:
        assert err[:, :5].mean() > 0.05  # the previous record's state, right after the boundary
        assert err[:, :5].mean() > 3 * err[:, 30:40].mean()  # and it fades with the position
