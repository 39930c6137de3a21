"""Run by tests/test_distributed.py under torchrun (2 processes, gloo): the CLI's scenarios.

    torchrun --standalone --nproc_per_node=2 tests/ddp_worker.py RESULTS_DIR SCENARIO_FILE

SCENARIO_FILE is JSON: {name: [CLI flags]}, run one after the other in this process group.
Each rank writes RESULTS_DIR/rank<r>.json: per scenario the exit status and what
``StateCheckCB`` saw. Scenario "die" makes rank 1 exit at its third step.
"""

import json
import os
import sys
import time

import torch

from tbptt_kit import Callback, distributed, train
from tbptt_kit.distributed import unwrap


class StateCheckCB(Callback):
    """On this rank: before each training step (after the reset), rows that start a record
    hold a zero state; the others hold exactly the state the previous step left."""

    order = -5  # after TbpttResetCB (-10)

    def before_fit(self, learn):
        self.checked = self.failed = self.carried = 0
        self.last = None

    def before_batch(self, learn):
        if not learn.training:
            return
        model, b = unwrap(learn.model), learn.batch
        state = model.state_for(b.u)
        h = None if state is None else state[0] if isinstance(state, tuple) else state
        if b.new_window:
            self.failed += h is not None
        elif self.last is not None:
            reset = b.reset
            ok = (h[:, reset] == 0).all() and (h[:, ~reset] == self.last[:, ~reset]).all()
            self.failed += not bool(ok)
            self.carried += int((~reset).sum())
        self.checked += 1

    def after_batch(self, learn):
        if learn.training:
            hs = unwrap(learn.model).hidden_state
            self.last = (hs[0] if isinstance(hs, tuple) else hs).clone()


class HangCB(Callback):
    def after_batch(self, learn):
        if learn.training and learn.step_in_epoch == 2 and int(os.environ["RANK"]) == 1:
            time.sleep(30)  # a rank that hangs, alive: the other must not wait forever


class DieCB(Callback):
    def after_batch(self, learn):
        if learn.training and learn.step_in_epoch == 2 and int(os.environ["RANK"]) == 1:
            os._exit(3)  # a rank that dies mid-run, without a word


if __name__ == "__main__":
    out, scenarios = sys.argv[1], json.load(open(sys.argv[2]))
    rank, results = int(os.environ["RANK"]), {}
    distributed.start(required=True, timeout_s=60)  # one process group for every scenario
    for name, argv in scenarios.items():
        check = StateCheckCB()
        if name == "hang":  # main joins a new group, with the scenario's --timeout
            torch.distributed.destroy_process_group()
        extra = {"die": [DieCB()], "hang": [HangCB()]}.get(name, [])
        start = time.perf_counter()
        rc = train.main(argv, cbs=[check, *extra])
        last = getattr(check, "last", None)
        last = None if last is None else float(last.abs().sum())
        results[name] = dict(rc=rc, checked=getattr(check, "checked", 0),
                             failed=getattr(check, "failed", 0),
                             carried=getattr(check, "carried", 0), state_sum=last,
                             seconds=time.perf_counter() - start)  # fmt: skip
        json.dump(results, open(os.path.join(out, f"rank{rank}.json"), "w"))
    os._exit(0)  # the "hang" scenario leaves the process group broken: no teardown
