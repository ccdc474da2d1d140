"""The Models workspace's layer table: one row per layer with parameters, a Freeze tick per layer and a per-layer
initialisation (a formula or a Workbench bank). It shows a ``viz.ModelView``; edits leave as signals."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.models import viz
from widgets.common.elided_combo import ElidedCombo
from widgets.models.builder_form import INITS
from widgets.models.layer_columns import LayerGrid

COLUMNS = ["Layer", "Kind", "In -> Out", "Kernel", "Stride", "Params", "Trainable", "Freeze", "Initialisation"]
COL_FROZEN, COL_BANK = 7, 8
COMBOS_PER_TURN = 6
HEADER_TIPS = [
    "Layer name (the name a Workbench bank goes into) and its module path",
    "conv, 1x1 conv, depthwise conv, batch-norm or linear (also of a TorchScript model); any other layer with "
    "parameters: its class name (LayerNorm, ...)",
    "Input and output channels",
    "Kernel size",
    "Stride of the convolution",
    "Parameters of the layer (weights and biases)",
    "Parameters training will change",
    "Tick to freeze the layer (bit-identical in training); the text says how many of its parameters are frozen",
    "The layer's own initialisation: one of the formulas, or a Workbench bank from the Kernels workspace",
]


def _row_tip(r: viz.LayerRow) -> str:
    return f"{r.path} ({r.kind}): {r.params:,} parameters, {r.trainable:,} trainable, {r.frozen:,} frozen"


def frozen_text(r: viz.LayerRow) -> str:
    """The Freeze cell's words: nothing when nothing is frozen, "all" or how many parameters otherwise."""
    if r.frozen == 0:
        return ""
    return "all frozen" if r.trainable == 0 else f"{viz.fmt_count(r.frozen)} frozen"


def init_width() -> tuple[int, int]:
    """The Initialisation column's width and the least it gives way to. Sized to its contents, it took the longest
    entry of its combos ("bank: gabor bank (shape (16, 3, 11, 11))"), wider than the table's room: the combos were
    cut at the table's edge. It is as wide as a combo sized for "(model init)" (the popup lists the long bank names
    at their width), and short of room no narrower than one that still shows "(model init)" whole."""
    combo = LayerTable._init_combo()
    return combo.sizeHint().width(), min(combo.sizeHint().width(), combo.width_for("(model init)") + 1)  # + the grid


