"""The Kernel Workbench's generator panel: kind, shape, seed, the kind's parameters, zero mean / unit norm.

``GeneratorPanel.request()`` is the complete, typed generate call (``GenerateRequest``); the panel emits
``generateRequested`` when its button is pressed. Settings are read and written under ``kernels/``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QSpinBox, QWidget)

from app.kernels import generators
from app.kernels.bank import MAX_SIZE


# the mean is taken over all of a kernel's weights, every channel together (``app.kernels.post.postprocess``)
ZERO_MEAN_HELP = ("Subtract each kernel's mean over all its weights, every channel together: no response to flat grey "
                  "areas; a flat colour can still respond unless each channel sums to 0. A random kernel whose "
                  "weights came out all equal (it would be all zero) is drawn again")


@dataclass(frozen=True)
class GenerateRequest:
    kind: str
    count: int
    size: int
    in_channels: int
    seed: int
    zero_mean: bool
    unit_norm: bool
    params: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """A generated bank is named after its generator ("kaiming-normal bank")."""
        return f"{self.kind} bank"

    def args(self) -> tuple:
        return (self.kind, self.count, self.size, self.in_channels, self.seed, self.zero_mean, self.unit_norm)


class GeneratorPanel(QGroupBox):
    generateRequested = Signal()

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__("Generate", parent)
        self.settings = settings
        self.param_widgets: dict[str, QWidget] = {}
        form = QFormLayout(self)
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
        self.size_spin.valueChanged.connect(self._fit_count)
        form.addRow("Seed", self.seed_spin)
        self.params_box = QWidget()
        self.params_form = QFormLayout(self.params_box)
        self.params_form.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.params_box)
        post = QHBoxLayout()
        self.zero_mean_check = QCheckBox("zero mean")
        self.zero_mean_check.setToolTip(ZERO_MEAN_HELP)
        self.unit_norm_check = QCheckBox("unit norm")
        self.unit_norm_check.setToolTip("Scale each kernel to L2 norm 1")
        post.addWidget(self.zero_mean_check)
        post.addWidget(self.unit_norm_check)
        form.addRow("Post", post)
        self.generate_button = QPushButton("Generate")
        self.generate_button.setToolTip("Replace the working bank by a generated one (Ctrl+G; undo with Ctrl+Z)")
        self.generate_button.clicked.connect(self.generateRequested)
        form.addRow(self.generate_button)

    # --- parameters -----------------------------------------------------------------------------------------
    def _on_kind(self, *_args) -> None:
        kind = generators.KINDS[self.kind_combo.currentData()]
        self.kind_combo.setToolTip(f"{kind.title}: {kind.description}")
        while self.params_form.rowCount():
            self.params_form.removeRow(0)
        self.param_widgets = {}
        try:
            saved = json.loads(self.settings.value(f"kernels/params/{kind.name}", "{}", str) or "{}")
        except (json.JSONDecodeError, TypeError):
            saved = {}
        if not isinstance(saved, dict):
            saved = {}
        for p in kind.params:
            value = saved.get(p.name, p.default)
            try:
                w = self._param_widget(p, value)
            except (TypeError, ValueError):  # a saved value of the wrong type: the default
                w = self._param_widget(p, p.default)
            w.setToolTip(p.help)
            label = QLabel(p.name.replace("_", " "))
            label.setToolTip(p.help)
            self.params_form.addRow(label, w)
            self.param_widgets[p.name] = w
        self._fit_count()
        self.seed_spin.setEnabled(kind.random)

    def _fit_count(self, *_args) -> None:
        """A structured kind (classic presets, DCT ...) has a fixed number of kernels at each size: the count box
        goes up to that number (the value lowered to it where it was more), so Generate does not fail on a count
        the kind cannot give; other kinds take up to 256."""
        kind = generators.KINDS[self.kind_combo.currentData()]
        avail = None
        if kind.structured and kind.name != "gabor":
            avail = generators.available(kind.name, self.size_spin.value())
        self.count_spin.setMaximum(avail if avail else 256)
        self.count_spin.setToolTip("Number of kernels (output channels)" +
                                   (f"; {kind.title} has {avail} at this size" if avail else ""))

    @staticmethod
    def _param_widget(p, value) -> QWidget:
        if isinstance(p.default, str):
            return QLineEdit(str(value))
        if isinstance(p.default, int) and not isinstance(p.default, bool):
            w = QSpinBox(minimum=int(p.minimum or 0), maximum=int(p.maximum or 10**6))
            if "(0: " in p.help and int(p.minimum or 0) == 0:
                w.setSpecialValueText("auto")  # 0 means "chosen for you" (see the tooltip)
            w.setValue(int(value))
            return w
        lo, hi = float(p.minimum or 0.0), float(p.maximum or 1e6)
        # the decimals first: Qt rounds the range to the decimals it has when the range is set
        w = QDoubleSpinBox(decimals=_decimals(lo, hi), minimum=lo, maximum=hi, singleStep=0.05)
        w.setValue(float(value))
        return w

    def param_values(self) -> dict:
        """The parameters as typed values (a line edit holds a text parameter such as a dataset name)."""
        out = {}
        for name, w in self.param_widgets.items():
            out[name] = w.text().strip() if isinstance(w, QLineEdit) else w.value()
        return out

    def request(self) -> GenerateRequest:
        return GenerateRequest(self.kind_combo.currentData(), self.count_spin.value(), self.size_spin.value(),
                               self.in_spin.value(), self.seed_spin.value(), self.zero_mean_check.isChecked(),
                               self.unit_norm_check.isChecked(), self.param_values())

    def set_busy(self, busy: bool) -> None:
        self.generate_button.setEnabled(not busy)
        self.generate_button.setText("Generating… (loading the dataset)" if busy else "Generate")

    # --- settings -------------------------------------------------------------------------------------------
    def restore(self) -> None:
        s = self.settings
        idx = self.kind_combo.findData(s.value("kernels/kind", "gabor", str))
        self.kind_combo.setCurrentIndex(idx if idx >= 0 else self.kind_combo.findData("gabor"))
        self._on_kind()
        # size before count: the count's maximum follows the size (a DCT's 15x15 = 225 kernels; 200 restored
        # under the default size's 121 came back as 121)
        for spin, key in ((self.size_spin, "size"), (self.count_spin, "count"), (self.in_spin, "in_channels"),
                          (self.seed_spin, "seed")):
            try:
                spin.setValue(int(s.value(f"kernels/{key}", spin.value())))
            except (TypeError, ValueError):
                pass
        self.zero_mean_check.setChecked(s.value("kernels/zero_mean", False, bool))
        self.unit_norm_check.setChecked(s.value("kernels/unit_norm", False, bool))

    def save(self) -> None:
        s = self.settings
        s.setValue("kernels/kind", self.kind_combo.currentData())
        s.setValue("kernels/count", self.count_spin.value())
        s.setValue("kernels/size", self.size_spin.value())
        s.setValue("kernels/in_channels", self.in_spin.value())
        s.setValue("kernels/seed", self.seed_spin.value())
        s.setValue("kernels/zero_mean", self.zero_mean_check.isChecked())
        s.setValue("kernels/unit_norm", self.unit_norm_check.isChecked())
        s.setValue(f"kernels/params/{self.kind_combo.currentData()}", json.dumps(self.param_values()))


def _decimals(lo: float, hi: float) -> int:
    """Decimals for a number box of ``lo..hi``: 3 significant digits at the smallest non-zero end, 4 at least.

    A 4-decimal box showed Gaussian std's minimum 1e-6 as 0.0000 and held 0, which the generator refuses ("std must
    be in 1e-06..100 (got 0.0)"); std (1e-6..100) gets 8: 0.00000100, 0.00000125 ... (Qt rounds a value to the
    decimals, and its box takes no scientific notation without overriding Qt virtuals that ``qt_override`` does not
    know yet.)
    """
    low = min((abs(x) for x in (lo, hi) if x), default=1.0)
    return max(4, 2 - math.floor(math.log10(low)))
