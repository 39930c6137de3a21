"""core/streams.py: ``bs`` rows that each read whole records, one sub-window at a time.

Rows continue from batch to batch; a row resets exactly where one of its records starts;
a record that ends inside a sub-window is padded and masked; shuffling moves whole records,
never steps; the rows are balanced; and the state a loop carries along a row goes on
across batches, stops at a reset, and is detached at every batch boundary."""

import numpy as np
import pytest
import torch

from tbptt_kit.core.model import StatefulRNN, detach_state, reset_rows
from tbptt_kit.core.streams import StreamDataset, StreamLoader, pack_records
from tbptt_kit.data.loaders import stream_pieces

LENGTHS = [23, 7, 40, 5, 18, 31, 12]
K = 6  # sub_seq_len


def tagged_records(lengths=LENGTHS):
    """Record r's u at step t is 1000 r + t (exact in float32), y = -u: every sample says
    where it came from."""
    return [
        ((1000.0 * r + np.arange(n)), -(1000.0 * r + np.arange(n))) for r, n in enumerate(lengths)
    ]


def dataset(records):
    return StreamDataset(
        [np.asarray(u, np.float32).reshape(len(u), -1) for u, _ in records],
        [np.asarray(y, np.float32).reshape(len(y), -1) for _, y in records],
    )


def loader(records=None, bs=3, sub_seq_len=K, **kw):
    return StreamLoader(
        dataset(tagged_records() if records is None else records), bs, sub_seq_len, **kw
    )


