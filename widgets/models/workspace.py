"""The Models workspace: build a backbone, see its layers and kernels, compare two models, add it to the session.

Left: the builder (backbone, its constructor options, initialisation, weights, freezing, name, Add to session,
Train...). Right, top: the layer table (per-layer freeze toggles and Workbench banks). Right, bottom: two kernel
panels side by side (the builder's model or any reference / session model, one layer each).

Every build runs off the GUI thread (``app.models.viz.inspect_task`` in a ``widgets.common.worker.Worker``); results are
immutable ``ModelView`` snapshots cached by spec key.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch  # noqa: F401  (before Qt, also when this file runs alone)
from PySide6.QtCore import QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.models import describe, names, viz
from app.models.spec import ModelSpec
from app.session import Session
from widgets.models.kernel_view import KernelPanel
from widgets.common.worker import WorkerPool

BUILDER = "builder"
INITS = [
    ("default", "The constructor's own initialisation (PyTorch defaults, He init for ResNets)"),
    ("kaiming", "He normal (fan-in, ReLU gain), zero biases"),
    ("gaussian", "N(0, 1) weights and biases"),
    ("uniform", "U(-1, 1) weights and biases"),
    ("signed-constant", "each weight +-sqrt(2 / fan_in) with a random sign (Ramanujan et al.)"),
    ("orthogonal", "orthogonal flattened kernels, zero biases"),
]
COLUMNS = ["Layer", "Kind", "In -> Out", "Kernel", "Stride", "Params", "Trainable", "Frozen", "Initialisation"]
COL_FROZEN, COL_BANK = 7, 8
MAX_CACHED_VIEWS = 12
OPTION_LABELS = {"blocks": "blocks (L)", "expansion": "expansion (E)", "k": "filters (k)"}
HEADER_TIPS = [
    "Layer name (the name a Workbench bank goes into) and its module path",
    "conv, 1x1 conv, depthwise conv, batch-norm or linear",
    "Input and output channels",
    "Kernel size",
    "Stride of the convolution",
    "Parameters of the layer (weights and biases)",
    "Parameters training will change",
    "Tick to freeze the layer (bit-identical in training); the number is its frozen parameters",
    "The layer's own initialisation: one of the formulas, or a Workbench bank from the Kernels workspace",
]


def _row_tip(r: viz.LayerRow) -> str:
    return f"{r.path} ({r.kind}): {r.params:,} parameters, {r.trainable:,} trainable, {r.frozen:,} frozen"


class ModelsWorkspace(QWidget):
    _session_event = Signal(str, str)  # (kind, name), queued to the GUI thread from any thread

    def __init__(self, session: Session, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.settings = settings
        self.pool = WorkerPool(self)
        self._views: dict[str, viz.ModelView] = {}  # cache key -> snapshot
        self._errors: dict[str, str] = {}  # cache key -> build error
        self._running: dict[str, object] = {}  # cache key -> Worker
        self._specs: dict[str, ModelSpec] = {}  # source id -> spec (reference and session models)
        self._builder_spec: ModelSpec | None = None
        self._builder_view: viz.ModelView | None = None
        self._fields: dict[str, tuple[viz.OptionField, QWidget]] = {}
        self._layer_freeze: dict[str, bool] = {}  # layer path -> frozen (overrides on top of the preset)
        self._layer_init: dict[str, str] = {}  # conv label -> "bank:NAME" (session bank) or "init:KIND"
        self._builder_inits: tuple[tuple[str, str], ...] = ()  # per-layer inits of the current build
        self._builder_view_key = ""
        self._weights: str | None = None
        self._pending_weights: str | None = None
        self._loading = False
        self.train_dialog = None
        self._restore_layer = ""

        self._rebuild_timer = QTimer(self)
        self._rebuild_timer.setSingleShot(True)
        self._rebuild_timer.setInterval(200)
        self._rebuild_timer.timeout.connect(self.rebuild)

        self._make_ui()
        self._restore()
        self._session_event.connect(self._on_session_event)
        self._unsubscribe = session.subscribe(lambda kind, name: self._session_event.emit(kind, name))
        self._refresh_sources()
        self.rebuild()

    # ================================================================================================= UI
    def _make_ui(self) -> None:
        # --- builder ------------------------------------------------------------------------------------
        self.backbone = QComboBox()
        for n in names():
            self.backbone.addItem(n, n)
            self.backbone.setItemData(self.backbone.count() - 1, describe(n), Qt.ItemDataRole.ToolTipRole)
        self.backbone.setToolTip("The backbone architecture (Ctrl+B focuses this)")
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: #555;")
        self.options_box = QGroupBox("Options")
        self.options_form = QFormLayout(self.options_box)
        self.options_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        self.init = QComboBox()
        for key, tip in INITS:
            self.init.addItem(key, key)
            self.init.setItemData(self.init.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.init.setToolTip("How every conv and linear layer is initialised (a layer that takes a Workbench bank in "
                             "the table, or loaded weights, overrides it)")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Random seed of the initialisation (same seed, same weights)")
        self.weights_label = QLabel("none (random)")
        self.weights_label.setWordWrap(True)
        self.weights_label.setToolTip("Weights loaded from a checkpoint (.safetensors with its .json sidecar, "
                                      ".pt/.pth/.th state dicts)")
        self.load_btn = QPushButton("Load weights…")
        self.load_btn.setToolTip("Load a checkpoint into this model (Ctrl+O); a file that does not fit is refused "
                                 "with the reason, and the model stays as it was")
        self.clear_weights_btn = QPushButton("Clear")
        self.clear_weights_btn.setToolTip("Back to the initialisation (forget the loaded weights)")
        wrow = QHBoxLayout()
        wrow.addWidget(self.load_btn)
        wrow.addWidget(self.clear_weights_btn)
        self.freeze = QComboBox()
        for label, entries in viz.FREEZE_PRESETS.items():
            self.freeze.addItem(label, label)
            self.freeze.setItemData(self.freeze.count() - 1,
                                    "freeze entries: " + (", ".join(entries) or "none"), Qt.ItemDataRole.ToolTipRole)
        self.freeze.setToolTip("What stays frozen in training; toggle single layers in the table's Frozen column")
        init_box = QGroupBox("Initialisation, weights, freezing")
        f2 = QFormLayout(init_box)
        f2.addRow("Init", self.init)
        f2.addRow("Seed", self.seed)
        f2.addRow("Weights", self.weights_label)
        f2.addRow("", wrow)
        f2.addRow("Freeze", self.freeze)

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("name in the session (automatic)")
        self.name_edit.setToolTip("The name Live and Probe will show for this model")
        self.add_btn = QPushButton("Add to session")
        self.add_btn.setToolTip("Put this model into the session so Live and Probe can use it (Ctrl+Return)")
        self.train_btn = QPushButton("Train…")
        self.train_btn.setToolTip("Train this model end to end on MNIST or digits, with progress, live curves and "
                                  "Cancel; frozen layers stay bit-identical (Ctrl+T)")
        self.reset_btn = QPushButton("Reset options")
        self.reset_btn.setToolTip("Back to the backbone's default options")
        brow = QHBoxLayout()
        brow.addWidget(self.add_btn)
        brow.addWidget(self.train_btn)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.setStyleSheet("background: #fde2e1; color: #8a1c1c; border: 1px solid #e6a5a2; padding: 4px;")
        self.banner.hide()
        self.status = QLabel(" ")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #555;")
        self.stages = QLabel(" ")
        self.stages.setWordWrap(True)
        self.stages.setTextFormat(Qt.TextFormat.RichText)
        self.stages.setToolTip("The layers Live and Probe can tap (feature_info): channels and output stride")

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(6, 6, 6, 6)
        ll.addWidget(QLabel("<b>Backbone</b>"))
        ll.addWidget(self.backbone)
        ll.addWidget(self.description)
        ll.addWidget(self.options_box)
        ll.addWidget(self.reset_btn)
        ll.addWidget(init_box)
        ll.addWidget(self.name_edit)
        ll.addLayout(brow)
        ll.addWidget(self.banner)
        ll.addWidget(self.status)
        ll.addWidget(self.stages)
        ll.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(330)
        scroll.setMaximumWidth(440)

        # --- layer table -----------------------------------------------------------------------------------
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for c, tip in enumerate(HEADER_TIPS):
            self.table.horizontalHeaderItem(c).setToolTip(tip)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip("Every layer with parameters. Tick Frozen to keep a layer fixed in training; choose a "
                              "Workbench bank to put its kernels into a conv; select a conv to show its kernels.")
        self.totals = QLabel(" ")
        self.totals.setStyleSheet("font-weight: bold;")
        table_box = QWidget()
        tl = QVBoxLayout(table_box)
        tl.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.table_title = QLabel("<b>Layers</b>")
        head.addWidget(self.table_title)
        head.addStretch(1)
        head.addWidget(self.totals)
        tl.addLayout(head)
        tl.addWidget(self.table, 1)

        # --- kernel panels -----------------------------------------------------------------------------------
        self.panel_a = KernelPanel("A")
        self.panel_b = KernelPanel("B")
        self.scale = QComboBox()
        self.scale.addItem("one scale per layer", "layer")
        self.scale.addItem("each kernel to its own range", "kernel")
        self.scale.setToolTip("Colour scaling of the mosaics: one |w| limit per layer (compare magnitudes) or each "
                              "kernel stretched to its own range (compare shapes)")
        self.link = QCheckBox("same layer on both sides")
        self.link.setChecked(True)
        self.link.setToolTip("Choosing a layer on one side chooses the layer of the same name on the other")
        self.compare = QLabel(" ")
        self.compare.setStyleSheet("color: #444;")
        self.compare.setToolTip("Statistics of the two shown layers (correlation when shapes match)")
        ctl = QHBoxLayout()
        ctl.addWidget(QLabel("<b>Kernels</b>"))
        ctl.addWidget(self.scale)
        ctl.addWidget(self.link)
        ctl.addStretch(1)
        ctl.addWidget(self.compare)
        panels = QSplitter(Qt.Orientation.Horizontal)
        panels.addWidget(self.panel_a)
        panels.addWidget(self.panel_b)
        kbox = QWidget()
        kl = QVBoxLayout(kbox)
        kl.setContentsMargins(0, 0, 0, 0)
        kl.addLayout(ctl)
        kl.addWidget(panels, 1)

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(table_box)
        right.addWidget(kbox)
        right.setStretchFactor(0, 2)
        right.setStretchFactor(1, 3)
        right.setSizes([300, 520])
        self.right_splitter = right

        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(scroll)
        main.addWidget(right)
        main.setStretchFactor(1, 1)
        main.setSizes([350, 1050])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(main)

        # --- wiring ---------------------------------------------------------------------------------------------
        self.backbone.currentIndexChanged.connect(self._on_backbone)
        self.init.currentIndexChanged.connect(self._changed)
        self.seed.valueChanged.connect(self._changed)
        self.freeze.currentIndexChanged.connect(self._on_preset)
        self.load_btn.clicked.connect(self.choose_weights)
        self.clear_weights_btn.clicked.connect(self.clear_weights)
        self.add_btn.clicked.connect(self.add_to_session)
        self.train_btn.clicked.connect(self.open_train)
        self.reset_btn.clicked.connect(self.reset_options)
        self.table.itemChanged.connect(self._on_table_item)
        self.table.itemSelectionChanged.connect(self._on_table_select)
        self.panel_a.source_changed.connect(lambda _s: self._load_panel(self.panel_a))
        self.panel_b.source_changed.connect(lambda _s: self._load_panel(self.panel_b))
        self.panel_a.layer_changed.connect(self._on_panel_layer)
        self.panel_b.layer_changed.connect(self._on_panel_layer)
        self.scale.currentIndexChanged.connect(self._on_scale)

        for seq, fn in (("Ctrl+O", self.choose_weights), ("Ctrl+Return", self.add_to_session),
                        ("Ctrl+T", self.open_train), ("Ctrl+B", self.backbone.setFocus),
                        ("Ctrl+R", self.rebuild)):
            act = QAction(self)
            act.setShortcut(QKeySequence(seq))
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            act.triggered.connect(fn)
            self.addAction(act)

    def shortcuts(self) -> list[str]:
        return ["Ctrl+B: choose the backbone", "Ctrl+O: load weights", "Ctrl+Return: add to session",
                "Ctrl+T: train…", "Ctrl+R: rebuild now"]

    # ============================================================================================ options
    def _fill_options(self, backbone: str, values: dict | None = None) -> None:
        while self.options_form.rowCount():
            self.options_form.removeRow(0)
        self._fields.clear()
        values = values or {}
        try:
            fields = viz.option_fields(backbone)
        except Exception as exc:  # an odd constructor: build with defaults
            fields = []
            self._show_error(f"Options of {backbone} could not be read: {exc}")
        for f in fields:
            value = values.get(f.name, f.default)
            if f.kind == "bool":
                w = QCheckBox()
                w.setChecked(bool(value))
                w.toggled.connect(self._changed)
            elif f.kind == "choice":
                w = QComboBox()
                w.addItems(list(f.choices))
                w.setCurrentIndex(max(0, w.findText(str(value))))
                w.currentIndexChanged.connect(self._changed)
            elif f.kind == "int":
                w = QSpinBox()
                w.setRange(0 if f.default == 0 or f.name == "num_classes" else 1, 1_000_000)
                try:
                    w.setValue(int(value))
                except (TypeError, ValueError):
                    w.setValue(int(f.default))
                w.valueChanged.connect(self._changed)
            else:
                w = QLineEdit(viz.format_option(f, value))
                if f.kind == "optional_int":
                    w.setPlaceholderText("automatic")
                w.textEdited.connect(self._changed)
            w.setToolTip(f.tooltip)
            w.setObjectName(f"option_{f.name}")
            label = QLabel(OPTION_LABELS.get(f.name, f.name.replace("_", " ")))
            label.setToolTip(f.tooltip)
            self.options_form.addRow(label, w)
            self._fields[f.name] = (f, w)
        self.options_box.setVisible(bool(fields))

    def option_widget(self, name: str) -> QWidget:
        return self._fields[name][1]

    def _option_values(self) -> dict:
        """Non-default options as the constructor's values; ValueError naming the bad field."""
        out = {}
        for name, (f, w) in self._fields.items():
            if isinstance(w, QCheckBox):
                v = w.isChecked()
            elif isinstance(w, QComboBox):
                v = w.currentText()
            elif isinstance(w, QSpinBox):
                v = w.value()
            else:
                v = viz.parse_option(f, w.text())
            if v != f.default:
                out[name] = v
        return out

    # ============================================================================================== spec
    def current_spec(self, weights: str | None | bool = False) -> ModelSpec:
        """The builder's spec (ValueError with a readable message when a field is wrong)."""
        backbone = self.backbone.currentData()
        options = self._option_values()
        w = self._weights if weights is False else weights
        banks = []
        for layer, choice in self._layer_init.items():
            bank = self.session.banks.get(choice[5:]) if choice.startswith("bank:") else None
            if bank is not None:
                banks.append((layer, bank))

        init = self.init.currentData()
        if w:
            init = "checkpoint"
        state = "trained" if w else ("hand-designed" if banks else "random")
        label = self.name_edit.text().strip() or self._auto_name(backbone, options, init, w, banks,
                                                                  self._layer_inits())
        return ModelSpec.make(backbone, label=label, options=options, init=init, weights=w,
                              freeze=viz.freeze_entries(self.freeze.currentData(), self._layer_freeze),
                              seed=self.seed.value(), weight_state=state, banks=tuple(banks))

    def _layer_inits(self) -> tuple[tuple[str, str], ...]:
        """(layer, init) for the layers given their own initialisation in the table."""
        return tuple(sorted((k, v[5:]) for k, v in self._layer_init.items() if v.startswith("init:")))

    def final_spec(self) -> ModelSpec:
        """The complete builder spec (per-layer initialisations turned into banks), as Live/Probe/training get it."""
        spec, inits, toggles = self.current_spec(), self._layer_inits(), self._freeze_toggles()
        if not inits and not toggles:
            return spec
        view = self._views.get(self._key(spec, inits))
        if view is not None:
            return view.spec
        return viz.resolve_layer_inits(spec, inits, toggles)[0]

    @staticmethod
    def _auto_name(backbone: str, options: dict, init: str, weights, banks, layer_inits=()) -> str:
        bits = [f"{k}={viz.format_option(viz.OptionField(k, 'str', None), v).replace(', ', '/')}"
                for k, v in options.items()]
        name = backbone + (f" [{', '.join(bits)}]" if bits else "")
        if weights:
            return f"{name} ({Path(weights).stem})"
        if banks:
            return f"{name} (hand-designed)"
        if layer_inits:
            return f"{name} ({init}; " + ", ".join(f"{lay}: {kind}" for lay, kind in layer_inits) + ")"
        return f"{name} ({init})" if init != "default" else f"{name} (random)"

    @staticmethod
    def _key(spec: ModelSpec, inits: tuple = ()) -> str:
        return spec.key() + "|" + ",".join(f"{n}:{id(b)}" for n, b in spec.banks) + "|" + repr(inits)

    # ============================================================================================ builds
    @Slot()
    def _changed(self, *_args) -> None:
        if not self._loading:
            self._rebuild_timer.start()

    @Slot(int)
    def _on_backbone(self, _index: int) -> None:
        if self._loading:
            return
        self._restore_layers(self.backbone.currentData())
        self._weights = None
        self.weights_label.setText("none (random)")
        saved = self._saved_options(self.backbone.currentData())
        self._fill_options(self.backbone.currentData(), saved)
        self.description.setText(describe(self.backbone.currentData()))
        self.rebuild()

    @Slot(int)
    def _on_preset(self, _index: int) -> None:
        if not self._loading:
            self._layer_freeze.clear()
            self._rebuild_timer.start()

    @Slot()
    def reset_options(self) -> None:
        self._fill_options(self.backbone.currentData(), {})
        self.rebuild()

    @Slot()
    def rebuild(self) -> None:
        """Build the builder's spec off the GUI thread (cached by spec)."""
        self._rebuild_timer.stop()
        try:
            spec = self.current_spec()
        except ValueError as exc:
            self._show_error(str(exc))
            return
        self._builder_spec = spec
        self._builder_inits = self._layer_inits()
        self._save()
        self.status.setText(f"Building {spec.label}…")
        self._request(spec, spec.label, self._builder_inits, self._freeze_toggles())
        self._deliver_builder()

    def _freeze_toggles(self) -> tuple[str, ...]:
        return viz.freeze_entries("", self._layer_freeze)

    def _request(self, spec: ModelSpec, title: str, inits: tuple = (), optional: tuple = ()) -> None:
        key = self._key(spec, inits)
        if key in self._views or key in self._running or key in self._errors:
            return
        worker = self.pool.start(
            lambda token, s=spec, t=title, i=inits, o=optional: viz.inspect_task(s, t, token, i, o),
            name=f"build {title}")
        self._running[key] = worker
        worker.finished.connect(lambda view, k=key: self._on_built(k, view))
        worker.failed.connect(lambda msg, k=key: self._on_build_failed(k, msg))
        worker.cancelled.connect(lambda k=key: self._running.pop(k, None))

    @Slot(object)
    def _on_built(self, key: str, view: viz.ModelView) -> None:
        self._running.pop(key, None)
        self._views[key] = view
        self._deliver_builder()
        self._deliver_panels()
        self._trim_cache()

    def _trim_cache(self, keep: int = MAX_CACHED_VIEWS) -> None:
        """Forget the oldest snapshots (kernel copies can be tens of MB) except those on screen."""
        shown = {id(self._builder_view), id(self.panel_a.view()), id(self.panel_b.view())}
        for key in list(self._views):
            if len(self._views) <= keep:
                break
            if id(self._views[key]) not in shown:
                del self._views[key]

    @Slot(str)
    def _on_build_failed(self, key: str, msg: str) -> None:
        self._running.pop(key, None)
        self._errors[key] = msg
        self._deliver_builder()
        self._deliver_panels()

    def _deliver_builder(self) -> None:
        spec = self._builder_spec
        if spec is None:
            return
        key = self._key(spec, self._builder_inits)
        if key in self._errors:
            msg = self._errors.pop(key)  # a retry after the user fixes something builds again
            if self._pending_weights and spec.weights == self._pending_weights:
                self._weights_refused(msg)
            else:
                self._show_error(f"Could not build {spec.backbone}: {msg}")
            return
        view = self._views.get(key)
        if view is None:
            return
        if self._pending_weights and spec.weights == self._pending_weights:
            self._weights = self._pending_weights
            self._pending_weights = None
            self.weights_label.setText(Path(self._weights).name)
            self.weights_label.setToolTip(self._weights)
            self._save()
        self._builder_view = view
        self._builder_view_key = key
        self.banner.hide()
        self.status.setText(f"{spec.label}: {len(view.rows)} layers with parameters"
                            + "".join(f"\n{n}" for n in view.notes))
        self._fill_table(view)
        self.table_title.setText(f"<b>Layers of {spec.label}</b>")
        self.totals.setText(view.totals_text())
        inp = "x".join(str(v) for v in view.input_shape)
        taps = "".join(f"<tr><td>{n}</td><td align='right'>{c}</td><td align='right'>/{st}</td></tr>"
                       for n, c, st in view.stages)
        self.stages.setText(f"<b>Taps</b> (input {inp})<table cellspacing='0' cellpadding='1'>"
                            f"<tr><td><i>layer</i></td><td><i>channels</i></td><td><i>stride</i></td></tr>{taps}"
                            f"</table>")
        self.add_btn.setEnabled(True)
        if self.panel_a.source_id() == BUILDER:
            self.panel_a.set_view(view)
            if self._restore_layer:
                self.panel_a.select_layer(self._restore_layer)
                self._restore_layer = ""
        if self.panel_b.source_id() == BUILDER:
            self.panel_b.set_view(view)
        self._update_compare()

    def _show_error(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.show()
        self.status.setText("The last good model is still shown.")

    # ============================================================================================ weights
    @Slot()
    def choose_weights(self) -> None:
        start = self.settings.value("models/weights_dir", str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(
            self, "Load weights", start,
            "Checkpoints (*.safetensors *.pt *.pth *.th *.bin *.ckpt);;All files (*)")
        if path:
            self.settings.setValue("models/weights_dir", str(Path(path).parent))
            self.load_weights(path)

    def load_weights(self, path: str) -> None:
        """Try the checkpoint on the current architecture off the GUI thread; keep it only if it fits."""
        self._pending_weights = str(path)
        try:
            spec = self.current_spec(weights=str(path))
        except ValueError as exc:
            self._pending_weights = None
            self._show_error(str(exc))
            return
        self._builder_spec = spec
        self._builder_inits = self._layer_inits()
        self.status.setText(f"Loading {Path(path).name}…")
        self._request(spec, spec.label, self._builder_inits, self._freeze_toggles())
        self._deliver_builder()

    def _weights_refused(self, msg: str) -> None:
        path = self._pending_weights or ""
        self._pending_weights = None
        hint = ""
        try:  # the sidecar (or the known-weights table) may say which architecture the file is for
            from app.models.build import spec_from_checkpoint

            other = spec_from_checkpoint(path)
            if other.backbone not in names() or other.backbone == self.backbone.currentData():
                raise ValueError("no better hint")
            opts = ", ".join(f"{k}={viz.format_option(viz.OptionField(k, 'str', None), v)}" for k, v in other.options)
            hint = f" — this file is for {other.backbone}" + (f" ({opts})" if opts else "") + "; choose that first."
        except Exception:
            pass
        self._show_error(f"Could not load {Path(path).name}: {msg}{hint}")
        try:  # back to the model as it was
            self._builder_spec = self.current_spec()
        except ValueError:
            return
        self._deliver_builder_keep_banner()

    def _deliver_builder_keep_banner(self) -> None:
        text, visible = self.banner.text(), self.banner.isVisibleTo(self)
        self._request(self._builder_spec, self._builder_spec.label, self._builder_inits, self._freeze_toggles())
        self._deliver_builder()
        if visible:
            self.banner.setText(text)
            self.banner.show()

    @Slot()
    def clear_weights(self) -> None:
        self._weights = None
        self._pending_weights = None
        self.weights_label.setText("none (random)")
        self.rebuild()

    # ============================================================================================ table
    def _fill_table(self, view: viz.ModelView) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(len(view.rows))
        banks = sorted(self.session.banks)
        for i, r in enumerate(view.rows):
            label = r.label if r.label == r.path else f"{r.label}  ({r.path})"
            io = f"{r.in_channels} -> {r.out_channels}" if r.out_channels else ""
            cells = [label, r.kind, io, r.kernel, str(r.stride) if r.kernel else "", viz.fmt_count(r.params),
                     viz.fmt_count(r.trainable), viz.fmt_count(r.frozen)]
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
                combo = QComboBox()
                combo.addItem("(model init)", "")
                combo.setItemData(0, "The initialisation chosen on the left (or the loaded weights)",
                                  Qt.ItemDataRole.ToolTipRole)
                for kind in viz.LAYER_INITS:
                    combo.addItem(kind, f"init:{kind}")
                    combo.setItemData(combo.count() - 1, dict(INITS).get(kind, kind), Qt.ItemDataRole.ToolTipRole)
                shape = tuple(r.weight_shape)
                for b in banks:
                    bank_shape = tuple(getattr(self.session.banks[b], "shape", ()))
                    combo.addItem(f"bank: {b}" if bank_shape == shape else f"bank: {b} (shape {bank_shape})",
                                  f"bank:{b}")
                    combo.setItemData(combo.count() - 1, f"Workbench bank {b!r}, shape {bank_shape}",
                                      Qt.ItemDataRole.ToolTipRole)
                combo.setCurrentIndex(max(0, combo.findData(self._layer_init.get(r.label, ""))))
                combo.setToolTip(f"Initialise {r.label} on its own: an initialisation, or a Workbench bank of shape "
                                 f"{shape} (out, in, k, k)")
                combo.setObjectName(f"init_{r.label}")
                combo.currentIndexChanged.connect(lambda _i, c=combo, lab=r.label: self._on_layer_init(lab, c))
                self.table.setCellWidget(i, COL_BANK, combo)
            else:
                self.table.setItem(i, COL_BANK, QTableWidgetItem(""))
        self.table.blockSignals(False)

    @Slot(object)
    def _on_table_item(self, item: QTableWidgetItem) -> None:
        if item.column() != COL_FROZEN or self._builder_view is None:
            return
        row = self._builder_view.rows[item.row()]
        want = item.checkState() == Qt.CheckState.Checked
        self._layer_freeze[row.path] = want
        self._rebuild_timer.start()

    def set_layer_frozen(self, path: str, frozen: bool) -> None:
        """Freeze or unfreeze one layer (what ticking its Frozen box does)."""
        self._layer_freeze[path] = frozen
        self.rebuild()

    def _on_layer_init(self, layer: str, combo: QComboBox) -> None:
        choice = combo.currentData()
        if choice:
            self._layer_init[layer] = choice
        else:
            self._layer_init.pop(layer, None)
        self.rebuild()

    def layer_init_combo(self, label: str) -> QComboBox | None:
        return self.findChild(QComboBox, f"init_{label}")

    @Slot()
    def _on_table_select(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or self._builder_view is None:
            return
        r = self._builder_view.rows[rows[0].row()]
        if r.has_kernels:
            if self.panel_a.source_id() != BUILDER:
                self.panel_a.select_source(BUILDER)
            self.panel_a.select_layer(r.path)

    # ============================================================================================ panels
    def _refresh_sources(self) -> None:
        items = [(BUILDER, "Builder: current model", "The model being built on the left")]
        self._specs.clear()
        try:
            refs = viz.reference_specs()
        except Exception as exc:  # a broken zoo must not take the workspace down
            refs = []
            self.status.setText(f"Reference models unavailable: {exc}")
        for s in refs:
            sid = f"ref:{s.label}"
            self._specs[sid] = s
            items.append((sid, s.label, f"{s.backbone}, {s.weight_state}" + (f": {s.weights}" if s.weights else "")))
        for name, s in self.session.models.items():
            sid = f"session:{name}"
            self._specs[sid] = s
            items.append((sid, f"session: {name}", f"{s.backbone} from the session"))
        for panel in (self.panel_a, self.panel_b):
            before = panel.source_id()
            panel.set_sources(items)
            if before and panel.source_id() != before:  # its model left the session: show what is selected now
                self._load_panel(panel)

    def _spec_for(self, sid: str) -> ModelSpec | None:
        if sid == BUILDER:
            return self._builder_spec
        return self._specs.get(sid)

    def _load_panel(self, panel: KernelPanel) -> None:
        sid = panel.source_id()
        if sid == BUILDER:
            panel.set_view(self._builder_view)
            self._update_compare()
            self._save()
            return
        spec = self._spec_for(sid)
        if spec is None:
            panel.set_view(None, "Nothing to show.")
            return
        key = self._key(spec)
        if key in self._views:
            panel.set_view(self._views[key])
            self._sync_layer(panel)
        elif key in self._errors:
            panel.set_view(None, f"Could not build {spec.label}: {self._errors[key]}")
        else:
            panel.set_view(None)
            panel.set_busy(f"Building {spec.label}…")
            self._request(spec, spec.label)
        self._update_compare()
        self._save()

    def _deliver_panels(self) -> None:
        for panel in (self.panel_a, self.panel_b):
            sid = panel.source_id()
            if sid == BUILDER:
                continue
            spec = self._spec_for(sid)
            if spec is None:
                continue
            key = self._key(spec)
            view = self._views.get(key)
            if view is not None and panel.view() is not view:
                panel.set_view(view)
                self._sync_layer(panel)
            elif key in self._errors and panel.view() is None:
                panel.set_view(None, f"Could not build {spec.label}: {self._errors[key]}")
        self._update_compare()

    def _sync_layer(self, panel: KernelPanel) -> None:
        other = self.panel_b if panel is self.panel_a else self.panel_a
        if self.link.isChecked() and other.layer_path():
            panel.select_layer(other.layer_path())

    @Slot(str)
    def _on_panel_layer(self, path: str) -> None:
        panel = self.sender()
        other = self.panel_b if panel is self.panel_a else self.panel_a
        if self.link.isChecked() and path:
            other.blockSignals(True)
            other.select_layer(path)
            other.blockSignals(False)
        self._update_compare()
        self._save()

    @Slot(int)
    def _on_scale(self, _i: int) -> None:
        for p in (self.panel_a, self.panel_b):
            p.set_scale(self.scale.currentData())
        self._save()

    def _update_compare(self) -> None:
        va, vb = self.panel_a.view(), self.panel_b.view()
        pa, pb = self.panel_a.layer_path(), self.panel_b.layer_path()
        if va is None or vb is None or pa not in va.kernels or pb not in vb.kernels:
            self.compare.setText(" ")
            return
        self.compare.setText("A vs B: " + viz.compare_text(va.kernels[pa], vb.kernels[pb]))

    # ============================================================================================ session
    @Slot()
    def add_to_session(self) -> str | None:
        try:
            spec = self.final_spec()
        except ValueError as exc:
            self._show_error(str(exc))
            return None
        except Exception as exc:  # a per-layer init that cannot be generated
            self._show_error(f"Not added: {exc}")
            return None
        key = self._key(self.current_spec(), self._layer_inits())
        if key in self._errors:
            self._show_error(f"Not added: {self._errors[key]}")
            return None
        name = Session.unique_name(self.session.models, spec.label)
        if name != spec.label:
            spec = dataclasses.replace(spec, label=name)
        self.session.put_model(name, spec)
        self.status.setText(f"Added “{name}” to the session (Live and Probe can use it now).")
        return name

    @Slot(str, str)
    def _on_session_event(self, kind: str, name: str) -> None:
        if kind == "models":
            self._refresh_sources()
        elif kind == "banks":
            if f"bank:{name}" in self._layer_init.values():
                if name not in self.session.banks:  # removed: those layers go back to the model's init
                    gone = [lay for lay, c in self._layer_init.items() if c == f"bank:{name}"]
                    for lay in gone:
                        del self._layer_init[lay]
                    self._show_error(f"The Workbench bank {name!r} was removed from the session; "
                                     f"{', '.join(gone)} now use the model's initialisation.")
                self._rebuild_timer.start()
            if self._builder_view is not None:
                self._fill_table(self._builder_view)

    # ============================================================================================ training
    @Slot()
    def open_train(self) -> None:
        from widgets.models.train_dialog import TrainDialog

        try:
            spec = self.final_spec()
        except Exception as exc:
            self._show_error(str(exc))
            return
        if self.train_dialog is None:
            self.train_dialog = TrainDialog(self.session, self.settings, self)
            self.train_dialog.trained.connect(self._on_trained)
        self.train_dialog.set_spec(spec)
        self.train_dialog.show()
        if QGuiApplication.platformName() != "offscreen":  # the offscreen platform warns on raise()
            self.train_dialog.raise_()

    @Slot(str)
    def _on_trained(self, name: str) -> None:
        self._refresh_sources()
        self.panel_b.select_source(f"session:{name}")
        self.status.setText(f"Trained model “{name}” added to the session.")

    # ============================================================================================ settings
    def _saved_options(self, backbone: str) -> dict:
        raw = self.settings.value(f"models/options/{backbone}", "")
        try:
            d = json.loads(raw) if raw else {}
        except (TypeError, ValueError):
            return {}
        return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()} if isinstance(d, dict) else {}

    def _restore_layers(self, backbone: str) -> None:
        """The per-layer freeze and initialisation choices last made for this backbone."""
        self._layer_freeze.clear()
        self._layer_init.clear()
        raw = self.settings.value(f"models/layers/{backbone}", "")
        try:
            d = json.loads(raw) if raw else {}
            self._layer_freeze.update({str(k): bool(v) for k, v in d.get("freeze", {}).items()})
            self._layer_init.update({str(k): str(v) for k, v in d.get("init", {}).items()
                                     if str(v).startswith("init:")
                                     or (str(v).startswith("bank:") and str(v)[5:] in self.session.banks)})
        except (TypeError, ValueError, AttributeError):
            pass

    def _save(self) -> None:
        if self._loading:
            return
        s = self.settings
        bb = self.backbone.currentData()
        s.setValue("models/backbone", bb)
        try:
            s.setValue(f"models/options/{bb}", json.dumps(self._option_values()))
        except ValueError:
            pass
        s.setValue(f"models/layers/{bb}", json.dumps({"freeze": self._layer_freeze, "init": self._layer_init}))
        s.setValue("models/init", self.init.currentData())
        s.setValue("models/seed", self.seed.value())
        s.setValue("models/freeze", self.freeze.currentData())
        s.setValue("models/weights", self._weights or "")
        s.setValue("models/name", self.name_edit.text())
        s.setValue("models/panel_a", self.panel_a.source_id())
        s.setValue("models/panel_b", self.panel_b.source_id())
        s.setValue("models/layer", self.panel_a.layer_path())
        s.setValue("models/scale", self.scale.currentData())

    def _restore(self) -> None:
        s = self.settings
        self._loading = True
        try:
            refs = viz.reference_specs()
        except Exception:
            refs = []
        trained = [r for r in refs if r.weight_state == "trained"]
        default_bb = "resnet20" if any(r.backbone == "resnet20" for r in trained) else "simple"
        bb = s.value("models/backbone", default_bb)
        if self.backbone.findData(bb) < 0:
            bb = default_bb if self.backbone.findData(default_bb) >= 0 else self.backbone.itemData(0)
        self.backbone.setCurrentIndex(self.backbone.findData(bb))
        self.description.setText(describe(bb))
        self._fill_options(bb, self._saved_options(bb))
        self._restore_layers(bb)
        self.init.setCurrentIndex(max(0, self.init.findData(s.value("models/init", "default"))))
        try:
            self.seed.setValue(int(s.value("models/seed", 0)))
        except (TypeError, ValueError):
            pass
        self.freeze.setCurrentIndex(max(0, self.freeze.findData(s.value("models/freeze", "Train everything"))))
        w = s.value("models/weights", "") or None
        if w and Path(w).is_file():
            self._weights = w
            self.weights_label.setText(Path(w).name)
            self.weights_label.setToolTip(w)
        self.name_edit.setText(s.value("models/name", "") or "")
        self.scale.setCurrentIndex(max(0, self.scale.findData(s.value("models/scale", "layer"))))
        self.panel_a.set_scale(self.scale.currentData())
        self.panel_b.set_scale(self.scale.currentData())
        self._refresh_sources()
        a = s.value("models/panel_a", BUILDER)
        ref_b = next((f"ref:{r.label}" for r in trained if r.backbone == bb), None)
        ref_b = ref_b or (f"ref:{trained[0].label}" if trained else BUILDER)
        b = s.value("models/panel_b", ref_b)
        self.panel_a.select_source(a) or self.panel_a.select_source(BUILDER)
        self.panel_b.select_source(b) or self.panel_b.select_source(ref_b)
        self._restore_layer = s.value("models/layer", "")
        self._loading = False
        self.name_edit.textEdited.connect(lambda _t: self._save())
        self._load_panel(self.panel_b)

    # ============================================================================================ lifecycle
    def set_active(self, active: bool) -> None:
        pass

    def busy(self) -> bool:
        return bool(self._running) or self._rebuild_timer.isActive()

    def builder_ready(self) -> bool:
        """True when the table and panel show the builder's current spec (nothing pending)."""
        return (not self.busy() and self._builder_spec is not None
                and self._builder_view_key == self._key(self._builder_spec, self._builder_inits))

    def wait_ready(self, ms: int) -> None:
        """For screenshots and tests: let pending builds finish (up to ``ms``)."""
        from PySide6.QtCore import QCoreApplication, QElapsedTimer

        t = QElapsedTimer()
        t.start()
        while t.elapsed() < ms:
            QCoreApplication.processEvents()
            if not self.busy():
                break
            self.thread().msleep(5)

    def shutdown(self) -> None:
        """Stop every worker this workspace owns (called on close)."""
        self._rebuild_timer.stop()
        if self.train_dialog is not None:
            self.train_dialog.shutdown()
        self._unsubscribe()
        self.pool.shutdown()


if __name__ == "__main__":  # a quick look at the workspace alone: python -m widgets.models.workspace
    import sys

    from widgets.application import make_app
    from widgets.main_window import settings as _settings

    _app = make_app()
    _ws = ModelsWorkspace(Session(), _settings())
    _ws.resize(1400, 860)
    _ws.show()
    _code = _app.exec()
    _ws.shutdown()
    sys.exit(_code)
