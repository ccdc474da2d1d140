"""LC fold view: for a model with LC blocks (k x k filters, then a learned 1x1 mixing), the effective spatial filters
the mixing makes beside the basis it combines (``app.analysis.jobs.fold_job``): a frozen random basis by default, a
learned one where the model was built with ``learn_spatial=true`` (the titles say which, from the block's weights).
The LC blocks are known once folded: until then the block box is off and says so, and the task bar says what Fold
does."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.analysis.jobs import fold_job
from app.models.spec import ModelSpec
from widgets.analysis.common import ModelCombo, TaskBar
from widgets.common.image_view import ImageView
from widgets.common.worker import WorkerPool

LC_DEFAULT = "lc-resnet20 (random)"
BLOCK_HINT = "press Fold"  # the block box before the blocks are known (off)
IDLE_HINT = "Press Fold (Ctrl+Return) to list the model's LC blocks and show each one's filters."


def basis_name(learned: bool) -> str:
    """What the block's k x k filters are: frozen random (the default LC block), or trained with the mixing
    (``learn_spatial=true``): from the weights' ``requires_grad`` (``app.analysis.fold.Folded.learned_basis``)."""
    return "Learned basis" if learned else "Frozen random basis"


def basis_tooltip(learned: bool) -> str:
    what = "The learned k x k filters (trained with the model)" if learned else "The frozen random k x k filters"
    return f"{what} (rows: filters, columns: input channels; blue < 0 < red)"


class FoldPanel(QWidget):
    def __init__(self, session: Any, pool: WorkerPool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folded: tuple = ()
        self.model = ModelCombo(session, "A model with LC blocks (lc-* backbones)")
        self._add_default()
        self.layer = QComboBox()
        self.layer.setToolTip("The LC block")
        self.layer.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.layer.setPlaceholderText(BLOCK_HINT)  # no block listed yet: off, saying how to list them
        self.layer.setEnabled(False)
        row = QHBoxLayout()
        for text, w in (("Model", self.model), ("LC block", self.layer)):
            row.addWidget(QLabel(text))
            row.addWidget(w)
        row.addStretch(1)
        self.bar = TaskBar(pool, "Fold")
        self.bar.run_btn.setToolTip("Fold each LC block's learned 1x1 mixing into its k x k basis (Ctrl+Return)")
        self.bar.run_clicked.connect(self.compute)
        self.bar.status.setText(IDLE_HINT)
        self.basis_title = QLabel("<b>Basis</b> (k x k filters)")
        self.eff_title = QLabel("<b>Effective filters</b> (learned mixing x basis)")
        self.basis = ImageView(zoomable=True, tooltip=basis_tooltip(False))
        self.effective = ImageView(zoomable=True, tooltip="The spatial filters the block really applies: "
                                                          "W_eff[o, i] = Σ_e A[o, e] B[e, i]")
        grid = QGridLayout()
        grid.addWidget(self.basis_title, 0, 0)
        grid.addWidget(self.eff_title, 0, 1)
        grid.addWidget(self.basis, 1, 0)
        grid.addWidget(self.effective, 1, 1)
        grid.setRowStretch(1, 1)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.bar)
        lay.addLayout(grid, 1)
        lay.addWidget(self.note)
        self.layer.currentIndexChanged.connect(lambda _=0: self.draw())

    def _add_default(self) -> None:
        for i in range(self.model.count()):
            if self.model.itemData(i).backbone.startswith("lc-"):
                self.model.setCurrentIndex(i)
                return
        self.model.addItem(LC_DEFAULT, ModelSpec.make("lc-resnet20", label=LC_DEFAULT, weight_state="random"))
        self.model.setCurrentIndex(self.model.count() - 1)

    def compute(self) -> None:
        spec = self.model.spec()
        if spec is None:
            return
        name = spec.label or spec.backbone
        self.bar.run(lambda token: fold_job(spec, cancel=token), self.show_result, name="fold",
                     done=lambda folded: f"Done: folded {len(folded)} LC block{'s' if len(folded) != 1 else ''} of "
                                         f"{name}{'. Choose a block above.' if len(folded) > 1 else '.'}")

    def show_result(self, folded: tuple) -> None:
        self.folded = folded
        self.layer.blockSignals(True)
        self.layer.clear()
        for f in folded:
            self.layer.addItem(f.name)
        self.layer.setCurrentIndex(0 if folded else -1)  # (a combo with a placeholder selects nothing itself)
        self.layer.setEnabled(self.layer.count() > 0)
        self.layer.blockSignals(False)
        self.draw()

    def draw(self) -> None:
        i = self.layer.currentIndex()
        if not 0 <= i < len(self.folded):
            return
        f = self.folded[i]
        self.basis.set_image(f.basis.rgb)
        self.effective.set_image(f.effective.rgb)
        learned = bool(getattr(f, "learned_basis", False))
        self.basis_title.setText(f"<b>{basis_name(learned)}</b> {'x'.join(map(str, f.shape_basis))}")
        self.basis.setToolTip(basis_tooltip(learned))
        self.eff_title.setText(f"<b>Effective filters</b> {'x'.join(map(str, f.shape_effective))} (learned mixing "
                               f"x basis)")
        notes = [n for n in (f.basis.note, f.effective.note) if n]
        self.note.setText(f"{f.name}: colour range ±{f.basis.limit:.3g} (basis), ±{f.effective.limit:.3g} "
                          f"(effective)" + (" · " + "; ".join(notes) if notes else ""))
