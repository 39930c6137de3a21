"""Run by tests/tooling/test_distributed.py under torchrun (2 processes, gloo): CLI scenarios.

    torchrun --standalone --nproc_per_node=2 tests/tooling/ddp_worker.py RESULTS_DIR PLAN_FILE

PLAN_FILE is JSON: {"shared_group": bool, "scenarios": {name: [CLI flags]}}. With
shared_group, this process joins one process group first and runs every scenario in it (the
command line then keeps it); without, it runs one scenario, which joins and leaves its own
group (with its own --timeout). One process group per launch: never a second one.
Each rank writes RESULTS_DIR/rank<r>.json: per scenario the exit status and what
``StateCheckCB`` saw. Scenario "die" makes rank 1 exit at its third step, "hang" makes it
sleep there.
"""

import json
import os
import sys
import time

import torch

from tbptt_kit import Callback
from tbptt_kit.tooling import distributed, train
from tbptt_kit.tooling.distributed import unwrap


class StateCheckCB(Callback):
    """On this rank, at each training step: the state the RNN starts from is zero on the rows
    that start here and, on the others, exactly the state the previous step left."""

    order = -5

    def before_fit(self, learn):
        self.checked = self.failed = self.carried = 0
        self.last, self.expected, self.seen = None, None, True
        unwrap(learn.model).rnn.register_forward_pre_hook(self.check)

    def before_batch(self, learn):
        if not learn.training:
            return
        reset = learn.batch.reset
        if self.last is None or bool(reset.all()):
            self.expected = None
        else:
            self.expected = self.last * (~reset).reshape(1, -1, 1).to(self.last.dtype)
            self.carried += int((~reset).sum())
        self.seen = False

    def check(self, module, args):
        if self.seen or not module.training:
            return  # the first call of a training step only
        hx = args[1] if len(args) > 1 else None
        h = hx[0] if isinstance(hx, tuple) else hx
        if self.expected is None:
            self.failed += h is not None and bool(h.any())
        else:
            self.failed += h is None or not torch.equal(h, self.expected)
        self.checked, self.seen = self.checked + 1, True

    def after_batch(self, learn):
        if learn.training:
            hs = learn.hidden_state
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
    out, plan = sys.argv[1], json.load(open(sys.argv[2]))
    rank, results = int(os.environ["RANK"]), {}
    if plan["shared_group"]:
        distributed.start(required=True, timeout_s=120)
    for name, argv in plan["scenarios"].items():
        check = StateCheckCB()
        extra = {"die": [DieCB()], "hang": [HangCB()]}.get(name, [])
        start = time.perf_counter()
        rc = train.main(argv, cbs=[check, *extra])
        last = getattr(check, "last", None)
        results[name] = {
            "rc": rc,
            "checked": getattr(check, "checked", 0),
            "failed": getattr(check, "failed", 0),
            "carried": getattr(check, "carried", 0),
            "state_sum": None if last is None else float(last.abs().sum()),
            "seconds": time.perf_counter() - start,
        }
        with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
            json.dump(results, f)
    if plan["shared_group"] and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    os._exit(0)  # "hang" leaves its process group broken: no teardown at exit
