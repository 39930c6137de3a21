"""Memory of one training step: measured, predicted, shown in the table, and budgeted."""

import contextlib
import io
import re

import matplotlib
import numpy as np
import pytest
import torch

from tbptt_kit import RNNLearner, create_dls
from tbptt_kit.core.model import StatefulRNN
from tbptt_kit.course.memory import (
    ActMemCB,
    MemoryBudgetExceeded,
    SavedTensorMeter,
    check_budget,
    estimate_memory,
    format_bytes,
    kernel_path,
    measure_memory,
    memory_sweep,
    parse_bytes,
    plot_memory_sweep,
    predict_step_memory,
)

matplotlib.use("Agg")
pytestmark = pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")
ONEDNN = torch.backends.mkldnn.is_available()


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: these small steps gain nothing from more, and busy CI machines
    make spin-waiting OpenMP threads very slow."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def windows(bs, win_sz, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    u, y = torch.randn(bs, win_sz, 1, generator=g), torch.randn(bs, win_sz, 1, generator=g)
    return u.to(device), y.to(device)


def lstm(hidden_size=40, num_layers=1, rnn_type="lstm", device="cpu"):
    torch.manual_seed(0)
    return StatefulRNN(1, 1, rnn_type, hidden_size, num_layers).to(device)


def activation(model, win_sz, sub_seq_len=None, bs=16):
    return measure_memory(model, windows(bs, win_sz), sub_seq_len=sub_seq_len, peak=False)


@pytest.fixture
def dls_factory():
    rng = np.random.default_rng(0)
    u = rng.standard_normal(6000).astype(np.float32)
    y = np.convolve(u, np.exp(-np.arange(20) / 5.0))[:6000].astype(np.float32)

    def make(win_sz=200, sub_seq_len=None, bs=8):
        return create_dls(
            (u[:5000], y[:5000]),
            (u[5000:], y[5000:]),
            bs=bs,
            win_sz=win_sz,
            stp_sz=win_sz,
            sub_seq_len=sub_seq_len,
        )

    return make


# -- the course's claim -------------------------------------------------------------------
@pytest.mark.parametrize("rnn_type", ["lstm", "rnn"])  # this machine's LSTM path, native cells
def test_full_bptt_memory_grows_linearly_with_the_window(rnn_type):
    model = lstm(rnn_type=rnn_type)
    short, long = activation(model, 500), activation(model, 5000)
    assert long.activation_bytes / short.activation_bytes == pytest.approx(10, rel=0.02)


def test_tbptt_memory_is_flat_in_the_window():
    short = activation(lstm(), 500, sub_seq_len=100)
    long = activation(lstm(), 5000, sub_seq_len=100)
    assert long.activation_bytes == short.activation_bytes
    assert (short.n_steps, long.n_steps) == (5, 50)
    assert long.activation_bytes < activation(lstm(), 200).activation_bytes  # 100 steps' worth


# -- prediction ---------------------------------------------------------------------------
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("rnn_type", ["lstm", "gru", "rnn"])
def test_estimate_is_within_10_percent_on_this_machines_path(rnn_type, num_layers):
    model = lstm(24, num_layers, rnn_type)
    for win_sz, sub in ((300, None), (600, 150)):
        report = activation(model, win_sz, sub, bs=8)
        assert report.path == kernel_path(rnn_type)  # predicted before, seen after
        predicted = estimate_memory(rnn_type, 24, num_layers, 8, win_sz, sub)
        assert predicted == pytest.approx(report.activation_bytes, rel=0.10)


@pytest.mark.skipif(not ONEDNN, reason="this PyTorch has no oneDNN")
def test_both_cpu_paths_of_the_lstm_are_reported_and_predicted():
    reports = {}
    for enabled in (True, False):
        with torch.backends.mkldnn.flags(enabled=enabled):
            reports[enabled] = report = activation(lstm(), 400, bs=8)
            predicted = estimate_memory("lstm", 40, 1, 8, 400, path=report.path)
        assert predicted == pytest.approx(report.activation_bytes, rel=0.10)
    assert (reports[True].path, reports[True].kernel) == ("onednn", "MkldnnRnnLayerBackward0")
    assert reports[False].path == "native"
    # oneDNN's workspace: about twice what the native cells keep
    assert 1.8 < reports[True].activation_bytes / reports[False].activation_bytes < 3


