"""The Models workspace's two kernel panels side by side (A and B: the builder's model or any reference / session
model, one layer each), the colour-scale choice, the layer link and the A-vs-B statistics line."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSizePolicy, QSplitter, QVBoxLayout, QWidget

from app.models import viz
from app.models.spec import ModelSpec
from widgets.models.kernel_view import KernelPanel
from widgets.models.view_cache import ViewCache, view_key

BUILDER = "builder"  # the source id of the model being built


class KernelCompare(QWidget):
    changed = Signal()  # a choice worth remembering (layer, scale)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # --- kernel panels -----------------------------------------------------------------------------------
        self.panel_a = KernelPanel("A")
        self.panel_b = KernelPanel("B")
        self.scale = QComboBox()
        self.scale.addItem("one scale per layer", "layer")
        self.scale.addItem("each kernel to its own range", "kernel")
        self.scale.setToolTip("Colour scaling of the mosaics: one |w| limit per layer, its largest |w| over every "
                              "output channel, also those a big layer's mosaic leaves out (compare magnitudes), or "
                              "each kernel stretched to its own range (compare shapes)")
        self.link = QCheckBox("same layer on both sides")
        self.link.setChecked(True)
        self.link.setToolTip("Choosing a layer on one side chooses the layer of the same name on the other")
        self.compare = QLabel(" ")
        self.compare.setStyleSheet("color: #444;")
        self.compare.setToolTip("The scale of the two shown layers' kernels: std and mean |w| of every weight of "
                                "each layer, also the output channels a big layer's mosaic leaves out. To compare "
                                "what two layers compute, use CKA in the Insight workspace (Ctrl+6): it does not "
                                "depend on the order of channels")
        # a row of its own under the controls, wrapped in the width there is: beside them, after a stretch, it was
        # squeezed to 40 px and not one word of it showed at 1280 or 1400 wide; its length never widens the window
        self.compare.setWordWrap(True)
        self.compare.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        ctl = QHBoxLayout()
        ctl.addWidget(QLabel("<b>Kernels</b>"))
        ctl.addWidget(self.scale)
        ctl.addWidget(self.link)
        ctl.addStretch(1)
        panels = QSplitter(Qt.Orientation.Horizontal)
        panels.addWidget(self.panel_a)
        panels.addWidget(self.panel_b)
        kl = QVBoxLayout(self)
        kl.setContentsMargins(0, 0, 0, 0)
        kl.addLayout(ctl)
        kl.addWidget(self.compare)
        kl.addWidget(panels, 1)

        self.panel_a.layer_changed.connect(self._on_panel_layer)
        self.panel_b.layer_changed.connect(self._on_panel_layer)
        self.scale.currentIndexChanged.connect(self._on_scale)

        self._specs: dict[str, ModelSpec] = {}  # source id -> spec (reference and session models)
        self._cache: ViewCache | None = None
        self._builder: Callable[[], tuple[Any, Any]] = lambda: (None, None)

    def attach(self, cache: ViewCache, builder: Callable[[], tuple[Any, Any]]) -> None:
        """Where the panels get their models: the build cache, and the builder's (spec, view) of the moment."""
        self._cache = cache
        self._builder = builder
        self.panel_a.source_changed.connect(lambda _s: self.load_panel(self.panel_a))
        self.panel_b.source_changed.connect(lambda _s: self.load_panel(self.panel_b))

    def refresh_sources(self, session_models: dict) -> str | None:
        """Offer the builder, the reference models and the session's models; returns a message if the reference
        models could not be listed."""
        error = None
        items = [(BUILDER, "Builder: current model", "The model being built on the left")]
        self._specs.clear()
        try:
            refs = viz.reference_specs()
        except Exception as exc:  # a broken zoo must not take the workspace down
            refs = []
            error = f"Reference models unavailable: {exc}"
        for s in refs:
            sid = f"ref:{s.label}"
            self._specs[sid] = s
            items.append((sid, s.label, f"{s.backbone}, {s.weight_state}" + (f": {s.weights}" if s.weights else "")))
        for name, s in session_models.items():
            sid = f"session:{name}"
            self._specs[sid] = s
            items.append((sid, f"session: {name}", f"{s.backbone} from the session"))
        for panel in (self.panel_a, self.panel_b):
            before = panel.source_id()
            panel.set_sources(items)
            if before and panel.source_id() != before:  # its model left the session: show what is selected now
                self.load_panel(panel)
        return error

    def load_panel(self, panel: KernelPanel) -> None:
        sid = panel.source_id()
        cache = self._cache
        if sid == BUILDER:
            panel.set_view(self._builder()[1])
        elif cache is not None:
            spec = self._specs.get(sid)
            if spec is None:
                panel.set_view(None, "Nothing to show.")
                return
            key = view_key(spec)
            if key in cache.views:
                panel.set_view(cache.views[key])
                self.sync_layer(panel)
            elif key in cache.errors:
                panel.set_view(None, f"Could not build {spec.label}: {cache.errors[key]}")
            else:
                panel.set_view(None)
                panel.set_busy(f"Building {spec.label}…")
                cache.request(spec, spec.label)
        self.update_compare()
        self.changed.emit()

    def deliver_panels(self) -> None:
        """Show the models whose builds just finished (or failed)."""
        cache = self._cache
        for panel in (self.panel_a, self.panel_b):
            spec = None if panel.source_id() == BUILDER else self._specs.get(panel.source_id())
            if spec is None or cache is None:
                continue
            key = view_key(spec)
            view = cache.views.get(key)
            if view is not None and panel.view() is not view:
                panel.set_view(view)
                self.sync_layer(panel)
            elif key in cache.errors and panel.view() is None:
                panel.set_view(None, f"Could not build {spec.label}: {cache.errors[key]}")
        self.update_compare()

    def sync_layer(self, panel: KernelPanel) -> None:
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
        self.update_compare()
        self.changed.emit()

    @Slot(int)
    def _on_scale(self, _i: int) -> None:
        for p in (self.panel_a, self.panel_b):
            p.set_scale(self.scale.currentData())
        self.changed.emit()

    def update_compare(self) -> None:
        va, vb = self.panel_a.view(), self.panel_b.view()
        pa, pb = self.panel_a.layer_path(), self.panel_b.layer_path()
        if va is None or vb is None or pa not in va.kernels or pb not in vb.kernels:
            self.compare.setText(" ")
            return
        # the whole layers' statistics (a snapshot keeps only the first output channels' kernels)
        sa, sb = va.kernel_stats.get(pa, va.kernels[pa]), vb.kernel_stats.get(pb, vb.kernels[pb])
        self.compare.setText("A vs B: " + viz.compare_text(sa, sb))
