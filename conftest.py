"""Shared pytest setup: the reference outputs of the notebooks' check cells.

Notebooks are stored without any outputs. Cells marked ``# NBVAL_CHECK_OUTPUT`` print
figures that must not change; their reference text lives in tests/nbval_expected.json
(written by tools/store_notebooks.py). Here, before nbval runs a notebook, each check cell
gets its reference back, so nbval compares it. A reference whose cell source changed is
not used, and tests/test_notebooks.py fails until the notebook is stored again.
"""

import json
from pathlib import Path

import nbformat

EXPECTED = Path(__file__).parent / "tests" / "nbval_expected.json"


def pytest_collection_modifyitems(session, config, items):
    expected = json.loads(EXPECTED.read_text()) if EXPECTED.exists() else {}
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is None or not hasattr(item, "cell_num"):
            continue  # not a notebook cell collected by nbval
        ref = expected.get(Path(str(item.fspath)).name, {}).get(cell.get("id"))
        if ref is not None and ref["source"] == cell.source:
            cell.outputs = [nbformat.from_dict(o) for o in ref["outputs"]]
            cell.execution_count = 1


# Hypothesis (tests/test_validation_properties.py): a fixed budget of examples, derandomised,
# so that `make test` runs the same examples in the same time on every machine. More:
# HYPOTHESIS_PROFILE=thorough .venv/bin/pytest tests/test_validation_properties.py
try:
    import os

    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "kit", max_examples=25, derandomize=True, deadline=None, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )  # fmt: skip
    settings.register_profile("thorough", max_examples=500, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "kit"))
except ImportError:  # the test extra is not installed: no property tests to run
    pass
