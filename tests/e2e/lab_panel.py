"""Drive the lab panel of notebooks/05_*.ipynb like a student: keyboard and mouse.

The panel is built by tbptt_kit/widgets/lab_panel.py (LabPanel, a view over the Lab of
widgets/lab.py).  The test finds its parts by the CSS classes in PANEL_HOOKS, the DOM
contract between the two: each widget carries its class through `widget.add_class(...)`.
Sliders keep their readout visible.  The driver works in the window layout, the panel's
default; the layout toggle (tbptt-layout) and the status line (tbptt-status) are not part
of the contract, so the stand-in panel of fixtures/fake_lab_panel.ipynb needs neither.
"""

from __future__ import annotations

import os
import re
import time

from lab_driver import LabNotebook

# CSS class -> what carries it.
PANEL_HOOKS = {
    "tbptt-lab-panel": "the whole panel (a Box)",
    "tbptt-win-sz": "win_sz: IntSlider or SelectionSlider",
    "tbptt-sub-seq-len": "sub_seq_len: IntSlider, SelectionSlider or Dropdown",
    "tbptt-predicted-memory": "HTML: predicted memory, changes when either slider moves",
    "tbptt-message": "HTML: explains why a (win_sz, sub_seq_len) pair is invalid",
    "tbptt-train": "Button: Train",
    "tbptt-loss-plot": "Output: the live loss plot (an <img>, <canvas> or <svg>)",
    "tbptt-results": "HTML: the results table, an HTML <table> gaining a <tr> per run",
}
TRAIN_TIMEOUT_S = float(os.environ.get("E2E_TRAIN_TIMEOUT", "180"))


class Control:
    """A slider or dropdown of the panel, read and moved with the keyboard like a student."""

    def __init__(self, nb: LabNotebook, locator):
        self.nb = nb
        self.loc = locator
        self.select = locator.locator("select")

    def is_dropdown(self) -> bool:
        return self.select.count() > 0

    def shown(self) -> str:
        if self.is_dropdown():
            return self.select.evaluate("s => s.options[s.selectedIndex]?.textContent || ''")
        return self.loc.locator(".widget-readout").first.inner_text().strip()

    def number(self) -> int:
        match = re.search(r"\d+", self.shown())
        return int(match.group()) if match else 0

    def options(self) -> list[str]:
        return self.select.evaluate("s => [...s.options].map(o => o.textContent)")

    def press(self, key: str) -> bool:
        """Press ArrowRight, ArrowLeft or Home; True if the value shown changed."""
        before = self.shown()
        if self.is_dropdown():
            i = self.options().index(before) if before in self.options() else 0
            j = {"ArrowRight": i + 1, "ArrowLeft": i - 1, "Home": 0}[key]
            if not 0 <= j < len(self.options()):
                return False
            self.select.select_option(index=j)
        else:
            self.loc.locator(".noUi-handle").first.press(key)
        self.nb.wait_idle()  # the kernel may answer (update memory, snap the value, ...)
        return self.shown() != before

    def go_to(self, value: str, key: str) -> None:
        """Return to a value shown earlier, pressing `key` (a slider) as often as needed."""
        if self.is_dropdown():
            if value in self.options() and self.shown() != value:
                self.select.select_option(label=value)
                self.nb.wait_idle()
            return
        for _ in range(40):
            if self.shown() == value or not self.press(key):
                return


_OTHER = {"ArrowRight": "ArrowLeft", "ArrowLeft": "ArrowRight"}


def _check_offered_divisors(where: str, win: Control, sub: Control) -> list[str]:
    """A sub_seq_len dropdown must offer only divisors of the current win_sz."""
    if not sub.is_dropdown():
        return []
    w = win.number()
    bad = [o for o in sub.options() if not o.strip().isdigit() or w % int(o)]
    return [f"{where}: sub_seq_len offers {bad}, not divisors of win_sz={w}"] if bad else []


