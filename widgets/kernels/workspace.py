"""The Kernel Workbench: generate, freeze, hand-edit, preview, save and load kernel banks.

Left: bank list, generator, bank view (click to select), freezing. Centre: the editor grid. Right: the bank's
responses on an image and its frequency responses. All maths lives in ``app.kernels``; the responses are computed
off the GUI thread (``widgets.common.worker``), debounced, latest edit wins.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch  # noqa: F401  (before Qt: this module can also run alone, python -m widgets.kernels.workspace)
from PySide6.QtCore import QElapsedTimer, QSettings, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (QApplication, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QGroupBox, QHBoxLayout, QInputDialog, QLabel, QLineEdit, QMessageBox, QPushButton, QSizePolicy,
                               QSpinBox, QSplitter, QToolBar, QVBoxLayout, QWidget)

from app import paths
from app.kernels import generators, io, ops
from app.kernels.bank import MAX_SIZE, KernelBank, KernelBankError
from app.kernels.edit import History
from app.session import Session
from widgets.kernels.grid import KernelGrid
from widgets.kernels.views import MosaicView
from widgets.common.worker import WorkerPool

AUTOSAVE_NAME = "autosave-bank.json"
BANK_FILTER = "Kernel banks (*.json *.npz *.npy);;JSON bank (*.json);;NumPy archive (*.npz);;NumPy array (*.npy)"
IMAGE_FILTER = "Images (" + " ".join("*" + e for e in ops.IMAGE_EXTENSIONS) + ")"
CHANNEL_NAMES = {3: ("R", "G", "B")}


def autosave_path() -> Path:
    return paths.user_files() / AUTOSAVE_NAME


class KernelWorkspace(QWidget):
    def __init__(self, session: Session, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.settings = settings
        self.setAcceptDrops(True)
        self.pool = WorkerPool(self)
        self._render_worker = None
        self._render_dirty = False
        self._views: ops.Views | None = None
        self._path: Path | None = None
        self._saved: KernelBank | None = None
        self._clip: np.ndarray | None = None
        self._selected = 0
        self._bank_layout: ops.MosaicLayout | None = None
        self._param_widgets: dict[str, QWidget] = {}
        self._gen_worker = None
        self.last_status = ""
        sample = self.settings.value("kernels/sample", "china", str)
        sample = sample if sample in ops.SAMPLE_IMAGES else "china"
        self._image = ops.sample_image(sample)
        self._image_name = f"sample: {sample}.jpg"

        self._render_timer = QTimer(self, singleShot=True, interval=60)
        self._render_timer.timeout.connect(self._start_render)
        self._commit_timer = QTimer(self, singleShot=True, interval=500)
        self._commit_timer.timeout.connect(self._commit)

        self._build_ui()
        self._restore_settings()
        bank, note = self._initial_bank()
        self.history = History(bank)
        self._unsubscribe = session.subscribe(self._on_session)
        self._on_bank_changed(immediate_commit=True)
        if note:
            self.show_status(note)

    # ======================================================================================== UI building
    def _build_ui(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 2, 4, 4)
        outer.setSpacing(2)
        self.toolbar = QToolBar("Kernel bank", self)
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        outer.addWidget(self.toolbar)
        self._make_actions()

        split = QSplitter(Qt.Orientation.Horizontal, self)
        outer.addWidget(split, 1)
        split.addWidget(self._build_left())
        split.addWidget(self._build_centre())
        split.addWidget(self._build_right())
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setStretchFactor(2, 1)
        split.setSizes([330, 470, 600])
        self.splitter = split

    def _act(self, text: str, slot, shortcut=None, tip: str = "", toolbar: bool = True) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            seqs = shortcut if isinstance(shortcut, list) else [shortcut]
            act.setShortcuts([QKeySequence(s) for s in seqs])
            tip = f"{tip} ({QKeySequence(seqs[0]).toString()})" if tip else QKeySequence(seqs[0]).toString()
        act.setToolTip(tip or text)
        act.setStatusTip(tip or text)
        act.triggered.connect(slot)
        self.addAction(act)
        if toolbar:
            self.toolbar.addAction(act)
        return act

    def _make_actions(self) -> None:
        self.new_act = self._act("New", self.new_bank, QKeySequence.StandardKey.New,
                                 "New empty bank with the generator's shape")
        self.open_act = self._act("Open…", self.open_bank, QKeySequence.StandardKey.Open,
                                  "Open a bank file (.json, .npz, .npy)")
        self.save_act = self._act("Save", self.save_bank, QKeySequence.StandardKey.Save, "Save the bank")
        self.save_as_act = self._act("Save As…", self.save_bank_as, "Ctrl+Shift+S", "Save the bank to a new file")
        self.toolbar.addSeparator()
        self.undo_act = self._act("Undo", self.undo, ["Ctrl+Z"], "Undo the last change")
        self.redo_act = self._act("Redo", self.redo, ["Ctrl+Shift+Z", "Ctrl+Y"], "Redo")
        self.copy_act = self._act("Copy kernel", self.copy_kernel, ["Ctrl+C"], "Copy the selected kernel")
        self.paste_act = self._act("Paste kernel", self.paste_kernel, ["Ctrl+V"],
                                   "Paste the copied kernel into the selected one")
        self.toolbar.addSeparator()
        self.image_act = self._act("Open image…", self.open_image, "Ctrl+I",
                                   "Show the responses on an image of yours (or drop one on the window)")
        self.sample_combo = QComboBox()
        for name in ops.SAMPLE_IMAGES:
            self.sample_combo.addItem(f"sample: {name}.jpg", name)
        self.sample_combo.setToolTip("Built-in sample photographs (scikit-learn)")
        self.sample_combo.activated.connect(self._on_sample)
        self.toolbar.addWidget(self.sample_combo)
        self.generate_act = self._act("Generate", self.generate, "Ctrl+G", "Generate a bank with these settings",
                                      toolbar=False)
        self.freeze_act = self._act("Freeze selected", self.toggle_freeze_selected, "Ctrl+L",
                                    "Freeze / unfreeze the selected kernel", toolbar=False)
        self.prev_act = self._act("Previous kernel", lambda: self.select(self._selected - 1), "Alt+Left",
                                  toolbar=False)
        self.next_act = self._act("Next kernel", lambda: self.select(self._selected + 1), "Alt+Right",
                                  toolbar=False)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.toolbar.addWidget(spacer)
        self.title_label = QLabel()
        self.title_label.setToolTip("The working bank (autosaved; also shared with the Models workspace)")
        self.toolbar.addWidget(self.title_label)

    def _build_left(self) -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)

        row = QHBoxLayout()
        row.addWidget(QLabel("Bank:"))
        self.bank_combo = QComboBox()
        self.bank_combo.setToolTip("Banks of this session (also used by the Models workspace); pick one to edit it")
        self.bank_combo.activated.connect(self._on_bank_combo)
        row.addWidget(self.bank_combo, 1)
        self.rename_button = QPushButton("Rename…")
        self.rename_button.setToolTip("Rename the working bank (the name the Models workspace sees)")
        self.rename_button.clicked.connect(self.rename_bank)
        row.addWidget(self.rename_button)
        lay.addLayout(row)

        gen = QGroupBox("Generate")
        form = QFormLayout(gen)
        form.setContentsMargins(6, 4, 6, 4)
        form.setVerticalSpacing(3)
        self.kind_combo = QComboBox()
        for i, k in enumerate(generators.kinds()):
            self.kind_combo.addItem(k.title, k.name)
            self.kind_combo.setItemData(i, f"{k.title}: {k.description}", Qt.ItemDataRole.ToolTipRole)
        self.kind_combo.currentIndexChanged.connect(self._on_kind)
        form.addRow("Kind", self.kind_combo)
        self.count_spin = QSpinBox(minimum=1, maximum=256, value=16)
        self.count_spin.setToolTip("Number of kernels (output channels)")
        self.size_spin = QSpinBox(minimum=1, maximum=MAX_SIZE, value=11)
        self.size_spin.setToolTip(f"Kernel side k (1..{MAX_SIZE})")
        self.in_spin = QSpinBox(minimum=1, maximum=64, value=3)
        self.in_spin.setToolTip("Input channels: 3 for RGB images, 1 for greyscale")
        self.seed_spin = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.seed_spin.setToolTip("Random seed: the same settings and seed give the same bank")
        shape_row = QHBoxLayout()
        for lbl, w in (("n", self.count_spin), ("k", self.size_spin), ("in", self.in_spin)):
            shape_row.addWidget(QLabel(lbl))
            shape_row.addWidget(w, 1)
        form.addRow("Shape", shape_row)
        form.addRow("Seed", self.seed_spin)
        self.params_box = QWidget()
        self.params_form = QFormLayout(self.params_box)
        self.params_form.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.params_box)
        post = QHBoxLayout()
        self.zero_mean_check = QCheckBox("zero mean")
        self.zero_mean_check.setToolTip("Subtract each kernel's mean (no response to flat areas)")
        self.unit_norm_check = QCheckBox("unit norm")
        self.unit_norm_check.setToolTip("Scale each kernel to L2 norm 1")
        post.addWidget(self.zero_mean_check)
        post.addWidget(self.unit_norm_check)
        form.addRow("Post", post)
        self.generate_button = QPushButton("Generate")
        self.generate_button.setToolTip("Replace the working bank by a generated one (Ctrl+G; undo with Ctrl+Z)")
        self.generate_button.clicked.connect(self.generate)
        form.addRow(self.generate_button)
        lay.addWidget(gen)

        lay.addWidget(QLabel("Bank view: click a kernel to edit it (dark frame = frozen)"))
        self.bank_view = MosaicView(tooltip="Each kernel on a blue-white-red scale around zero (RGB kernels in "
                                            "colour). Click to select; orange = selected, dark frame = frozen.")
        self.bank_view.setMinimumHeight(180)
        self.bank_view.clicked.connect(self._on_bank_click)
        lay.addWidget(self.bank_view, 1)

        frz = QHBoxLayout()
        self.freeze_button = QPushButton("Freeze selected")
        self.freeze_button.setCheckable(True)
        self.freeze_button.setToolTip("A frozen kernel is never changed by training anywhere in the app (Ctrl+L)")
        self.freeze_button.toggled.connect(self._on_freeze_toggled)
        self.freeze_all_button = QPushButton("Freeze all")
        self.freeze_all_button.setToolTip("Freeze every kernel of the bank")
        self.freeze_all_button.clicked.connect(lambda: self.set_all_frozen(True))
        self.unfreeze_all_button = QPushButton("Unfreeze all")
        self.unfreeze_all_button.setToolTip("Make every kernel trainable")
        self.unfreeze_all_button.clicked.connect(lambda: self.set_all_frozen(False))
        for b in (self.freeze_button, self.freeze_all_button, self.unfreeze_all_button):
            frz.addWidget(b)
        lay.addLayout(frz)
        self.counts_label = QLabel()
        self.counts_label.setWordWrap(True)
        self.counts_label.setToolTip("Parameters of the bank's weights (no bias)")
        lay.addWidget(self.counts_label)
        return box

    def _build_centre(self) -> QWidget:
        box = QGroupBox("Kernel editor")
        lay = QVBoxLayout(box)
        lay.setContentsMargins(6, 4, 6, 4)
        self.kernel_label = QLabel()
        lay.addWidget(self.kernel_label)
        row = QHBoxLayout()
        row.addWidget(QLabel("Brush"))
        self.brush_spin = QDoubleSpinBox(minimum=-1000.0, maximum=1000.0, decimals=4, singleStep=0.1, value=1.0)
        self.brush_spin.setToolTip("Value painted by the left button (the right button paints minus it)")
        self.brush_spin.valueChanged.connect(self._on_brush)
        row.addWidget(self.brush_spin)
        row.addWidget(QLabel("Symmetry"))
        self.symmetry_combo = QComboBox()
        for i, s in enumerate(ops.SYMMETRIES):
            self.symmetry_combo.addItem(s)
            self.symmetry_combo.setItemData(i, ops.SYMMETRY_HELP[s], Qt.ItemDataRole.ToolTipRole)
        self.symmetry_combo.setToolTip("Edits also change the symmetric cells")
        row.addWidget(self.symmetry_combo)
        lay.addLayout(row)
        row2 = QHBoxLayout()
        self.zero_sum_check = QCheckBox("zero sum")
        self.zero_sum_check.setToolTip("Keep each channel of the kernel summing to 0: the other cells shift "
                                       "by a common amount after each edit")
        self.zero_sum_check.toggled.connect(self._on_zero_sum)
        row2.addWidget(self.zero_sum_check)
        row2.addWidget(QLabel("Channel"))
        self.channel_combo = QComboBox()
        self.channel_combo.setToolTip("Input channel to edit (RGB kernels have one grid per channel)")
        self.channel_combo.currentIndexChanged.connect(lambda _: self._refresh_editor())
        row2.addWidget(self.channel_combo)
        self.symmetrize_button = QPushButton("Symmetrize")
        self.symmetrize_button.setToolTip("Make the kernel symmetric under the chosen symmetry (average)")
        self.symmetrize_button.clicked.connect(self.symmetrize)
        row2.addWidget(self.symmetrize_button)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Set every cell of this channel to 0")
        self.clear_button.clicked.connect(self.clear_kernel)
        row2.addWidget(self.clear_button)
        row2.addStretch(1)
        lay.addLayout(row2)
        self.grid = KernelGrid()
        self.grid.paintRequested.connect(self._on_paint)
        self.grid.valueEntered.connect(self._on_value)
        self.grid.invalidValue.connect(self._on_invalid_value)
        self.grid.pickRequested.connect(self.brush_spin.setValue)
        self.grid.cursorMoved.connect(self._on_cursor)
        lay.addWidget(self.grid, 1)
        self.cell_label = QLabel()
        lay.addWidget(self.cell_label)
        return box

    def _build_right(self) -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        self.image_label = QLabel()
        lay.addWidget(self.image_label)
        top = QHBoxLayout()
        self.input_view = MosaicView(tooltip="The image the responses are computed on (downscaled to 256 px; less for "
                                             "banks of more than 32 kernels)")
        self.input_view.setMaximumHeight(150)
        top.addWidget(self.input_view, 1)
        lay.addLayout(top)
        lay.addWidget(QLabel("Responses on the image (blue < 0 < red, each scaled to its own range)"))
        self.response_view = MosaicView(tooltip="Each kernel applied to the image (as a CNN layer: cross-correlation, "
                                                "same size, borders replicated). Click a response to select its "
                                                "kernel.")
        self.response_view.clicked.connect(self._on_response_click)
        lay.addWidget(self.response_view, 3)
        lay.addWidget(QLabel("Frequency response |FFT| (centre = DC, bright = passes)"))
        self.fft_view = MosaicView(tooltip="Magnitude of each kernel's 2-D FFT (zero-padded to 32x32, fftshifted)")
        self.fft_view.clicked.connect(self._on_fft_click)
        lay.addWidget(self.fft_view, 2)
        self.render_label = QLabel()
        lay.addWidget(self.render_label)
        return box

    # ======================================================================================= settings
    def _restore_settings(self) -> None:
        s = self.settings
        kind = s.value("kernels/kind", "gabor", str)
        idx = self.kind_combo.findData(kind)
        self.kind_combo.setCurrentIndex(idx if idx >= 0 else self.kind_combo.findData("gabor"))
        self._on_kind()
        for spin, key in ((self.count_spin, "count"), (self.size_spin, "size"), (self.in_spin, "in_channels"),
                          (self.seed_spin, "seed")):
            try:
                spin.setValue(int(s.value(f"kernels/{key}", spin.value())))
            except (TypeError, ValueError):
                pass
        self.zero_mean_check.setChecked(s.value("kernels/zero_mean", False, bool))
        self.unit_norm_check.setChecked(s.value("kernels/unit_norm", False, bool))
        sym = s.value("kernels/symmetry", "none", str)
        if sym in ops.SYMMETRIES:
            self.symmetry_combo.setCurrentText(sym)
        try:
            self.brush_spin.setValue(float(s.value("kernels/brush", 1.0)))
        except (TypeError, ValueError):
            pass
        sample = s.value("kernels/sample", "china", str)
        if sample in ops.SAMPLE_IMAGES:
            self.sample_combo.setCurrentIndex(ops.SAMPLE_IMAGES.index(sample))
            self._image_name = f"sample: {sample}.jpg"

    def _save_settings(self) -> None:
        s = self.settings
        s.setValue("kernels/kind", self.kind_combo.currentData())
        s.setValue("kernels/count", self.count_spin.value())
        s.setValue("kernels/size", self.size_spin.value())
        s.setValue("kernels/in_channels", self.in_spin.value())
        s.setValue("kernels/seed", self.seed_spin.value())
        s.setValue("kernels/zero_mean", self.zero_mean_check.isChecked())
        s.setValue("kernels/unit_norm", self.unit_norm_check.isChecked())
        s.setValue("kernels/symmetry", self.symmetry_combo.currentText())
        s.setValue("kernels/brush", self.brush_spin.value())
        s.setValue(f"kernels/params/{self.kind_combo.currentData()}", json.dumps(self._param_values()))
        s.setValue("kernels/path", str(self._path) if self._path else "")

    # ======================================================================================= the bank
    def _initial_bank(self) -> tuple[KernelBank, str]:
        """The autosaved working bank, or a useful default (a Gabor bank) on first launch."""
        path = autosave_path()
        note = ""
        if path.exists():
            try:
                bank = io.load(path)
                saved = self.settings.value("kernels/path", "", str)
                if saved and Path(saved).exists():
                    self._path = Path(saved)
                    try:
                        self._saved = io.load(self._path)
                    except io.KernelFileError:
                        self._saved = None
                return bank, f"Restored the working bank {bank.name!r} from the autosave"
            except io.KernelFileError as exc:
                bad = path.with_name("autosave-bank.unreadable.json")
                try:
                    path.replace(bad)
                except OSError:
                    pass
                note = f"The autosaved bank could not be read ({exc}); it was kept as {bad.name}"
        bank = generators.generate("gabor", 16, 11, 3, seed=0, name="gabor bank")
        return bank, note

    @property
    def bank(self) -> KernelBank:
        return self.history.bank

    def set_bank(self, bank: KernelBank, label: str, merge_key: object = None) -> None:
        """Every change of the working bank goes through here (undoable)."""
        self.history.push(bank, label, merge_key)
        self._on_bank_changed()

    def _on_bank_changed(self, immediate_commit: bool = False) -> None:
        bank = self.bank
        self._selected = max(0, min(self._selected, bank.out_channels - 1))
        self._refresh_channels()
        self._refresh_bank_view()
        self._refresh_editor()
        self._refresh_labels()
        self._schedule_render()
        if immediate_commit:
            self._commit()
        else:
            self._commit_timer.start()

    @Slot()
    def _commit(self) -> None:
        """Share the bank with the session and autosave it (debounced while painting)."""
        self._commit_timer.stop()
        bank = self.bank
        if self.session.banks.get(bank.name) is not bank:
            self.session.put_bank(bank.name, bank)
        try:
            io.save(bank, autosave_path())
        except io.KernelFileError as exc:
            self.show_status(f"Autosave failed: {exc}")

    def _refresh_channels(self) -> None:
        c = self.bank.in_channels
        if self.channel_combo.count() == c + (1 if c > 1 else 0):
            return
        self.channel_combo.blockSignals(True)
        self.channel_combo.clear()
        if c > 1:
            self.channel_combo.addItem("all (same values)", -1)
        names = CHANNEL_NAMES.get(c, tuple(str(i) for i in range(c)))
        for i in range(c):
            self.channel_combo.addItem(f"{i}: {names[i]}" if c == 3 else names[i], i)
        self.channel_combo.setCurrentIndex(0)
        self.channel_combo.setEnabled(c > 1)
        self.channel_combo.blockSignals(False)

    def _channel(self) -> int:
        d = self.channel_combo.currentData()
        return -1 if d is None else int(d)

    def _refresh_bank_view(self) -> None:
        rgb, self._bank_layout = ops.bank_mosaic(self.bank, self._selected)
        self.bank_view.set_rgb(rgb)

    def _refresh_editor(self) -> None:
        k = self.bank.kernel(self._selected)
        ch = self._channel()
        values = k.mean(0) if ch < 0 else k[ch]
        colors, dark = ops.cell_colors(values, float(np.abs(k).max()) or None)
        self.grid.set_kernel(values, colors, dark)
        self._on_cursor(*self.grid.cursor_rc)

    def _refresh_labels(self) -> None:
        bank = self.bank
        self.counts_label.setText(bank.counts_text())
        frozen = bool(bank.frozen[self._selected])
        self.freeze_button.blockSignals(True)
        self.freeze_button.setChecked(frozen)
        self.freeze_button.setText("Frozen (click to unfreeze)" if frozen else "Freeze selected")
        self.freeze_button.blockSignals(False)
        self.kernel_label.setText(f"Kernel {self._selected + 1} of {bank.out_channels} · {bank.in_channels} x "
                                  f"{bank.size} x {bank.size}" + (" · frozen" if frozen else " · trainable"))
        mod = self._saved is None or not self._saved.equals(bank)
        where = self._path.name if self._path else "not saved to a file"
        self.title_label.setText(f"<b>{bank.name}</b> · {where}{' · modified' if mod and self._path else ''}")
        self.undo_act.setEnabled(self.history.can_undo())
        self.redo_act.setEnabled(self.history.can_redo())
        self.undo_act.setToolTip(f"Undo {self.history.undo_label()} (Ctrl+Z)")
        self.redo_act.setToolTip(f"Redo {self.history.redo_label()} (Ctrl+Shift+Z)")
        self._refresh_bank_combo()

    def _refresh_bank_combo(self) -> None:
        names = list(self.session.banks)
        if self.bank.name not in names:
            names.append(self.bank.name)
        self.bank_combo.blockSignals(True)
        if [self.bank_combo.itemText(i) for i in range(self.bank_combo.count())] != names:
            self.bank_combo.clear()
            self.bank_combo.addItems(names)
        self.bank_combo.setCurrentText(self.bank.name)
        self.bank_combo.blockSignals(False)

    def _on_session(self, kind: str, name: str) -> None:
        if kind == "banks":
            self._refresh_bank_combo()

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
        self._commit()
        self.show_status(f"Renamed {old!r} to {name!r}")

    @Slot(int)
    def _on_bank_combo(self, index: int) -> None:
        name = self.bank_combo.itemText(index)
        other = self.session.banks.get(name)
        if other is not None and other is not self.bank:
            self._commit()
            self.set_bank(other, f"switch to {name}")

    # ======================================================================================= selection
    def select(self, index: int) -> None:
        if not 0 <= index < self.bank.out_channels or index == self._selected:
            return
        self._selected = index
        self._refresh_bank_view()
        self._refresh_editor()
        self._refresh_labels()
        self._refresh_highlights()

    def _refresh_highlights(self) -> None:
        """Frame the selected kernel's response and spectrum (drawn over the mosaics, no recomputation)."""
        v = self._views
        for view, lay in ((self.response_view, v.responses_layout if v else None),
                          (self.fft_view, v.fft_layout if v else None)):
            if lay is None or self._selected >= lay.count:
                view.set_highlight(None)
            else:
                y, x = lay.origin(self._selected)
                g = lay.gap / 2
                view.set_highlight((x - g, y - g, lay.tile_w + 2 * g, lay.tile_h + 2 * g))

    @property
    def selected(self) -> int:
        return self._selected

    @Slot(float, float)
    def _on_bank_click(self, x: float, y: float) -> None:
        i = self._bank_layout.index_at(x, y) if self._bank_layout else None
        if i is not None:
            self.select(i)

    @Slot(float, float)
    def _on_response_click(self, x: float, y: float) -> None:
        if self._views is not None:
            i = self._views.responses_layout.index_at(x, y)
            if i is not None:
                self.select(i)

    @Slot(float, float)
    def _on_fft_click(self, x: float, y: float) -> None:
        if self._views is not None:
            i = self._views.fft_layout.index_at(x, y)
            if i is not None:
                self.select(i)

    # ======================================================================================= generating
    def _on_kind(self, *_args) -> None:
        kind = generators.KINDS[self.kind_combo.currentData()]
        self.kind_combo.setToolTip(f"{kind.title}: {kind.description}")
        while self.params_form.rowCount():
            self.params_form.removeRow(0)
        self._param_widgets = {}
        try:
            saved = json.loads(self.settings.value(f"kernels/params/{kind.name}", "{}", str) or "{}")
        except (json.JSONDecodeError, TypeError):
            saved = {}
        for p in kind.params:
            value = saved.get(p.name, p.default)
            if isinstance(p.default, str):
                w = QLineEdit(str(value))
            elif isinstance(p.default, int) and not isinstance(p.default, bool):
                w = QSpinBox(minimum=int(p.minimum or 0), maximum=int(p.maximum or 10**6))
                if "(0: " in p.help and int(p.minimum or 0) == 0:
                    w.setSpecialValueText("auto")  # 0 means "chosen for you" (see the tooltip)
                w.setValue(int(value))
            else:
                w = QDoubleSpinBox(minimum=float(p.minimum or 0.0), maximum=float(p.maximum or 1e6), decimals=4,
                                   singleStep=0.05)
                w.setValue(float(value))
            w.setToolTip(p.help)
            label = QLabel(p.name.replace("_", " "))
            label.setToolTip(p.help)
            self.params_form.addRow(label, w)
            self._param_widgets[p.name] = w
        avail = None
        if kind.structured and kind.name != "gabor":
            avail = generators.available(kind.name, self.size_spin.value())
        self.count_spin.setToolTip("Number of kernels (output channels)" +
                                   (f"; {kind.title} has {avail} at this size" if avail else ""))
        self.seed_spin.setEnabled(kind.random)

    def _param_values(self) -> dict:
        out = {}
        for name, w in self._param_widgets.items():
            out[name] = w.text().strip() if isinstance(w, QLineEdit) else w.value()
        return out

    def _generate_args(self) -> tuple[tuple, dict]:
        return ((self.kind_combo.currentData(), self.count_spin.value(), self.size_spin.value(), self.in_spin.value(),
                 self.seed_spin.value(), self.zero_mean_check.isChecked(), self.unit_norm_check.isChecked()),
                dict(name=self.bank.name, **self._param_values()))

    @Slot()
    def generate(self) -> None:
        if self._gen_worker is not None and self._gen_worker.is_running():
            return
        args, kw = self._generate_args()
        self._save_settings()
        if args[0] == "patches":  # loads a dataset: off the GUI thread
            self.generate_button.setEnabled(False)
            self.generate_button.setText("Generating… (loading the dataset)")
            w = self.pool.start(lambda token: generators.generate(*args, **kw), name="generate patches")
            w.finished.connect(self._on_generated)
            w.failed.connect(self._on_generate_failed)
            w.done.connect(self._on_generate_done)
            self._gen_worker = w
            return
        try:
            new = generators.generate(*args, **kw)
        except KernelBankError as exc:
            QMessageBox.warning(self, "Cannot generate", str(exc))
            return
        self._on_generated(new)

    @Slot(object)
    def _on_generated(self, new: KernelBank) -> None:
        kind = new.meta.get("generator", "")
        self.set_bank(new, f"generate {kind}")
        self.show_status(f"Generated {new.out_channels} {kind} kernels of {new.size}x{new.size}")

    @Slot(str)
    def _on_generate_failed(self, message: str) -> None:
        QMessageBox.warning(self, "Cannot generate", message)

    @Slot()
    def _on_generate_done(self) -> None:
        self.generate_button.setEnabled(True)
        self.generate_button.setText("Generate")

    def generating(self) -> bool:
        return self._gen_worker is not None and self._gen_worker.is_running()

    @Slot()
    def new_bank(self) -> None:
        name = Session.unique_name(self.session.banks, "new bank")
        shape = (self.count_spin.value(), self.in_spin.value(), self.size_spin.value(), self.size_spin.value())
        self._commit()
        self._path, self._saved = None, None
        self.set_bank(KernelBank(np.zeros(shape, np.float32), None, name, {"generator": "empty"}), "new bank")
        self.show_status(f"New empty bank {name!r}: paint kernels in the editor or Generate")

    # ======================================================================================= freezing
    @Slot(bool)
    def _on_freeze_toggled(self, checked: bool) -> None:
        self.set_bank(self.bank.with_frozen(self._selected, checked),
                      f"{'freeze' if checked else 'unfreeze'} kernel {self._selected + 1}")

    @Slot()
    def toggle_freeze_selected(self) -> None:
        self.freeze_button.toggle()

    def set_all_frozen(self, flag: bool) -> None:
        self.set_bank(self.bank.with_frozen(None, flag), "freeze all" if flag else "unfreeze all")

    # ======================================================================================= editing
    def _edit_kernel(self, fn, label: str, merge_key: object = None) -> None:
        """Apply ``fn(channel_2d) -> channel_2d`` to the edited channel(s) of the selected kernel."""
        k = np.array(self.bank.kernel(self._selected), copy=True)
        ch = self._channel()
        chans = range(k.shape[0]) if ch < 0 else [ch]
        for c in chans:
            k[c] = fn(k[c])
        self.set_bank(self.bank.with_kernel(self._selected, k), label, merge_key)

    @Slot(object, float, int)
    def _on_paint(self, cells, value: float, stroke: int) -> None:
        sym = self.symmetry_combo.currentText()
        zs = self.zero_sum_check.isChecked()
        self._edit_kernel(lambda a: ops.paint(a, cells, value, sym, zs), f"paint kernel {self._selected + 1}",
                          ("stroke", stroke))

    @Slot(int, int, float)
    def _on_value(self, r: int, c: int, value: float) -> None:
        self._edit_kernel(lambda a: ops.paint(a, [(r, c)], value, self.symmetry_combo.currentText(),
                                              self.zero_sum_check.isChecked()),
                          f"set cell ({r}, {c}) of kernel {self._selected + 1}")

    @Slot(str)
    def _on_invalid_value(self, message: str) -> None:
        self.show_status(f"Not changed: {message}")

    @Slot(bool)
    def _on_zero_sum(self, on: bool) -> None:
        if on:
            self._edit_kernel(lambda a: ops.zero_sum(a), f"zero-sum kernel {self._selected + 1}")

    @Slot()
    def symmetrize(self) -> None:
        sym = self.symmetry_combo.currentText()
        zs = self.zero_sum_check.isChecked()
        self._edit_kernel(lambda a: ops.zero_sum(ops.symmetrize(a, sym)) if zs else ops.symmetrize(a, sym),
                          f"symmetrize kernel {self._selected + 1}")

    @Slot()
    def clear_kernel(self) -> None:
        self._edit_kernel(lambda a: np.zeros_like(a), f"clear kernel {self._selected + 1}")

    @Slot(float)
    def _on_brush(self, v: float) -> None:
        self.grid.brush = float(v)

    @Slot(int, int)
    def _on_cursor(self, r: int, c: int) -> None:
        k = self.bank.size
        if r < k and c < k:
            self.cell_label.setText(f"cell ({r}, {c}) = {self.grid.value_at(r, c):.6g} · brush "
                                    f"{self.brush_spin.value():g} · sum of channel "
                                    f"{float(self.grid._values.sum()):.4g}")

    @Slot()
    def undo(self) -> None:
        if self.history.can_undo():
            label = self.history.undo_label()
            self.history.undo()
            self._on_bank_changed()
            self.show_status(f"Undid {label}")

    @Slot()
    def redo(self) -> None:
        if self.history.can_redo():
            label = self.history.redo_label()
            self.history.redo()
            self._on_bank_changed()
            self.show_status(f"Redid {label}")

    @Slot()
    def copy_kernel(self) -> None:
        self._clip = np.array(self.bank.kernel(self._selected), copy=True)
        ch = max(self._channel(), 0)
        QGuiApplication.clipboard().setText(ops.kernel_to_text(self._clip[ch]))
        self.show_status(f"Copied kernel {self._selected + 1}")

    @Slot()
    def paste_kernel(self) -> None:
        if self._clip is None:
            self.show_status("Nothing to paste: copy a kernel first (Ctrl+C)")
            return
        try:
            k = ops.fit_kernel(self._clip, self.bank.in_channels, self.bank.size)
        except ValueError as exc:
            QMessageBox.warning(self, "Cannot paste", str(exc))
            return
        self.set_bank(self.bank.with_kernel(self._selected, k), f"paste into kernel {self._selected + 1}")
        self.show_status(f"Pasted into kernel {self._selected + 1}")

    # ======================================================================================= files
    def _start_dir(self) -> str:
        return self.settings.value("kernels/dir", str(paths.user_files()), str)

    @Slot()
    def open_bank(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open kernel bank", self._start_dir(), BANK_FILTER)
        if path:
            self.open_bank_file(Path(path))

    def open_bank_file(self, path: Path) -> bool:
        try:
            bank = io.load(path)
        except io.KernelFileError as exc:
            QMessageBox.warning(self, "Cannot open bank", f"{exc}\n\nNothing was changed.")
            return False
        self._commit()
        current = self.session.banks.get(bank.name)
        if current is not None and current is not self.bank and not current.equals(bank):
            bank = bank.renamed(Session.unique_name(self.session.banks, bank.name))
        elif current is not None and current is not self.bank and bank.name != self.bank.name:
            pass
        self.settings.setValue("kernels/dir", str(path.parent))
        self._path, self._saved = path, bank
        self._selected = 0
        self.set_bank(bank, f"open {path.name}")
        self._save_settings()
        self.show_status(f"Opened {path.name}: {bank.out_channels} kernels of {bank.in_channels} x {bank.size} x "
                         f"{bank.size}, {bank.frozen_count()} frozen")
        return True

    @Slot()
    def save_bank(self) -> bool:
        if self._path is None:
            return self.save_bank_as()
        return self._save_to(self._path)

    @Slot()
    def save_bank_as(self) -> bool:
        start = str(Path(self._start_dir()) / f"{self.bank.name}.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save kernel bank", start, BANK_FILTER)
        if not path:
            return False
        p = Path(path)
        if p.suffix.lower() not in io.EXTENSIONS:
            p = p.with_suffix(p.suffix + ".json") if p.suffix else p.with_suffix(".json")
        return self._save_to(p)

    def _save_to(self, path: Path) -> bool:
        try:
            io.save(self.bank, path)
        except io.KernelFileError as exc:
            QMessageBox.warning(self, "Cannot save bank", f"{exc}\n\nThe bank is still open and autosaved.")
            return False
        self._path, self._saved = path, self.bank
        self.settings.setValue("kernels/dir", str(path.parent))
        self._save_settings()
        self._refresh_labels()
        note = " (.npy keeps the weights only: frozen flags and names are not stored)" if path.suffix == ".npy" else ""
        self.show_status(f"Saved {path}{note}")
        return True

    # ======================================================================================= images
    @Slot()
    def open_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image", self.settings.value("kernels/image_dir", "", str),
                                              IMAGE_FILTER)
        if path:
            self.open_image_file(Path(path))

    def open_image_file(self, path: Path) -> bool:
        try:
            img = ops.load_image(path)
        except ops.ImageLoadError as exc:
            QMessageBox.warning(self, "Cannot open image", str(exc))
            return False
        self.settings.setValue("kernels/image_dir", str(path.parent))
        self.set_image(img, path.name)
        return True

    def set_image(self, image: np.ndarray, name: str) -> None:
        self._image = np.ascontiguousarray(image)
        self._image_name = name
        self._refresh_image_label()
        self._schedule_render()

    @Slot(int)
    def _on_sample(self, index: int) -> None:
        name = self.sample_combo.itemData(index)
        self.settings.setValue("kernels/sample", name)
        self.set_image(ops.sample_image(name), f"sample: {name}.jpg")

    def _refresh_image_label(self) -> None:
        h, w = self._image.shape[:2]
        side = ops.preview_side(self.bank.out_channels)
        self.image_label.setText(f"Image: {self._image_name} ({w}x{h}, previewed at {side} px)")

    # ======================================================================================= rendering
    def _schedule_render(self) -> None:
        self._render_timer.start()

    @Slot()
    def _start_render(self) -> None:
        if self._render_worker is not None and self._render_worker.is_running():
            self._render_dirty = True
            return
        self._render_dirty = False
        bank, image = self.bank, self._image  # immutable snapshots
        w = self.pool.start(lambda token: ops.compute_views(bank, image), name="kernel responses")
        w.finished.connect(self._on_views)
        w.failed.connect(self._on_render_failed)
        w.done.connect(self._on_render_done)
        self._render_worker = w

    @Slot(object)
    def _on_views(self, views: ops.Views) -> None:
        self._views = views
        self.response_view.set_rgb(views.responses)
        self.fft_view.set_rgb(views.fft)
        self.input_view.set_rgb(views.image)
        self._refresh_highlights()
        self._refresh_image_label()
        self.render_label.setText(f"Responses computed in {views.seconds * 1000:.0f} ms")

    @Slot(str)
    def _on_render_failed(self, message: str) -> None:
        self.render_label.setText(f"Could not compute the responses: {message}")

    @Slot()
    def _on_render_done(self) -> None:
        if self._render_dirty:
            self._render_dirty = False
            self._schedule_render()

    def busy(self) -> bool:
        running = self._render_worker is not None and self._render_worker.is_running()
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
    def dragEnterEvent(self, ev) -> None:  # noqa: N802
        urls = ev.mimeData().urls() if ev.mimeData().hasUrls() else []
        ok = any(Path(u.toLocalFile()).suffix.lower() in io.EXTENSIONS + ops.IMAGE_EXTENSIONS for u in urls)
        if ok:
            ev.acceptProposedAction()
        else:
            ev.ignore()

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

    # ======================================================================================= misc
    def show_status(self, text: str) -> None:
        win = self.window()
        bar = getattr(win, "statusBar", None)
        if callable(bar) and win is not self:
            bar().showMessage(text, 8000)
        self.render_label.setToolTip(text)
        self.last_status = text

    def shortcuts(self) -> list[str]:
        return [
            "Ctrl+N / Ctrl+O / Ctrl+S / Ctrl+Shift+S: new, open, save, save bank as",
            "Ctrl+G: generate · Ctrl+L: freeze/unfreeze the selected kernel · Alt+Left/Right: previous/next kernel",
            "Ctrl+Z / Ctrl+Shift+Z: undo / redo · Ctrl+C / Ctrl+V: copy / paste a kernel · Ctrl+I: open an image",
            "Editor: arrows move, Space paints, Delete sets 0, Enter or a digit types a value, Shift+click picks",
        ]

    def shutdown(self) -> None:
        """Stop every worker and timer; share and autosave the working bank."""
        self._render_timer.stop()
        if self._commit_timer.isActive():
            self._commit()
        self._save_settings()
        self.pool.shutdown()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


if __name__ == "__main__":  # a quick look at the workbench alone: python -m widgets.kernels.workspace
    import sys

    from widgets.application import make_app
    from widgets.main_window import settings as _settings

    qapp = make_app()
    ws = KernelWorkspace(Session(), _settings())
    ws.resize(1400, 860)
    ws.show()
    code = qapp.exec()
    ws.shutdown()
    sys.exit(code)
