"""The learner: a model, its data, how it backpropagates through time, and the loop.

``Learner.train_epoch`` and ``Learner.one_batch`` are the whole (truncated) BPTT loop, as
it runs in every mode and with every callback. For each (sub-)batch: callbacks before
(``TbpttResetCB``, on every learner, resets the state where ``batch.reset`` says), the
forward pass as the ``BPTT`` runs it (truncated: from the carried state, detached at the
end, ``bptt.py``: that line is the truncation), loss, backward, step, callbacks after.

Everything optional (the live table, the memory meter, the budget guard, the non-finite
stop, gradient clipping, smoke mode) is a callback in ``callbacks.py`` or ``memory/``.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import torch
import torch._dynamo  # noqa: F401  torch.optim imports it with the first optimizer (seconds):

# paid here, at import, instead of in the first epoch and on the lab's first click
from .bptt import BPTT
from .data.batch import split_windows
from .data.windows import DataLoaders, Normalizer, WindowDataset, WindowLoader
from .losses import mae
from .saving import load_model, save_model
from .validation import check_int, check_number, check_positive

__all__ = [
    "Callback",
    "Learner",
    "TbpttResetCB",
    "adam",
    "check_positive",
    "flat_cos",
    "learner_for",
]


def adam(params, lr: float = 1e-3) -> torch.optim.Optimizer:
    """Adam, with PyTorch's fused kernel where this torch has one for the parameters' device
    (CUDA; CPU since torch 2.4): the same algorithm, one kernel per step for all parameters.
    Plain Adam otherwise. ``benchmarks/optimizer_choice.py`` compares the kernels."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.Adam(params, lr=lr)


# -- callbacks ----------------------------------------------------------------------------
class Callback:
    """Hooks the learner calls, in ``order`` (lower first). ``after_fit`` runs even when
    ``fit`` stops early (an error, Ctrl-C): put the clean-up there."""

    order = 0

    def before_fit(self, learn): ...
    def before_epoch(self, learn): ...
    def before_batch(self, learn): ...
    def after_loss(self, learn): ...
    def after_backward(self, learn): ...
    def after_batch(self, learn): ...
    def after_epoch(self, learn): ...
    def after_fit(self, learn): ...
    def after_validate(self, learn): ...


class TbpttResetCB(Callback):
    """Forget the past where it ends (``batch.reset``): the whole state when a batch starts
    new windows, only the rows whose stream starts a new record in the stream layout. Every
    ``Learner`` has one."""

    order = -10

    def before_batch(self, learn):
        reset = learn.batch.reset  # (bs,) bool: the rows whose state starts here
        if reset.all():
            learn.model.reset_state()
        elif reset.any():
            learn.model.reset_state(rows=reset)


