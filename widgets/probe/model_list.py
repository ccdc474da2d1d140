"""The Probe's model list: checkable model specs, each tagged random / hand-designed / trained."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from app.models.catalog import FAMILY_TIPS, family

STATE_COLOURS = {"random": (71, 85, 105), "hand-designed": (217, 119, 6), "fitted": (124, 58, 237),
                 "trained": (22, 128, 61)}
STATE_TIPS = {
    "random": "random: the backbone keeps its random initialisation (nothing learned)",
    "hand-designed": "hand-designed: kernels chosen by hand in the Kernel Workbench or designed filters such as "
                     "scattering's wavelets (nothing learned)",
    "fitted": "fitted: filters fitted to training images without labels (patches, k-means: data-dependent)",
    "trained": "trained: weights learned on a dataset (the reference the others are compared with)",
}


def state_colour(state: str) -> QColor:
    return QColor(*STATE_COLOURS.get(state, (100, 100, 100)))


# --- models ---------------------------------------------------------------------------------------------------
class ModelList(QTreeWidget):
    """A checkable list of model specs: name + weight-state tag. Emits ``checkedChanged`` with the checked labels."""

    checkedChanged = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(2)
        self.setHeaderLabels(["Model", "Weights"])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.header().setStretchLastSection(False)
        self.setToolTip("Check the backbones to probe. Each is frozen; only a linear head is trained on its "
                        "features.\nWeights: random / hand-designed / trained.")
        self.itemChanged.connect(self._on_item_changed)
        self._specs: dict[str, Any] = {}

    def set_specs(self, specs: list[tuple[str, Any, str]], checked: list[str] | None = None) -> None:
        """specs: (label, ModelSpec, source) in display order. Keeps the current checks unless ``checked``."""
        keep = set(self.checked_labels() if checked is None else checked)
        self.blockSignals(True)
        self.clear()
        self._specs = {}
        for label, spec, source in specs:
            if label in self._specs:
                continue
            self._specs[label] = spec
            state = getattr(spec, "weight_state", "random") or "random"
            item = QTreeWidgetItem([label, state])
            item.setData(0, Qt.ItemDataRole.UserRole, label)  # the key, kept apart from what is displayed
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Checked if label in keep else Qt.CheckState.Unchecked)
            item.setForeground(1, QBrush(state_colour(state)))
            where = {"zoo": "built in", "preset": "from a preset"}.get(source, "from the Models workspace")
            fam = family(spec.backbone, state=state)
            item.setToolTip(0, f"{label}\nbackbone: {spec.backbone} ({where})\nfamily: {FAMILY_TIPS.get(fam, fam)}")
            item.setToolTip(1, STATE_TIPS.get(state, state))
            self.addTopLevelItem(item)
        self.blockSignals(False)
        self.checkedChanged.emit(self.checked_labels())

    @staticmethod
    def label_of(item: QTreeWidgetItem) -> str:
        return str(item.data(0, Qt.ItemDataRole.UserRole))

    def labels(self) -> list[str]:
        return list(self._specs)

    def spec(self, label: str) -> Any:
        return self._specs[label]

    def checked_labels(self) -> list[str]:
        out = []
        for i in range(self.topLevelItemCount()):
            it = self.topLevelItem(i)
            if it.checkState(0) == Qt.CheckState.Checked:
                out.append(self.label_of(it))
        return out

    def checked_specs(self) -> list[Any]:
        return [self._specs[label] for label in self.checked_labels()]

    def set_checked(self, labels: list[str]) -> None:
        want = set(labels)
        self.blockSignals(True)
        for i in range(self.topLevelItemCount()):
            it = self.topLevelItem(i)
            it.setCheckState(0, Qt.CheckState.Checked if self.label_of(it) in want else Qt.CheckState.Unchecked)
        self.blockSignals(False)
        self.checkedChanged.emit(self.checked_labels())

    def item_for(self, label: str) -> QTreeWidgetItem | None:
        for i in range(self.topLevelItemCount()):
            if self.label_of(self.topLevelItem(i)) == label:
                return self.topLevelItem(i)
        return None

    @Slot(QTreeWidgetItem, int)
    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if column == 0:
            self.checkedChanged.emit(self.checked_labels())
