"""CUDA graphs for the plain loop: the same learner, the same ``one_batch``, fewer launches.

On a GPU one TBPTT step of the course's LSTM is hundreds of tiny kernels, each finished
before Python has launched the next: the GPU waits on Python (benchmarks/README.md, "On a
GPU"). A CUDA graph records the kernels of a step once and replays them with one launch.

    learn = RNNLearner(dls, "lstm", 40, sub_seq_len=100, cuda_graph=True)  # or
    learn = Learner(dls, model, cbs=[CudaGraphCB()])

What is replayed, and what stays in ``Learner.one_batch`` as it is:

    reset      eager: rows of the carried state set to zeros (``reset_rows``)
    carry      forward graph: u and the state copied into its input buffers, replayed; the
               new state comes out of the graph detached (TBPTT's detach, inside the graph)
    loss       eager: masks, n_skip and every callback that reads the loss
    backward   backward graph: the parameters' gradient, added into their ``.grad``
    clip       eager (``GradClipCB``)
    opt.step   Adam's step graph, after a few eager steps; the learning rate is copied in
               before each replay, so the schedules work as they do without graphs
    zero_grad  keeps the ``.grad`` tensors that the step graph reads

Served: full and truncated BPTT (the loop's own carry, ``learn.carry`` None) on CUDA.
Eager, each batch as without graphs: a batch of another shape (an epoch's smaller last
batch), a step under a saved-tensor hook (the act_mem meter's), a model in eval mode or
wrapped (DDP). Eager for the whole run, with a one-line notice: a CPU, a mode with its own
carry (TBPTT(k1, k2), checkpointed, ARTBP), several processes, an optimizer other than Adam
(only its step). Gradient hooks on the parameters do not fire for graphed steps.
Adam's graph is ``tooling/graphed_adam.py``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.learner import Callback
from .graphed_adam import WARMUP, GraphedAdam, graphed_optimizer, notice

__all__ = [
    "CapturedWindow",
    "CudaGraphCB",
    "FlatModel",
    "GraphedCarry",
    "Replay",
    "as_tensors",
    "side_stream",
]

# the innermost saved-tensor hooks, or None (a private function of torch's; absent: none)
_top_hooks = getattr(torch._C._autograd, "_top_saved_tensors_default_hooks", lambda _: None)


def watched() -> bool:
    """Is a saved-tensor hook active (the act_mem meter's)? Then a step runs eagerly, so
    that what the hook sees is what autograd keeps."""
    try:
        return _top_hooks(False) is not None
    except TypeError:  # a torch whose private function takes other arguments
        return False


SIDE_STREAMS: dict[str, torch.cuda.Stream] = {}  # one per GPU, for every run of the process


def side_stream(device: torch.device) -> torch.cuda.Stream:
    """The stream warm-ups and captures run on: one per GPU, kept. cuBLAS and cuDNN keep a
    workspace per stream, so a new stream at every fit would hold one more of each."""
    if str(device) not in SIDE_STREAMS:
        SIDE_STREAMS[str(device)] = torch.cuda.Stream(device)
    return SIDE_STREAMS[str(device)]


def as_tensors(state) -> tuple:
    """A hidden state as a tuple of tensors: () for None, (h,) for a tensor, (h, c) as is."""
    if state is None:
        return ()
    return tuple(state) if isinstance(state, tuple) else (state,)


class FlatModel(nn.Module):
    """``model(u, state)`` with flat tensors, as a graph takes them: (u, *state) -> (y,
    *new state). state: nothing (zeros), h (GRU, RNN) or h, c (LSTM), each (num_layers,
    bs, hidden_size). The new state comes out detached: the gradient stops there."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.state_is_tuple = model, None

    def forward(self, u: torch.Tensor, *state: torch.Tensor):
        if not state:
            given = None
        elif self.state_is_tuple or len(state) > 1:
            given = tuple(state)
        else:
            given = state[0]
        y, new = self.model(u, given)
        if self.state_is_tuple is None:
            self.state_is_tuple = isinstance(new, tuple)
        return (y, *(s.detach() for s in as_tensors(new)))

    def state_of(self, flat: tuple):
        """Flat state tensors back in the model's form: h, or the pair (h, c)."""
        return tuple(flat) if self.state_is_tuple else flat[0]


class CapturedWindow:
    """One (sub-)window's forward and backward, captured as two CUDA graphs over fixed
    buffers: ``inputs`` (u, *state), ``outputs`` (y, *new state), ``grad_y`` in and
    ``grads`` (one per parameter) out. Warm-up and capture share ``stream``."""

    def __init__(self, model: nn.Module, u: torch.Tensor, stream, warmup: int = WARMUP):
        for m in model.modules():  # one weight block, never re-flattened after this
            if isinstance(m, nn.RNNBase):
                m.flatten_parameters()
        self.flat = FlatModel(model)
        self.params = [p for p in model.parameters() if p.requires_grad]
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream), torch.enable_grad():
            _, *zero_state = self.flat(u.detach())  # a zero state: its shapes, the buffers
            self.inputs = [u.detach().clone(), *(torch.zeros_like(s) for s in zero_state)]
            for _ in range(warmup):
                y = self.flat(*self.inputs)[0]
                torch.autograd.grad(y, self.params, torch.zeros_like(y), allow_unused=True)
        torch.cuda.current_stream().wait_stream(stream)
        self.forward, self.backward = torch.cuda.CUDAGraph(), torch.cuda.CUDAGraph()
        with torch.enable_grad():
            with torch.cuda.graph(self.forward, stream=stream, capture_error_mode="thread_local"):
                self.outputs = self.flat(*self.inputs)
            self.grad_y = torch.zeros_like(self.outputs[0])
            with torch.cuda.graph(
                self.backward,
                pool=self.forward.pool(),
                stream=stream,
                capture_error_mode="thread_local",
            ):
                self.grads = torch.autograd.grad(
                    self.outputs[0], self.params, self.grad_y, allow_unused=True
                )

    def fits(self, u: torch.Tensor, state) -> bool:
        """Can this batch replay the graphs: the same shapes, dtypes and device?"""
        given = (u, *as_tensors(state))
        if len(given) not in (1, len(self.inputs)):
            return False
        return all(
            x.shape == b.shape and x.dtype == b.dtype and x.device == b.device
            for x, b in zip(given, self.inputs)
        )

    def run(self, u: torch.Tensor, state):
        """(y, new state) of the replayed forward graph; its backward replays in backward."""
        y, *new = Replay.apply(self, u, state, *self.params)
        return y, self.flat.state_of(new)

    def load(self, u: torch.Tensor, state) -> None:
        """The batch into the input buffers; no state: zeros."""
        self.inputs[0].copy_(u)
        for buffer, s in zip(self.inputs[1:], as_tensors(state) or [None] * len(self.inputs)):
            if s is None:
                buffer.zero_()
            else:
                buffer.copy_(s)

    def add_grads(self) -> None:
        """The replayed gradients added into the parameters' ``.grad``, as autograd would."""
        used = [(p, g) for p, g in zip(self.params, self.grads) if g is not None]
        for p, _ in used:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        torch._foreach_add_([p.grad for p, _ in used], [g for _, g in used])


