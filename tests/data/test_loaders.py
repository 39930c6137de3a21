"""data/loaders.py: ``create_dls`` and ``create_stream_dls`` read, check and measure the
records, and hand them to the core's loaders; ``stream_pieces`` cuts them into equal
streams (text), ``record_places`` says where each record lies, ``streaming_normalizer``
measures them in one pass. Whatever they cannot do exactly they refuse, by name."""

import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
import torch

from tbptt_kit import create_dls, create_stream_dls
from tbptt_kit.core.streams import StreamDataset, StreamLoader
from tbptt_kit.data.hdf5 import HDF5Signals, write_record
from tbptt_kit.data.loaders import (
    Normalizer,
    WindowDataset,
    check_channels,
    check_records,
    record_places,
    stream_pieces,
    streaming_normalizer,
)


def record(n, seed=0, n_u=1, n_y=1):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((n, n_u)).astype(np.float32)
    y = np.stack([np.convolve(u[:, 0], [0.5, 0.3, 0.2])[:n] * (k + 1) for k in range(n_y)], 1)
    return u, y.astype(np.float32)


def three_d(n=20):
    return np.zeros((n, 1, 1), np.float32)  # neither (T,) nor (T, n): refused, by name


# -- create_dls: windows ---------------------------------------------------------------------
def test_create_dls_hands_out_the_windows_and_the_training_statistics():
    train, valid = record(300), record(200, 1)
    dls = create_dls(train, valid, {"t": record(90, 2)}, bs=4, win_sz=50, stp_sz=25, sub_seq_len=10)
    assert dls.layout == "windows" and dls.win_sz == 50 and dls.sub_seq_len == 10
    assert (dls.n_u, dls.n_y) == (1, 1)
    assert len(dls.train.ds) == 11 and len(dls.valid.ds) == 4  # valid: back to back
    assert dls.train.shuffle and not dls.valid.shuffle
    want = Normalizer.from_records([train])
    for name in ("u_mean", "u_std", "y_mean", "y_std"):
        np.testing.assert_allclose(getattr(dls.norm, name), getattr(want, name))
    np.testing.assert_allclose(dls.norm.u_mean, train[0].astype(np.float64).mean(0), rtol=1e-12)
    batch = next(iter(dls.valid))
    assert batch.u.shape == (4, 10, 1) and batch.reset.all()


@pytest.mark.parametrize("name", ["win_sz", "stp_sz", "bs"])
def test_window_sizes_are_checked_by_name(name):
    kw = {"win_sz": 50, "stp_sz": 10, "bs": 4} | {name: 0}
    with pytest.raises(ValueError, match=f"^{name} must be an int >= 1, got 0"):
        create_dls(record(300), record(200, 1), **kw)


def test_win_sz_must_fit_the_shortest_of_unequal_records():
    long, short, valid = record(300), record(120, 1), record(200, 2)
    with pytest.raises(
        ValueError, match=r"win_sz=150 is longer than the shortest train record \(120"
    ):
        create_dls([long, short], valid, win_sz=150, stp_sz=50)
    dls = create_dls([long, short], valid, win_sz=120, stp_sz=60)
    assert len(dls.train.ds) == 4 + 1  # starts 0, 60, 120, 180 in the long one; 0 in the short


def test_a_nan_in_a_valid_target_names_valid_y():
    u, y = record(200)
    y_bad = y.copy()
    y_bad[17] = np.nan
    with pytest.raises(ValueError, match=r"valid y contains NaN or Inf \(first at sample 17\)"):
        create_dls((u, y), (u, y_bad), win_sz=50)


def test_a_channel_count_that_differs_from_train_is_refused():
    u, y = record(300)
    u2, y2 = record(300, n_u=2)
    with pytest.raises(ValueError, match=r"valid has \(n_u, n_y\) = \(2, 1\).*train has \(1, 1\)"):
        create_dls((u, y), (u2, y2), win_sz=50)
    with pytest.raises(ValueError, match=r"test 'rec' has .*\(1, 2\)"):
        create_dls((u, y), (u, y), {"rec": record(300, n_y=2)}, win_sz=50)


