"""CUDA graphs (tooling/cuda_graph.py, tooling/graphed_adam.py): the same training, replayed.

On a CPU: the callback changes nothing and says so in one line; a mode with its own carry
is named and runs eagerly; the flat wrapper gives the model's outputs; the carry replays
only what it captured; and the whole plumbing (the autograd node, the state buffers, the
gradients added into .grad, Adam's graph logic and its learning rate) trains exactly as
the plain loop does, with each CUDA graph replaced by a stand-in that runs again what it
recorded. On a CUDA GPU (``pytest -m cuda``): the real graphs, against eager training.
"""

import math

import numpy as np
import pytest
import torch

import tbptt_kit.tooling.graphed_adam as graphed_adam
from tbptt_kit import Callback, Learner, RNNLearner, create_dls, create_stream_dls
from tbptt_kit.core.model import StatefulRNN
from tbptt_kit.course.rnn_learner import adam
from tbptt_kit.modes import BPTT, Truncation
from tbptt_kit.tooling.cuda_graph import (
    CapturedWindow,
    CudaGraphCB,
    FlatModel,
    GraphedCarry,
)
from tbptt_kit.tooling.graphed_adam import MAX_CAPTURES, GraphedAdam, graphed_optimizer

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


# -- data and runs --------------------------------------------------------------------
def signal(n, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(n).astype(np.float32)
    y = np.convolve(u, np.exp(-np.arange(20) / 5.0))[:n].astype(np.float32)
    return u, y


def window_dls(sub_seq_len=20, n=1500, device="cpu", **kw):
    """Windows of 60 steps; an epoch's last batch holds fewer windows than the others."""
    u, y = signal(n)
    cut = n * 4 // 5
    kw = {"bs": 4, "win_sz": 60, "stp_sz": 22, **kw}
    return create_dls(
        (u[:cut], y[:cut]), (u[cut:], y[cut:]), sub_seq_len=sub_seq_len, device=device, **kw
    )


def stream_dls(device="cpu", bs=3, sub_seq_len=20):
    """Records of several lengths in rows: per-row resets and padded steps (masks)."""
    records = [signal(n, seed) for seed, n in enumerate((130, 75, 210, 95, 160, 55, 120))]
    return create_stream_dls(
        records[:5],
        records[5:],
        bs=bs,
        valid_bs=2,
        sub_seq_len=sub_seq_len,
        lazy=False,
        device=device,
    )


def weights(learn):
    return [p.detach().clone() for p in learn.model.parameters()]


def assert_same_training(a, b):
    assert a.recorder.losses == b.recorder.losses
    assert all(torch.equal(p, q) for p, q in zip(weights(a), weights(b)))


# -- on a CPU: nothing changes, and one line says why -----------------------------------
def test_on_a_cpu_the_callback_changes_nothing_and_says_so_in_one_line(capsys):
    runs = {}
    for flag in (False, True):
        learn = RNNLearner(
            window_dls(), "lstm", 8, sub_seq_len=20, seed=0, progress=False, cuda_graph=flag
        )
        learn.fit_flat_cos(2, lr=3e-3)
        runs[flag] = (learn, capsys.readouterr().out.splitlines())
    (plain, plain_out), (asked, asked_out) = runs[False], runs[True]
    assert_same_training(plain, asked)
    assert [line for line in asked_out if "CudaGraphCB" in line] == [
        "CudaGraphCB: the model is on cpu, not on a CUDA GPU: training runs eagerly, as without it."
    ]
    assert not [line for line in plain_out if "CudaGraphCB" in line]  # control
    assert asked.carry is None and asked.opt_func is adam and type(asked.opt) is torch.optim.Adam


@pytest.mark.parametrize(
    "bptt",
    [
        BPTT.of(sub_seq_len=20, backprop_len=40),
        BPTT.of(sub_seq_len=20, mode="checkpointed"),
        BPTT.of(sub_seq_len=20, mode="randomized", truncation=Truncation(mean_len=10, seed=0)),
    ],
    ids=lambda b: b.label,
)
def test_a_mode_with_its_own_carry_is_named_and_trains_eagerly(bptt, capsys):
    dls = window_dls(bptt.loader_sub_seq_len)
    runs = []
    for cbs in ([], [CudaGraphCB()]):
        learn = RNNLearner(dls, "gru", 8, bptt=bptt, seed=0, progress=False, cbs=cbs)
        learn.fit(1)
        runs.append(learn)
    assert_same_training(*runs)
    said = [line for line in capsys.readouterr().out.splitlines() if "CudaGraphCB" in line]
    assert said == [
        f"CudaGraphCB: {bptt.label} runs the model its own way (its carry): training runs "
        f"eagerly, as without it."
    ]


def test_the_plain_loop_is_not_taken_for_a_mode_with_a_carry(capsys):
    """Control for the test above: full and truncated BPTT have no carry of their own."""
    for sub in (None, 20):
        learn = Learner(window_dls(sub), StatefulRNN(hidden_size=8), cbs=[CudaGraphCB()])
        learn.fit(1)
        assert "not on a CUDA GPU" in capsys.readouterr().out


def test_cuda_graph_must_be_a_bool():
    with pytest.raises(TypeError, match=r"cuda_graph must be True or False, got 'yes' \(str\)"):
        RNNLearner(window_dls(), "lstm", 8, sub_seq_len=20, cuda_graph="yes")


# -- the flat wrapper -------------------------------------------------------------------
@pytest.mark.parametrize("rnn_type", ["lstm", "gru", "rnn"])
def test_the_flat_model_gives_the_models_outputs(rnn_type):
    torch.manual_seed(0)
    model = StatefulRNN(rnn_type=rnn_type, hidden_size=6, num_layers=2)
    flat = FlatModel(model)
    u = torch.randn(3, 7, 1)
    y0, state0 = model(u, None)
    y, *new = flat(u)  # no state: zeros, as None
    assert torch.equal(y, y0) and flat.state_is_tuple == (rnn_type == "lstm")
    assert all(torch.equal(a, b) for a, b in zip(new, state0 if rnn_type == "lstm" else [state0]))
    given = tuple(torch.randn_like(s) for s in new)
    y1, state1 = model(u, flat.state_of(given))
    y, *new = flat(u, *given)
    assert torch.equal(y, y1)
    assert all(torch.equal(a, b) for a, b in zip(new, state1 if rnn_type == "lstm" else [state1]))
    assert y.requires_grad and not any(s.requires_grad for s in new)  # the detach, inside
    if rnn_type == "lstm":  # control: h and c in the wrong order give another output
        assert not torch.equal(flat(u, given[1], given[0])[0], y1)


# -- the carry: what it replays ---------------------------------------------------------
class Rerun:
    """A CUDA graph's stand-in on a CPU: ``replay()`` runs again what was recorded."""

    def __init__(self, fn, log=None):
        self.fn, self.log = fn, log

    def replay(self):
        if self.log is not None:
            self.log()
        self.fn()


class EagerWindow(CapturedWindow):
    """``CapturedWindow`` with its buffers and its autograd node (``Replay``), each graph
    replaced by a ``Rerun`` that runs the model again and writes into the same output
    buffers, as a replay does."""

    def __init__(self, model, u, stream):
        self.flat = FlatModel(model)
        self.params = [p for p in model.parameters() if p.requires_grad]
        _, *zero_state = self.flat(u.detach())
        self.inputs = [u.detach().clone(), *(torch.zeros_like(s) for s in zero_state)]
        with torch.no_grad():
            self.outputs = [o.detach().clone() for o in self.flat(*self.inputs)]
        self.grad_y = torch.zeros_like(self.outputs[0])
        self.grads = [torch.zeros_like(p) for p in self.params]
        self.forward, self.backward = Rerun(self.run_forward), Rerun(self.run_backward)

    def run_forward(self):
        with torch.enable_grad():
            live = self.flat(*self.inputs)
        self.live_y = live[0]
        for buffer, out in zip(self.outputs, live):
            buffer.copy_(out.detach())

    def run_backward(self):
        grads = torch.autograd.grad(self.live_y, self.params, self.grad_y, allow_unused=True)
        for buffer, grad in zip(self.grads, grads):
            buffer.copy_(grad)


def test_the_carry_replays_only_what_it_captured_and_runs_the_rest_eagerly():
    torch.manual_seed(0)
    model = StatefulRNN(hidden_size=5).train()
    carry = GraphedCarry(model, None, capture=EagerWindow)
    u = torch.randn(4, 10, 1)
    y, state = carry(model, u, None)
    assert (carry.replays, carry.eager) == (1, 0) and carry.window is not None
    expected_y, expected_state = model(u, None)
    assert torch.equal(y, expected_y) and torch.equal(state[1], expected_state[1])
    carry(model, u, state)  # the state goes on: replayed
    eager_calls = [
        (model, u[:3], None),  # a smaller last batch
        (model, u[:, :5], None),  # a shorter sub-window
        (model, u[:3], tuple(s[:, :3] for s in state)),  # fewer rows, going on
        (model, u, tuple(s.clone().requires_grad_() for s in state)),  # a gradient asked
    ]
    for args in eager_calls:
        carry(*args)
    wrapped = lambda u, state: model(u, state)  # noqa: E731  another module (DDP's wrapper)
    wrapped.training = True
    carry(wrapped, u, state)
    with torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):  # the meter
        carry(model, u, state)
    model.eval()
    carry(model, u, state)
    assert (carry.replays, carry.eager) == (2, len(eager_calls) + 3)
    carry.release()
    model.train()
    carry(model, u, state)
    assert carry.replays == 2  # released: eager from here


