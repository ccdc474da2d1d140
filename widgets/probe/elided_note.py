"""A word-wrapped note of a fixed number of lines: a text that needs more is drawn on those lines, its last one ending
in "…" (its user sets the whole text as its tooltip).

The note under the Probe's training curves keeps its lines from the start (``widgets.common.steady.reserve_lines``:
a note at a run's end moves neither plot); a longer note (a narrow column, a batch of several runs) had a third line
cut in half by the label's edge (audit W). ``ElidedNote`` keeps ``text()`` the whole text and draws what fits:
``shown_text()`` is what it draws, one line per line.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPainter, QTextLayout, QTextOption
from PySide6.QtWidgets import QLabel, QWidget

from widgets.common.qt_override import qt_override
from widgets.common.steady import reserve_lines


class ElidedNote(QLabel):
    def __init__(self, lines: int, parent: QWidget | None = None) -> None:
        super().__init__(" ", parent)
        self.max_lines = lines
        reserve_lines(self, lines)
        self.setMaximumHeight(self.minimumHeight())  # never more: the whole text is its tooltip

    def _lines(self) -> list[str]:
        """The text's lines as they are drawn: wrapped at the label's width, at most as many as fit in its height,
        the last ending in "…" when the text goes on."""
        rect = self.contentsRect()
        text, fm = self.text(), self.fontMetrics()
        if not text.strip() or rect.width() <= 0:
            return [text]
        room = max(1, min(self.max_lines, rect.height() // max(1, fm.lineSpacing())))
        layout = QTextLayout(text, self.font())
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WordWrap)
        layout.setTextOption(option)
        spans = []
        layout.beginLayout()
        while True:
            line = layout.createLine()
            if not line.isValid():
                break
            line.setLineWidth(rect.width())
            spans.append((line.textStart(), line.textLength()))
        layout.endLayout()
        if len(spans) <= room:
            return [text[a:a + n].rstrip() for a, n in spans]
        out = [text[a:a + n].rstrip() for a, n in spans[:room - 1]]
        rest = text[spans[room - 1][0]:]
        out.append(fm.elidedText(rest, Qt.TextElideMode.ElideRight, rect.width()))
        return out

    def shown_text(self) -> str:
        """What the note draws, its lines joined by newlines (the whole text when it fits)."""
        return "\n".join(self._lines())

    @qt_override
    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.setFont(self.font())
        painter.setPen(self.palette().color(self.foregroundRole()))
        rect, fm = self.contentsRect(), self.fontMetrics()
        for i, line in enumerate(self._lines()):
            painter.drawText(QPointF(rect.left(), rect.top() + i * fm.lineSpacing() + fm.ascent()), line)
        painter.end()