def test_a_constant_training_channel_is_refused():
    u, y = record(300, n_u=2)
    u[:, 1] = 3.0
    with pytest.raises(ValueError, match=r"train u channel 1 is constant \(std 0\)"):
        create_dls((u, y), (u, y), win_sz=50)


def test_window_checks_name_the_signal_they_refuse():
    u, y = record(40)
    with pytest.raises(ValueError, match=r"^train y must be 1-D"):
        check_channels([(u, three_d())], [], {})
    with pytest.raises(ValueError, match=r"^train u must be 1-D"):
        create_dls((three_d(40), y), (u, y), win_sz=10)
    with pytest.raises(ValueError, match=r"^test 't' y must be 1-D"):
        create_dls((u, y), (u, y), {"t": (u, three_d(40))}, win_sz=10)
    with pytest.raises(ValueError, match=r"^valid u must be 1-D"):
        create_dls((u, y), (three_d(40), y), win_sz=10)


def test_records_gives_every_record_whole_by_name():
    train = [record(200), record(150, 1)]
    dls = create_dls(train, record(120, 2), {"t": record(90, 3)}, win_sz=50)
    got = dls.records("train")
    assert list(got) == ["train", "train_1"]
    for (u, y), (want_u, want_y) in zip(got.values(), train, strict=True):
        assert np.array_equal(u, want_u) and np.array_equal(y, want_y)
    assert list(dls.records("valid")) == ["valid"] and list(dls.records("test")) == ["t"]
    with pytest.raises(
        ValueError, match=r"part='tests' is unknown: choose 'train', 'valid' or 'test'"
    ):
        dls.records("tests")


def test_windows_gives_the_first_n_and_stream_loaders_say_where_to_look_instead():
    dls = create_dls(record(300), record(200, 1), win_sz=50, stp_sz=50)
    u, y = dls.windows("valid", 2)
    assert u.shape == (2, 50, 1) and y.shape == (2, 50, 1)
    assert dls.windows("valid")[0].shape == (4, 50, 1)
    assert dls.windows("valid", 100)[0].shape == (4, 50, 1)  # no more than there are
    assert torch.equal(dls.windows("train", 1)[0], dls.train.ds[[0]][0])
    with pytest.raises(ValueError, match=r"part='test' is unknown: choose 'train' or 'valid'"):
        dls.windows("test")
    streams = create_stream_dls(record(200), record(100, 1), bs=1, sub_seq_len=10)
    with pytest.raises(
        ValueError, match=r"^stream loaders have no windows: use records\(part\) instead"
    ):
        streams.windows("valid")


@pytest.mark.parametrize("layout", ["windows", "streams"])
def test_every_tensor_of_a_batch_is_on_the_loaders_device(layout):
    # "meta" tensors have a device but no data: a move to it is seen without a GPU
    if layout == "windows":
        dls = create_dls(record(300), record(200, 1), win_sz=50, sub_seq_len=25)
    else:
        dls = create_stream_dls(
            [record(95), record(60, 1)], record(100, 1), bs=2, valid_bs=1, sub_seq_len=20
        )
    assert dls.to("meta") is dls
    for loader in (dls.train, dls.valid):
        batch = next(iter(loader))
        tensors = [batch.u, batch.y] + [t for t in (batch.reset, batch.mask) if t is not None]
        assert {t.device.type for t in tensors} == {"meta"}


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
    assert streams.sub_seq_len == 20 and streams.layout == "streams"


# -- create_stream_dls ----------------------------------------------------------------------
def test_create_stream_dls_keeps_the_test_records_whole():
    test = {"a": record(333, 5), "b": record(57, 6)}
    dls = create_stream_dls(
        record(200), record(100, 1), test, bs=2, sub_seq_len=10, cut_records=True
    )
    assert sorted(dls.test) == ["a", "b"]
    for name, (u, y) in test.items():
        got_u, got_y = dls.test[name]
        assert np.array_equal(got_u, u) and np.array_equal(got_y, y)