class StandInGraphs(Callback):
    """What ``CudaGraphCB`` installs, on a CPU: the carry with stand-in graphs, and Adam with
    its graph logic on (``record`` replaced by ``Rerun``) when ``optimizer``."""

    def __init__(self, optimizer=False):
        self.optimizer, self.lrs_read = optimizer, []

    def before_fit(self, learn):
        learn.carry = self.carry = GraphedCarry(learn.model, None, capture=EagerWindow)
        if self.optimizer:
            learn.opt_func = self.graphed_adam

    def graphed_adam(self, params, lr):
        self.opt = GraphedAdam(params, lr=lr)
        self.opt.graphed = True  # its graph logic on a CPU: record() gives Reruns
        return self.opt


@pytest.fixture
def reruns(monkeypatch):
    """``record`` captures nothing: the returned stand-in runs the step at each replay."""
    monkeypatch.setattr(graphed_adam, "record", lambda fn, stream, pool=None: Rerun(fn))


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
@pytest.mark.parametrize("layout", ["windows", "full", "streams"])
def test_the_replayed_step_trains_exactly_as_the_plain_loop(rnn_type, layout):
    dls = {"windows": window_dls, "full": lambda: window_dls(None), "streams": stream_dls}[layout]
    runs = []
    for cbs in ([], [StandInGraphs()]):
        learn = RNNLearner(
            dls(),
            rnn_type,
            8,
            sub_seq_len=dls().sub_seq_len,
            seed=0,
            progress=False,
            clip_grad=0.5,
            n_skip=3,
            cbs=cbs,
        )
        learn.fit_flat_cos(2, lr=1e-2)
        runs.append(learn)
    assert_same_training(*runs)
    assert runs[0].validate() == runs[1].validate()
    carry = runs[1].cbs[-1].carry
    assert carry.replays > 0.9 * len(runs[1].recorder.losses)  # nearly every step replayed
    assert carry.eager > 0  # the act_mem meter's steps (and the smaller last batch)


