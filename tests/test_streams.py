"""The stream layout: rows continue, resets fall where records start, shuffling moves whole
records, TBPTT's state carries within a row and stops at a reset, and the lazy HDF5 loader
hands out the same batches as the in-memory one while holding only a few sub-windows."""

import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from tbptt_kit.data.hdf5 import write_record
from tbptt_kit.data.streams import (
    HDF5Signals,
    StreamDataset,
    StreamLoader,
    create_stream_dls,
    streaming_normalizer,
)
from tbptt_kit.data.windows import Normalizer, create_dls

LENGTHS = [23, 7, 40, 5, 18, 31, 12]
K = 6  # sub_seq_len


def tagged_records(lengths=LENGTHS):
    """Record r's u at step t is 1000 r + t (exact in float32), y = -u: every sample says
    where it came from."""
    return [
        ((1000.0 * r + np.arange(n)), -(1000.0 * r + np.arange(n))) for r, n in enumerate(lengths)
    ]


def loader(records=None, bs=3, shuffle=False, seed=0, **kw):
    records = tagged_records() if records is None else records
    ds = StreamDataset(
        [u[:, None].astype(np.float32) for u, _ in records],
        [y[:, None].astype(np.float32) for _, y in records],
    )
    return StreamLoader(ds, bs=bs, sub_seq_len=K, shuffle=shuffle, seed=seed, **kw)


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


def test_every_row_continues_its_stream_and_resets_exactly_where_a_record_starts():
    batches = list(loader(bs=3))
    assert len(batches) == len(loader(bs=3)) and batches[0].reset.all()
    assert not any(b.reset.all() for b in batches[1:])
    assert all(b.sub_idx is None for b in batches)  # no windows in the stream layout
    for i, b in enumerate(batches):
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


def test_one_stream_over_one_record_equals_the_window_layouts_sub_windows():
    rng = np.random.default_rng(0)
    u, y = rng.standard_normal((120, 2)), rng.standard_normal(120)
    windows = create_dls((u, y), (u, y), bs=1, win_sz=120, sub_seq_len=20)
    streams = create_stream_dls((u, y), (u, y), bs=1, sub_seq_len=20)
    for w, s in zip(list(windows.valid), list(streams.valid), strict=True):
        torch.testing.assert_close(s.u, w.u, rtol=0, atol=0)
        torch.testing.assert_close(s.y, w.y, rtol=0, atol=0)
        assert torch.equal(s.reset, w.reset) and (s.sub_idx, s.mask) == (None, None)
    assert streams.n_u == 2 and streams.n_y == 1 and streams.win_sz is None  # no windows
    assert streams.train.ds.stream_len == 120  # the stream: its batches x sub_seq_len steps
    assert streams.sub_seq_len == 20 and streams.train.layout == "streams"


