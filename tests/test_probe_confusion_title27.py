"""The confusion thumbnail's title and bottom label at 1024 px and 1280 px: the title is the longest wording that fits
(it was cut at "row %" at 1024 px; at 1280 px its measure, the whole widget's width, was wider than the plot column
pyqtgraph centres it over, and the title widened the plot past the widget's right edge), the bottom label ends left of
the Enlarge button (which covered "predicted cla"), the button covers no class name under the matrix (it covered "8"
at 1280 px); the tooltip says the whole title."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QFont, QFontMetrics, QFontMetricsF

from test_probe_download_gui import no_data  # noqa: F401
from test_probe_gui27_classes import SIZES, fashion_run, probe_page, show_stored  # noqa: F401
from test_probe_gui_auditW import _drawn_tick_texts
from widgets.probe.confusion import SHORT_BOTTOM, SHORT_TITLES, TITLE

pytestmark = pytest.mark.gui

# the Probe's page in a 1024 x 700, a 1280 x 720 and the default 1400 x 900 window
TITLE_SIZES = sorted(set(SIZES) | {(1280, 667)})


def digits_run() -> dict:
    from tests.test_history import fake_result

    return fake_result(dataset="digits", top1=0.93)


@pytest.mark.parametrize("run", [fashion_run, digits_run], ids=["fashion", "digits"])
@pytest.mark.parametrize("size", TITLE_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_thumbnail_title_fits_and_its_bottom_label_clears_the_button(qtbot, probe_page, fe_home, no_data,  # noqa: F811
                                                                         size, run):
    ws = show_stored(qtbot, probe_page, fe_home, run(), size)
    thumb = ws.results.confusion
    qtbot.wait(50)
    item = thumb.plotItem
    title = item.titleLabel.text
    assert title in SHORT_TITLES
    assert TITLE in thumb.toolTip()  # the whole title, and what the colours are
    # drawn whole: the title's text inside the widget and over the plot's column, where pyqtgraph centres it; the
    # plot no wider than the widget (a title wider than its column widened the plot, cut off on the right)
    text = item.titleLabel.item
    drawn = text.mapRectToScene(text.boundingRect())
    view = thumb.viewport().width()
    assert item.geometry().right() <= view + 0.5, (item.geometry(), view)
    assert 0 <= drawn.left() and drawn.right() <= view, (title, drawn, view)
    column = item.vb.sceneBoundingRect()
    assert column.left() - 0.5 <= drawn.left() and drawn.right() <= column.right() + 0.5, (title, drawn, column)
    font = QFont(thumb.font())
    font.setPointSize(10)
    margins = 2 * text.document().documentMargin()
    longer = SHORT_TITLES[:SHORT_TITLES.index(title)]  # the longest that fits: a longer one would not
    assert all(QFontMetricsF(font).horizontalAdvance(t) + margins > column.width() for t in longer), (title, column)
    axis = thumb.getAxis("bottom")
    label = axis.label
    assert axis.labelText in SHORT_BOTTOM
    if axis.labelText:
        right = label.mapToScene(QPointF(label.boundingRect().right(), 0)).x()
        text_right = right - (label.boundingRect().width() - QFontMetrics(label.font()).horizontalAdvance(
            axis.labelText)) / 2  # the item may be wider than its text
        assert text_right <= thumb.enlarge_btn.x(), (axis.labelText, text_right, thumb.enlarge_btn.x())
    # the Enlarge button covers no class name written under the matrix
    button = QRectF(thumb.enlarge_btn.geometry())
    names = [(axis.mapRectToScene(QRectF(QPointF(x0, y0), QPointF(x1, y1))), t)
             for x0, y0, x1, y1, t in _drawn_tick_texts(axis)]
    assert names
    assert not [t for r, t in names if r.intersects(button)], (names, button)
