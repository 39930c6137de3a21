"""Self-checks for the notebooks' exercises: each says what is right or wrong.

A check calls the student's function on a few cases and compares with the package's own
answer. A stub that still raises NotImplementedError is reported as "not done yet", never
as a crash, so a notebook runs top to bottom before any exercise is solved.
Every check returns "right", "wrong" or "not done" (tests use that) and prints its verdict.
"""

from __future__ import annotations

import math

import numpy as np


class Verdict(str):
    """A check's result, "right", "wrong" or "not done": compares as a string, but a notebook
    cell ending in a check shows only the printed verdict, not this value again."""

    def _ipython_display_(self):
        pass


NOT_DONE, RIGHT, WRONG = Verdict("not done"), Verdict("right"), Verdict("wrong")


def check_cases(exercise: str, func, cases, rel: float = 1e-6, hint: str = "") -> str:
    """Call ``func(*args)`` for each (args, expected) in ``cases``; report the first mismatch."""
    for args, expected in cases:
        try:
            got = func(*args)
        except NotImplementedError:
            print(f"{exercise}: not done yet. Fill in the cell above, run it, then run this one.")
            return NOT_DONE
        except Exception as err:  # the student's code may fail in any way: say how
            print(f"{exercise}: your function raised {type(err).__name__}: {err}")
            return WRONG
        if not _close(got, expected, rel):
            shown = ", ".join(map(repr, args))
            print(
                f"{exercise}: not yet right. For ({shown}) you return {got!r}, "
                f"the right answer is {expected!r}." + (f" Hint: {hint}" if hint else "")
            )
            return WRONG
    print(f"{exercise}: right, on all {len(cases)} cases. Well done.")
    return RIGHT


def _close(got, expected, rel: float) -> bool:
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and got.keys() == expected.keys()
            and all(_close(got[k], expected[k], rel) for k in expected)
        )
    try:
        return math.isclose(float(got), float(expected), rel_tol=rel, abs_tol=1e-12)
    except (TypeError, ValueError):
        return got == expected


# -- notebook 01 --------------------------------------------------------------------------
_WINDOW_CASES = [
    (50_000, 500, 10),
    (50_000, 500, 500),
    (1000, 300, 250),
    (1000, 1000, 7),
    (4000, 100, 1),
    (999, 100, 1000),
]


def _true_windows(n_samples: int, win_sz: int, stp_sz: int) -> int:
    from ..data.windows import WindowDataset

    record = (np.zeros(n_samples, np.float32), np.zeros(n_samples, np.float32))
    return len(WindowDataset([record], win_sz, stp_sz))


def check_n_windows(n_windows) -> str:
    """Exercise 01.1: n_windows(n_samples, win_sz, stp_sz) against the loader's own count."""
    cases = [(args, _true_windows(*args)) for args in _WINDOW_CASES]
    return check_cases(
        "Exercise 1",
        n_windows,
        cases,
        hint="the last window must end at or before the last sample.",
    )


def check_steps_per_epoch(steps_per_epoch) -> str:
    """Exercise 01.2: steps_per_epoch(n_samples, win_sz, stp_sz, bs) against the loader's len."""
    from ..data.windows import WindowDataset, WindowLoader

    cases = []
    for (n, w, s), bs in zip(_WINDOW_CASES, (16, 16, 2, 4, 64, 1)):
        record = (np.zeros(n, np.float32), np.zeros(n, np.float32))
        cases.append(((n, w, s, bs), len(WindowLoader(WindowDataset([record], w, s), bs))))
    return check_cases(
        "Exercise 2",
        steps_per_epoch,
        cases,
        hint="a last, smaller batch still takes one step: round up.",
    )


# -- notebook 02 --------------------------------------------------------------------------
def _rmse_mv(y, y_hat, n_init: int) -> float:
    y = np.asarray(y, dtype=np.float64).ravel()[n_init:]
    y_hat = np.asarray(y_hat, dtype=np.float64).ravel()[n_init:]
    return float(np.sqrt(np.mean((y_hat - y) ** 2)) * 1000)


