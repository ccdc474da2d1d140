"""A pane's live predictions: for each classifier (the model's own, a probe head) its title and top-5 classes as
small horizontal bars, drawn from the frozen ``app.live.config.Prediction`` of the last frame: probabilities (the
model's own classifier, a logistic head: "97%"), or a ridge or SVM head's raw scores ("score 0.84", the bars
spanning the frame's lowest to highest class score; the tooltip says they are no probabilities)."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.live.config import Prediction
from widgets.common.qt_override import qt_override

ROW = 15
COLOURS = {"model": QColor("#3b6fb6"), "head": QColor("#c0591a")}


def value_width(p: Prediction, fm: QFontMetrics) -> int:
    """The value column's width in px: its widest text shown ("score -0.946", "97%"), and at least that of a
    typical one (the bars do not jump from frame to frame), in the font it is drawn in."""
    typical = p.value_text(-0.888) if p.scores else "100%"
    return max(fm.horizontalAdvance(t) for t in (typical, *(p.value_text(v) for _, v in p.top))) + 2


class PredictionView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.predictions: tuple[Prediction, ...] = ()
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setVisible(False)

    def set_predictions(self, preds: tuple[Prediction, ...]) -> None:
        changed = len(preds) != len(self.predictions) or any(
            (a.error is None) != (b.error is None) or len(a.top) != len(b.top) for a, b in zip(preds, self.predictions))
        self.predictions = tuple(preds)
        self.setVisible(bool(preds))
        self.setToolTip("\n\n".join("\n".join(t for t in (p.title, p.note, "" if p.error else p.meaning()) if t)
                                    for p in preds))
        if changed:
            self.setFixedHeight(self._height())
            self.updateGeometry()
        self.update()

    def top_names(self) -> list[list[str]]:
        """The class names shown, per classifier (tests)."""
        return [[n for n, _ in p.top] for p in self.predictions]

    def rows(self) -> list[list[tuple[str, float, str]]]:
        """What each row shows, per classifier: (class name, filled fraction of its bar, value text)."""
        return [[(n, p.bar(v), p.value_text(v)) for n, v in p.top] for p in self.predictions]

    def _height(self) -> int:
        return sum(ROW * (1 + (len(p.top) if not p.error else 1)) + 4 for p in self.predictions)

    @qt_override
    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(200, self._height())

    @qt_override
    def paintEvent(self, _ev) -> None:  # noqa: N802
        qp = QPainter(self)
        qp.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        w = self.width()
        y = 0
        name_w = min(120, max(60, w // 3))
        for p in self.predictions:
            f = qp.font()
            f.setBold(True)
            qp.setFont(f)
            qp.setPen(QColor("#222"))
            title = qp.fontMetrics().elidedText(p.title, Qt.TextElideMode.ElideRight, w - 4)
            qp.drawText(QRectF(2, y, w - 4, ROW), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)
            f.setBold(False)
            qp.setFont(f)
            y += ROW
            if p.error:
                qp.setPen(QColor("#a15c00"))
                text = qp.fontMetrics().elidedText(p.error, Qt.TextElideMode.ElideRight, w - 8)
                qp.drawText(QRectF(6, y, w - 8, ROW), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
                y += ROW + 4
                continue
            colour = COLOURS.get(p.kind, COLOURS["model"])
            value_w = value_width(p, qp.fontMetrics())
            bar_w = max(10, w - name_w - value_w - 6)
            for name, value in p.top:
                qp.setPen(QColor("#222"))
                label = qp.fontMetrics().elidedText(name, Qt.TextElideMode.ElideRight, name_w - 8)
                qp.drawText(QRectF(6, y, name_w - 8, ROW), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                            label)
                qp.fillRect(QRectF(name_w, y + 3, bar_w, ROW - 6), QColor("#e8e8e8"))
                qp.fillRect(QRectF(name_w, y + 3, bar_w * p.bar(value), ROW - 6), colour)
                qp.drawText(QRectF(name_w + bar_w + 4, y, value_w, ROW),
                            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, p.value_text(value))
                y += ROW
            y += 4
        qp.end()
