"""The Probe's dataset panel and model choices: the data area's ``DatasetBrowser`` (samples, class counts, subset
size; ``dataset_name``, ``subset_size``, ``data_root``, ``datasetChanged(str)``, ``subsetChanged(int)``) and the
built-in models the Probe offers."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.models.zoo import default_specs
from widgets.data.browser import DatasetBrowser


def make_dataset_panel(settings: QSettings, parent: QWidget, auto_load: bool = True) -> QWidget:
    browser = DatasetBrowser(settings=settings, parent=parent, auto_load=auto_load)
    # the browser fills the column it is given (its sample grid must not collapse when Probe is shown later)
    browser.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
    return browser


def zoo_specs() -> list[Any]:
    return list(default_specs())
