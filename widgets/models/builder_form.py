"""The Models workspace's builder form (left column): backbone, its constructor options, initialisation, seed,
weights, freezing preset, name, Add to session / Train..., and the status lines. It holds no model: the workspace
reads ``option_values()`` and the widgets, and builds."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.models import describe, names, viz
from widgets.common.elided_combo import ElidedCombo

INITS = [
    ("default", "The constructor's own initialisation (PyTorch defaults, He init for ResNets)"),
    ("kaiming", "He normal (fan-in, ReLU gain), zero biases"),
    ("gaussian", "N(0, 1) weights and biases"),
    ("uniform", "U(-1, 1) weights and biases"),
    ("signed-constant", "each weight +-sqrt(2 / fan_in) with a random sign (Ramanujan et al.)"),
    ("orthogonal", "orthogonal flattened kernels, zero biases"),
]
OPTION_LABELS = {"blocks": "blocks (L)", "expansion": "expansion (E)", "k": "filters (k)"}
# int options whose 0 means "none": shown as words, never as a bare 0
ZERO_TEXT = {"num_classes": "none (probe heads)"}
# options shown only for the backbones whose name starts with one of these: the plain CIFAR ResNets take
# ``expansion`` too (None: plain 3x3 convs), but E is the LC blocks' option, which lc-resnet20 is for
ONLY_FOR = {"expansion": ("lc-",)}


def applies(backbone: str, field: viz.OptionField, value=None) -> bool:
    """``field`` belongs in ``backbone``'s form: not an option of another kind of model (a saved value other than
    its default keeps it shown, so that nothing changes unseen)."""
    prefixes = ONLY_FOR.get(field.name)
    return prefixes is None or str(backbone).startswith(prefixes) or (value is not None and value != field.default)


class BuilderForm(QScrollArea):
    changed = Signal()  # an option, the init or the seed was edited

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._fields: dict[str, tuple[viz.OptionField, QWidget]] = {}
        # --- builder ------------------------------------------------------------------------------------
        self.backbone = ElidedCombo()  # a name too long for the box elides ("…"); the tooltip holds it whole
        for n in names():
            self.backbone.addItem(n, n)
            self.backbone.setItemData(self.backbone.count() - 1, describe(n), Qt.ItemDataRole.ToolTipRole)
        self.backbone.set_about("The backbone architecture (Ctrl+B focuses this)")
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
        self.arms = QLabel("")
        self.arms.setWordWrap(True)
        self.arms.setStyleSheet("color: #334;")
        self.arms.setToolTip("LC blocks: the parameters of both arms of Gavrikov & Keuper's comparison (frozen "
                             "random 3x3 filters vs learned 3x3 filters)")
        self.arms.hide()
        self.stages = QLabel(" ")
        self.stages.setWordWrap(True)
        self.stages.setTextFormat(Qt.TextFormat.RichText)
        self.stages.setToolTip("The layers Live and Probe can tap (feature_info): channels and downsampling, the "
                               "input's size over the map's (/2: half as wide; the layer table's stride is each "
                               "layer's own step)")

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
        ll.addWidget(self.arms)
        ll.addWidget(self.stages)
        ll.addStretch(1)
        self.setWidget(left)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._left = left
        self.setMaximumWidth(460)
        self._fit_width()
        self.init.currentIndexChanged.connect(self.changed)
        self.seed.valueChanged.connect(self.changed)

    def show_error(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.show()
        self.status.setText("The last good model is still shown.")

    def fill_options(self, backbone: str, values: dict | None = None) -> None:
        while self.options_form.rowCount():
            self.options_form.removeRow(0)
        self._fields.clear()
        values = values or {}
        try:
            fields = viz.option_fields(backbone)
        except Exception as exc:  # an odd constructor: build with defaults
            fields = []
            self.show_error(f"Options of {backbone} could not be read: {exc}")
        for f in fields:
            value = values.get(f.name, f.default)
            if not applies(backbone, f, value):
                continue
            if f.kind == "bool":
                w = QCheckBox()
                try:  # "off" from an older sidecar or settings is off (bool("off") was on)
                    checked = viz.parse_option(f, value)
                except ValueError:
                    checked = bool(f.default)
                w.setChecked(checked)
                w.toggled.connect(self.changed)
            elif f.kind == "choice":
                w = QComboBox()
                w.addItems(list(f.choices))
                w.setCurrentIndex(max(0, w.findText(str(value))))
                w.currentIndexChanged.connect(self.changed)
            elif f.kind == "int":
                w = QSpinBox()
                w.setRange(0 if f.default == 0 or f.name in ZERO_TEXT else 1, 1_000_000)
                if f.name in ZERO_TEXT:
                    w.setSpecialValueText(ZERO_TEXT[f.name])
                try:
                    w.setValue(int(value))
                except (TypeError, ValueError):
                    w.setValue(int(f.default))
                w.valueChanged.connect(self.changed)
            else:
                w = QLineEdit(viz.format_option(f, value))
                if f.kind == "optional_int":
                    w.setPlaceholderText(f.empty)
                w.textEdited.connect(self.changed)
            w.setToolTip(f.tooltip)
            w.setObjectName(f"option_{f.name}")
            label = QLabel(OPTION_LABELS.get(f.name, f.name.replace("_", " ")))
            label.setToolTip(f.tooltip)
            self.options_form.addRow(label, w)
            self._fields[f.name] = (f, w)
        self.options_box.setVisible(bool(self._fields))
        self._fit_width()

    def _fit_width(self) -> None:
        """Wide enough for every field and label of the current backbone: nothing clipped (the column scrolls
        vertically only)."""
        need = self._left.minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width() + 6
        self.setMinimumWidth(min(max(330, need), self.maximumWidth()))

    def field_names(self) -> list[str]:
        return list(self._fields)

    def field_default(self, name: str):
        return self._fields[name][0].default

    @staticmethod
    def option_names(backbone: str) -> set[str]:
        try:
            return {f.name for f in viz.option_fields(backbone)}
        except Exception:
            return set()

    def option_widget(self, name: str) -> QWidget:
        return self._fields[name][1]

    def option_values(self) -> dict:
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