def test_stream_training_shuffles_its_records_every_epoch_validation_never():
    recs = [record(30, seed) for seed in range(8)]
    dls = create_stream_dls(recs, recs, bs=2, sub_seq_len=10, seed=3)
    train_orders = [dls.train.order() for _ in range(4)]
    assert all(sorted(o) == list(range(8)) for o in train_orders)
    assert len({tuple(o) for o in train_orders}) > 1  # reshuffled each epoch
    assert all(dls.valid.order() == list(range(8)) for _ in range(4))
    again = create_stream_dls(recs, recs, bs=2, sub_seq_len=10, seed=3)
    assert [again.train.order() for _ in range(4)] == train_orders  # the seed: the same orders


def test_stream_errors_name_the_part_of_the_data_they_are_about():
    empty = (np.zeros(0, np.float32), np.zeros(0, np.float32))
    with pytest.raises(ValueError, match="valid record 1 is empty"):
        create_stream_dls(
            record(200), [record(100, 1), empty], bs=2, sub_seq_len=10, cut_records=True
        )
    with pytest.raises(ValueError, match="train record 0 is empty"):
        check_records([0], [0], sub_seq_len=10)
    with pytest.raises(
        ValueError, match="the stream layout needs at least one valid record, got none"
    ):
        check_records([], [], sub_seq_len=10, what="valid")
    with pytest.raises(ValueError, match=r"^valid record 0 u must be 1-D"):
        create_stream_dls(record(200), (three_d(), record(20)[1]), bs=1, sub_seq_len=10)
    with pytest.raises(ValueError, match=r"^test 'a' record 0 u must be 1-D"):
        create_stream_dls(
            record(200), record(100, 1), {"a": (three_d(), record(20)[1])}, bs=1, sub_seq_len=10
        )


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


def test_fewer_records_than_rows_is_refused_with_the_way_out():
    recs = [record(100), record(100, 1)]
    with pytest.raises(
        ValueError, match=r"bs=3 rows need at least 3 train records.*cut_records=True"
    ):
        create_stream_dls(recs, recs, bs=3, sub_seq_len=10)
    cut = create_stream_dls(recs, recs, bs=3, sub_seq_len=10, cut_records=True)
    assert len(cut.train) == 7  # 20 sub-windows in 3 streams: 6, 7, 7


def test_max_batches_shortens_the_training_epoch_only():
    recs = [record(2000)]
    dls = create_stream_dls(recs, recs, bs=2, sub_seq_len=10, max_batches=7, cut_records=True)
    assert len(dls.train) == 7 == len(list(dls.train)) and len(dls.valid) == 100
    with pytest.raises(ValueError, match="max_batches must be an int >= 1, got 0"):
        create_stream_dls(recs, recs, bs=2, sub_seq_len=10, max_batches=0, cut_records=True)


# -- stream_pieces: the language-model cut ----------------------------------------------------
def test_stream_pieces_lays_the_records_end_to_end_in_bs_equal_streams():
    # sub-windows of 3: 3, 3, 3, 2, 1 = 12 in 3 streams of 4
    pieces, n_batches = stream_pieces([8, 7, 9, 4, 2], range(5), bs=3, sub_seq_len=3)
    assert pieces == [
        [(0, 0, 3), (1, 0, 1)],
        [(1, 1, 3), (2, 0, 2)],
        [(2, 2, 3), (3, 0, 2), (4, 0, 1)],
    ]
    assert n_batches == 4
    for row in pieces:  # every sub-window once, in order
        assert sum(c1 - c0 for _, c0, c1 in row) == 4
    pieces, n_batches = stream_pieces([10], [0], bs=3, sub_seq_len=1)  # 10 in 3: 3, 3, 4
    assert pieces == [[(0, 0, 3)], [(0, 3, 6)], [(0, 6, 10)]] and n_batches == 4


