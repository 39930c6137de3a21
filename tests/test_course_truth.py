"""The course says only what it measures, and every exercise runs the same way.

- Exercise flow: in every notebook each exercise is its task (Markdown), a stub (tagged
  `raises-exception`), the "Stuck?" note, the `%load` cell (tagged `solution-loader`), then the
  check: a student always meets the check after the solution they may have loaded.
- Numbers in prose: a Markdown cell states no measured figure or comparison. Those are printed
  by code (`tbptt_kit.claim`), which raises when the claim stops holding. Definitions of
  settings and facts of the set-up are on a short allow-list below.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path
from types import SimpleNamespace

import nbformat
import numpy as np
import pytest
import torch

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


# -- every claim of the course can be false --------------------------------------------------
# A claim whose condition cannot be false says nothing (08 once chose its sentence from a
# comparison and then claimed that same comparison). For each notebook below, every
# `tk.claim(...)` is named by a piece of its source, with values for the measured names its
# cell reads (computed in earlier cells, or by the cell's measuring statements) that make it
# false. The test runs the claim's cell on them: the functions and classes the notebook defined
# before it (those the cell uses), then the cell's own computations from those values
# (statements that assign a given name, and statements that only measure, print or draw, are
# left out), then the claim, which must raise ClaimError. Because the cell's own code derives
# everything else from the given values, a claim whose condition restates the computation that
# chose its sentence cannot be made false, and fails here. A new claim without a case fails
# `test_every_claim_has_a_case`.
def code_cells(path: Path) -> list[str]:
    """Each code cell's source, its IPython magics and shell lines left out."""
    cells = nbformat.read(path, as_version=4).cells
    return [
        "\n".join(
            line for line in c.source.splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        for c in cells
        if c.cell_type == "code"
    ]


def is_claim(node) -> bool:
    return isinstance(node, ast.Call) and ast.unparse(node.func) == "tk.claim"


def claims_in(node) -> list[ast.Call]:
    return [n for n in ast.walk(node) if is_claim(n)]


def claim_calls(path: Path) -> list[str]:
    """The source of every ``tk.claim(...)`` call in a notebook, in order."""
    return [
        textwrap.dedent(ast.get_source_segment(code, call))
        for code in code_cells(path)
        for call in claims_in(ast.parse(code))
    ]


def assigned(node) -> set[str]:
    """The names a statement binds or changes in place (x = ..., x[i] = ..., x += ...)."""
    names = set()
    for n in ast.walk(node):
        targets = getattr(n, "targets", None) or [getattr(n, "target", None)]
        for t in filter(None, targets):
            while isinstance(t, (ast.Subscript, ast.Attribute, ast.Starred)):
                t = t.value
            names |= {x.id for x in ast.walk(t) if isinstance(x, ast.Name)}
    return names


def claim_program(path: Path, piece: str, given: set[str]) -> ast.Module:
    """The claim holding ``piece`` with what its cell computes before it, as a program."""
    cells = [ast.parse(code) for code in code_cells(path)]
    here = next(
        i for i, tree in enumerate(cells) if any(piece in ast.unparse(c) for c in claims_in(tree))
    )
    used = {n.id for n in ast.walk(cells[here]) if isinstance(n, ast.Name)}
    body = [  # the functions and classes defined before, that this cell uses
        s
        for tree in cells[:here]
        for s in tree.body
        if isinstance(s, (ast.FunctionDef, ast.ClassDef)) and s.name in used
    ]
    for s in cells[here].body:
        mine = [c for c in claims_in(s) if piece in ast.unparse(c)]
        if isinstance(s, (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)) or mine:
            body.append(s)
        elif isinstance(s, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and not assigned(s) & given:
            body.append(s)  # a computation from the given values; other statements measure
    return ast.fix_missing_locations(ast.Module(body=body, type_ignores=[]))


def falsified(program: ast.Module, values: dict) -> bool:
    """Does the program (a claim and what it computes) raise ClaimError on ``values``?"""
    import tbptt_kit as tk

    try:
        exec(compile(program, "<claim>", "exec"), {"tk": tk, "np": np, "torch": torch, **values})
    except tk.ClaimError:
        return True
    return False


def rows_of(**columns) -> list[dict]:
    """Table rows from columns: rows_of(name=[...], steps=[...]) -> [{name:, steps:}, ...]."""
    return [dict(zip(columns, row)) for row in zip(*columns.values())]


A = np.array
NS = SimpleNamespace


def two_lab_runs(**changed) -> dict:
    """Notebook 05's values: two lab runs at win_sz 500 (sub-windows of 25 and 100) whose
    every reading holds, but for the columns in ``changed``; sizes all in MiB."""
    columns = {
        "win_sz": [500, 500],
        "sub_seq_len": [25, 100],
        "steps": [100, 25],
        "measured act.": ["1.2 MiB", "4.6 MiB"],
        "predicted act.": ["1.2 MiB", "4.6 MiB"],
        "valid RMSE (mV)": [3.7, 4.0],
    } | changed
    return dict(lab=NS(runs=rows_of(**columns)), parse_bytes=lambda size: float(size.split()[0]))


ECHO = ["full BPTT", "TBPTT(4)", "TBPTT(16)", "TBPTT(4, 12)", "checkpointed(4)"]
# notebook -> {a piece of the claim's source: measured values that make it false}
FALSE_CASES = {
    "00_welcome": {
        "Ten times the window": dict(  # the memory grew by less than the window
            est={500: [1e7, 4e6], 5_000: [5e7, 4e6], 50_000: [5e8, 4e6]}, format_bytes=str
        ),
        "far from the half": dict(best={1: 1.0, 2: 0.4}),  # 2 threads at better than half
    },
    "01_silverbox_and_windows": {
        "The input's rms rises": dict(  # the third quarter amplified more than the second
            u_rms=[5.5, 14.6, 24.5, 34.3], gain=[2.42, 2.30, 2.34, 2.31]
        ),
        "On the quietest quarter's input": dict(  # the linear part 25% off the measured gain
            gain=[2.0, 2.0, 1.9, 1.9], lin=[2.5] * 4, dc=1.05
        ),
        "Measured over linear, both louder": dict(  # the loudest quarter held back least
            gain=[2.4, 2.4, 2.3, 2.45], lin=[2.5] * 4, dc=1.05
        ),
        "within 10%.": dict(  # the simulation's input a fifth too loud
            SPLIT={"train": slice(0, 4)},
            records={"simulated": (A([1.2] * 4), A([1.0] * 4)), "official": (A([1.0] * 4),) * 2},
        ),
    },
    "02_full_bptt_baseline": {
        "Of the zero-start squared error": dict(share=0.3, N_INIT=50, err=np.ones(500)),
        "The zero-start validation RMSE": dict(valid_rmse=0.0005, free_run=0.8),
        "The arrow test part reaches": dict(arrow_peak=200.0, train_peak=235.0, scores={}),
        "scores worst on **arrow_full**": dict(  # the extrapolating part scored best
            arrow_peak=305.0,
            train_peak=235.0,
            scores={"multisine": 5.0, "arrow_full": 1.0, "arrow_no_extrap": 1.2},
        ),
        "The mean model scores": dict(baseline=1.0, scores={"multisine": 0.9}),
    },
    "03_the_memory_problem": {
        "-fold range of `win_sz`": dict(  # TBPTT's memory doubled with the window
            rows=[NS(sub_seq_len=100, measured=1e6), NS(sub_seq_len=100, measured=2e6)],
            full=[NS(win_sz=100), NS(win_sz=4000)],
            per_step=[2958.0, 2960.0],
            error=0.0,
        ),
        "The same step keeps **": dict(  # the two paths kept the same
            report=NS(activation_bytes=1e6, path="onednn"),
            native=NS(activation_bytes=1e6, path="native"),
        ),
        "Refusing a step of": dict(predicted=2e9, grew=1e9, format_bytes=str),
        "`fit` refused before its first step": dict(dls_long=None, greedy=NS(opt=object())),
    },
    "04_tbptt_and_stateful_models": {
        "Carried, the five sub-windows": dict(gap={"carried": 1e-3, "from zeros": 2e-3}),
        "Detached, the second sub-window's loss": dict(
            reach={"detached": 1e-6, "not detached": 1e-4}
        ),
        "With the reset every window's prediction": dict(  # the first batch leaked too
            gap={"reset": A([0.0] * 8), "no reset": A([1e-3] * 8)}
        ),
        "**TBPTT(100) with `bs` 16**": dict(  # truncation alone helped on a record
            SCORES=["valid_mV", "test_multisine_mV"],
            summary={
                "TBPTT(100)": {"valid_mV": A([1.0, 1.1]), "test_multisine_mV": A([2.0, 2.1])},
                "TBPTT(100), bs 80": {
                    "valid_mV": A([0.5, 0.6]),
                    "test_multisine_mV": A([2.0, 2.1]),
                },
            },
            full={"valid_mV": A([1.5, 1.6]), "test_multisine_mV": A([2.0, 2.1])},
            runs=[],
            names=[],
        ),
        "holds {mem['TBPTT(100)']": dict(  # TBPTT took half full BPTT's CPU time
            b16=1,
            w16=0,
            b80=0,
            w80=0,
            names=["full BPTT", "TBPTT(100)", "TBPTT(100), bs 80"],
            runs=rows_of(
                name=["full BPTT", "TBPTT(100)", "TBPTT(100), bs 80"],
                activation_MiB=[22.6, 4.6, 22.7],
                cpu_s=[20.0, 10.0, 20.0],
            ),
        ),
        "fell below 1% of its largest value only": dict(g=np.r_[1.0, np.full(499, 1e-3)]),
    },
    "05_the_lab": {
        "times the time ({reading})": dict(  # time grew as fast as the steps
            lab=NS(runs=rows_of(steps=[5, 100], sub_seq_len=["full", 25], **{"time (s)": [1, 15]}))
        ),
        "The measured activation memory rises": two_lab_runs(  # the prediction missed one run
            **{"predicted act.": ["1.2 MiB", "5.0 MiB"]}
        ),
        "Each run made `win_sz / sub_seq_len`": two_lab_runs(steps=[100, 20]),  # one run short
        "free-run validation RMSE rose with the sub-window": two_lab_runs(  # longer scored better
            **{"valid RMSE (mV)": [4.0, 3.7]}
        ),
        "Full BPTT over `win_sz` 2000 was refused": dict(  # it was not refused
            refused=False, largest=400, lab=NS(train_button=NS(disabled=False))
        ),
    },
    "06_what_truncation_costs": {
        "ends at **": dict(  # TBPTT(4) learned it too
            table=rows_of(name=ECHO, **{"echo RMSE / trivial": [0.06, 0.3, 0.04, 0.05, 0.06]})
        ),
        "and full BPTT end **": dict(  # checkpointed trained apart from full BPTT
            score={"checkpointed(4)": 0.26, "full BPTT": 0.06}, table=[{"steps": 320}]
        ),
        "keeps **{ck['act_mem']}": dict(  # the peak no larger than what it keeps
            table=rows_of(name=ECHO, act_mem=[4.3e6, 0, 0, 0, 9e3], peak=[5.7e6, 0, 0, 0, 9e3])
        ),
        "the recompute costs time": dict(  # checkpointed faster than full BPTT
            table=rows_of(name=ECHO, seconds=[3.6, 0, 0, 0, 3.0], steps=[320] * 5),
            dls=NS(win_sz=64),
        ),
        "peaks at lag": dict(grads={"full BPTT": A([1.0, 2, 3, 9, 1, 1, 1, 1, 8])}, DELAY=8),
        "Beyond the peak": dict(g=np.ones(64), DELAY=8),  # hardly falls
        "Scaled by 0.5": dict(  # underflow: an exact zero, not a fade
            curves={
                "R x 0.5": np.r_[1.0, np.zeros(62), 1e-36],
                "R x 4": np.r_[1.0, np.ones(63) * 1e5],
            }
        ),
        "first steps' norms": dict(  # clipping did worse
            clipping={
                **{("no clipping", s): (0.4, [1e3] * 20) for s in (0, 1, 2)},
                **{("clip_grad=1.0", s): (1.0, [1e3] * 20) for s in (0, 1, 2)},
            }
        ),
        "go on from an unrelated window": dict(  # no bleeding: carrying changed nothing
            rms={"with": (1.06, 0.04), "unrelated": (1.06, 0.04), "in order": (1.06, 0.04)},
            DELAY=8,
        ),
        "retain_graph=True` the graph grew": dict(  # the retained graph did not grow
            nodes={"retain_graph=True": [31, 31], "detach": [31, 31]}
        ),
    },
    "07_streams": {
        "lies in one row only": dict(rows_of={0: {0, 1}}, resets=1, at_starts=1),  # a record moved
        "Streams took": dict(  # a tenth fewer steps
            runs=rows_of(layout=["windows", "streams"], steps=[1550, 1400], act_mib=[4.6, 4.6]),
            streams=NS(train=[0] * 32),
        ),
        "layouts' means lie": dict(  # a fifth apart
            runs=rows_of(
                layout=["windows"] * 2 + ["streams"] * 2,
                multisine=[1.2, 1.3, 1.5, 1.6],
                arrow_full=[7.6, 7.7, 9.5, 9.6],
            ),
            epochs={"windows": 1, "streams": 48},
        ),
        "Streamed, the peak rose": dict(  # streamed memory grew with the record
            sizes=(1, 10),
            record_mib={1: 7.6, 10: 76.3},
            growth={
                (1, "streamed"): 37,
                (10, "streamed"): 110,
                (1, "read whole"): 42,
                (10, "read whole"): 115,
            },
        ),
        "wrong by **{min(ratio)": dict(  # one seed better without the resets
            err={(s, h): np.full(150, e) for s, h, e in [(0, "with", 0.03), (0, "without", 0.02)]},
            models={0: None},
        ),
        "reversing the records": dict(gap={"with": 0.01, "without": 0.1}),  # the reset leaked
    },
    "08_text": {
        "The model ends at": dict(bpc=7.0, dls=NS(vocab=[0] * 103)),  # worse than chance
        "Memory grows in proportion": dict(rows=rows_of(k=[10, 250], act_mib=[3.2, 150.0])),
        "After one epoch k = 10 is": dict(  # the seeds' ranges overlap
            rows=rows_of(
                k=[10, 10, 250, 250], bpc=[2.05, 2.7, 2.63, 2.70], steps=[1309] * 2 + [54] * 2
            )
        ),
        "At equal steps the order turns": dict(  # k = 10 ahead after all
            rows=[],
            equal=rows_of(k=[10, 10, 50, 50, 250, 250], bpc=[2.5, 2.6, 2.76, 2.9, 2.63, 2.7]),
        ),
        "falls by **{fall": dict(full=np.ones(201)),  # a flat gradient: no fall
        "Reading each piece from scratch": dict(  # one stream better from scratch
            bits={
                "as trained": torch.ones(3, 4),
                "reset at every batch": torch.tensor([[1.1] * 4, [0.5] * 4, [1.1] * 4]),
            },
            real=torch.ones(3, 4, dtype=torch.bool),
        ),
        "after a document start": dict(doc=A([-0.05, -0.02, 0.08]), overall=0.0004),
    },
    "09_beyond_one_machine": {
        "Split by rows": dict(  # a split by rows that changes the predictions
            gap={
                "contiguous rows (RankShard)": 0.3,
                "strided rows, fixed": 0.0,
                "batches dealt (DistributedSampler)": 0.3,
            }
        ),
        "On 2 processes every one": dict(
            loss_1=A([1.0, 2.0]), loss_2=A([1.0, 2.1]), rel=A([0.0, 0.05])
        ),
        "Halving the rows": dict(  # two processes beat the count of the compute
            rate_1=1000.0, rate_2=1950.0, t32=0.19, t16=0.1, cores=2, load=1.0
        ),
        "modelled speed-up peaks": dict(  # no peak: the speed-up grows to the last N
            rows=rows_of(
                network=["10 Gbit/s"] * 3,
                N=[8, 16, 32],
                **{"compute (ms)": [9.7, 4.9, 2.4], "all-reduce (ms)": [1.2, 1.5, 2.2]},
                **{"speed-up": [7.1, 12.1, 16.7]},
            )
        ),
    },
    "10_beyond_truncation": {
        "The cosines are close to 1": dict(cos={4: 0.9, 8: 0.99, 16: 0.999}),
        "Where the memory fades": dict(  # ARTBP's draw noisier than the bias even as memory fades
            squared={
                ("fades", "ARTBP"): 0.02,
                ("fades", "truncated(4)"): 0.011,
                ("long", "ARTBP"): 1.2,
                ("long", "truncated(4)"): 0.49,
            },
            of_mean={("long", "ARTBP"): 0.1, ("long", "truncated(4)"): 0.7},
            artbp=NS(label="ARTBP"),
            n_draws=32,
        ),
        "Full BPTT goes the right way too": dict(  # full BPTT moved away from θ*
            runs=[
                {"steps_per_update": 4.0},
                {},
                {"theta": 0.3, "best_theta": -0.25, "steps_per_update": 200.0},
            ],
            start_gap=0.25,
        ),
        "The paper's outcome, reproduced": dict(  # one ARTBP seed moved away from θ*
            runs=[{"theta": 0.8}, {"theta": 3.1, "steps_per_update": 11.8}],
            truncated_runs=[{"theta": 0.8, "best_theta": -0.25}],
            artbp_runs=[
                {"theta": -0.2, "best_theta": -0.25, "steps_per_update": 11.0},
                {"theta": 0.3, "best_theta": -0.25, "steps_per_update": 11.2},
            ],
            chain=NS(best_theta=-0.25),
            start_gap=0.25,
        ),
        "Doubling H from 32 to 64": dict(  # RTRL's time hardly grew
            c={
                (h, 100): {"rtrl_s": t, "bptt_s": 0.01}
                for h, t in [(8, 0.06), (16, 0.08), (32, 0.13), (64, 0.2)]
            },
            T_MID=100,
        ),
        "Read the curve beside the paper": dict(  # half the memory only
            peaks=[100, 50, 60, 70, 80], curve=[{"s": 1.0}, {"s": 2.0}], chunks=(10, 50), T=1000
        ),
        "The shortest chunks cost the most": dict(
            peaks=[100, 1], chunks=(10, 250), curve=[{"s": 1.0}, {"s": 2.0}, {"s": 3.0}]
        ),
        "page faults**": dict(  # keeping the memory saved no time
            timed={
                ("as it is", "full"): [0.15, 6000],
                ("as it is", "checkpointed(100)"): [0.2, 0],
                ("memory kept", "full"): [0.16, 0],
                ("memory kept", "checkpointed(100)"): [0.25, 0],
            }
        ),
    },
}
CLAIMED = sorted(p for p in NOTEBOOKS if p.stem in FALSE_CASES)


def test_the_notebooks_from_06_on_have_their_false_cases():
    assert {p.stem for p in NOTEBOOKS if p.stem[:2] >= "06"} <= set(FALSE_CASES)


def test_every_notebook_with_a_claim_has_its_false_cases():
    with_claims = {p.stem for p in NOTEBOOKS if claim_calls(p)}
    assert with_claims <= set(FALSE_CASES), sorted(with_claims - set(FALSE_CASES))


@pytest.mark.parametrize("path", CLAIMED, ids=[p.stem for p in CLAIMED])
def test_every_claim_has_a_case(path):
    calls, pieces = claim_calls(path), FALSE_CASES[path.stem]
    for call in calls:
        named = [piece for piece in pieces if piece in call]
        assert len(named) == 1, (
            f"{path.name}: the claim {call[:120]!r}... is named by {named} in FALSE_CASES: give "
            "it one case (a piece of its source, and measured values that make it false)."
        )
    unused = [piece for piece in pieces if not any(piece in call for call in calls)]
    assert not unused, f"{path.name}: no claim holds {unused}: update FALSE_CASES."


@pytest.mark.parametrize("path", CLAIMED, ids=[p.stem for p in CLAIMED])
def test_every_claim_raises_on_values_that_make_it_false(path, monkeypatch):
    monkeypatch.delenv("TBPTT_KIT_SMOKE", raising=False)  # full settings: every claim checks
    for piece, values in FALSE_CASES[path.stem].items():
        program = claim_program(path, piece, set(values))
        assert falsified(program, values), (
            f"{path.name}: the claim holding {piece!r} did not raise on {values}: its "
            "condition does not test what its sentence says."
        )


CHOSEN = """
def ahead(a, b):
    return "ahead of" if a.max() < b.min() else "behind" if a.min() > b.max() else "level with"


one_epoch = ahead(short, long)
tk.claim(f"k = 10 is **{one_epoch}** k = 250", one_epoch == ahead(short, long))
"""


def test_the_false_cases_catch_a_claim_chosen_by_its_own_condition(monkeypatch, tmp_path):
    monkeypatch.delenv("TBPTT_KIT_SMOKE", raising=False)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CHOSEN)]
    nbformat.write(nb, tmp_path / "chosen.ipynb")
    program = claim_program(tmp_path / "chosen.ipynb", "k = 10 is", {"short", "long"})
    for short, long in [(A([2.0, 2.1]), A([2.6, 2.7])), (A([3.0, 3.1]), A([2.6, 2.7]))]:
        assert not falsified(program, dict(short=short, long=long))  # the old 08: always true
    fixed = CHOSEN.replace("one_epoch == ahead(short, long)", "short.max() < long.min()")
    nb.cells = [nbformat.v4.new_code_cell(fixed)]
    nbformat.write(nb, tmp_path / "fixed.ipynb")
    program = claim_program(tmp_path / "fixed.ipynb", "k = 10 is", {"short", "long"})
    assert falsified(program, dict(short=A([3.0, 3.1]), long=A([2.6, 2.7])))
