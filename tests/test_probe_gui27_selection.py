"""Issue 27, item 5: the Results header's validation line ("validation per weight_decay: 0.001: 99.10%, 0.0001:
99.10%, 1e-05: 99.08%; 2 tie at the best, the first swept kept", ``app.probe.notes.selection_note``) listed every
swept value alike and did not say which one the run kept. The widget now ends it with the value the run chose (its
``selected`` record), in bold: "...; chosen: 0.001 (99.10%)" (the CLI's note is unchanged), at a 1024 px window and
at the default size."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QFont, QTextDocument

from test_probe_download_gui import no_data  # noqa: F401
from test_probe_gui27_classes import SIZES, fashion_run, probe_page, show_stored  # noqa: F401

pytestmark = pytest.mark.gui


def _line(ws) -> tuple[str, list[str]]:
    """The header's validation line as the user reads it, and the parts of it drawn in bold."""
    doc = QTextDocument()
    doc.setHtml(ws.results.header.text())
    text = doc.toPlainText()
    line = next(t for t in text.split("\n") if t.startswith("validation per "))
    bold = []
    block = doc.begin()
    while block.isValid():
        if block.text() == line or line in block.text():
            it = block.begin()
            while not it.atEnd():
                frag = it.fragment()
                if frag.isValid() and frag.charFormat().fontWeight() >= QFont.Weight.Bold:
                    bold.append(frag.text())
                it += 1
        block = block.next()
    return line, bold


@pytest.mark.parametrize("size", SIZES)
def test_the_chosen_value_is_marked_in_the_validation_line(qtbot, probe_page, fe_home, no_data, size):  # noqa: F811
    run = fashion_run()
    run["selection"] = [[1e-3, 0.991], [1e-4, 0.991], [1e-5, 0.9908]]
    run["selected"] = {"weight_decay": 1e-3}  # a tie: the first swept kept
    ws = show_stored(qtbot, probe_page, fe_home, run, size)
    line, bold = _line(ws)
    assert line == ("validation per weight_decay: 0.001: 99.10%, 0.0001: 99.10%, 1e-05: 99.08%; 2 tie at the best, "
                    "the first swept kept; chosen: 0.001 (99.10%)"), line
    assert "chosen: 0.001 (99.10%)" in bold, bold  # in bold
    assert not any("0.0001" in b or "1e-05" in b for b in bold), bold  # the others not
    # the whole header can be read: it fits, or it scrolls to its last line
    assert not ws.results.header_cut() or ws.results.header_scroll.verticalScrollBar().maximum() > 0


def test_a_chosen_value_after_the_first_and_a_layer_in_the_record(qtbot, probe_page, fe_home, no_data):  # noqa: F811
    """The chosen value found by value ("1e-05" is 0.00001) wherever it is in the sweep; a layer a preset chose,
    recorded first in ``selected``, is not what the line is "per"."""
    run = fashion_run()
    run["selection"] = [[1e-3, 0.95], [1e-4, 0.97], [1e-5, 0.981]]
    run["selected"] = {"layer": 3, "weight_decay": 1e-5}
    ws = show_stored(qtbot, probe_page, fe_home, run, SIZES[0])
    line, bold = _line(ws)
    assert line.startswith("validation per weight_decay: 0.001: 95.00%, 0.0001: 97.00%, 1e-05: 98.10%; the best is "
                           "the grid's last value"), line
    assert line.endswith("; chosen: 1e-05 (98.10%)")
    assert [b for b in bold if "chosen" in b] == ["chosen: 1e-05 (98.10%)"]


def test_the_cli_note_is_unchanged():
    from app.probe.notes import selection_note

    assert selection_note([(1e-3, 0.991), (1e-4, 0.991), (1e-5, 0.9908)]) == \
        "0.001: 99.10%, 0.0001: 99.10%, 1e-05: 99.08%; 2 tie at the best, the first swept kept"
