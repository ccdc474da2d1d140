"""The dataset browser: choose a dataset and split, see samples and class counts, set the training subset,
download missing datasets.

API (what an embedding workspace uses)::

    b = DatasetBrowser(settings=None, parent=None)  # settings: QSettings for the recent image folders (optional)
    b.dataset_name            # str, read/write: "digits", "mnist", ..., or "imagefolder:/path" (setting loads it)
    b.subset_size             # int, read/write: training images to use; 0 = all of them
    b.data_root               # str | None, read/write: datasets root (None = app.paths.data_root())
    b.split                   # "train" or "test": the split being previewed
    b.current_dataset()       # the loaded app.data.ArrayDataset of the previewed split, or None
    b.is_busy()               # a load or download is running (or the grid's labels are being made)
    b.wait_ready(ms)          # process events until the preview is shown (screenshots, tests)
    b.shortcuts()             # ["Ctrl+O: choose an image folder", "Esc: cancel the download or load"]
    b.show_disk_use()         # the Disk use dialog: the app's caches with their sizes, clearing (cache_dialog)
    b.shutdown()              # cancel and join the workers (call from the workspace's shutdown())
    b.datasetChanged(str)     # the user (or the setter) chose another dataset
    b.subsetChanged(int)      # the subset size changed (0 = all)
    b.viewReady(object)       # an app.data.preview.View was rendered

Loading, tiling and counting run in a ``widgets.common.worker.Worker`` (``app.data.preview.browse``); the panels
render the resulting ``View``: ``DatasetCombo`` (the choice), ``WorkBar`` (progress, Download, Cancel; an
interrupted download resumes), ``SamplesView`` (the mosaic, laid out for its area, and the class counts);
``DownloadFlow`` runs a download and says its outcome; ``FolderChoice`` (``widgets.data.folder_choice``) the data
folder, an image folder and the Disk use dialog. Errors are shown in the panel; the browser keeps working.
While a download runs, other datasets can be chosen and load (the work bar keeps showing the download); whatever way
it ends, the view shows the current choice again (the downloaded dataset loads, or is offered again after a cancel
or failure) with the end's line in the status. The "of N training images" count is the one measured in the chosen
data folder, else a built-in's official count marked "(official)".

``preview()`` builds one for ``python -m widgets.preview``.
"""

from __future__ import annotations

from pathlib import Path

import torch  # noqa: F401  (torch before Qt)

from PySide6.QtCore import QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QApplication, QComboBox, QHBoxLayout, QLabel, QSizePolicy, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from app.data import formats, remote
from app.data.preview import View, browse
from app.storage import human_size
from widgets.common.worker import Worker, WorkerPool
from widgets.data.cache_dialog import DiskUseButton
from widgets.data.dataset_combo import DatasetCombo
from widgets.data.download import DownloadFlow
from widgets.data.folder_choice import ROOT_KEY, FolderChoice
from widgets.data.samples_view import SamplesView
from widgets.data.work_bar import WorkBar

N_SAMPLES = 48


