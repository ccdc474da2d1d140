"""The Kernel Workbench: generate, freeze, hand-edit, preview, save and load kernel banks.

A thin workspace over panels of one purpose each: left, the bank (``bank_panel``) with the generator
(``generator_panel``); centre, the editor (``editor_panel``); right, the responses (``response_panel``); the bank's
files (``files``). The workspace owns the working bank and its undo history; every change goes through
``set_bank``. All maths lives in ``app.kernels``; the responses are computed off the GUI thread
(``widgets.common.worker``), debounced, latest edit wins. Shortcuts are window-wide while the workbench is shown
(``widgets.common.workspace.install_shortcut``). ``preview()`` builds one for ``python -m widgets.preview``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QElapsedTimer, QSettings, Qt, QTimer, Slot
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox, QSplitter, QVBoxLayout, QWidget

from app.kernels import generators, io, ops
from app.kernels.bank import KernelBank, KernelBankError
from app.kernels.edit import History
from app.session import Session
from widgets.common.qt_override import qt_override
from widgets.common.worker import WorkerPool
from widgets.common.workspace import run_steps
from widgets.kernels.bank_file_actions import BankFileActions
from widgets.kernels.bank_panel import BankPanel
from widgets.kernels.defaults import default_bank
from widgets.kernels.editor_panel import EditorPanel
from widgets.kernels.files import BankFiles
from widgets.kernels.generator_panel import GeneratorPanel
from widgets.kernels.image_input import ImageInput
from widgets.kernels.response_panel import ResponsePanel
from widgets.kernels.toolbar import KernelToolbar


class KernelWorkspace(BankFileActions, ImageInput, QWidget):
    STEPWISE = True  # built in six steps (widgets.common.workspace): the start-up never blocks for all of it

    def __init__(self, session: Session, settings: QSettings, parent: QWidget | None = None, *,
                 stepwise: bool = False) -> None:
        super().__init__(parent)
        self.session = session
        self.settings = settings
        self.setAcceptDrops(True)
        self.pool = WorkerPool(self)
        self.files = BankFiles(self, settings)
        self._render_worker = None
        self._render_dirty = False
        self._selected = 0
        self._gen_worker = None
        self._image_worker = None
        self._closed = False  # shut down: results that arrive while the workers are joined start nothing new
        self._save_worker, self._save_next = None, None  # the autosave in progress, the banks to save after it
        self._image_request = 0  # the newest image asked for: a sample that loads late never replaces a newer one
        self.last_status = ""
        sample = self.settings.value("kernels/sample", "china", str)
        sample = sample if sample in ops.SAMPLE_IMAGES else "china"
        self._image: np.ndarray | None = None  # loading (the sample photographs load off the GUI thread)
        self._image_name = f"sample: {sample}.jpg"
        self._render_timer = QTimer(self, singleShot=True, interval=60)
        self._render_timer.timeout.connect(self._start_render)
        self._commit_timer = QTimer(self, singleShot=True, interval=500)
        self._commit_timer.timeout.connect(self._commit)

        self.build_steps = self._build(session, settings, sample)
        if not stepwise:
            run_steps(self.build_steps)

    def _build(self, session: Session, settings: QSettings, sample: str):
        """The panels (``_build_ui``: three steps), then the restored settings, the bank, the sample image."""
        yield from self._build_ui()
        yield
        self.gen.restore()
        self.editor.restore(settings)
        if sample in ops.SAMPLE_IMAGES:
            self.sample_combo.setCurrentIndex(ops.SAMPLE_IMAGES.index(sample))
        yield
        banks, current, note = self.files.initial()
        restored = bool(banks)
        if not banks:  # first launch (or an unreadable autosave): a useful default
            banks = [default_bank()]
        bank = next((b for b in banks if b.name == current), banks[-1])
        self.history = History(bank)
        self._unsubscribe = session.subscribe(self._on_session)
        # every bank of the last session back in the session (a Models layer may name one), the working one last;
        # shared at once, autosaved only when new (a restored bank is the autosave already)
        for other in banks:
            if other is not bank and other.name not in self.session.banks:
                self.session.put_bank(other.name, other)
        self.session.put_bank(bank.name, bank)
        self._on_bank_changed(immediate_commit=False)
        if restored and not self.files.from_legacy:
            self._commit_timer.stop()
        yield
        self._load_sample(sample)
        self._refresh_image_label()
        if note:
            self.show_status(note)

    # ======================================================================================== UI
    def _build_ui(self):
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 2, 4, 4)
        outer.setSpacing(2)
        self.toolbar = KernelToolbar(self)
        outer.addWidget(self.toolbar)
        self.gen = GeneratorPanel(self.settings)
        self.gen.generateRequested.connect(self.generate)
        self.bank_panel = BankPanel()
        self.bank_panel.insert(self.gen)
        self.bank_panel.kernelClicked.connect(self.select)
        self.bank_panel.freezeToggled.connect(self._on_freeze_toggled)
        self.bank_panel.freezeAll.connect(self.set_all_frozen)
        self.bank_panel.renameRequested.connect(self.rename_bank)
        self.bank_panel.bankChosen.connect(self._on_bank_chosen)
        yield
        self.editor = EditorPanel()
        self.editor.kernelEdited.connect(self._on_kernel_edited)
        self.editor.message.connect(self.show_status)
        yield
        self.responses = ResponsePanel()
        self.responses.kernelClicked.connect(self.select)
        self.responses.centreChanged.connect(self._schedule_render)
        self.toolbar.build(self)
        self.sample_combo, self.title_label = self.toolbar.sample_combo, self.toolbar.title_label
        split = QSplitter(Qt.Orientation.Horizontal, self)
        outer.addWidget(split, 1)
        for w, stretch in ((self.bank_panel, 0), (self.editor, 1), (self.responses, 1)):
            split.addWidget(w)
            split.setStretchFactor(split.count() - 1, stretch)
        split.setSizes([330, 470, 600])
        self.splitter = split

    def _save_settings(self) -> None:
        self.gen.save()
        self.editor.save(self.settings)
        self.files.save_settings()

    # ======================================================================================= the bank
    @property
    def bank(self) -> KernelBank:
        return self.history.bank

    @property
    def selected(self) -> int:
        return self._selected

    @property
    def views(self) -> ops.Views | None:
        return self.responses.views

    def set_bank(self, bank: KernelBank, label: str, merge_key: object = None) -> None:
        """Every change of the working bank goes through here (undoable)."""
        self.history.push(bank, label, merge_key)
        self._on_bank_changed()

    def _on_bank_changed(self, immediate_commit: bool = False) -> None:
        self._selected = max(0, min(self._selected, self.bank.out_channels - 1))
        self._refresh()
        self._schedule_render()
        if immediate_commit:
            self._commit()
        else:
            self._commit_timer.start()

    def _refresh(self) -> None:
        bank = self.bank
        self.bank_panel.show_bank(bank, self._selected, list(self.session.banks))
        self.editor.show_kernel(bank, self._selected)
        self.responses.highlight(self._selected)
        self.title_label.setText(self.files.describe(bank))
        self.undo_act.setEnabled(self.history.can_undo())
        self.redo_act.setEnabled(self.history.can_redo())
        self.undo_act.setToolTip(f"Undo {self.history.undo_label()} (Ctrl+Z)")
        self.redo_act.setToolTip(f"Redo {self.history.redo_label()} (Ctrl+Shift+Z)")

    @Slot()
    def _commit(self) -> None:
        """Share the bank with the session and autosave every bank of the session (debounced while painting)."""
        self._commit_timer.stop()
        bank = self.bank
        if self.session.banks.get(bank.name) is not bank:
            self.session.put_bank(bank.name, bank)
        banks = [b for b in self.session.banks.values() if isinstance(b, KernelBank)]
        self._autosave((tuple(banks), bank.name, self.files.snapshot()))

    def _autosave(self, job: tuple) -> None:
        """In a worker (two fsyncs per file: 30-200 ms of the GUI thread on a busy disk), one at a time, the newest
        banks last; once shut down, here (the workers are joined by then). ``job``: (banks, working bank's name, each
        bank's file), immutable."""
        if self._closed:
            self._on_autosaved(self.files.autosave(*job))
        elif self._save_worker is not None and self._save_worker.is_running():
            self._save_next = job
        else:
            self._save_next = None
            w = self._save_worker = self.pool.start(lambda t: self.files.autosave(*job), name="autosave")
            w.on(finished=self._on_autosaved, failed=lambda msg: self._on_autosaved(f"Autosave failed: {msg}"))

    @Slot(object)
    def _on_autosaved(self, problem: str) -> None:
        if problem:
            self.show_status(problem)
        if self._save_next is not None and not self._closed:
            self._autosave(self._save_next)

    def _on_session(self, kind: str, name: str) -> None:
        if kind == "banks":
            self.bank_panel.show_names(list(self.session.banks), self.bank.name)

    @Slot()
    def rename_bank(self) -> None:
        old = self.bank.name
        name, ok = QInputDialog.getText(self, "Rename bank", "New name:", text=old)
        name = name.strip() if ok else ""
        if not name or name == old:
            return
        if name in self.session.banks:
            QMessageBox.warning(self, "Cannot rename", f"A bank called {name!r} already exists in this session.")
            return
        self._commit_timer.stop()
        self.set_bank(self.bank.renamed(name), f"rename to {name}")
        self.session.remove_bank(old)
        self.files.renamed(old, name)
        self._commit()
        self._refresh()  # its title: the file moved to the new name after set_bank showed it ("not saved to a file")
        self.show_status(f"Renamed {old!r} to {name!r}")

    @Slot(str)
    def _on_bank_chosen(self, name: str) -> None:
        other = self.session.banks.get(name)
        if other is not None and other is not self.bank:
            self._commit()
            self.set_bank(other, f"switch to {name}")

    @Slot(int)
    def select(self, index: int) -> None:
        if not 0 <= index < self.bank.out_channels or index == self._selected:
            return
        self._selected = index
        self._refresh()

    # ======================================================================================= generating
    @Slot()
    def generate(self) -> None:
        if self.generating():
            return
        req = self.gen.request()
        self._save_settings()
        make = lambda: generators.generate(*req.args(), name=req.name, **req.params)  # noqa: E731
        if req.kind == "patches":  # loads a dataset: off the GUI thread
            self.gen.set_busy(True)
            w = self.pool.start(lambda token: make(), name="generate patches")
            w.on(finished=self._on_generated, failed=lambda m: QMessageBox.warning(self, "Cannot generate", m),
                 done=lambda: self.gen.set_busy(False))
            self._gen_worker = w
            return
        try:
            new = make()
        except KernelBankError as exc:
            QMessageBox.warning(self, "Cannot generate", str(exc))
            return
        self._on_generated(new)

    @Slot(object)
    def _on_generated(self, new: KernelBank) -> None:
        self._commit()  # first: a stroke painted a moment ago is in the session (its debounced commit had not fired)
        if _numbered(self.bank.name, new.name):  # the working "<kind> bank (2)": replaced (undoable), as at its name
            new = new.renamed(self.bank.name)
        elif new.name != self.bank.name and new.name in self.session.banks:
            # a generated bank replaces the working bank (undoable), never another bank of the session that has its
            # name (an edited "kaiming-normal bank" saved to a file was replaced, and its file taken over)
            new = new.renamed(Session.unique_name(self.session.banks, new.name))
        kind = new.meta.get("generator", "")
        self.set_bank(new, f"generate {kind}")
        self.show_status(f"Generated {new.out_channels} {kind} kernels of {new.size}x{new.size}")

    def generating(self) -> bool:
        return self._gen_worker is not None and self._gen_worker.is_running()

    @Slot()
    def new_bank(self) -> None:
        self._commit()  # first: a bank painted a moment ago is in the session (its debounced commit had not fired,
        # and the new bank took its name and replaced it)
        name = Session.unique_name(self.session.banks, "new bank")
        req = self.gen.request()
        shape = (req.count, req.in_channels, req.size, req.size)
        self.set_bank(KernelBank(np.zeros(shape, np.float32), None, name, {"generator": "empty"}), "new bank")
        self.show_status(f"New empty bank {name!r}: paint kernels in the editor or Generate")

    # ======================================================================================= freezing, editing
    @Slot(bool)
    def _on_freeze_toggled(self, checked: bool) -> None:
        self.set_bank(self.bank.with_frozen(self._selected, checked),
                      f"{'freeze' if checked else 'unfreeze'} kernel {self._selected + 1}")

    @Slot()
    def toggle_freeze_selected(self) -> None:
        self.bank_panel.freeze_button.toggle()

    @Slot(bool)
    def set_all_frozen(self, flag: bool) -> None:
        self.set_bank(self.bank.with_frozen(None, flag), "freeze all" if flag else "unfreeze all")

    @Slot(object, str, object)
    def _on_kernel_edited(self, kernel: np.ndarray, label: str, merge_key: object) -> None:
        self.set_bank(self.bank.with_kernel(self._selected, kernel), label, merge_key)

    @Slot()
    def undo(self) -> None:
        self._step(self.history.can_undo(), self.history.undo_label(), self.history.undo, "Undid")

    @Slot()
    def redo(self) -> None:
        self._step(self.history.can_redo(), self.history.redo_label(), self.history.redo, "Redid")

    def _step(self, can: bool, label: str, step, verb: str) -> None:
        if can:
            before = self.bank
            step()
            if label.startswith("rename to ") and before.name != self.bank.name:
                # a rename undone or redone: the bank goes back to its other name, in the session and for its file
                # (the name it leaves would stay behind as a stale copy)
                if self.session.banks.get(before.name) is before:
                    self.session.remove_bank(before.name)
                self.files.renamed(before.name, self.bank.name)
                self._commit()
            self._on_bank_changed()
            self.show_status(f"{verb} {label}")

    # ======================================================================================= rendering
    @Slot()
    def _schedule_render(self) -> None:
        self._render_timer.start()

    @Slot()
    def _start_render(self) -> None:
        if self._render_worker is not None and self._render_worker.is_running():
            self._render_dirty = True
            return
        if self._image is None or self._closed:  # the sample is loading: set_image renders when it arrives
            return
        self._render_dirty = False
        bank, image, centre = self.bank, self._image, self.responses.centre()  # immutable snapshots
        w = self.pool.start(lambda token: ops.compute_views(bank, image, centre=centre), name="kernel responses")
        w.on(finished=self._on_views,
             failed=lambda m: self.responses.render_label.setText(f"Could not compute the responses: {m}"),
             done=self._on_render_done)
        self._render_worker = w

    @Slot(object)
    def _on_views(self, views: ops.Views) -> None:
        self.responses.show_views(views, self._selected)
        self._refresh_image_label()
    @Slot()
    def _on_render_done(self) -> None:
        if self._render_dirty:
            self._render_dirty = False
            self._schedule_render()

    def busy(self) -> bool:
        loading = self._image_worker is not None and self._image_worker.is_running()
        running = loading or (self._render_worker is not None and self._render_worker.is_running())
        return running or self._render_timer.isActive() or self._render_dirty

    def wait_ready(self, timeout_ms: int) -> None:
        timer = QElapsedTimer()
        timer.start()
        while timer.elapsed() < timeout_ms:
            QApplication.processEvents()
            if not self.busy():
                return
            time.sleep(0.005)

    # ======================================================================================= drag & drop
    @qt_override
    def dragEnterEvent(self, ev) -> None:  # noqa: N802
        urls = ev.mimeData().urls() if ev.mimeData().hasUrls() else []
        exts = io.EXTENSIONS + ops.IMAGE_EXTENSIONS
        ev.acceptProposedAction() if any(Path(u.toLocalFile()).suffix.lower() in exts for u in urls) else ev.ignore()

    @qt_override
    def dropEvent(self, ev) -> None:  # noqa: N802
        for u in ev.mimeData().urls():
            self.open_dropped(Path(u.toLocalFile()))
        ev.acceptProposedAction()

    def open_dropped(self, path: Path) -> bool:
        ext = path.suffix.lower()
        if ext in io.EXTENSIONS:
            return self.open_bank_file(path)
        if ext in ops.IMAGE_EXTENSIONS:
            return self.open_image_file(path)
        QMessageBox.warning(self, "Cannot open", f"{path.name}: not a bank (.json, .npz, .npy) or an image")
        return False

    # ======================================================================================= the protocol
    def show_status(self, text: str) -> None:
        win = self.window()
        bar = getattr(win, "statusBar", None)
        if callable(bar) and win is not self:
            bar().showMessage(text, 8000)
        self.responses.render_label.setToolTip(text)
        self.last_status = text

    def set_active(self, active: bool) -> None:
        """Shown (True) or hidden (False): the shortcuts follow visibility (``install_shortcut``)."""
        if active and self._render_dirty:
            self._schedule_render()

    def shortcuts(self) -> list[str]:
        return [
            "Ctrl+N / Ctrl+O / Ctrl+S / Ctrl+Shift+S: new, open, save, save bank as",
            "Ctrl+G: generate · Ctrl+L: freeze/unfreeze the selected kernel · Alt+Left/Right: previous/next kernel",
            "Ctrl+Z / Ctrl+Shift+Z: undo / redo · Ctrl+C / Ctrl+V: copy / paste a kernel · Ctrl+I: open an image",
            "Editor: arrows move, Space paints, Delete sets 0, Enter or a digit types a value, Shift+click picks",
        ]

    def shutdown(self) -> None:
        """Stop every worker and timer; share and autosave the working bank."""
        self._closed = True
        self._render_timer.stop()
        pending = self._commit_timer.isActive() or self._save_next is not None
        self._commit_timer.stop()
        self._save_settings()
        self.pool.shutdown()  # joins an autosave in progress
        if pending:
            self._commit()  # shut down: saved now, on this thread
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


def _numbered(name: str, base: str) -> bool:
    """``name`` is ``base`` numbered by ``Session.unique_name``: "kaiming-normal bank (2)"."""
    return re.fullmatch(re.escape(base) + r" \(\d+\)", name) is not None
