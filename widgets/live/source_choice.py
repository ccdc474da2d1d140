"""The Live workspace's source choice: the kind in the toolbar's combo, the file or folder a video or image source
asks for (a cancelled dialog changes nothing: the combo stays on the running source), and ``set_source``. A mixin
of ``LiveWorkspace`` (its ``controls``, ``runner``, ``source_ok``, ``_source_kind``, ``_schedule`` and
``_push_config``)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog


class SourceChoice:
    def _on_source_kind(self, _i: int) -> None:
        kind = self.controls.kind()
        if kind in ("video", "image") and not self.controls.paths.get(kind):
            # a kind that needs a path: the combo stays on the running source while the dialog is open (a config
            # pushed meanwhile, or the settings saved, must not name a source without its file) and a cancelled
            # dialog changes nothing; a chosen path switches to it (set_source)
            self.controls.set_kind(self._source_kind)
            self._choose_path(kind)
            return
        self._source_kind = kind
        self.controls.update_source_widgets()
        self._on_source_changed()

    def _on_source_changed(self, *_a) -> None:
        self.source_ok = True
        self._schedule()

    def _choose_path(self, kind: str = "") -> bool:
        """Ask for the file (or folder) of a ``kind`` source (default: the combo's); True when one was chosen and
        shown, False when the dialog was cancelled (nothing changes)."""
        kind = kind or self.controls.kind()
        start = self.controls.paths.get(kind) or str(Path.home())
        if kind == "video":
            path, _ = QFileDialog.getOpenFileName(self, "Open a video", start,
                                                  "Videos (*.mp4 *.avi *.mov *.mkv *.webm *.m4v);;All files (*)")
        elif kind == "image":
            path = QFileDialog.getExistingDirectory(self, "Choose a folder of images (Cancel: pick one file)", start)
            if not path:
                path, _ = QFileDialog.getOpenFileName(self, "Open an image", start,
                                                      "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp)")
        else:
            return False
        if not path:
            return False
        self.set_source(kind, path)
        return True

    def set_source(self, kind: str, path: str = "", camera: int | None = None) -> None:
        """Choose a source programmatically (tests, command line)."""
        if path:
            self.controls.paths[kind] = str(path)
        if camera is not None:
            self.controls.camera_spin.blockSignals(True)
            self.controls.camera_spin.setValue(camera)
            self.controls.camera_spin.blockSignals(False)
        self.controls.set_kind(kind)
        self._source_kind = self.controls.kind()
        self.source_ok = True
        self._push_config()  # the new source first, then the retry (else the old one is retried once more)
        if self.runner.loop is not None:
            self.runner.retry()