class TinyStateful(nn.Module):
    """The smallest stateful RNN: carries its (h, c) across calls, detached unless told not
    to, and zeroes the rows a batch's reset mask names."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.rnn, self.head, self.state = nn.LSTM(1, 8, batch_first=True), nn.Linear(8, 1), None

    def reset_rows(self, rows):
        if self.state is not None:
            keep = (~rows).to(torch.float32)[None, :, None]
            self.state = tuple(s * keep for s in self.state)

    def forward(self, u, detach=True):
        out, state = self.rnn(u, self.state)
        self.state = tuple(s.detach() for s in state) if detach else state
        return self.head(out)


def run(model, batches, use_reset=True):
    model.state, outs = None, []
    for b in batches:
        if use_reset:
            model.reset_rows(b.reset)
        outs.append(model(b.u))
    return outs


def scaled():
    """Records A (8), B (8), C (16) over bs 2, sub_seq_len 4, packed longest first: row 0 is C
    throughout, row 1 is A then B (B starts at batch 2)."""
    rng = np.random.default_rng(0)
    recs = [(rng.standard_normal(n), rng.standard_normal(n)) for n in (8, 8, 16)]
    ds = StreamDataset(
        [u[:, None].astype(np.float32) for u, _ in recs],
        [y[:, None].astype(np.float32) for _, y in recs],
    )
    batches = list(StreamLoader(ds, bs=2, sub_seq_len=4))
    assert [b.reset.tolist() for b in batches] == [
        [True, True],
        [False, False],
        [False, True],
        [False, False],
    ]
    return batches


def perturbed(batches, i):
    changed = list(batches)
    changed[i] = changed[i]._replace(u=changed[i].u + 1.0)
    return changed


def test_the_state_carries_across_batches_and_never_across_a_reset():
    model, batches = TinyStateful(), scaled()
    with torch.no_grad():
        base = run(model, batches)
        after = run(model, perturbed(batches, 1))
    # batch 2: row 0 continues C, so it sees batch 1's change; row 1 starts B from zeros
    assert not torch.allclose(after[2][0], base[2][0])
    torch.testing.assert_close(after[2][1], base[2][1], rtol=0, atol=0)
    # batch 1 continues batch 0 in both rows
    after0 = run(model, perturbed(batches, 0))
    assert not torch.allclose(after0[1][0], base[1][0]) and not torch.allclose(
        after0[1][1], base[1][1]
    )


def test_a_reset_zeroes_only_its_rows():
    model, batches = TinyStateful(), scaled()
    with torch.no_grad():
        with_reset = run(model, batches)
        without = run(model, batches, use_reset=False)
        model.state = None
        fresh = model(batches[2].u[1:2])  # row 1 of batch 2 from a zero state
    torch.testing.assert_close(with_reset[2][0], without[2][0], rtol=0, atol=0)  # untouched
    torch.testing.assert_close(with_reset[2][1], fresh[0], rtol=0, atol=1e-7)  # from zeros
    assert not torch.allclose(with_reset[2][1], without[2][1])


@pytest.mark.parametrize("detach", [True, False])
def test_no_gradient_reaches_the_previous_batch_when_the_state_is_detached(detach):
    model, batches = TinyStateful(), scaled()
    u0 = batches[0].u.clone().requires_grad_()
    model.state = None
    model(u0, detach=detach)
    loss = model(batches[1].u).abs().mean()
    (grad,) = torch.autograd.grad(loss, u0, allow_unused=True)
    if detach:
        assert grad is None or (grad == 0).all()
    else:  # the control: without the detach, the gradient flows back into batch 0
        assert grad is not None and grad.abs().sum() > 0


def h5_records(tmp_path, lengths=(500, 130, 777, 64), seed=0):
    rng = np.random.default_rng(seed)
    paths, arrays = [], []
    for i, n in enumerate(lengths):
        sig = {
            "u0": rng.standard_normal(n).astype(np.float32),
            "u1": rng.standard_normal(n),
            "y0": rng.standard_normal(n).astype(np.float32),
        }
        write_record(tmp_path / f"r{i}.h5", sig, fs=100.0)
        paths.append(tmp_path / f"r{i}.h5")
        arrays.append((np.stack([sig["u0"], sig["u1"]], 1), sig["y0"]))
    return paths, arrays


def test_the_lazy_hdf5_loader_gives_the_in_memory_loaders_batches(tmp_path):
    paths, arrays = h5_records(tmp_path)
    kw = dict(bs=4, valid_bs=2, sub_seq_len=25, u_names=("u0", "u1"), seed=3, read_ahead=3)
    lazy = create_stream_dls(paths, paths[:2], **kw)
    eager = create_stream_dls(paths, paths[:2], lazy=False, **kw)
    mem = create_stream_dls(arrays, arrays[:2], **kw)
    assert isinstance(lazy.train.ds.u[0], HDF5Signals) and lazy.fs == 100.0 and lazy.n_u == 2
    for _ in range(2):  # two shuffled epochs
        for split in ("train", "valid"):
            batches = [list(getattr(d, split)) for d in (lazy, eager, mem)]
            for a, b, c in zip(*batches, strict=True):
                for x, y, z in zip(a, b, c, strict=True):
                    if isinstance(x, torch.Tensor):
                        assert torch.equal(x, y) and torch.equal(x, z)
                    else:
                        assert x == y == z
    expected = Normalizer.from_records(arrays)
    for name in ("u_mean", "u_std", "y_mean", "y_std"):
        np.testing.assert_allclose(getattr(lazy.norm, name), getattr(expected, name), rtol=1e-10)


def test_the_lazy_loader_reads_at_most_read_ahead_sub_windows_at_a_time(tmp_path, monkeypatch):
    paths, _ = h5_records(tmp_path, lengths=(20_000, 15_000))
    reads, read = [], HDF5Signals.__getitem__

    def counting(self, t):
        x = read(self, t)
        reads.append(len(x))
        return x

    monkeypatch.setattr(HDF5Signals, "__getitem__", counting)
    dls = create_stream_dls(paths, paths, bs=4, sub_seq_len=50, read_ahead=8, cut_records=True)
    reads.clear()  # (the statistics pass: whole records here, shorter than its block)
    n = sum(1 for _ in dls.train)
    assert max(reads) <= 8 * 50  # never more than read_ahead sub-windows of one row
    assert sum(reads) == 2 * 35_000  # every sample once, u and y
    assert len(reads) <= 2 * (n * 4 / 8 + 2 * 4)  # about one read per row per 8 batches
    ds = StreamDataset(
        [HDF5Signals(p, ["u0"]) for p in paths], [HDF5Signals(p, ["y0"]) for p in paths]
    )
    reads.clear()
    streaming_normalizer(ds, block=1000)
    assert max(reads) == 1000


PEAK_SCRIPT = textwrap.dedent("""
    import sys, torch
    from tbptt_kit.data.streams import create_stream_dls

    def peak_mib():  # VmHWM: this process's peak RSS (ru_maxrss would carry the parent's over exec)
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024

    torch.zeros(1)
    before = peak_mib()
    dls = create_stream_dls(sys.argv[1], sys.argv[1], bs=16, sub_seq_len=100,
                            lazy=sys.argv[2] == "lazy", cut_records=True)
    for i, b in enumerate(dls.train):
        if i == 300:
            break
    print(peak_mib() - before)
