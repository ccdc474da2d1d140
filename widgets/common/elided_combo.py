"""A combo box that elides its current text ("…") where it is narrower than the text, instead of cutting it off
mid-letter: a Live pane squeezed by a narrow window (four panes) still reads "resnet20 (trained, CIF…" and says it
is cut; the Models workspace's kernel panels read "Builder: current m…" (not "Builder: current mo"). The whole name
is in the list. Painting only, and the tooltip:

``set_about(text)`` makes the tooltip the current text whole, then ``text`` (what the box is for), kept so whatever
changes the current item: a user's choice, a refill with the box's signals blocked (``refresh_tip()`` says it at
once; otherwise it follows the next paint, which precedes any hover). Without it the tooltip is the caller's (the
Live pane writes its own)."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QComboBox, QStyle, QStyleOptionComboBox, QStylePainter

from widgets.common.qt_override import qt_override


class ElidedCombo(QComboBox):
    _about: str | None = None

    def set_about(self, about: str) -> None:
        """The tooltip: the current text whole, a blank line, then ``about`` (just ``about`` while it is empty)."""
        if self._about is None:
            self.currentTextChanged.connect(self._text_changed)
        self._about = about
        self.refresh_tip()

    def _text_changed(self, _text: str) -> None:
        self.refresh_tip()

    def refresh_tip(self) -> None:
        if self._about is None:
            return
        text = self.currentText()
        tip = f"{text}\n\n{self._about}" if text else self._about
        if tip != self.toolTip():
            self.setToolTip(tip)

    def text_room(self, width: int | None = None) -> int:
        """The width the current text is drawn in (the edit field: the box less its frame and arrow), in the box as
        it is or ``width`` pixels wide."""
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        if width is not None:
            opt.rect = QRect(0, 0, width, self.height())
        rect = self.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, opt,
                                           QStyle.SubControl.SC_ComboBoxEditField, self)
        return rect.width() - 2  # the label's own 1 px either side (QCommonStyle's CE_ComboBoxLabel)

    def width_for(self, text: str) -> int:
        """The least width of the box that shows ``text`` whole (not elided)."""
        fm = self.fontMetrics()
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        width = self.style().sizeFromContents(QStyle.ContentsType.CT_ComboBox, opt,
                                              QSize(fm.horizontalAdvance(text), fm.height()), self).width()

        def whole(w: int) -> bool:  # the style's frame and arrow, as it lays them out
            return fm.elidedText(text, Qt.TextElideMode.ElideRight, max(0, self.text_room(w))) == text

        while not whole(width):
            width += 1
        while width > 1 and whole(width - 1):
            width -= 1
        return width

    def _text(self) -> str:
        """What the box shows: its current text, or its placeholder while nothing is chosen (as QComboBox paints)."""
        if self.currentIndex() < 0 and self.placeholderText():
            return self.placeholderText()
        return self.currentText()

    def shown_text(self) -> str:
        """The current text as it is drawn: whole where it fits, else elided."""
        return self.fontMetrics().elidedText(self._text(), Qt.TextElideMode.ElideRight, max(0, self.text_room()))

    def text_fits(self) -> bool:
        return self.shown_text() == self._text()

    @qt_override
    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.refresh_tip()  # a refill with the signals blocked changed the current text without a word
        painter = QStylePainter(self)
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, opt)
        if self.currentIndex() < 0 and self.placeholderText():
            opt.palette.setBrush(QPalette.ColorRole.ButtonText, opt.palette.placeholderText())
        opt.currentText = self.shown_text()
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, opt)
