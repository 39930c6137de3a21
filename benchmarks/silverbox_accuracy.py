"""How accurate is the reference example? Train it and score it on the Silverbox test records.

The reference example: an LSTM of 40 units, windows of 500 samples every 10 samples, bs 16,
10 epochs of fit_flat_cos at lr 3e-3, seed 0; once with standard BPTT and once with
truncated BPTT over sub-windows of 100 samples. It is trained on

(a) the simulated Silverbox (the kit's offline default), and
(b) the official measured record SNLS80mV.csv, read from ../shared/data/silverbox/ beside
    the checkout when that folder exists (a fresh clone has none: (b) is then skipped).

For each run it prints the validation [MAE, RMSE] in volts and the free-run test RMSE in mV
on the three test records (multisine, arrow_full, arrow_no_extrap), scored on y[50:].

    .venv/bin/python benchmarks/silverbox_accuracy.py --threads 1     # about 3-4 minutes
"""

import argparse
import time
from pathlib import Path

import torch

from tbptt_kit import RNNLearner, create_dls_silverbox, fun_rmse
from tbptt_kit.data.silverbox import TEST_NAMES

OFFICIAL_CSV = Path(__file__).resolve().parents[2] / "shared/data/silverbox/SNLS80mV.csv"
MODES = {"standard": None, "TBPTT(100)": 100}  # name -> sub_seq_len


def train_and_score(source: str, sub_seq_len, args) -> dict:
    """Train the reference example on one source; return its validation and test scores."""
    path = args.official_csv if source == "official" else None
    dls = create_dls_silverbox(
        bs=16, win_sz=500, stp_sz=10, sub_seq_len=sub_seq_len, source=source, path=path
    )
    lrn = RNNLearner(
        dls,
        rnn_type="lstm",
        hidden_size=40,
        sub_seq_len=sub_seq_len,
        metrics=[fun_rmse],
        seed=0,
    )
    start = time.perf_counter()
    lrn.fit_flat_cos(args.epochs, args.lr)
    seconds = time.perf_counter() - start
    valid_loss, valid_rmse = lrn.validate()
    test = lrn.test_rmse()
    print(f"validation [loss, RMSE] (V): [{valid_loss:.5f}, {valid_rmse:.5f}]")
    print("test RMSE (mV): " + ", ".join(f"{name} {test[name]:.2f}" for name in TEST_NAMES))
    return {"valid": (valid_loss, valid_rmse), "test": test, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description="Accuracy of the reference example.")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument(
        "--official-csv",
        type=Path,
        default=OFFICIAL_CSV,
        help="the measured record SNLS80mV.csv (default: ../shared/data/silverbox/)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    sources = ["simulated"]
    if args.official_csv.is_file():
        sources.append("official")
    else:
        print(f"official record: SKIPPED ({args.official_csv} not found)")

    results = {}
    for source in sources:
        for mode, sub_seq_len in MODES.items():
            print(f"\n== {source} Silverbox, {mode} ==")
            results[source, mode] = train_and_score(source, sub_seq_len, args)

    print(
        f"\n{args.epochs} epochs, fit_flat_cos lr {args.lr}, seed 0; torch {torch.__version__}, "
        f"{args.threads} thread(s)\n"
    )
    print(
        "| data | BPTT | valid MAE (V) | valid RMSE (V) | test RMSE (mV): multisine "
        "| arrow full | arrow no-extrap. | train time (s) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for (source, mode), r in results.items():
        tests = " | ".join(f"{r['test'][name]:.2f}" for name in TEST_NAMES)
        print(
            f"| {source} | {mode} | {r['valid'][0]:.5f} | {r['valid'][1]:.5f} | {tests} "
            f"| {r['seconds']:.0f} |"
        )


if __name__ == "__main__":
    main()