class LayerTable(QWidget):
    frozenToggled = Signal(str, bool)  # layer path, frozen
    initChosen = Signal(str, str)  # conv label, "bank:NAME" | "init:KIND" | "" (the model's init)
    kernelLayerSelected = Signal(str)  # the path of a selected layer that has kernels

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view: viz.ModelView | None = None
        # --- layer table -----------------------------------------------------------------------------------
        # the Layer column fits its longest name (up to a cap), the others give way first (``layer_columns``)
        self.table = LayerGrid(0, len(COLUMNS), given={COL_BANK: init_width()})
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for c, tip in enumerate(HEADER_TIPS):  # named first: a header that gives way is elided ("Trai…")
            self.table.horizontalHeaderItem(c).setToolTip(f"{COLUMNS[c]}: {tip}")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setToolTip("Every layer with parameters. Tick Frozen to keep a layer fixed in training; choose a "
                              "Workbench bank to put its kernels into a conv; select a conv to show its kernels.")
        self.totals = QLabel(" ")
        self.totals.setStyleSheet("font-weight: bold;")
        tl = QVBoxLayout(self)
        tl.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.table_title = QLabel("<b>Layers</b>")
        self.table_title.setWordWrap(True)  # a long model name wraps instead of widening the window
        # the totals are one line (three counts: at most ~50 characters), the title giving way: word-wrapped too, a
        # label's size hint is narrower than its text, and "269.7k parameters: 269.7k trainable, 0" left "frozen"
        # alone on a second line at 1024 and 1400 px, though the title beside it had room to spare
        head.addWidget(self.table_title, 1)
        head.addWidget(self.totals, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        tl.addLayout(head)
        tl.addWidget(self.table, 1)

        self.table.itemChanged.connect(self._on_item)
        self.table.itemSelectionChanged.connect(self._on_select)
        # the per-layer combos are widgets (a ResNet's twenty took 50-150 ms of the GUI thread at once): a few per turn
        self._combos: list[tuple[int, viz.LayerRow]] = []
        self._combo_args: tuple = ([], {}, {})
        self._combo_timer = QTimer(self, singleShot=True, interval=5)
        self._combo_timer.timeout.connect(self._more_combos)

    def fill(self, view: viz.ModelView, banks: dict, layer_init: dict[str, str]) -> None:
        """One row per layer with parameters; ``banks``: the session's Workbench banks by name; ``layer_init``:
        conv label -> "bank:NAME" or "init:KIND" (the current per-layer choices)."""
        self.view = view
        self._combo_timer.stop()
        self._combos = []
        # the columns are measured once, at the end (``LayerGrid.measure``): sized to their contents cell by cell,
        # lc-resnet20's ~1,000 cells took 0.6-0.9 s of the GUI thread at each option change while on screen
        self._fill_rows(view)
        self.table.measure()
        self._combo_args = (sorted(banks), banks, layer_init)
        self._add_combos(COMBOS_PER_TURN)  # the first rows' at once, the others' a few per event-loop turn

    def _fill_rows(self, view: viz.ModelView) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(len(view.rows))
        for i, r in enumerate(view.rows):
            label = r.label if r.label == r.path else f"{r.label}  ({r.path})"
            io = f"{r.in_channels} -> {r.out_channels}" if r.out_channels else ""
            cells = [label, r.kind, io, r.kernel, str(r.stride) if r.kernel else "", viz.fmt_count(r.params),
                     viz.fmt_count(r.trainable), frozen_text(r)]
            for c, text in enumerate(cells):
                it = QTableWidgetItem(text)
                it.setToolTip(_row_tip(r))
                if c >= 4:
                    it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if c == 0:
                    it.setData(Qt.ItemDataRole.UserRole, r.path)
                if c == COL_FROZEN:
                    it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                    state = (Qt.CheckState.Checked if r.trainable == 0 else
                             Qt.CheckState.PartiallyChecked if r.frozen else Qt.CheckState.Unchecked)
                    it.setCheckState(state)
                    it.setToolTip("Tick to freeze this layer in training (kept bit-identical); partly: some kernels "
                                  "are frozen by a Workbench bank")
                if r.frozen and r.trainable == 0:
                    it.setForeground(Qt.GlobalColor.darkBlue)
                self.table.setItem(i, c, it)
            self.table.removeCellWidget(i, COL_BANK)
            if r.has_kernels:
                self._combos.append((i, r))
            else:
                self.table.setItem(i, COL_BANK, QTableWidgetItem(""))
        self.table.blockSignals(False)

    @staticmethod
    def _init_combo() -> ElidedCombo:
        """An Initialisation combo, sized for "(model init)" whatever the bank names it lists (a longer bank name
        elides, "bank: gabor b…"; the tooltip holds it whole)."""
        combo = ElidedCombo()
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(len("(model init)") + 1)
        return combo

    def _add_combos(self, count: int | None = None) -> None:
        """Create the Initialisation combos of the next ``count`` rows (all when None)."""
        names, banks, layer_init = self._combo_args
        todo, self._combos = (self._combos, []) if count is None else (self._combos[:count], self._combos[count:])
        for i, r in todo:
            combo = self._init_combo()
            combo.addItem("(model init)", "")
            combo.setItemData(0, "The initialisation chosen on the left (or the loaded weights)",
                              Qt.ItemDataRole.ToolTipRole)
            for kind in viz.LAYER_INITS:
                combo.addItem(kind, f"init:{kind}")
                combo.setItemData(combo.count() - 1, dict(INITS).get(kind, kind), Qt.ItemDataRole.ToolTipRole)
            shape = tuple(r.weight_shape)
            for b in names:
                bank_shape = tuple(getattr(banks[b], "shape", ()))
                combo.addItem(f"bank: {b}" if bank_shape == shape else f"bank: {b} (shape {bank_shape})",
                              f"bank:{b}")
                combo.setItemData(combo.count() - 1, f"Workbench bank {b!r}, shape {bank_shape}",
                                  Qt.ItemDataRole.ToolTipRole)
            combo.setCurrentIndex(max(0, combo.findData(layer_init.get(r.label, ""))))
            combo.set_about(f"Initialise {r.label} on its own: an initialisation, or a Workbench bank of shape "
                            f"{shape} (out, in, k, k)")
            combo.setObjectName(f"init_{r.label}")
            combo.currentIndexChanged.connect(lambda _i, c=combo, lab=r.label: self.initChosen.emit(lab, c.currentData() or ""))
            self.table.setCellWidget(i, COL_BANK, combo)
        if self._combos:
            self._combo_timer.start()

    @Slot()
    def _more_combos(self) -> None:
        self._add_combos(COMBOS_PER_TURN)

    @Slot(object)
    def _on_item(self, item: QTableWidgetItem) -> None:
        if item.column() != COL_FROZEN or self.view is None:
            return
        row = self.view.rows[item.row()]
        self.frozenToggled.emit(row.path, item.checkState() == Qt.CheckState.Checked)

    @Slot()
    def _on_select(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or self.view is None:
            return
        r = self.view.rows[rows[0].row()]
        if r.has_kernels:
            self.kernelLayerSelected.emit(r.path)

    def combo(self, label: str) -> QComboBox | None:
        self._add_combos()
        return self.findChild(QComboBox, f"init_{label}")