def check_benchmark_rmse(benchmark_rmse_mv, learn, name: str = "multisine") -> str:
    """Exercise 02.1: benchmark_rmse_mv(y, y_hat, n_init) against the learner's test_rmse."""
    u, y = learn.dls.test[name]
    y = np.asarray(y, dtype=np.float32).ravel()
    y_hat = learn.simulate(u)[:, 0]
    err = np.r_[np.full(50, 1.0), np.full(50, 0.002)]  # 1 V off first, then 2 mV off
    cases = [
        ((np.zeros(100), err), 2.0),
        ((np.zeros(100), err, 50), 2.0),
        ((np.zeros(100), err, 0), _rmse_mv(np.zeros(100), err, 0)),
        ((y, y_hat), _rmse_mv(y, y_hat, 50)),
    ]
    return check_cases(
        "Exercise 1",
        benchmark_rmse_mv,
        cases,
        rel=1e-3,
        hint="volts to mV is a factor 1000; leave out y[:n_init].",
    )


def check_mean_model_rmse(mean_model_rmse_mv) -> str:
    """Exercise 02.2: the score of always predicting the training output's mean."""
    rng = np.random.default_rng(0)
    y_train, y_test = 0.01 + 0.05 * rng.standard_normal(500), 0.05 * rng.standard_normal(300)
    cases = [
        ((y_train, y_test), _rmse_mv(y_test, np.full(300, y_train.mean()), 50)),
        ((y_train, y_test, 0), _rmse_mv(y_test, np.full(300, y_train.mean()), 0)),
        ((np.ones(10), np.zeros(60)), 1000.0),
    ]
    return check_cases(
        "Exercise 2",
        mean_model_rmse_mv,
        cases,
        rel=1e-6,
        hint="predict y_train.mean() for every test sample, then score as in Exercise 1.",
    )


# -- notebook 04 --------------------------------------------------------------------------
def _as_pairs(value):
    """A list of pairs as a list of tuples (lists or tuples both count); else unchanged."""
    try:
        return [tuple(x) for x in value]
    except TypeError:
        return value


def check_sub_window_schedule(sub_window_schedule) -> str:
    """Exercise 04.1: sub_window_schedule(win_sz, sub_seq_len) -> [(sub_idx, new_window), ...]
    for one batch of windows, against what the loader really hands out."""
    from ..data.windows import WindowDataset, WindowLoader

    cases = []
    for win_sz, sub_seq_len in ((500, 100), (500, 250), (120, 40), (64, 4), (100, 100)):
        record = (np.zeros(win_sz, np.float32), np.zeros(win_sz, np.float32))
        loader = WindowLoader(WindowDataset([record], win_sz, 1), 1, sub_seq_len=sub_seq_len)
        truth = [(b.sub_idx, b.new_window) for b in loader]
        cases.append(((win_sz, sub_seq_len), truth))
    return check_cases(
        "Exercise 1",
        lambda *args: _as_pairs(sub_window_schedule(*args)),
        cases,
        hint="win_sz // sub_seq_len sub-windows; only the first starts a new window.",
    )


def _reach(t: int, sub_seq_len: int | None) -> int:
    return t + 1 if sub_seq_len is None else t % sub_seq_len + 1


def check_gradient_reach(gradient_reach) -> str:
    """Exercise 04.2: gradient_reach(t, sub_seq_len): how many input steps, t itself included,
    the loss at step t of a window can send a gradient to (sub_seq_len None: full BPTT)."""
    args = [(0, 100), (99, 100), (100, 100), (250, 100), (499, 100), (7, 4), (499, None), (0, None)]
    return check_cases(
        "Exercise 2",
        gradient_reach,
        [(a, _reach(*a)) for a in args],
        hint="the gradient stops at the first step of the sub-window that holds t.",
    )


# -- notebook 05 --------------------------------------------------------------------------
def check_largest_fitting_sub_seq_len(largest_fitting_sub_seq_len) -> str:
    """Exercise 05.1: largest_fitting_sub_seq_len(win_sz, bs, hidden_size, budget_bytes), an LSTM,
    against ``memory.largest_sub_seq_len``."""
    from ..memory import estimate_memory

    def largest_sub_seq_len(win_sz, budget, **sizes):
        fits = [d for d in range(1, win_sz + 1) if win_sz % d == 0]
        fits = [d for d in fits if estimate_memory(win_sz=win_sz, sub_seq_len=d, **sizes) <= budget]
        return max(fits) if fits else None

    cases = []
    for win_sz, bs, hidden, budget in (
        (2000, 64, 128, 256 * 2**20),
        (2000, 16, 40, 256 * 2**20),
        (1000, 64, 128, 64 * 2**20),
        (600, 32, 64, 8 * 2**20),
        (500, 16, 40, 2 * 2**20),
    ):
        sizes = dict(rnn_type="lstm", hidden_size=hidden, num_layers=1, bs=bs)
        cases.append(((win_sz, bs, hidden, budget), largest_sub_seq_len(win_sz, budget, **sizes)))
    return check_cases(
        "Exercise 1",
        largest_fitting_sub_seq_len,
        cases,
        hint="try the divisors of win_sz from the largest down; estimate_memory each.",
    )


