"""The course's interactive panels, and the lab they show.

- ``Lab`` (``lab.py``): the lab's settings, rules and runs as a plain object (no widgets).
- ``LabPanel`` (``lab_panel.py``): the lab of notebook 05 as widgets, a view over a ``Lab``.
- ``WindowExplorer`` (``explorer.py``): the window sliders of notebook 01.

The panels need ipywidgets; they are imported when first asked for, so ``Lab`` works
without it.
"""

from .lab import Lab, silverbox_stream_dls
from .live import LiveLossCB

__all__ = ["Lab", "LabPanel", "LiveLossCB", "WindowExplorer", "silverbox_stream_dls"]


def __getattr__(name: str):
    if name == "LabPanel":
        from .lab_panel import LabPanel

        return LabPanel
    if name == "WindowExplorer":
        from .explorer import WindowExplorer

        return WindowExplorer
    raise AttributeError(f"module 'tbptt_kit.widgets' has no attribute {name!r}")
