"""The learner: a model, its data, and the training loop with its schedules.

The heart of the course is ``Learner.train_epoch``: the whole (truncated) BPTT loop.
For each batch: if it starts new windows, reset the state (``TbpttResetCB``);
forward the (sub-)window; loss; backward; step. The stateful model detaches its
state itself, so the next sub-window's gradients stop at the boundary.
"""

from __future__ import annotations

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.utils.checkpoint import checkpoint

from .data.windows import DataLoaders, check_sub_seq_len
from .memory import Bytes, SavedTensorMeter, check_learner_budget
from .model import StatefulRNN, detach_state
from .progress import ProgressTable, format_time
from .smoke import smoke_epochs


# -- losses and metrics (signal units: volts for the Silverbox) ---------------------------
def mae(pred: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
    """Mean absolute error, in the signal's units."""
    return (pred - targ).abs().mean()


def fun_rmse(pred: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
    """Root mean squared error, in the signal's units."""
    return ((pred - targ) ** 2).mean().sqrt()


def adam(params, lr: float = 1e-3) -> torch.optim.Optimizer:
    """Adam, with PyTorch's fused kernel where this torch has one for the parameters' device
    (CUDA; CPU since torch 2.4): the same algorithm, one kernel per step for all parameters
    instead of several per parameter tensor. Plain Adam otherwise."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.Adam(params, lr=lr)


def _as_record_tensor(x, device) -> torch.Tensor:
    """A record's signal (T,) or (T, n) as a float32 batch of one: (1, T, n)."""
    x = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)
    return x.reshape(1, x.shape[0], -1)


# -- callbacks ----------------------------------------------------------------------------
class Callback:
    """Hooks called by the learner. Lower ``order`` runs first."""

    order = 0

    def before_fit(self, learn): ...
    def before_epoch(self, learn): ...
    def before_batch(self, learn): ...
    def after_batch(self, learn): ...
    def after_epoch(self, learn): ...
    def after_fit(self, learn): ...


class TbpttResetCB(Callback):
    """Reset the hidden state whenever a batch starts new windows (training and validation)."""

    order = -10

    def before_batch(self, learn):
        if learn.batch.new_window:
            learn.model.reset_state()


class Recorder(Callback):
    """Keeps every step's training loss and every epoch's row of the table."""

    order = 50

    def before_fit(self, learn):
        self.losses, self.lrs, self.epochs = [], [], []

    def after_batch(self, learn):
        if learn.training:
            self.losses.append(learn.loss_value)
            self.lrs.append(learn.opt.param_groups[0]["lr"])

    def after_epoch(self, learn):
        self.epochs.append(dict(learn.epoch_row))

    def plot_losses(self, ax=None):
        """Training loss per step and validation loss per epoch."""
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        ax.plot(self.losses, lw=0.8, alpha=0.8, label="train (per step)")
        if self.epochs:
            steps_per_epoch = len(self.losses) / len(self.epochs)
            x = [(i + 1) * steps_per_epoch for i in range(len(self.epochs))]
            ax.plot(x, [e["valid_loss"] for e in self.epochs], "o-", label="valid (per epoch)")
        ax.set(xlabel="optimizer step", ylabel="loss", yscale="log")
        ax.legend()
        return ax


class ProgressCB(Callback):
    """The live table: one row per epoch, and a bar within the epoch."""

    order = 60

    def before_fit(self, learn):
        self.table = ProgressTable()
        self.table.start()

    def after_batch(self, learn):
        if learn.training:
            self.table.update_bar(
                learn.step_in_epoch,
                learn.steps_per_epoch,
                f"epoch {learn.epoch + 1}/{learn.n_epoch}",
            )

    def after_epoch(self, learn):
        self.table.add_row(learn.epoch_row)


class ActMemCB(Callback):
    """The act_mem column: the largest activation memory of one training step in the epoch.

    It runs training steps inside ``SavedTensorMeter`` (``tbptt_kit.memory``), which adds
    up the bytes autograd saves for backward, parameters and batch left out. By default
    only the steps of each epoch's first batch of windows (all its sub-windows): every
    batch holds windows of the same length and only the last can hold fewer, so the
    largest step is among them, and metering costs next to nothing. ``all_steps=True``
    meters every step: each step about 6% slower with oneDNN's LSTM, 30% with PyTorch's
    native cells (``benchmarks/memory_sweep.py --overhead``).
    """

    order = 40  # before the Recorder (50) and the table (60) read the row

    def __init__(self, all_steps: bool = False):
        self.all_steps = all_steps

    def before_fit(self, learn):
        self.largest, self.batches = 0, 0
        meter = SavedTensorMeter(exclude=[*learn.model.parameters(), *learn.model.buffers()])
        step = getattr(learn.forward_backward, "__wrapped__", learn.forward_backward)

        def metered_step(batch):
            self.batches += batch.new_window  # a new batch of windows starts
            if not (learn.training and (self.all_steps or self.batches == 1)):
                return step(batch)
            with meter.measuring(batch.u, batch.y):
                loss = step(batch)
            self.largest = max(self.largest, meter.nbytes)
            return loss

        metered_step.__wrapped__ = step
        own = vars(learn).get("forward_backward")  # a step set on the instance, if any
        self.restore = getattr(own, "__wrapped__", own)
        learn.forward_backward = metered_step  # this learner's step, measured

    def before_epoch(self, learn):
        self.largest, self.batches = 0, 0

    def after_epoch(self, learn):
        row = learn.epoch_row
        time_cell = row.pop("time", None)
        row["act_mem"] = Bytes(self.largest)
        if time_cell is not None:
            row["time"] = time_cell

    def after_fit(self, learn):
        if self.restore is None:
            del learn.forward_backward  # back to the class's own step
        else:
            learn.forward_backward = self.restore


# -- the learner --------------------------------------------------------------------------
def _check_positive(name: str, value, kind=(int, float)) -> None:
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"{name} must be a positive number, got {value!r}.")
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be > 0 and finite, got {value}.")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or Inf: training stops instead of printing a table of NaNs."""


