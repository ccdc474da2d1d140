"""The Models workspace at 1024x700, as a user sees it (a GUI audit): the kernel panels' combos cut their names
mid-word ("Builder: current mo"), the layer table's Layer column was 26 px ("c…", header ".aye"), the totals left
"frozen" alone on a second line, and the training dialog named a dataset "Fashion-MNIST" in its box but
"fashion-mnist" on its button and status line, where it also pointed at a command-line command."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QTextLayout, QTextOption

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, fe_home):
    from widgets.application import make_app
    from widgets.main_window import MainWindow

    make_app()
    win = MainWindow(workspace="models", persist=False)
    qtbot.addWidget(win)
    win.resize(1024, 700)
    win.show()
    ws = win.workspace("models")
    qtbot.waitUntil(lambda: ws.builder_ready() and not ws.busy(), timeout=60_000)
    qtbot.wait(200)
    yield win
    win.close()


def _lines(label) -> list[str]:
    """The lines a label draws its (plain) text in, at its width, wrapped as it wraps."""
    text = label.text()
    layout = QTextLayout(text, label.font())
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WordWrap if label.wordWrap() else QTextOption.WrapMode.NoWrap)
    layout.setTextOption(option)
    lines = []
    layout.beginLayout()
    while True:
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(label.contentsRect().width())
        lines.append(text[line.textStart():line.textStart() + line.textLength()])
    layout.endLayout()
    return lines


def test_at_1024_the_kernel_panels_elide_their_names_and_the_tooltip_holds_them_whole(qtbot, window):
    from widgets.common.elided_combo import ElidedCombo

    ws = window.workspace("models")
    combos = [ws.panel_a.source, ws.panel_a.layer, ws.panel_b.source, ws.panel_b.layer]
    assert all(isinstance(c, ElidedCombo) for c in combos), [type(c).__name__ for c in combos]
    source = ws.panel_a.source
    assert source.currentText() == "Builder: current model"
    assert source.fontMetrics().horizontalAdvance(source.currentText()) > source.text_room()  # narrower than it
    shown = source.shown_text()
    assert shown.endswith("…") and source.currentText().startswith(shown[:-1]), shown  # "Builder: current …"
    for c in combos:  # each says its whole name on hover, cut or not
        assert c.toolTip().split("\n")[0] == c.currentText(), (c.toolTip(), c.currentText())
        assert c.text_fits() or c.shown_text().endswith("…")
    # a refill with the signals blocked (a session model arrives) keeps the tooltip the shown name
    items = [("builder", "Builder: current model", ""), ("session:x", "session: a very long model name (trained)", "")]
    ws.panel_b.set_sources(items, keep="session:x")
    assert ws.panel_b.source.toolTip().startswith("session: a very long model name (trained)\n")


def test_an_eliding_combo_refilled_with_signals_blocked_says_its_new_name_on_hover(qtbot):
    from widgets.common.elided_combo import ElidedCombo

    combo = ElidedCombo()
    qtbot.addWidget(combo)
    combo.set_about("What the box is for")
    combo.addItems(["first", "second"])
    combo.resize(90, combo.sizeHint().height())
    with qtbot.waitExposed(combo):
        combo.show()
    assert combo.toolTip() == "first\n\nWhat the box is for"
    combo.blockSignals(True)  # a refill as the panels do it: no currentTextChanged
    combo.clear()
    combo.addItems(["alpha", "a name far too long for a box of ninety pixels"])
    combo.setCurrentIndex(1)
    combo.blockSignals(False)
    combo.repaint()  # the next paint (before any hover) says it
    assert combo.toolTip() == "a name far too long for a box of ninety pixels\n\nWhat the box is for"
    assert combo.shown_text().endswith("…") and not combo.text_fits()


def test_at_1024_the_layer_column_fits_its_longest_name_and_the_other_columns_give_way(qtbot, window):
    from widgets.models.layer_columns import NAME_CAP
    from widgets.models.layer_table import COL_BANK

    ws = window.workspace("models")
    table = ws.table
    names = [table.item(r, 0).text() for r in range(table.rowCount())]
    longest = max(names, key=table.fontMetrics().horizontalAdvance)
    need = min(table.sizeHintForColumn(0), table.fontMetrics().averageCharWidth() * NAME_CAP)
    width = table.columnWidth(0)
    assert width >= need and width > table.fontMetrics().horizontalAdvance(longest), (width, need, longest)
    assert width >= table.horizontalHeader().sectionSizeHint(0)  # "Layer" whole
    assert table.horizontalScrollBar().maximum() == 0  # nothing a sideways scroll away
    combo = table.cellWidget(0, COL_BANK)
    assert combo.currentText() == "(model init)" and combo.text_fits()  # the Initialisation combos whole


def test_the_layer_column_is_capped_and_the_others_give_way_before_the_table_scrolls():
    from widgets.models.layer_columns import spread

    others = [(100, 60), (80, 80), (120, 90)]  # (contents with the header, the least each gives way to)
    assert spread(700, (150, 200), others) == [400, 100, 80, 120]  # room to spare: the names take it
    assert spread(450, (150, 200), others) == [150, 100, 80, 120]  # just fits
    widths = spread(400, (150, 200), others)  # 50 px short: taken from what the others can spare (40 and 30)
    assert widths[0] == 150 and sum(widths) == 400 and widths[2] == 80
    assert widths[1] >= 60 and widths[3] >= 90
    assert spread(300, (500, 180), others) == [180, 60, 80, 90]  # a long name stops at the cap; then it scrolls


def test_the_parameter_totals_never_break_inside_a_count(qtbot, window):
    from app.models import viz

    ws = window.workspace("models")
    label = ws.totals
    view = ws._builder_view
    assert label.text() == view.totals_text()
    lines = _lines(label)
    frozen = f"{viz.fmt_count(view.frozen)} frozen"
    assert any(frozen in line for line in lines), lines  # "0" and "frozen" on one line
    assert lines == [label.text()], lines  # the whole line: the title beside it gives way
    assert label.fontMetrics().horizontalAdvance(label.text()) <= label.contentsRect().width()


def test_the_training_dialog_names_the_dataset_as_its_box_does_and_points_at_the_download_button(
        qtbot, models_workspace, tmp_path, monkeypatch):
    from app import paths
    from app.data import remote
    from app.tasks import Progress

    monkeypatch.setenv("FILTER_EXPLORER_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(paths, "shared_dir", lambda: None)

    def fake_download(name, root=None, cancel=None, **kw):
        yield Progress(1, 2, f"[1/4] {name}: 3.1 of 26.4 MB")
        return None  # nothing written: the dataset stays missing

    monkeypatch.setattr(remote, "download", fake_download)
    ws = models_workspace(panel_b=None)
    ws.open_train()
    dlg = ws.train_dialog
    qtbot.addWidget(dlg)
    dlg.dataset.setCurrentIndex(dlg.dataset.findData("fashion-mnist"))
    title = dlg.dataset.currentText()
    assert title == "Fashion-MNIST"
    status = dlg.status.text()
    assert f"{title} is not downloaded under" in status and "fashion-mnist" not in status, status
    assert "main.py" not in status and "with the Download button beside the dataset" in status, status
    assert "Download button" in dlg.start_btn.toolTip() and "main.py" not in dlg.start_btn.toolTip()
    assert dlg.download_btn.isVisibleTo(dlg) and dlg.download_btn.text().startswith(f"Download {title} (")
    seen = []
    dlg.download_btn.progress.connect(lambda _p: seen.append(dlg.status.text()))  # after the dialog's own slot
    dlg.download_btn.click()
    assert dlg.status.text() == f"Downloading {title}…" and dlg.download_btn.text() == f"Downloading {title}…"
    qtbot.waitUntil(lambda: not dlg.is_downloading(), timeout=10_000)
    assert seen == [f"[1/4] {title}: 3.1 of 26.4 MB"], seen
    assert f"{title} downloaded." in dlg.status.text(), dlg.status.text()  # (the fake wrote nothing: still missing)
