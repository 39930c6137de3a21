"""Several processes, one training run: torchrun starts them, DDP averages their gradients.

The stream layout already is what data parallelism needs. With ``bs`` rows in the global
batch and N processes (ranks), rank r takes the contiguous rows [r * bs/N, (r+1) * bs/N) of
every batch, so each rank carries its own streams from batch to batch:

    global batch (bs = 4)        rank 0            rank 1
    row 0  A A A | A A A | ...   row 0 of rank 0
    row 1  B B B | B - - | ...   row 1 of rank 0
    row 2  C C C | D D D | ...                     row 0 of rank 1
    row 3  E E E | E E E | ...                     row 1 of rank 1

Every rank builds the same global layout from the same seed and keeps its share
(``RankShard``), so all ranks take the same number of steps and none waits forever at the
next all-reduce. What goes wrong otherwise, and why each piece below is there:

- ``DistributedSampler`` shuffles and strides indices: a stream would jump between rows.
- DDP's ``broadcast_buffers=True`` copies rank 0's buffers to every rank at each forward:
  a hidden state kept as a buffer would be overwritten. ``StatefulRNN`` keeps no state: the
  loop holds it and passes it in, so each rank's state is its own; DDP runs with buffers not
  broadcast all the same (the normalisation's statistics are equal on every rank anyway).
- DDP averages gradients over ranks. Each rank's loss is a mean over *its* kept steps; a
  rank with more padding would weigh each of its steps more. ``DistributedCB`` rescales each
  rank's loss so the average is the mean over the *global* kept steps: the single-process
  gradient, to rounding.

Every mode trains as one process does (tests/tooling/test_distributed.py: per-step losses
and final weights within 1e-5). The modes that run the model several times before one
backward (TBPTT(k1, k2), ARTBP) or again inside backward (checkpointed) still take one
backward per step, and every parameter is used in each of those runs: its gradient is summed
over them before DDP's hook for it fires, once, and averages it over the ranks. ARTBP's cuts
come from a generator seeded alike on every rank and are drawn once per batch for all rows,
so every rank cuts where one process would.
"""

from __future__ import annotations

import copy
import inspect
import math
import os
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..core.batch import Batch
from ..core.learner import Callback
from ..course.evaluate import N_INIT, free_run_rmse
from ..validation import check_int

__all__ = [
    "DistributedCB",
    "RankShard",
    "launched",
    "score",
    "shard_dls",
    "shard_rows",
    "start",
    "unwrap",
    "world",
]

RENDEZVOUS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
ROOT_MEAN_SQUARE = ("fun_rmse",)
# DDP's flag that stops it copying rank 0's buffers into every rank at each forward pass
# (named forward_sync_buffers from torch 2.13 on, broadcast_buffers before)
NO_BUFFER_BROADCAST = (
    {"forward_sync_buffers": False}
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
    else {"broadcast_buffers": False}
)  # scores combined through their squares; others are means


# -- joining the process group torchrun set up --------------------------------------------
def launched() -> bool:
    """Was this process started by torchrun (its rendezvous variables are all set)?"""
    return all(v in os.environ for v in RENDEZVOUS)


def start(required: bool = False, timeout_s: float = 300.0, device="cpu") -> tuple[int, int]:
    """Join torchrun's process group: gloo on CPU, nccl for a CUDA ``device``. Returns (rank,
    world_size); (0, 1) without torchrun. ``required``: raise a ValueError without torchrun.
    ``timeout_s``: how long a collective waits for the other ranks before it fails."""
    missing = [v for v in RENDEZVOUS if v not in os.environ]
    if missing:
        if required:
            raise ValueError(
                f"a distributed run needs torchrun's rendezvous variables, but {missing} "
                f"{'is' if len(missing) == 1 else 'are'} not set: launch it as "
                f"`torchrun --nproc_per_node=N -m tbptt_kit ...` (or leave out --ddp)."
            )
        return 0, 1
    if not dist.is_initialized():
        if int(os.environ["WORLD_SIZE"]) == 1 and not required:
            return 0, 1  # one process: no process group, no DDP
        backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    return dist.get_rank(), dist.get_world_size()


