"""tsfast's side of benchmarks/epoch_time.py: one epoch of tsfast, on request.

Run with a Python that has tsfast installed (the kit is not needed here):

    .venv-tsfast/bin/python benchmarks/tsfast_epoch.py --data DIR --threads 1

DIR holds train/train.hdf5 and valid/valid.hdf5 (datasets u0, y0), the folder layout
tsfast's create_dls discovers. epoch_time.py writes them and starts this script, which
then waits on stdin: each line "standard" or "tbptt" trains a fresh tsfast RNNLearner
for one epoch and answers one line "RESULT {json}" on stdout. An empty line ends it.
"""

import argparse
import json
import sys
import time

import torch
import tsfast
from tsfast.training import RNNLearner
from tsfast.tsdata import create_dls

BS, WIN_SZ, STP_SZ, HIDDEN, LR, SUB_SEQ_LEN = 16, 500, 10, 40, 3e-3, 100


def reply(**fields) -> None:
    print("RESULT " + json.dumps(fields), flush=True)


def describe_windows(dls) -> dict:
    """What the loaders hand out: counts, shapes and a checksum of every train window."""
    train_ds = dls.train.dataset
    checksum = sum(float(train_ds[i][0].double().sum()) for i in range(len(train_ds)))
    n_batches, n_windows, shapes = 0, 0, set()
    for u, y in dls.train:  # one pass, untimed: count what an epoch really sees
        n_batches += 1
        n_windows += len(u)
        shapes.add(f"u {tuple(u.shape[1:])}, y {tuple(y.shape[1:])}")
    return {
        "tsfast_version": tsfast.__version__,
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "train_windows": len(train_ds),
        "train_batches": n_batches,
        "train_windows_seen": n_windows,
        "window_shapes": sorted(shapes),
        "valid_windows": len(dls.valid.dataset),
        "valid_batches": len(dls.valid),
        "train_u_checksum": checksum,
    }


def one_epoch(dls, mode: str) -> dict:
    """Time tsfast's fit_flat_cos for one epoch, on a fresh learner (not timed: its creation)."""
    sub_seq_len = SUB_SEQ_LEN if mode == "tbptt" else None
    torch.manual_seed(0)
    lrn = RNNLearner(dls, rnn_type="lstm", hidden_size=HIDDEN, sub_seq_len=sub_seq_len)
    start, start_cpu = time.perf_counter(), time.process_time()
    lrn.fit_flat_cos(1, LR)  # tqdm's bar goes to stderr, as users see it
    # process_time counts every thread of this process, tsfast's prefetching thread too
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    # Adam counts its own steps: the number of optimizer steps in the epoch.
    steps = int(next(iter(lrn.opt.state.values()))["step"])
    return {"seconds": seconds, "cpu": cpu, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with train/ and valid/ HDF5 files")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    # All train windows every epoch (n_batches_train=None); tsfast's default is 300
    # batches drawn with replacement. Validation windows back to back, as in the kit.
    dls = create_dls(
        u=["u0"],
        y=["y0"],
        dataset=args.data,
        win_sz=WIN_SZ,
        stp_sz=STP_SZ,
        bs=BS,
        n_batches_train=None,
    )
    reply(**describe_windows(dls))
    for line in sys.stdin:
        mode = line.strip()
        if not mode:
            break
        reply(**one_epoch(dls, mode))


if __name__ == "__main__":
    main()
