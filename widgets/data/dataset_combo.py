"""The dataset browser's choice of dataset: the built-ins (with their download sizes), recent image folders (kept
in the settings) and "Image folder…". The item data is the dataset name (None for "Image folder…")."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QComboBox, QWidget

from widgets.common.elided_combo import ElidedCombo

from app.data import formats, remote
from app.storage import human_size

FOLDER_ITEM = "Image folder…"
RECENT_KEY = "data/recent_folders"
MAX_RECENT = 6


class DatasetCombo(ElidedCombo):
    """Its current text elided ("fashion-mnist (download …") where the box is narrower (a 1024 px Probe column cut it
    mid-number), said whole first on its tooltip (``ElidedCombo``)."""

    def __init__(self, settings: QSettings | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self.set_about("The dataset (digits needs nothing; others are read from the data folder or "
                       "downloaded; Image folder… = any folder of class sub-folders)")
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(12)
        self.blockSignals(True)
        for name in formats.builtin_names():
            self.addItem(name, name)
        for folder in self.recent_folders():
            self.add_folder("imagefolder:" + folder)
        self.addItem(FOLDER_ITEM, None)
        self.setItemData(self.count() - 1, "Choose a folder of class sub-folders (Ctrl+O)", Qt.ItemDataRole.ToolTipRole)
        self.blockSignals(False)

    def update_texts(self, root: str | None) -> None:
        """Say which built-ins are local under ``root`` and what the others cost to download."""
        for i in range(self.count()):
            name = self.itemData(i)
            if name in formats.BUILTINS:
                st = remote.status(name, root)
                self.setItemText(i, name if st.local else f"{name} (download {human_size(st.download_size)})")
                tip = f"{st.title}\n" + (f"local: {st.where}" if st.local else "not downloaded yet")
                self.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
            elif name == "digits":
                self.setItemData(i, "scikit-learn's 8x8 digits (embedded, needs nothing)", Qt.ItemDataRole.ToolTipRole)

    def add_folder(self, name: str) -> int:
        """The index of ``imagefolder:PATH`` (added before "Image folder…" when new)."""
        folder = name.split(":", 1)[1]
        i = self.findData(name)
        if i >= 0:
            return i
        pos = self.findText(FOLDER_ITEM)
        pos = pos if pos >= 0 else self.count()
        block = self.blockSignals(True)
        self.insertItem(pos, f"folder: {Path(folder).name or folder}", name)
        self.setItemData(pos, folder, Qt.ItemDataRole.ToolTipRole)
        self.blockSignals(block)
        return pos

    def recent_folders(self) -> list[str]:
        return recent_folders(self._settings)

    def remember(self, folder: str) -> None:
        if self._settings is None:
            return
        recent = [folder] + [f for f in self.recent_folders() if f != folder]
        self._settings.setValue(RECENT_KEY, recent[:MAX_RECENT])


def recent_folders(settings: QSettings | None) -> list[str]:
    """The image folders chosen lately (newest first), as the dataset browser keeps them in the settings."""
    if settings is None:
        return []
    v = settings.value(RECENT_KEY) or []
    if isinstance(v, str):
        v = [v]
    return [str(x) for x in v][:MAX_RECENT]


def known_datasets(settings: QSettings | None) -> list[str]:
    """The dataset names the browser offers: the built-ins, then ``imagefolder:PATH`` of the recent folders."""
    return [*formats.builtin_names(), *("imagefolder:" + f for f in recent_folders(settings))]
