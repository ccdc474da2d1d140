"""Whether the Probe can run now, rendered: Train, the baseline, Cancel, the chosen dataset's Download and the idle
stage line (``ProbeWorkspace`` mixes it in). A dataset that is not on this machine turns Train and the baseline off,
with the reason on their tooltips and the stage line ("Not ready: ..."), and its Download shows under Train
(``widgets.probe.data_download``), and the Training tab's placeholder says the same in place of "Pick models and
press Train". Train's shortcut, which reaches ``train`` whatever the button shows, starts nothing and says so in the
banner under the stage line ("Not started: NAME is not downloaded yet (see the line above)."), without repeating
what the stage line says to do."""

from __future__ import annotations

from app.probe.caveats import views_caveat
from widgets.probe.guards import not_here
from widgets.probe.run_panel import TRAIN_KEY


class RunReadiness:
    """Uses the workspace's ``data_download``, ``run_panel``, ``models``, ``probe_settings``, ``stage``, ``banner``,
    ``curves``, ``is_running()``, ``dataset_name()`` and ``data_root()``."""

    def _update_buttons(self) -> str | None:
        """Train, the baseline, Cancel and the Download as things are; returns why the dataset is not ready."""
        missing = self.data_download.render(self.dataset_name(), self.data_root())
        self.history_panel.table.set_busy(self.is_running())  # no rerun while a batch runs
        self.run_panel.set_running(self.is_running(), bool(self.models.checked_labels()),
                                   any(s.weight_state == "trained" for s in self.models.checked_specs()),
                                   missing, self.data_download.running())
        return missing

    def _idle_text(self) -> None:
        if self.is_running():
            return
        n = len(self.models.checked_labels())
        text = (f"Ready: press Train ({TRAIN_KEY}) to probe the {n} checked model{'s' if n != 1 else ''}."
                if n else f"Pick models and press Train ({TRAIN_KEY}).")
        missing = self.data_download.render(self.dataset_name(), self.data_root())
        text = self.data_download.stage_text(self.dataset_name(), missing, text)
        caveat = views_caveat(self.dataset_name(), self.probe_settings.tta_value())
        self.stage.setText(f"{text}\nCaveat: {caveat}." if caveat else text)
        self.curves.set_headline(text if missing else None)  # the Training tab's placeholder says it too

    def _on_data_changed(self, *_a) -> None:  # a download started or ended, a dataset loaded, another data folder
        shown = self.data_download.state
        self._update_buttons()
        if self.data_download.state != shown:  # only news of the data: a run's "Done" or "Cancelled" line stays
            self._idle_text()

    def _not_ready(self) -> bool:
        """The chosen dataset is not on this machine (Train is off; its shortcut comes here): nothing starts, and the
        banner says why (a run would only fail to load its images)."""
        missing = self._update_buttons()
        self._idle_text()
        if missing:  # the stage line right above says what to do: the banner adds that nothing started
            self.banner.show_message(f"Not started: {not_here(self.dataset_name())} (see the line above).")
        return bool(missing)
