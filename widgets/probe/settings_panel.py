"""The Probe's settings form: layer, pooling, head and its options, seeds, test subset."""

from __future__ import annotations

import math

from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QWidget,
)

from app.probe.config import HYPERPARAMETER
from app.probe.presets import PRESETS
from widgets.common.settings import read_bool, read_int

NO_PRESET = "none: set the fields yourself"

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
    "logistic": "Softmax (multinomial logistic) regression on the standardised features, trained with L-BFGS\n"
                "until the gradient and the duality gap are small.",
    "ridge": "Ridge regression on one-vs-all targets, solved in closed form (fast, no epochs).",
    "svm": "Linear SVM (squared hinge; multi-class by Weston-Watkins, or one-vs-rest as scikit-learn's LinearSVC\n"
           "with the head option multiclass=ovr on the command line), trained with L-BFGS until the gradient and\n"
           "the duality gap are small.",
    "knn": "k nearest neighbours: no training; test features vote among their nearest training features.",
}

# (head, option, label, kind, minimum, maximum, default, tooltip); options in AUTO start as "auto": the run then
# uses the backbone's own default (selected on validation), as the command line does, until the user sets a value
AUTO = {("logistic", "weight_decay"), ("ridge", "alpha"), ("svm", "C"), ("knn", "k")}
AUTO_TEXT = "auto (selected on validation)"
HEAD_OPTIONS = [
    ("logistic", "weight_decay", "Weight decay", "float", 0.0, 10.0, 1e-4,
     "L2 penalty on the head's weights. Larger values give a simpler head that overfits less;\n"
     "try 1e-4 .. 1e-2. 0 = no penalty."),
    ("logistic", "epochs", "Max iterations", "int", 1, 2000, 100,
     "At most this many L-BFGS iterations (each a full pass over the training features). Training stops\n"
     "earlier once both the gradient (as scikit-learn's tol) and the duality gap (how far the objective can\n"
     "still be from its optimum) are below their tolerances; up to 4096 features the head is preconditioned\n"
     "and usually converges in a few dozen iterations."),
    ("ridge", "alpha", "Alpha", "float", 0.0, 1e6, 1.0,
     "Ridge regularisation strength: larger alpha shrinks the weights more. Closed form, no epochs."),
    ("svm", "C", "C", "float", 1e-6, 1e6, 1.0,
     "Inverse regularisation of the SVM: larger C fits the training set harder (risk of overfitting)."),
    ("svm", "epochs", "Max iterations", "int", 1, 5000, 1000,
     "At most this many L-BFGS iterations (each a full pass over the training features). Training stops\n"
     "earlier once both the gradient (as liblinear's rule) and the duality gap (how far the objective can\n"
     "still be from its optimum) are below their tolerances; the result says which held."),
    ("knn", "k", "k", "int", 1, 200, 5,
     "How many nearest training examples vote for each test example's class."),
]


