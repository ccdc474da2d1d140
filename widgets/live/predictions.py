"""A pane's live predictions: for each classifier (the model's own, a probe head) its title and top-5 classes as
small horizontal bars (probability), drawn from the frozen ``app.live.config.Prediction`` of the last frame."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.live.config import Prediction
from app.metrics import percent
from widgets.common.qt_override import qt_override

ROW = 15
COLOURS = {"model": QColor("#3b6fb6"), "head": QColor("#c0591a")}


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
        self.setToolTip("\n\n".join(f"{p.title}\n{p.note}" if p.note else p.title for p in preds))
        if changed:
            self.setFixedHeight(self._height())
            self.updateGeometry()
        self.update()

    def top_names(self) -> list[list[str]]:
        """The class names shown, per classifier (tests)."""
        return [[n for n, _ in p.top] for p in self.predictions]

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
            bar_w = max(10, w - name_w - 52)
            for name, prob in p.top:
                qp.setPen(QColor("#222"))
                label = qp.fontMetrics().elidedText(name, Qt.TextElideMode.ElideRight, name_w - 8)
                qp.drawText(QRectF(6, y, name_w - 8, ROW), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                            label)
                qp.fillRect(QRectF(name_w, y + 3, bar_w, ROW - 6), QColor("#e8e8e8"))
                qp.fillRect(QRectF(name_w, y + 3, bar_w * max(0.0, min(1.0, prob)), ROW - 6), colour)
                qp.drawText(QRectF(name_w + bar_w + 4, y, 46, ROW),
                            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, percent(prob, 0))
                y += ROW
            y += 4
        qp.end()
