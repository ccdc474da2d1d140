"""The Experiments workspace's Dataset field: an editable choice of the dataset a recipe runs on (prefilled with the
recipe's own; the names the dataset browser offers), and an inline note saying why it cannot run (a missing image
folder, an empty name). The checks themselves are ``app.experiments.recipe.on_dataset`` / ``dataset_problem``."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from widgets.data.dataset_combo import known_datasets

TOOLTIP = ("The dataset the recipe runs on, prefilled with the recipe's own. Pick a built-in or a recent image "
           "folder, or type a name (digits, mnist, cifar10, imagefolder:PATH ...); another name runs the recipe as "
           "'experiment run --dataset NAME' does. Remembered per recipe.")


class DatasetField(QWidget):
    changed = Signal(str)  # the text, as the user edits or picks it (not when the workspace sets it)

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(12)
        self.combo.addItems(known_datasets(settings))
        self.combo.setToolTip(TOOLTIP)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #b00020;")
        self.note.hide()
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        label = QLabel("Dataset")
        label.setToolTip(TOOLTIP)
        label.setBuddy(self.combo)
        row.addWidget(label)
        row.addWidget(self.combo, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.note)
        self.combo.editTextChanged.connect(self._tip)
        self.combo.editTextChanged.connect(self.changed)

    def _tip(self, name: str) -> None:
        self.combo.lineEdit().setToolTip(name + "\n\n" + TOOLTIP if name else TOOLTIP)

    def value(self) -> str:
        return self.combo.currentText()

    def set_value(self, name: str) -> None:
        """Show ``name`` without emitting ``changed``."""
        block = self.combo.blockSignals(True)
        self.combo.setEditText(name)
        self.combo.blockSignals(block)
        self._tip(name)

    def set_problem(self, text: str | None) -> None:
        """The inline note under the field (None or "" hides it)."""
        self.note.setText(text or "")
        self.note.setVisible(bool(text))

    def problem(self) -> str:
        return self.note.text() if self.note.isVisibleTo(self) else ""
