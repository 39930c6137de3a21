"""Where do the published tsfast scores the course quotes come from? Recompute them.

Notebook 02, benchmarks/README.md and REFERENCES.md quote tsfast's Silverbox test RMSE (mV,
free run, scored on y[50:]) as means of 3 runs. They come from one public file:

    benchmark_default_parameters.csv in github.com/daniel-om-weber/nlsid_workshop25_tsfast,
    commit 77afddf (2025-05-05), written by its submission_benchmarks/
    benchmark_default_parameters.py (tsfast's RNNLearner with its defaults, 10 epochs of
    fit_flat_cos, on identibench's workshop benchmarks, 3 runs each).

This script reads that file, averages the 3 Silverbox runs of each model and checks that the
quoted figures are those means rounded to 0.01 mV. It downloads the pinned file unless you
give a local copy; nothing in the kit's tests or CI downloads it.

    .venv/bin/python benchmarks/published_results.py                 # needs the internet
    .venv/bin/python benchmarks/published_results.py --csv FILE.csv  # a local copy
"""

import argparse
import csv
import io
import json
import statistics
import sys
import urllib.request

__all__ = ["PINNED_URL", "QUOTED", "TESTS", "check", "read_runs", "main"]

PINNED_URL = (
    "https://raw.githubusercontent.com/daniel-om-weber/nlsid_workshop25_tsfast/"
    "77afddf7d3757c4ec4281db39622754c6defefd4/benchmark_default_parameters.csv"
)
TESTS = ("multisine", "arrow_full", "arrow_no_extrapolation")  # the file's custom_*_rmse
# The quoted test RMSE in mV, multisine / arrow full / arrow no-extrapolation.
QUOTED = {"gru": (0.32, 1.43, 0.31), "lstm": (0.37, 2.19, 0.32), "rnn": (0.59, 2.79, 0.61)}
SILVERBOX = "BenchmarkSilverbox_Simulation"


def read_runs(text: str) -> dict[str, list[tuple[float, float, float]]]:
    """The Silverbox runs in the file's text: model type -> one (mV, mV, mV) per run."""
    runs: dict[str, list[tuple[float, float, float]]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row["benchmark_name"] != SILVERBOX:
            continue
        model = json.loads(row["hyperparameters"])["model_type"]
        runs.setdefault(model, []).append(tuple(float(row[f"custom_{t}_rmse"]) for t in TESTS))
    return runs


def check(runs: dict) -> list[str]:
    """Print each model's mean and spread; return what disagrees with QUOTED (empty: all agree)."""
    problems = []
    print(f"{'model':>6} {'runs':>4}" + "".join(f"{t + ' (mV)':>33}" for t in TESTS))
    for model, quoted in QUOTED.items():
        scores = runs.get(model, [])
        if len(scores) != 3:
            problems.append(f"{model}: {len(scores)} Silverbox runs in the file, expected 3")
            continue
        cells = ""
        for name, values, q in zip(TESTS, zip(*scores), quoted):
            mean, spread = statistics.mean(values), statistics.stdev(values)
            cells += f"{mean:>17.4f} ± {spread:.4f} [{q:.2f}]"
            if abs(mean - q) > 0.005 + 1e-9:  # the quote is the mean rounded to 0.01 mV
                problems.append(f"{model} {name}: mean {mean:.4f} mV, quoted {q:.2f} mV")
        print(f"{model:>6} {len(scores):>4}{cells}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Recompute the quoted tsfast Silverbox scores.")
    parser.add_argument("--csv", help="a local copy of benchmark_default_parameters.csv")
    parser.add_argument("--url", default=PINNED_URL, help="where to download it from")
    args = parser.parse_args(argv)
    if args.csv:
        with open(args.csv, encoding="utf-8") as f:
            text = f.read()
    else:
        with urllib.request.urlopen(args.url, timeout=30) as response:
            text = response.read().decode("utf-8")
    problems = check(read_runs(text))
    print("means ± standard deviation of the runs [quoted]")
    for problem in problems:
        print("DISAGREES:", problem)
    if not problems:
        print("every quoted figure is the mean of its 3 runs, rounded to 0.01 mV")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
