"""The learner: the loop of truncated backpropagation through time, where you can see it.

For each (sub-)batch, ``one_batch`` does the three things truncated BPTT is made of, one
line each, in this order:

    state = reset_rows(self.hidden_state, batch.reset)  # reset: a new window or record
    self.pred, state = self.forward(batch.u, state)      # carry: go on from that state
    self.hidden_state = detach_state(state)              # detach: the gradient stops here

then the loss, ``backward`` and one optimizer step. Full BPTT is the same loop over whole
windows: one sub-window each, and every batch resets every row. The modes beyond plain
truncation (``tbptt_kit.modes``: TBPTT(k1, k2), checkpointed, randomized) run the model
their own way while a gradient is taken (``self.carry``). Everything optional (the live
table, the memory meter, clipping, several processes) is a ``Callback``.
"""

from __future__ import annotations

import math

import torch

from .batch import Batch
from .checks import check_int, check_number
from .model import detach_state, reset_rows

__all__ = ["Callback", "Learner", "flat_cos", "mae"]


def mae(pred: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
    """Mean absolute error, in the signal's units: the default loss."""
    return (pred - targ).abs().mean()


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


class Learner:
    """Trains ``model`` on ``dls``, one optimizer step per (sub-)batch.

    bptt: a mode of ``tbptt_kit.modes`` (``BPTT``); None: plain truncated BPTT over the
        loaders' sub-windows, which is full BPTT when they hand out whole windows.
    loss_func(pred, targ) and metrics take (n_samples, n_y) in the signal's units (text:
        logits (n_samples, V) and ids). n_skip: leave the first n steps after each reset
        out of the loss (a warm-up). seed: the order of the training windows.
    """

    def __init__(
        self,
        dls,
        model,
        bptt=None,
        loss_func=mae,
        metrics=(),
        n_skip=0,
        opt_func=torch.optim.Adam,
        cbs=(),
        seed=None,
    ):
        if bptt is not None:
            bptt.check_loaders(dls)
        n_skip, first = check_int("n_skip", n_skip, minimum=0), dls.sub_seq_len or dls.win_sz
        if n_skip >= first:
            raise ValueError(
                f"n_skip={n_skip} leaves nothing of the first (sub-)window of {first} steps: "
                f"choose n_skip < {first}."
            )
        self.dls, self.model, self.bptt, self.loss_func = dls, model, bptt, loss_func
        self.metrics, self.n_skip, self.opt_func = list(metrics), n_skip, opt_func
        self.cbs, self.training, self.opt = list(cbs), False, None
        self.hidden_state, self.carry = None, bptt.carry() if bptt is not None else None
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

    # -- the loop: one (sub-)batch, one epoch --------------------------------------------
    def one_batch(self) -> None:
        """Reset, carry, detach; the loss; in training, backward and an optimizer step."""
        state = reset_rows(self.hidden_state, self.batch.reset)  # reset: rows that start here
        self.pred, state = self.forward(self.batch.u, state)  # carry: go on from the state
        self.hidden_state = detach_state(state)  # detach: the next gradient stops here
        self.loss = self.loss_func(*self.kept(self.pred, self.batch))
        self("after_loss")  # e.g. several processes: weigh by the global count of steps
        if self.training:
            self.loss.backward()
            self("after_backward")  # e.g. clip the gradients
            self.opt.step()
            self.sched.step()
            self.opt.zero_grad()

    def forward(self, u: torch.Tensor, state):
        """The model over u from ``state``: (pred, final state). A mode that runs the model
        its own way (``self.carry``) does so while a gradient is taken; without a gradient
        every mode predicts the same, as the model runs here."""
        if self.carry is None or not torch.is_grad_enabled():
            return self.model(u, state)
        return self.carry(self.model, u, state, self.batch.reset)

    def train_epoch(self) -> None:
        """Every (sub-)batch of the training loader, sub-windows in time order."""
        self.training, self.hidden_state = True, None
        self.model.train()
        for self.step_in_epoch, self.batch in enumerate(self.dls.train):
            self("before_batch")
            self.one_batch()
            self("after_batch")  # the recorder, the progress bar, the non-finite stop, ...
        self.training = False

    def kept(self, pred: torch.Tensor, batch: Batch):
        """(pred, targ) flattened to (n_samples, ...), without padded steps (``batch.mask``)
        and without the first n_skip steps of the rows that reset at this batch."""
        keep = batch.mask
        if self.n_skip and batch.reset.any():
            skip = torch.zeros(batch.y.shape[:2], dtype=torch.bool, device=batch.y.device)
            skip[:, : self.n_skip] = batch.reset.reshape(-1, 1)
            keep = ~skip if keep is None else keep & ~skip
        if keep is None:
            return pred.flatten(0, 1), batch.y.flatten(0, 1)
        return pred[keep], batch.y[keep]

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, n_epoch: int, lr: float = 3e-3, make_sched=None) -> None:
        """``n_epoch`` epochs at learning rate ``lr``; make_sched(opt, total_steps) -> a
        torch LR scheduler stepped after every optimizer step (None: constant)."""
        n_epoch, lr = check_int("n_epoch", n_epoch), check_number("lr", lr, 0, low_open=True)
        self.n_epoch, self.lr, self.steps_per_epoch = n_epoch, lr, len(self.dls.train)
        self.model.zero_grad(set_to_none=True)  # nothing left over from an earlier run
        self.carry = self.bptt.carry() if self.bptt is not None else None  # a fresh one
        try:
            self("before_fit")  # may refuse (the budget guard) or shorten (smoke mode)
            self.opt = self.opt_func(self.model.parameters(), lr=lr)
            make_sched = make_sched or (lambda opt, total: flat_cos(opt, total, 1.0))  # flat
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

    # -- evaluation: the same loop, no backward --------------------------------------------
    @torch.no_grad()
    def predict(self, dl=None, whole_windows: bool = False):
        """Predictions and targets over a loader (valid by default), (n_samples, n_y)
        without the steps the loss leaves out; ``whole_windows``: (n_windows, win_sz, n_y)
        (streams: (bs, stream_len, n_y)), every step. The state goes on as in training."""
        found, was_training = dict(vars(self)), self.model.training  # put back at the end
        self.training, self.hidden_state = False, None
        self.model.eval()
        preds, targs = [], []
        for i, self.batch in enumerate(dl or self.dls.valid):
            self("before_batch")
            self.one_batch()
            self("after_batch")
            kept = (self.pred, self.batch.y) if whole_windows else self.kept(self.pred, self.batch)
            pred, targ = kept
            if whole_windows and i > 0 and self.batch.sub_idx != 0:  # goes on: join in time
                pred, targ = torch.cat([preds.pop(), pred], 1), torch.cat([targs.pop(), targ], 1)
            preds.append(pred)
            targs.append(targ)
        vars(self).update(found)  # as found: validating mid-epoch changes no training
        self.model.train(was_training)
        return torch.cat(preds), torch.cat(targs)

    def validate(self, dl=None) -> list[float]:
        """[valid_loss, *metrics] over the validation loader, in the signal's units."""
        pred, targ = self.predict(dl)
        self.valid_scores = [float(f(pred, targ)) for f in [self.loss_func, *self.metrics]]
        return self("after_validate") or self.valid_scores  # a callback may combine processes


def flat_cos(opt, total: int, pct_start: float):
    """A torch LR scheduler over ``total`` steps: factor 1 for the first ``pct_start`` of
    them, then a cosine down to 0."""
    flat = int(pct_start * total)

    def factor(step):
        if step < flat:
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * (step - flat) / max(total - flat, 1)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)
