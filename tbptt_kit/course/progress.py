"""The live epoch table and the progress bar within an epoch.

In Jupyter: an HTML table and bar that update in place. In a terminal: one
plain-text line per epoch (and a bar on stderr when it is a terminal).
"""

from __future__ import annotations

import html
import sys
import time

from .table import Table

__all__ = ["ProgressTable", "format_time", "format_value", "in_notebook"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook, VS Code, Colab)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ in ("ZMQInteractiveShell", "Shell")


def format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


def format_time(seconds: float) -> str:
    return f"{int(seconds) // 60:02d}:{int(seconds) % 60:02d}"


class ProgressTable:
    """Rows of dicts, shown as a table that grows one row per epoch."""

    def __init__(self, notebook: bool | None = None, min_interval: float = 0.2):
        self.notebook = in_notebook() if notebook is None else notebook
        self.rows: list[dict] = []
        self.bar = ""
        self.min_interval, self._last = min_interval, 0.0
        self._handle = None

    # -- updates -----------------------------------------------------------------
    def start(self) -> None:
        if self.notebook:
            from IPython.display import HTML, display

            self._handle = display(HTML(self._html()), display_id=True)

    def add_row(self, row: dict) -> None:
        self.rows.append(row)
        self.bar = ""
        if self.notebook:
            self._refresh(force=True)
            return
        if len(self.rows) == 1:
            print(self._text_line(list(row)))
        print(self._text_line([format_value(v) for v in row.values()]), flush=True)

    def update_bar(self, done: int, total: int, label: str = "") -> None:
        now = time.perf_counter()
        if now - self._last < self.min_interval and done < total:
            return
        self._last = now
        width = 30
        filled = int(width * done / max(total, 1))
        self.bar = f"{label} {done}/{total}"
        if self.notebook:
            self._bar_frac = done / max(total, 1)
            self._refresh()
        elif sys.stderr.isatty():
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.bar} ")
            sys.stderr.flush()
            if done >= total:
                sys.stderr.write("\r" + " " * (width + len(self.bar) + 4) + "\r")

    # -- rendering ---------------------------------------------------------------
    @staticmethod
    def _text_line(cells) -> str:
        return "  ".join(f"{c:>12}" for c in cells)

    def _refresh(self, force: bool = False) -> None:
        if self._handle is not None:
            from IPython.display import HTML

            self._handle.update(HTML(self._html()))

    def _html(self) -> str:
        parts = ['<div class="tbptt-progress">']
        if self.bar:
            pct = 100 * getattr(self, "_bar_frac", 0.0)
            parts.append(
                f'<progress value="{pct:.0f}" max="100" style="width:300px"></progress> '
                f"<span>{html.escape(self.bar)}</span>"
            )
        if self.rows:
            parts.append(Table(self.rows)._repr_html_())
        parts.append("</div>")
        return "".join(parts)
