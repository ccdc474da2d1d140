"""The dataset browser: choose a dataset and split, see samples and class counts, set the training subset,
download missing datasets.

API (what an embedding workspace uses)::

    b = DatasetBrowser(settings=None, parent=None)  # settings: QSettings for the recent image folders (optional)
    b.dataset_name            # str, read/write: "digits", "mnist", ..., or "imagefolder:/path" (setting loads it)
    b.subset_size             # int, read/write: training images to use; 0 = all of them
    b.data_root               # str | None, read/write: datasets root (None = app.paths.data_root())
    b.split                   # "train" or "test": the split being previewed
    b.current_dataset()       # the loaded app.data.ArrayDataset of the previewed split, or None
    b.is_busy()               # a load or download is running
    b.wait_ready(ms)          # process events until the preview is shown (screenshots, tests)
    b.shortcuts()             # ["Ctrl+O: choose an image folder", "Esc: cancel the download or load"]
    b.shutdown()              # cancel and join the workers (call from the workspace's shutdown())
    b.datasetChanged(str)     # the user (or the setter) chose another dataset
    b.subsetChanged(int)      # the subset size changed (0 = all)
    b.viewReady(object)       # an app.data.preview.View was rendered

Loading, tiling and counting run in a ``widgets.common.worker.Worker`` (``app.data.preview.browse``); the widget only
renders the resulting ``View``: one ``ImageItem`` for the mosaic, a text label per cell, one bar chart. A dataset
that is not on disk shows a Download button (progress bar + Cancel; an interrupted download resumes). Errors are
shown in the panel; the browser keeps working.

Run alone: ``python -m widgets.data.browser``.
"""

from __future__ import annotations

from pathlib import Path

import torch  # noqa: F401  (torch before Qt)

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.data import formats
from app.data.download import human_size
from app.data.preview import View, browse
from widgets.common.worker import Worker, WorkerPool

FOLDER_ITEM = "Image folder…"
RECENT_KEY = "data/recent_folders"
ROOT_KEY = "data/root"
MAX_RECENT = 6
N_SAMPLES = 48