class Replay(torch.autograd.Function):
    """The captured window as one node of autograd: forward and backward each replay a graph."""

    @staticmethod
    def forward(ctx, window: CapturedWindow, u, state, *params):
        window.load(u, state)
        window.forward.replay()
        ctx.window, ctx.n_inputs = window, 3 + len(params)
        y, *new = (o.detach() for o in window.outputs)
        ctx.mark_non_differentiable(*new)
        return (y, *new)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y, *_):
        window = ctx.window
        window.grad_y.copy_(grad_y)
        window.backward.replay()
        window.add_grads()  # into .grad directly: the parameters get None from here
        return (None,) * ctx.n_inputs


class GraphedCarry:
    """The loop's carry under CUDA graphs: ``carry(model, u, state, reset) -> (pred, state)``.
    The first batch it can serve is captured (``window``); later batches of its shape
    replay it, any other batch runs the model eagerly. ``replays`` and ``eager`` count."""

    def __init__(self, model: nn.Module, stream, capture=CapturedWindow):
        self.model, self.stream, self.capture = model, stream, capture
        self.window, self.failed, self.replays, self.eager = None, False, 0, 0

    def __call__(self, model, u: torch.Tensor, state, reset=None):
        if self.can_replay(model, u, state):
            if self.window is None:
                self.window = self.captured(model, u)
            if self.window is not None and self.window.fits(u, state):
                self.replays += 1
                return self.window.run(u, state)
        self.eager += 1
        return model(u, state)

    def can_replay(self, model, u: torch.Tensor, state) -> bool:
        """The captured model, training, nobody watching autograd's saved tensors, and no
        gradient asked of the inputs."""
        return (
            not self.failed
            and model is self.model
            and model.training
            and not watched()
            and not any(t.requires_grad for t in (u, *as_tensors(state)))
        )

    def captured(self, model, u: torch.Tensor):
        try:
            return self.capture(model, u, self.stream)
        except RuntimeError as err:  # train on, eagerly, and say why
            self.failed = True
            notice(f"capturing the model failed ({err}); training runs eagerly.")
            return None

    def release(self) -> None:
        """Drop the graphs (and their memory); every later call runs eagerly."""
        self.window, self.failed = None, True


class CudaGraphCB(Callback):
    """Train the plain loop with CUDA graphs (module docstring); elsewhere a one-line
    notice and nothing changed. ``carry`` and ``opt`` are the last run's, for inspection
    (``carry.replays``, ``opt.replays``); ``after_fit`` puts back what it changed."""

    def __init__(self):
        self.carry, self.opt, self.installed = None, None, False

    @classmethod
    def if_asked(cls, cuda_graph: bool) -> list:
        """[CudaGraphCB()] for ``cuda_graph=True``, [] for False (``RNNLearner``'s flag)."""
        if not isinstance(cuda_graph, bool):
            raise TypeError(
                f"cuda_graph must be True or False, got {cuda_graph!r} "
                f"({type(cuda_graph).__name__})."
            )
        return [cls()] if cuda_graph else []

    def before_fit(self, learn):
        why = self.why_eager(learn)
        if why:
            notice(f"{why}: training runs eagerly, as without it.")
            return
        self.found, self.installed = (learn.carry, learn.opt_func), True
        self.stream = side_stream(next(learn.model.parameters()).device)
        learn.carry = self.carry = GraphedCarry(learn.model, self.stream)
        learn.opt_func = graphed_optimizer(learn.opt_func, self.stream)

    @staticmethod
    def why_eager(learn) -> str | None:
        """Why this run cannot use CUDA graphs, or None."""
        device = next(learn.model.parameters()).device
        if learn.carry is not None:
            return f"{learn.bptt.label} runs the model its own way (its carry)"
        if device.type != "cuda":
            return f"the model is on {device.type}, not on a CUDA GPU"
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return "several processes (DDP) are not served"
        return None

    def before_epoch(self, learn):
        self.opt = learn.opt

    def after_fit(self, learn):
        if not self.installed:
            return
        self.carry.release()
        if isinstance(learn.opt, GraphedAdam):
            learn.opt.release()
        learn.carry, learn.opt_func = self.found
        self.installed = False