# -- the meter ----------------------------------------------------------------------------
def test_the_meter_counts_a_storage_once_and_leaves_out_the_batch():
    w = torch.randn(10, requires_grad=True)
    batch = torch.randn(4, 10)
    meter = SavedTensorMeter(exclude=[w])
    with meter.measuring(batch):
        e = (w * 2).exp()  # exp saves its output e: 40 bytes
        loss = e[:5].sin().sum() + e[5:].cos().sum()  # two views of e: no more
        loss = loss + (w * batch[1:3]).sum()  # mul saves w (parameter) and a batch view
    assert meter.nbytes == e.untyped_storage().nbytes() == 40
    loss.backward()


def test_peak_is_at_least_the_activation_memory_and_sane():
    report = measure_memory(lstm(), windows(16, 1000))
    assert report.activation_bytes <= report.peak_bytes < 3 * report.activation_bytes
    assert re.fullmatch(
        r"MemoryReport\(activation=[\d.]+ MiB, peak=[\d.]+ MiB, path='\w+' \(\w*\), "
        r"device='cpu', sub-windows=1\)",
        repr(report),
    )


def test_measuring_a_learner_runs_its_own_step_and_leaves_it_as_it_was(dls_factory):
    learn = RNNLearner(dls_factory(200, 50), "lstm", 16, sub_seq_len=50, progress=False)
    learn.hidden_state = state = (torch.ones(1, 8, 16), torch.ones(1, 8, 16))  # mid-run
    learn.model.eval()
    report = measure_memory(learn, peak=False)
    assert report.n_steps == 4  # the sub-windows of one batch of windows
    assert learn.hidden_state is state and not learn.model.training
    assert all(p.grad is None for p in learn.model.parameters())
    predicted = estimate_memory("lstm", 16, 1, 8, 200, 50)
    assert report.activation_bytes == pytest.approx(predicted, rel=0.10)
    # one (sub-)batch as the loader hands it out is one step
    assert measure_memory(learn, next(iter(learn.dls.train)), peak=False).n_steps == 1


def test_tbptt_k1_k2_holds_k2_steps(dls_factory):
    dls = dls_factory(200, 50)
    plain = measure_memory(RNNLearner(dls, sub_seq_len=50, progress=False), peak=False)
    k2 = RNNLearner(dls, sub_seq_len=50, backprop_len=100, progress=False)
    assert measure_memory(k2, peak=False).activation_bytes == pytest.approx(
        2 * plain.activation_bytes, rel=0.05
    )


def test_graph_len_is_what_memory_grows_with_in_any_mode(dls_factory):
    """sub_seq_len is truncated BPTT's sub-window; graph_len is the steps one optimizer
    step's graph holds in any mode (``BPTT.graph_len(win_sz)``): k2 under TBPTT(k1, k2),
    where the sub-window k1 would predict half the memory."""
    sizes = dict(rnn_type="lstm", hidden_size=16, num_layers=1, bs=8, win_sz=200)
    assert estimate_memory(**sizes, graph_len=50) == estimate_memory(**sizes, sub_seq_len=50)
    assert estimate_memory(**sizes, graph_len=200) == estimate_memory(**sizes)  # full BPTT
    dls = dls_factory(200, 50)
    learn = RNNLearner(dls, "lstm", 16, sub_seq_len=50, backprop_len=100, progress=False)
    measured = measure_memory(learn, peak=False).activation_bytes
    graph_len = learn.bptt.graph_len(200)
    assert graph_len == 100
    assert estimate_memory(**sizes, graph_len=graph_len) == pytest.approx(measured, rel=0.10)
    assert estimate_memory(**sizes, sub_seq_len=50) < 0.6 * measured  # k1: the wrong length
    # the budget guard predicts the mode's graph, not its sub-window
    learn.fit(1)
    assert learn.predicted_memory == sum(predict_step_memory(**sizes, graph_len=100).values())
    with pytest.raises(ValueError, match="not both: got sub_seq_len=50, graph_len=100"):
        estimate_memory(**sizes, sub_seq_len=50, graph_len=100)
    with pytest.raises(ValueError, match="graph_len must be an int >= 1 and <= 200, got 300"):
        estimate_memory(**sizes, graph_len=300)  # longer than the window: <= 200


