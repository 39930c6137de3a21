"""Randomized truncation (ARTBP, Tallec & Ollivier 2017): cuts drawn at random, the gradient
rescaled where no cut fell, so that *on average* it is full BPTT's gradient.

Truncated BPTT cuts the gradient every k steps, always at the same places: whatever lies
further back is never seen, and the gradient is *biased*. ARTBP instead draws, before each
step, whether to cut there. With ``age`` the steps since the last cut, it cuts with the
probability ``c(age)`` (the *hazard* of the truncation length's distribution). Where it does
not cut, the gradient flowing back through that step boundary is multiplied by the
*compensation* ``1 / (1 - c(age))``. A path of the gradient that crosses n boundaries
survives with the probability prod (1 - c) and, when it survives, carries prod 1 / (1 - c):
its expected weight is exactly 1, as in full BPTT. The price is variance: the rare long
paths come back large.

    step boundary:      |  no cut: grad * 1/(1-c)  |  cut: grad stops  |  no cut  | ...

The compensation divides by 1 - c(age): every length the window can hold must keep a
positive probability of going on (``Truncation.check``). Memory: a sub-window runs again
the steps since the last cut (like TBPTT(k1, k2), with a random k2 of mean ``mean_len``).
The cuts are drawn once per batch, shared by its rows. On stream loaders a row whose record
starts inside the steps run again is zeroed there (``model.past_resets``), as truncated BPTT
zeroes it when its batch starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .model import detach_state

__all__ = ["Truncation", "randomized_forward", "scale_grad"]


@dataclass(frozen=True)
class Truncation:
    """The distribution of truncation lengths L (steps between two cuts), and its draws.

    ``Truncation(mean_len=16)``: geometric, a cut before each step with c = 1 / mean_len
    (every length possible, the mean ``mean_len`` steps). ``Truncation(probs=(p1, p2, ...))``:
    P(L = 1), P(L = 2), ... summing to 1, lengths beyond them impossible. ``seed``: the same
    seed always draws the same cuts.
    """

    mean_len: float | None = None
    probs: tuple[float, ...] | None = None
    seed: int = 0
    generator: torch.Generator = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if (self.mean_len is None) == (self.probs is None):
            raise ValueError(
                f"Truncation needs exactly one of mean_len (geometric) or probs (P(L = 1), "
                f"P(L = 2), ...), got mean_len={self.mean_len}, probs={self.probs}."
            )
        if self.mean_len is not None:
            m = self.mean_len
            if isinstance(m, bool) or not isinstance(m, (int, float)) or not m > 1:
                raise ValueError(
                    f"mean_len must be a number > 1 (mean_len=1 cuts before every step and "
                    f"the compensation 1 / (1 - c) divides by zero), got {m!r}."
                )
        else:
            probs = tuple(float(p) for p in self.probs)
            if not probs or min(probs) < 0 or not math.isclose(sum(probs), 1.0, abs_tol=1e-6):
                raise ValueError(
                    f"probs must be P(L = 1), P(L = 2), ...: non-negative, summing to 1, "
                    f"got {self.probs} (sum {sum(probs):.6g})."
                )
            object.__setattr__(self, "probs", probs)
        object.__setattr__(self, "generator", torch.Generator().manual_seed(self.seed))

    @property
    def mean(self) -> float:
        """The mean truncation length E[L], in steps."""
        if self.mean_len is not None:
            return float(self.mean_len)
        return sum(length * p for length, p in enumerate(self.probs, start=1))

    def survival(self, age: int) -> float:
        """P(L > age): the probability that no cut falls in the first ``age`` steps."""
        if self.mean_len is not None:
            return (1 - 1 / self.mean_len) ** age
        return max(0.0, 1.0 - sum(self.probs[:age]))

    def hazard(self, age: int) -> float:
        """c(age) = P(L = age | L >= age): the probability of a cut ``age`` steps after the last."""
        if self.mean_len is not None:
            return 1 / self.mean_len
        alive = self.survival(age - 1)
        if alive <= 1e-12 or age > len(self.probs):
            return 1.0
        return min(1.0, self.probs[age - 1] / alive)

    def compensation(self, age: int) -> float:
        """1 / (1 - c(age)): the factor on the gradient through a boundary that was not cut."""
        return 1 / (1 - self.hazard(age))

    def check(self, win_sz: int | None) -> None:
        """Raise a ValueError unless every boundary a window of ``win_sz`` steps holds can
        go on uncut (the compensation never divides by zero) and E[L] <= win_sz. None (a
        stream, no window end): every length must be possible."""
        if win_sz is None:
            if self.probs is not None:
                raise ValueError(
                    f"probs={self.probs} makes lengths > {len(self.probs)} impossible, but a "
                    f"stream has no end: use the geometric Truncation(mean_len=...)."
                )
            return
        if self.mean > win_sz:
            raise ValueError(
                f"the mean truncation length {self.mean:g} is longer than the window "
                f"(win_sz={win_sz}): choose a mean <= {win_sz}."
            )
        for age in range(1, win_sz):
            if self.survival(age) <= 1e-12:
                raise ValueError(
                    f"P(L > {age}) = 0 in probs={self.probs}: no path reaches {age + 1} steps "
                    f"back, and the compensation 1 / (1 - c({age})) divides by zero. In a "
                    f"window of win_sz={win_sz} every length up to {win_sz} needs P > 0."
                )

    def label(self) -> str:
        """'geometric, mean 16' or 'given P(L), mean 12.5'."""
        kind = "geometric" if self.mean_len is not None else "given P(L)"
        return f"{kind}, mean {self.mean:g}"

    def draw_cuts(self, first_age: int, n: int) -> list[bool]:
        """Draw whether to cut before each of ``n`` consecutive steps, the first ``first_age``
        steps after the last cut. Uses (and advances) this truncation's own generator."""
        draws, cuts, age = torch.rand(n, generator=self.generator).tolist(), [], first_age
        for r in draws:
            cut = r < self.hazard(age)
            cuts.append(cut)
            age = 1 if cut else age + 1
        return cuts


