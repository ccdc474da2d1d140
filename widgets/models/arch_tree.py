"""A compact, read-only architecture tree of an opened model (module, type, output shape, parameters), built from
``ExternalBackbone.architecture()`` rows; the tapped layer is highlighted and clicking a tapped module asks for it
(``tapRequested(feature_info index)``)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from app.models.viz import fmt_count

TAP_ROLE = Qt.ItemDataRole.UserRole
HIGHLIGHT = QColor(255, 236, 179)


class ArchTree(QTreeWidget):
    tapRequested = Signal(int)  # feature_info index of the clicked module

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(4)
        self.setHeaderLabels(["Module", "Type", "Output (C×H×W)", "Parameters"])
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setIndentation(12)
        h = self.header()
        h.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in (1, 2, 3):
            h.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        h.setStretchLastSection(False)
        self.setToolTip("The model's modules with their output shape on its input size and their parameter "
                        "counts.\nClick a module with an output shape to show its feature maps in Live.")
        self.items: dict[int, QTreeWidgetItem] = {}  # feature_info index -> item
        self.tapped: int | None = None
        self.itemClicked.connect(self._on_click)

    def fill(self, rows, tapped: int | None = None) -> None:
        """``rows``: ``ArchRow``s in definition order (depth-first; depth 0 is the whole model)."""
        self.clear()
        self.items = {}
        stack: list[QTreeWidgetItem] = []
        for r in rows:
            shape = "×".join(str(v) for v in r.shape) if r.shape else ""
            name = r.path.rsplit(".", 1)[-1] if r.path else "(model)"
            item = QTreeWidgetItem([name, r.type, shape, fmt_count(r.params) if r.params else ""])
            item.setToolTip(0, r.path or "the whole model")
            for c in (2, 3):
                item.setTextAlignment(c, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if r.tap is not None:
                item.setData(0, TAP_ROLE, int(r.tap))
                self.items[int(r.tap)] = item
            else:
                item.setForeground(2, QBrush(QColor(130, 130, 130)))
            del stack[r.depth:]
            (stack[-1].addChild(item) if stack else self.addTopLevelItem(item))
            stack.append(item)
        self.expandToDepth(1)
        self.set_tapped(tapped)

    def set_tapped(self, index: int | None) -> None:
        """Highlight the module whose maps Live shows (its first call)."""
        old = self.items.get(self.tapped) if self.tapped is not None else None
        if old is not None:
            for c in range(4):
                old.setBackground(c, QBrush())
            font = old.font(0)
            font.setBold(False)
            old.setFont(0, font)
        self.tapped = index
        item = self.items.get(index) if index is not None else None
        if item is not None:
            for c in range(4):
                item.setBackground(c, QBrush(HIGHLIGHT))
            font = QFont(item.font(0))
            font.setBold(True)
            item.setFont(0, font)
            self.scrollToItem(item)

    def tapped_name(self) -> str:
        item = self.items.get(self.tapped) if self.tapped is not None else None
        return item.toolTip(0) if item is not None else ""

    @Slot(QTreeWidgetItem, int)
    def _on_click(self, item: QTreeWidgetItem, _col: int) -> None:
        tap = item.data(0, TAP_ROLE)
        if tap is not None:
            self.tapRequested.emit(int(tap))