def test_a_window_that_drops_the_carried_state_is_caught():
    """Control: the comparison above sees a replay that starts every sub-window from zeros."""

    class Forgetful(EagerWindow):
        def load(self, u, state):
            super().load(u, None)

    class Install(Callback):
        def before_fit(self, learn):
            learn.carry = GraphedCarry(learn.model, None, capture=Forgetful)

    losses = []
    for cbs in ([], [Install()]):
        learn = RNNLearner(window_dls(), "lstm", 8, sub_seq_len=20, seed=0, progress=False, cbs=cbs)
        learn.fit(1)
        losses.append(learn.recorder.losses)
    assert losses[0][0] == losses[1][0] and losses[0] != losses[1]


# -- Adam's graph -----------------------------------------------------------------------
def test_on_a_cpu_graphed_adam_is_adam(capsys):
    torch.manual_seed(0)
    models = [StatefulRNN(hidden_size=6) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    opts = [
        adam(models[0].parameters(), 3e-3),
        graphed_optimizer(adam)(models[1].parameters(), 3e-3),
    ]
    assert type(opts[1]) is GraphedAdam and not opts[1].graphed
    assert opts[1].defaults["fused"] == opts[0].defaults["fused"]
    u = torch.randn(2, 9, 1)
    for _ in range(5):
        for model, opt in zip(models, opts):
            model(u)[0].square().mean().backward()
            opt.step()
            opt.zero_grad()
    assert all(torch.equal(p, q) for p, q in zip(*(m.parameters() for m in models)))
    assert models[1].rnn.weight_hh_l0.grad is not None  # zero_grad keeps the tensors
    assert capsys.readouterr().out == ""


def test_another_optimizer_keeps_its_eager_step_and_says_so(capsys):
    model = StatefulRNN(hidden_size=4)
    opt = graphed_optimizer(lambda params, lr: torch.optim.SGD(params, lr=lr))(
        model.parameters(), lr=0.1
    )
    assert type(opt) is torch.optim.SGD
    assert capsys.readouterr().out == (
        "CudaGraphCB: the step of SGD runs eagerly (only Adam's is captured).\n"
    )


class RateRead(Callback):
    """The learning rate the step graph read at each training step."""

    def before_fit(self, learn):
        self.rates = []

    def after_batch(self, learn):
        if learn.training:
            self.rates.append(float(learn.opt.lr_in_graph[0]))


def test_the_rate_the_graph_reads_follows_the_schedule_as_eager_adams(reruns):
    runs, stand_in, read = [], StandInGraphs(optimizer=True), RateRead()
    for cbs in ([], [stand_in, read]):
        learn = RNNLearner(window_dls(), "lstm", 8, sub_seq_len=20, seed=0, progress=False, cbs=cbs)
        learn.fit_flat_cos(2, lr=3e-3)
        runs.append(learn)
    opt = stand_in.opt
    used = [3e-3, *runs[0].recorder.lrs[:-1]]  # the rate of each step: the recorder logs the next
    assert read.rates == pytest.approx(used, rel=1e-6)  # a float32 tensor, a float64 rate
    assert used[-1] < 0.1 * used[0]  # the schedule did anneal: a frozen rate would fail
    assert opt.eager_steps == graphed_adam.WARMUP and opt.captures == 1
    assert opt.replays == len(used) - graphed_adam.WARMUP
    for p, q in zip(weights(runs[0]), weights(runs[1])):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)