# -- the progress table -------------------------------------------------------------------
def test_the_act_mem_column_shows_the_largest_step_of_each_epoch(dls_factory, capsys):
    learn = RNNLearner(dls_factory(200, 50), "lstm", 16, sub_seq_len=50, act_mem=True, seed=0)
    learn.fit(2)
    header = capsys.readouterr().out.strip().splitlines()[0].split()
    assert header[-2:] == ["act_mem", "time"]
    measured = measure_memory(learn, peak=False).activation_bytes
    assert [e["act_mem"] for e in learn.recorder.epochs] == [measured, measured]
    assert str(learn.recorder.epochs[0]["act_mem"]) == format_bytes(measured)
    methods = {n for n in dir(type(learn)) if callable(getattr(type(learn), n))}
    assert not methods & set(vars(learn))  # no method of the learner replaced on the instance


def test_act_mem_is_on_by_default_and_can_meter_every_step(dls_factory, capsys):
    dls = dls_factory(200, 50)
    learn = RNNLearner(dls, "gru", 8, sub_seq_len=50, progress=False)
    assert any(type(cb).__name__ == "ActMemCB" for cb in learn.cbs)
    every = RNNLearner(dls, "gru", 8, sub_seq_len=50, act_mem=False, cbs=[ActMemCB(True)])
    for lrn in (learn, every):
        lrn.fit(1)
    first_batch = learn.recorder.epochs[0]["act_mem"]
    assert (
        first_batch
        == every.recorder.epochs[0]["act_mem"]
        == estimate_memory("gru", 8, 1, 8, 200, 50)
    )


# -- the budget guard ---------------------------------------------------------------------
def test_fit_refuses_an_over_budget_run_before_allocating_anything(dls_factory):
    learn = RNNLearner(dls_factory(win_sz=1000), "lstm", 40, progress=False, max_memory="1 MiB")
    with pytest.raises(MemoryBudgetExceeded, match=r"exceeds the budget .*\(max_memory\)") as err:
        learn.fit(1)
    message = str(err.value)
    match = re.fullmatch(
        r"Predicted memory of one training step ([\d.]+ MiB) \(activations ([\d.]+ MiB), "
        r"gradients ([\d.]+ KiB), optimizer state ([\d.]+ KiB), batch ([\d.]+ KiB)\) exceeds "
        r"the budget of 1.0 MiB \(max_memory\)\. "
        r"Largest sub_seq_len dividing win_sz=1000 that fits: (\d+)\.",
        message,
    )
    assert match, message
    sizes = dict(rnn_type="lstm", hidden_size=40, num_layers=1, bs=8, win_sz=1000)
    parts = predict_step_memory(**sizes)
    assert match.group(2) == format_bytes(estimate_memory("lstm", 40, 1, 8, 1000))
    n_params = sum(p.numel() for p in learn.model.parameters())
    assert parts["gradients"] == 4 * n_params and parts["optimizer state"] == 8 * n_params
    assert match.group(3) == format_bytes(4 * n_params)
    assert match.group(5) == format_bytes(4 * 8 * 1000 * 2)  # one batch of windows, u and y
    assert match.group(1) == format_bytes(sum(parts.values()))
    best = int(match.group(6))
    assert (
        1000 % best == 0 and sum(predict_step_memory(**sizes, sub_seq_len=best).values()) <= 2**20
    )
    bigger = [d for d in range(best + 1, 1001) if 1000 % d == 0]
    assert sum(predict_step_memory(**sizes, sub_seq_len=bigger[0]).values()) > 2**20
    assert learn.opt is None  # refused before the optimizer was made
    # within budget (or the default budget), it trains
    RNNLearner(dls_factory(), "lstm", 8, progress=False, max_memory="1 GiB").fit(1)
    RNNLearner(dls_factory(), "lstm", 8, progress=False).fit(1)


