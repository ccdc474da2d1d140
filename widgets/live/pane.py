"""One Live pane: a model, its layer, a page of its feature maps (maps per page chosen by the user, tiled to the
pane's shape), zoom/pan, a hover read-out (channel, position in the map, value), a click to enlarge one map with
its colour bar, and the pane's statistics line."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (QComboBox, QFrame, QHBoxLayout, QLabel, QMenu, QSizePolicy, QSpinBox, QToolButton,
                               QVBoxLayout, QWidget)

from app.live.config import CHANNEL_NUMBERING, PaneConfig, PaneResult
from app.models.spec import ModelSpec
from app.probe.head_export import backbone_key, list_heads
from widgets.common.elided_combo import ElidedCombo
from widgets.common.flow import FlowLayout, flow_group
from widgets.common.image_view import ImageView
from widgets.common.steady import reserve_lines
from widgets.live.colorbar import ColorBar
from widgets.live.predictions import PredictionView

PER_PAGE = 16  # maps per page a new pane starts with
PANE_LEAST = 250  # px: a pane's least width (its maps readable): four panes on a 1024 px window scroll sideways
ALL = 0  # per-page spin value meaning "all channels"
TIMING_TIP = ("This pane's own time on the frame: its model up to the layer shown, its maps coloured and tiled, its "
              "top-5 when shown and its share of the frame's pre-processing (on a GPU: the device's time)")


def unbroken(text: str) -> str:
    """The statistics strip's text with no line break inside "|corr|" or "|a|" (Unicode allows one after "|": the
    strip read "... · |" over "corr| 0.31") nor inside a figure and its unit: each " · "-separated part keeps its
    spaces unbreakable, so the strip wraps only between the parts."""
    parts = text.split(" · ")
    return " · ".join(p.replace("|", "|\u2060").replace(" ", "\u00a0") for p in parts)


class PaneWidget(QFrame):
    changed = Signal()
    removeRequested = Signal(object)

    def __init__(self, choices: list[ModelSpec], spec: ModelSpec, layer: int | None = None, page: int = 0,
                 per_page: int = PER_PAGE, parent: QWidget | None = None, predict: bool = False,
                 head: str | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setMinimumWidth(PANE_LEAST)
        self.spec = spec
        self.predict = predict  # show the model's own classifier's top-5
        self.head: str | None = head  # an attached probe head (.json path)
        self.layer: int | None = layer
        self.page = page
        self.per_page = per_page  # ALL: every channel on one page
        self.focus: int | None = None
        self.error: str | None = None  # the last frame's error for this pane (None: it shows maps)
        self.last: PaneResult | None = None
        self._layers: tuple = ()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(3)

        # three rows: the model (and the pane's close button), its layer, then the page and prediction controls
        # (wrapped onto two lines in a narrow pane): each combo has the pane's width, so its name shows whole
        top = QHBoxLayout()
        self.model_combo = ElidedCombo()
        self.model_combo.setToolTip("The network this pane shows (random, hand-designed or trained)")
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(7)  # the pane's width where there is room; a narrow one elides
        self.remove_btn = QToolButton()
        self.remove_btn.setText("✕")
        self.remove_btn.setToolTip("Remove this pane")
        self.remove_btn.clicked.connect(lambda: self.removeRequested.emit(self))
        self.predict_btn = QToolButton()
        self.predict_btn.setText("Top-5")
        self.predict_btn.setCheckable(True)
        self.predict_btn.setChecked(predict)
        self.predict_btn.setToolTip("Predictions: the model's own trained classifier's top-5 classes on each frame "
                                    "(a full forward pass; models with a trained classifier only)")
        self.head_btn = QToolButton()
        self.head_btn.setText("Head")
        self.head_btn.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.head_btn.setToolTip("Attach a probe head…: a linear head trained in Probe on this backbone (random "
                                 "ones too) predicts on each frame")
        self.head_menu = QMenu(self.head_btn)
        self.head_menu.aboutToShow.connect(self._fill_head_menu)
        self.head_btn.setMenu(self.head_menu)
        top.addWidget(self.model_combo, 1)
        top.addWidget(self.remove_btn)
        lay.addLayout(top)

        self.layer_combo = ElidedCombo()
        self.layer_combo.setToolTip("The layer whose feature maps are shown (deeper layers cost more time)")
        self.layer_combo.addItem("(loading…)")
        # the pane's width (a layer's name and its channels and stride), down to 90 px in a narrow pane (elided)
        self.layer_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.layer_combo.setMinimumContentsLength(7)
        self.layer_combo.setMinimumWidth(90)
        self.per_page_spin = QSpinBox()
        self.per_page_spin.setRange(ALL, 4096)
        self.per_page_spin.setSpecialValueText("all maps")
        self.per_page_spin.setSuffix(" maps")
        self.per_page_spin.setValue(per_page)
        self.per_page_spin.setToolTip("Maps per page: 1 to every channel of the layer (0: all)")
        self.page_spin = QSpinBox()
        self.page_spin.setRange(1, 1)
        self.page_spin.setPrefix("page ")
        self.page_spin.setToolTip("Channel page (PgUp/PgDn on the spin box)")
        # down to its least width on a narrow window (its hint holds "4096 maps"; the page box keeps its own)
        self.per_page_spin.setSizePolicy(QSizePolicy.Policy.Maximum, self.per_page_spin.sizePolicy().verticalPolicy())
        lay.addWidget(self.layer_combo)
        self.tools = QWidget()  # maps per page and the page; Top-5 and Head: one line, two in a narrow pane
        tools = FlowLayout(self.tools, spacing=8)
        tools.addWidget(flow_group(self.per_page_spin, self.page_spin))
        tools.addWidget(flow_group(self.predict_btn, self.head_btn))
        lay.addWidget(self.tools)
        self.page_label = QLabel("")
        self.page_label.setStyleSheet("color: #555;")
        self.page_label.setWordWrap(True)  # a narrow pane wraps it instead of widening the window
        lay.addWidget(self.page_label)

        mid = QHBoxLayout()
        mid.setSpacing(2)
        self.view = ImageView(zoomable=True, tooltip="Click a map to enlarge it with a colour bar; click again (or "
                              "Esc) to go back. Wheel: zoom, drag: pan, double-click: fit", padding=0.0)
        self.colorbar = ColorBar()
        self.colorbar.setVisible(False)
        mid.addWidget(self.view, 1)
        mid.addWidget(self.colorbar)
        lay.addLayout(mid, 1)
        self.predictions = PredictionView()
        lay.addWidget(self.predictions)
        self.hover = QLabel(" ")
        self.hover.setStyleSheet("color: #333; font-family: monospace;")
        # two lines kept for it: the read-out (channel number and index, a shrunk map's block) wraps in a narrow
        # pane instead of widening the window, and hovering moves nothing
        reserve_lines(self.hover, 2)
        lay.addWidget(self.hover)
        self.stats = QLabel("")
        self.stats.setStyleSheet("color: #333;")
        # two lines from the start: the statistics change every frame, and a text that wrapped onto a second line
        # in one frame and not the next would re-lay and repaint the mosaic each time
        reserve_lines(self.stats, 2)
        lay.addWidget(self.stats)
        self.info = QLabel("waiting for the first frame…")
        lay.addWidget(self.info)

        self.set_choices(choices)
        # a narrow window elides the names: the tooltips hold them whole (also after a refill with signals blocked)
        self._tips = {combo: combo.toolTip() for combo in (self.model_combo, self.layer_combo)}
        for combo in self._tips:
            combo.currentTextChanged.connect(lambda _t, c=combo: self._tip(c))
            self._tip(combo)
        self.model_combo.currentIndexChanged.connect(self._on_model)
        self.layer_combo.currentIndexChanged.connect(self._on_layer)
        self.page_spin.valueChanged.connect(self._on_page)
        self.per_page_spin.valueChanged.connect(self._on_per_page)
        self.predict_btn.toggled.connect(self._on_predict)
        self.view.clicked.connect(self._on_click)
        self.view.hovered.connect(self._on_hover)
        self.view.left.connect(lambda: self.hover.setText(" "))

    # --- state -> widgets ---
    def set_choices(self, choices: list[ModelSpec]) -> None:
        self._choices = list(choices)
        labels = [s.label for s in self._choices]
        if self.spec.label not in labels:
            self._choices.insert(0, self.spec)
            labels.insert(0, self.spec.label)
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for s in self._choices:
            self.model_combo.addItem(s.label)
            self.model_combo.setItemData(self.model_combo.count() - 1, f"{s.backbone} · {s.weight_state}",
                                         Qt.ItemDataRole.ToolTipRole)
        self.model_combo.setCurrentIndex(labels.index(self.spec.label))
        self.model_combo.blockSignals(False)
        self._tip(self.model_combo)

    def config(self) -> PaneConfig:
        return PaneConfig(self.spec, self.layer, self.page, self.per_page or 1_000_000, self.focus,
                          predict=self.predict, head=self.head)

    def show_result(self, r: PaneResult, cmap: str) -> None:
        if r.layers and r.layers != self._layers:
            self._layers = r.layers
            self.layer_combo.blockSignals(True)
            self.layer_combo.clear()
            for name, c, s in r.layers:
                self.layer_combo.addItem(f"{name}  ({c} ch, stride {s})")
            self.layer_combo.setCurrentIndex(r.layer)
            self.layer_combo.blockSignals(False)
            self._tip(self.layer_combo)
        elif r.layers and self.layer_combo.currentIndex() != r.layer and self.layer in (None, r.layer):
            # the default layer, or one set from outside (a tap, a head's layer) once a frame of it arrives (a frame
            # in flight when it was set showed the old one)
            self.layer_combo.blockSignals(True)
            self.layer_combo.setCurrentIndex(r.layer)
            self.layer_combo.blockSignals(False)
            self._tip(self.layer_combo)
        self.error = r.error
        self.predict_btn.setEnabled(r.classifier or self.predict)
        self.predictions.set_predictions(r.predictions if (self.predict or self.head) else ())
        if r.error:
            self.view.clear_image()
            self.info.setText(r.error)
            self.info.setStyleSheet("color: #b00020;")
            self.info.setToolTip(r.error)
            self.stats.setText("")
            return
        self.info.setStyleSheet("")
        self.info.setToolTip(TIMING_TIP + (f"\n{r.note[0].upper()}{r.note[1:]}." if r.note else ""))
        per = max(1, r.count if self.per_page == ALL else self.per_page)
        pages = max(1, -(-r.channels // per))
        self.page_spin.blockSignals(True)
        self.page_spin.setRange(1, pages)
        self.page_spin.setValue(r.first // per + 1)
        self.page_spin.setSuffix(f" / {pages}")
        self.page_spin.blockSignals(False)
        self.page_label.setText(r.channels_text() + (" — click or Esc: all" if r.focus is not None else ""))
        self.page_label.setToolTip(CHANNEL_NUMBERING)
        shared = r.shared
        self.colorbar.setVisible(r.focus is not None or shared)
        if r.focus is not None or shared:
            self.colorbar.set_range(cmap, r.lo, r.hi)
        self.stats.setText(unbroken(r.stats.describe()) if r.stats is not None else "")
        self.stats.setToolTip(r.stats.explain() if r.stats is not None else "")
        self.last = r
        self.view.set_image(r.mosaic)

    def show_timing(self, ms: float, paused: bool = False) -> None:
        """This pane's own time on the frame. The loop's rate is said once, under the input (``InputPane.show_rates``):
        the same figure under every pane and again in the status line read as several measurements."""
        if self.error is None:
            self.info.setText(f"paused · {ms:.1f} ms this pane" if paused else f"{ms:.1f} ms this pane")

    def reset_timing(self) -> None:
        """The source stopped: no rates left standing from the last frame."""
        if self.error is None:
            self.info.setText("no frames (source stopped)")

    # --- predictions ---
    def attach_head(self, path: str | None, spec: ModelSpec | None = None, layer: int | None = None) -> None:
        """Attach the stored probe head ``path`` (None: detach); ``spec``: its backbone, shown in this pane when the
        pane's model is another one; ``layer``: the head's layer (the maps its features were pooled from), shown."""
        if path and spec is not None and backbone_key(spec) != backbone_key(self.spec):
            self._set_spec(spec)
        if path and layer is not None and layer >= 0:
            self.layer, self.page, self.focus, self._layers = int(layer), 0, None, ()  # the menu refills (``tap``)
        self.head = str(path) if path else None
        self.head_btn.setText("Head ✓" if self.head else "Head")
        self.head_btn.setToolTip(f"Probe head attached: {Path(self.head).stem}" if self.head else
                                 "Attach a probe head…: a linear head trained in Probe predicts on each frame")
        if not self.head and not self.predict:
            self.predictions.set_predictions(())
        self.changed.emit()

    @Slot()
    def _fill_head_menu(self) -> None:
        m = self.head_menu
        m.clear()
        heads = list_heads()
        key = backbone_key(self.spec)
        same = [h for h in heads if backbone_key(h.backbone) == key]
        other = [h for h in heads if backbone_key(h.backbone) != key]
        if self.head:
            m.addAction("Detach the probe head", lambda: self.attach_head(None))
            m.addSeparator()
        if not heads:
            a = m.addAction("No probe heads yet: train a logistic, ridge or SVM head in Probe")
            a.setEnabled(False)
        for h in same:
            a = m.addAction(h.title, lambda h=h: self.attach_head(str(h.path), layer=h.layer))
            a.setCheckable(True)
            a.setChecked(self.head == str(h.path))
        if other:
            sub = m.addMenu("Heads on other backbones (the pane switches to that backbone)")
            for h in other:
                sub.addAction(h.title, lambda h=h: self.attach_head(str(h.path), probe_spec(h.backbone), h.layer))

    @Slot(bool)
    def _on_predict(self, on: bool) -> None:
        self.predict = on
        if not on and not self.head:
            self.predictions.set_predictions(())
        self.changed.emit()

    def _set_spec(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.set_choices(self._choices)
        self.layer, self.page, self.focus = None, 0, None
        self._layers = ()

    def tap(self, label: str, layer: int) -> None:
        """Switch to the model ``label`` (one of the choices) and its layer ``layer``."""
        labels = [s.label for s in self._choices]
        if label in labels and self.spec.label != label:
            self.model_combo.setCurrentIndex(labels.index(label))  # resets the layer and page
        self.layer, self.page, self.focus, self._layers = int(layer), 0, None, ()  # the menu refills on the result
        self.changed.emit()

    def _tip(self, combo) -> None:
        """The combo's tooltip: its current text whole (the box may elide it), then what the box is for."""
        tips = getattr(self, "_tips", None)
        if not tips or combo not in tips:
            return
        text, tip = combo.currentText(), tips[combo]
        combo.setToolTip(f"{text}\n\n{tip}" if text else tip)

    # --- intent ---
    @Slot(int)
    def _on_model(self, i: int) -> None:
        if 0 <= i < len(self._choices):
            self.spec = self._choices[i]
            self.layer, self.page, self.focus = None, 0, None
            self._layers = ()
            self.layer_combo.blockSignals(True)
            self.layer_combo.clear()
            self.layer_combo.addItem("(loading…)")
            self.layer_combo.blockSignals(False)
            self._tip(self.layer_combo)
            self.changed.emit()

    @Slot(int)
    def _on_layer(self, i: int) -> None:
        if i >= 0 and self._layers:
            self.layer, self.page, self.focus = i, 0, None
            self.changed.emit()

    @Slot(int)
    def _on_page(self, v: int) -> None:
        self.page, self.focus = v - 1, None
        self.changed.emit()

    @Slot(int)
    def _on_per_page(self, v: int) -> None:
        first = self.last.first if self.last is not None else 0
        self.per_page = v
        self.page = 0 if v == ALL else first // max(1, v)  # keep the first map shown in view
        self.focus = None
        self.changed.emit()

    @Slot(float, float)
    def _on_click(self, x: float, y: float) -> None:
        r = self.last
        if r is None:
            return
        if self.focus is not None:
            self.focus = None
        else:
            ch = r.channel_at(x, y)
            if ch is None:
                return
            self.focus = ch
        self.changed.emit()

    @Slot(float, float)
    def _on_hover(self, x: float, y: float) -> None:
        r = self.last
        text = r.hover_text(x, y) if r is not None and x >= 0 else None
        self.hover.setText(text or " ")

    def unfocus(self) -> bool:
        if self.focus is None:
            return False
        self.focus = None
        self.changed.emit()
        return True


def probe_spec(spec: ModelSpec) -> ModelSpec:
    """A probe head's backbone as a pane shows it: its exact spec, labelled apart from the zoo's models (whose
    live options can differ: rdsn's k and blocks)."""
    base = spec.label or spec.backbone
    return spec if base.endswith("(as probed)") else replace(spec, label=f"{base} (as probed)")
