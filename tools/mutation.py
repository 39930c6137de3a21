"""Mutation testing of the core and the modes: how many small code changes do the tests catch?

    make mutation                      # a seeded sample of 40 mutants per module
    .venv/bin/python tools/mutation.py --per-module 0     # every mutant (hours)

mutmut (3.x, configured in pyproject.toml's [tool.mutmut]) writes a copy of the package
with every mutant in it to mutants/. This script picks, per module of ``tbptt_kit/core/``
and ``tbptt_kit/modes/`` (all but rtrl.py, a comparison outside training), a seeded random
sample of those mutants, has mutmut run each against the unit tests that reach the
mutated function (tests/core, tests/modes, tests/data/test_loaders.py, tests/course/
test_run.py and test_rnn_learner.py), and prints the score per module: killed / sampled.
The surviving mutants' diffs go to mutants/survivors.md; benchmarks/mutation.md says, for
each, which test now kills it or why it changes no behaviour.

mutmut does not mutate decorated functions (``Learner.predict`` under ``@torch.no_grad()``,
properties, static methods): tools/named_mutants.py applies mutants of those by hand.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"

# module -> (its mutmut meta file, the functions to sample from; None: all of them)
MODULES = {
    f"{folder}/{name}.py": (f"tbptt_kit/{folder}/{name}.py", None)
    for folder, names in (
        ("core", ("batch", "windows", "streams", "model", "learner", "checks")),
        ("modes", ("bptt", "truncated", "checkpointed", "randomized")),
    )
    for name in names
}


def mutmut(*args: str) -> subprocess.CompletedProcess:
    # its own session: mutmut ends its workers by process group, which would take make along
    return subprocess.run(
        [sys.executable, "-m", "mutmut", *args], cwd=ROOT, text=True, start_new_session=True
    )


def generate() -> None:
    """Write mutants/ with every mutant of the configured files (no test runs)."""
    code = (
        "from mutmut.__main__ import copy_src_dir, copy_also_copy_files, create_mutants\n"
        "copy_src_dir(); copy_also_copy_files(); create_mutants(2)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)


def exit_codes(path: str) -> dict[str, int | None]:
    return json.loads((MUTANTS / f"{path}.meta").read_text())["exit_code_by_key"]


def function_of(mutant: str) -> str:
    """'tbptt_kit.core.learner.xǁLearnerǁkept__mutmut_3' -> 'xǁLearnerǁkept'."""
    return mutant.rsplit("__mutmut_", 1)[0].rsplit(".", 1)[1]


def sample(per_module: int, seed: int) -> dict[str, list[str]]:
    """Per module, ``per_module`` mutant names drawn with ``seed`` (0: all of them)."""
    picked = {}
    for module, (path, functions) in MODULES.items():
        names = sorted(
            m for m in exit_codes(path) if functions is None or function_of(m) in functions
        )
        n = len(names) if per_module == 0 else min(per_module, len(names))
        picked[module] = sorted(random.Random(f"{seed}:{module}").sample(names, n))
    return picked


def report(picked: dict[str, list[str]]) -> list[str]:
    """Print the score per module; return the survivors (not killed, whatever the reason)."""
    from mutmut.stats import status_by_exit_code

    print(f"\n{'module':<24}{'sampled':>8}{'killed':>8}{'survived':>9}{'score':>8}")
    survivors = []
    for module, names in picked.items():
        codes = exit_codes(MODULES[module][0])
        status = {m: status_by_exit_code[codes[m]] for m in names}
        caught = ("killed", "timeout", "segfault")  # a mutant that hangs or crashes is caught
        killed = sum(s in caught for s in status.values())
        survivors += [f"{m} ({s})" for m, s in status.items() if s not in caught]
        print(
            f"{module:<24}{len(names):>8}{killed:>8}{len(names) - killed:>9}"
            f"{100 * killed / len(names):>7.1f}%"
        )
    return survivors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-module", type=int, default=40, help="mutants per module; 0: all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-children", type=int, default=2, help="mutants run at once")
    ap.add_argument(
        "--survivors",
        action="store_true",
        help="run only the last run's survivors again (after adding tests; same sample)",
    )
    args = ap.parse_args()
    start = time.monotonic()
    if args.survivors:  # the package is unchanged; the tests are new: re-collect which reach what
        picked = sample(args.per_module, args.seed)
        names = [s.split(" ")[0] for s in report(picked)]
        (MUTANTS / "mutmut-stats.json").unlink(missing_ok=True)
        shutil.rmtree(MUTANTS / "tests", ignore_errors=True)
    else:
        shutil.rmtree(MUTANTS, ignore_errors=True)  # no results cached from an older checkout
        generate()
        picked = sample(args.per_module, args.seed)
        names = [m for ms in picked.values() for m in ms]
    print(
        f"running {len(names)} mutants of the sample: {', '.join(f'{k} {len(v)}' for k, v in picked.items())}"
    )
    mutmut("run", "--max-children", str(args.max_children), *names)
    survivors = report(picked)
    lines = ["# Surviving mutants", ""]
    for s in survivors:
        name = s.split(" ")[0]
        diff = subprocess.run(
            [sys.executable, "-m", "mutmut", "show", name], cwd=ROOT, text=True, capture_output=True
        ).stdout
        lines += [f"## {s}", "", "```diff", diff.strip(), "```", ""]
    (MUTANTS / "survivors.md").write_text("\n".join(lines))
    print(f"\n{len(survivors)} survivors, their diffs in mutants/survivors.md")
    print(f"seed {args.seed}, {time.monotonic() - start:.0f} s in all")


if __name__ == "__main__":
    main()
