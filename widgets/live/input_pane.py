"""The input column of the Live workspace: the frame the models see, where it comes from, and the loop's rates (the
one place the frame rate and latency are shown; each pane shows its own time, the status line neither)."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from widgets.common.image_view import ImageView
from widgets.common.steady import reserve_lines


class InputPane(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(QLabel("<b>Input</b>"))
        self.source_label = reserve_lines(QLabel(""), 1)  # its first text does not push the frame down
        self.source_label.setStyleSheet("color: #555;")
        lay.addWidget(self.source_label)
        self.view = ImageView(zoomable=True, tooltip="The frame the models see: resized once to the processing "
                              "size, aspect kept; a model that takes one size only (LeNet-5: 32x32) gets the frame's "
                              "centre cropped to that size's aspect, then resized to it (never squashed). "
                              "Wheel: zoom, drag: pan, double-click: fit")
        lay.addWidget(self.view, 1)
        self.caption = QLabel("")  # a dataset sample's label
        self.caption.setStyleSheet("font-weight: bold;")
        self.caption.setVisible(False)
        lay.addWidget(self.caption)
        # two lines reserved from the start: the rates' first text, or a narrow window wrapping them, moves nothing
        self.info = reserve_lines(QLabel(" "), 2)
        lay.addWidget(self.info)

    def show_frame(self, lf) -> None:
        """The frame, its source and caption (the rates under it: ``show_rates``)."""
        self.view.set_image(lf.frame)
        self.source_label.setText(lf.source)
        caption = getattr(lf, "caption", "")
        self.caption.setText(caption)
        self.caption.setVisible(bool(caption))

    def show_rates(self, lf, paused: bool = False) -> None:
        """The loop's rate and the frame's latency; paused, no rate is claimed (a held frame or a step has none),
        only this frame's own time. Latency counts from the frame being read: a paced video's wait for its next
        frame (``wait_ms``, the frame interval) is in the tooltip, apart."""
        h, w = lf.frame.shape[:2]
        if paused:
            self.info.setText(f"paused · this frame {lf.latency_ms:4.0f} ms · {h}x{w} (HxW)")
        else:
            rate = f"{lf.fps:4.1f} FPS" if lf.fps > 0 else "-- FPS"  # 0: not measured yet (just opened/resumed)
            self.info.setText(f"{rate} · latency {lf.latency_ms:4.0f} ms · {h}x{w} (HxW)")
        wait = getattr(lf, "wait_ms", 0.0)
        self.info.setToolTip("FPS: frames the worker computes and publishes per second, every pane computed for "
                             "each (said here only; each pane gives its own time); the display draws the newest of "
                             "them, so it may draw fewer; "
                             f"latency: the frame read -> every pane ready (source read {lf.read_ms:.1f} ms)"
                             + (f"; waited {wait:.0f} ms for the frame to be due (the video's own rate; not "
                                "latency)" if wait > 0 else "") + f"; frame #{lf.index}")

    def reset(self, message: str = "") -> None:
        """No source (it failed or closed): no stale picture, label or rates."""
        self.view.clear_image()
        self.source_label.setText(message)
        self.info.setText("no frames")
        self.info.setToolTip("")
        self.caption.setVisible(False)
