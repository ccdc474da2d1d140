"""The layer table's column widths. Sized to their contents with the Layer column stretched into what was left, the
Layer column got nothing at 1024 px (the other columns took 561 of 581 px): 26 px, names read "c…" / "l…" and its
header ".aye". Here the Layer column is at least as wide as its longest name (up to ``NAME_CAP`` characters; a
longer one elides, its tooltip has the path), and it takes whatever room is left over. Short of room, the other
columns give way first, each in proportion to what it can spare: the Initialisation column down to a combo that shows
"(model init)" whole, those wider than their cells for their header's sake ("Trainable" over "2304") towards their
cells (the header elides, "Trai…"; its tooltip names it whole); only then does the table scroll sideways.

``LayerGrid`` is the table: it measures its columns once per fill (``measure``) and spreads them again at each
resize (``fit``); ``spread`` is the arithmetic (no Qt)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTableWidget

from widgets.common.qt_override import qt_override

NAME_CAP = 26  # characters: the Layer column never needs more than this many to be readable
HEADER_LEAST = 3  # characters of a header kept (then "…") when its column gives way


def spread(room: int, name: tuple[int, int], others: list[tuple[int, int]]) -> list[int]:
    """Column widths: the Layer column's (``name``: (what its longest name needs, the cap)) then the others'
    (``others``: (their contents with the header, the least they may give way to)), for ``room`` pixels."""
    name_least = min(name)
    wants = [want for want, _least in others]
    short = name_least + sum(wants) - room
    if short <= 0:  # everything fits: the Layer column takes the rest
        return [room - sum(wants), *wants]
    slack = [max(0, want - least) for want, least in others]
    give = min(short, sum(slack))
    widths = list(wants)
    if give:
        taken = 0
        for i, s in enumerate(slack):  # each in proportion to what it can give
            part = s * give // sum(slack)
            widths[i] -= part
            taken += part
        for i, s in enumerate(slack):  # the rounding's last pixels
            if taken >= give:
                break
            if widths[i] > others[i][1]:
                widths[i] -= 1
                taken += 1
    return [name_least, *widths]


class LayerGrid(QTableWidget):
    """A QTableWidget whose columns are spread by ``spread`` (column 0: the names). ``given``: column -> (width, the
    least it may give way to) for the columns not measured from their cells (the Initialisation combos')."""

    def __init__(self, rows: int, columns: int, given: dict[int, tuple[int, int]] | None = None) -> None:
        super().__init__(rows, columns)
        self.given = dict(given or {})
        self._needs: tuple[tuple[int, int], list[tuple[int, int]]] | None = None
        hh = self.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setTextElideMode(Qt.TextElideMode.ElideRight)  # a header that gives way reads "Trai…", not "rainabl"
        for c, (width, _least) in self.given.items():
            self.setColumnWidth(c, width)

    def measure(self) -> None:
        """Measure the columns' contents (once per fill: ``sizeHintForColumn`` reads every row) and spread them."""
        hh = self.horizontalHeader()
        fm = hh.fontMetrics()
        name = (max(hh.sectionSizeHint(0), self.sizeHintForColumn(0) if self.rowCount() else 0),
                max(hh.sectionSizeHint(0), fm.averageCharWidth() * NAME_CAP))
        others = []
        for c in range(1, self.columnCount()):
            if c in self.given:
                others.append(self.given[c])
                continue
            cells = self.sizeHintForColumn(c) if self.rowCount() else 0
            header = hh.sectionSizeHint(c)
            title = self.horizontalHeaderItem(c).text() if self.horizontalHeaderItem(c) else ""
            # the header's own hint less the words it drops ("Trai…" for "Trainable")
            least = header - fm.horizontalAdvance(title) + fm.horizontalAdvance(title[:HEADER_LEAST] + "…")
            others.append((max(header, cells), max(cells, min(header, least))))
        self._needs = (name, others)
        self.fit()

    def fit(self) -> None:
        if self._needs is None:
            return
        name, others = self._needs
        for c, w in enumerate(spread(self.viewport().width(), name, others)):
            if self.columnWidth(c) != w:
                self.setColumnWidth(c, w)

    @qt_override
    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name; the viewport's new size)
        super().resizeEvent(event)
        self.fit()
