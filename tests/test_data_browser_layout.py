"""The sample grid fits the area it is shown in, also when the browser loads while hidden (issue 12: the Probe
sample grid collapsed to a 3-row strip when Probe was not the first workspace shown)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui


def test_grid_loaded_while_hidden_is_laid_out_again_when_shown_and_resized(qtbot, fe_home, tmp_path):
    from PySide6.QtCore import QSettings

    from app.data.preview import columns_for
    from widgets.application import make_app
    from widgets.data.browser import DatasetBrowser

    make_app()
    b = DatasetBrowser(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(b)
    b.resize(1200, 60)  # a hidden tab's arbitrary size: the first guess is a wide strip
    b._refresh()
    qtbot.waitUntil(lambda: not b.is_busy() and b.current_view() is not None, timeout=15000)
    assert b.current_view().columns == 16  # 3 rows of 16: the strip of the issue
    b.resize(500, 900)
    b.show()
    qtbot.waitUntil(lambda: b.current_view().columns != 16, timeout=5000)
    v = b.current_view()
    want = columns_for(len(v.cells), b.samples.grid_view.width(), b.samples.grid_view.height())
    assert v.columns == want and want <= 8
    assert len({c.x for c in v.cells}) == want and len(v.cells) == 48
    assert b.samples.image.image.shape[:2] == v.mosaic.shape[:2]
    b.resize(1400, 500)  # wide again: more columns
    qtbot.waitUntil(lambda: b.current_view().columns > want, timeout=5000)
    b.shutdown()
