"""A word-wrapped note of a bounded number of lines: a text that needs more is drawn on those lines, its last one ending
in "…" (the whole text is its tooltip: set by its user, or, with ``tip=True``, by the note itself as the mouse rests
on it).

The note under the Probe's training curves keeps its lines from the start (``widgets.common.steady.reserve_lines``:
a note at a run's end moves neither plot); a longer note (a narrow column, a batch of several runs) had a third line
cut in half by the label's edge (audit W). ``ElidedNote`` keeps ``text()`` the whole text and draws what fits:
``shown_text()`` is what it draws, one line per line. Its lines break between words, and inside a word longer than
the note is wide (a path or an address in an error message): such a word never widens the note's column, nor is it
cut at the label's edge.

``ElidedNote(lines)`` is ``lines`` lines high, whatever its text. ``ElidedNote(lines, least=n)`` reserves ``n`` lines
and grows with its text up to ``lines`` (the Probe's stage line under Train: a failed download's long message took
as many lines as it had and pushed the run box up over the settings).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QPainter, QTextLayout, QTextOption
from PySide6.QtWidgets import QLabel, QWidget

from widgets.common.qt_override import qt_override
from widgets.common.steady import reserve_lines


class ElidedNote(QLabel):
    def __init__(self, lines: int, parent: QWidget | None = None, *, least: int | None = None,
                 tip: bool = False) -> None:
        super().__init__(" ", parent)
        self.max_lines = lines
        self.least = min(lines, least or lines)
        self._tip = tip
        reserve_lines(self, self.least)
        # never more: the whole text is its tooltip
        self.setMaximumHeight(self.minimumHeight() + (lines - self.least) * self.fontMetrics().lineSpacing())

    def _wrapped(self, width: int) -> list[str]:
        """The text's lines at ``width`` pixels: each of its own lines wrapped between words where it can be, else
        anywhere."""
        out: list[str] = []
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        for para in self.text().split("\n"):
            layout = QTextLayout(para, self.font())
            layout.setTextOption(option)
            layout.beginLayout()
            spans = []
            while True:
                line = layout.createLine()
                if not line.isValid():
                    break
                line.setLineWidth(width)
                spans.append((line.textStart(), line.textLength()))
            layout.endLayout()
            out += [para[a:a + n].rstrip() for a, n in spans] or [""]
        return out

    def _lines(self) -> list[str]:
        """The text's lines as they are drawn: wrapped at the label's width, at most as many as fit in its height,
        the last ending in "…" when the text goes on."""
        rect = self.contentsRect()
        text, fm = self.text(), self.fontMetrics()
        if not text.strip() or rect.width() <= 0:
            return [text]
        room = self._room()
        lines = self._wrapped(rect.width())
        if len(lines) <= room:
            return lines
        rest = " ".join(line for line in lines[room - 1:] if line)
        return lines[:room - 1] + [fm.elidedText(rest, Qt.TextElideMode.ElideRight, rect.width())]

    def _room(self) -> int:
        """How many lines it draws at its height."""
        return max(1, min(self.max_lines, self.contentsRect().height() // max(1, self.fontMetrics().lineSpacing())))

    def shown_text(self) -> str:
        """What the note draws, its lines joined by newlines (the whole text when it fits)."""
        return "\n".join(self._lines())

    def elided(self) -> bool:
        """Whether part of the text is left out (it ends in "…"; the tooltip has it whole)."""
        width = self.contentsRect().width()
        return bool(self.text().strip()) and width > 0 and len(self._wrapped(width)) > self._room()

    @qt_override
    def event(self, event: QEvent) -> bool:
        if self._tip and event.type() == QEvent.Type.ToolTip:  # the whole text, whatever it is now
            tip = self.text().strip()
            if tip != self.toolTip():
                self.setToolTip(tip)
        return super().event(event)

    @qt_override
    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt's name)
        """Between ``least`` and ``lines`` lines: as many as the text needs at ``width``."""
        if self.least == self.max_lines:
            return self.minimumHeight()
        m = self.contentsMargins()
        inner = width - m.left() - m.right() - 2 * self.margin()
        need = len(self._wrapped(inner)) if inner > 0 and self.text().strip() else self.least
        n = max(self.least, min(self.max_lines, need))
        return self.minimumHeight() + (n - self.least) * self.fontMetrics().lineSpacing()

    @qt_override
    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.setFont(self.font())
        painter.setPen(self.palette().color(self.foregroundRole()))
        rect, fm = self.contentsRect(), self.fontMetrics()
        for i, line in enumerate(self._lines()):
            painter.drawText(QPointF(rect.left(), rect.top() + i * fm.lineSpacing() + fm.ascent()), line)
        painter.end()