def world() -> tuple[int, int]:
    """(rank, world_size) of this process; (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


# -- each rank's rows ---------------------------------------------------------------------
def shard_rows(bs: int, rank: int, world_size: int, name: str = "bs") -> slice:
    """Rank ``rank``'s contiguous rows of a global batch of ``bs`` rows: [r*bs/N, (r+1)*bs/N).
    A TypeError or ValueError unless bs, world_size >= 1 and 0 <= rank < world_size are ints
    and the rows share out evenly."""
    bs, world_size = check_int(name, bs), check_int("world_size", world_size)
    check_int("rank", rank, minimum=0, maximum=world_size - 1)
    if world_size > bs:
        raise ValueError(
            f"{world_size} processes but {name}={bs} rows (streams): every process needs at "
            f"least one row. Use at most {bs} processes, or a larger {name}."
        )
    if bs % world_size:
        raise ValueError(
            f"{name}={bs} is the global number of rows and must divide among {world_size} "
            f"processes: choose a multiple of {world_size}, e.g. {name}="
            f"{bs // world_size * world_size or world_size}."
        )
    per_rank = bs // world_size
    return slice(rank * per_rank, (rank + 1) * per_rank)


class RankShard:
    """One rank's share of a loader: the same batches, in the same order, with only the rows
    ``shard_rows`` gives this rank. A short last batch of windows may leave a rank nothing:
    it then gets one masked row (no step counts), so it still takes the step with the others.
    Everything else (``ds``, ``sub_seq_len``, ``generator``...) is the global loader's."""

    def __init__(self, loader, rank: int, world_size: int, name: str = "bs"):
        self.loader, self.rank, self.world_size = loader, rank, world_size
        self.rows = shard_rows(loader.bs, rank, world_size, name)
        self.bs, self.global_bs = self.rows.stop - self.rows.start, loader.bs

    def __getattr__(self, name):
        return getattr(self.__dict__["loader"], name)

    def __len__(self) -> int:
        return len(self.loader)  # the global count: every rank takes every step

    def __iter__(self):
        for b in self.loader:
            a, e = self.rows.start, min(self.rows.stop, b.u.shape[0])
            if a >= e:  # nothing of this batch is ours: one row, all of it masked
                mask = torch.zeros((1, b.u.shape[1]), dtype=torch.bool, device=b.u.device)
                yield Batch(b.u[:1] * 0, b.y[:1] * 0, b.reset[:1], b.sub_idx, mask)
                continue
            rows = slice(a, e)
            mask = None if b.mask is None else b.mask[rows]
            yield Batch(b.u[rows], b.y[rows], b.reset[rows], b.sub_idx, mask)


def shard_dls(dls, rank: int, world_size: int):
    """A copy of ``dls`` whose train and valid loaders hand out only this rank's rows."""
    if world_size == 1:
        return dls
    shard = copy.copy(dls)
    shard.train = RankShard(dls.train, rank, world_size, "bs")
    shard.valid = RankShard(dls.valid, rank, world_size, "valid_bs")
    return shard


# -- the model in DDP, the loss over the global kept steps --------------------------------
def unwrap(model):
    """The model inside DDP, or the model itself."""
    return model.module if isinstance(model, DistributedDataParallel) else model


