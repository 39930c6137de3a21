"""Claims: a sentence of the course printed from the values it is about, checked as it prints.

A notebook never writes a measured number or comparison into its Markdown. It computes the
values, then calls ``claim``: the sentence is shown as Markdown (with the numbers filled in
by the f-string the notebook wrote), and if the condition it states is false, ``claim``
raises ``ClaimError``, so the notebook (and nbval in CI) fails the day the claim stops holding.

    claim(f"The loss fell by **{orders:.0f} orders of magnitude**.", orders >= 3)

Smoke mode (``TBPTT_KIT_SMOKE=1``) trains one short epoch, too little for claims about what
training achieves; mark those ``full_settings=True``: in smoke mode a false one is shown as
"not checked in smoke mode" instead of raising. At full settings (``make course``) it raises.
"""

from __future__ import annotations

from ..tooling.smoke import is_smoke

__all__ = ["Claim", "ClaimError", "claim"]


class ClaimError(AssertionError):
    """A sentence the course states, and the values computed above it do not support."""


class Claim(str):
    """The sentence a ``claim`` showed: compares as a string, displays nothing more."""

    def _ipython_display_(self):
        pass


def _show(text: str) -> None:
    try:  # in Jupyter: rendered Markdown; elsewhere (a terminal, a test): plain text
        from IPython import get_ipython
        from IPython.display import Markdown, display

        if get_ipython() is not None and hasattr(get_ipython(), "kernel"):
            display(Markdown(text))
            return
    except ImportError:
        pass
    print(text)


def claim(sentence: str, holds, *, full_settings: bool = False) -> Claim:
    """Show ``sentence`` (Markdown) and raise ``ClaimError`` if ``holds`` is false.

    sentence: the claim with its numbers already filled in (an f-string of computed values).
    holds: the condition the sentence states, computed from the same values (a bool, or a
    NumPy/torch boolean scalar). full_settings: the claim is about what full training
    achieves; in smoke mode a false one is shown as not checked instead of raising.
    """
    if not isinstance(sentence, str) or not sentence.strip():
        raise TypeError(f"sentence must be a non-empty string, got {sentence!r}.")
    try:
        ok = bool(holds)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(
            f"holds must be a single truth value (a bool or a boolean scalar), got "
            f"{type(holds).__name__}: {err}"
        ) from None
    if ok:
        _show(sentence)
        return Claim(sentence)
    if full_settings and is_smoke():
        text = (
            f"*(smoke mode: too little training to check this; `make course` checks it)* {sentence}"
        )
        _show(text)
        return Claim(text)
    raise ClaimError(
        f"The course says: {sentence!r}, but the values computed above do not support it. "
        "Rerun the notebook at full settings; if it still fails, the sentence (or the code "
        "above it) must change."
    )