def real_tags(batch):
    """Per row, the (record, step) of its real (unmasked) samples in this batch."""
    mask = batch.mask if batch.mask is not None else torch.ones(batch.u.shape[:2], dtype=bool)
    rows = []
    for j in range(batch.u.shape[0]):
        tags = batch.u[j, mask[j], 0].long().tolist()
        rows.append([(t // 1000, t % 1000) for t in tags])
    return rows


def rows_of_epoch(batches):
    """Per row, every real sample of the epoch in time order."""
    rows = [[] for _ in range(batches[0].u.shape[0])]
    for b in batches:
        for j, tags in enumerate(real_tags(b)):
            rows[j] += tags
    return rows


# -- the layout --------------------------------------------------------------------------
def test_every_row_continues_its_stream_and_resets_exactly_where_a_record_starts():
    batches = list(loader(bs=3))
    assert len(batches) == len(loader(bs=3)) and batches[0].reset.all()
    assert not any(b.reset.all() for b in batches[1:])
    assert all(b.sub_idx is None for b in batches)  # no windows in the stream layout
    for i, b in enumerate(batches):
        assert b.u.shape == (3, K, 1) and b.reset.dtype == torch.bool
        for j, tags in enumerate(real_tags(b)):
            if not tags:  # an all-padding sub-window: the row's stream has ended
                assert not b.reset[j]
                assert all(not real_tags(later)[j] for later in batches[i:])
                continue
            # within a batch, consecutive steps of one record
            assert tags == [(tags[0][0], tags[0][1] + s) for s in range(len(tags))]
            starts_record = tags[0][1] == 0
            assert bool(b.reset[j]) == (i == 0 or starts_record)
            if i > 0 and not b.reset[j]:  # the continuation of the previous batch's row j
                prev = real_tags(batches[i - 1])[j]
                assert prev[-1] == (tags[0][0], tags[0][1] - 1) and len(prev) == K


def test_a_record_ending_inside_a_sub_window_is_padded_with_zeros_and_masked():
    batches = list(loader(bs=3))
    for b in batches:
        if b.mask is None:
            continue
        assert b.mask.shape == b.u.shape[:2] and b.mask.dtype == torch.bool
        assert (b.u[..., 0][~b.mask] == 0).all() and (b.y[..., 0][~b.mask] == 0).all()
        for j in range(b.u.shape[0]):  # the padding is the end of the row's sub-window
            n = int(b.mask[j].sum())
            assert b.mask[j].tolist() == [True] * n + [False] * (K - n)
            if 0 < n < K:  # the record ends here
                r, t = real_tags(b)[j][-1]
                assert t == LENGTHS[r] - 1
    assert any(b.mask is not None for b in batches)
    assert next(iter(loader(records=tagged_records([12, 12]), bs=2))).mask is None  # all real


def test_each_row_reads_whole_records_in_the_given_order_and_the_rows_are_balanced():
    rows = rows_of_epoch(list(loader(bs=3)))
    seen = []
    for row in rows:
        order = [r for r, t in row if t == 0]
        assert row == [(r, t) for r in order for t in range(LENGTHS[r])]  # whole, in time order
        assert order == sorted(order)  # the validation order: as given
        seen += order
    assert sorted(seen) == list(range(len(LENGTHS)))  # every record once, in one row
    batches = list(loader(bs=3))
    used = [sum(bool(real_tags(b)[j]) for b in batches) for j in range(3)]
    assert max(used) - min(used) <= max(-(-n // K) for n in LENGTHS)  # packed, not piled


def test_records_are_packed_longest_first_each_to_the_emptiest_row():
    # sub-windows of 3: A 3, B 3, C 3, D 2, E 1 (the docstring's picture)
    rows, n_batches = pack_records([8, 7, 9, 4, 2], range(5), bs=3, sub_seq_len=3)
    assert rows == [[(0, 0, 3), (3, 0, 2)], [(1, 0, 3), (4, 0, 1)], [(2, 0, 3)]]
    assert n_batches == 5
    # ties keep the given order; each row then reads its records in that order
    rows, _ = pack_records([4, 4, 4, 4], [3, 1, 2, 0], bs=2, sub_seq_len=4)
    assert rows == [[(3, 0, 1), (2, 0, 1)], [(1, 0, 1), (0, 0, 1)]]


def record_order(batches):
    """The records in the order the epoch lays them out; asserts each is whole and in order."""
    seq = sum(rows_of_epoch(batches), [])
    order = [r for r, t in seq if t == 0]
    assert seq == [(r, t) for r in order for t in range(LENGTHS[r])]
    return order


def test_shuffling_reorders_whole_records_never_steps_and_is_seeded():
    ld = loader(bs=3, shuffle=True, seed=1)
    orders = [record_order(list(ld)) for _ in range(4)]
    assert all(sorted(o) == list(range(len(LENGTHS))) for o in orders)
    assert len({tuple(o) for o in orders}) > 1  # a new order between epochs
    again = loader(bs=3, shuffle=True, seed=1)
    assert [record_order(list(again)) for _ in range(4)] == orders
    assert all(len(list(ld)) == len(ld) for _ in range(3))  # same number of steps every epoch


def test_a_stream_loader_reads_records_in_order_unless_told_to_shuffle_with_seed_0():
    ds = dataset(tagged_records([30] * 8))
    assert StreamLoader(ds, 2, 10).order() == list(range(8))
    assert StreamLoader(ds, 2, 10).order() == list(range(8))  # every epoch
    shuffled = StreamLoader(ds, 2, 10, shuffle=True).order()
    assert sorted(shuffled) == list(range(8)) and shuffled != list(range(8))
    assert shuffled == StreamLoader(ds, 2, 10, shuffle=True, seed=0).order()


# -- what no record may suffer: a cut, a jump, a reset elsewhere than at its start ----------
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


@pytest.mark.parametrize(
    "lengths, bs, k",
    [
        ([8, 7, 9, 4, 2], 3, 3),
        ([95, 205, 17, 60, 60, 33], 2, 50),
        ([40] * 7, 3, 16),
        ([5000, 40, 40, 40], 4, 64),
    ],
)
def test_no_record_is_cut_every_reset_is_a_record_start(lengths, bs, k):
    for shuffle, seed in [(False, 0), (True, 0), (True, 1)]:
        ld = StreamLoader(dataset(toy_records(lengths)), bs, k, shuffle=shuffle, seed=seed)
        assert record_cuts(ld) == []
        seen = {int(b.u[row, 0, 0]) for b in ld for row in range(bs) if b.reset[row]}
        assert seen == set(range(1, len(lengths) + 1))  # every record, once started


def test_the_control_cutting_records_fails_the_check():
    cut = StreamLoader(dataset(toy_records([8, 7, 9, 4, 2])), 3, 3, pack=stream_pieces)
    assert any("first seen at its sample" in p for p in record_cuts(cut))


def test_rows_are_balanced_and_the_epoch_length_does_not_depend_on_the_order():
    lengths, bs, k = [95, 205, 17, 60, 60, 33, 120], 3, 10
    ld = StreamLoader(dataset(toy_records(lengths)), bs, k, shuffle=True)
    assert {len(list(ld)) for _ in range(5)} == {len(ld)}
    subs = sorted(-(-n // k) for n in lengths)
    assert len(ld) < sum(subs) // bs + max(subs)  # a greedy packing's bound, not one row
    assert ld.ds.stream_len == len(ld) * k  # the stream: its batches x sub_seq_len steps


# -- the loader's options ------------------------------------------------------------------
def test_max_batches_ends_the_epoch_early_without_changing_the_stream():
    full, short = loader(bs=3), loader(bs=3, max_batches=4)
    assert len(short) == 4 == len(list(short)) and len(full) > 4
    for a, b in zip(full, short):
        assert torch.equal(a.u, b.u) and torch.equal(a.reset, b.reset)
    assert len(loader(bs=3, max_batches=10_000)) == len(full)  # never longer


class CountingSignal:
    """A record that counts its reads (as a lazy HDF5 signal would be read)."""

    def __init__(self, x, reads):
        self.x, self.reads, self.shape, self.dtype = x, reads, x.shape, x.dtype

    def __len__(self):
        return len(self.x)

    def __getitem__(self, t):
        self.reads.append(t.stop - t.start)
        return self.x[t]


@pytest.mark.parametrize("read_ahead", [1, 2, 5])
def test_read_ahead_sub_windows_are_read_at_a_time_and_the_batches_are_the_same(read_ahead):
    reads, records = [], tagged_records([40, 31])
    ds = dataset(records)
    lazy = StreamDataset([CountingSignal(u, reads) for u in ds.u], ds.y)
    got = list(StreamLoader(lazy, 2, 4, read_ahead=read_ahead))
    want = list(StreamLoader(ds, 2, 4))
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert torch.equal(a.u, b.u) and torch.equal(a.reset, b.reset)
    assert max(reads) <= read_ahead * 4 and sum(reads) == 71  # every sample read once


def test_batches_are_on_the_loaders_device():
    batch = next(iter(loader(bs=3, device="meta")))
    tensors = [batch.u, batch.y, batch.reset] + ([batch.mask] if batch.mask is not None else [])
    assert {t.device.type for t in tensors} == {"meta"}
    assert loader().layout == "streams"


# -- the state a loop carries along a row ----------------------------------------------------
def scaled():
    """Records A (8), B (8), C (16) over bs 2, sub_seq_len 4, packed longest first: row 0 is C
    throughout, row 1 is A then B (B starts at batch 2)."""
    rng = np.random.default_rng(0)
    recs = [(rng.standard_normal(n), rng.standard_normal(n)) for n in (8, 8, 16)]
    batches = list(StreamLoader(dataset(recs), bs=2, sub_seq_len=4))
    assert [b.reset.tolist() for b in batches] == [
        [True, True],
        [False, False],
        [False, True],
        [False, False],
    ]
    return batches


def run(model, batches, use_reset=True):
    """The loop's reset, carry, detach over ``batches``: each batch's predictions."""
    state, outs = None, []
    for b in batches:
        if use_reset:
            state = reset_rows(state, b.reset)
        y, state = model(b.u, state)
        state = detach_state(state)
        outs.append(y)
    return outs


def perturbed(batches, i):
    changed = list(batches)
    changed[i] = changed[i]._replace(u=changed[i].u + 1.0)
    return changed


@pytest.fixture
def model():
    torch.manual_seed(0)
    return StatefulRNN(hidden_size=8)


def test_the_state_carries_across_batches_and_never_across_a_reset(model):
    batches = scaled()
    with torch.no_grad():
        base = run(model, batches)
        after = run(model, perturbed(batches, 1))
        after0 = run(model, perturbed(batches, 0))
        leaky = run(model, perturbed(batches, 1), use_reset=False)
    # batch 2: row 0 continues C, so it sees batch 1's change; row 1 starts B from zeros
    assert not torch.allclose(after[2][0], base[2][0])
    torch.testing.assert_close(after[2][1], base[2][1], rtol=0, atol=0)
    assert not torch.allclose(leaky[2][1], base[2][1])  # the control: no reset, B sees A
    # batch 1 continues batch 0 in both rows
    assert not torch.allclose(after0[1][0], base[1][0])
    assert not torch.allclose(after0[1][1], base[1][1])


def test_a_reset_zeroes_only_its_rows(model):
    batches = scaled()
    with torch.no_grad():
        with_reset = run(model, batches)
        without = run(model, batches, use_reset=False)
        fresh, _ = model(batches[2].u[1:2])  # row 1 of batch 2 from a zero state
    torch.testing.assert_close(with_reset[2][0], without[2][0], rtol=0, atol=0)  # untouched
    torch.testing.assert_close(with_reset[2][1], fresh[0], rtol=0, atol=1e-7)  # from zeros
    assert not torch.allclose(with_reset[2][1], without[2][1])


@pytest.mark.parametrize("detach", [True, False])
def test_no_gradient_reaches_the_previous_batch_when_the_state_is_detached(model, detach):
    batches = scaled()
    u0 = batches[0].u.clone().requires_grad_()
    _, state = model(u0)
    state = detach_state(state) if detach else state  # the control: without the detach
    y, _ = model(batches[1].u, reset_rows(state, batches[1].reset))
    (grad,) = torch.autograd.grad(y.abs().mean(), u0, allow_unused=True)
    if detach:
        assert grad is None
    else:  # the gradient flows back into batch 0, every row
        assert grad is not None and (grad.abs().sum(dim=(1, 2)) > 0).all()


def test_by_default_a_row_reads_32_sub_windows_at_a_time():
    reads, ds = [], dataset(tagged_records([200, 150]))
    lazy = StreamDataset([CountingSignal(u, reads) for u in ds.u], ds.y)
    list(StreamLoader(lazy, 2, 2))
    assert max(reads) == 32 * 2 and sum(reads) == 350
