"""The Probe's dataset panel and model choices: the data area's ``DatasetBrowser`` (samples, class counts, subset
size; ``dataset_name``, ``subset_size``, ``data_root``, ``datasetChanged(str)``, ``subsetChanged(int)``) and the
built-in models the Probe offers. In the Probe's column (a tab of its own on a narrow window) the browser's texts
keep to the column: its dataset choice elided with the whole text on its tooltip (``ElidedCombo``), its status line
wrapped without widening the column, its download bar's message elided on one line (``bar_text``)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.models.zoo import default_specs
from widgets.data.browser import DatasetBrowser
from widgets.probe.bar_text import elide_bar_text


def make_dataset_panel(settings: QSettings, parent: QWidget, auto_load: bool = True) -> QWidget:
    browser = DatasetBrowser(settings=settings, parent=parent, auto_load=auto_load)
    # the browser fills the column it is given (its sample grid must not collapse when Probe is shown later)
    browser.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
    # its status line wraps in the column it has and never widens it: a failed download's message with a word wider
    # than the column (a Windows path) made the column wider, and the Probe's columns became tabs at 1,400 px
    browser.status.setSizePolicy(QSizePolicy.Policy.Ignored, browser.status.sizePolicy().verticalPolicy())
    # its download bar's message on one line, elided ("[1/4] downloading train-ima…"), not wrapped onto two cut lines
    elide_bar_text(browser.work.progress_bar)
    return browser


def zoo_specs() -> list[Any]:
    return list(default_specs())
