"""The echo task: the target is the input ``delay`` steps back. A pure test of memory.

    u:  a random input, one independent N(0, 1) value per step (unitless)
    y:  y[t] = u[t - delay] + noise[t],   noise ~ N(0, noise²)

Nothing in u[t - delay + 1 ... t] says anything about u[t - delay]: to predict y[t] the
network must have *stored* u[t - delay] in its hidden state, ``delay`` steps ago. Training
teaches that only if the gradient of the loss at step t reaches back to step t - delay.
Truncated BPTT with sub-windows shorter than ``delay`` cuts every such path, so the
network cannot learn to store anything and stays at the *trivial error*: predicting zero,
the mean, gives RMSE = sqrt(1 + noise²), the targets' standard deviation. A perfect
echo leaves only the noise: RMSE = noise.

The first ``delay`` steps of a window ask for inputs from before the window, which a
network whose state is reset at the window start cannot know. Leave them out of the loss
with ``n_skip=delay`` (under TBPTT the learner allows at most ``sub_seq_len - 1``), and
score with ``echo_rmse``, which always leaves them out.

Reference case (tests/data/test_echo.py): delay 8, the defaults of ``create_dls_echo``, an
LSTM of 32 units, ``loss_func=fun_rmse``, ``fit_flat_cos(10, lr=1e-2)``, seed 0;
``echo_rmse`` / ``trivial_rmse``, measured for seeds 0, 1, 2 on one CPU thread:

    sub_seq_len 4:   1.02, 0.95, 1.01   (5120 steps)  the trivial error
    sub_seq_len 8:   1.01, 0.97, 0.96   (2560 steps)  still nothing: the reach is 7 steps
    sub_seq_len 16:  0.042, 0.043, 0.044 (1280 steps) below a tenth
    full BPTT:       0.064, 0.055, 0.061 (320 steps)

A sub-window of 16 holds 8 steps whose echo lies inside it: there the gradient teaches the
network to store each input for 8 steps, and the same weights then carry it across the
sub-window boundary too, where no gradient reaches. The learning rate 1e-2 (not the
Silverbox's 3e-3) and the 32 units are what make 10 epochs enough.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..validation import check_int, check_number, check_seed
from .loaders import DataLoaders, create_dls

__all__ = ["ECHO_DELAY", "create_dls_echo", "echo_record", "echo_rmse", "trivial_rmse"]

ECHO_DELAY = 8  # the reference case


def echo_record(n: int, delay: int, noise: float, rng: np.random.Generator):
    """One record: u (n,) and y (n,), float32, with y[t] = u[t - delay] + noise."""
    u = rng.standard_normal(n + delay)  # delay extra steps before the record starts
    y = u[:n] + noise * rng.standard_normal(n)
    return u[delay:].astype(np.float32), y.astype(np.float32)


def trivial_rmse(noise: float) -> float:
    """RMSE of predicting zero on the echo task: the targets' std, sqrt(1 + noise²)."""
    return math.sqrt(1.0 + noise**2)


def create_dls_echo(
    delay: int = ECHO_DELAY,
    win_sz: int = 64,
    stp_sz: int = 8,
    bs: int = 32,
    sub_seq_len: int | None = None,
    n_train: int = 8192,
    n_valid: int = 2048,
    noise: float = 0.01,
    seed: int = 0,
    **kwargs,
) -> DataLoaders:
    """Loaders for the echo task: one train record of ``n_train`` steps, one valid record
    of ``n_valid`` steps, both drawn in memory (unitless, u ~ N(0, 1)).

    The same ``seed`` always gives the same data; train and valid come from two
    independent streams of it. Train windows of ``win_sz`` steps every ``stp_sz`` steps
    (defaults: 1017 windows, 32 batches of 32), valid windows back to back (32);
    ``sub_seq_len`` hands them out as sub-windows for truncated BPTT. No test records.

    The returned loaders also carry ``delay``, ``noise`` and ``trivial_rmse`` (predicting
    zero: sqrt(1 + noise²)); the best possible RMSE is ``noise`` (0.01 by default, far
    below a tenth of the trivial error). In the learner use ``n_skip=delay``, or
    ``sub_seq_len - 1`` when that is smaller (the learner skips only in the first
    sub-window). Other keyword arguments go to ``create_dls``. Takes milliseconds.
    """
    delay, win_sz = check_int("delay", delay), check_int("win_sz", win_sz)
    if delay >= win_sz:
        raise ValueError(f"delay={delay} must be shorter than win_sz={win_sz}.")
    noise, seed = check_number("noise", noise, 0), check_seed(seed)
    n_train = check_int("n_train", n_train, minimum=win_sz)  # one window at least
    n_valid = check_int("n_valid", n_valid, minimum=win_sz)
    train_rng, valid_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    train = echo_record(n_train, delay, noise, train_rng)
    valid = echo_record(n_valid, delay, noise, valid_rng)
    dls = create_dls(
        train,
        valid,
        bs=bs,
        win_sz=win_sz,
        stp_sz=stp_sz,
        sub_seq_len=sub_seq_len,
        seed=seed,
        **kwargs,
    )
    dls.delay, dls.noise, dls.trivial_rmse = delay, noise, trivial_rmse(noise)
    return dls


@torch.no_grad()
def echo_rmse(learn) -> float:
    """RMSE of a learner on all validation windows of the echo task, the first ``delay``
    steps of each window left out (their echo lies before the window).

    Each window runs whole from a zero state (``model(u)``), which gives the same
    predictions as running it sub-window by sub-window: it scores every training mode
    alike. Compare with ``learn.dls.trivial_rmse`` (predicting zero) and with the noise
    (perfect). Cost: one forward pass over the validation windows.
    """
    dls = learn.dls
    u, y = dls.valid.ds[list(range(len(dls.valid.ds)))]
    learn.model.eval()
    param = next(learn.model.parameters())
    pred, _ = learn.model(u.to(param.device))
    err = pred.cpu()[:, dls.delay :] - y[:, dls.delay :]
    return float(err.pow(2).mean().sqrt())
