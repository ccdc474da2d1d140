""""Your model" (Models workspace, Ctrl+Shift+O): open a trained CNN the user has (TorchScript, ONNX, timm by name
with a weights file, a state dict of an app architecture), add it and its random twin to the session (Live and
Probe list them), its first conv as a Workbench bank, and its architecture as a read-only tree whose modules tap
Live.

Loading runs off the GUI thread (``app.models.external.opened``: ``peek_task`` then ``open_task``); errors come as
messages in the banner. A file without an input spec in its metadata asks for one (``input_dialog``), prefilled
with its channels and the size it fixes (``peek_prefill``); the answer is remembered for the file once the model
built with it. "Change input…" asks again for the selected model and rebuilds it in place. Opening a file that is
open and unchanged on disk selects the model that holds it (``open_files``); a changed file is opened again.

Opened models the session brought back from the last launch (and any other opened model put in the session) are
listed too: once the panel is shown, each is rebuilt off the GUI thread, one at a time, for its layers and tree
(``_restore_next``); nothing is added to the session or the Workbench again.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Generator

from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtWidgets import (QComboBox, QDialog, QFileDialog, QHBoxLayout, QLabel, QPushButton, QSpinBox, QSplitter,
                               QVBoxLayout, QWidget)

from app.models import session_models
from app.models.external import twin_spec
from app.models.external.opened import Opened, Peek, open_task, peek_task
from app.models.inputs import InputSpec
from app.models.spec import ModelSpec
from app.session import Session
from app.tasks import CancelToken, Cancelled, Progress
from widgets.common.elided_combo import ElidedCombo
from widgets.common.qt_override import qt_override
from widgets.common.settings import read_str
from widgets.common.worker import WorkerPool
from widgets.models.arch_tree import ArchTree
from widgets.models.builder_form import INITS
from widgets.models.input_dialog import Prefill, ask_input, forget, remember, remembered
from widgets.models.open_files import OpenFiles
from widgets.models.timm_dialog import TimmDialog  # noqa: F401  (its old home: tests reach it here)
from widgets.models.words import gui_advice

FILTER = ("Models (*.pt *.pth *.ts *.th *.onnx *.safetensors *.bin);;TorchScript (*.pt *.pth *.ts);;ONNX (*.onnx);;"
          "State dicts (*.safetensors *.pth *.pt *.bin);;All files (*)")


def splitter(orientation: Qt.Orientation, *parts: tuple[QWidget, int, int]) -> QSplitter:
    """A splitter of (widget, stretch, initial size) parts whose children never collapse."""
    sp = QSplitter(orientation)
    for i, (w, stretch, _size) in enumerate(parts):
        sp.addWidget(w)
        sp.setStretchFactor(i, stretch)
    sp.setSizes([size for _w, _s, size in parts])
    sp.setChildrenCollapsible(False)
    return sp


def widen_for_tree(sp: QSplitter, tree: bool) -> None:
    """The architecture tree wants more room on the left than the builder form."""
    total = sum(sp.sizes())
    left = max(380, min(560, total // 3)) if tree else 380
    sp.setSizes([left, max(1, total - left)])


def peek_prefill(source: str, weights: str | None, ask: bool, cancel: CancelToken | None = None
                 ) -> Generator[Progress, None, tuple[Peek, Prefill | None]]:
    """``peek_task``, and when the input will be asked (``ask``, no input in the file): the size the file fixes (a
    static shape, the only size the model runs at), found by opening it as it is, else the size its metadata states
    without a normalisation (``Peek.size``); None when none is found."""
    peek = yield from peek_task(source, weights, cancel)
    if not ask or peek.spec.input is not None:
        return peek, None
    stated = Prefill(size=peek.size) if peek.size else None
    try:
        o = yield from open_task(peek.spec, cancel)
    except Cancelled:
        raise
    except Exception:  # only a prefill: the build with the user's answer says what is wrong
        return peek, stated
    if not o.summary.get("fixed_input_size"):
        return peek, stated
    c, h, w = o.default_input
    return dataclasses.replace(peek, channels=int(c)), Prefill(size=(int(h), int(w)))


NONE_YET = "no model opened yet: Open model… above"


class OwnModelPanel(QWidget):
    opened = Signal(str)  # session name of a model (or twin) just added

    def __init__(self, session: Session, settings: QSettings, pool: WorkerPool, parent: QWidget | None = None):
        super().__init__(parent)
        self.session, self.settings, self.pool = session, settings, pool
        self.entries: dict[str, tuple[Opened, ModelSpec]] = {}  # session name -> (snapshot, the trained spec)
        self.running: list = []
        self.files = OpenFiles()  # the file each listed model was read from, as it was then
        self._restoring: str | None = None  # the session model being rebuilt for the list (``_restore_next``)
        self._not_restored: set[str] = set()  # session models that did not build here: not tried again
        self._relisted: list[str] = []  # the session models listed again by ``_restore_next``
        # (parent, name, channels[, prefill]) -> InputSpec | None; tests replace it (prefill given only when known)
        self.ask_input = ask_input

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        self.open_btn = QPushButton("Open model…")
        self.open_btn.setToolTip("Open a TorchScript (.pt), ONNX (.onnx) or state-dict file (Ctrl+Shift+O)")
        self.open_btn.clicked.connect(self.choose_file)
        self.timm_btn = QPushButton("timm architecture…")
        self.timm_btn.setToolTip("A timm model by name with a local weights file (pip install .[timm])")
        self.timm_btn.clicked.connect(self.choose_timm)
        row.addWidget(self.open_btn, 1)
        row.addWidget(self.timm_btn)
        lay.addLayout(row)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.setStyleSheet("background: #fde8e8; color: #8b0000; padding: 6px; border-radius: 3px;")
        self.banner.hide()
        lay.addWidget(self.banner)
        self.model_combo = ElidedCombo()  # a long file name elides ("…"); the tooltip holds it whole
        self.model_combo.set_about("Opened models and their random twins (all in the session)")
        self.model_combo.setPlaceholderText(NONE_YET)
        self.model_combo.currentIndexChanged.connect(self._show_current)
        self.input_btn = QPushButton("Change input…")
        self.input_btn.setToolTip("Choose the selected model's input again (channels, size, normalisation): it is "
                                  "rebuilt with it, and a file without its own input remembers the new answer")
        self.input_btn.clicked.connect(self.change_input)
        self.input_btn.setEnabled(False)
        pick = QHBoxLayout()
        pick.addWidget(self.model_combo, 1)
        pick.addWidget(self.input_btn)
        lay.addLayout(pick)
        self.info = QLabel("Open a trained CNN of yours: its layers appear here and in Live and Probe, its first "
                           "convolution as a Workbench bank.")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.info)
        twin = QHBoxLayout()
        self.twin_init = QComboBox()
        for key, tip in INITS:
            self.twin_init.addItem(key, key)
            self.twin_init.setItemData(self.twin_init.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.twin_seed = QSpinBox()
        self.twin_seed.setRange(0, 2**31 - 1)
        self.twin_seed.setPrefix("seed ")
        self.twin_init.setToolTip("How the random twin's weights are drawn (hover an entry for its rule)")
        self.twin_seed.setToolTip("The random twin's seed: the same seed gives the same twin")
        self.twin_init.setEnabled(False)
        self.twin_seed.setEnabled(False)
        self.twin_btn = QPushButton("Random twin")
        self.twin_btn.setToolTip("The same architecture re-initialised (seeded), added to the session next to it")
        self.twin_btn.clicked.connect(self.make_twin)
        self.twin_btn.setEnabled(False)
        twin.addWidget(self.twin_init, 1)
        twin.addWidget(self.twin_seed)
        twin.addWidget(self.twin_btn)
        lay.addLayout(twin)
        self.tree = ArchTree()
        self.tree.tapRequested.connect(self._on_tap)
        lay.addWidget(self.tree, 1)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #333;")
        lay.addWidget(self.status)

    # ============================================================================================ opening
    @Slot()
    def choose_file(self) -> None:
        start = read_str(self.settings, "models/own_dir", str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(self, "Open model", start, FILTER)
        if path:
            self.settings.setValue("models/own_dir", str(Path(path).parent))
            self.open_source(path)

    @Slot()
    def choose_timm(self) -> None:
        dlg = TimmDialog(read_str(self.settings, "models/timm_name", ""), "", self)
        if dlg.exec() != QDialog.DialogCode.Accepted or not dlg.name.text().strip():
            return
        name = dlg.name.text().strip()
        self.settings.setValue("models/timm_name", name)
        self.open_source(name if name.startswith("timm:") else f"timm:{name}", dlg.weights.text().strip() or None)

    def busy(self) -> bool:
        return bool(self.running)

    def _start(self, make, done, what: str, failed=None, quiet: bool = False) -> None:
        if not quiet:
            self.banner.hide()
            self.status.setText(what)
        w = self.pool.start(make, name=what)
        self.running.append(w)
        w.on(progress=None if quiet else (lambda p: self.status.setText(p.message)), finished=done,
             failed=failed or self._fail,
             done=lambda w=w: self.running.remove(w) if w in self.running else None)

    def open_source(self, source: str, weights: str | None = None) -> None:
        """Open ``source`` (a file, or ``timm:NAME`` with ``weights``) off the GUI thread."""
        name = source if source.startswith("timm:") else Path(source).name
        held = self.files.unchanged(source, weights, [n for n in self.entries if n in self.session.models])
        if held is not None:  # open and unchanged on disk: show it (a second copy only cluttered every list)
            self.banner.hide()
            self.refresh(select=held)
            self.status.setText(f"{name} is already open as “{held}” and unchanged on disk: selected it (not added "
                                "again).")
            self.opened.emit(held)
            return
        ask = remembered(self.settings, source, weights) is None
        self._start(lambda token: peek_prefill(source, weights, ask, token),
                    lambda got: self._on_peek(*got, source, weights), f"Opening {name}…")

    def _ask(self, name: str, channels: int, prefill: Prefill | None) -> InputSpec | None:
        if prefill is None:
            return self.ask_input(self, name, channels)
        return self.ask_input(self, name, channels, prefill)

    def _on_peek(self, peek: Peek, prefill: Prefill | None, source: str, weights: str | None) -> None:
        spec, keep = peek.spec, None
        if spec.input is None:
            inp = remembered(self.settings, source, weights)
            if inp is None:
                inp = self._ask(spec.label, peek.channels, prefill)
                if inp is None:
                    self.status.setText(f"{spec.label} not opened (no input chosen).")
                    return
            spec, keep = dataclasses.replace(spec, input=inp), (source, weights)
        self.build(spec, spec, remember_for=keep)

    def build(self, spec: ModelSpec, base: ModelSpec, *, remember_for: tuple[str, str | None] | None = None,
              replace: str | None = None) -> None:
        """Build ``spec`` (``base``: the trained model it belongs to) and add it to the session (``replace``: as that
        session model, in its place). ``remember_for`` (source, weights): the file whose input ``spec.input`` is,
        remembered when the build succeeds and forgotten when a new one fails (the next Open asks again)."""
        def failed(msg: str) -> None:
            if remember_for is not None and not replace:  # a changed input that fails keeps the one that built
                forget(self.settings, *remember_for)
            if replace:  # a rebuild of a model that is open: it stays as it was
                self._fail(msg, f"Could not rebuild “{replace}” with this input")
                self.banner.setText(self.banner.text() + f" “{replace}” keeps the input it had and is unchanged.")
                return
            self._fail(msg)
            if remember_for is not None:
                self.banner.setText(self.banner.text() + " Open it again to choose another input.")

        def done(o: Opened) -> None:
            if remember_for is not None and spec.input is not None:
                remember(self.settings, *remember_for, spec.input)
            self._on_opened(o, base, replace)

        self._start(lambda token: open_task(spec, token), done, f"Building {spec.label} and finding its layers…",
                    failed)

    @Slot()
    def change_input(self) -> None:
        """Ask the selected model's input again, prefilled with the one it has (and the size its file fixes); rebuild
        it with the answer in its place."""
        name = self.current()
        if name is None or self.busy():
            if self.busy():
                self.status.setText("A model is being opened: change the input when it is done.")
            return
        o, base = self.entries[name]
        c, h, w = o.default_input
        fixed = (int(h), int(w)) if o.summary.get("fixed_input_size") else None
        inp = self._ask(name, int(c), Prefill(size=fixed, current=o.spec.input))
        if inp is None:
            return
        spec = dataclasses.replace(o.spec, input=inp)
        source = str(spec.kwargs.get("source") or "")
        weights = spec.weights if source.startswith("timm:") else None  # a file's own path is no weights file
        keep = (source, weights) if source and spec.weight_state == "trained" else None
        self.build(spec, dataclasses.replace(base, input=inp), remember_for=keep, replace=name)

    def _fail(self, msg: str, what: str = "Could not open the model") -> None:
        self.banner.setText(f"{what}: {gui_advice(msg)}")
        self.banner.show()
        self.status.setText("")

    def _on_opened(self, o: Opened, base: ModelSpec, replace: str | None = None) -> None:
        name = replace or session_models.new_name(self.session, o.spec.label)  # not a kept model's name either
        o = dataclasses.replace(o, spec=dataclasses.replace(o.spec, label=name))
        self.entries[name] = (o, base if base.weights else o.spec)
        self.files.read(name, o.spec)
        self.session.put_model(name, o.spec)
        if replace:
            self.refresh(select=name)
            self.status.setText(f"“{name}” rebuilt with the input {o.spec.input.describe()}.")
            self.opened.emit(name)
            return
        bank_text = o.bank_note
        if o.bank is not None:
            bank_name = Session.unique_name(self.session.banks, f"{name}: first conv")
            self.session.put_bank(bank_name, o.bank.renamed(bank_name))
            bank_text = f"First conv in the Workbench as “{bank_name}”."
        self.refresh(select=name)
        msg = f"Added “{name}” to the session: Live and Probe list it. {bank_text}"
        same = next((n for n, (e, _b) in self.entries.items() if n != name and e.spec.weight_state == "trained"
                     and dataclasses.replace(e.spec, label="") == dataclasses.replace(o.spec, label="")), None)
        older = self.files.older(name, self.entries)
        if older is not None:
            msg += (f" The file changed on disk since it was opened as “{older}”: “{name}” is the file as it is "
                    "now.")
        elif same is not None:
            msg += f" The same file with the same input is already open as “{same}”: this is a second copy."
        if o.untouched:
            msg += f" Kept as they were by the re-initialisation: {', '.join(o.untouched)}."
        self.status.setText(msg)
        self.opened.emit(name)

    # ============================================================================================ twin
    @Slot()
    def make_twin(self) -> str | None:
        cur = self.current()
        if cur is None:
            return None
        _o, base = self.entries[cur]
        init, seed = str(self.twin_init.currentData()), int(self.twin_seed.value())
        twin = twin_spec(base, init, seed)  # its label: "net.pt (random twin, seed 3)" (+ an ONNX graph's note)
        twin = dataclasses.replace(twin, input=base.input)
        same = next((n for n, s in self.session.models.items() if n in self.entries and
                     dataclasses.replace(s, label="") == dataclasses.replace(twin, label="")), None)
        if same is not None:  # already there: show it
            self.refresh(select=same)
            self.status.setText(f"“{same}” is already in the session.")
            return same
        self.build(twin, base)
        return twin.label

    # ============================================================================================ view
    def current(self) -> str | None:
        name = self.model_combo.currentData()
        return name if name in self.entries else None

    def refresh(self, select: str | None = None) -> None:
        """The combo lists the opened models still in the session (and those it brought back, once rebuilt)."""
        for n in [n for n in self.entries if n not in self.session.models]:
            del self.entries[n]
        self._restore_next()
        keep = select or self.current()
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for n in self.entries:
            self.model_combo.addItem(n, n)
        if keep in self.entries:
            self.model_combo.setCurrentIndex(list(self.entries).index(keep))
        self.model_combo.blockSignals(False)
        self.model_combo.refresh_tip()
        self._show_current()

    # ============================================================================================ restored
    @qt_override
    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self._restore_next()

    def waiting(self) -> list[str]:
        """Opened models in the session this panel does not list yet (brought back from the last launch)."""
        return [n for n, s in self.session.models.items() if getattr(s, "backbone", "") == "external"
                and n not in self.entries and n not in self._not_restored]

    def _restore_next(self) -> None:
        """Rebuild the next opened model the session holds but the list does not (one at a time, off the GUI
        thread, once the panel is shown): its layers and tree, as it is in the session (nothing is added again)."""
        todo = self.waiting()
        if self._restoring is not None or not todo or not self.isVisible():
            return
        name = self._restoring = todo[0]
        spec = self.session.models[name]

        def done(o: Opened) -> None:
            self._restoring = None
            self.model_combo.setPlaceholderText(NONE_YET)
            if self.session.models.get(name) is spec and name not in self.entries:
                self.entries[name] = (dataclasses.replace(o, spec=spec), self._trained_of(spec))
                self.files.read(name, spec)
                self._relisted.append(name)
                self.status.setText("Listed again from the last session (in Live and Probe too): "
                                    + ", ".join(f"“{n}”" for n in self._relisted) + ".")
                self.refresh(select=self.current() or name)
            self._restore_next()

        def failed(msg: str) -> None:
            self._restoring = None
            self.model_combo.setPlaceholderText(NONE_YET)
            self._not_restored.add(name)
            self.banner.setText(f"“{name}” (in the session) could not be rebuilt here: {gui_advice(msg)}")
            self.banner.show()
            self._restore_next()

        self.model_combo.setPlaceholderText(f"listing {name} (from the last session)…")
        self._start(lambda token: open_task(spec, token), done, f"Listing {name}…", failed, quiet=True)

    def _trained_of(self, spec: ModelSpec) -> ModelSpec:
        """The trained model a restored one belongs to (a twin's: the trained one of its file in the session, else
        the twin itself, whose architecture is the same)."""
        if spec.weights:
            return spec
        src = spec.kwargs.get("source")
        return next((s for s in self.session.models.values() if getattr(s, "backbone", "") == "external"
                     and s.weights and s.kwargs.get("source") == src), spec)

    @Slot()
    def _show_current(self, *_a) -> None:
        name = self.current()
        for w in (self.twin_btn, self.twin_init, self.twin_seed, self.input_btn):  # they need an opened model
            w.setEnabled(name is not None)
        if name is None:
            self.tree.clear()
            return
        o, _base = self.entries[name]
        s = o.summary
        c, h, w = o.default_input
        inp = o.spec.input.describe() if o.spec.input is not None else "the dataset's own size and statistics"
        cls = s.get("classifier")
        self.info.setText(
            f"<b>{name}</b> — {s.get('format')}, {o.spec.weight_state}<br>input: {inp}<br>"
            f"{len(o.layers)} layers found on {c}×{h}×{w}"
            + ("" if not s.get("fixed_input_size") else " (fixed size)")
            + (f"; classifier <tt>{cls}</tt> ({s.get('num_classes')} classes)" if cls else "; no linear classifier")
            + ("" if o.bank is not None else f"<br><span style='color:#8a5a00'>{o.bank_note}</span>"))
        self.tree.fill(o.rows, self.session.taps.get(name))

    @Slot(int)
    def _on_tap(self, index: int) -> None:
        name = self.current()
        if name is None:
            return
        self.session.request_tap(name, index)
        self.tree.set_tapped(index)
        layer = self.entries[name][0].layers[index][0]
        self.status.setText(f"Live shows layer {index} ({layer}) of “{name}”.")
