"""The mutants issue 24 named, each applied by hand: does its test catch it?

    .venv/bin/python tools/named_mutants.py            # each against the test that kills it
    .venv/bin/python tools/named_mutants.py tests/     # each against the whole unit suite

Each mutant survived the unit suite before tests/test_mutants_core.py existed (mutmut
found them, or cannot reach them: it skips decorated functions such as ``predict``). For
each, a copy of the package is changed in one place, the tests run against the copy, and
the mutant must make them fail. By default only the test in tests/test_mutants_core.py
named beside the mutant runs (a minute for all on a quiet machine). Exits 1 if any
survives, or no longer applies (the code it changes was rewritten: update the list).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (what it breaks, file, the code, the mutant, the test in test_mutants_core.py that kills it)
NAMED = [
    (
        "LSTM per-row reset is a no-op",
        "tbptt_kit/model.py",
        "tuple(h * keep for h in self.hidden_state)",
        "tuple(h for h in self.hidden_state)",
        "test_reset_rows_zeroes_exactly_those_rows",
    ),
    (
        "GRU/RNN per-row reset is a no-op",
        "tbptt_kit/model.py",
        "self.hidden_state = self.hidden_state * keep",
        "self.hidden_state = self.hidden_state",
        "test_reset_rows_zeroes_exactly_those_rows",
    ),
    (
        "output de-normalised by division",
        "tbptt_kit/model.py",
        "self.head(out) * self.y_std",
        "self.head(out) / self.y_std",
        "test_forward_from_is_the_network_between",
    ),
    (
        "input normalised without the mean",
        "tbptt_kit/model.py",
        "(u - self.u_mean) / self.u_std",
        "u / self.u_std",
        "test_forward_from_is_the_network_between",
    ),
    (
        "default y_std without a normaliser is 2",
        "tbptt_kit/model.py",
        '("y_std", 1.0, n_y)',
        '("y_std", 2.0, n_y)',
        "test_without_a_normaliser",
    ),
    (
        "default u_mean without a normaliser is 1",
        "tbptt_kit/model.py",
        '("u_mean", 0.0, n_u)',
        '("u_mean", 1.0, n_u)',
        "test_without_a_normaliser",
    ),
    (
        "predict(whole_windows=True) joins sub-window 0 too",
        "tbptt_kit/learner.py",
        "self.batch.sub_idx != 0",
        "self.batch.sub_idx >= 0",
        "test_predict_whole_windows_equals",
    ),
    (
        "predict(whole_windows=True) never joins",
        "tbptt_kit/learner.py",
        "self.batch.sub_idx != 0",
        "self.batch.sub_idx > 1",
        "test_predict_whole_windows_equals",
    ),
    (
        "predict(whole_windows=True) joins along the batch axis",
        "tbptt_kit/learner.py",
        "torch.cat([preds.pop(), pred], 1)",
        "torch.cat([preds.pop(), pred], 0)",
        "test_predict_whole_windows_equals",
    ),
    (
        "predict skips after_batch",
        "tbptt_kit/learner.py",
        'self.one_batch()\n            self("after_batch")\n            pred, targ',
        "self.one_batch()\n            pred, targ",
        "test_predict_runs_the_callbacks",
    ),
    (
        "run_windows keeps the gradients it found",
        "tbptt_kit/learner.py",
        "p.grad = None",
        "pass",
        "test_run_windows_sees_only_its_own_gradients",
    ),
    (
        "run_windows does not restore the gradients",
        "tbptt_kit/learner.py",
        "p.grad = g",
        "pass",
        "test_run_windows_sees_only_its_own_gradients",
    ),
    (
        "create_stream_dls drops the test records",
        "tbptt_kit/data/streams.py",
        "test=test_records,",
        "test={},",
        "test_create_stream_dls_keeps_the_test_records",
    ),
    (
        "BPTT('full', sub_seq_len=50) accepted",
        "tbptt_kit/bptt.py",
        "if self.sub_seq_len is not None or self.bptt_len is not None:",
        "if False:",
        "test_bptt_refuses_what_it_cannot_run",
    ),
    (
        "bptt_len accepted with 'checkpointed'",
        "tbptt_kit/bptt.py",
        'if self.mode != "truncated":',
        "if False:",
        "test_bptt_refuses_what_it_cannot_run",
    ),
    (
        "a non-integer bptt_len accepted",
        "tbptt_kit/bptt.py",
        'check_int("bptt_len", self.bptt_len)',
        "pass",
        "test_bptt_refuses_what_it_cannot_run",
    ),
    (
        "win_sz checked against the longest record",
        "tbptt_kit/data/windows.py",
        "shortest = min(len(u) for u in self.u)",
        "shortest = max(len(u) for u in self.u)",
        "test_win_sz_must_fit_the_shortest",
    ),
]


def check_imports_from(copy: Path) -> None:
    """Exit unless Python started in ``copy`` imports the package from there, not the checkout."""
    imported = subprocess.run(
        [sys.executable, "-c", "import tbptt_kit; print(tbptt_kit.__file__)"],
        cwd=copy,
        capture_output=True,
        text=True,
    ).stdout
    if not imported.startswith(str(copy)):
        sys.exit(f"the tests imported {imported.strip()}, not the mutated copy")


def run(tests: list[str]) -> int:
    failed = 0
    for what, path, code, mutant, test in NAMED:
        selection = tests or ["tests/test_mutants_core.py", "-k", test]
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp)
            for part in ("tbptt_kit", "tests", "conftest.py", "pyproject.toml"):
                src = ROOT / part
                (shutil.copytree if src.is_dir() else shutil.copy)(src, copy / part)
            source = (copy / path).read_text()
            if source.count(code) != 1:
                print(f"NO LONGER APPLIES  {what}: {code!r} is not in {path} exactly once")
                failed += 1
                continue
            (copy / path).write_text(source.replace(code, mutant))
            proc = subprocess.run(
                [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *selection],
                cwd=copy,
                capture_output=True,
                text=True,
            )
            if what == NAMED[0][0]:  # once: python -m puts the copy first on sys.path
                check_imports_from(copy)
            caught = proc.returncode == 1  # tests failed (not a collection error: 2, 4)
            failed += not caught
            last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
            print(f"{'killed  ' if caught else 'SURVIVED'}  {what}   [{last}]")
    return failed


if __name__ == "__main__":
    tests = sys.argv[1:]
    survivors = run(tests)
    by = " ".join(tests) or "their tests in tests/test_mutants_core.py"
    print(f"\n{len(NAMED) - survivors} of {len(NAMED)} named mutants killed by {by}")
    sys.exit(1 if survivors else 0)
