"""A list of rows (dicts) that shows itself as a table: text, Markdown and HTML.

One table for the whole kit: ``compare``'s results, the live epoch table, the lab's runs.
"""

from __future__ import annotations

import html

__all__ = ["Table"]


class Table(list):
    """A list of rows (dicts) that shows itself as a table: text, Markdown and HTML.

    Columns come in the order they first appear. Floats show ``digits`` significant
    digits; a missing value shows as "-".
    """

    digits = 3

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(key for row in self for key in row))

    def format(self, value) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.{self.digits}g}"
        return str(value)

    def _cells(self) -> list[list[str]]:
        return [[self.format(row.get(col)) for col in self.columns] for row in self]

    def to_text(self) -> str:
        """Plain text, columns aligned."""
        rows = [self.columns, *self._cells()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.columns))]
        return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows)

    def to_markdown(self) -> str:
        """A Markdown table (for a README)."""
        lines = ["| " + " | ".join(self.columns) + " |"]
        lines.append("|" + "|".join("---" for _ in self.columns) + "|")
        lines += ["| " + " | ".join(cells) + " |" for cells in self._cells()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
            for cells in self._cells()
        )
        return (
            f'<table class="dataframe" border="1"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>"
        )

    def __str__(self) -> str:
        return self.to_text()
