"""The Results header's scroll area: as tall as the header's wrapped text where the page has room, shorter (and then
scrolling) where it has not, and in both cases showing whole lines only.

A rich-text ``QLabel`` has no API for its lines, so ``text_lines`` lays out a copy of its text the way the label
does (its font, its contents width, ``QTextDocument``'s margin) and returns each line's top and bottom on the label.
Where the area is given less height than the text needs, its viewport ends at the bottom of the last line that fits
(a strip of background below it, never half a line cut by the edge: audit W), and a scroll moves by whole lines: it
lands on a line's top, and the last scroll position shows the last line whole.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel, QScrollArea

from widgets.common.qt_override import qt_override

HEADER_LEAST = 48  # px: the header's least height (about two lines); it scrolls when given less than its text needs


def text_lines(label: QLabel) -> list[tuple[int, int]]:
    """(top, bottom) of each line of ``label``'s rich text as it is drawn, in the label's coordinates."""
    rect = label.contentsRect()
    doc = QTextDocument()
    doc.setDefaultFont(label.font())
    doc.setHtml(label.text())
    doc.setTextWidth(rect.width())
    layout = doc.documentLayout()
    out = []
    block = doc.begin()
    while block.isValid():
        y = rect.top() + layout.blockBoundingRect(block).y()
        lines = block.layout()
        for i in range(lines.lineCount()):
            line = lines.lineAt(i)
            out.append((round(y + line.y()), round(y + line.y() + line.height())))
        block = block.next()
    return out


class HeaderScroll(QScrollArea):
    """It asks for its text's whole wrapped height (``want``, set by ``ResultsView._fit_header``) and takes no more;
    its least is small, so a short window shrinks it (and it scrolls) rather than making the workspace taller than
    the window. Given less than ``want``, it shows whole lines (``snap``)."""

    want = HEADER_LEAST

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self._lines: tuple = ((), [])  # (the text and width they were laid out for, their (top, bottom))
        self._snapping = False
        self._last = 0  # the scroll position before the last move (its direction: which line top it lands on)
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scroll)
        bar.rangeChanged.connect(lambda *_: self.snap())

    @qt_override
    def sizeHint(self):  # noqa: N802 (Qt's name)
        size = super().sizeHint()
        size.setHeight(self.want)
        return size

    @qt_override
    def minimumSizeHint(self):  # noqa: N802
        size = super().minimumSizeHint()
        size.setHeight(min(self.want, HEADER_LEAST))
        return size

    @qt_override
    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self.snap()

    def lines(self) -> list[tuple[int, int]]:
        """(top, bottom) of the header's lines at its present width (laid out again only when it changed)."""
        label = self.widget()
        if label is None:
            return []
        key = (label.text(), label.contentsRect().width(), label.font().key())
        if self._lines[0] != key:
            self._lines = (key, text_lines(label))
        return self._lines[1]

    def text_height(self) -> int:
        label = self.widget()
        return label.heightForWidth(self.viewport().width()) if label is not None else 0

    def _tops(self) -> list[int]:
        """The scroll positions that put a line's top at the top edge (0 for the first: the label's padding)."""
        lines = self.lines()
        return [0] + [top for top, _ in lines[1:]]

    def _room(self) -> int:
        return self.height() - 2 * self.frameWidth()

    def _margin_for(self, top: int) -> int:
        """The blank strip under the viewport that makes it end on a line's bottom when scrolled to ``top`` (none
        where the text fits without a scroll bar: a strip would keep the bar, which narrows the text, which then
        needs more lines than fit)."""
        room, total = self._room(), self.text_height()
        label = self.widget()
        if label is None or total <= room or label.heightForWidth(self.width() - 2 * self.frameWidth()) <= room:
            return 0
        ends = [bottom for _, bottom in self.lines() if bottom <= top + room]
        ends += [total] if total <= top + room else []  # the label's padding under its last line
        return top + room - max(ends) if ends and max(ends) > top else 0

    def _set_margin(self, margin: int) -> None:
        if self.viewportMargins().bottom() != margin:
            self._snapping = True  # (the scroll range changes with it: no snap from there)
            try:
                self.setViewportMargins(0, 0, 0, margin)
            finally:
                self._snapping = False

    def snap(self) -> None:
        """The viewport ends at the bottom of the last whole line in view: the rest of the height is left blank. A
        text that fits the whole width has no scroll bar (Qt keeps one that a shorter height needed: it narrows the
        text into more lines, which then need it)."""
        if self._snapping:
            return
        label = self.widget()
        fits = label is None or label.heightForWidth(self.width() - 2 * self.frameWidth()) <= self._room()
        policy = Qt.ScrollBarPolicy.ScrollBarAlwaysOff if fits else Qt.ScrollBarPolicy.ScrollBarAsNeeded
        if self.verticalScrollBarPolicy() != policy:
            self._snapping = True
            try:
                self.setVerticalScrollBarPolicy(policy)
            finally:
                self._snapping = False
        self._set_margin(self._margin_for(self.verticalScrollBar().value()))

    def _on_scroll(self, value: int) -> None:
        """A scroll lands on a line's top, in the direction it moved; the last position shows the last line."""
        if self._snapping:
            return
        room, total = self._room(), self.text_height()
        tops = self._tops()
        end = min((t for t in tops if total - t <= room), default=tops[-1])  # from there the last lines are in view
        tops = [t for t in tops if t <= end]
        if value in tops:
            target = value
        elif value > self._last:
            target = min((t for t in tops if t >= value), default=end)
        else:
            target = max((t for t in tops if t <= value), default=0)
        self._last = target
        self._set_margin(self._margin_for(target))  # first: the range then reaches ``target``
        if self.verticalScrollBar().value() != target:
            self._snapping = True
            try:
                self.verticalScrollBar().setValue(target)
            finally:
                self._snapping = False
