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
The cuts are drawn once per batch, shared by its rows, from the run's own generator (seeded
by ``Truncation.seed``: the same seed, the same run). On stream loaders a row whose record
starts inside the steps run again is zeroed there, as truncated BPTT zeroes it when its
batch starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..core.checks import check_int, check_number
from ..core.model import detach_state, reset_rows
from .truncated import Full, check_k1

__all__ = ["RandomCuts", "Randomized", "Truncation", "scale_grad"]


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

    def __post_init__(self):
        if (self.mean_len is None) == (self.probs is None):
            raise ValueError(
                f"Truncation needs exactly one of mean_len (geometric) or probs (P(L = 1), "
                f"P(L = 2), ...), got mean_len={self.mean_len}, probs={self.probs}."
            )
        object.__setattr__(self, "seed", check_int("seed", self.seed, minimum=0))  # numpy's too
        if self.mean_len is not None:
            try:
                check_number("mean_len", self.mean_len, 1, low_open=True)
            except (TypeError, ValueError):
                raise ValueError(
                    f"mean_len must be a number > 1 and finite (mean_len=1 cuts before every "
                    f"step and the compensation 1 / (1 - c) divides by zero), got "
                    f"{self.mean_len!r}."
                ) from None
        else:
            try:
                probs = tuple(check_number("probs", p, 0, 1) for p in self.probs)
            except TypeError:
                raise TypeError(
                    f"probs must be a sequence of numbers, got {self.probs!r}."
                ) from None
            except ValueError:
                probs = ()
            if not probs or not math.isclose(sum(probs), 1.0, abs_tol=1e-6):
                raise ValueError(
                    f"probs must be P(L = 1), P(L = 2), ...: finite, non-negative, summing to "
                    f"1, got {self.probs!r}."
                )
            object.__setattr__(self, "probs", probs)

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
        if self.probs is None:
            return  # geometric: c = 1 / mean_len < 1 at every age, nothing divides by zero
        taken = 0.0  # P(L <= age); lengths beyond the probs' are impossible, so the first
        for age, p in enumerate(self.probs[: win_sz - 1], start=1):  # zero is among these
            taken += p
            if max(0.0, 1.0 - taken) <= 1e-12:  # survival(age), in one pass
                raise ValueError(
                    f"P(L > {age}) = 0 in probs={self.probs}: no path reaches {age + 1} steps "
                    f"back, and the compensation 1 / (1 - c({age})) divides by zero. In a "
                    f"window of win_sz={win_sz} every length up to {win_sz} needs P > 0."
                )

    def label(self) -> str:
        """'geometric, mean 16' or 'given P(L), mean 12.5'."""
        kind = "geometric" if self.mean_len is not None else "given P(L)"
        return f"{kind}, mean {self.mean:g}"

    def draw_cuts(self, first_age: int, n: int, generator: torch.Generator) -> list[bool]:
        """Draw whether to cut before each of ``n`` consecutive steps, the first ``first_age``
        steps after the last cut, from ``generator`` (a run's own, ``RandomCuts``)."""
        draws, cuts, age = torch.rand(n, generator=generator).tolist(), [], first_age
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


class Randomized(Full):
    """ARTBP: sub-windows of k1, cuts drawn at random as ``truncation`` says."""

    carries_state, exact = True, False

    @staticmethod
    def check(bptt) -> None:
        if bptt.truncation is None:
            raise ValueError(
                "mode='randomized' needs a truncation, e.g. truncation=Truncation(mean_len=16)."
            )
        if not isinstance(bptt.truncation, Truncation):
            raise TypeError(f"truncation must be a Truncation, got {bptt.truncation!r}.")
        check_k1(bptt)  # k1, and no k2

    @staticmethod
    def check_loaders(bptt, dls) -> None:
        bptt.truncation.check(dls.win_sz)

    @staticmethod
    def graph_len(bptt, win_sz: int) -> int:
        return min(bptt.sub_seq_len + round(bptt.truncation.mean), win_sz)

    @staticmethod
    def label(bptt) -> str:
        return f"ARTBP({bptt.sub_seq_len}, {bptt.truncation.label()})"

    @staticmethod
    def carry(bptt):
        return RandomCuts(bptt.truncation)


class RandomCuts:
    """ARTBP's carry: the steps since the last cut, the detached state at that cut, the
    rows that start a record among those steps, and this run's generator of cuts."""

    def __init__(self, truncation: Truncation):
        self.truncation, self.past_u, self.past_state, self.past_resets = truncation, None, None, {}
        self.generator = torch.Generator().manual_seed(truncation.seed)

    def __call__(self, model, u: torch.Tensor, state, reset: torch.Tensor):
        """The steps since the last cut again, then u, a cut drawn before each new step;
        uncut boundaries scale the gradient by the compensation. -> (u's predictions, state)."""
        if self.past_u is None or reset.all() or len(self.past_u) != len(u):
            self.past_u, self.past_state, self.past_resets = u[:, :0], state, {}
        elif reset.any():  # rows that start a record where u starts: zeros there
            self.past_resets[self.past_u.shape[1]] = reset
        span = torch.cat([self.past_u, u], dim=1)
        cuts = self.draw_cuts(span.shape[1])
        state, preds, last_cut, run_from = self.past_state, [], 0, 0
        for j, age in self.stops(cuts):
            y, state = model(span[:, run_from:j], state)
            preds.append(y)
            if j in self.past_resets:
                state = reset_rows(state, self.past_resets[j])
            if cuts[j]:  # the truncation: the gradient stops here
                state = self.past_state = detach_state(state)
                last_cut = j
            else:  # no cut: the gradient goes on, rescaled
                state = scale_grad(state, self.truncation.compensation(age))
            run_from = j
        y, state = model(span[:, run_from:], state)
        preds.append(y)
        self.past_u = span[:, last_cut:]
        self.past_resets = {j - last_cut: r for j, r in self.past_resets.items() if j > last_cut}
        return torch.cat(preds, dim=1)[:, -u.shape[1] :], state

    def draw_cuts(self, n: int) -> list[bool]:
        """Whether a cut falls before each of the span's n steps: none among the steps kept
        since the last cut; for the new ones, drawn now from this run's generator."""
        first_new = max(self.past_u.shape[1], 1)  # boundaries first_new.. are drawn now
        new = self.truncation.draw_cuts(first_new, n - first_new, self.generator)
        return [False] * first_new + new

    def stops(self, cuts: list[bool]):
        """(boundary, steps since the last cut) wherever something happens: a cut, a row's
        reset, or an uncut boundary whose gradient is rescaled (c(age) > 0)."""
        last_cut = 0
        for j in range(1, len(cuts)):
            if cuts[j] or j in self.past_resets or self.truncation.hazard(j - last_cut) > 0:
                yield j, j - last_cut
            if cuts[j]:
                last_cut = j
