"""The kernel editor grid: one channel of one kernel, painted cell by cell.

It only renders what it is given (values, colours computed in ``app.kernels.ops``) and forwards intent:
``paintRequested(cells, value, stroke)`` for brush strokes, ``valueEntered(row, col, value)`` for typed values,
``pickRequested(value)`` when the user picks a cell's value as the brush.

Mouse: left drag paints the brush value, right drag paints minus the brush value, Shift+click picks a value.
Keyboard: arrows move the cursor, Space paints the brush, Delete sets 0, Enter/F2 or typing a number edits the cell
(Enter/F2 pre-fill its exact float32 value; committed unchanged, it is no edit). A typed value goes into its cell on
Enter, Up/Down, a click elsewhere or any workbench action (Save, Undo ...); Escape drops it.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont, QFontMetrics, QKeyEvent, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QLineEdit, QSizePolicy, QWidget

from widgets.common.qt_override import qt_override


# what the dotted square drawn on the centre cell is (the grid's tooltip says it)
CENTRE_NOTE = ("Dotted square: the kernel's centre (its anchor): the cell that lies over the pixel each response "
               "value is computed at")


class KernelGrid(QWidget):
    paintRequested = Signal(object, float, int)  # list[(row, col)], value, stroke id
    valueEntered = Signal(int, int, float)
    invalidValue = Signal(str)
    pickRequested = Signal(float)
    cursorMoved = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(220, 220)
        self._values = np.zeros((1, 1), dtype=np.float32)
        self._colors = np.full((1, 1, 3), 247, dtype=np.uint8)
        self._dark = np.ones((1, 1), dtype=bool)
        self.cursor_rc = (0, 0)
        self.brush = 1.0
        self._stroke = 0
        self._stroke_sign = 0.0
        self._last_cell: tuple[int, int] | None = None
        self._prefilled: str | None = None  # the text start_edit put into the editor (None: the user typed it)
        self._editing: tuple[int, int] | None = None  # the cell the editor was opened on
        self._editor = QLineEdit(self)
        self._editor.hide()
        self._editor.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._editor.returnPressed.connect(self._commit_editor)
        self._editor.editingFinished.connect(self._on_editing_finished)
        self.setToolTip("Left drag: paint the brush value · right drag: paint minus the brush · Shift+click: pick "
                        "a value as the brush\nArrows: move · Space: paint · Delete: set 0 · Enter or type a "
                        "number: exact value (Escape: drop it)\n" + CENTRE_NOTE)

    # --- state ------------------------------------------------------------------------------------------
    @property
    def size_k(self) -> int:
        return int(self._values.shape[0])

    def set_kernel(self, values: np.ndarray, colors: np.ndarray, dark_text: np.ndarray) -> None:
        self._values = np.asarray(values)
        self._colors = np.asarray(colors)
        self._dark = np.asarray(dark_text)
        k = self.size_k
        r, c = self.cursor_rc
        self.cursor_rc = (min(r, k - 1), min(c, k - 1))
        self.update()

    def values(self) -> np.ndarray:
        """The values shown (k, k)."""
        return self._values

    def value_at(self, r: int, c: int) -> float:
        return float(self._values[r, c])

    @qt_override
    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(440, 440)

    # --- geometry ---------------------------------------------------------------------------------------
    def _cell(self) -> tuple[float, float, float]:
        k = self.size_k
        side = min(self.width(), self.height()) - 2
        cs = max(4.0, side / k)
        x0 = (self.width() - cs * k) / 2
        y0 = (self.height() - cs * k) / 2
        return cs, x0, y0

    def cell_rect(self, r: int, c: int) -> QRect:
        cs, x0, y0 = self._cell()
        return QRect(round(x0 + c * cs), round(y0 + r * cs), math.ceil(cs), math.ceil(cs))

    def cell_center(self, r: int, c: int) -> QPoint:
        return self.cell_rect(r, c).center()

    def cell_at(self, pos) -> tuple[int, int] | None:
        cs, x0, y0 = self._cell()
        c = math.floor((pos.x() - x0) / cs)
        r = math.floor((pos.y() - y0) / cs)
        k = self.size_k
        return (r, c) if 0 <= r < k and 0 <= c < k else None

    # --- painting ---------------------------------------------------------------------------------------
    @qt_override
    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().window())
        k = self.size_k
        cs, _, _ = self._cell()
        font = QFont(self.font())
        font.setPixelSize(max(7, min(14, int(cs / 4.0))))
        p.setFont(font)
        small = QFont(font)
        small.setPixelSize(max(6, int(font.pixelSize() * 0.8)))
        fm = QFontMetrics(font)
        show_text = cs >= 24
        grid_pen = QPen(QColor(170, 170, 175))
        for r in range(k):
            for c in range(k):
                rect = self.cell_rect(r, c)
                rgb = self._colors[r, c]
                p.fillRect(rect, QColor(int(rgb[0]), int(rgb[1]), int(rgb[2])))
                p.setPen(grid_pen)
                p.drawRect(rect.adjusted(0, 0, -1, -1))
                if show_text:
                    text = _fmt(float(self._values[r, c]), 2 if cs < 56 else 3)
                    p.setPen(QColor(20, 20, 20) if self._dark[r, c] else QColor(255, 255, 255))
                    p.setFont(small if fm.horizontalAdvance(text) > rect.width() - 3 else font)
                    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        # centre marker (``CENTRE_NOTE``) and cursor
        mid = self.cell_rect(k // 2, k // 2)
        p.setPen(QPen(QColor(90, 90, 90), 1, Qt.PenStyle.DotLine))
        p.drawRect(mid.adjusted(2, 2, -3, -3))
        r, c = self.cursor_rc
        pen = QPen(QColor(255, 140, 0) if self.hasFocus() else QColor(120, 120, 120), 3)
        p.setPen(pen)
        p.drawRect(self.cell_rect(r, c).adjusted(1, 1, -2, -2))
        p.end()

    # --- mouse ------------------------------------------------------------------------------------------
    @qt_override
    def mousePressEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        cell = self.cell_at(ev.position())
        if cell is None:
            return
        self.setFocus()
        self._move(*cell)
        if ev.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.pickRequested.emit(self.value_at(*cell))
            return
        if ev.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            self._stroke += 1
            self._stroke_sign = 1.0 if ev.button() == Qt.MouseButton.LeftButton else -1.0
            self._last_cell = cell
            self.paintRequested.emit([cell], self._stroke_sign * self.brush, self._stroke)

    @qt_override
    def mouseMoveEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        if not self._stroke_sign:
            return
        cell = self.cell_at(ev.position())
        if cell is not None and cell != self._last_cell:
            self._last_cell = cell
            self._move(*cell)
            self.paintRequested.emit([cell], self._stroke_sign * self.brush, self._stroke)

    @qt_override
    def mouseReleaseEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        self._stroke_sign = 0.0
        self._last_cell = None

    # --- keyboard ---------------------------------------------------------------------------------------
    def _move(self, r: int, c: int) -> None:
        k = self.size_k
        self.cursor_rc = (max(0, min(k - 1, r)), max(0, min(k - 1, c)))
        self.cursorMoved.emit(*self.cursor_rc)
        self.update()

    @qt_override
    def keyPressEvent(self, ev: QKeyEvent) -> None:  # noqa: N802
        r, c = self.cursor_rc
        key = ev.key()
        moves = {Qt.Key.Key_Left: (0, -1), Qt.Key.Key_Right: (0, 1), Qt.Key.Key_Up: (-1, 0), Qt.Key.Key_Down: (1, 0)}
        if self._editor.isVisible() and key == Qt.Key.Key_Escape:  # the line edit passes it on: cancel the edit
            self._editing = self._prefilled = None
            self._editor.hide()
            self.setFocus()
            return
        if self._editor.isVisible() and key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            # Up/Down in the cell editor (the line edit passes them on): the typed value goes into the cell being
            # edited, then the cursor moves, as in a spreadsheet (it moved with the editor left open, and the
            # value went into the cell the cursor had reached)
            self._commit_editor(move=False)
        if key in moves and not (ev.modifiers() & (Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.ControlModifier)):
            dr, dc = moves[key]
            self._move(r + dr, c + dc)
        elif key == Qt.Key.Key_Home:
            self._move(r, 0)
        elif key == Qt.Key.Key_End:
            self._move(r, self.size_k - 1)
        elif key == Qt.Key.Key_Space:
            self._stroke += 1
            self.paintRequested.emit([self.cursor_rc], self.brush, self._stroke)
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self._stroke += 1
            self.paintRequested.emit([self.cursor_rc], 0.0, self._stroke)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_F2):
            self.start_edit()
        elif ev.text() and ev.text() in "0123456789-+.":
            self.start_edit(ev.text())
        else:
            super().keyPressEvent(ev)

    def start_edit(self, initial: str | None = None) -> None:
        r, c = self.cursor_rc
        rect = self.cell_rect(r, c)
        w = max(rect.width(), 70)
        self._editor.setGeometry(rect.center().x() - w // 2, rect.center().y() - 14, w, 28)
        # F2/Enter pre-fill the cell's exact value (see _exact): Enter on it unchanged is then no edit at all
        self._prefilled = _exact(self.value_at(r, c)) if initial is None else None
        self._editing = (r, c)
        self._editor.setText(self._prefilled if initial is None else initial)
        self._editor.show()
        self._editor.setFocus()
        if initial is None:
            self._editor.selectAll()

    @Slot()
    def _on_editing_finished(self) -> None:
        """Return (already committed) or the focus leaving the editor (a click elsewhere): a value typed and left
        goes into its cell, as in a spreadsheet (it was hidden and thrown away, and Save wrote the old value)."""
        if self._editing is not None:
            self._commit_editor(move=False, focus=False)
        self._editor.hide()

    def finish_edit(self) -> None:
        """A value typed in the cell editor and not yet entered goes into its cell: before a Save, an Undo, a
        Generate ... (the workbench's actions), whose shortcuts leave the focus in the editor."""
        if self._editing is not None and self._editor.isVisible():
            self._commit_editor(move=False)

    @Slot()
    def _commit_editor(self, move: bool = True, focus: bool = True) -> None:
        text = self._editor.text().strip()
        prefilled, self._prefilled = self._prefilled, None
        editing, self._editing = self._editing, None
        self._editor.hide()
        if focus:
            self.setFocus()
        r, c = editing or self.cursor_rc  # the cell the editor was opened on, wherever the cursor went since
        # the pre-filled text left as it was changes nothing: with the channel "all" the grid shows the channels'
        # mean, which committed would overwrite every channel (and add an undo step)
        if text != prefilled:
            try:
                v = float(text)
            except ValueError:
                self.invalidValue.emit(f"{text!r} is not a number")
                return
            if not math.isfinite(v):
                self.invalidValue.emit("NaN and infinity are not allowed in a kernel")
                return
            with np.errstate(over="ignore"):
                fits = bool(np.isfinite(np.float32(v)))
            if not fits:  # the bank is float32: 1e39 would be stored as infinity (and the bank refuses it)
                self.invalidValue.emit(f"{text} is outside the float32 range of a kernel (about ±3.4e38)")
                return
            self.valueEntered.emit(r, c, v)
        if move and r + 1 < self.size_k:  # like a spreadsheet: Enter moves down
            self._move(r + 1, c)

    def editor(self) -> QLineEdit:
        return self._editor


def _exact(v: float) -> str:
    """The shortest text that reads back as the same float32 (-0.20406781): the cell editor's text, so that
    committing it unchanged cannot move the value (7 significant digits, -0.2040678, did)."""
    if v == 0:
        return "0"
    return str(np.float32(v)).replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")


def _fmt(v: float, digits: int = 3) -> str:
    if v == 0:
        return "0"
    s = f"{v:.{digits}g}"
    return s.replace("e-0", "e-").replace("e+0", "e")