def test_adam_is_captured_again_when_its_gradients_move_or_its_momentum_changes(reruns, capsys):
    torch.manual_seed(0)
    model = StatefulRNN(hidden_size=4)
    opt = GraphedAdam(model.parameters(), lr=1e-3)
    opt.graphed = True
    u = torch.randn(2, 5, 1)

    def step(set_to_none=False):
        model(u)[0].mean().backward()
        opt.step()
        opt.zero_grad(set_to_none=set_to_none)

    for _ in range(graphed_adam.WARMUP + 2):
        step()
    assert (opt.captures, opt.replays) == (1, 2)
    step(set_to_none=True)  # the next gradients are new tensors
    step()
    assert opt.captures == 2
    opt.param_groups[0]["betas"] = (0.8, 0.999)  # a momentum schedule
    step()
    assert opt.captures == 3
    for beta in (0.7, 0.6, 0.5):
        opt.param_groups[0]["betas"] = (beta, 0.999)
        step()
    assert opt.captures > MAX_CAPTURES and opt.graph is None
    assert "the optimizer step changed 4 times: it runs eagerly." in capsys.readouterr().out


# -- on a CUDA GPU: the real graphs ------------------------------------------------------
def cuda_runs(make_dls, rnn_type, epochs=2, **kw):
    """(eager, graphed) learners trained alike on CUDA; the graphed one's callback."""
    runs = []
    for flag in (False, True):
        dls = make_dls()
        learn = RNNLearner(
            dls,
            rnn_type,
            16,
            sub_seq_len=dls.sub_seq_len,
            seed=0,
            progress=False,
            cuda_graph=flag,
            **kw,
        )
        learn.fit_flat_cos(epochs, lr=3e-3)
        runs.append(learn)
    return runs, next(cb for cb in runs[1].cbs if isinstance(cb, CudaGraphCB))


