"""The Kernel Workbench's response panel: the image, every kernel's response on it, and the frequency responses.

``show_views(views, selected)`` draws an ``app.kernels.ops.Views``; a click on a response or a spectrum reports the
kernel (``kernelClicked``). The "zero-mean display" box (``centre()`` is "median" when ticked) centres each response
on its median, so that a random kernel's mean does not saturate its map; ``centreChanged`` asks for a new render.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.kernels import ops
from widgets.common.image_view import ImageView


class ResponsePanel(QWidget):
    kernelClicked = Signal(int)
    centreChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._views: ops.Views | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.image_label = QLabel()
        self.image_label.setWordWrap(True)
        lay.addWidget(self.image_label)
        self.input_view = ImageView(tooltip="The image the responses are computed on (downscaled to 256 px; less "
                                            "for banks of more than 32 kernels)", min_size=(120, 60))
        self.input_view.setMaximumHeight(150)
        lay.addWidget(self.input_view, 1)
        row = QHBoxLayout()
        self.response_title = QLabel(wordWrap=True)
        row.addWidget(self.response_title, 1)
        self.zero_mean_check = QCheckBox("zero-mean display")
        self.zero_mean_check.setToolTip("Centre each response on its median (white = the map's median) instead of "
                                        "on 0, so a kernel's mean (random kernels have one) does not saturate the "
                                        "whole map; the range is the 99.5th percentile around that centre")
        self.zero_mean_check.toggled.connect(self._on_centre)
        row.addWidget(self.zero_mean_check)
        lay.addLayout(row)
        self.response_view = ImageView(tooltip="Each kernel applied to the image as the models' CNN layers apply "
                                               "it (cross-correlation, padded k // 2 on each side: the image's size, "
                                               "one pixel more for even kernel sizes; borders replicated). RGB images "
                                               "go to 3-channel banks as R, G, B, to other banks as luminance on "
                                               "every channel. Click a response to select its kernel.")
        self.response_view.clicked.connect(lambda x, y: self._click(x, y, "responses"))
        lay.addWidget(self.response_view, 3)
        self.fft_label = QLabel(f"Frequency response |FFT| {ops.FFT_WHAT} (centre = DC, bright = passes)")
        self.fft_label.setWordWrap(True)  # a narrow window wraps it instead of widening the column
        lay.addWidget(self.fft_label)
        self.fft_view = ImageView(tooltip=f"Magnitude of the 2-D FFT {ops.FFT_WHAT} (zero-padded to 32x32, "
                                          "fftshifted). Banks of other than 3 channels see the image's luminance on "
                                          "every channel, so this is the filter their responses show; a 3-channel "
                                          "bank sees the image's R, G and B, and its response to colour differences "
                                          "is not in this view. Channels that cancel (+1 on one, -1 on another) "
                                          "show no response here, as on a grey image.")
        self.fft_view.clicked.connect(lambda x, y: self._click(x, y, "fft"))
        lay.addWidget(self.fft_view, 2)
        self.render_label = QLabel()
        lay.addWidget(self.render_label)
        self._title()

    def centre(self) -> str:
        return "median" if self.zero_mean_check.isChecked() else "zero"

    def _title(self) -> None:
        if self.centre() == "median":
            self.response_title.setText("Responses on the image (blue < median < red, robust range per map)")
        else:
            self.response_title.setText("Responses on the image (blue < 0 < red, each scaled to its own range)")

    def _on_centre(self, _on: bool) -> None:
        self._title()
        self.centreChanged.emit()

    @property
    def views(self) -> ops.Views | None:
        return self._views

    def show_views(self, views: ops.Views, selected: int) -> None:
        self._views = views
        self.response_view.set_image(views.responses)
        self.fft_view.set_image(views.fft)
        self.input_view.set_image(views.image)
        self.highlight(selected)
        self.render_label.setText(f"Responses computed in {views.seconds * 1000:.0f} ms")

    def highlight(self, selected: int) -> None:
        """Frame the selected kernel's response and spectrum (drawn over the mosaics, no recomputation)."""
        v = self._views
        for view, lay in ((self.response_view, v.responses_layout if v else None),
                          (self.fft_view, v.fft_layout if v else None)):
            if lay is None or selected >= lay.count:
                view.set_highlight(None)
            else:
                y, x = lay.origin(selected)
                g = lay.gap / 2
                view.set_highlight((x - g, y - g, lay.tile_w + 2 * g, lay.tile_h + 2 * g))

    def _click(self, x: float, y: float, which: str) -> None:
        if self._views is None:
            return
        lay = self._views.responses_layout if which == "responses" else self._views.fft_layout
        i = lay.index_at(x, y)
        if i is not None:
            self.kernelClicked.emit(i)
