"""Load weights… of the Models workspace: try a checkpoint on the builder's architecture off the GUI thread and keep
it only if it fits; a kept checkpoint forgets the per-layer initialisations that would replace its trained layers
unseen. A mixin of ``ModelsWorkspace`` (its ``settings``, ``choices``, ``cache``, ``status``, ``banner``,
``backbone``, ``weights_label``, ``current_spec``, ``rebuild``, ``_deliver_builder``, ``_show_error`` and the
``_weights``, ``_pending_weights``, ``_builder_spec``, ``_builder_inits`` state)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from widgets.common.settings import read_str
from widgets.models.words import unweighted


class WeightsLoading:
    def choose_weights(self) -> None:
        start = read_str(self.settings, "models/weights_dir", str(Path.home()))  # a list: a TypeError in the dialog
        path, _ = QFileDialog.getOpenFileName(
            self, "Load weights", start,
            "Checkpoints (*.safetensors *.pt *.pth *.th *.bin *.ckpt);;All files (*)")
        if path:
            self.settings.setValue("models/weights_dir", str(Path(path).parent))
            self.load_weights(path)

    def load_weights(self, path: str) -> None:
        """Try the checkpoint on the current architecture off the GUI thread; keep it only if it fits. The trial
        leaves the per-layer initialisations out: once the checkpoint is kept they are forgotten (they would
        replace its trained layers unseen); a refused file leaves them as they were."""
        self._pending_weights = str(path)
        try:
            spec = self.current_spec(weights=str(path), layer_inits=())
        except ValueError as exc:
            self._pending_weights = None
            self._show_error(str(exc))
            return
        self._builder_spec = spec
        self._builder_inits = ()
        self.status.setText(f"Loading {Path(path).name}…")
        self.cache.request(spec, spec.label, self._builder_inits, self.choices.toggles())
        self._deliver_builder()

    def _weights_refused(self, msg: str) -> None:
        path = self._pending_weights or ""
        self._pending_weights = None
        # the message says which architecture the file is for where its settings tell (``app.models.hints``, in the
        # worker that tried it)
        self._show_error(f"Could not load {Path(path).name}: {msg}")
        try:  # back to the model as it was (its per-layer initialisations included)
            self._builder_spec = self.current_spec()
        except ValueError:
            return
        self._builder_inits = self.choices.inits()
        text, visible = self.banner.text(), self.banner.isVisibleTo(self)
        self.cache.request(self._builder_spec, self._builder_spec.label, self._builder_inits,
                           self.choices.toggles())
        self._deliver_builder()
        if visible:
            self.banner.setText(text)
            self.banner.show()

    def clear_weights(self) -> None:
        self._weights = None
        self._pending_weights = None
        self.weights_label.setText(f"none ({unweighted(self.backbone.currentData())})")
        self.rebuild()

    def _forget_layer_inits(self) -> str:
        """After weights loaded: the per-layer initialisations are forgotten (the trial build left them out), so
        that no trained layer is replaced unseen under a "trained" label; returns the status line that says so
        ("" when there were none). A bank stays: it wins over the checkpoint by design and the table shows it."""
        gone = self.choices.drop_inits()
        if not gone:
            return ""
        what = ", ".join(f"{layer} ({kind})" for layer, kind in gone)
        return (f"\nLoaded weights: the per-layer initialisation of {what} was cleared, so those layers keep the "
                "checkpoint's trained weights (choose one again in the layer table to replace them).")
