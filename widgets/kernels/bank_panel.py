"""The Kernel Workbench's bank panel: the session's banks, rename, the bank mosaic (click to select) and freezing.

It shows what the workspace gives it (``show_bank``) and reports what the user asks for through signals; it never
changes the bank itself.
"""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.imaging.layout import GridLayout
from app.kernels import ops
from app.kernels.bank import KernelBank
from widgets.common.image_view import ImageView


class BankPanel(QWidget):
    kernelClicked = Signal(int)
    freezeToggled = Signal(bool)  # the selected kernel
    freezeAll = Signal(bool)
    renameRequested = Signal()
    bankChosen = Signal(str)  # a session bank's name

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout: GridLayout | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Bank:"))
        self.bank_combo = QComboBox()
        self.bank_combo.setToolTip("Banks of this session (also used by the Models workspace); pick one to edit it")
        self.bank_combo.activated.connect(lambda i: self.bankChosen.emit(self.bank_combo.itemText(i)))
        row.addWidget(self.bank_combo, 1)
        self.rename_button = QPushButton("Rename…")
        self.rename_button.setToolTip("Rename the working bank (the name the Models workspace sees)")
        self.rename_button.clicked.connect(self.renameRequested)
        row.addWidget(self.rename_button)
        lay.addLayout(row)
        self._row_index = lay.count()  # the generator panel goes here (``insert``)

        view_label = QLabel("Bank view: click a kernel to edit it (dark frame = frozen)")
        view_label.setWordWrap(True)  # a narrow window wraps it instead of widening the column
        lay.addWidget(view_label)
        self.bank_view = ImageView(tooltip="Each kernel on a blue-white-red scale around zero (RGB kernels in "
                                           "colour). Click to select; orange = selected, dark frame = frozen.")
        self.bank_view.setMinimumHeight(180)
        self.bank_view.clicked.connect(self._on_click)
        lay.addWidget(self.bank_view, 1)

        frz = QHBoxLayout()
        self.freeze_button = QPushButton("Freeze selected")
        self.freeze_button.setCheckable(True)
        self.freeze_button.setToolTip("A frozen kernel is never changed by training anywhere in the app (Ctrl+L)")
        self.freeze_button.toggled.connect(self.freezeToggled)
        self.freeze_all_button = QPushButton("Freeze all")
        self.freeze_all_button.setToolTip("Freeze every kernel of the bank")
        self.freeze_all_button.clicked.connect(lambda: self.freezeAll.emit(True))
        self.unfreeze_all_button = QPushButton("Unfreeze all")
        self.unfreeze_all_button.setToolTip("Make every kernel trainable")
        self.unfreeze_all_button.clicked.connect(lambda: self.freezeAll.emit(False))
        for b in (self.freeze_button, self.freeze_all_button, self.unfreeze_all_button):
            frz.addWidget(b)
        lay.addLayout(frz)
        self.counts_label = QLabel()
        self.counts_label.setWordWrap(True)
        self.counts_label.setToolTip("Parameters of the bank's weights (no bias)")
        lay.addWidget(self.counts_label)

    def insert(self, widget: QWidget) -> None:
        """Put ``widget`` (the generator) between the bank row and the bank view."""
        self.layout().insertWidget(self._row_index, widget)

    @property
    def mosaic_layout(self) -> GridLayout | None:
        return self._layout

    def show_bank(self, bank: KernelBank, selected: int, names: list[str]) -> None:
        rgb, self._layout = ops.bank_mosaic(bank, selected)
        self.bank_view.set_image(rgb)
        self.counts_label.setText(bank.counts_text())
        frozen = bool(bank.frozen[selected])
        self.freeze_button.blockSignals(True)
        self.freeze_button.setChecked(frozen)
        self.freeze_button.setText("Frozen (click to unfreeze)" if frozen else "Freeze selected")
        self.freeze_button.blockSignals(False)
        self.show_names(names, bank.name)

    def show_names(self, names: list[str], current: str) -> None:
        if current not in names:
            names = [*names, current]
        self.bank_combo.blockSignals(True)
        if [self.bank_combo.itemText(i) for i in range(self.bank_combo.count())] != names:
            self.bank_combo.clear()
            self.bank_combo.addItems(names)
        self.bank_combo.setCurrentText(current)
        self.bank_combo.blockSignals(False)

    @Slot(float, float)
    def _on_click(self, x: float, y: float) -> None:
        i = self._layout.index_at(x, y) if self._layout else None
        if i is not None:
            self.kernelClicked.emit(i)