""")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_peak_memory_of_the_lazy_loader_is_far_below_the_record(tmp_path):
    n = 10_000_000  # 2 signals: 76 MiB of float32
    path = tmp_path / "long.h5"
    with h5py.File(path, "w") as f:
        f.attrs["fs"] = 1.0
        for name in ("u0", "y0"):
            d = f.create_dataset(name, shape=(n,), dtype=np.float32)
            for a in range(0, n, 1 << 20):
                d[a : a + (1 << 20)] = np.sin(np.arange(a, min(a + (1 << 20), n)) * 1e-3)

    def grown(mode):
        out = subprocess.run(
            [sys.executable, "-c", PEAK_SCRIPT, str(path), mode],
            capture_output=True,
            text=True,
            check=True,
        )
        return float(out.stdout.split()[-1])

    lazy, eager = grown("lazy"), grown("eager")
    print(f"peak grew by {lazy:.1f} MiB (lazy), {eager:.1f} MiB (in memory)")
    assert lazy < 15, f"the lazy loader grew the peak by {lazy:.1f} MiB"
    assert eager > 70, f"control: reading the record (train and valid) costs ~150 MiB: {eager:.1f}"


def test_bad_inputs_get_errors_that_name_the_parameter_and_what_would_be_valid(tmp_path):
    recs = [(np.arange(10.0), np.arange(10.0)), (np.arange(30.0), np.arange(30.0))]
    with pytest.raises(
        ValueError, match=r"sub_seq_len=31 is longer than every train record.*<= 30"
    ):
        create_stream_dls(recs, recs, bs=1, sub_seq_len=31)
    empty = [recs[0], (np.zeros(0), np.zeros(0))]
    with pytest.raises(ValueError, match="train record 1 is empty"):
        create_stream_dls(empty, recs, bs=1, sub_seq_len=5)
    with pytest.raises(ValueError, match=r"bs=9 is larger than .* 8 sub-windows .*bs <= 8"):
        create_stream_dls(recs, recs, bs=9, sub_seq_len=5, cut_records=True)
    with pytest.raises(ValueError, match=r"bs=3 rows need at least 3 train records.*bs <= 2"):
        create_stream_dls(recs, recs, bs=3, sub_seq_len=5)
    with pytest.raises(ValueError, match=r"valid_bs=3 rows need .* 1\. Choose valid_bs <= 1"):
        create_stream_dls(recs, recs[:1], bs=2, valid_bs=3, sub_seq_len=5)
    with pytest.raises(TypeError, match="bs must be an int"):
        create_stream_dls(recs, recs, bs=2.0, sub_seq_len=5)
    with pytest.raises(ValueError, match="sub_seq_len must be an int >= 1, got 0"):
        create_stream_dls(recs, recs, bs=2, sub_seq_len=0)
    with pytest.raises(ValueError, match="u and y differ in length"):
        create_stream_dls([(np.zeros(10), np.zeros(9))], recs, bs=1, sub_seq_len=5)
    with pytest.raises(ValueError, match="NaN or Inf"):
        create_stream_dls([(np.array([0.0, np.nan, 1.0]), np.zeros(3))], recs, bs=1, sub_seq_len=2)
    with pytest.raises(TypeError, match="HDF5 path, a .u, y. pair"):
        create_stream_dls([np.zeros(10)], recs, bs=1, sub_seq_len=5)
    path = tmp_path / "nan.h5"
    with h5py.File(path, "w") as f:
        f["u0"], f["y0"] = np.r_[np.zeros(40), np.inf, np.zeros(9)], np.zeros(50)
    with pytest.raises(ValueError, match="'u0' in .*nan.h5 is inf at sample 40"):
        list(create_stream_dls(recs, path, bs=1, sub_seq_len=5).valid)
    with pytest.raises(ValueError, match=r"names \['u9'\] not found"):
        create_stream_dls(path, path, bs=1, sub_seq_len=5, u_names=("u9",))
