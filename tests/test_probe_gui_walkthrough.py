"""The Probe workspace as a user sees it on a small window (the walkthrough's findings)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics

pytestmark = pytest.mark.gui


def _digits_like_run():
    from tests.test_history import fake_result
    from widgets.probe.model import RunView

    d = fake_result()
    conf = np.eye(10, dtype=int) * 44
    conf[7, 4] = conf[9, 3] = 2
    d["confusion"] = conf.tolist()
    return RunView.from_dict(d)


def test_the_confusion_thumbnail_enlarges_to_a_legible_matrix(qtbot):
    """At the size a 1024 x 700 window gives the Results page the matrix's cells are a few pixels wide: no counts
    piled over one another there, an Enlarge button instead; it opens the matrix with every count readable in its
    cell, and a click on a cell there filters the gallery as on the thumbnail."""
    from widgets.probe.results import ResultsView

    view = ResultsView()
    qtbot.addWidget(view)
    view.projector.set_run = lambda run: None  # the projector is not what is tested here
    view.resize(612, 420)  # the Results tab's page at 1024 x 700
    view.show()
    qtbot.waitExposed(view)
    run = _digits_like_run()
    view.show_run(run)
    qtbot.wait(50)
    thumb = view.confusion
    fm = QFontMetrics(thumb.counts.font)
    assert 0 < thumb.cell_px() < fm.horizontalAdvance("44")  # too small a cell to write its count in
    assert not thumb.counts_shown()  # so the counts are not drawn over one another
    btn = thumb.enlarge_btn
    assert btn.isVisible() and "Enlarge" in btn.text()
    assert thumb.rect().contains(btn.geometry())  # inside the thumbnail, in view
    qtbot.mouseClick(btn, Qt.MouseButton.LeftButton)
    big = view.enlarged
    assert big is not None and big.isVisible()
    qtbot.waitExposed(big)
    qtbot.wait(50)
    plot = big.plot
    bfm = QFontMetrics(plot.counts.font)
    assert plot.counts_shown() and plot.cell_px() >= 2 * bfm.horizontalAdvance("44")  # every count legible
    assert sorted(plot.counts.texts()) == sorted(["44"] * 10 + ["2", "2"])
    assert plot.confusion_text(7, 4) == "true 7 → predicted 4: 2 of 46 (4.3%)"
    assert "simple (random)" in big.windowTitle()
    seen = []
    view.cell_clicked.connect(lambda i, j: seen.append((i, j)))
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=plot.cell_pos(7, 4))
    assert view.pair == (7, 4) and seen == [(7, 4)]
    # a wide page: the thumbnail writes its counts itself
    view.resize(1400, 900)
    qtbot.waitUntil(thumb.counts_shown, timeout=3000)
    big.close()