def assert_close_training(eager, graphed):
    n = len(eager.recorder.losses)
    assert n == len(graphed.recorder.losses) >= 100
    diff = max(abs(a - b) / abs(a) for a, b in zip(eager.recorder.losses, graphed.recorder.losses))
    assert diff < 1e-4, f"losses differ by up to {diff:.2e} (relative) over {n} steps"
    for p, q in zip(weights(eager), weights(graphed)):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
@pytest.mark.parametrize("sub_seq_len", [None, 25])
def test_on_cuda_graphed_windows_train_as_eager_ones(rnn_type, sub_seq_len):
    make = lambda: window_dls(sub_seq_len, n=4000, device="cuda", win_sz=100, stp_sz=20, bs=8)  # noqa: E731
    rng = torch.cuda.get_rng_state()
    epochs = 6 if sub_seq_len is None else 2  # >= 100 steps: 20 batches of windows an epoch
    (eager, graphed), cb = cuda_runs(make, rnn_type, epochs, clip_grad=1.0)
    assert torch.equal(torch.cuda.get_rng_state(), rng)  # nothing drew from the GPU's RNG
    assert_close_training(eager, graphed)
    assert cb.carry.replays > 0.9 * len(graphed.recorder.losses) and cb.carry.eager > 0
    assert cb.opt.replays == len(graphed.recorder.losses) - graphed_adam.WARMUP
    assert graphed.carry is None and graphed.opt_func is adam  # put back


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_on_cuda_graphed_streams_train_as_eager_ones(rnn_type):
    make = lambda: stream_dls(device="cuda", bs=4, sub_seq_len=10)  # noqa: E731
    (eager, graphed), cb = cuda_runs(make, rnn_type, epochs=6, n_skip=2, clip_grad=1.0)
    assert_close_training(eager, graphed)
    assert cb.carry.replays > 0.9 * len(graphed.recorder.losses)
    assert eager.validate() == pytest.approx(graphed.validate(), rel=1e-4)


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("sub_seq_len", [None, 100])
def test_on_cuda_graphs_keep_the_peak_memory_of_eager_training(sub_seq_len):
    """The allocator's peak above the start of a fit; each measured on its second fit, so
    that the workspaces cuBLAS keeps per stream (the default one, the side one) exist."""
    peaks = []
    for flag in (False, True, False, True):
        dls = window_dls(sub_seq_len, n=8000, device="cuda", win_sz=500, stp_sz=50, bs=16)
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        learn = RNNLearner(
            dls, "lstm", 40, sub_seq_len=sub_seq_len, seed=0, progress=False, cuda_graph=flag
        )
        learn.fit(1)
        peaks.append(torch.cuda.max_memory_allocated() - base)
        del learn, dls
    eager, graphed = peaks[2:]
    mib = f"peak: eager {eager / 2**20:.2f} MiB, graphed {graphed / 2**20:.2f} MiB"
    assert graphed <= 1.05 * eager + 2**20, mib


@cuda
@pytest.mark.cuda
def test_on_cuda_any_learner_takes_the_callback():
    dls = window_dls(20, device="cuda")
    learn = Learner(dls, StatefulRNN(hidden_size=8).cuda(), cbs=[CudaGraphCB()])
    learn.fit(2)
    assert all(math.isfinite(v) for v in learn.validate())
    assert learn.cbs[0].carry.replays > 0
