"""The Kernel Workbench's Open, Save and Save As: an opened file's bank never replaces another bank's content (a
name of its own), and each bank is saved to its own file (``files.BankFiles``). A mixin of ``KernelWorkspace``
(its ``files``, ``session``, ``bank``, ``set_bank``, ``_commit``, ``_refresh``, ``_save_settings``,
``show_status`` and ``_selected``)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Slot

from app.session import Session


class BankFileActions:
    @Slot()
    def open_bank(self) -> None:
        path = self.files.ask_open()
        if path:
            self.open_bank_file(path)

    def open_bank_file(self, path: Path) -> bool:
        bank = self.files.read(Path(path))
        if bank is None:
            return False
        self._commit()
        current = self.session.banks.get(bank.name)
        if current is not None and not current.equals(bank):  # never replaces another bank's content, the working
            bank = bank.renamed(Session.unique_name(self.session.banks, bank.name))  # one's included: a name of its own
        self.files.remember(bank, Path(path), bank)
        self._selected = 0
        self.set_bank(bank, f"open {Path(path).name}")
        self._save_settings()
        self.show_status(f"Opened {Path(path).name}: {bank.out_channels} kernels of {bank.in_channels} x "
                         f"{bank.size} x {bank.size}, {bank.frozen_count()} frozen")
        return True

    @Slot()
    def save_bank(self) -> bool:
        path = self.files.path_of(self.bank)
        return self._save_to(path) if path else self.save_bank_as()

    @Slot()
    def save_bank_as(self) -> bool:
        path = self.files.ask_save(self.bank.name)
        return self._save_to(path) if path else False

    def _save_to(self, path: Path) -> bool:
        if not self.files.write(self.bank, path):
            return False
        self._save_settings()
        self._refresh()
        npy = path.suffix.lower() == ".npy"
        note = " (.npy keeps the weights only: frozen flags and names are not stored)" if npy else ""
        self.show_status(f"Saved {path}{note}")
        return True
