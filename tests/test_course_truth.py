"""The course says only what it measures, and every exercise runs the same way.

- Exercise flow: in every notebook each exercise is its task (Markdown), a stub (tagged
  `raises-exception`), the "Stuck?" note, the `%load` cell (tagged `solution-loader`), then the
  check: a student always meets the check after the solution they may have loaded.
- Numbers in prose: a Markdown cell states no measured figure or comparison. Those are printed
  by code (`tbptt_kit.claim`), which raises when the claim stops holding. Definitions of
  settings and facts of the set-up are on a short allow-list below.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
ids = [p.stem for p in NOTEBOOKS]


def kind(cell) -> str:
    tags = cell.metadata.get("tags", [])
    src = cell.source.lstrip()
    if "raises-exception" in tags:
        return "stub"
    if "solution-loader" in tags or src.startswith("# %load solutions/"):
        return "load"
    if cell.cell_type == "code" and "checks.check" in src:
        return "check"
    if cell.cell_type == "markdown" and src.startswith("Stuck?"):
        return "stuck"
    return ""


def exercise_flow(nb) -> list[list[str]]:
    """For each stub, the kinds of the cells from it to its check: [stub, stuck, load, check]."""
    kinds = [kind(c) for c in nb.cells]
    flows = []
    for i, k in enumerate(kinds):
        if k == "stub":
            flows.append([x for x in kinds[i : i + 6] if x][:4])
    return flows


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if "00_" not in p.name], ids=ids[1:])
def test_every_exercise_runs_task_stub_load_check(path):
    nb = nbformat.read(path, as_version=4)
    flows = exercise_flow(nb)
    assert len(flows) >= 2, f"{path.name} has {len(flows)} exercises"
    for n, flow in enumerate(flows, 1):
        assert flow == ["stub", "stuck", "load", "check"], (
            f"{path.name}, exercise {n}: the cells run {flow}; the course's order is task, "
            "stub, the Stuck? note, the %load cell (tag solution-loader), then the check."
        )


def test_the_flow_test_fails_on_a_check_before_its_load():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "def f(): raise NotImplementedError", metadata={"tags": ["raises-exception"]}
        ),
        nbformat.v4.new_code_cell("checks.check_f(f)"),
        nbformat.v4.new_markdown_cell("Stuck? ..."),
        nbformat.v4.new_code_cell("# %load solutions/x.py"),
    ]
    assert exercise_flow(nb) == [["stub", "check", "stuck", "load"]]


# -- numbers in prose ------------------------------------------------------------------------
UNIT = (
    r"(?:ms|s|seconds?|minutes?|MiB|MB|GB|GiB|KiB|kB|mV|%|x|times|bits per char\w*"
    r"|orders? of magnitude)"
)
NUMBER = r"(?:\d[\d,]*(?:\.\d+)?|10\^\d+|(?:one|two|three|four|five|six|seven|eight|nine|ten|many)(?=\s))"
MEASURED = re.compile(rf"(?<![\w.]){NUMBER}\s*{UNIT}(?!\w)", re.IGNORECASE)
COMPARED = re.compile(
    r"\b(?:faster|slower|orders? of magnitude|within the spread|ranges? apart|better than|"
    r"worse than|scored \**(?:better|worse)|more accurate|less accurate|no more memory)\b",
    re.IGNORECASE,
)
# Definitions and facts of the set-up, not measurements: the only figures prose may state.
ALLOWED = [
    r"about \w+ minutes(?:, [^)]*)?\)",  # reading time in the learning goals
    r"1–2 GB",  # what Binder gives (its documentation), a fact of the set-up
    r"leaves of 2 GiB|budget of 2 GiB|with 50 MiB free|256 MiB by default",  # budgets chosen
    r"Binder.s 2 GB",  # what Binder gives at most
    r"below 1%|below 1% and below\s+0\.1%|1% of its largest value",  # thresholds defined
    r"falls to 1% after",  # the definition of the decay time
    r"a few minutes",  # how long smoke mode takes to run, said of CI
]


def unprinted_figures(markdown: str) -> list[str]:
    """Measured numbers and comparisons in a Markdown cell's prose (code spans, code blocks
    and LaTeX left out), minus the allowed definitions."""
    text = re.sub(r"```.*?```|`[^`]*`|\$[^$]*\$", " ", markdown, flags=re.DOTALL)
    for allowed in ALLOWED:
        text = re.sub(allowed, " ", text)
    hits = [*MEASURED.finditer(text), *COMPARED.finditer(text)]
    return [text[max(0, m.start() - 30) : m.end() + 10].replace("\n", " ") for m in hits]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_no_markdown_cell_states_a_figure_that_code_does_not_print(path):
    nb = nbformat.read(path, as_version=4)
    found = {
        i: unprinted_figures(c.source)
        for i, c in enumerate(nb.cells)
        if c.cell_type == "markdown" and unprinted_figures(c.source)
    }
    assert not found, (
        f"{path.name}: Markdown states measured figures or comparisons: {found}. Print them "
        "from the values computed above with tbptt_kit.claim (which raises when false)."
    )


def test_the_prose_scan_catches_the_sentences_the_issue_found():
    for sentence in [
        "the gradient falls by three orders of magnitude over the first 50 characters",
        "the two land within the spread of the two seeds",
        "62 steps took 1.6 s, so time rises with the steps",
        "streams are faster",
        "a record of 10,000,000 samples (80 MB)",
    ]:
        assert unprinted_figures(sentence), sentence
    assert not unprinted_figures("windows of `win_sz=500` (about 20 minutes)")


# -- the helper the notebooks print their claims with ------------------------------------------
def test_a_claim_prints_when_true_and_raises_when_false(capsys, monkeypatch):
    import numpy as np

    import tbptt_kit as tk

    monkeypatch.delenv("TBPTT_KIT_SMOKE", raising=False)
    assert tk.claim("5 > 3", 5 > 3) == "5 > 3"
    assert "5 > 3" in capsys.readouterr().out
    assert tk.claim("numpy's bool", np.bool_(True)) == "numpy's bool"
    with pytest.raises(tk.ClaimError, match="the values computed above do not support it"):
        tk.claim("3 > 5", 3 > 5)
    with pytest.raises(tk.ClaimError, match="do not support it"):  # full settings: raises
        tk.claim("training helped", False, full_settings=True)
    monkeypatch.setenv("TBPTT_KIT_SMOKE", "1")
    assert "smoke mode" in tk.claim("training helped", False, full_settings=True)
    with pytest.raises(tk.ClaimError, match="do not support it"):  # smoke spares training only
        tk.claim("3 > 5", False)
    with pytest.raises(TypeError, match="holds must be a single truth value"):
        tk.claim("two values", np.array([True, False]))
    with pytest.raises(TypeError, match="sentence must be a non-empty string"):
        tk.claim("", True)