class ProbeSettings(QWidget):
    """Layer, pooling, head + its options, seeds and the test subset. Emits ``changed`` on any edit."""

    changed = Signal()
    presetChosen = Signal(str)  # a preset was chosen: the workspace adds and checks its model

    def __init__(self, heads: tuple[str, ...], poolings: tuple[str, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)

        self.preset = QComboBox()
        self.preset.addItem(NO_PRESET, "")
        for p in PRESETS.values():
            self.preset.addItem(f"{p.name} ({p.family})", p.name)
            self.preset.setItemData(self.preset.count() - 1, f"{p.name} · {p.family}\n{p.summary}\nfixes: "
                                    f"{p.describe()}\nhow chosen: {p.chosen}\ntarget: {p.target}",
                                    Qt.ItemDataRole.ToolTipRole)
        self.preset.setToolTip("A named preset (as probe --preset on the command line) sets the layer, pooling and "
                               "head below and adds its model, checked, to the list.\ndata-independent: random "
                               "filters that never see the data; data-dependent: filters fitted on training patches."
                               "\nFields you change afterwards are recorded as overrides of the preset.")
        form.addRow("Preset", self.preset)

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
        self._auto: dict[tuple[str, str], QCheckBox] = {}
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
                if (h, key) in AUTO:
                    auto = QCheckBox(AUTO_TEXT)
                    auto.setToolTip("Checked: the backbone's own setting, selected on validation (as the command "
                                    "line uses it).\nUncheck to give your own value.")
                    auto.setObjectName(f"auto_{h}_{key}")
                    self._auto[(h, key)] = auto
                    field = QWidget()
                    row = QHBoxLayout(field)
                    row.setContentsMargins(0, 0, 0, 0)
                    row.addWidget(ed, 1)
                    row.addWidget(auto)
                    auto.toggled.connect(lambda on, a=auto, e=ed: self._show_auto(a, e, on))
                    auto.toggled.connect(self.changed)
                    ed.valueChanged.connect(lambda _v, a=auto: a.setChecked(False))  # a value set is the user's
                    auto.setChecked(True)
                    pf.addRow(lab, field)
                else:
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

        self.tta = QComboBox()
        self.tta.setObjectName("tta")
        for value, text in (("none", "one view (the image)"), ("hflip", "mirror views (2)"),
                            ("shift1", "one-pixel shifts (5)")):
            self.tta.addItem(text, value)
        self.tta.setToolTip("Test-time views (probe --tta): score each validation and test image by the mean of its "
                            "views' features;\nthe head trains on the training images as they are.\n"
                            "Mirror views: the image and its left-right mirror (photographs such as CIFAR-10, not "
                            "digits or text: their mirror images are other symbols).\n"
                            "One-pixel shifts: the image and its four one-pixel shifts (digits: a pixel's move keeps "
                            "the label); five extractions of each evaluated image.")
        form.addRow("Test time", self.tta)

        self.refit = QCheckBox("refit on training + validation")
        self.refit.setObjectName("refit")
        self.refit.setToolTip("After the head's value is chosen on validation, fit that value once more on the "
                              "training and validation images together\nand score the test split with that fit "
                              "(probe --refit; as scikit-learn's GridSearchCV refit).\nThe validation figure stays "
                              "the fit on the training images alone, which chose the value: the refit has seen the "
                              "validation images.")
        form.addRow("Final fit", self.refit)

        self.preset.currentIndexChanged.connect(self._on_preset)
        self.head.currentIndexChanged.connect(self._on_head)
        for w in (self.layer, self.pooling):
            w.currentIndexChanged.connect(self.changed)
        self.seeds.valueChanged.connect(self.changed)
        self.test_limit.valueChanged.connect(self.changed)
        self.tta.currentIndexChanged.connect(self.changed)
        self.refit.toggled.connect(self.changed)
        self._on_head()

    @staticmethod
    def _show_auto(box: QCheckBox, editor: QWidget, auto: bool) -> None:
        """Auto: the words say so and no number is shown (it would not be the one used)."""
        box.setText(AUTO_TEXT if auto else "auto")
        editor.setVisible(not auto)

    @Slot()
    def _on_head(self) -> None:
        current = self._pages.get(self.head.currentData(), 0)
        self.options.setCurrentIndex(current)
        # the stack as tall as the shown head's options only: a hidden page's rows (logistic's Max iterations
        # under ridge) would otherwise leave their gap between Alpha and Repeats
        for i in range(self.options.count()):
            page = self.options.widget(i)
            vertical = QSizePolicy.Policy.Preferred if i == current else QSizePolicy.Policy.Ignored
            page.setSizePolicy(QSizePolicy.Policy.Preferred, vertical)
        self.options.adjustSize()
        self.options.updateGeometry()
        self.changed.emit()

    # --- presets ---
    @Slot()
    def _on_preset(self) -> None:
        name = self.preset_name()
        if name:
            self._apply_fields(name)
        self.changed.emit()

    def preset_name(self) -> str:
        return str(self.preset.currentData() or "")

    def apply_preset(self, name: str) -> None:
        """Choose preset ``name``: set the fields it fixes (its model is the workspace's: ``presetChosen``)."""
        if name not in PRESETS:
            raise KeyError(f"unknown preset {name!r}")
        if self.preset_name() != name:
            self.preset.setCurrentIndex(self.preset.findData(name))  # -> _on_preset
        else:
            self._apply_fields(name)

    def _apply_fields(self, name: str) -> None:
        p = PRESETS[name]
        for combo, value in ((self.layer, p.layer), (self.pooling, p.pooling), (self.head, p.head)):
            i = combo.findData(value)
            if i < 0:  # a layer index the list does not name
                combo.addItem(f"layer {value}", value)
                i = combo.count() - 1
            combo.setCurrentIndex(i)
        self.set_tta(p.tta)
        self.refit.setChecked(p.refit)
        given = dict(p.head_options)
        for (h, key), ed in self._editors.items():
            if h != p.head:
                continue
            if key in given:
                ed.setValue(given[key])  # unchecks "auto"
            elif (h, key) in self._auto:
                self.set_auto(h, key, True)
        self.presetChosen.emit(name)

    def preset_fields(self) -> dict[str, Any]:
        """The ``ProbeConfig`` fields of the chosen preset: its name, what the form now overrides, and its grid of
        the head's hyperparameter (while its head is kept and that hyperparameter is on auto)."""
        name = self.preset_name()
        if not name:
            return {}
        p = PRESETS[name]
        over = [f for f, mine, its in (("layer", self.layer_value(), p.layer), ("pooling", self.pooling_value(),
                                       p.pooling), ("head", self.head_name(), p.head), ("tta", self.tta_value(),
                                       p.tta), ("refit", self.refit_value(), p.refit)) if mine != its]
        if self.head_name() == p.head and {k: v for k, v in self.head_options().items()
                                           if (p.head, k) in self._auto} != dict(p.head_options):
            over.append("head_options")
        auto = self.is_auto(p.head, HYPERPARAMETER.get(p.head, ""))
        grid = tuple(p.grid) if p.grid and self.head_name() == p.head and auto else None
        return {"preset": name, "preset_overrides": tuple(sorted(over)), "grid": grid}

    # --- values ---
    def head_name(self) -> str:
        return str(self.head.currentData())

    def head_options(self, head: str | None = None) -> dict[str, Any]:
        head = head or self.head_name()
        return {key: ed.value() for (h, key), ed in self._editors.items() if h == head and not self.is_auto(h, key)}

    def is_auto(self, head: str, key: str) -> bool:
        box = self._auto.get((head, key))
        return box is not None and box.isChecked()

    def set_auto(self, head: str, key: str, auto: bool) -> None:
        self._auto[(head, key)].setChecked(auto)

    def editor(self, head: str, key: str) -> QSpinBox | QDoubleSpinBox:
        return self._editors[(head, key)]

    def layer_value(self) -> int | None:
        return self.layer.currentData()

    def pooling_value(self) -> str:
        return str(self.pooling.currentData())

    def test_limit_value(self) -> int | None:
        return self.test_limit.value() or None

    def tta_value(self) -> str:
        return str(self.tta.currentData() or "none")

    def set_tta(self, value: str) -> None:
        i = self.tta.findData(value)
        self.tta.setCurrentIndex(i if i >= 0 else 0)

    def refit_value(self) -> bool:
        """Refit on training + validation (every head the workspace offers is fitted)."""
        return self.refit.isChecked()

    # --- settings ---
    def save(self, s) -> None:
        s.setValue("probe/preset", self.preset_name())
        s.setValue("probe/head", self.head_name())
        # the layer's value, not its place in the list: a preset's "layer 1" is an item added to the list, and its
        # index restored as nothing (the run then used the backbone's default layer, marked as the user's choice)
        value = self.layer_value()
        s.setValue("probe/layer_value", "default" if value is None else int(value))
        s.setValue("probe/pooling", self.pooling_value())
        s.setValue("probe/seeds", self.seeds.value())
        s.setValue("probe/test_limit", self.test_limit.value())
        s.setValue("probe/tta", self.tta_value())
        s.setValue("probe/refit", self.refit.isChecked())
        for (h, key), ed in self._editors.items():
            s.setValue(f"probe/options/{h}/{key}", ed.value())
        for (h, key), box in self._auto.items():
            s.setValue(f"probe/auto/{h}/{key}", box.isChecked())

    def restore(self, s) -> None:
        def idx(combo: QComboBox, value: Any) -> None:
            i = combo.findData(value)
            if i >= 0:
                combo.setCurrentIndex(i)

        idx(self.head, s.value("probe/head", "logistic"))
        saved = s.value("probe/layer_value")
        if saved is None:  # settings of an earlier version: the index into the built-in items
            li = _int(s.value("probe/layer", 0), 0)
            if 0 <= li < self.layer.count():
                self.layer.setCurrentIndex(li)
        elif str(saved) != "default" and _int(saved, None) is not None:
            value = _int(saved, 0)
            if self.layer.findData(value) < 0:  # a layer index the list does not name (a preset's)
                self.layer.addItem(f"layer {value}", value)
            self.layer.setCurrentIndex(self.layer.findData(value))
        else:
            self.layer.setCurrentIndex(0)
        idx(self.pooling, s.value("probe/pooling", "default"))
        # within the boxes' ranges: 99999999999 raised OverflowError in setValue and the Probe was never built
        self.seeds.setValue(read_int(s, "probe/seeds", 1, self.seeds.minimum(), self.seeds.maximum()))
        self.test_limit.setValue(read_int(s, "probe/test_limit", 0, self.test_limit.minimum(),
                                          self.test_limit.maximum()))
        self.set_tta(str(s.value("probe/tta", "none")))
        self.refit.setChecked(str(s.value("probe/refit", "false")).lower() in ("true", "1"))
        for (h, key), ed in self._editors.items():
            v = s.value(f"probe/options/{h}/{key}")
            if v is None:
                continue
            try:
                x = float(v)
                if not math.isfinite(x):
                    continue
                x = min(max(x, ed.minimum()), ed.maximum())
                ed.setValue(int(x) if isinstance(ed, QSpinBox) else x)
            except (TypeError, ValueError, OverflowError):
                pass
        for (h, key), box in self._auto.items():  # after the values: setting a value unchecks "auto"
            box.setChecked(read_bool(s, f"probe/auto/{h}/{key}", True))
        self.preset.blockSignals(True)  # the name only: the fields restored above may override it
        self.preset.setCurrentIndex(max(0, self.preset.findData(str(s.value("probe/preset", "") or ""))))
        self.preset.blockSignals(False)


def _int(v: Any, default: int | None) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return default
