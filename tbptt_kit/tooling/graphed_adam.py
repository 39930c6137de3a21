"""Adam's step replayed as one CUDA graph, the learning-rate schedules still working.

A CUDA graph replays the kernels it recorded on the memory it recorded them on: the
numbers in it are frozen. Adam's step reads its learning rate, so the rate must live in a
tensor the graph reads (``capturable=True`` lets Adam read it there); the schedules set
the param groups' float rates as usual, and ``GraphedAdam`` copies them into that tensor
before each replay. The graph also reads the parameters' ``.grad`` tensors: ``zero_grad``
keeps them (``tbptt_kit.tooling.cuda_graph`` adds each step's gradient into them).
"""

from __future__ import annotations

import inspect

import torch

__all__ = ["MAX_CAPTURES", "WARMUP", "GraphedAdam", "graphed_optimizer", "notice", "record"]

WARMUP = 3  # eager runs before a capture: cuDNN's and the optimizer's first-use allocations
MAX_CAPTURES = 4  # the optimizer captures again when its gradients move; then eager


def record(fn, stream, pool=None):
    """The kernels ``fn()`` launches, captured on ``stream`` as a CUDA graph (not run)."""
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, pool=pool, stream=stream, capture_error_mode="thread_local"):
        fn()
    return graph


def notice(text: str) -> None:
    """One line saying what the callback does differently."""
    print(f"CudaGraphCB: {text}", flush=True)


class GraphedAdam(torch.optim.Adam):
    """Adam whose step, after ``warmup`` eager steps, is one CUDA graph replay.

    The param groups keep float learning rates, so schedules and the recorder read and
    set them as usual; before each replay each group's rate is copied into the tensor the
    graph reads (``lr_in_graph``). The graph reads the ``.grad`` tensors it was captured
    with: ``zero_grad`` keeps them. If they move, or another hyperparameter changes (a
    momentum schedule), the step is captured again, at most ``MAX_CAPTURES`` times, then
    runs eagerly. On a CPU it is Adam (``lr_in_graph`` follows all the same).
    """

    def __init__(self, params, lr=1e-3, *, stream=None, warmup: int = WARMUP, **adam_kw):
        params = list(params)
        first = params[0]["params"][0] if isinstance(params[0], dict) else params[0]
        self.graphed = first.is_cuda
        adam_kw["capturable"] = self.graphed
        super().__init__(params, lr=lr, **adam_kw)
        for group in self.param_groups:
            group["capturable"] = self.graphed
        self.lr_in_graph = [
            torch.tensor(float(g["lr"]), device=first.device) for g in self.param_groups
        ]
        self.loaded = [None] * len(self.param_groups)
        self.stream, self.warmup, self.graph, self.key = stream, warmup, None, None
        self.eager_steps, self.captures, self.replays = 0, 0, 0

    def step(self, closure=None):
        self.load_lr()
        if closure is not None or not self.graphed:
            return super().step(closure)
        key = self.captured_with()
        if self.graph is not None and key != self.key:
            self.graph = None  # the gradients moved, or a hyperparameter changed
        if self.graph is None and self.eager_steps >= self.warmup:
            self.capture(key)
        if self.graph is None:
            self.eager_steps += 1
            return self.on_side_stream(super().step)
        self.graph.replay()
        self.replays += 1

    def load_lr(self) -> None:
        """Each group's learning rate into the tensor the graph reads, when it changed."""
        for i, (group, tensor) in enumerate(zip(self.param_groups, self.lr_in_graph)):
            if group["lr"] != self.loaded[i]:
                tensor.fill_(group["lr"])
                self.loaded[i] = group["lr"]

    def captured_with(self) -> tuple:
        """What the graph bakes in: the gradients' addresses, the other hyperparameters."""
        return tuple(
            (
                tuple(0 if p.grad is None else p.grad.data_ptr() for p in g["params"]),
                *(repr(v) for k, v in sorted(g.items()) if k not in ("params", "lr")),
            )
            for g in self.param_groups
        )

    def capture(self, key) -> None:
        """Capture the step (``MAX_CAPTURES`` times at most); else it stays eager."""
        self.captures += 1
        if self.captures > MAX_CAPTURES:
            if self.captures == MAX_CAPTURES + 1:
                notice(f"the optimizer step changed {MAX_CAPTURES} times: it runs eagerly.")
            return
        try:
            self.graph, self.key = record(self.step_reading_lr_tensors, self.stream), key
        except RuntimeError as err:  # train on, eagerly, and say why
            self.captures = MAX_CAPTURES + 1
            notice(f"capturing the optimizer step failed ({err}); it runs eagerly.")

    def step_reading_lr_tensors(self) -> None:
        """Adam's step with each group's rate read from ``lr_in_graph``: what is captured,
        so that the graph reads the tensor instead of a number frozen into it."""
        rates = [g["lr"] for g in self.param_groups]
        for group, tensor in zip(self.param_groups, self.lr_in_graph):
            group["lr"] = tensor
        try:
            super().step()
        finally:
            for group, rate in zip(self.param_groups, rates):
                group["lr"] = rate

    def on_side_stream(self, fn):
        if self.stream is None:
            return fn()
        stream = self.stream
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            out = fn()
        torch.cuda.current_stream().wait_stream(stream)
        return out

    def zero_grad(self, set_to_none: bool = False) -> None:
        """Zeros into the same ``.grad`` tensors (the step graph reads them)."""
        super().zero_grad(set_to_none=set_to_none)

    def release(self) -> None:
        """Drop the graph; every later step runs eagerly."""
        self.graph, self.graphed = None, False


ADAM_SETTINGS = set(inspect.signature(torch.optim.Adam).parameters) - {"params", "lr"}


def graphed_optimizer(opt_func, stream=None):
    """An ``opt_func(params, lr)`` that builds what ``opt_func`` builds, as a ``GraphedAdam``
    with the same settings when it is a plain Adam; any other optimizer as it is."""

    def build(params, lr):
        opt = opt_func(params, lr=lr)
        if type(opt) is not torch.optim.Adam:
            notice(f"the step of {type(opt).__name__} runs eagerly (only Adam's is captured).")
            return opt
        settings = {k: v for k, v in opt.defaults.items() if k in ADAM_SETTINGS}
        groups = [{k: v for k, v in g.items() if k != "capturable"} for g in opt.param_groups]
        return GraphedAdam(groups, lr=lr, stream=stream, **settings)

    return build
