"""``widgets.common.steady.reserve_lines``: a wrapped label that reserves its lines moves nothing when its text
grows to them (each move re-lays and repaints a neighbouring plot: issue 14)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui


def _column(qtbot, reserve: int | None):
    from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget

    from widgets.application import make_app
    from widgets.common.steady import reserve_lines

    make_app()
    w = QWidget()
    qtbot.addWidget(w)
    lay = QVBoxLayout(w)
    body = QWidget()
    label = QLabel("one line")
    label.setWordWrap(True)
    if reserve:
        reserve_lines(label, reserve)
    lay.addWidget(body, 1)
    lay.addWidget(label)
    w.resize(300, 400)
    w.show()
    QApplication.processEvents()
    return w, body, label


@pytest.mark.parametrize("reserve", [None, 2])
def test_a_reserved_label_keeps_its_neighbour_still(qtbot, reserve):
    from PySide6.QtWidgets import QApplication

    w, body, label = _column(qtbot, reserve)
    before = body.height()
    lines = label.fontMetrics().lineSpacing()
    label.setText("a status message long enough to wrap onto a second line in a column this narrow")
    QApplication.processEvents()
    assert label.heightForWidth(label.width()) >= 2 * lines  # the text does take two lines
    if reserve:
        assert body.height() == before
        label.setText("short again")
        QApplication.processEvents()
        assert body.height() == before
    else:  # the control: an ordinary wrapped label takes the second line from its neighbour
        assert body.height() < before


@pytest.mark.parametrize("helper", [True, False])
def test_a_new_axis_label_is_centred_again(qtbot, helper):
    """pyqtgraph centres an axis label only when the axis is resized: a short label after a long one stayed where
    the long one began (the Experiments ablation's view switch, the projector's method, the CKA models).
    ``axis_label`` centres it again; pyqtgraph's own ``setLabel`` (the control) leaves it off centre."""
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from widgets.application import make_app
    from widgets.common.live_plot import axis_label

    make_app()
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    plot.resize(600, 300)
    plot.setLabel("bottom", "a long label that spans most of the width of the axis")
    plot.show()
    axis = plot.getAxis("bottom")
    for _ in range(5):  # the first layouts settle
        QApplication.processEvents()
    width = axis.size().width()
    if helper:
        axis_label(plot, "bottom", "short")
    else:
        plot.setLabel("bottom", "short")
    for _ in range(5):
        QApplication.processEvents()
    assert axis.size().width() == width  # no resize to re-centre it
    centre = axis.label.pos().x() + axis.label.boundingRect().width() / 2
    assert (abs(centre - axis.size().width() / 2) <= 1) == helper
