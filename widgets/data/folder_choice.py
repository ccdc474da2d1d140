"""The dataset browser's folder choices (a mixin of ``widgets.data.browser.DatasetBrowser``): the data folder (where
datasets are looked for and downloaded to, remembered), an image folder of class sub-folders, and the Disk use
dialog. ``ask_root`` / ``ask_folder`` are methods so that tests can replace the dialogs."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QFileDialog

ROOT_KEY = "data/root"


class FolderChoice:
    """Needs of its host: ``root_btn``, ``disk_btn``, ``combo`` (a ``DatasetCombo``), ``_root``, ``_settings``,
    ``_last_index``, the ``data_root`` property and ``_on_combo``."""

    def _update_root_tip(self) -> None:
        from app import paths

        where = self._root or f"{paths.data_root()} (default)"
        self.root_btn.setToolTip(f"Where datasets are looked for and downloaded to:\n{where}\n"
                                 "(torchvision layouts work: MNIST/raw, cifar-10-batches-py, stl10_binary, …)")

    def ask_root(self) -> str:
        """The data-folder dialog (a method so tests can replace it)."""
        from app import paths

        return QFileDialog.getExistingDirectory(self, "Datasets folder", self._root or str(paths.data_root()))

    @Slot()
    def show_disk_use(self) -> None:
        self.disk_btn.open_dialog()

    @property
    def disk_dialog(self):
        return self.disk_btn.dialog

    def choose_root(self) -> None:
        folder = self.ask_root()
        if not folder:
            return
        if self._settings is not None:
            self._settings.setValue(ROOT_KEY, folder)
        self.data_root = folder

    def ask_folder(self) -> str:
        """The folder dialog (a method so tests can replace it)."""
        return QFileDialog.getExistingDirectory(self, "Image folder (one sub-folder per class)")

    @Slot()
    def choose_folder(self) -> None:
        folder = self.ask_folder()
        if not folder:
            self.combo.blockSignals(True)
            self.combo.setCurrentIndex(self._last_index)
            self.combo.blockSignals(False)
            return
        self.combo.remember(folder)
        i = self.combo.add_folder("imagefolder:" + folder)
        if i == self.combo.currentIndex():
            self._on_combo(i)
        else:
            self.combo.setCurrentIndex(i)
