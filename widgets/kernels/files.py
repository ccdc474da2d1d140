"""The Kernel Workbench's files: each bank's file (open, save, save as, modified or not), images to preview on,
and the autosave of every bank of the session (``autosave-banks/``: one .npz per bank, any size, and an index of
their names, order, files and the working one; restored at the next launch). Dialogs are methods so that tests can
replace them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from app import paths
from app.kernels import io, ops
from app.kernels.bank import KernelBank
from app.storage import atomic_write

AUTOSAVE_DIR = "autosave-banks"  # one .npz per bank of the session and index.json (names, order, files, current)
LEGACY_AUTOSAVE = "autosave-bank.json"  # the working bank alone, before every bank was autosaved
INDEX = "index.json"
AUTOSAVE = True  # off for --screenshot (widgets.application.run_gui): a picture writes nothing the user keeps
BANK_FILTER = "Kernel banks (*.json *.npz *.npy);;JSON bank (*.json);;NumPy archive (*.npz);;NumPy array (*.npy)"
IMAGE_FILTER = "Images (" + " ".join("*" + e for e in ops.IMAGE_EXTENSIONS) + ")"


def autosave_dir() -> Path:
    return paths.user_files() / AUTOSAVE_DIR


def autosave_file(name: str) -> Path:
    """The autosave of the session's bank ``name`` (a digest of the name: any name makes a valid file name)."""
    return autosave_dir() / f"{hashlib.sha1(name.encode('utf-8')).hexdigest()[:16]}.npz"


def autosaved_names() -> set[str]:
    """The names of the banks the last session autosaved (its index; nothing read but the index): what the Kernel
    Workbench will put back into the session when it is built, perhaps after another workspace."""
    try:
        doc = json.loads((autosave_dir() / INDEX).read_text(encoding="utf-8"))
        return {e["name"] for e in doc["banks"] if isinstance(e, dict) and isinstance(e.get("name"), str)}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def autosaved(name: str) -> KernelBank:
    """The autosaved bank ``name`` (tests and the restore read it)."""
    return io.load(autosave_file(name))


def saved_form(bank: KernelBank, path: Path) -> KernelBank:
    """What a file of ``path``'s type holds of ``bank``: a .npy keeps no frozen flags (the bank stays "modified"
    while it has frozen kernels: the file does not hold them)."""
    return bank.with_frozen(None, False) if path.suffix.lower() == ".npy" else bank


