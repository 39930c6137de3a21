"""Every published result the course quotes has a source one can check, and every place that
quotes it says the same. benchmarks/published_results.py recomputes the tsfast scores from their
public file; here it reads files these tests write (no downloads)."""

import ast
import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

from tests.local_server import serving

ROOT = Path(__file__).resolve().parent.parent
SPEC = importlib.util.spec_from_file_location(
    "published_results", ROOT / "benchmarks" / "published_results.py"
)
published_results = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(published_results)
QUOTED = published_results.QUOTED
HEADER = (
    "benchmark_name,hyperparameters,metric_score,training_time_seconds,test_time_seconds,seed,"
    "custom_multisine_rmse,custom_arrow_full_rmse,custom_arrow_no_extrapolation_rmse,"
    "custom_test_1_rmse,custom_test_2_rmse"
)


def results_file(scores: dict[str, list[tuple]]) -> str:
    """A CSV in the layout of benchmark_default_parameters.csv: one row per run and model, with
    a row of another benchmark in between that the script must leave out."""
    rows = [HEADER, 'BenchmarkWH_Simulation,"{""model_type"": ""lstm""}",9,1,1,0,,,,,']
    for model, runs in scores.items():
        for seed, run in enumerate(runs):
            values = ",".join(str(v) for v in run)
            rows.append(
                f'BenchmarkSilverbox_Simulation,"{{""model_type"": ""{model}""}}",1.0,300,1,'
                f"{seed},{values},,"
            )
    return "\n".join(rows) + "\n"


def runs_around_quotes(shift: float = 0.0) -> dict[str, list[tuple]]:
    """Three runs per model spread around the quoted figures, their mean the quote + shift."""
    return {
        model: [tuple(q + shift + d for q in quoted) for d in (-0.012, 0.004, 0.008)]
        for model, quoted in QUOTED.items()
    }


def test_quotes_that_are_the_rounded_means_of_the_runs_pass(tmp_path, capsys):
    path = tmp_path / "results.csv"
    path.write_text(results_file(runs_around_quotes(shift=0.004)))
    assert published_results.main(["--csv", str(path)]) == 0
    assert "every quoted figure is the mean of its 3 runs" in capsys.readouterr().out


def test_a_quote_that_is_not_the_rounded_mean_is_named(tmp_path, capsys):
    runs = runs_around_quotes()
    runs["lstm"] = [(a, b + 0.01, c) for a, b, c in runs["lstm"]]  # arrow full mean 2.20
    path = tmp_path / "results.csv"
    path.write_text(results_file(runs))
    assert published_results.main(["--csv", str(path)]) == 1
    out = capsys.readouterr().out
    assert "DISAGREES: lstm arrow_full: mean 2.2000 mV, quoted 2.19 mV" in out
    assert out.count("DISAGREES") == 1


def test_a_model_with_a_missing_run_is_named(tmp_path, capsys):
    runs = runs_around_quotes()
    runs["gru"] = runs["gru"][:2]
    path = tmp_path / "results.csv"
    path.write_text(results_file(runs))
    assert published_results.main(["--csv", str(path)]) == 1
    assert "gru: 2 Silverbox runs in the file, expected 3" in capsys.readouterr().out


def test_the_file_is_read_from_an_address(tmp_path, capsys):
    (tmp_path / "results.csv").write_text(results_file(runs_around_quotes()))
    with serving(tmp_path) as base:
        assert published_results.main(["--url", f"{base}/results.csv"]) == 0
    assert "lstm" in capsys.readouterr().out


def test_the_default_address_is_pinned_to_a_commit():
    assert re.search(
        r"/[0-9a-f]{40}/benchmark_default_parameters\.csv$", published_results.PINNED_URL
    )
    assert "77afddf7d3757c4ec4281db39622754c6defefd4" in published_results.PINNED_URL


def quoted_rows(text: str) -> dict[str, tuple]:
    """The tsfast rows of a markdown table: model -> (multisine, arrow full, no extrapolation)."""
    found = {}
    for name, model in (("GRU", "gru"), ("LSTM", "lstm"), ("plain RNN", "rnn")):
        match = re.search(rf"^\| tsfast {name}\b[^|]*\|([^|]+)\|([^|]+)\|([^|]+)\|", text, re.M)
        assert match, f"no tsfast {name} row"
        found[model] = tuple(float(cell) for cell in match.groups())
    return found


def test_the_benchmark_page_quotes_what_the_script_checks():
    assert quoted_rows((ROOT / "benchmarks" / "README.md").read_text()) == QUOTED


def test_references_quote_what_the_script_checks():
    text = (ROOT / "REFERENCES.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| tsfast GRU"))
    for name, model in (("GRU", "gru"), ("LSTM", "lstm"), ("plain RNN", "rnn")):
        figures = " / ".join(f"{v:.2f}" for v in QUOTED[model])
        assert f"{name} {figures}" in row
    assert "maintainers should complete" not in text


def test_notebook_02_quotes_what_the_script_checks():
    cells = json.loads((ROOT / "notebooks" / "02_full_bptt_baseline.ipynb").read_text())["cells"]
    source = next("".join(c["source"]) for c in cells if "published = {" in "".join(c["source"]))
    assign = next(
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "published"
    )
    assert ast.literal_eval(assign.value)["tsfast LSTM"] == QUOTED["lstm"]


@pytest.fixture(scope="module")
def citation():
    return yaml.safe_load((ROOT / "CITATION.cff").read_text())


def test_the_citation_file_names_this_version_and_licence(citation):
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert citation["cff-version"] == "1.2.0"
    assert str(citation["version"]) == version.group(1)
    assert citation["license"] == "MIT"


def test_every_quoted_source_is_among_the_citation_references(citation):
    references = citation["references"]
    titles = " ".join(ref["title"] for ref in references)
    assert "Three free data sets" in titles  # the Silverbox data
    assert "deep encoder networks" in titles  # SUBNET
    workshop = next(ref for ref in references if ref["title"] == "nlsid_workshop25_tsfast")
    assert workshop["commit"] in published_results.PINNED_URL
    assert workshop["repository-code"].endswith("/nlsid_workshop25_tsfast")
    for ref in references:
        assert ref["title"] and ref["authors"], ref