class DistributedCB(Callback):
    """Train on this rank's rows as one run over all ranks (the learner's loaders must be
    ``shard_dls``'s). During each epoch the model runs inside DDP (gradients averaged over
    ranks, buffers never broadcast); each rank's loss is weighed by its share of the global
    kept steps; the loss the callbacks see, the validation scores and the step counts are
    the global ones. ``learn.batch_samples``: the global kept steps of the last batch."""

    order = 10  # before the non-finite stop (20) and the recorder (30) read the loss

    def before_fit(self, learn):
        self.rank, self.world_size = world()
        steps = self.gather([len(learn.dls.train), len(learn.dls.valid)])
        if len({tuple(s) for s in steps}) > 1:
            raise ValueError(
                f"the ranks' loaders differ in batches per epoch ([train, valid] by rank: "
                f"{steps}): a rank would wait forever for the others. Shard one global "
                f"layout with shard_dls."
            )
        device = next(learn.model.parameters()).device
        ids = [device.index] if device.type == "cuda" else None
        self.ddp = DistributedDataParallel(learn.model, device_ids=ids, **NO_BUFFER_BROADCAST)
        self.valid_n = 0

    def before_epoch(self, learn):
        learn.model = self.ddp  # the epoch's forward passes go through DDP
        self.valid_n = 0  # kept steps seen in validation, by this rank

    def after_loss(self, learn):
        if not learn.training:
            return
        n = len(learn.kept(learn.batch.y, learn.batch)[1])  # this rank's kept steps
        total = self.sum([float(n)], learn.pred.device)[0]
        learn.batch_samples = int(total)
        if n == 0 or total == 0:  # all padding here: zero gradients, but take part
            learn.loss = learn.pred.sum() * 0.0
        else:  # DDP divides the sum over ranks by world_size: this makes it the global mean
            learn.loss = learn.loss * (n * self.world_size / total)

    def after_batch(self, learn):
        if not learn.training:  # validation: count this rank's kept steps
            self.valid_n += len(learn.kept(learn.batch.y, learn.batch)[1])
        else:  # what the recorder and the non-finite stop see: the global loss
            total = self.sum([learn.loss.item()], learn.pred.device)[0]
            learn.loss = torch.tensor(total / self.world_size)

    def after_validate(self, learn):
        funcs = [learn.loss_func, *learn.metrics]
        n, self.valid_n = self.valid_n, 0
        squares = [getattr(f, "__name__", "") in ROOT_MEAN_SQUARE for f in funcs]
        parts = [
            (v * v if sq else v) * n if n else 0.0 for v, sq in zip(learn.valid_scores, squares)
        ]
        total, *sums = self.sum([float(n), *parts], learn.pred.device)
        means = [s / total for s in sums]
        learn.valid_scores = [math.sqrt(m) if sq else m for m, sq in zip(means, squares)]

    def after_epoch(self, learn):
        learn.model = unwrap(self.ddp)  # between epochs (checkpoints, scores): the bare model

    def after_fit(self, learn):
        learn.model = unwrap(learn.model)
        self.__dict__.pop("ddp", None)  # DDP's reducer goes now; none if before_fit refused

    @staticmethod
    def sum(values: list[float], device) -> list[float]:
        """Each value summed over all ranks (float64)."""
        t = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return t.tolist()

    @staticmethod
    def gather(obj) -> list:
        """``obj`` of every rank, by rank."""
        out = [None] * dist.get_world_size()
        dist.all_gather_object(out, obj)
        return out


# -- the free-run score, records shared among ranks ---------------------------------------
def score(learn, part: str = "test", n_init: int = N_INIT) -> dict[str, float]:
    """``RNNLearner.score`` with the records of ``part`` shared among the ranks (record i on
    rank i mod N), every rank getting every record's score. One process: ``learn.score``."""
    rank, world_size = world()
    if world_size == 1:
        return learn.score(part, n_init)
    records = learn.dls.records(part)
    mine = {name: records[name] for name in list(records)[rank::world_size]}
    model = unwrap(learn.model)
    scores = free_run_rmse(model, mine, n_init, learn.dls.units) if mine else {}
    merged = {}
    for d in DistributedCB.gather(scores):
        merged.update(d)
    return {name: merged[name] for name in records}