def _wait_for(page, test, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not test():
        if time.monotonic() > deadline:
            return False
        page.wait_for_timeout(250)
    return True


def drive_lab_panel(nb: LabNotebook, shot: str) -> list[str]:
    """Move the sliders, try an invalid pair, press Train; return the problems seen.

    Run All must have happened.  Saves a screenshot of the panel as `shot`.png.
    """
    page = nb.page
    panel = page.locator(".tbptt-lab-panel").first
    if not _wait_for(page, lambda: panel.count() > 0, 15):
        return ["no element with class tbptt-lab-panel (see PANEL_HOOKS in tests/e2e/lab_panel.py)"]
    missing = [h for h in PANEL_HOOKS if panel.locator(f".{h}").count() == 0]
    missing = [h for h in missing if h != "tbptt-lab-panel"]
    if missing:
        return [f"the lab panel has no element with class {', '.join(missing)}"]
    index = panel.evaluate(
        "el => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].findIndex(c => c.contains(el))"
    )
    where = nb.label(index)
    win = Control(nb, panel.locator(".tbptt-win-sz").first)
    sub = Control(nb, panel.locator(".tbptt-sub-seq-len").first)
    memory = panel.locator(".tbptt-predicted-memory").first
    message = panel.locator(".tbptt-message").first
    plot = panel.locator(".tbptt-loss-plot").first
    results = panel.locator(".tbptt-results").first
    found: list[str] = []
    panel.scroll_into_view_if_needed()

    with nb.interacting(index):
        # 1. win_sz changes the predicted memory; then back to the notebook's value.
        win_at, sub_at = win.shown(), sub.shown()
        before = memory.inner_text()
        key = "ArrowRight" if win.press("ArrowRight") else "ArrowLeft"
        if key == "ArrowLeft" and not win.press(key):
            return [f"{where}: the win_sz slider does not move with the arrow keys"]
        if not _wait_for(page, lambda: memory.inner_text() != before, 5):
            found.append(f"{where}: predicted memory did not change with win_sz ({before!r})")
        found += _check_offered_divisors(where, win, sub)
        win.go_to(win_at, _OTHER[key])
        sub.go_to(sub_at, "ArrowLeft")
        found += _check_offered_divisors(where, win, sub)

        # 2. sub_seq_len changes the predicted memory.  A slider may reach a value that
        #    does not divide win_sz: the message must say why.  Then back again.
        before = memory.inner_text()
        key = "ArrowRight" if sub.press("ArrowRight") else "ArrowLeft"
        if key == "ArrowLeft" and not sub.press(key):
            found.append(f"{where}: the sub_seq_len control does not move")
        elif not _wait_for(page, lambda: memory.inner_text() != before, 5):
            found.append(f"{where}: predicted memory did not change with sub_seq_len")
        for _ in range(16 if not sub.is_dropdown() else 0):
            w, s = win.number(), sub.number()
            if s and w % s:
                if not _wait_for(page, lambda: message.inner_text().strip(), 5):
                    found.append(f"{where}: no message for sub_seq_len={s}, win_sz={w}")
                else:
                    text = message.inner_text().strip()
                    if "divi" not in text.lower() and not (str(s) in text and str(w) in text):
                        found.append(f"{where}: message {text!r} does not explain {s} ∤ {w}")
                break
            if not sub.press(key):
                break
        sub.go_to(sub_at, _OTHER[key])
        w, s = win.number(), sub.number()
        if s and w % s:
            return found + [f"{where}: could not get back to win_sz={win_at}, sub_seq_len={sub_at}"]

        # 3. Train (at the notebook's own settings): the loss plot shows an image and
        #    the results table gains a row.
        rows = results.locator("tr").count()
        plot_before = plot.inner_html()
        button = panel.locator(".tbptt-train").first
        if button.evaluate("el => el.tagName") != "BUTTON":
            button = button.locator("button").first
        if button.is_disabled():
            return found + [f"{where}: Train is disabled for win_sz={w}, sub_seq_len={s}"]
        button.click()
        drawn = _wait_for(
            page,
            lambda: (
                plot.locator("img, canvas, svg").count() > 0 and plot.inner_html() != plot_before
            ),
            TRAIN_TIMEOUT_S,
        )
        if not drawn:
            found.append(f"{where}: no loss plot image within {TRAIN_TIMEOUT_S:.0f} s of Train")
        if not _wait_for(page, lambda: results.locator("tr").count() > rows, TRAIN_TIMEOUT_S):
            found.append(f"{where}: the results table gained no row after Train")
        nb.wait_idle(TRAIN_TIMEOUT_S)

    panel.scroll_into_view_if_needed()
    nb.screenshot(shot, panel)
    return found
