"""The Kernel Workbench's files: the working bank's file (open, save, save as, modified or not), images to preview
on, and the autosave. Dialogs are methods so that tests can replace them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from app import paths
from app.kernels import io, ops
from app.kernels.bank import KernelBank

AUTOSAVE_NAME = "autosave-bank.json"
BANK_FILTER = "Kernel banks (*.json *.npz *.npy);;JSON bank (*.json);;NumPy archive (*.npz);;NumPy array (*.npy)"
IMAGE_FILTER = "Images (" + " ".join("*" + e for e in ops.IMAGE_EXTENSIONS) + ")"


def autosave_path() -> Path:
    return paths.user_files() / AUTOSAVE_NAME


class BankFiles:
    """Where the working bank is saved (``path``) and what was saved there last (``saved``)."""

    def __init__(self, parent: QWidget, settings: QSettings) -> None:
        self.parent = parent
        self.settings = settings
        self.path: Path | None = None
        self.saved: KernelBank | None = None

    def start_dir(self) -> str:
        return self.settings.value("kernels/dir", str(paths.user_files()), str)

    def modified(self, bank: KernelBank) -> bool:
        return self.saved is None or not self.saved.equals(bank)

    def describe(self, bank: KernelBank) -> str:
        where = self.path.name if self.path else "not saved to a file"
        return f"<b>{bank.name}</b> · {where}{' · modified' if self.modified(bank) and self.path else ''}"

    def initial(self) -> tuple[KernelBank | None, str]:
        """The autosaved working bank (and the file it came from), or None and a note when there is none."""
        path = autosave_path()
        if not path.exists():
            return None, ""
        try:
            bank = io.load(path)
        except io.KernelFileError as exc:
            bad = path.with_name("autosave-bank.unreadable.json")
            try:
                path.replace(bad)
            except OSError:
                pass
            return None, f"The autosaved bank could not be read ({exc}); it was kept as {bad.name}"
        saved = self.settings.value("kernels/path", "", str)
        if saved and Path(saved).exists():
            self.path = Path(saved)
            try:
                self.saved = io.load(self.path)
            except io.KernelFileError:
                self.saved = None
        return bank, f"Restored the working bank {bank.name!r} from the autosave"

    def autosave(self, bank: KernelBank) -> str:
        """Save to the autosave file; an error message, or ""."""
        try:
            io.save(bank, autosave_path())
        except io.KernelFileError as exc:
            return f"Autosave failed: {exc}"
        return ""

    # --- dialogs --------------------------------------------------------------------------------------------
    def ask_open(self) -> Path | None:
        path, _ = QFileDialog.getOpenFileName(self.parent, "Open kernel bank", self.start_dir(), BANK_FILTER)
        return Path(path) if path else None

    def ask_save(self, name: str) -> Path | None:
        start = str(Path(self.start_dir()) / f"{name}.json")
        path, _ = QFileDialog.getSaveFileName(self.parent, "Save kernel bank", start, BANK_FILTER)
        if not path:
            return None
        p = Path(path)
        if p.suffix.lower() not in io.EXTENSIONS:
            p = p.with_suffix(p.suffix + ".json") if p.suffix else p.with_suffix(".json")
        return p

    def ask_image(self) -> Path | None:
        path, _ = QFileDialog.getOpenFileName(self.parent, "Open image",
                                              self.settings.value("kernels/image_dir", "", str), IMAGE_FILTER)
        return Path(path) if path else None

    # --- reading and writing --------------------------------------------------------------------------------
    def read(self, path: Path) -> KernelBank | None:
        try:
            bank = io.load(path)
        except io.KernelFileError as exc:
            QMessageBox.warning(self.parent, "Cannot open bank", f"{exc}\n\nNothing was changed.")
            return None
        self.settings.setValue("kernels/dir", str(path.parent))
        self.path, self.saved = path, bank
        return bank

    def write(self, bank: KernelBank, path: Path) -> bool:
        try:
            io.save(bank, path)
        except io.KernelFileError as exc:
            QMessageBox.warning(self.parent, "Cannot save bank", f"{exc}\n\nThe bank is still open and autosaved.")
            return False
        self.path, self.saved = path, bank
        self.settings.setValue("kernels/dir", str(path.parent))
        return True

    def read_image(self, path: Path) -> np.ndarray | None:
        try:
            img = ops.load_image(path)
        except ops.ImageLoadError as exc:
            QMessageBox.warning(self.parent, "Cannot open image", str(exc))
            return None
        self.settings.setValue("kernels/image_dir", str(path.parent))
        return img

    def save_settings(self) -> None:
        self.settings.setValue("kernels/path", str(self.path) if self.path else "")