class _ScaleGrad(torch.autograd.Function):
    """The identity forward; the gradient times ``factor`` backward."""

    @staticmethod
    def forward(ctx, x, factor):
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.factor, None


def scale_grad(hidden_state, factor: float):
    """A hidden state (a tensor or an LSTM's (h, c)) unchanged, its gradient times ``factor``."""
    if isinstance(hidden_state, tuple):
        return tuple(_ScaleGrad.apply(h, factor) for h in hidden_state)
    return _ScaleGrad.apply(hidden_state, factor)


def randomized_forward(model, u: torch.Tensor, truncation: Truncation) -> torch.Tensor:
    """ARTBP's forward pass for one (sub-)batch u (bs, seq_len, n_u): the steps since the last
    cut (``model.past_u``, from the detached ``model.hidden_state`` at that cut) run again,
    then u, a cut drawn before each new step; uncut boundaries scale the gradient by the
    compensation. Returns u's predictions (bs, seq_len, n_y). Without autograd (validation)
    it runs u as truncated BPTT does: the values are the same."""
    if not torch.is_grad_enabled():  # as truncated BPTT: continue, keep the state detached
        model.past_u = model.past_resets = None
        y, hidden_state = model.forward_from(u, model.state_for(u))
        model.hidden_state = detach_state(hidden_state)
        return y
    past = model.past_u if model.past_u is not None else u[:, :0]
    span, resets = torch.cat([past, u], dim=1), dict(getattr(model, "past_resets", None) or [])
    first_new = max(past.shape[1], 1)  # the boundaries before steps first_new.. are drawn now
    cuts = [False] * first_new + truncation.draw_cuts(first_new, span.shape[1] - first_new)
    state, preds, last_cut, run_from = model.state_for(span), [], 0, 0
    for j in range(1, span.shape[1]):
        age = j - last_cut
        if not cuts[j] and j not in resets and truncation.hazard(age) == 0:
            continue  # nothing happens at this boundary: keep running
        y, state = model.forward_from(span[:, run_from:j], state)
        preds.append(y)
        if j in resets:  # a stream's row starts a new record here: from zeros
            state = _zero_rows(state, resets[j])
        if cuts[j]:
            state, last_cut = detach_state(state), j
            model.hidden_state = state
        else:
            state = scale_grad(state, truncation.compensation(age))
        run_from = j
    preds.append(model.forward_from(span[:, run_from:], state)[0])
    model.past_u = span[:, last_cut:]
    model.past_resets = [(j - last_cut, rows) for j, rows in resets.items() if j > last_cut]
    return torch.cat(preds, dim=1)[:, -u.shape[1] :]


def _zero_rows(hidden_state, rows: torch.Tensor):
    """The state (num_layers, bs, H), or an LSTM's (h, c), with the rows ``rows`` (bs,) zeroed."""
    if isinstance(hidden_state, tuple):
        return tuple(_zero_rows(h, rows) for h in hidden_state)
    keep = (~rows.to(torch.bool)).to(hidden_state.device, hidden_state.dtype)
    return hidden_state * keep.reshape(1, -1, 1)