class Learner:
    """Trains ``model`` on ``dls``: one optimizer step per (sub-)batch.

    loss_func(pred, targ) and metrics(pred, targ) work in the signal's units.
    n_skip: leave the first n steps of each window out of the loss (warm-up);
    under TBPTT only the window's first sub-window is affected.
    """

    def __init__(
        self,
        dls: DataLoaders,
        model: torch.nn.Module,
        loss_func=mae,
        metrics=(),
        n_skip: int = 0,
        opt_func=adam,
        cbs=(),
        seed: int | None = None,
        progress: bool = True,
        max_memory=None,
    ):
        if isinstance(n_skip, bool) or not isinstance(n_skip, int) or n_skip < 0:
            raise ValueError(f"n_skip must be an int >= 0, got {n_skip!r}.")
        first_len = dls.sub_seq_len or dls.win_sz
        if n_skip >= first_len:
            raise ValueError(
                f"n_skip={n_skip} leaves nothing of the first (sub-)window of {first_len} steps: "
                f"choose n_skip < {first_len}."
            )
        self.dls, self.model, self.loss_func = dls, model, loss_func
        self.metrics, self.n_skip, self.opt_func, self.seed = list(metrics), n_skip, opt_func, seed
        self.recorder = Recorder()
        self.cbs = [self.recorder, *cbs] + ([ProgressCB()] if progress else [])
        self.training = False
        self.max_memory = max_memory  # budget for fit: bytes, "2 GiB", or None (default)
        if seed is not None:
            dls.train.generator.manual_seed(seed)

    # -- callbacks --
    def add_cb(self, cb: Callback) -> Learner:
        self.cbs.append(cb)
        return self

    def remove_cb(self, cb_type: type) -> Learner:
        self.cbs = [cb for cb in self.cbs if not isinstance(cb, cb_type)]
        return self

    def _call(self, event: str) -> None:
        for cb in sorted(self.cbs, key=lambda cb: cb.order):  # a handful: cheap
            getattr(cb, event)(self)

    # -- one step and one epoch: the (truncated) BPTT loop --
    def loss_on(self, pred: torch.Tensor, batch) -> torch.Tensor:
        """The loss of one (sub-)batch, leaving out the window's first n_skip steps."""
        skip = self.n_skip if batch.sub_idx == 0 else 0
        return self.loss_func(pred[:, skip:], batch.y[:, skip:])

    def forward_backward(self, batch) -> torch.Tensor:
        """Forward one (sub-)batch, compute its loss, backpropagate; returns the loss.

        The stateful model starts from the state the previous sub-window left,
        detached, so the gradient stops at this sub-window's first step.
        """
        pred = self.model(batch.u)
        loss = self.loss_on(pred, batch)
        loss.backward()
        return loss

    def train_epoch(self) -> float:
        """One pass over the training (sub-)batches; returns the mean training loss."""
        self.model.train()
        self.training, total = True, 0.0
        for step, batch in enumerate(self.dls.train, start=1):
            self.batch, self.step_in_epoch = batch, step
            self._call("before_batch")  # TbpttResetCB: reset the state at a new window
            self.opt.zero_grad()
            self.loss = self.forward_backward(batch)  # forward, loss, backward
            self.opt.step()
            self.sched.step()
            self.loss_value = self.loss.item()
            if not math.isfinite(self.loss_value):
                raise TrainingDiverged(
                    f"The training loss became {self.loss_value} at epoch {self.epoch + 1}, "
                    f"step {step}: training stopped. Try a smaller lr "
                    f"(this run used lr={self.lr})."
                )
            total += self.loss_value
            self._call("after_batch")
        self.training = False
        return total / self.steps_per_epoch

    # -- fitting --
    def fit(self, n_epoch: int, lr: float = 3e-3, make_sched=None) -> None:
        """Train for ``n_epoch`` epochs at learning rate ``lr`` (constant unless a schedule is given).

        make_sched(opt, total_steps) -> a torch LR scheduler, stepped after every optimizer step.
        """
        _check_positive("n_epoch", n_epoch, int)
        _check_positive("lr", lr)
        n_epoch = smoke_epochs(n_epoch)  # 1 in smoke mode (TBPTT_KIT_SMOKE=1), for CI
        self.n_epoch, self.lr = n_epoch, lr
        self.steps_per_epoch = len(self.dls.train)
        check_learner_budget(self, self.max_memory)  # refuse, before allocating, what cannot fit
        self.opt = self.opt_func(self.model.parameters(), lr=lr)
        make_sched = make_sched or (lambda opt, total: torch.optim.lr_scheduler.ConstantLR(opt, 1))
        self.sched = make_sched(self.opt, n_epoch * self.steps_per_epoch)
        self._call("before_fit")
        for self.epoch in range(n_epoch):
            start = time.perf_counter()
            self._call("before_epoch")
            train_loss = self.train_epoch()
            valid = self.validate()
            self.epoch_row = {"epoch": self.epoch, "train_loss": train_loss, "valid_loss": valid[0]}
            self.epoch_row.update({m.__name__: v for m, v in zip(self.metrics, valid[1:])})
            self.epoch_row["time"] = format_time(time.perf_counter() - start)
            self._call("after_epoch")
        self._call("after_fit")

    def fit_flat_cos(self, n_epoch: int, lr: float = 3e-3, pct_start: float = 0.75) -> None:
        """Constant LR for the first ``pct_start`` of the steps, then a cosine down to zero."""
        if not 0 <= pct_start <= 1:
            raise ValueError(f"pct_start must be in [0, 1], got {pct_start}.")

        def make_sched(opt, total):
            flat = int(pct_start * total)

            def factor(step):
                if step < flat:
                    return 1.0
                return 0.5 * (1 + math.cos(math.pi * (step - flat) / max(total - flat, 1)))

            return torch.optim.lr_scheduler.LambdaLR(opt, factor)

        self.fit(n_epoch, lr, make_sched)

    def fit_one_cycle(self, n_epoch: int, lr: float = 3e-3, pct_start: float = 0.25) -> None:
        """Warm up to ``lr``, then anneal: torch's OneCycleLR, stepped once per (sub-)batch."""
        self.fit(
            n_epoch,
            lr,
            lambda opt, total: torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=lr, total_steps=total, pct_start=pct_start
            ),
        )

    # -- evaluation --
    @torch.no_grad()
    def predict(self, dl=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Predictions and targets over a loader (valid by default), n_skip steps left out.

        Returns two tensors of shape (n_samples, n_y). Under TBPTT the state is
        carried across the sub-windows of a window, as in training.
        """
        dl = dl or self.dls.valid
        self.model.eval()
        preds, targs = [], []
        for batch in dl:
            self.batch = batch
            self._call("before_batch")
            pred = self.model(batch.u)
            skip = self.n_skip if batch.sub_idx == 0 else 0
            preds.append(pred[:, skip:].reshape(-1, pred.shape[-1]))
            targs.append(batch.y[:, skip:].reshape(-1, pred.shape[-1]))
        return torch.cat(preds), torch.cat(targs)

    def validate(self, dl=None) -> list[float]:
        """[valid_loss, *metrics] over the validation windows, in the signal's units."""
        pred, targ = self.predict(dl)
        return [float(f(pred, targ)) for f in [self.loss_func, *self.metrics]]

    def initial_state(self, u_init, y_init, n_iter: int = 100, lr: float = 0.05):
        """The hidden state that best explains the first measured outputs of a record.

        u_init (n,) or (n, n_u), y_init (n,) or (n, n_y), in the signal's units. Starting from
        zeros, Adam adjusts the state alone (the weights stay fixed) so that the model, run
        over u_init from that state, reproduces y_init (mean squared error). Cost: n_iter
        forward and backward passes over n steps. The Silverbox benchmark allows n = 50.
        """
        model = self.model
        device = next(model.parameters()).device
        u = _as_record_tensor(u_init, device)
        y = _as_record_tensor(y_init, device)
        shape = (model.num_layers, 1, model.hidden_size)
        parts = [torch.zeros(shape, device=device, requires_grad=True)]
        if model.rnn_type == "lstm":
            parts.append(torch.zeros(shape, device=device, requires_grad=True))  # (h, c)
        opt = torch.optim.Adam(parts, lr=lr)
        model.eval()
        model.requires_grad_(False)
        try:
            for _ in range(n_iter):
                state = tuple(parts) if len(parts) == 2 else parts[0]
                loss = ((model.forward_from(u, state)[0] - y) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        finally:
            model.requires_grad_(True)
        return detach_state(tuple(parts) if len(parts) == 2 else parts[0])

    @torch.no_grad()
    def simulate(self, record, n_init: int = 50) -> np.ndarray:
        """Free-run simulation of a whole record: -> y (T, n_y), in the signal's units.

        ``record``: the input u (T,) or (T, n_u), run from a zero state; or a pair (u, y),
        whose first ``n_init`` measured outputs set the initial state (``initial_state``),
        as the benchmark allows. Either way the model sees only u after that.
        """
        u, y = record if isinstance(record, tuple) else (record, None)
        state = None
        if y is not None and n_init > 0:
            with torch.enable_grad():
                state = self.initial_state(u[:n_init], y[:n_init])
        self.model.eval()
        param = next(self.model.parameters())
        y_hat, _ = self.model.forward_from(_as_record_tensor(u, param.device), state)
        return y_hat[0].cpu().numpy()

    def test_rmse(self, n_init: int = 50) -> dict[str, float]:
        """Free-run RMSE on each test record, in mV, scored on y[n_init:] (the benchmark's score).

        The first ``n_init`` measured outputs set the initial state; the model sees only u.
        """
        scores = {}
        for name, (u, y) in self.dls.test.items():
            y_hat = self.simulate((u, y), n_init)
            err = y_hat[n_init:] - np.asarray(y, dtype=np.float32).reshape(len(y), -1)[n_init:]
            scores[name] = float(np.sqrt(np.mean(err**2)) * 1000)
        return scores

    # -- pictures --
    @torch.no_grad()
    def show_results(self, max_n: int = 2) -> None:
        """Target against prediction for the first ``max_n`` validation windows."""
        ds = self.dls.valid.ds
        u, y = ds[list(range(min(max_n, len(ds))))]
        self.model.eval()
        pred, _ = self.model.forward_from(u.to(next(self.model.parameters()).device))
        fig, axes = plt.subplots(len(u), 1, figsize=(8, 2.4 * len(u)), squeeze=False)
        t = np.arange(u.shape[1])
        for i, ax in enumerate(axes[:, 0]):
            ax.plot(t, y[i, :, 0].numpy(), label="target", lw=1.5)
            ax.plot(t, pred[i, :, 0].cpu().numpy(), "--", label="prediction", lw=1.2)
            if self.dls.sub_seq_len:
                for b in range(self.dls.sub_seq_len, u.shape[1], self.dls.sub_seq_len):
                    ax.axvline(b, color="grey", lw=0.5, alpha=0.5)
            ax.set(ylabel="y", title=f"validation window {i}")
        axes[-1, 0].set_xlabel("time step")
        axes[0, 0].legend(loc="upper right")
        fig.tight_layout()
        plt.show()

    def plot_losses(self) -> None:
        self.recorder.plot_losses()
        plt.show()


class TbpttLearner(Learner):
    """A Learner for truncated BPTT: stateful model, state reset at every new window."""

    def __init__(self, dls: DataLoaders, model: torch.nn.Module, *args, cbs=(), **kwargs):
        if not any(isinstance(cb, TbpttResetCB) for cb in cbs):
            cbs = [TbpttResetCB(), *cbs]
        super().__init__(dls, model, *args, cbs=cbs, **kwargs)


class CheckpointedLearner(Learner):
    """Full BPTT with activation checkpointing over chunks of ``chunk_len`` steps.

    The gradient is exactly full BPTT's. Memory: only the hidden states at chunk
    boundaries and one chunk's activations at a time, instead of every step's.
    Cost: the forward pass runs twice (once more, chunk by chunk, during backward).
    """

    def __init__(self, dls: DataLoaders, model: torch.nn.Module, chunk_len: int, **kwargs):
        check_sub_seq_len(dls.win_sz, chunk_len)
        self.chunk_len = chunk_len
        super().__init__(dls, model, **kwargs)

    def forward_backward(self, batch) -> torch.Tensor:
        hidden_state, preds = None, []
        for t in range(0, batch.u.shape[1], self.chunk_len):
            chunk = batch.u[:, t : t + self.chunk_len]
            y, hidden_state = checkpoint(
                self.model.forward_from, chunk, hidden_state, use_reentrant=False
            )
            preds.append(y)
        loss = self.loss_on(torch.cat(preds, dim=1), batch)
        loss.backward()
        return loss


class TbpttK1K2Learner(TbpttLearner):
    """TBPTT(k1, k2): every k1 steps, backpropagate through the last k2 steps (k2 >= k1).

    The loaders hand out sub-windows of k1 = ``sub_seq_len`` steps. Each step re-runs the
    forward pass over the k2 - k1 steps before the sub-window (kept as ``history``),
    starting from the detached state at the history's start, so the loss of the newest
    step reaches exactly k2 steps back. k1 == k2 is plain TBPTT. Forward work grows by
    k2 / k1; activation memory by the same factor.
    """

    def __init__(self, dls: DataLoaders, model: torch.nn.Module, bptt_len: int, **kwargs):
        k1 = dls.sub_seq_len
        if isinstance(bptt_len, bool) or not isinstance(bptt_len, int) or bptt_len < k1:
            raise ValueError(
                f"bptt_len={bptt_len!r} must be an int >= sub_seq_len={k1} (k2 >= k1)."
            )
        self.bptt_len, self.history = bptt_len, None
        super().__init__(dls, model, **kwargs)

    def forward_backward(self, batch) -> torch.Tensor:
        if batch.new_window or self.history is None:
            self.history = batch.u[:, :0]  # nothing before the window's start
        span = torch.cat([self.history, batch.u], dim=1)  # at most k2 steps
        keep = min(self.bptt_len - batch.u.shape[1], span.shape[1])  # history for next time
        cut = span.shape[1] - keep
        hidden_state = self.model.state_for(span)  # state at the span's start, detached
        preds, mid_state = [], hidden_state
        if cut > 0:  # steps that drop out of the next span
            y, mid_state = self.model.forward_from(span[:, :cut], hidden_state)
            preds.append(y)
        if keep > 0:  # steps that stay as history
            preds.append(self.model.forward_from(span[:, cut:], mid_state)[0])
        pred = torch.cat(preds, dim=1)
        loss = self.loss_on(pred[:, -batch.u.shape[1] :], batch)
        loss.backward()
        self.model.hidden_state = detach_state(mid_state)  # the state at the next span's start
        self.history = span[:, cut:]
        return loss


BPTT_MODES = ("full", "truncated", "checkpointed")


def RNNLearner(
    dls: DataLoaders,
    rnn_type: str = "lstm",
    hidden_size: int = 40,
    num_layers: int = 1,
    sub_seq_len: int | None = None,
    metrics=(),
    loss_func=mae,
    n_skip: int = 0,
    seed: int | None = None,
    cbs=(),
    progress: bool = True,
    bptt: str | None = None,
    bptt_len: int | None = None,
    act_mem: bool = True,
    max_memory=None,
) -> Learner:
    """A learner around a fresh ``StatefulRNN``; ``bptt`` picks how gradients flow back in time.

    - "full" (default without ``sub_seq_len``): backpropagate through each whole window.
    - "truncated" (default with ``sub_seq_len``): a ``TbpttLearner`` with ``TbpttResetCB``;
      ``dls`` must hand out sub-windows of the same length (``create_dls_*(sub_seq_len=...)``).
      With ``bptt_len=k2``: TBPTT(k1=sub_seq_len, k2), see ``TbpttK1K2Learner``.
    - "checkpointed": exact full BPTT, activation checkpointing over chunks of
      ``sub_seq_len``; ``dls`` hands out whole windows.

    act_mem: add the table's act_mem column (``ActMemCB``): the activation memory of the
    epoch's largest training step. max_memory: the budget ``fit`` checks the predicted
    activation memory against (bytes or "2 GiB"; None: 80% of the free memory); a run
    over budget is refused before anything is allocated.
    """
    bptt = bptt or ("full" if sub_seq_len is None else "truncated")
    if bptt not in BPTT_MODES:
        raise ValueError(f"bptt={bptt!r} is unknown: choose one of {BPTT_MODES}.")
    if bptt != "full" and sub_seq_len is None:
        raise ValueError(f"bptt={bptt!r} needs sub_seq_len (the chunk length), got None.")
    if sub_seq_len is not None:
        check_sub_seq_len(dls.win_sz, sub_seq_len)
    expected = sub_seq_len if bptt == "truncated" else None  # what the loaders must hand out
    if dls.sub_seq_len != expected:
        got = f"sub-windows of {dls.sub_seq_len}" if dls.sub_seq_len else "whole windows"
        want = f"sub-windows of {expected}" if expected else "whole windows"
        raise ValueError(
            f"RNNLearner(bptt={bptt!r}, sub_seq_len={sub_seq_len}) needs loaders that hand out "
            f"{want}, but these hand out {got}: create the loaders with "
            f"sub_seq_len={expected} (valid here: {dls.sub_seq_len})."
        )
    if bptt_len is not None and bptt != "truncated":
        raise ValueError(f"bptt_len={bptt_len} needs bptt='truncated' and sub_seq_len.")
    if seed is not None:
        torch.manual_seed(seed)
    model = StatefulRNN(
        dls.n_u,
        dls.n_y,
        rnn_type,
        hidden_size,
        num_layers,
        dls.norm,
        stateful=bptt == "truncated",
    )
    model.to(dls.train.device)
    if act_mem:
        cbs = [*cbs, ActMemCB()]
    kwargs = dict(
        loss_func=loss_func, metrics=metrics, n_skip=n_skip, seed=seed, cbs=cbs, progress=progress
    )
    kwargs["max_memory"] = max_memory
    if bptt == "checkpointed":
        return CheckpointedLearner(dls, model, chunk_len=sub_seq_len, **kwargs)
    if bptt_len is not None:
        return TbpttK1K2Learner(dls, model, bptt_len=bptt_len, **kwargs)
    if bptt == "truncated":
        return TbpttLearner(dls, model, **kwargs)
    return Learner(dls, model, **kwargs)
