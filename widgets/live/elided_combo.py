"""A combo box that elides its current text ("…") where it is narrower than the text, instead of cutting it off
mid-letter: a Live pane squeezed by a narrow window (four panes) still reads "resnet20 (trained, CIF…" and says it
is cut; the whole name is in the list and the tooltip. Painting only."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QStyle, QStyleOptionComboBox, QStylePainter

from widgets.common.qt_override import qt_override


class ElidedCombo(QComboBox):
    def text_room(self) -> int:
        """The width the current text is drawn in (the edit field: the box less its frame and arrow)."""
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        rect = self.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, opt,
                                           QStyle.SubControl.SC_ComboBoxEditField, self)
        return rect.width() - 2  # the label's own 1 px either side (QCommonStyle's CE_ComboBoxLabel)

    def shown_text(self) -> str:
        """The current text as it is drawn: whole where it fits, else elided."""
        return self.fontMetrics().elidedText(self.currentText(), Qt.TextElideMode.ElideRight, max(0, self.text_room()))

    def text_fits(self) -> bool:
        return self.fontMetrics().horizontalAdvance(self.currentText()) <= self.text_room()

    @qt_override
    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QStylePainter(self)
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, opt)
        opt.currentText = self.shown_text()
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, opt)