# -- the learner --------------------------------------------------------------------------
class Learner:
    """Trains ``model`` on ``dls`` as ``bptt`` says: one optimizer step per (sub-)batch.

    loss_func(pred, targ) and metrics(pred, targ) take (n_samples, n_y) in the signal's
    units. n_skip: leave each window's first n steps out of the loss (a warm-up).
    """

    def __init__(
        self,
        dls: DataLoaders,
        model: torch.nn.Module,
        bptt: BPTT | None = None,
        loss_func=mae,
        metrics=(),
        n_skip: int = 0,
        opt_func=adam,
        cbs=(),
        seed: int | None = None,
    ):
        self.bptt = bptt or BPTT()
        self.bptt.check_loaders(dls)
        first_len = dls.sub_seq_len or dls.win_sz
        n_skip = check_int("n_skip", n_skip, minimum=0)
        if n_skip >= first_len:
            raise ValueError(
                f"n_skip={n_skip} leaves nothing of the first (sub-)window of {first_len} steps: "
                f"choose n_skip < {first_len}."
            )
        self.dls, self.model, self.loss_func = dls, model, loss_func
        self.metrics, self.n_skip, self.opt_func = list(metrics), n_skip, opt_func
        self.cbs, self.training, self.opt = list(cbs), False, None
        if not any(isinstance(cb, TbpttResetCB) for cb in self.cbs):
            self.cbs.append(TbpttResetCB())  # the state is reset where the loaders say
        if seed is not None:
            dls.train.generator.manual_seed(check_int("seed", seed, minimum=0))

    def add_cb(self, cb: Callback) -> Learner:
        self.cbs.append(cb)
        return self

    def remove_cb(self, cb_type: type) -> Learner:
        self.cbs = [cb for cb in self.cbs if not isinstance(cb, cb_type)]
        return self

    def __call__(self, event: str) -> None:
        """Run ``event`` (e.g. "before_batch") on every callback, in order."""
        for cb in sorted(self.cbs, key=lambda cb: cb.order):
            getattr(cb, event)(self)

    # -- the (truncated) BPTT loop: one (sub-)batch, one epoch --
    def one_batch(self) -> None:
        """Forward ``self.batch`` from the carried state, its loss; in training, backward and step."""
        self.pred = self.bptt.forward(self.model, self.batch.u)
        self.loss = self.loss_func(*self.kept(self.pred, self.batch))
        self("after_loss")  # e.g. several processes: weigh by the global count of kept steps
        if self.training:
            self.loss.backward()
            self("after_backward")  # e.g. clip the gradients
            self.opt.step()
            self.sched.step()
            self.opt.zero_grad()

    def train_epoch(self) -> None:
        """Every (sub-)batch of the training loader, sub-windows in time order."""
        self.training = True
        self.model.train()
        for self.step_in_epoch, self.batch in enumerate(self.dls.train):
            self("before_batch")  # TbpttResetCB: new windows start -> reset the state
            self.one_batch()
            self("after_batch")  # the recorder, the progress bar, the non-finite stop, ...
        self.training = False

    def kept(self, pred: torch.Tensor, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(pred, targ) flattened to (n_samples, ...): padded steps (``batch.mask``) and the
        first n_skip steps after each start (a window's, or a row's new record in the stream
        layout) left out. Text: pred (n_samples, V) logits, targ (n_samples,) ids."""
        keep = batch.mask
        if self.n_skip and batch.reset.any():
            skip = torch.zeros(batch.y.shape[:2], dtype=torch.bool, device=batch.y.device)
            skip[:, : self.n_skip] = batch.reset.reshape(-1, 1)
            keep = ~skip if keep is None else keep & ~skip  # rows that start here skip n_skip
        if keep is None:
            return pred.flatten(0, 1), batch.y.flatten(0, 1)
        return pred[keep], batch.y[keep]

    # -- fitting --
    def fit(self, n_epoch: int, lr: float = 3e-3, make_sched=None) -> None:
        """Train for ``n_epoch`` epochs at learning rate ``lr`` (constant unless a schedule is given).

        make_sched(opt, total_steps) -> a torch LR scheduler, stepped after every optimizer step.
        """
        n_epoch, lr = check_int("n_epoch", n_epoch), check_number("lr", lr, 0, low_open=True)
        self.n_epoch, self.lr, self.steps_per_epoch = n_epoch, lr, len(self.dls.train)
        self.model.zero_grad(set_to_none=True)  # nothing left over from an earlier run
        try:
            self("before_fit")  # may refuse (the budget guard) or shorten (smoke mode)
            self.opt = self.opt_func(self.model.parameters(), lr=lr)
            make_sched = make_sched or (
                lambda opt, total: torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
            )
            self.sched = make_sched(self.opt, self.n_epoch * self.steps_per_epoch)
            for self.epoch in range(self.n_epoch):
                self("before_epoch")
                self.train_epoch()
                self.valid_scores = self.validate()
                self("after_epoch")
        finally:  # also after Ctrl-C: out of training mode, every callback cleaned up
            self.training = False
            self.model.eval()
            self.model.zero_grad(set_to_none=True)  # a failed step's gradients go, too
            self("after_fit")

    def fit_flat_cos(self, n_epoch: int, lr: float = 3e-3, pct_start: float = 0.75) -> None:
        """Constant LR for the first ``pct_start`` of the steps, then a cosine down to zero."""
        pct_start = check_number("pct_start", pct_start, 0, 1)
        self.fit(n_epoch, lr, lambda opt, total: flat_cos(opt, total, pct_start))

    def fit_one_cycle(self, n_epoch: int, lr: float = 3e-3, pct_start: float = 0.25) -> None:
        """Warm up to ``lr``, then anneal: torch's OneCycleLR, stepped once per (sub-)batch."""
        pct_start = check_number("pct_start", pct_start, 0, 1, low_open=True, high_open=True)
        lr = check_number("lr", lr, 0, low_open=True)
        self.fit(
            n_epoch,
            lr,
            lambda opt, total: torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=lr, total_steps=total, pct_start=pct_start
            ),
        )

    # -- evaluation: the same loop, no backward --
    @torch.no_grad()
    def predict(self, dl=None, whole_windows: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Predictions and targets over a loader (valid by default), as (n_samples, n_y)
        with n_skip steps left out; ``whole_windows=True``: as (n_windows, win_sz, n_y), or
        for streams (bs, stream_len, n_y), nothing left out. The state is carried across
        sub-windows, as in training."""
        self.training = False
        self.model.eval()
        preds, targs = [], []
        for i, self.batch in enumerate(dl or self.dls.valid):
            self("before_batch")
            self.one_batch()
            self("after_batch")
            pred, targ = (
                (self.pred, self.batch.y) if whole_windows else self.kept(self.pred, self.batch)
            )
            if whole_windows and i > 0 and self.batch.sub_idx != 0:  # goes on: join in time
                pred, targ = torch.cat([preds.pop(), pred], 1), torch.cat([targs.pop(), targ], 1)
            preds.append(pred)
            targs.append(targ)
        return torch.cat(preds), torch.cat(targs)

    def validate(self, dl=None) -> list[float]:
        """[valid_loss, *metrics] over the validation windows, in the signal's units."""
        pred, targ = self.predict(dl)
        self.valid_scores = [float(f(pred, targ)) for f in [self.loss_func, *self.metrics]]
        return self("after_validate") or self.valid_scores  # a callback may combine processes

    def run_windows(self, u: torch.Tensor, y: torch.Tensor, backward: bool = True, each=None):
        """Run one batch of whole windows u (bs, win_sz, n_u), y (bs, win_sz, n_y) through
        this learner's own step: cut into its sub-windows in time order, state reset at the
        start, callbacks run; ``backward`` after each sub-window, but no optimizer step.
        ``each()``: a context manager entered around each sub-window (e.g. a memory meter).
        Returns the predictions (bs, win_sz, n_y), graph attached as the mode attaches it.
        The model's state and gradients are left as they were found."""
        model = self.model
        saved = (model.training, model.hidden_state, model.past_u)
        grads = [p.grad for p in model.parameters()]
        for p in model.parameters():
            p.grad = None
        self.training, preds = False, []
        model.train()
        try:
            for self.batch in split_windows(u, y, self.bptt.loader_sub_seq_len):
                with each() if each else contextlib.nullcontext():
                    self("before_batch")
                    self.one_batch()
                    if backward:
                        self.loss.backward()
                    self("after_batch")
                preds.append(self.pred)
        finally:
            model.train(saved[0])
            model.hidden_state, model.past_u = saved[1:]
            for p, g in zip(model.parameters(), grads):
                p.grad = g
        return torch.cat(preds, dim=1)

    # -- save and load: weights and the settings they belong to (``saving.py``) --
    def save(self, path) -> Path:
        """Write the model's weights and settings to ``path`` atomically; returns it."""
        return save_model(self, path)

    def load(self, path) -> Learner:
        """Read weights written by ``save`` into this learner's model, after checking that
        they fit it (never unpickles arbitrary objects)."""
        load_model(self, path)
        return self


def flat_cos(opt, total: int, pct_start: float):
    """A torch LR scheduler over ``total`` steps: factor 1 for the first ``pct_start`` of
    them, then a cosine down to 0."""
    flat = int(pct_start * total)

    def factor(step):
        if step < flat:
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * (step - flat) / max(total - flat, 1)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def learner_for(model, u: torch.Tensor, y: torch.Tensor, bptt: BPTT | None = None, loss_func=mae):
    """A learner around ``model`` whose loaders hold exactly the windows u (bs, win_sz, n_u),
    y (bs, win_sz, n_y), backpropagating as ``bptt`` says (None: full BPTT). For measuring
    a bare model with the learner's own step."""
    bptt = bptt or BPTT()
    records = [(u_i.detach().cpu().numpy(), y_i.detach().cpu().numpy()) for u_i, y_i in zip(u, y)]
    ds = WindowDataset(records, win_sz=u.shape[1], stp_sz=u.shape[1])
    loader = WindowLoader(ds, len(records), sub_seq_len=bptt.loader_sub_seq_len, device=u.device)
    norm = Normalizer(*(torch.zeros(1), torch.ones(1)) * 2)  # unused: the model has its own
    dls = DataLoaders(loader, loader, {}, norm)
    return Learner(dls, model, bptt, loss_func)
