"""Probe workspace controls: the model list, the probe settings form, the history table, a message banner."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

STATE_COLOURS = {"random": (71, 85, 105), "hand-designed": (217, 119, 6), "trained": (22, 128, 61)}
STATE_TIPS = {
    "random": "random: the backbone keeps its random initialisation (nothing learned)",
    "hand-designed": "hand-designed: kernels chosen by hand in the Kernel Workbench (nothing learned)",
    "trained": "trained: weights learned on a dataset (the reference the others are compared with)",
}


def state_colour(state: str) -> QColor:
    return QColor(*STATE_COLOURS.get(state, (100, 100, 100)))


# --- models ---------------------------------------------------------------------------------------------------
class ModelList(QTreeWidget):
    """A checkable list of model specs: name + weight-state tag. Emits ``checkedChanged`` with the checked labels."""

    checkedChanged = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(2)
        self.setHeaderLabels(["Model", "Weights"])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.header().setStretchLastSection(False)
        self.setToolTip("Check the backbones to probe. Each is frozen; only a linear head is trained on its "
                        "features.\nWeights: random / hand-designed / trained.")
        self.itemChanged.connect(self._on_item_changed)
        self._specs: dict[str, Any] = {}

    def set_specs(self, specs: list[tuple[str, Any, str]], checked: list[str] | None = None) -> None:
        """specs: (label, ModelSpec, source) in display order. Keeps the current checks unless ``checked``."""
        keep = set(self.checked_labels() if checked is None else checked)
        self.blockSignals(True)
        self.clear()
        self._specs = {}
        for label, spec, source in specs:
            if label in self._specs:
                continue
            self._specs[label] = spec
            state = getattr(spec, "weight_state", "random") or "random"
            item = QTreeWidgetItem([label, state])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Checked if label in keep else Qt.CheckState.Unchecked)
            item.setForeground(1, QBrush(state_colour(state)))
            where = "built in" if source == "zoo" else "from the Models workspace"
            item.setToolTip(0, f"{label}\nbackbone: {spec.backbone} ({where})")
            item.setToolTip(1, STATE_TIPS.get(state, state))
            self.addTopLevelItem(item)
        self.blockSignals(False)
        self.checkedChanged.emit(self.checked_labels())

    def labels(self) -> list[str]:
        return list(self._specs)

    def spec(self, label: str) -> Any:
        return self._specs[label]

    def checked_labels(self) -> list[str]:
        out = []
        for i in range(self.topLevelItemCount()):
            it = self.topLevelItem(i)
            if it.checkState(0) == Qt.CheckState.Checked:
                out.append(it.text(0))
        return out

    def checked_specs(self) -> list[Any]:
        return [self._specs[label] for label in self.checked_labels()]

    def set_checked(self, labels: list[str]) -> None:
        want = set(labels)
        self.blockSignals(True)
        for i in range(self.topLevelItemCount()):
            it = self.topLevelItem(i)
            it.setCheckState(0, Qt.CheckState.Checked if it.text(0) in want else Qt.CheckState.Unchecked)
        self.blockSignals(False)
        self.checkedChanged.emit(self.checked_labels())

    def item_for(self, label: str) -> QTreeWidgetItem | None:
        for i in range(self.topLevelItemCount()):
            if self.topLevelItem(i).text(0) == label:
                return self.topLevelItem(i)
        return None

    @Slot(QTreeWidgetItem, int)
    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if column == 0:
            self.checkedChanged.emit(self.checked_labels())


# --- probe settings ---------------------------------------------------------------------------------------------
LAYERS = [
    ("default", None, "each backbone's probe default (usually its last layer)"),
    ("last layer", -1, "the backbone's last feature layer"),
    ("2nd from last", -2, "one layer before the last"),
    ("3rd from last", -3, "two layers before the last"),
    ("4th from last", -4, "three layers before the last"),
    ("first layer", 0, "the first feature layer (low-level edges and colours)"),
]

POOLING_TIPS = {
    "default": "each backbone's probe default",
    "gap": "global average pooling: one value per channel",
    "max": "global max pooling: one value per channel",
    "grid2": "average over a 2x2 grid: 4 values per channel (keeps coarse position)",
    "grid3": "average over a 3x3 grid: 9 values per channel",
    "grid4": "average over a 4x4 grid: 16 values per channel",
    "maxgrid2": "max over a 2x2 grid",
    "maxgrid3": "max over a 3x3 grid",
    "maxgrid4": "max over a 4x4 grid",
}

HEAD_TIPS = {
    "logistic": "Softmax (multinomial logistic) regression on the standardised features, trained with L-BFGS.",
    "ridge": "Ridge regression on one-vs-all targets, solved in closed form (fast, no epochs).",
    "svm": "Linear SVM (one-vs-rest, squared hinge), trained with L-BFGS.",
    "knn": "k nearest neighbours: no training; test features vote among their nearest training features.",
}

# (head, option, label, kind, minimum, maximum, default, tooltip)
HEAD_OPTIONS = [
    ("logistic", "weight_decay", "Weight decay", "float", 0.0, 10.0, 1e-4,
     "L2 penalty on the head's weights. Larger values give a simpler head that overfits less;\n"
     "try 1e-4 .. 1e-2. 0 = no penalty."),
    ("logistic", "epochs", "Max iterations", "int", 1, 2000, 100,
     "At most this many L-BFGS iterations (each a full pass over the training features). Training stops\n"
     "earlier once the gradient is below the tolerance (as scikit-learn's tol); up to 4096 features the\n"
     "head is preconditioned and usually converges in a few dozen iterations."),
    ("ridge", "alpha", "Alpha", "float", 0.0, 1e6, 1.0,
     "Ridge regularisation strength: larger alpha shrinks the weights more. Closed form, no epochs."),
    ("svm", "C", "C", "float", 1e-6, 1e6, 1.0,
     "Inverse regularisation of the SVM: larger C fits the training set harder (risk of overfitting)."),
    ("svm", "epochs", "Epochs", "int", 1, 2000, 100,
     "Optimiser passes over the training features (L-BFGS iterations)."),
    ("knn", "k", "k", "int", 1, 200, 5,
     "How many nearest training examples vote for each test example's class."),
]


class ProbeSettings(QWidget):
    """Layer, pooling, head + its options, seeds and the test subset. Emits ``changed`` on any edit."""

    changed = Signal()

    def __init__(self, heads: tuple[str, ...], poolings: tuple[str, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)

        self.layer = QComboBox()
        for text, value, tip in LAYERS:
            self.layer.addItem(text, value)
            self.layer.setItemData(self.layer.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.layer.setToolTip("Which layer's feature maps the head sees (counted per backbone, so one choice fits "
                              "backbones of different depth).")
        form.addRow("Layer", self.layer)

        self.pooling = QComboBox()
        for p in poolings:
            self.pooling.addItem(p, p)
            self.pooling.setItemData(self.pooling.count() - 1, POOLING_TIPS.get(p, p), Qt.ItemDataRole.ToolTipRole)
        self.pooling.setToolTip("How a feature map becomes a feature vector before the head.")
        form.addRow("Pooling", self.pooling)

        self.head = QComboBox()
        for h in heads:
            self.head.addItem(h, h)
            self.head.setItemData(self.head.count() - 1, HEAD_TIPS.get(h, h), Qt.ItemDataRole.ToolTipRole)
        self.head.setToolTip("The classifier trained on the frozen features:\n" +
                             "\n".join(f"{h}: {HEAD_TIPS.get(h, '')}" for h in heads))
        form.addRow("Head", self.head)

        self.options = QStackedWidget()
        self._editors: dict[tuple[str, str], QSpinBox | QDoubleSpinBox] = {}
        self._pages: dict[str, int] = {}
        for h in heads:
            page = QWidget()
            pf = QFormLayout(page)
            pf.setContentsMargins(0, 0, 0, 0)
            pf.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
            for head, key, label, kind, lo, hi, default, tip in HEAD_OPTIONS:
                if head != h:
                    continue
                if kind == "int":
                    ed: QSpinBox | QDoubleSpinBox = QSpinBox()
                    ed.setRange(int(lo), int(hi))
                    ed.setValue(int(default))
                else:
                    ed = QDoubleSpinBox()
                    ed.setDecimals(6)
                    ed.setRange(lo, hi)
                    ed.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
                    ed.setValue(default)
                ed.setToolTip(tip)
                ed.valueChanged.connect(self.changed)
                self._editors[(h, key)] = ed
                lab = QLabel(label)
                lab.setToolTip(tip)
                pf.addRow(lab, ed)
            if pf.rowCount() == 0:
                pf.addRow(QLabel("no options"))
            self._pages[h] = self.options.addWidget(page)
        form.addRow(self.options)

        self.seeds = QSpinBox()
        self.seeds.setRange(1, 20)
        self.seeds.setPrefix("seeds: ")
        self.seeds.setToolTip("Run each model with this many seeds (different random initialisations and subsets);\n"
                              "the comparison then shows mean ± standard deviation.")
        form.addRow("Repeats", self.seeds)

        self.test_limit = QSpinBox()
        self.test_limit.setRange(0, 100000)
        self.test_limit.setSingleStep(500)
        self.test_limit.setSpecialValueText("all")
        self.test_limit.setSuffix(" images")
        self.test_limit.setToolTip("Evaluate on a seeded subset of the test split (all = the whole split).")
        form.addRow("Test subset", self.test_limit)

        self.head.currentIndexChanged.connect(self._on_head)
        for w in (self.layer, self.pooling):
            w.currentIndexChanged.connect(self.changed)
        self.seeds.valueChanged.connect(self.changed)
        self.test_limit.valueChanged.connect(self.changed)
        self._on_head()

    @Slot()
    def _on_head(self) -> None:
        self.options.setCurrentIndex(self._pages.get(self.head.currentData(), 0))
        self.changed.emit()

    # --- values ---
    def head_name(self) -> str:
        return str(self.head.currentData())

    def head_options(self, head: str | None = None) -> dict[str, Any]:
        head = head or self.head_name()
        return {key: ed.value() for (h, key), ed in self._editors.items() if h == head}

    def editor(self, head: str, key: str) -> QSpinBox | QDoubleSpinBox:
        return self._editors[(head, key)]

    def layer_value(self) -> int | None:
        return self.layer.currentData()

    def pooling_value(self) -> str:
        return str(self.pooling.currentData())

    def test_limit_value(self) -> int | None:
        return self.test_limit.value() or None

    # --- settings ---
    def save(self, s) -> None:
        s.setValue("probe/head", self.head_name())
        s.setValue("probe/layer", self.layer.currentIndex())
        s.setValue("probe/pooling", self.pooling_value())
        s.setValue("probe/seeds", self.seeds.value())
        s.setValue("probe/test_limit", self.test_limit.value())
        for (h, key), ed in self._editors.items():
            s.setValue(f"probe/options/{h}/{key}", ed.value())

    def restore(self, s) -> None:
        def idx(combo: QComboBox, value: Any) -> None:
            i = combo.findData(value)
            if i >= 0:
                combo.setCurrentIndex(i)

        idx(self.head, s.value("probe/head", "logistic"))
        li = _int(s.value("probe/layer", 0), 0)
        if 0 <= li < self.layer.count():
            self.layer.setCurrentIndex(li)
        idx(self.pooling, s.value("probe/pooling", "default"))
        self.seeds.setValue(_int(s.value("probe/seeds", 1), 1))
        self.test_limit.setValue(_int(s.value("probe/test_limit", 0), 0))
        for (h, key), ed in self._editors.items():
            v = s.value(f"probe/options/{h}/{key}")
            if v is None:
                continue
            try:
                ed.setValue(int(float(v)) if isinstance(ed, QSpinBox) else float(v))
            except (TypeError, ValueError):
                pass


def _int(v: Any, default: int) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


# --- history ----------------------------------------------------------------------------------------------------
class HistoryTable(QWidget):
    """The stored runs, newest first. Emits ``openRequested(id)`` for the selected run."""

    openRequested = Signal(int)
    deleteRequested = Signal(list)
    exportRequested = Signal(str, list)  # "csv"/"json", ids ([] = all)

    COLUMNS = ["#", "When", "Model", "Weights", "Dataset", "Head", "Top-1", "Top-5", "Train n", "Seed"]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        hh.setMinimumSectionSize(36)
        self.table.setToolTip("Every finished run, stored in the history database. Select a run to see its results; "
                              "Delete removes the selected runs.")
        self.table.itemSelectionChanged.connect(self._on_selection)
        lay.addWidget(self.table)

        self.empty = QLabel("No runs yet. Finished runs are stored here and kept between sessions.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("color: #667; padding: 12px;")
        lay.addWidget(self.empty)

        row = QHBoxLayout()
        self.count = QLabel("")
        self.count.setStyleSheet("color: #556;")
        row.addWidget(self.count, 1)
        self.delete_btn = QPushButton("Delete…")
        self.delete_btn.setToolTip("Delete the selected runs from the history (Delete key; asks first)")
        self.csv_btn = QPushButton("Export CSV…")
        self.csv_btn.setToolTip("Save the selected runs (all runs when none is selected) as a CSV table")
        self.json_btn = QPushButton("Export JSON…")
        self.json_btn.setToolTip("Save the selected runs (all when none is selected) with every stored detail")
        for b in (self.delete_btn, self.csv_btn, self.json_btn):
            row.addWidget(b)
        lay.addLayout(row)
        self.delete_btn.clicked.connect(lambda: self.deleteRequested.emit(self.selected_ids()))
        self.csv_btn.clicked.connect(lambda: self.exportRequested.emit("csv", self.selected_ids()))
        self.json_btn.clicked.connect(lambda: self.exportRequested.emit("json", self.selected_ids()))
        self._ids: list[int] = []
        self.set_runs([])

    def set_runs(self, runs: list[Any], select: int | None = None) -> None:
        t = self.table
        t.blockSignals(True)
        t.setRowCount(len(runs))
        self._ids = [r.id for r in runs]
        for i, r in enumerate(runs):
            cells = [str(r.id), r.created.replace("T", " ")[5:16], r.label, r.weight_state, r.dataset,
                     "own classifier" if r.head == "own" else r.head,
                     f"{100 * r.top1:.1f}%", "" if r.top5 is None else f"{100 * r.top5:.1f}%",
                     "" if r.n_train is None or r.head == "own" else str(r.n_train),
                     "" if r.seed is None else str(r.seed)]
            for j, text in enumerate(cells):
                it = QTableWidgetItem(text)
                if j in (0, 6, 7, 8, 9):
                    it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if j == 3:
                    it.setForeground(QBrush(state_colour(r.weight_state)))
                t.setItem(i, j, it)
        t.clearSelection()
        if select is not None and select in self._ids:
            t.selectRow(self._ids.index(select))
        t.blockSignals(False)
        self.table.setVisible(bool(runs))
        self.empty.setVisible(not runs)
        self.count.setText(f"{len(runs)} run{'s' if len(runs) != 1 else ''} stored" if runs else "")
        self._on_selection(emit=False)

    def ids(self) -> list[int]:
        return list(self._ids)

    def selected_ids(self) -> list[int]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self._ids[r] for r in rows if r < len(self._ids)]

    def select_id(self, run_id: int) -> None:
        if run_id in self._ids:
            self.table.selectRow(self._ids.index(run_id))

    @Slot()
    def _on_selection(self, emit: bool = True) -> None:
        sel = self.selected_ids()
        self.delete_btn.setEnabled(bool(sel))
        has = bool(self._ids)
        self.csv_btn.setEnabled(has)
        self.json_btn.setEnabled(has)
        if emit and len(sel) == 1:
            self.openRequested.emit(sel[0])


class Banner(QWidget):
    """An inline message (error or note) with a close button: never modal, so work goes on."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 6, 4, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.label, 1)
        close = QToolButton()
        close.setText("×")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss this message")
        close.clicked.connect(self.hide)
        lay.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.hide()

    def show_message(self, text: str, kind: str = "error") -> None:
        colours = {"error": ("#fdecec", "#b42318"), "note": ("#eef4ff", "#1d4ed8")}
        bg, fg = colours.get(kind, colours["note"])
        self.setStyleSheet(f"Banner {{ background: {bg}; border: 1px solid {fg}; border-radius: 4px; }}"
                           f" QLabel {{ color: {fg}; }}")
        self.label.setText(text)
        self.show()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""
