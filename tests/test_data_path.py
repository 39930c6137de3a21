"""Where the notebooks find the measured Silverbox record: only in the kit's data folder
($TBPTT_KIT_DATA or the cache), never at a path outside the repository."""

import ast
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import tbptt_kit as tk
from tbptt_kit.data import silverbox

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
# The measured record, where this checkout has a copy beside it (never downloaded in tests).
SHARED = (
    next((p for p in (ROOT.parent / "shared", ROOT.parents[1] / "shared") if p.is_dir()), ROOT)
    / "data/silverbox/SNLS80mV.csv"
)


def path_strings(source: str) -> list[str]:
    """Every string constant in a code cell that looks like a file path."""
    code = "\n".join(
        line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
    )
    found = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if "/" in node.value and not re.match(r"\w+://", node.value) and "\n" not in node.value:
                found.append(node.value)
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_notebook_reads_a_path_outside_the_repository(path):
    for cell in json.loads(path.read_text())["cells"]:
        source = "".join(cell["source"])
        strings = path_strings(source) if cell["cell_type"] == "code" else []
        strings += re.findall(r"`(\.\./[^`]*)`", source)  # paths the prose tells one to use
        for text in strings:
            where = (path.parent / text.split()[0]).resolve()
            assert where.is_relative_to(ROOT) and not text.startswith("/"), (
                f"{path.name}: {text!r} is outside the repository; use tk.cache_dir()"
            )


def test_the_control_finds_a_path_outside():
    assert path_strings('p = Path("../../shared/data/silverbox/SNLS80mV.csv")') == [
        "../../shared/data/silverbox/SNLS80mV.csv"
    ]


def no_download(*args, **kwargs):
    raise AssertionError("the test must not download")


def test_a_record_put_in_the_data_folder_is_found_checked_and_cached(tmp_path, monkeypatch):
    if not SHARED.is_file():
        pytest.skip(f"no copy of the measured record at {SHARED}")
    monkeypatch.setenv("TBPTT_KIT_DATA", str(tmp_path))
    monkeypatch.setattr(silverbox, "download_record", no_download)
    assert tk.silverbox_on_disk() == "simulated"
    shutil.copy(SHARED, tmp_path / "SNLS80mV.csv")
    assert tk.silverbox_on_disk() == "official"
    u, y = tk.load_silverbox("official")
    assert u.shape == y.shape == (silverbox.N_SAMPLES,) and np.isfinite(y).all()
    (tmp_path / "SNLS80mV.csv").unlink()  # the checked copy stays in the cache
    assert tk.silverbox_on_disk() == "official"
    assert np.array_equal(tk.load_silverbox("official")[1], y)


def test_a_wrong_file_in_the_data_folder_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("TBPTT_KIT_DATA", str(tmp_path))
    monkeypatch.setattr(silverbox, "download_record", no_download)
    (tmp_path / "SNLS80mV.csv").write_text('"V1","V2"\n0.1,0.2,\n')
    assert tk.silverbox_on_disk() == "official"  # by its name only ...
    with pytest.raises(ValueError, match="SNLS80mV.csv.*not the official record"):
        tk.load_silverbox("official")  # ... but checked before use
    assert not list(tmp_path.glob("*.h5"))  # nothing cached
