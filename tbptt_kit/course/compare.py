"""Put ways of training side by side: same data, same seed, one table.

``compare`` trains one learner per configuration and reports, for each, the free-run
scores (the benchmark's convention, ``RNNLearner.score``), the number of optimizer steps,
the samples seen, the wall time, and the memory of one training step.

Truncated BPTT takes one optimizer step per *sub*-window: with windows of 500 steps cut
into sub-windows of 100, it makes five times as many updates per epoch as full BPTT. Is
it better (or worse) because it truncates the gradient, or because it updates more
often? ``equal_steps=True`` gives every configuration the same number of optimizer steps,
by training fewer epochs (each a complete run with its own learning-rate schedule), never
by cutting a run short. The "samples" column says how many window steps each run saw.
"""

from __future__ import annotations

import math
import time
import warnings

from ..modes.bptt import BPTT
from ..validation import check_int, check_seed
from .callbacks import TrainingDiverged
from .memory import measure_memory
from .rnn_learner import RNNLearner
from .table import Table

__all__ = ["bptt_of", "compare", "config_name", "epochs_for_equal_steps"]


def bptt_of(config: dict) -> BPTT:
    """The ``BPTT`` a configuration names with RNNLearner's arguments."""
    names = ("sub_seq_len", "mode", "backprop_len", "truncation", "bptt", "bptt_len")
    return BPTT.of(**{k: config[k] for k in names if k in config})


def config_name(config: dict) -> str:
    """The name of a configuration: its "name", else its BPTT label ('truncated(100)')."""
    return config.get("name") or bptt_of(config).label


def epochs_for_equal_steps(steps_per_epoch: list[int], n_epoch: int, equal_steps) -> list[int]:
    """Epochs for each configuration so that all take (about) the same number of steps.

    equal_steps=True: the target is ``n_epoch`` epochs of the configuration with the fewest
    steps per epoch; an int: that many steps. Each configuration trains
    round(target / its steps per epoch) epochs, at least one. A warning says when that
    cannot be exact (the table's "steps" column always shows the steps taken).
    """
    target = n_epoch * min(steps_per_epoch) if equal_steps is True else int(equal_steps)
    epochs = [max(1, round(target / spe)) for spe in steps_per_epoch]
    for spe, n in zip(steps_per_epoch, epochs):
        if spe * n != target:
            warnings.warn(
                f"equal_steps: {n} epochs of {spe} steps make {spe * n} steps, not {target}; "
                f"choose n_epoch (or the target) as a multiple of the steps per epoch.",
                stacklevel=3,
            )
    return epochs


def compare(
    configs: list[dict],
    make_dls,
    n_epoch: int = 10,
    lr: float = 3e-3,
    fit: str = "flat_cos",
    equal_steps: bool | int = False,
    seed: int = 0,
    memory: bool = True,
    progress: bool = False,
    learners: dict | None = None,
    **learner_kwargs,
) -> Table:
    """Train each configuration on the same data from the same seed; one row each.

    configs: dicts of ``RNNLearner`` arguments plus an optional "name", e.g.
        {"name": "full"}, {"sub_seq_len": 100},
        {"mode": "checkpointed", "sub_seq_len": 100}, {"sub_seq_len": 100, "backprop_len": 200}.
    make_dls(sub_seq_len=None | int) -> DataLoaders, e.g.
        functools.partial(create_dls_silverbox, bs=16, win_sz=500, stp_sz=10).
        Called once per configuration, with the sub_seq_len its loaders must hand out.
    learner_kwargs: shared ``RNNLearner`` arguments (rnn_type, hidden_size, n_skip, ...);
        a configuration's own keys win.
    fit: "flat_cos", "one_cycle" or "" (constant lr): ``Learner.fit_<fit>(epochs, lr)``.
    equal_steps: False: ``n_epoch`` epochs each. True or an int: the same number of
        optimizer steps for every configuration (``epochs_for_equal_steps``).
    memory: also measure one training step's memory (``measure_memory``, after training).
    learners: a dict to keep the trained learners in, by configuration name (to look
        further at a run without training it again).

    Columns: name; bptt; epochs; steps (optimizer steps); samples (window steps seen);
    valid_<unit> and test_<record>_<unit> (free-run RMSE after 50 initialising samples,
    ``RNNLearner.score``; unit from the loaders, mV for the Silverbox); time_s (wall time
    of ``fit``) and cpu_s (its CPU time: on a shared machine it varies less);
    activation_MiB and peak_MiB (one training step, ``measure_memory``). Every initial
    model is the same (seed), and every run sees the windows in the same order. A run
    whose loss becomes NaN gets a row with nan scores and a warning.
    """
    n_epoch, seed = check_int("n_epoch", n_epoch), check_seed(seed)
    if equal_steps is not True and equal_steps is not False:
        equal_steps = check_int("equal_steps", equal_steps)  # True, False or a step count
    names = [config_name(c) for c in configs]
    all_dls = [make_dls(sub_seq_len=bptt_of(c).loader_sub_seq_len) for c in configs]
    steps_per_epoch = [len(dls.train) for dls in all_dls]
    epochs = [n_epoch] * len(configs)
    if equal_steps is not False:
        epochs = epochs_for_equal_steps(steps_per_epoch, n_epoch, equal_steps)
    table = Table()
    for name, config, dls, n in zip(names, configs, all_dls, epochs):
        kwargs = learner_kwargs | {k: v for k, v in config.items() if k != "name"}
        learn = RNNLearner(dls, seed=seed, progress=progress, **kwargs)
        unit = f"_{dls.units[0]}" if dls.units[0] else ""
        row = {"name": name, "bptt": learn.bptt.label, "epochs": n}
        start, start_cpu = time.perf_counter(), time.process_time()
        try:
            getattr(learn, f"fit_{fit}" if fit else "fit")(n, lr)
        except TrainingDiverged as err:  # one bad run should not lose the others
            warnings.warn(f"{name}: {err}", stacklevel=2)
            table.append(row | {f"valid{unit}": math.nan})
            continue
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
        if learners is not None:
            learners[name] = learn
        row |= _scores(learn, dls, unit)
        row["time_s"], row["cpu_s"] = seconds, cpu_seconds
        if memory:
            report = measure_memory(learn)
            row["activation_MiB"] = report.activation_bytes / 2**20
            row["peak_MiB"] = None if report.peak_bytes is None else report.peak_bytes / 2**20
        table.append(row)
    return table


def _scores(learn, dls, unit: str) -> dict:
    """A trained run's columns: epochs, optimizer steps, window steps seen, and the free-run
    scores (valid, averaged over its records; each test record)."""
    row = {"epochs": learn.n_epoch, "steps": len(learn.recorder.losses)}
    row["samples"] = learn.n_epoch * len(dls.train.ds) * dls.win_sz
    row[f"valid{unit}"] = sum(learn.score("valid").values()) / len(dls.records("valid"))
    if dls.test:
        row.update({f"test_{k}{unit}": v for k, v in learn.score("test").items()})
    return row