class DatasetBrowser(FolderChoice, QWidget):
    datasetChanged = Signal(str)
    subsetChanged = Signal(int)
    viewReady = Signal(object)

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None, *,
                 auto_load: bool = True) -> None:  # False: the first load waits for load_first()
        super().__init__(parent)
        self._settings = settings
        self._root: str | None = None
        self._dataset = None  # ArrayDataset of the previewed split
        self._train_size: dict[tuple[str, str | None], int] = {}  # (name, data folder): its training images
        self._end_note: tuple[str, str, str] | None = None  # the last download's end: (dataset, kind, its line)
        self._load_worker: Worker | None = None
        self._last_index = 0
        self._error = ""
        self._closed = False
        self.pool = WorkerPool(self)
        self._debounce = QTimer(self, singleShot=True, interval=150)
        self._debounce.timeout.connect(self._refresh)

        # --- controls ---
        self.combo = DatasetCombo(settings)
        self.split_combo = QComboBox()
        self.split_combo.addItems(["train", "test"])
        self.split_combo.setToolTip("Which split to preview (the subset size applies to the training split)")
        self.subset_spin = QSpinBox(minimum=0, maximum=10_000_000, singleStep=500, specialValueText="all")
        self.subset_spin.setToolTip("Use a seeded subset of N training images (all = every image); "
                                    "the samples and counts below show that subset")
        self.subset_spin.setAccelerated(True)
        self.of_label = QLabel("of ? training images")
        self.root_btn = QToolButton(text="Data folder…")
        self.root_btn.clicked.connect(self.choose_root)
        self.disk_btn = DiskUseButton()  # the caches' sizes and clearing, in a dialog of its own
        self.status = QLabel("", wordWrap=True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.work = WorkBar()
        self.download_btn, self.cancel_btn = self.work.download_btn, self.work.cancel_btn
        self.downloads = DownloadFlow(self.pool, self.work, self)  # one download at a time, on the work bar
        self.downloads.message.connect(self._set_message)
        self.downloads.ended.connect(self._on_download_ended)

        top = QHBoxLayout()
        top.addWidget(QLabel("Dataset"))
        top.addWidget(self.combo, 1)
        top.addWidget(self.split_combo)
        top.addWidget(self.root_btn)  # on this row: the count beside the subset keeps its whole text
        sub = QHBoxLayout()
        sub.addWidget(QLabel("Use"))
        sub.addWidget(self.subset_spin)
        sub.addWidget(self.of_label, 1)
        sub.addWidget(self.disk_btn)
        self.samples = SamplesView()  # the mosaic and the class counts
        self.samples.relaidOut.connect(self._describe)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addLayout(sub)
        lay.addWidget(self.status)
        lay.addWidget(self.work)
        lay.addWidget(self.samples, 1)
        lay.addStretch(0)

        if self._settings is not None:
            saved = self._settings.value(ROOT_KEY)
            if saved and Path(str(saved)).is_dir():
                self._root = str(saved)
        self._update_root_tip()
        self.combo.update_texts(self._root)
        for key, slot in ((QKeySequence.StandardKey.Open, self.choose_folder), (Qt.Key.Key_Escape, self.cancel)):
            sc = QShortcut(QKeySequence(key), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(slot)

        self.combo.currentIndexChanged.connect(self._on_combo)
        self.split_combo.currentIndexChanged.connect(self._on_split)
        self.subset_spin.valueChanged.connect(self._on_subset)
        self.download_btn.clicked.connect(self.download)
        self.cancel_btn.clicked.connect(self.cancel)
        self._initial = True  # the first load starts once the event loop runs (the embedder may set a name first)
        if auto_load:
            self.load_first()

    def load_first(self) -> None:  # the first load, on the next turn (an embedder built in steps: once wired up)
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
                i = self.combo.add_folder(name)
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
        self._end_note = None
        self.combo.update_texts(self._root)
        self._train_size_label()  # the count measured in this folder (or the official one until it loads)
        self._refresh()

    @property
    def split(self) -> str:
        return self.split_combo.currentText()

    def current_dataset(self):
        return self._dataset

    def current_view(self) -> View | None:
        return self.samples.view

    def error_text(self) -> str:
        return self._error

    def is_busy(self) -> bool:
        loading = self._load_worker is not None and self._load_worker.is_running()
        return loading or self.downloads.running() or self.samples.busy()

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
        self.samples.stop()
        self.pool.shutdown()
        self.disk_btn.shutdown()  # its dialog's workers
        self._load_worker = None

    # --- the choice of dataset, split and subset (the folders' choices: widgets.data.folder_choice) ---------
    @Slot(int)
    def _on_combo(self, index: int) -> None:
        if self.combo.itemData(index) is None:  # "Image folder…"
            self.choose_folder()
            return
        self._last_index = index
        self._dataset = None
        if self._end_note is not None and self._end_note[0] != self.dataset_name:
            self._end_note = None  # said beside the view it ended under
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
        """The training images of the chosen dataset in the chosen data folder, as counted when its training split
        loaded; until then a built-in dataset's official count, marked as such (the local copy may differ)."""
        m = self._train_size.get((self.dataset_name, self._root))
        if m is not None:
            self.of_label.setText(f"of {m:,} training images")
            self.of_label.setToolTip("Counted in the loaded training split")
            return
        from app.data.catalog import BUILTINS

        b = BUILTINS.get(self.dataset_name)
        if b is not None and b.counts[0]:
            self.of_label.setText(f"of {b.counts[0]:,} training images (official)")
            self.of_label.setToolTip("The official count: the copy in the data folder is counted when its training "
                                     "split loads")
        else:
            self.of_label.setText("of ? training images (not loaded yet)")
            self.of_label.setToolTip("")

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
        if self._downloading(name):  # its preview comes when the download ends; other choices load meanwhile
            self._cancel_load()
            self._dataset = None
            self._set_message(f"downloading {name}… (its preview appears when the download is done)", error=False)
            self._clear_view()
            self.work.withdraw()
            return
        if name in formats.BUILTINS and formats.locate(name, root) is None:
            self._cancel_load()
            self._dataset = None
            st = remote.status(name, root)
            part = remote.partial_bytes(name, root)  # an interrupted or cancelled download: Download resumes it
            kept = f"; {human_size(part)} of it already here from an interrupted download" if part else ""
            self._set_message(f"{name} is not downloaded yet ({human_size(st.download_size)} "
                              f"{remote.source_text()}{kept}). Press Download"
                              f"{' to resume' if part else ''}.", error=False)
            self._clear_view()
            if not self.downloads.running():  # one download at a time: offered again when this one ends
                self.work.offer()
            else:
                self.work.withdraw()
            if self._end_note is not None and self._end_note[0] == name:  # why it is (still) not downloaded
                self._set_message(f"{self._end_note[2]}\n{self.status.text()}", error=self._end_note[1] == "failed")
            return
        self.work.withdraw()
        self._cancel_load()
        subset = self.subset_spin.value() if split == "train" else 0
        ds = self._dataset
        self._set_message(f"loading {name} ({split})…", error=False)
        cols = self._columns()
        w = self.pool.start(lambda token: browse(name, split, root, subset or None, N_SAMPLES, 0, ds, token, cols),
                            name="dataset-load")
        w.on(progress=self._on_progress, finished=self._on_loaded, failed=self._on_failed,
             cancelled=self._on_load_cancelled)
        self._load_worker = w
        self.work.busy(True)

    def _downloading(self, name: str) -> bool:
        """``name`` is being downloaded into the chosen data folder."""
        return self.downloads.running() and self.downloads.name == name and self.downloads.root == self._root

    def _load_ended(self) -> None:
        """A load ended: the work bar stops showing it (it goes on showing a download that runs)."""
        self._load_worker = None
        if not self.downloads.running():
            self.work.busy(False)

    def _columns(self) -> int:
        """Grid columns that suit the sample area (before it is laid out: about 3/4 of the space below the
        controls; the samples view lays the grid out again once it is shown)."""
        return self.samples.columns(self.width(), int(0.75 * max(1, self.height() - self.samples.y())), N_SAMPLES)

    def _cancel_load(self) -> None:
        if self._load_worker is not None and self._load_worker.is_running():
            self._load_worker.cancel()
        self._load_worker = None

    @Slot()
    def cancel(self) -> None:
        if self.downloads.cancel():
            return
        if self._load_worker is not None and self._load_worker.is_running():
            self._load_worker.cancel()

    @Slot()
    def download(self) -> None:
        if self._closed or self.dataset_name not in formats.BUILTINS or self.downloads.running():
            return
        self._cancel_load()
        self._end_note = None
        self.downloads.start(self.dataset_name, self._root)  # its progress, outcome and messages: DownloadFlow

    # --- worker results (GUI thread) ------------------------------------------------------------------------
    @Slot(object)
    def _on_progress(self, p) -> None:
        if self.sender() is not self._load_worker or self.downloads.running():  # the bar shows the download
            return
        self.work.progress(p)

    @Slot(object)
    def _on_loaded(self, result) -> None:
        if self.sender() is not self._load_worker:
            return  # a stale load (the choice changed meanwhile)
        self._load_ended()
        ds, view = result
        self._dataset = ds
        if ds.split == "train":
            self._train_size[(self.dataset_name, self._root)] = len(ds)
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
        self._load_ended()
        self._dataset = None
        self._clear_view()
        note = f"\n{self._end_note[2]}" if self._end_note is not None else ""
        self._set_message(f"Cannot load {self.dataset_name}: {msg}{note}", error=True)
        if self.dataset_name in formats.BUILTINS and not self.downloads.running():  # damaged: fetch it again
            self.work.offer(repair=True)

    @Slot()
    def _on_load_cancelled(self) -> None:
        if self.sender() is not self._load_worker:
            return
        self._load_ended()
        self._set_message("Loading cancelled.", error=False)

    @Slot(str, str)
    def _on_download_ended(self, kind: str, text: str) -> None:
        """Any end of a download (DownloadFlow already said it in the status): show what the choice is now. The
        downloaded dataset itself loads (a success) or is offered again (a cancel resumes, a failure retries), its
        status keeping the end's line; another dataset's view stays (or loads), with the line under its summary."""
        if self._closed:
            return
        self.combo.update_texts(self._root)
        self._end_note = (self.downloads.name or "", kind, text)
        loading = self._load_worker is not None and self._load_worker.is_running()
        if self.downloads.name != self.dataset_name and (loading or (self._dataset is not None
                                                                     and self.samples.view is not None)):
            self.work.withdraw()
            if loading:
                self.work.busy(True)  # the bar shows the load again
            else:
                self._describe(self.samples.view)
            return
        self._refresh()

    # --- rendering ----------------------------------------------------------------------------------------
    @Slot(str, bool)
    def _set_message(self, text: str, error: bool) -> None:
        self._error = text if error else ""
        self.status.setText(text)
        self.status.setStyleSheet("color: #b00020;" if error else "color: #3b4452;")

    def _clear_view(self) -> None:
        self.samples.clear()

    def _render(self, view: View) -> None:
        self.samples.render(view)
        self._describe(view)
        self.viewReady.emit(view)

    def _describe(self, view: View) -> None:
        text = view.summary()
        if view.notes:
            shown = "; ".join(view.notes[:3]) + (f"; and {len(view.notes) - 3} more" if len(view.notes) > 3 else "")
            text += f"\n{len(view.notes)} note(s): {shown}"
        if self._end_note is not None:  # the last download's end (this dataset's own, or another's)
            text += f"\n{self._end_note[2]}"
        self._set_message(text, error=False)
        self.status.setToolTip("\n".join(view.notes[:50]) if view.notes else
                               f"normalisation mean {tuple(round(v, 3) for v in view.mean)}, "
                               f"std {tuple(round(v, 3) for v in view.std)}")


def preview() -> QWidget:
    """The browser alone, for ``python -m widgets.preview data``."""
    from widgets.common.settings import settings

    w = DatasetBrowser(settings=settings())
    w.setWindowTitle("Filter Explorer — datasets")
    w.resize(520, 720)
    return w
