"""CKA heatmap: how similar every layer of model A is to every layer of model B on a dataset sample (linear or RBF
CKA, ``app.analysis.jobs.cka_job``), as an image with a colour bar, the layer names on both axes and the value under
the mouse. The default pair is a trained model and its random twin (same architecture, same input)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from app.analysis.cka import cka_text
from app.analysis.jobs import cka_job, random_twin
from app.data import formats
from app.imaging import colormaps
from widgets.analysis.common import DEFAULT_TRAINED, ModelCombo, TaskBar
from widgets.common.labels_item import LabelsItem
from widgets.common.live_plot import axis_label
from widgets.common.steady import reserve_lines
from widgets.common.worker import WorkerPool
from widgets.common.workspace import run_steps

DEFAULT_B = DEFAULT_TRAINED


def dataset_combo() -> QComboBox:
    c = QComboBox()
    for name in formats.builtin_names():
        c.addItem(name)
    c.setCurrentText("digits")
    c.setToolTip("The images both models see (digits needs no download)")
    return c


class CKAPanel(QWidget):
    def __init__(self, session: Any, pool: WorkerPool, parent: QWidget | None = None, *,
                 stepwise: bool = False) -> None:
        super().__init__(parent)
        self.result = None
        self.build_steps = self._build(session, pool)  # the choices, the heatmap, its colour bar: a step each
        if not stepwise:
            run_steps(self.build_steps)

    def _build(self, session: Any, pool: WorkerPool):
        self.model_a = ModelCombo(session, "Model A (rows)")
        self.model_b = ModelCombo(session, "Model B (columns)")
        if self.model_b.select(DEFAULT_B):
            self.model_a.select(random_twin(self.model_b.spec()).label)
        self.dataset = dataset_combo()
        self.n = QSpinBox()
        self.n.setRange(10, 5000)
        self.n.setValue(300)
        self.n.setToolTip("Test images in the sample (seeded; all of them where the test split holds fewer, which the "
                          "plot's title then says)")
        self.kernel = QComboBox()
        self.kernel.addItems(["linear", "rbf", "debiased"])
        self.kernel.setToolTip("linear CKA, RBF CKA (bandwidth: the median distance), or debiased linear CKA (the "
                               "unbiased HSIC estimator: no upward bias when a layer has more features than images)")
        row = QHBoxLayout()
        for text, w in (("A", self.model_a), ("B", self.model_b), ("on", self.dataset), ("images", self.n),
                        ("CKA", self.kernel)):
            row.addWidget(QLabel(text))
            row.addWidget(w)
        row.addStretch(1)
        self.bar = TaskBar(pool, "Compute CKA")
        self.bar.run_btn.setToolTip("CKA between every layer of A and every layer of B (Ctrl+Return)")
        self.bar.run_clicked.connect(self.compute)
        yield
        self.plot = pg.PlotWidget(enableMenu=False)  # never built (then disabled): issue 14
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.values = LabelsItem(QFont("Sans", 8))  # each cell's value (one item for all: a TextItem each cost
        # ~0.3 ms of the GUI thread, 120 ms for 20 x 20 layers)
        self.plot.addItem(self.values)
        yield
        self.cmap = pg.ColorMap(np.linspace(0, 1, 256), colormaps.lut("viridis"))
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=self.cmap, interactive=False, label="CKA")
        self.colorbar.setImageItem(self.image, insert_in=self.plot.getPlotItem())
        self.readout = QLabel("Choose two models and press Compute CKA: 1 = the same representation (up to rotation "
                              "and scale), 0 = unrelated.")
        reserve_lines(self.readout, 2)  # its texts (the hint, the result's line, a hovered cell) move no plot
        self.reference = QLabel()
        self.reference.setWordWrap(True)
        self.reference.setStyleSheet("color: #5b6472;")
        self.reference.setToolTip("How similar two untrained copies of this architecture already are (linear CKA is "
                                  "high between random networks on the same images): the scale against which "
                                  "'trained vs its random twin' reads. Shown when A and B share one architecture.")
        self.reference.hide()
        self.plot.scene().sigMouseMoved.connect(self._on_hover)

        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.bar)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.readout)
        lay.addWidget(self.reference)

    def compute(self) -> None:
        a, b = self.model_a.spec(), self.model_b.spec()
        if a is None or b is None:
            return
        ds, n, k = self.dataset.currentText(), self.n.value(), self.kernel.currentText()
        self.bar.run(lambda token: cka_job(a, b, ds, n, k, cancel=token),
                     lambda res, asked=(n, ds): self.show_result(res, asked), name="cka")

    def show_result(self, res: Any, asked: tuple[int, str] | None = None) -> None:
        """``asked``: the images asked for and the dataset, where the split may have held fewer (said in the title)."""
        self.result = res
        raw = np.asarray(res.matrix, np.float32)
        M = np.nan_to_num(raw, nan=0.0)
        self.image.setImage(M, levels=(0, 1), autoLevels=False)
        self.image.setLookupTable(colormaps.lut("viridis"))
        # a layer whose features are all the same has no CKA: "n/a", not the 0.00 its colour is drawn with; 0.997
        # reads "0.997", not a false "1.00" (the same representation): ``cka_text``
        text = lambda i, j: cka_text(raw[i, j])  # noqa: E731
        self.values.set_labels([(j + 0.5, i + 0.5, text(i, j), (0, 0, 0) if M[i, j] > 0.6 else (255, 255, 255))
                                for i in range(M.shape[0]) for j in range(M.shape[1])] if M.size <= 400 else [],
                               QRectF(0, 0, M.shape[1], M.shape[0]))
        self.plot.getAxis("bottom").setTicks([[(j + 0.5, n) for j, n in enumerate(res.layers_b)]])
        self.plot.getAxis("left").setTicks([[(i + 0.5, n) for i, n in enumerate(res.layers_a)]])
        axis_label(self.plot, "left", f"A: {res.label_a}")
        axis_label(self.plot, "bottom", f"B: {res.label_b}")
        title = f"{res.kernel} CKA on {res.n_images} images"
        if asked is not None and res.n_images < asked[0]:  # the split held fewer than asked: all of them were used
            title += f" ({res.n_images:,} of the {asked[0]:,} asked: the {asked[1]} test split holds {res.n_images:,})"
        self.plot.setTitle(title, size="10pt")
        self.plot.setRange(xRange=(0, M.shape[1]), yRange=(0, M.shape[0]), padding=0.02)
        # the cells print their values (up to 20 x 20 layers); hovering adds the pair of layers and a third decimal
        hover = ("Hover a cell for its layers and a third decimal." if M.size <= 400 else
                 "Hover a cell for its value (too many cells to print them).")
        self.readout.setText(f"Rows: the layers of {res.label_a}; columns: {res.label_b}. {hover}")
        # where one architecture saw two inputs, that first (the matrix mixes it with the weights); the scale the
        # matrix reads against (same architecture only), apart from the hover read-out, naming the input it was
        # computed at where the inputs differ; and what the matrix was computed on (the pooling; linear CKA's
        # upward bias when features outnumber images)
        input_note = getattr(res, "input_note", "")
        lines = [t for t in (f"Note: {input_note}" if input_note else "", res.reference_text(),
                             f"Note: {res.note}" if getattr(res, "note", "") else "") if t]
        self.reference.setText("\n".join(lines))
        self.reference.setVisible(bool(lines))

    def value_text(self, i: int, j: int) -> str:
        res = self.result
        if res is None or not (0 <= i < len(res.layers_a) and 0 <= j < len(res.layers_b)):
            return ""
        return f"A {res.layers_a[i]} vs B {res.layers_b[j]}: CKA {cka_text(res.matrix[i, j], 3)}"

    def _on_hover(self, pos: Any) -> None:
        vb = self.plot.getViewBox()
        if self.result is None or not vb.sceneBoundingRect().contains(pos):
            return
        pt = vb.mapSceneToView(pos)
        text = self.value_text(int(np.floor(pt.y())), int(np.floor(pt.x())))
        if text:
            self.readout.setText(text)
            self.plot.setToolTip(text)

