"""Put ways of training side by side: same data, same seed, one table.

``compare`` trains one learner per configuration and reports, for each, the final
validation RMSE, the test RMSE (when the loaders have test records), the number of
optimizer steps, the wall time, and the memory of one training step.

Truncated BPTT takes one optimizer step per *sub*-window: with windows of 500 steps cut
into sub-windows of 100, it makes five times as many updates per epoch as full BPTT. Is
it better (or worse) because it truncates the gradient, or because it updates more
often? ``equal_steps=True`` answers that: every configuration then gets the same number
of optimizer steps, by training fewer epochs (each a complete run with its own
learning-rate schedule), never by cutting a run short.
"""

from __future__ import annotations

import html
import math
import time
import warnings

from .learner import RNNLearner, TrainingDiverged, fun_rmse
from .lens import bptt_label, learner_bptt


class Table(list):
    """A list of rows (dicts) that shows itself as a table: text, Markdown and HTML.

    Columns come in the order they first appear. Floats show 3 significant digits;
    a missing value shows as "-".
    """

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(key for row in self for key in row))

    @staticmethod
    def format(value) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"
        return str(value)

    def _cells(self) -> list[list[str]]:
        return [[self.format(row.get(col)) for col in self.columns] for row in self]

    def to_text(self) -> str:
        """Plain text, columns aligned."""
        rows = [self.columns, *self._cells()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.columns))]
        return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows)

    def to_markdown(self) -> str:
        """A Markdown table (for a README)."""
        lines = ["| " + " | ".join(self.columns) + " |"]
        lines.append("|" + "|".join("---" for _ in self.columns) + "|")
        lines += ["| " + " | ".join(cells) + " |" for cells in self._cells()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
            for cells in self._cells()
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __str__(self) -> str:
        return self.to_text()


def config_name(config: dict) -> str:
    """The name of a configuration: its "name", else a label such as 'truncated(100)'."""
    if "name" in config:
        return config["name"]
    bptt = config.get("bptt") or ("full" if config.get("sub_seq_len") is None else "truncated")
    return bptt_label(bptt, config.get("sub_seq_len"), config.get("bptt_len"))


def loaders_for(make_dls, config: dict):
    """The loaders a configuration needs: sub-windows for truncated BPTT, else whole windows."""
    bptt = config.get("bptt") or ("full" if config.get("sub_seq_len") is None else "truncated")
    return make_dls(sub_seq_len=config.get("sub_seq_len") if bptt == "truncated" else None)


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


def _memory(learn) -> dict:
    """Activation and peak memory of one training step, in MiB (``measure_memory``)."""
    from .memory import measure_memory  # imported here: the meter pulls in the profiler

    report = measure_memory(learn)  # its first bs training windows, every sub-window
    peak = None if report.peak_bytes is None else report.peak_bytes / 2**20
    return {"activation_MiB": report.activation_bytes / 2**20, "peak_MiB": peak}


def _warm_up(dls, seed, kwargs) -> None:
    """One untimed training step, so the first timed run does not pay PyTorch's start-up
    (the first optimizer imports torch._dynamo: seconds; the first RNN call: a fraction)."""
    kwargs = {k: v for k, v in kwargs.items() if k != "name"}
    learn = RNNLearner(dls, seed=seed, progress=False, **kwargs)
    learn.opt_func(learn.model.parameters())
    learn.forward_backward(next(iter(dls.train)))


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
    **learner_kwargs,
) -> Table:
    """Train each configuration on the same data from the same seed; one row each.

    configs: dicts of ``RNNLearner`` arguments plus an optional "name", e.g.
        {"name": "full"}, {"sub_seq_len": 100},
        {"bptt": "checkpointed", "sub_seq_len": 100}, {"sub_seq_len": 100, "bptt_len": 200}.
    make_dls(sub_seq_len=None | int) -> DataLoaders, e.g.
        functools.partial(create_dls_silverbox, bs=16, win_sz=500, stp_sz=10).
        It is called once per configuration, with sub_seq_len only for truncated BPTT.
    learner_kwargs: shared ``RNNLearner`` arguments (rnn_type, hidden_size, n_skip, ...);
        a configuration's own keys win.
    fit: "flat_cos", "one_cycle" or "" (constant lr): ``Learner.fit_<fit>(epochs, lr)``.
    equal_steps: False: ``n_epoch`` epochs each. True or an int: the same number of
        optimizer steps for every configuration, by training fewer epochs (see
        ``epochs_for_equal_steps``); each run still has its whole LR schedule.
    memory: also measure one training step's memory with ``tbptt_kit.memory`` (after
        training, untimed; on CPU the peak comes from torch's profiler: a few seconds).
    progress: show each run's live table.

    Columns: name; bptt (how gradients flow); epochs; steps (optimizer steps taken);
    valid_rmse (final, signal units, the learner's n_skip left out); test_<record>_mV
    (free-run RMSE on each test record, ``Learner.test_rmse``); time_s (wall time of
    ``fit``: training and the validation after each epoch); cpu_s (the process's CPU
    time over the same span: on a shared machine it varies less); activation_MiB and peak_MiB
    (one training step: one batch of windows, every sub-window; activation = the bytes
    autograd saves, the largest sub-window's; peak = the most memory in use above the
    level before the step; see ``measure_memory``). Every initial model is the same
    (seed), and every run sees the windows in the same order.

    One untimed training step runs first, so the first row does not pay PyTorch's start-up.
    A run whose loss becomes NaN gets a row with valid_rmse nan and a warning.
    Cost: the sum of the configurations' training runs; nothing is run twice.
    """
    names = [config_name(c) for c in configs]
    all_dls = [loaders_for(make_dls, c) for c in configs]
    steps_per_epoch = [len(dls.train) for dls in all_dls]
    epochs = [n_epoch] * len(configs)
    if equal_steps is not False:
        epochs = epochs_for_equal_steps(steps_per_epoch, n_epoch, equal_steps)
    _warm_up(all_dls[0], seed, learner_kwargs | configs[0])
    table = Table()
    for name, config, dls, n in zip(names, configs, all_dls, epochs):
        kwargs = learner_kwargs | {k: v for k, v in config.items() if k != "name"}
        learn = RNNLearner(dls, seed=seed, progress=progress, **kwargs)
        row = {"name": name, "bptt": bptt_label(*learner_bptt(learn))}
        start, start_cpu = time.perf_counter(), time.process_time()
        try:
            getattr(learn, f"fit_{fit}" if fit else "fit")(n, lr)
        except TrainingDiverged as err:  # one bad run should not lose the others
            warnings.warn(f"{name}: {err}", stacklevel=2)
            table.append(row | {"epochs": n, "valid_rmse": math.nan})
            continue
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
        row["epochs"] = learn.n_epoch
        row["steps"] = len(learn.recorder.losses)
        row["valid_rmse"] = float(fun_rmse(*learn.predict()))
        row.update({f"test_{k}_mV": v for k, v in learn.test_rmse().items()})
        row["time_s"], row["cpu_s"] = seconds, cpu_seconds
        if memory:
            row.update(_memory(learn))
        table.append(row)
    return table
