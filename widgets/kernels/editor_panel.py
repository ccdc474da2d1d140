"""The Kernel Workbench's editor panel: the grid of one kernel, brush, symmetry, zero sum, channel, symmetrize, clear.

``show_kernel(bank, selected)`` shows a kernel; every edit is computed by ``app.kernels.ops`` on that kernel and
reported as ``kernelEdited(new_kernel (C, k, k), label, merge_key)``: the workspace puts it into the bank (undoable).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QGridLayout, QGroupBox, QLabel, QMessageBox,
                               QPushButton, QVBoxLayout, QWidget)

from app.kernels import ops
from app.kernels.bank import KernelBank
from widgets.kernels.grid import KernelGrid

CHANNEL_NAMES = {3: ("R", "G", "B")}
ALL_SAME = "all (same values)"  # the channel box's "all" item when the kernel's channels are equal ...
ALL_MEAN = "all (mean shown)"  # ... and when they differ: the grid shows their mean


MAX_SUMS_SHOWN = 8  # channel sums listed with the channel "all" (a 64-channel kernel: the first 8, then "...")


class EditorPanel(QGroupBox):
    kernelEdited = Signal(object, str, object)
    message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Kernel editor", parent)
        self._kernel: np.ndarray | None = None  # (C, k, k) of the selected kernel (a snapshot)
        self._index = 0
        self._clip: np.ndarray | None = None  # a copied kernel (C, k, k)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        self.kernel_label = QLabel()
        self.kernel_label.setWordWrap(True)
        lay.addWidget(self.kernel_label)
        # a grid of short rows: nothing is clipped in a narrow window (1280x720)
        g = QGridLayout()
        g.setContentsMargins(0, 0, 0, 0)
        g.setHorizontalSpacing(6)
        g.addWidget(QLabel("Brush"), 0, 0)
        self.brush_spin = QDoubleSpinBox(minimum=-1000.0, maximum=1000.0, decimals=4, singleStep=0.1, value=1.0)
        self.brush_spin.setToolTip("Value painted by the left button (the right button paints minus it)")
        self.brush_spin.valueChanged.connect(self._on_brush)
        g.addWidget(self.brush_spin, 0, 1)
        g.addWidget(QLabel("Symmetry"), 0, 2)
        self.symmetry_combo = QComboBox()
        for i, s in enumerate(ops.SYMMETRIES):
            self.symmetry_combo.addItem(s)
            self.symmetry_combo.setItemData(i, ops.SYMMETRY_HELP[s], Qt.ItemDataRole.ToolTipRole)
        self.symmetry_combo.setToolTip("Edits also change the symmetric cells")
        g.addWidget(self.symmetry_combo, 0, 3)
        g.addWidget(QLabel("Channel"), 1, 0)
        self.channel_combo = QComboBox()
        self.channel_combo.setToolTip("Input channel to edit (RGB kernels have one grid per channel)")
        self.channel_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.channel_combo.setMinimumContentsLength(max(len(ALL_SAME), len(ALL_MEAN)))  # never clipped
        self.channel_combo.currentIndexChanged.connect(lambda _: self._refresh())
        g.addWidget(self.channel_combo, 1, 1, 1, 2)
        self.zero_sum_check = QCheckBox("zero sum")
        self.zero_sum_check.setToolTip("Keep each channel of the kernel summing to 0: the other cells shift "
                                       "by a common amount after each edit")
        self.zero_sum_check.toggled.connect(self._on_zero_sum)
        g.addWidget(self.zero_sum_check, 1, 3)
        self.symmetrize_button = QPushButton("Symmetrize")
        self.symmetrize_button.setToolTip("Make the kernel symmetric under the chosen symmetry (average)")
        self.symmetrize_button.clicked.connect(self.symmetrize)
        g.addWidget(self.symmetrize_button, 2, 0, 1, 2)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Set every cell of this channel to 0")
        self.clear_button.clicked.connect(self.clear_kernel)
        g.addWidget(self.clear_button, 2, 2, 1, 2)
        g.setColumnStretch(4, 1)
        lay.addLayout(g)
        self.grid = KernelGrid()
        self.grid.paintRequested.connect(self._on_paint)
        self.grid.valueEntered.connect(self._on_value)
        self.grid.invalidValue.connect(lambda m: self.message.emit(f"Not changed: {m}"))
        self.grid.pickRequested.connect(self._pick)
        self.grid.cursorMoved.connect(self._on_cursor)
        lay.addWidget(self.grid, 1)
        self.cell_label = QLabel()
        self.cell_label.setWordWrap(True)  # a narrow window wraps it instead of widening the column
        lay.addWidget(self.cell_label)

    # --- showing --------------------------------------------------------------------------------------------
    def show_kernel(self, bank: KernelBank, index: int) -> None:
        self._set_channels(bank.in_channels)
        self._kernel = bank.kernel(index)
        self._index = index
        frozen = bool(bank.frozen[index])
        self.kernel_label.setText(f"Kernel {index + 1} of {bank.out_channels} · {bank.in_channels} x "
                                  f"{bank.size} x {bank.size}" + (" · frozen (training keeps it; your edits apply)" if frozen
                                                       else " · trainable"))
        self._refresh()

    def _set_channels(self, c: int) -> None:
        if self.channel_combo.count() == c + (1 if c > 1 else 0):
            return
        self.channel_combo.blockSignals(True)
        self.channel_combo.clear()
        if c > 1:
            self.channel_combo.addItem(ALL_SAME, -1)
        names = CHANNEL_NAMES.get(c, tuple(str(i) for i in range(c)))
        for i in range(c):
            self.channel_combo.addItem(f"{i}: {names[i]}" if c == 3 else names[i], i)
        self.channel_combo.setCurrentIndex(0)
        self.channel_combo.setEnabled(c > 1)
        self.channel_combo.blockSignals(False)

    def channel(self) -> int:
        d = self.channel_combo.currentData()
        return -1 if d is None else int(d)

    def _refresh(self) -> None:
        k = self._kernel
        if k is None:
            return
        if k.shape[0] > 1 and self.channel_combo.count():  # "all": the same values, or their mean where they differ
            same = bool(np.all(k == k[:1]))
            self.channel_combo.setItemText(0, ALL_SAME if same else ALL_MEAN)
            self.channel_combo.setItemData(0, "Edit every channel at once" + (
                "" if same else ": the channels differ, the grid shows their mean and a value typed or painted "
                "goes into every channel"), Qt.ItemDataRole.ToolTipRole)
        ch = self.channel()
        values = k.mean(0) if ch < 0 else k[ch]
        colors, dark = ops.cell_colors(values, float(np.abs(k).max()) or None)
        self.grid.set_kernel(values, colors, dark)
        self._on_cursor(*self.grid.cursor_rc)

    # --- editing --------------------------------------------------------------------------------------------
    def _edit(self, fn, label: str, merge_key: object = None) -> None:
        """Apply ``fn(channel_2d) -> channel_2d`` to the edited channel(s) of the kernel."""
        if self._kernel is None:
            return
        k = np.array(self._kernel, copy=True)
        ch = self.channel()
        with np.errstate(over="ignore", invalid="ignore"):
            for c in (range(k.shape[0]) if ch < 0 else [ch]):
                k[c] = fn(k[c])
        if not np.all(np.isfinite(k)):  # e.g. zero sum over two cells of 3e38: their sum is inf in float32, and
            # the bank refuses a NaN/Inf (an exception in a slot, the edit silently lost): refused here, said why
            self.message.emit(f"Not changed: {label} would leave values outside the float32 range of a kernel "
                              "(about ±3.4e38)")
            return
        self.kernelEdited.emit(k, f"{label} kernel {self._index + 1}", merge_key)

    @Slot(object, float, int)
    def _on_paint(self, cells, value: float, stroke: int) -> None:
        sym, zs = self.symmetry_combo.currentText(), self.zero_sum_check.isChecked()
        self._edit(lambda a: ops.paint(a, cells, value, sym, zs), "paint", ("stroke", stroke))

    @Slot(int, int, float)
    def _on_value(self, r: int, c: int, value: float) -> None:
        sym, zs = self.symmetry_combo.currentText(), self.zero_sum_check.isChecked()
        self._edit(lambda a: ops.paint(a, [(r, c)], value, sym, zs), f"set cell ({r}, {c}) of")

    @Slot(bool)
    def _on_zero_sum(self, on: bool) -> None:
        if on:
            self._edit(lambda a: ops.zero_sum(a), "zero-sum")

    @Slot()
    def symmetrize(self) -> None:
        sym, zs = self.symmetry_combo.currentText(), self.zero_sum_check.isChecked()
        self._edit(lambda a: ops.zero_sum(ops.symmetrize(a, sym)) if zs else ops.symmetrize(a, sym), "symmetrize")

    @Slot()
    def clear_kernel(self) -> None:
        self._edit(lambda a: np.zeros_like(a), "clear")

    @Slot(float)
    def _on_brush(self, v: float) -> None:
        self.grid.brush = float(v)
        self.brush_spin.setToolTip("Value painted by the left button (the right button paints minus it)")

    @Slot(float)
    def _pick(self, v: float) -> None:
        """Shift+click: the cell's value becomes the brush, exactly (the box shows 4 decimals: 0.123456 painted as
        0.1235 made the copy another value)."""
        self.brush_spin.blockSignals(True)
        self.brush_spin.setValue(float(v))
        self.brush_spin.blockSignals(False)
        self.grid.brush = float(v)
        self.brush_spin.setToolTip(f"Value painted by the left button (the right button paints minus it): "
                                   f"{float(v)!r}, picked (the box shows it rounded)")

    @Slot(int, int)
    def _on_cursor(self, r: int, c: int) -> None:
        values = self.grid.values()
        k = values.shape[0] if values is not None else 0
        if r < k and c < k:
            # with the channel "all" the grid shows the channels' mean: say so where they differ at this cell
            kern = self._kernel
            mean = (self.channel() < 0 and kern is not None and kern.shape[1:] == values.shape
                    and bool(np.ptp(kern[:, r, c]) > 0))
            self.cell_label.setText(f"cell ({r}, {c}) = {self.grid.value_at(r, c):.6g}"
                                    + (" (mean of the channels, which differ)" if mean else "")
                                    + f" · brush {self.brush_spin.value():g}"
                                    + f" · {self._sums(values)}")

    def _sums(self, values: np.ndarray) -> str:
        """The sum of the channel shown; with "all" (the grid shows the channels' mean, whose sum is the kernel's sum
        / c) each channel's sum and the kernel's sum."""
        kern = self._kernel
        if self.channel() >= 0 or kern is None or kern.shape[0] < 2:
            return f"sum of channel {float(values.sum()):.4g}"
        sums = kern.astype(np.float64).sum(axis=(1, 2))
        if np.all(sums == sums[0]):  # the same pattern on every channel: one figure, not c copies of it
            return f"each channel sums to {float(sums[0]):.4g} (kernel sum {float(sums.sum()):.4g})"
        shown = " / ".join(f"{float(v):.4g}" for v in sums[:MAX_SUMS_SHOWN])
        more = f" / ... ({len(sums)} channels)" if len(sums) > MAX_SUMS_SHOWN else ""
        return f"channel sums {shown}{more} (kernel sum {float(sums.sum()):.4g})"

    # --- clipboard --------------------------------------------------------------------------------------------
    @Slot()
    def copy_kernel(self) -> None:
        if self._kernel is None:
            return
        self._clip = np.array(self._kernel, copy=True)
        ch = self.channel()  # -1: "all" (the grid shows their mean): the text holds every channel, as the paste does
        text = ops.channels_to_text(self._clip) if ch < 0 else ops.kernel_to_text(self._clip[ch])
        QGuiApplication.clipboard().setText(text)
        what = f", its {len(self._clip)} channels" if ch < 0 and len(self._clip) > 1 else ""
        self.message.emit(f"Copied kernel {self._index + 1}{what}")

    @Slot()
    def paste_kernel(self) -> None:
        if self._clip is None or self._kernel is None:
            self.message.emit("Nothing to paste: copy a kernel first (Ctrl+C)")
            return
        try:
            k = ops.fit_kernel(self._clip, self._kernel.shape[0], self._kernel.shape[-1])
        except ValueError as exc:
            QMessageBox.warning(self, "Cannot paste", str(exc))
            return
        self.kernelEdited.emit(k, f"paste into kernel {self._index + 1}", None)
        self.message.emit(f"Pasted into kernel {self._index + 1}")

    # --- settings -------------------------------------------------------------------------------------------
    def restore(self, settings) -> None:
        sym = settings.value("kernels/symmetry", "none", str)
        if sym in ops.SYMMETRIES:
            self.symmetry_combo.setCurrentText(sym)
        try:
            self.brush_spin.setValue(float(settings.value("kernels/brush", 1.0)))
        except (TypeError, ValueError):
            pass

    def save(self, settings) -> None:
        settings.setValue("kernels/symmetry", self.symmetry_combo.currentText())
        settings.setValue("kernels/brush", self.brush_spin.value())
