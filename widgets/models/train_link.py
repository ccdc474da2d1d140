"""Train… of the Models workspace: the training dialog opened on the builder's model, kept in step with the builder
while it is open, its result shown on side B, and the question before a close would stop a run. A mixin of
``ModelsWorkspace`` (its ``session``, ``settings``, ``train_dialog``, ``panel_b``, ``status``, ``train_spec``,
``final_spec``, ``_refresh_sources`` and ``_show_error``); the dialog itself is ``widgets.models.train_dialog``."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox


class TrainLink:
    def open_train(self) -> None:
        from widgets.models.train_dialog import TrainDialog

        try:
            spec = self.train_spec()
        except Exception as exc:  # noqa: BLE001  (a bad field, a build error: its message)
            self._show_error(f"Cannot train: {exc}")
            return
        if self.train_dialog is None:
            self.train_dialog = TrainDialog(self.session, self.settings, self, current=self.train_spec)
            self.train_dialog.trained.connect(self._on_trained)
        self.train_dialog.set_spec(spec)
        self.train_dialog.show()
        if QGuiApplication.platformName() != "offscreen":  # the offscreen platform warns on raise()
            self.train_dialog.raise_()

    def _sync_train_dialog(self) -> None:
        """An open Train dialog's "Model" line follows the builder (it showed the model of the moment it opened,
        and Start trained that stale spec under the builder's name); Start reads the builder again anyway."""
        dlg = self.train_dialog
        if dlg is None or not dlg.isVisible() or dlg.is_running():
            return
        try:
            dlg.set_spec(self.final_spec(), keep_name=True)
        except Exception:  # noqa: BLE001  (Start says why it cannot train it)
            pass

    def _on_trained(self, name: str) -> None:
        self._refresh_sources()
        self.panel_b.select_source(f"session:{name}")
        self.status.setText(f"Trained model “{name}” added to the session.")

    def busy_text(self) -> str:
        """"" when nothing would be lost by closing, else what runs ("training X on digits"): for the main window
        to ask before a close stops it (builds are not counted: they are quick and cached)."""
        return self.train_dialog.busy_text() if self.train_dialog is not None else ""

    def maybe_keep_changes(self) -> bool:
        """The main window's close: a training run would be stopped; ask first (False keeps the window and the run)."""
        what = self.busy_text()
        if not what:
            return True
        answer = QMessageBox.question(self, "Close Filter Explorer", f"{what[:1].upper()}{what[1:]} is running: "
                                      f"closing stops it (its last finished epoch is kept). Close anyway?")
        return answer == QMessageBox.StandardButton.Yes
