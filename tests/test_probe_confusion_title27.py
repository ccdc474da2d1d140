"""The confusion thumbnail's title and bottom label at 1024 px: the title is the longest wording that fits (it was cut
at "row %"), the bottom label ends left of the Enlarge button (which covered "predicted cla"); the tooltip says the
whole title."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QFont, QFontMetrics

from test_probe_download_gui import no_data  # noqa: F401
from test_probe_gui27_classes import SIZES, fashion_run, probe_page, show_stored  # noqa: F401
from widgets.probe.confusion import SHORT_BOTTOM, SHORT_TITLES, TITLE

pytestmark = pytest.mark.gui


@pytest.mark.parametrize("size", SIZES)
def test_the_thumbnail_title_fits_and_its_bottom_label_clears_the_button(qtbot, probe_page, fe_home, no_data,  # noqa: F811
                                                                         size):
    ws = show_stored(qtbot, probe_page, fe_home, fashion_run(), size)
    thumb = ws.results.confusion
    qtbot.wait(50)
    title = thumb.plotItem.titleLabel.text
    assert title in SHORT_TITLES
    font = QFont(thumb.font())
    font.setPointSize(10)
    assert QFontMetrics(font).horizontalAdvance(title) <= thumb.width() - 8  # drawn whole
    assert TITLE in thumb.toolTip()  # the whole title, and what the colours are
    axis = thumb.getAxis("bottom")
    label = axis.label
    assert axis.labelText in SHORT_BOTTOM
    if axis.labelText:
        right = label.mapToScene(QPointF(label.boundingRect().right(), 0)).x()
        text_right = right - (label.boundingRect().width() - QFontMetrics(label.font()).horizontalAdvance(
            axis.labelText)) / 2  # the item may be wider than its text
        assert text_right <= thumb.enlarge_btn.x(), (axis.labelText, text_right, thumb.enlarge_btn.x())
