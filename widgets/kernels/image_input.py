"""The Kernel Workbench's input image: a bundled sample photograph (loaded in a worker, the newest request wins) or
an image file; ``set_image`` shows it and schedules the responses. A mixin of ``KernelWorkspace`` (its ``files``,
``pool``, ``responses``, ``settings``, ``sample_combo``, ``bank``, ``_schedule_render`` and ``_closed``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.kernels import ops


class ImageInput:
    _image: np.ndarray | None  # None while a sample loads
    _image_name: str
    _image_request: int  # the newest image asked for: a sample that loads late never replaces a newer one

    def open_image(self) -> None:
        path = self.files.ask_image()
        if path:
            self.open_image_file(path)

    def open_image_file(self, path: Path) -> bool:
        img = self.files.read_image(Path(path))
        if img is None:
            return False
        self.set_image(img, Path(path).name)
        return True

    def set_image(self, image: np.ndarray, name: str) -> None:
        self._image_request += 1
        self._image = np.ascontiguousarray(image)
        self._image_name = name
        self._refresh_image_label()
        self._schedule_render()

    def _on_sample(self, index: int) -> None:
        name = self.sample_combo.itemData(index)
        self.settings.setValue("kernels/sample", name)
        self._load_sample(name)

    def _load_sample(self, name: str) -> None:
        """Load a bundled sample photograph off the GUI thread (the start-up's first render waits for it)."""
        self._image_request += 1
        request, label = self._image_request, f"sample: {name}.jpg"
        w = self.pool.start(lambda token: ops.sample_image(name), name="sample image")
        w.on(finished=lambda img: self._on_sample_loaded(request, img, label),
             failed=lambda m: self.responses.render_label.setText(f"Could not load the sample image: {m}"))
        self._image_worker = w

    def _on_sample_loaded(self, request: int, image: np.ndarray, label: str) -> None:
        if request == self._image_request and not self._closed:  # else a newer image was chosen meanwhile
            self.set_image(image, label)

    def _refresh_image_label(self) -> None:
        if self._image is None:
            self.responses.image_label.setText(f"Image: {self._image_name} (loading…)")
            return
        h, w = self._image.shape[:2]  # (height x width, as Live and the Models write sizes)
        ph, pw = ops.preview_shape(h, w, ops.preview_side(self.bank.out_channels))
        at = "at full size" if (ph, pw) == (h, w) else f"at {ph}x{pw}"
        self.responses.image_label.setText(f"Image: {self._image_name} ({h}x{w}, height x width; responses "
                                           f"computed {at})")
