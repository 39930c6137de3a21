"""The self-checks of notebooks 07 and 08: "not done" for the stub, "right" for the worked
solution, "wrong" for a wrong answer (test_notebooks.py's CHECKS does this for 01-06)."""

import pytest
from test_notebooks import NOTEBOOK_DIR, exercises, functions_of, read

from tbptt_kit import checks

CHECKS = {
    "batches_per_epoch": checks.check_batches_per_epoch,
    "masked_steps": checks.check_masked_steps,
    "unigram_bits_per_char": checks.check_unigram_bits_per_char,
    "perplexity": checks.check_perplexity,
}
PATHS = sorted(NOTEBOOK_DIR.glob("0[78]_*.ipynb"))


def test_both_notebooks_are_there():
    assert [p.name[:2] for p in PATHS] == ["07", "08"]


@pytest.mark.parametrize(
    "ex",
    [pytest.param(ex, id=f"{p.stem}-ex{n}") for p in PATHS for n, ex in exercises(read(p)).items()],
)
def test_self_check_says_not_done_then_right_then_wrong(ex, capsys):
    stub = functions_of(ex["stub"].source)
    solution = functions_of(ex["solution"].read_text())
    (name,) = [n for n in stub if n in CHECKS]
    assert CHECKS[name](stub[name]) == checks.NOT_DONE
    assert "not done yet" in capsys.readouterr().out
    assert CHECKS[name](solution[name]) == checks.RIGHT
    assert CHECKS[name](lambda *args: -1.0) == checks.WRONG
    assert "not yet right" in capsys.readouterr().out
