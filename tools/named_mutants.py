"""Named mutants, each applied by hand: does the test named beside it catch it?

    .venv/bin/python tools/named_mutants.py            # each against the test that kills it
    .venv/bin/python tools/named_mutants.py tests/core tests/modes   # each against these

Issue 24 named the first seventeen (they survived the unit suite once, or mutmut cannot
reach them: it skips decorated functions such as ``predict``); issue 31 added the ones
that break the explicit state: a loop without its reset or its detach, a validation or a
measurement that changes the run it is called in, a carry kept from one run to the next,
a carry that forgets the rows that started a record inside the steps it runs again. For
each, a copy of the package is changed in one place, the tests run against the copy, and
the mutant must make them fail. By default only the test named beside the mutant runs.
Exits 1 if any survives, or no longer applies (the code it changes was rewritten: update
the list).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (what it breaks, file, the code, the mutant, the test that kills it: file and -k pattern)
NAMED = [
    (
        "an LSTM's per-row reset is a no-op",
        "tbptt_kit/core/model.py",
        "return tuple(reset_rows(h, reset) for h in hidden_state)",
        "return tuple(h for h in hidden_state)",
        ("tests/core/test_model.py", "test_reset_rows_zeroes_exactly_those_rows"),
    ),
    (
        "a GRU's or RNN's per-row reset is a no-op",
        "tbptt_kit/core/model.py",
        "return hidden_state * keep.reshape(1, -1, 1).to(hidden_state.dtype)",
        "return hidden_state",
        ("tests/core/test_model.py", "test_reset_rows_zeroes_exactly_those_rows"),
    ),
    (
        "output de-normalised by division",
        "tbptt_kit/core/model.py",
        "self.head(out) * self.y_std",
        "self.head(out) / self.y_std",
        ("tests/core/test_model.py", "test_the_model_is_the_network_between"),
    ),
    (
        "input normalised without the mean",
        "tbptt_kit/core/model.py",
        "(u - self.u_mean) / self.u_std",
        "u / self.u_std",
        ("tests/core/test_model.py", "test_the_model_is_the_network_between"),
    ),
    (
        "default std without a normaliser is 2",
        "tbptt_kit/core/model.py",
        'default = [1.0 if name.endswith("std") else 0.0] * size',
        'default = [2.0 if name.endswith("std") else 0.0] * size',
        ("tests/core/test_model.py", "test_without_a_normaliser"),
    ),
    (
        "default mean without a normaliser is 1",
        "tbptt_kit/core/model.py",
        'default = [1.0 if name.endswith("std") else 0.0] * size',
        'default = [1.0 if name.endswith("std") else 1.0] * size',
        ("tests/core/test_model.py", "test_without_a_normaliser"),
    ),
    (
        "predict(whole_windows=True) joins sub-window 0 too",
        "tbptt_kit/core/learner.py",
        "self.batch.sub_idx != 0",
        "self.batch.sub_idx >= 0",
        ("tests/core/test_learner.py", "test_predict_whole_windows_equals"),
    ),
    (
        "predict(whole_windows=True) never joins",
        "tbptt_kit/core/learner.py",
        "self.batch.sub_idx != 0",
        "self.batch.sub_idx > 1",
        ("tests/core/test_learner.py", "test_predict_whole_windows_equals"),
    ),
    (
        "predict(whole_windows=True) joins along the batch axis",
        "tbptt_kit/core/learner.py",
        "torch.cat([preds.pop(), pred], 1)",
        "torch.cat([preds.pop(), pred], 0)",
        ("tests/core/test_learner.py", "test_predict_whole_windows_equals"),
    ),
    (
        "predict skips after_batch",
        "tbptt_kit/core/learner.py",
        'self.one_batch()\n            self("after_batch")\n            kept',
        "self.one_batch()\n            kept",
        ("tests/core/test_learner.py", "test_predict_runs_the_callbacks"),
    ),
    (
        "run_windows keeps the gradients it found",
        "tbptt_kit/course/run.py",
        "p.grad = None",
        "pass",
        ("tests/course/test_run.py", "test_run_windows_sees_only_its_own_gradients"),
    ),
    (
        "run_windows does not restore the gradients",
        "tbptt_kit/course/run.py",
        "p.grad = g",
        "pass",
        ("tests/course/test_run.py", "test_run_windows_sees_only_its_own_gradients"),
    ),
    (
        "create_stream_dls drops the test records",
        "tbptt_kit/data/loaders.py",
        "test_records[name] = (u[0], y[0])",
        "pass",
        ("tests/data/test_loaders.py", "test_create_stream_dls_keeps_the_test_records"),
    ),
    (
        "BPTT('full', sub_seq_len=50) accepted",
        "tbptt_kit/modes/truncated.py",
        "if (bptt.sub_seq_len, bptt.backprop_len, bptt.truncation) != (None, None, None):",
        "if False:",
        ("tests/modes/test_bptt.py", "test_bptt_refuses_what_it_cannot_run"),
    ),
    (
        "backprop_len accepted with 'checkpointed'",
        "tbptt_kit/modes/truncated.py",
        "if bptt.backprop_len is not None and not k2:",
        "if False:",
        ("tests/modes/test_bptt.py", "test_bptt_refuses_what_it_cannot_run"),
    ),
    (
        "a non-integer backprop_len accepted",
        "tbptt_kit/modes/truncated.py",
        'check_int("backprop_len", bptt.backprop_len)',
        "pass",
        ("tests/modes/test_bptt.py", "test_bptt_refuses_what_it_cannot_run"),
    ),
    (
        "win_sz checked against the longest record",
        "tbptt_kit/data/loaders.py",
        "shortest = min(len(u) for u, _ in records)",
        "shortest = max(len(u) for u, _ in records)",
        ("tests/data/test_loaders.py", "test_win_sz_must_fit_the_shortest"),
    ),
    # -- issue 31: the explicit state, and the renames --------------------------------------
    (
        "a renamed argument's warning points past the line that used it",
        "tbptt_kit/modes/bptt.py",
        "stacklevel=3,",
        "stacklevel=4,",
        ("tests/test_deprecated.py", "test_the_warning_points_at_the_line"),
    ),
    (
        "the loop never resets",
        "tbptt_kit/core/learner.py",
        "state = reset_rows(self.hidden_state, self.batch.reset)",
        "state = self.hidden_state",
        ("tests/core/test_learner.py", "test_a_hand_built_learner_starts_every_window_from_zero"),
    ),
    (
        "the loop never detaches",
        "tbptt_kit/core/learner.py",
        "self.hidden_state = detach_state(state)  # detach: the next gradient stops here",
        "self.hidden_state = state",
        ("tests/core/test_learner.py", "test_the_gradient_is_exactly_zero_across"),
    ),
    (
        "the loop carries nothing: every sub-window from zeros",
        "tbptt_kit/core/learner.py",
        "self.pred, state = self.forward(self.batch.u, state)",
        "self.pred, state = self.forward(self.batch.u, None)",
        ("tests/core/test_learner.py", "test_the_carried_state_is_the_whole_windows_state"),
    ),
    (
        "a validation in the middle of an epoch stops the training",
        "tbptt_kit/core/learner.py",
        "vars(self).update(found)",
        "pass",
        ("tests/core/test_learner.py", "test_a_validation_in_the_middle_of_an_epoch"),
    ),
    (
        "a fit goes on with the last run's carry",
        "tbptt_kit/core/learner.py",
        "self.carry = self.bptt.carry() if self.bptt is not None else None  # a fresh one",
        "pass",
        ("tests/core/test_learner.py", "test_every_fit_starts_a_fresh_carry"),
    ),
    (
        "run_windows runs the learner's own carry",
        "tbptt_kit/course/run.py",
        "None, bptt.carry(), False, []",
        "None, learn.carry, False, []",
        ("tests/modes/test_randomized.py", "test_a_measurement_in_the_middle_of_an_artbp_run"),
    ),
    (
        "TBPTT(k1, k2) forgets the rows that started inside the steps it runs again",
        "tbptt_kit/modes/truncated.py",
        "resets = {**self.past_resets, n_past: reset}",
        "resets = {n_past: reset}",
        ("tests/modes/test_truncated.py", "test_on_streams_tbptt_predicts_what_the_plain_loop"),
    ),
    (
        "ARTBP forgets the rows that started inside the steps it runs again",
        "tbptt_kit/modes/randomized.py",
        "self.past_resets[self.past_u.shape[1]] = reset",
        "pass",
        ("tests/modes/test_randomized.py", "test_on_streams_artbp_predicts_what_truncation"),
    ),
    (
        "ARTBP without the compensation",
        "tbptt_kit/modes/randomized.py",
        "return grad * ctx.factor, None",
        "return grad, None",
        ("tests/modes/test_randomized.py", "test_uncut_boundaries_scale or test_artbp_mean"),
    ),
    (
        "checkpointed BPTT keeps every activation",
        "tbptt_kit/modes/checkpointed.py",
        "y, state = checkpoint(model, chunk, state, use_reentrant=False)",
        "y, state = model(chunk, state)",
        ("tests/modes/test_checkpointed.py", "test_checkpointed_peak_memory"),
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
    for what, path, code, mutant, (test_file, pattern) in NAMED:
        selection = tests or [test_file, "-k", pattern]
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
            caught = proc.returncode == 1  # tests failed (not a collection error: 2, 4, 5)
            failed += not caught
            last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
            print(f"{'killed  ' if caught else 'SURVIVED'}  {what}   [{last}]", flush=True)
    return failed


if __name__ == "__main__":
    tests = sys.argv[1:]
    survivors = run(tests)
    by = " ".join(tests) or "the test named beside each"
    print(f"\n{len(NAMED) - survivors} of {len(NAMED)} named mutants killed by {by}")
    sys.exit(1 if survivors else 0)