def test_a_piece_that_goes_on_in_another_row_starts_from_zeros_there():
    u = np.arange(24.0)
    ds = StreamDataset([u[:, None].astype(np.float32)], [u[:, None].astype(np.float32)])
    batches = list(StreamLoader(ds, 2, 4, pack=stream_pieces))
    assert [b.reset.tolist() for b in batches] == [[True, True], [False, False], [False, False]]
    assert torch.equal(batches[0].u[:, 0, 0], torch.tensor([0.0, 12.0]))  # row 1: step 12


# -- record_places -------------------------------------------------------------------------
def test_record_places_says_at_which_row_and_step_each_record_starts():
    lengths = [35, 20, 50, 12]
    recs = [record(n, seed) for seed, n in enumerate(lengths)]
    loader = StreamLoader(StreamDataset([u for u, _ in recs], [y for _, y in recs]), 2, 10)
    u = torch.cat([batch.u for batch in loader], dim=1)  # (rows, steps, 1), time in order
    places = record_places(loader)
    assert sorted(places) == [0, 1, 2, 3]
    for r, (row, start) in places.items():
        assert isinstance(start, int) and start % 10 == 0  # a record starts a sub-window
        got = u[row, start : start + lengths[r]].numpy()
        assert np.array_equal(got, recs[r][0]), f"record {r} is not at row {row}, step {start}"
    order = [3, 1, 0, 2]
    shuffled = record_places(loader, order)
    assert sorted(shuffled) == [0, 1, 2, 3] and shuffled != places
    cut = StreamLoader(loader.ds, 2, 10, pack=stream_pieces)
    with pytest.raises(ValueError, match="record_places needs whole records per row"):
        record_places(cut)


# -- streaming_normalizer ----------------------------------------------------------------------
def test_streaming_statistics_equal_the_whole_records():
    recs = [record(n, seed, n_u=2) for seed, n in enumerate((1000, 37, 500))]
    ds = StreamDataset([u for u, _ in recs], [y for _, y in recs])
    want = Normalizer.from_records(recs)
    for block in (1, 7, 64, 10_000):
        got = streaming_normalizer(ds, block=block)
        for name in ("u_mean", "u_std", "y_mean", "y_std"):
            np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-10)


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


# -- HDF5 records, read lazily -----------------------------------------------------------------
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
    assert isinstance(eager.train.ds.u[0], np.ndarray) and mem.fs is None
    for _ in range(2):  # two shuffled epochs
        for split in ("train", "valid"):
            batches = [list(getattr(d, split)) for d in (lazy, eager, mem)]
            for a, b, c in zip(*batches, strict=True):
                for x, y, z in zip(a, b, c, strict=True):
                    if isinstance(x, torch.Tensor):
                        assert torch.equal(x, y) and torch.equal(x, z)
                    else:
                        assert x == y == z
    read = [(u.astype(np.float32), y) for u, y in arrays]  # the samples the model reads
    expected = Normalizer.from_records(read)
    for name in ("u_mean", "u_std", "y_mean", "y_std"):
        np.testing.assert_allclose(getattr(lazy.norm, name), getattr(expected, name), rtol=1e-10)
        np.testing.assert_allclose(getattr(mem.norm, name), getattr(expected, name), rtol=1e-10)


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


PEAK_SCRIPT = textwrap.dedent("""
    import sys, torch
    from tbptt_kit.data.loaders import create_stream_dls

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
            timeout=300,
        )
        return float(out.stdout.split()[-1])

    lazy, eager = grown("lazy"), grown("eager")
    print(f"peak grew by {lazy:.1f} MiB (lazy), {eager:.1f} MiB (in memory)")
    assert lazy < 15, f"the lazy loader grew the peak by {lazy:.1f} MiB"
    assert eager > 70, f"control: reading the record (train and valid) costs ~150 MiB: {eager:.1f}"


def test_window_dataset_of_the_loaders_is_the_cores():
    from tbptt_kit.core.windows import WindowDataset as CoreWindowDataset

    assert WindowDataset is CoreWindowDataset