class DatasetBrowser(QWidget):
    datasetChanged = Signal(str)
    subsetChanged = Signal(int)
    viewReady = Signal(object)

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self._root: str | None = None
        self._dataset = None  # ArrayDataset of the previewed split
        self._view: View | None = None
        self._train_size: dict[str, int] = {}
        self._load_worker: Worker | None = None
        self._dl_worker: Worker | None = None
        self._last_index = 0
        self._error = ""
        self._closed = False
        self.pool = WorkerPool(self)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self._refresh)

        # --- controls ---
        self.combo = QComboBox()
        self.combo.setToolTip("The dataset (digits needs nothing; others are read from the data folder or "
                              "downloaded; Image folder… = any folder of class sub-folders)")
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(12)
        self.split_combo = QComboBox()
        self.split_combo.addItems(["train", "test"])
        self.split_combo.setToolTip("Which split to preview (the subset size applies to the training split)")
        self.subset_spin = QSpinBox()
        self.subset_spin.setRange(0, 10_000_000)
        self.subset_spin.setSingleStep(500)
        self.subset_spin.setSpecialValueText("all")
        self.subset_spin.setToolTip("Use a seeded subset of N training images (all = every image); "
                                    "the samples and counts below show that subset")
        self.subset_spin.setAccelerated(True)
        self.of_label = QLabel("of ? training images")
        self.root_btn = QToolButton()
        self.root_btn.setText("Data folder…")
        self.root_btn.clicked.connect(self.choose_root)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.download_btn = QPushButton("Download")
        self.download_btn.setToolTip("Download this dataset from its official location (checksum-verified; "
                                     "an interrupted download resumes)")
        self.download_btn.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setToolTip("Stop the download or load (Esc); a download resumes where it stopped")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)

        top = QHBoxLayout()
        top.addWidget(QLabel("Dataset"))
        top.addWidget(self.combo, 1)
        top.addWidget(self.split_combo)
        sub = QHBoxLayout()
        sub.addWidget(QLabel("Use"))
        sub.addWidget(self.subset_spin)
        sub.addWidget(self.of_label, 1)
        sub.addWidget(self.root_btn)
        work = QHBoxLayout()
        work.addWidget(self.progress, 1)
        work.addWidget(self.download_btn)
        work.addWidget(self.cancel_btn)
        work.addStretch(0)

        # --- plots: one mosaic image, one bar chart ---
        self.grid_view = pg.GraphicsLayoutWidget()
        self.grid_view.setToolTip("Random samples of the (subset of the) split with their labels; "
                                  "wheel to zoom, drag to pan")
        self.grid_box = self.grid_view.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.grid_box.addItem(self.image)
        self._labels: list[pg.TextItem] = []
        self._label_font = QFont(self.font())
        self._label_font.setPointSizeF(max(6.0, self.font().pointSizeF() * 0.8))
        self.counts_plot = pg.PlotWidget()
        self.counts_plot.setMenuEnabled(False)
        self.counts_plot.setMouseEnabled(x=False, y=False)
        self.counts_plot.setLabel("left", "images")
        self.counts_plot.setToolTip("Images per class (in the subset)")
        self.counts_plot.hideButtons()
        self.bars = pg.BarGraphItem(x=[0], height=[0], width=0.8, brush=(70, 110, 180))
        self.counts_plot.addItem(self.bars)
        self.splitter = splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.grid_view)
        splitter.addWidget(self.counts_plot)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addLayout(sub)
        lay.addWidget(self.status)
        lay.addLayout(work)
        lay.addWidget(splitter, 1)
        lay.addStretch(0)

        if self._settings is not None:
            saved = self._settings.value(ROOT_KEY)
            if saved and Path(str(saved)).is_dir():
                self._root = str(saved)
        self._update_root_tip()
        self._fill_combo()
        self._show_busy(False)
        self.download_btn.hide()

        self.combo.currentIndexChanged.connect(self._on_combo)
        self.split_combo.currentIndexChanged.connect(self._on_split)
        self.subset_spin.valueChanged.connect(self._on_subset)
        self.download_btn.clicked.connect(self.download)
        self.cancel_btn.clicked.connect(self.cancel)
        esc = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        esc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        esc.activated.connect(self.cancel)
        self._initial = True  # the first load starts once the event loop runs (the embedder may set a name first)
        QTimer.singleShot(0, self._first_refresh)

    # --- public API ---------------------------------------------------------------------------------------
    @property
    def dataset_name(self) -> str:
        return str(self.combo.currentData() or "digits")

    @dataset_name.setter
    def dataset_name(self, name: str) -> None:
        name = str(name).strip()
        i = self.combo.findData(name)
        if i < 0:
            if name.startswith("imagefolder:"):
                i = self._add_folder_item(name)
            else:
                return  # unknown names are ignored (the combo keeps its choice)
        self.combo.setCurrentIndex(i)

    @property
    def subset_size(self) -> int:
        return self.subset_spin.value()

    @subset_size.setter
    def subset_size(self, n: int) -> None:
        self.subset_spin.setValue(max(0, int(n)))

    @property
    def data_root(self) -> str | None:
        return self._root

    @data_root.setter
    def data_root(self, root: str | None) -> None:
        self._root = str(root) if root else None
        self._update_root_tip()
        self._dataset = None
        self._update_combo_texts()
        self._refresh()

    @property
    def split(self) -> str:
        return self.split_combo.currentText()

    def current_dataset(self):
        return self._dataset

    def current_view(self) -> View | None:
        return self._view

    def error_text(self) -> str:
        return self._error

    def is_busy(self) -> bool:
        return any(w is not None and w.is_running() for w in (self._load_worker, self._dl_worker))

    def wait_ready(self, ms: int = 5000) -> bool:
        from PySide6.QtCore import QElapsedTimer

        t = QElapsedTimer()
        t.start()
        while t.elapsed() < ms and (self._initial or self.is_busy() or self._debounce.isActive()):
            QApplication.processEvents()
        QApplication.processEvents()
        return not self.is_busy()

    def shortcuts(self) -> list[str]:
        return ["Ctrl+O: choose an image folder", "Esc: cancel the download or load"]

    def shutdown(self) -> None:
        self._closed = True  # no new work after this
        self._initial = False
        self._debounce.stop()
        self.pool.shutdown()
        self._load_worker = None
        self._dl_worker = None

    # --- combo --------------------------------------------------------------------------------------------
    def _fill_combo(self) -> None:
        self.combo.blockSignals(True)
        for name in formats.builtin_names():
            self.combo.addItem(name, name)
        for folder in self._recent_folders():
            self._add_folder_item("imagefolder:" + folder, select=False)
        self.combo.addItem(FOLDER_ITEM, None)
        self.combo.setItemData(self.combo.count() - 1, "Choose a folder of class sub-folders (Ctrl+O)",
                               Qt.ItemDataRole.ToolTipRole)
        self.combo.blockSignals(False)
        self._update_combo_texts()
        sc = QShortcut(QKeySequence.StandardKey.Open, self)
        sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        sc.activated.connect(self.choose_folder)

    def _update_combo_texts(self) -> None:
        for i in range(self.combo.count()):
            name = self.combo.itemData(i)
            if name in formats.BUILTINS:
                st = formats.status(name, self._root)
                self.combo.setItemText(i, name if st.local else f"{name} (download {human_size(st.download_size)})")
                tip = f"{st.title}\n" + (f"local: {st.where}" if st.local else "not downloaded yet")
                self.combo.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
            elif name == "digits":
                self.combo.setItemData(i, "scikit-learn's 8x8 digits (embedded, needs nothing)",
                                       Qt.ItemDataRole.ToolTipRole)

    def _add_folder_item(self, name: str, select: bool = True) -> int:
        folder = name.split(":", 1)[1]
        i = self.combo.findData(name)
        if i >= 0:
            return i
        pos = self.combo.findText(FOLDER_ITEM)
        pos = pos if pos >= 0 else self.combo.count()
        block = self.combo.blockSignals(True)
        self.combo.insertItem(pos, f"folder: {Path(folder).name or folder}", name)
        self.combo.setItemData(pos, folder, Qt.ItemDataRole.ToolTipRole)
        self.combo.blockSignals(block)
        return pos

    def _recent_folders(self) -> list[str]:
        if self._settings is None:
            return []
        v = self._settings.value(RECENT_KEY) or []
        if isinstance(v, str):
            v = [v]
        return [str(x) for x in v][:MAX_RECENT]

    def _remember_folder(self, folder: str) -> None:
        if self._settings is None:
            return
        recent = [folder] + [f for f in self._recent_folders() if f != folder]
        self._settings.setValue(RECENT_KEY, recent[:MAX_RECENT])

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
        self._remember_folder(folder)
        i = self._add_folder_item("imagefolder:" + folder)
        if i == self.combo.currentIndex():
            self._on_combo(i)
        else:
            self.combo.setCurrentIndex(i)

    @Slot(int)
    def _on_combo(self, index: int) -> None:
        if self.combo.itemData(index) is None:  # "Image folder…"
            self.choose_folder()
            return
        self._last_index = index
        self._dataset = None
        self._train_size_label()
        self.datasetChanged.emit(self.dataset_name)
        self._refresh()

    @Slot(int)
    def _on_split(self, _i: int) -> None:
        self._refresh()

    @Slot(int)
    def _on_subset(self, n: int) -> None:
        self.subsetChanged.emit(int(n))
        if self._dataset is not None:
            self._debounce.start()

    def _train_size_label(self) -> None:
        m = self._train_size.get(self.dataset_name)
        self.of_label.setText(f"of {m:,} training images" if m else "of ? training images")

    # --- work ---------------------------------------------------------------------------------------------
    @Slot()
    def _first_refresh(self) -> None:
        if self._initial:
            self._refresh()

    @Slot()
    def _refresh(self) -> None:
        """Load (or reuse) the chosen dataset and show its preview, off the GUI thread."""
        self._debounce.stop()
        self._initial = False
        if self._closed:
            return
        name, split, root = self.dataset_name, self.split, self._root
        if self._dl_worker is not None and self._dl_worker.is_running():
            return
        if name in formats.BUILTINS and formats.locate(name, root) is None:
            self._cancel_load()
            self._dataset = None
            st = formats.status(name, root)
            self._set_message(f"{name} is not downloaded yet ({human_size(st.download_size)} from its official "
                              f"location). Press Download.", error=False)
            self._clear_view()
            self._reset_download_button()
            self.download_btn.show()
            self.download_btn.setEnabled(True)
            return
        self._reset_download_button()
        self._cancel_load()
        subset = self.subset_spin.value() if split == "train" else 0
        ds = self._dataset
        self._set_message(f"loading {name} ({split})…", error=False)
        cols = self._columns()
        w = self.pool.start(lambda token: browse(name, split, root, subset or None, N_SAMPLES, 0, ds, token, cols),
                            name="dataset-load")
        w.progress.connect(self._on_progress)
        w.finished.connect(self._on_loaded)
        w.failed.connect(self._on_failed)
        w.cancelled.connect(self._on_load_cancelled)
        self._load_worker = w
        self._show_busy(True)

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        QTimer.singleShot(0, self._refit)  # a grid laid out while hidden (another tab first) had the wrong shape

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._refit()

    def _refit(self) -> None:
        """Lay the samples out again (cheap: the dataset is kept) when the panel's shape asks for other columns."""
        view = self._view
        if self.isVisible() and view is not None and view.cells and not self.is_busy() \
                and len({c.x for c in view.cells}) != self._columns():
            self._debounce.start()

    def _columns(self) -> int:
        """Grid columns that suit the sample area's shape (a narrow panel gets fewer, taller rows)."""
        if self.splitter.isVisible():
            w, h = max(1, self.grid_view.width()), max(1, self.grid_view.height())
        else:  # hidden while nothing is shown: about 3/4 of the space below the controls
            w, h = max(1, self.width()), max(1, int(0.75 * (self.height() - self.splitter.y())))
        for c in (4, 6, 8, 12, 16):  # divisors of N_SAMPLES: full rows
            if N_SAMPLES / c / c <= h / w:
                return c
        return 16

    def _reset_download_button(self) -> None:
        self.download_btn.hide()
        self.download_btn.setText("Download")
        self.download_btn.setToolTip("Download this dataset from its official location (checksum-verified; "
                                     "an interrupted download resumes)")

    def _cancel_load(self) -> None:
        if self._load_worker is not None and self._load_worker.is_running():
            self._load_worker.cancel()
        self._load_worker = None

    @Slot()
    def cancel(self) -> None:
        if self._dl_worker is not None and self._dl_worker.is_running():
            self._dl_worker.cancel()
        elif self._load_worker is not None and self._load_worker.is_running():
            self._load_worker.cancel()

    @Slot()
    def download(self) -> None:
        name, root = self.dataset_name, self._root
        if self._closed or name not in formats.BUILTINS or (self._dl_worker is not None and self._dl_worker.is_running()):
            return
        force = self.download_btn.text() != "Download"  # "Download again": repair a damaged copy
        self._cancel_load()
        self.download_btn.setEnabled(False)
        self._set_message(f"downloading {name}…", error=False)
        if force:
            make = lambda token: formats.download(name, root, cancel=token, force=True)  # noqa: E731
        else:
            make = lambda token: formats.download(name, root, cancel=token)  # noqa: E731
        w = self.pool.start(make, name="dataset-download")
        w.progress.connect(self._on_progress)
        w.finished.connect(self._on_downloaded)
        w.failed.connect(self._on_download_failed)
        w.cancelled.connect(self._on_download_cancelled)
        self._dl_worker = w
        self._show_busy(True)

    # --- worker results (GUI thread) ------------------------------------------------------------------------
    @Slot(object)
    def _on_progress(self, p) -> None:
        if self.sender() not in (self._load_worker, self._dl_worker):
            return
        frac = p.fraction
        if frac is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(frac * 1000))
        self.progress.setFormat(p.message[:80] if p.message else "%p%")

    @Slot(object)
    def _on_loaded(self, result) -> None:
        if self.sender() is not self._load_worker:
            return  # a stale load (the choice changed meanwhile)
        self._load_worker = None
        self._show_busy(False)
        ds, view = result
        self._dataset = ds
        if ds.split == "train":
            self._train_size[self.dataset_name] = len(ds)
        self._train_size_label()
        self._render(view)
        if ds.split == "train":
            want = self.subset_spin.value() or view.total
            if view.used != min(want, view.total):  # the subset changed while it loaded: redo the (cheap) view
                self._debounce.start()

    @Slot(str)
    def _on_failed(self, msg: str) -> None:
        if self.sender() is not self._load_worker:
            return
        self._load_worker = None
        self._show_busy(False)
        self._dataset = None
        self._clear_view()
        self._set_message(f"Cannot load {self.dataset_name}: {msg}", error=True)
        if self.dataset_name in formats.BUILTINS:  # a damaged copy: offer to fetch it again
            self.download_btn.setText("Download again")
            self.download_btn.setToolTip("Fetch the dataset again from its official location and unpack it "
                                         "over the damaged copy (checksum-verified)")
            self.download_btn.setEnabled(True)
            self.download_btn.show()

    @Slot()
    def _on_load_cancelled(self) -> None:
        if self.sender() is not self._load_worker:
            return
        self._load_worker = None
        self._show_busy(False)
        self._set_message("Loading cancelled.", error=False)

    @Slot(object)
    def _on_downloaded(self, path) -> None:
        self._dl_worker = None
        self._show_busy(False)
        self._reset_download_button()
        self._update_combo_texts()
        self._set_message(f"Downloaded into {path}.", error=False)
        self._refresh()

    @Slot(str)
    def _on_download_failed(self, msg: str) -> None:
        self._dl_worker = None
        self._show_busy(False)
        self.download_btn.setEnabled(True)
        self._set_message(f"Download failed: {msg}", error=True)

    @Slot()
    def _on_download_cancelled(self) -> None:
        self._dl_worker = None
        self._show_busy(False)
        self.download_btn.setEnabled(True)
        self._set_message("Download cancelled; Download again to resume where it stopped.", error=False)

    # --- rendering ----------------------------------------------------------------------------------------
    def _show_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_btn.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
            self.progress.setFormat("")

    def _set_message(self, text: str, error: bool) -> None:
        self._error = text if error else ""
        self.status.setText(text)
        self.status.setStyleSheet("color: #b00020;" if error else "color: #3b4452;")

    def _clear_view(self) -> None:
        self._view = None
        self.image.clear()
        for t in self._labels:
            self.grid_box.removeItem(t)
        self._labels.clear()
        self.bars.setOpts(x=[0], height=[0], width=0.8)
        self.counts_plot.getAxis("bottom").setTicks(None)
        self.splitter.hide()  # nothing to show: no empty axes

    def _render(self, view: View) -> None:
        self._view = view
        self.splitter.show()
        self.image.setImage(view.mosaic, autoLevels=False, levels=(0, 255))
        for t in self._labels:
            self.grid_box.removeItem(t)
        self._labels.clear()
        for cell in view.cells:
            text = cell.class_name if len(cell.class_name) <= 9 else cell.class_name[:8] + "…"
            t = pg.TextItem(text, color=(255, 255, 255), fill=pg.mkBrush(0, 0, 0, 150), anchor=(0, 1))
            t.setFont(self._label_font)
            t.setPos(cell.x, cell.y + cell.size)
            t.setToolTip(f"#{cell.index}: {cell.class_name}")
            self.grid_box.addItem(t)
            self._labels.append(t)
        self.grid_box.autoRange(padding=0.01)
        k = len(view.classes)
        x = np.arange(k)
        self.bars.setOpts(x=x, height=view.counts.astype(float), width=0.8)
        ax = self.counts_plot.getAxis("bottom")
        if k <= 12:
            ax.setTicks([[(i, n if len(n) <= 6 else n[:5] + "…") for i, n in enumerate(view.classes)]])
        else:
            ax.setTicks(None)
        self.counts_plot.setXRange(-0.6, k - 0.4, padding=0)
        self.counts_plot.setYRange(0, max(1, int(view.counts.max(initial=0))) * 1.05, padding=0)
        text = view.summary()
        if view.notes:
            shown = "; ".join(view.notes[:3]) + (f"; and {len(view.notes) - 3} more" if len(view.notes) > 3 else "")
            text += f"\n{len(view.notes)} note(s): {shown}"
        self._set_message(text, error=False)
        self.status.setToolTip("\n".join(view.notes[:50]) if view.notes else
                               f"normalisation mean {tuple(round(v, 3) for v in view.mean)}, "
                               f"std {tuple(round(v, 3) for v in view.std)}")
        self.viewReady.emit(view)


def main() -> int:
    import sys

    from widgets.application import make_app

    app = make_app()
    settings = QSettings()
    w = DatasetBrowser(settings=settings)
    w.setWindowTitle("Filter Explorer — datasets")
    w.resize(520, 720)
    w.show()
    code = app.exec()
    w.shutdown()
    return int(code)


if __name__ == "__main__":
    import sys

    sys.exit(main())