def check_steps_per_lab_epoch(steps_per_lab_epoch) -> str:
    """Exercise 05.2: steps_per_lab_epoch(win_sz, sub_seq_len, bs): optimizer steps in one
    lab epoch (50,000 train samples, a window every 50), against the loader's len."""
    from ..data.windows import WindowDataset, WindowLoader

    record = (np.zeros(50_000, np.float32), np.zeros(50_000, np.float32))
    cases = []
    for win_sz, sub_seq_len, bs in ((500, 100, 16), (500, 500, 16), (2000, 100, 64), (300, 25, 4)):
        sub = None if sub_seq_len == win_sz else sub_seq_len
        loader = WindowLoader(WindowDataset([record], win_sz, 50), bs, sub_seq_len=sub)
        cases.append(((win_sz, sub_seq_len, bs), len(loader)))
    return check_cases(
        "Exercise 2",
        steps_per_lab_epoch,
        cases,
        hint="windows, then batches of windows (round up), then sub-windows per batch.",
    )


# -- notebook 06 --------------------------------------------------------------------------
def check_echo_signal_fraction(echo_signal_fraction) -> str:
    """Exercise 06.1: echo_signal_fraction(delay, sub_seq_len): the share of a sub-window's
    steps whose loss gradient reaches the input ``delay`` steps back."""
    args = [(8, 4), (8, 8), (8, 9), (8, 16), (8, 64), (1, 10), (30, 100)]
    return check_cases(
        "Exercise 1",
        echo_signal_fraction,
        [(a, sum(_reach(t, a[1]) > a[0] for t in range(a[1])) / a[1]) for a in args],
        hint="step j of a sub-window (j = 0, 1, ...) reaches back j steps.",
    )


def check_smallest_k2(smallest_k2) -> str:
    """Exercise 06.2: smallest_k2(delay, k1): the smallest k2 for which TBPTT(k1, k2) sends
    every step's loss gradient at least ``delay`` steps back."""
    args = [(8, 4), (8, 16), (8, 8), (1, 1), (30, 10), (5, 100)]
    return check_cases(
        "Exercise 2",
        smallest_k2,
        [(a, a[1] + a[0]) for a in args],
        hint="the first step of a sub-window reaches back k2 - k1 steps (its history).",
    )


# -- notebook 03 --------------------------------------------------------------------------
def check_largest_window(largest_window) -> str:
    """Exercise 03.1: the largest win_sz under a budget, from two points of a straight line."""

    def truth(w1, m1, w2, m2, budget):
        slope = (m2 - m1) / (w2 - w1)
        return math.floor((budget - (m1 - slope * w1)) / slope)

    cases = [
        (args, truth(*args))
        for args in [
            (100, 1_100_000, 1100, 10_100_000, 2 * 2**30),  # 9000 bytes per step, 200_000 fixed
            (500, 23_683_072, 4000, 188_809_216, 2 * 2**30),
            (1000, 1000, 2000, 2000, 1500),  # no fixed part: 1 byte per step
            (10, 5000, 20, 6000, 5999),  # just below a whole step
        ]
    ]
    return check_cases(
        "Exercise 1",
        largest_window,
        cases,
        rel=0,
        hint="slope = (m2 - m1) / (w2 - w1); the fixed part is m1 - slope * w1; round down.",
    )


def _largest_full_window(budget: int) -> int:
    """Largest win_sz whose predicted full-BPTT memory (LSTM 40, bs 16) fits: bisection."""
    from ..memory import estimate_memory

    lo, hi = 0, 1
    while estimate_memory("lstm", 40, 1, 16, hi) <= budget:
        lo, hi = hi, 2 * hi
    while hi - lo > 1:  # estimate(lo) fits, estimate(hi) does not
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if estimate_memory("lstm", 40, 1, 16, mid) <= budget else (lo, mid)
    return lo


def check_largest_full_window(largest_full_window) -> str:
    """Exercise 03.2: the longest full-BPTT window the predictor says fits a budget."""
    cases = [((b,), _largest_full_window(b)) for b in (2 * 2**30, 100 * 2**20, 10 * 2**20)]
    return check_cases(
        "Exercise 2",
        largest_full_window,
        cases,
        rel=0,
        hint="memory grows with win_sz: double win_sz until it no longer fits, then bisect.",
    )
