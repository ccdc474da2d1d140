"""What the Probe workspace remembers: dataset and subset, checked models, the splitter, the probe settings."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QSettings


def saved_models(s: QSettings, labels: list[str]) -> list[str]:
    """The models checked last time; on a first launch a random backbone beside a trained one of the same
    architecture, ready to compare."""
    v = s.value("probe/models")
    if v is None:
        trained = [label for label in labels if label.startswith("simple (trained, MNIST")]
        return ["simple (random)"] + trained[:1]
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            v = [v]
    return [str(x) for x in v] if isinstance(v, list) else []


def restore_dataset(s: QSettings, browser: Any) -> None:
    name, subset = s.value("probe/dataset"), s.value("probe/subset")
    try:
        if name:
            browser.dataset_name = str(name)
        if subset is not None:
            browser.subset_size = int(subset)
    except (ValueError, TypeError, OverflowError):  # OverflowError: a subset past a 32-bit int
        pass  # an unreadable value: the browser keeps its own choice


def save(s: QSettings, dataset: str, browser: Any, checked: list[str], splitter: Any, probe_settings: Any) -> None:
    s.setValue("probe/dataset", dataset)
    s.setValue("probe/subset", int(browser.subset_size or 0))
    s.setValue("probe/models", json.dumps(checked))
    if splitter is not None:  # None: the columns are reflowed into tabs (a narrow window); the wide layout is kept
        s.setValue("probe/splitter", splitter.saveState())
    probe_settings.save(s)


def save_history_sort(s: QSettings, column: int, descending: bool) -> None:
    """The history's order (a header click): remembered between launches."""
    s.setValue("probe/history_sort", f"{int(column)},{'desc' if descending else 'asc'}")


def restore_history_sort(s: QSettings, table: Any) -> None:
    """The remembered order, if it is one (a broken value: newest first)."""
    raw = str(s.value("probe/history_sort", "") or "")
    col, _, order = raw.partition(",")
    if col.isdigit() and 0 <= int(col) < len(table.COLUMNS) and order in ("asc", "desc"):
        table.set_sort(int(col), order == "desc")