def test_the_guard_refuses_full_bptt_on_100k_steps_under_binders_2_gib():
    sizes = dict(rnn_type="lstm", hidden_size=40, num_layers=1, bs=16, win_sz=100_000)
    # TBPTT: 4.5 MiB of activations, and the batch of windows itself (16 x 100k x 2 floats)
    assert check_budget("2 GiB", **sizes, sub_seq_len=100) < 4.6 * 2**20 + 16 * 100_000 * 8 + 2**16
    with pytest.raises(
        MemoryBudgetExceeded,
        match=r"step 4.4 GiB \(activations 4.4 GiB.*\) exceeds the budget of 2.0 GiB .* fits: \d+",
    ):
        check_budget("2 GiB", **sizes)


def test_bytes_read_and_written():
    assert parse_bytes("2 GiB") == parse_bytes("2GiB") == 2 * 2**30
    assert parse_bytes("500 MB") == 500 * 10**6 and parse_bytes(1024) == 1024
    assert format_bytes(3.1 * 2**30) == "3.1 GiB" and format_bytes(512) == "512 B"
    with pytest.raises(ValueError, match="2 GiB"):
        parse_bytes("lots")


# -- the sweep and its plot ---------------------------------------------------------------
def test_the_sweep_measures_and_predicts_full_and_truncated_bptt():
    rows = memory_sweep((100, 300), (100,), hidden_size=16, bs=4, peak=False)
    assert [(r.win_sz, r.sub_seq_len) for r in rows] == [
        (100, None),
        (100, 100),
        (300, None),
        (300, 100),
    ]
    assert all(r.predicted == pytest.approx(r.measured, rel=0.10) for r in rows)
    assert rows[3].measured == rows[1].measured < rows[2].measured
    with contextlib.redirect_stdout(io.StringIO()):
        ax = plot_memory_sweep(rows)
    assert len(ax.get_lines()) == 4  # predicted line and measured points, per mode


# -- CUDA ---------------------------------------------------------------------------------
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
@pytest.mark.cuda
def test_on_cuda_the_same_claims_hold_and_cudnn_is_reported():
    model = lstm(device="cuda")
    full = [measure_memory(model, windows(16, n, device="cuda")) for n in (500, 5000)]
    tbptt = [
        measure_memory(model, windows(16, n, device="cuda"), sub_seq_len=100) for n in (500, 5000)
    ]
    assert full[1].activation_bytes / full[0].activation_bytes == pytest.approx(10, rel=0.02)
    assert tbptt[0].activation_bytes == tbptt[1].activation_bytes
    assert all(r.peak_bytes >= r.activation_bytes for r in full + tbptt)
    assert full[0].path == "cudnn" and full[0].kernel.startswith("CudnnRnnBackward")


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("rnn_type", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("sub_seq_len", [None, 100])
def test_on_cuda_the_estimate_is_within_10_percent(rnn_type, sub_seq_len):
    torch.manual_seed(0)
    for hidden, layers, bs in ((40, 1, 16), (128, 1, 4), (40, 2, 16)):
        model = StatefulRNN(rnn_type=rnn_type, hidden_size=hidden, num_layers=layers).cuda()
        batch = windows(bs, 1000, device="cuda")
        report = measure_memory(model, batch, sub_seq_len=sub_seq_len, peak=False)
        assert report.path == "cudnn"
        predicted = estimate_memory(rnn_type, hidden, layers, bs, 1000, sub_seq_len, device="cuda")
        assert predicted == pytest.approx(report.activation_bytes, rel=0.10), (hidden, layers, bs)


def test_resident_memory_sees_a_freed_array_and_forgets_the_peak_on_reset():
    """(Moved from tests/test_mutants_core.py.)"""
    from tbptt_kit.course.memory import resident_memory

    resident_memory(reset_peak=True)
    big = np.ones(25_000_000)  # 200 MB, touched
    now_with, _ = resident_memory()
    del big
    now, peak = resident_memory()
    assert now_with - now > 150e6 and peak > now_with - 1e6  # freed; the peak remembers it
    now, peak = resident_memory(reset_peak=True)
    assert peak - now < 50e6 and peak < now_with - 150e6  # the peak starts again from now