class BankFiles:
    """Each bank's file (``path_of``) and what was saved there last (``modified``), kept by bank name, and the
    autosave of every bank of the session (``autosave``, ``initial``)."""

    def __init__(self, parent: QWidget, settings: QSettings) -> None:
        self.parent = parent
        self.settings = settings
        self.files: dict[str, tuple[Path, KernelBank | None]] = {}  # bank name -> (its file, what the file holds)
        # the autosave's own memo, used only by the one autosave running at a time: name -> the bank written last
        self._written: dict[str, KernelBank] = {}
        self.from_legacy = False  # ``initial`` restored an older version's single-bank autosave

    def start_dir(self) -> str:
        return self.settings.value("kernels/dir", str(paths.user_files()), str)

    def path_of(self, bank: KernelBank) -> Path | None:
        entry = self.files.get(bank.name)
        return entry[0] if entry else None

    def remember(self, bank: KernelBank, path: Path, saved: KernelBank | None = None) -> None:
        """``bank`` is the one of ``path``, which holds ``saved`` (default: ``bank`` as that file type keeps it)."""
        self.files[bank.name] = (Path(path), saved if saved is not None else saved_form(bank, Path(path)))

    def forget(self, name: str) -> None:
        self.files.pop(name, None)

    def renamed(self, old: str, new: str) -> None:
        """A rename keeps the bank's file (its next save writes there)."""
        if old in self.files:
            self.files[new] = self.files.pop(old)

    def modified(self, bank: KernelBank) -> bool:
        entry = self.files.get(bank.name)
        if entry is None or entry[1] is None or not entry[1].equals(bank):
            return True
        # a rename: a .json or .npz file holds the bank's name, still the old one (a .npy names it after the file)
        return entry[0].suffix.lower() != ".npy" and entry[1].name != bank.name

    def describe(self, bank: KernelBank) -> str:
        path = self.path_of(bank)
        where = path.name if path else "not saved to a file"
        return f"<b>{bank.name}</b> · {where}{' · modified' if self.modified(bank) and path else ''}"

    def initial(self) -> tuple[list[KernelBank], str | None, str]:
        """The autosaved banks of the last session (in their order), the name of the working one, and a note ("" when
        there was nothing to restore)."""
        folder, problems = autosave_dir(), []
        index = folder / INDEX
        if index.exists():
            try:
                doc = json.loads(index.read_text(encoding="utf-8"))
                entries = [e for e in doc["banks"] if isinstance(e, dict) and isinstance(e.get("name"), str)]
                current = doc.get("current")
                if not entries and any(folder.glob("*.npz")):  # a shape this version does not read: the files are
                    raise ValueError("it names none of the bank files there")  # restored (never cleaned away)
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                problems.append(f"the autosave's index could not be read ({exc}): every bank file found was "
                                f"restored")
                entries = [{"name": None, "file": p.name} for p in sorted(folder.glob("*.npz"))]
                current = None
            banks = []
            for e in entries:
                file = folder / str(e.get("file", ""))
                try:
                    bank = io.load(file)
                except io.KernelFileError as exc:
                    problems.append(f"{e.get('name') or file.name}: {exc}; kept as {_keep_unreadable(file)}")
                    continue
                if e.get("name") and bank.name != e["name"]:
                    bank = bank.renamed(e["name"])
                if any(b.name == bank.name for b in banks):
                    continue
                banks.append(bank)
                self._written[bank.name] = bank
                self._restore_path(bank, e.get("path"))
            if banks and current not in [b.name for b in banks]:
                current = banks[-1].name
        else:
            banks, current = self._legacy(problems)
        if not banks:
            return [], None, ("The autosaved banks could not be read: " + "; ".join(problems)) if problems else ""
        note = (f"Restored the working bank {current!r} from the autosave"
                + (f" and {len(banks) - 1} more bank(s) of the last session" if len(banks) > 1 else ""))
        return banks, current, note + (" (" + "; ".join(problems) + ")" if problems else "")

    def _legacy(self, problems: list[str]) -> tuple[list[KernelBank], str | None]:
        """The single working bank of an older version's autosave."""
        path = paths.user_files() / LEGACY_AUTOSAVE
        if not path.exists():
            return [], None
        try:
            bank = io.load(path)
        except io.KernelFileError as exc:
            problems.append(f"{exc}; kept as {_keep_unreadable(path)}")
            return [], None
        self._restore_path(bank, self.settings.value("kernels/path", "", str))
        self.from_legacy = True  # the workspace autosaves it at once: the folder replaces the old file
        return [bank], bank.name

    def _restore_path(self, bank: KernelBank, path: object) -> None:
        """The file a restored bank was saved to, and what the file holds now (for "modified")."""
        if not isinstance(path, str) or not path or not Path(path).exists():
            return
        try:
            on_disk = io.load(Path(path))
        except io.KernelFileError:
            on_disk = None
        self.files[bank.name] = (Path(path), on_disk)

    def snapshot(self) -> dict[str, str]:
        """Each bank's file, for an autosave in a worker (an immutable copy)."""
        return {name: str(path) for name, (path, _) in self.files.items()}

    def autosave(self, banks: list[KernelBank], current: str, where: dict[str, str] | None = None) -> str:
        """Save every bank of the session (those changed since the last autosave; one at a time, in a worker or at
        shutdown), then the index naming them, the working one and their files; an error message, or "". Nothing
        while ``AUTOSAVE`` is off (a screenshot: it must not replace the banks a window open on this home keeps)."""
        if not AUTOSAVE:
            return ""
        folder = autosave_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            entries = []
            for bank in banks:
                file = autosave_file(bank.name)
                if self._written.get(bank.name) is not bank or not file.exists():
                    io.save(bank, file, compress=False)  # stored: a large bank's deflate took seconds
                    self._written[bank.name] = bank
                entries.append({"name": bank.name, "file": file.name, "path": (where or {}).get(bank.name)})
            atomic_write(folder / INDEX, json.dumps({"version": 1, "current": current, "banks": entries}, indent=1))
            keep = {e["file"] for e in entries}
            for old in folder.glob("*.npz"):  # banks no longer in the session
                if old.name not in keep:
                    old.unlink(missing_ok=True)
            for name in [n for n in self._written if n not in {b.name for b in banks}]:
                del self._written[name]
            (paths.user_files() / LEGACY_AUTOSAVE).unlink(missing_ok=True)  # replaced by the folder
        except io.KernelFileError as exc:
            return f"Autosave failed: {exc}"
        except OSError as exc:
            return f"Autosave failed: {folder}: {exc.strerror or exc}"
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
        """The bank in ``path``, or None after a message (the caller ``remember``s it under the name it keeps)."""
        try:
            bank = io.load(path)
        except io.KernelFileError as exc:
            QMessageBox.warning(self.parent, "Cannot open bank", f"{exc}\n\nNothing was changed.")
            return None
        self.settings.setValue("kernels/dir", str(path.parent))
        return bank

    def write(self, bank: KernelBank, path: Path) -> bool:
        try:
            io.save(bank, path)
        except io.KernelFileError as exc:
            QMessageBox.warning(self.parent, "Cannot save bank", f"{exc}\n\nThe bank is still open and autosaved.")
            return False
        self.remember(bank, path)
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
        """Each bank's file is in the autosave's index; the old single setting is not used any more."""
        self.settings.remove("kernels/path")


def _keep_unreadable(path: Path) -> str:
    """Move an autosave that cannot be read out of the way (never deleted: it may be recovered by hand)."""
    bad = path.with_name(path.name + ".unreadable")  # no longer *.npz: the next autosave's clean-up leaves it
    try:
        path.replace(bad)
    except OSError:
        return path.name
    return bad.name
