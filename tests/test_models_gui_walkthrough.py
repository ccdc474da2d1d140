"""Models workspace, walkthrough: Start is off (with the reason and a Download beside the dataset) for a dataset this
machine does not have (1); a second Open of a file that is open and unchanged selects it, a changed one opens again
(2); the training plots' step axes tick whole steps only (3); workspace.py and train_dialog.py stay under the
project's file size (4)."""

from __future__ import annotations

import os
import types
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from torch import nn

from app.models.inputs import declared

pytestmark = pytest.mark.gui


@pytest.fixture
def ws(models_workspace):
    return models_workspace(panel_b=None)


def _no_data_here(tmp_path, monkeypatch) -> Path:
    """A user's machine: an empty data folder, no ../shared."""
    from app import paths

    monkeypatch.setenv("FILTER_EXPLORER_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(paths, "shared_dir", lambda: None)
    return tmp_path / "data"


# ------------------------------------------------------------------------------------------------ 1
def test_start_is_off_for_a_dataset_not_here_and_the_download_beside_it_makes_it_startable(qtbot, ws, tmp_path,
                                                                                            monkeypatch):
    from fixtures_data import idx_files

    from app.data import remote
    from app.tasks import Progress

    data = _no_data_here(tmp_path, monkeypatch)
    calls = []

    def fake_download(name, root, cancel=None, **kw):  # the real one's shape: a task returning the folder
        calls.append(name)
        yield Progress(1, 4, f"{name}: fetching")
        folder = data / "MNIST" / "raw"
        folder.mkdir(parents=True, exist_ok=True)
        for n, b in idx_files(20, 10).items():
            (folder / n).write_bytes(b)
        yield Progress(4, 4, f"{name}: done")
        return folder

    monkeypatch.setattr(remote, "download", fake_download)
    ws.open_train()
    dlg = ws.train_dialog
    qtbot.addWidget(dlg)
    qtbot.waitExposed(dlg)
    assert dlg.dataset.currentData() == "digits" and dlg.start_btn.isEnabled()
    assert not dlg.download_btn.isVisible() and "Not ready" not in dlg.start_btn.toolTip()
    dlg.dataset.setCurrentIndex(dlg.dataset.findData("mnist"))
    # what the user sees: Start greyed out, the reason on the status line and on Start's tooltip, a way forward
    assert not dlg.start_btn.isEnabled()
    assert "Not ready: MNIST is not downloaded under" in dlg.start_btn.toolTip()
    assert dlg.status.isVisible() and "Not ready:" in dlg.status.text() and "MNIST is not downloaded" in \
        dlg.status.text() and "choose digits" in dlg.status.text()
    assert dlg.download_btn.isVisible() and dlg.download_btn.isEnabled()
    assert dlg.download_btn.text() == "Download MNIST (11.1 MB)"
    QTest.mouseClick(dlg.start_btn, Qt.MouseButton.LeftButton)  # a click on the greyed Start does nothing
    dlg.activateWindow()
    qtbot.waitUntil(dlg.isActiveWindow, timeout=5000)
    QTest.keyClick(dlg, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # nor does its shortcut
    assert "Not started:" in dlg.status.text()  # (it says why once more)
    assert dlg.worker is None and not dlg.is_running()
    assert ws.session.models == {}
    # the way forward: Download, then Start is on
    dlg.download_btn.click()
    qtbot.waitUntil(lambda: not dlg.is_downloading(), timeout=10_000)
    assert calls == ["mnist"]
    assert dlg.status.text() == f"MNIST downloaded into {data / 'MNIST' / 'raw'}."
    assert dlg.start_btn.isEnabled() and "Not ready" not in dlg.start_btn.toolTip()
    assert not dlg.download_btn.isVisible() and dlg.dataset.isEnabled()


def test_a_download_in_the_dialog_can_be_cancelled_and_start_stays_off(qtbot, ws, tmp_path, monkeypatch):
    import time

    from app.data import remote
    from app.tasks import Progress, check

    _no_data_here(tmp_path, monkeypatch)

    def slow_download(name, root, cancel=None, **kw):
        for i in range(400):
            check(cancel)
            yield Progress(i, 400, f"{name}: {i}")
            time.sleep(0.02)
        return None

    monkeypatch.setattr(remote, "download", slow_download)
    ws.open_train()
    dlg = ws.train_dialog
    qtbot.addWidget(dlg)
    dlg.dataset.setCurrentIndex(dlg.dataset.findData("fashion-mnist"))
    assert dlg.download_btn.text().startswith("Download Fashion-MNIST")
    dlg.download_btn.click()
    qtbot.waitUntil(lambda: "Fashion-MNIST:" in dlg.status.text(), timeout=5_000)
    assert not dlg.start_btn.isEnabled() and dlg.cancel_btn.isEnabled() and not dlg.dataset.isEnabled()
    dlg.start()
    assert dlg.worker is None  # no training while its data downloads
    dlg.cancel_btn.click()
    qtbot.waitUntil(lambda: not dlg.is_downloading(), timeout=10_000)
    assert "was cancelled; the next one resumes it" in dlg.status.text()
    assert not dlg.start_btn.isEnabled() and "Not ready" in dlg.start_btn.toolTip()
    assert dlg.download_btn.isVisible() and dlg.download_btn.isEnabled() and not dlg.cancel_btn.isEnabled()


# ------------------------------------------------------------------------------------------------ 2
def _conv_net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)).eval()


def _open_and_wait(qtbot, ws, source: str) -> None:
    ws.own.open_source(source)
    qtbot.waitUntil(lambda: not ws.own.busy(), timeout=60000)


def _listed(own) -> list[str]:
    return [own.model_combo.itemText(i) for i in range(own.model_combo.count())]


def test_opening_an_open_unchanged_file_again_selects_it_and_a_changed_one_opens_again(qtbot, ws, tmp_path):
    path = str(tmp_path / "grey.pt")
    torch.jit.save(torch.jit.script(_conv_net(0)), path)
    asked = []

    def ask(_parent, name, channels, *_prefill):
        asked.append(name)
        return declared(1, (28, 28), preset="mnist")

    ws.own.ask_input = ask
    own = ws.own
    ws.left_tabs.setCurrentWidget(own)
    _open_and_wait(qtbot, ws, path)
    assert _listed(own) == ["grey.pt"] and asked == ["grey.pt"]
    twin = own.make_twin()  # the twin selected: the second Open must bring the file's model back
    qtbot.waitUntil(lambda: not own.busy(), timeout=60000)
    assert own.current() == twin
    models, banks = list(ws.session.models), list(ws.session.banks)
    _open_and_wait(qtbot, ws, str(Path(path).parent / "." / "grey.pt"))  # the same file, however it is spelt
    # what the user sees: the one entry, selected, and a line saying so; nothing added anywhere
    assert _listed(own) == ["grey.pt", twin] and own.current() == "grey.pt"
    assert own.model_combo.currentText() == "grey.pt" and "<b>grey.pt</b>" in own.info.text()
    assert "already open as “grey.pt”" in own.status.text() and "selected it" in own.status.text()
    assert "second copy" not in own.status.text()
    assert list(ws.session.models) == models and list(ws.session.banks) == banks
    assert ws.panel_b.source_id() == "session:grey.pt"
    # changed on disk since: opened again as before (its input asked again), and the line says which is older
    torch.jit.save(torch.jit.script(_conv_net(1)), path)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))  # a clearly later modification time
    _open_and_wait(qtbot, ws, path)
    assert asked == ["grey.pt", "grey.pt"]
    assert _listed(own) == ["grey.pt", twin, "grey.pt (2)"] and own.current() == "grey.pt (2)"
    assert "changed on disk since it was opened as “grey.pt”" in own.status.text()
    # and that newer version, opened again unchanged, is selected too
    own.model_combo.setCurrentIndex(0)
    _open_and_wait(qtbot, ws, path)
    assert own.current() == "grey.pt (2)" and len(_listed(own)) == 3
    assert "already open as “grey.pt (2)”" in own.status.text()


# ------------------------------------------------------------------------------------------------ 3
def _ticks(plot, lo: float | None = None, hi: float | None = None) -> tuple[list[float], list[str]]:
    """The step axis' tick values and the labels the user reads, over the view's range (or ``lo``-``hi``)."""
    axis = plot.getAxis("bottom")
    if lo is None:
        lo, hi = plot.getViewBox().viewRange()[0]
    values, labels = [], []
    for spacing, vs in axis.tickValues(lo, hi, axis.width() or 300):
        values += vs
        labels += axis.tickStrings(vs, axis.scale, spacing)
    return values, labels


def _whole(values) -> bool:
    return all(float(v).is_integer() for v in values)


def test_the_training_plots_step_axes_tick_whole_steps_only(qtbot, ws):
    from app.tasks import Progress

    ws.open_train()
    dlg = ws.train_dialog
    qtbot.addWidget(dlg)
    qtbot.waitExposed(dlg)
    for plot in (dlg.loss_plot, dlg.acc_plot):  # no points yet (the range 0-1): no step 0.2 ... 0.8
        assert _whole(_ticks(plot)[0]), _ticks(plot)
    for step in (1, 2, 3):  # a short run: three steps
        rec = types.SimpleNamespace(kind="step", step=step, loss=2.3 - 0.2 * step, train_acc=0.1 * step)
        dlg._on_progress(Progress(step, 3, f"step {step}", payload=rec))
    dlg._redraw()
    for plot in (dlg.loss_plot, dlg.acc_plot):
        values, labels = _ticks(plot)
        assert {1.0, 2.0, 3.0} <= set(values) and _whole(values), values
        assert not any("." in t for t in labels), labels  # 0 1 2 3, not 0 0.5 1 1.5 ...
    dlg._steps, dlg._loss, dlg._acc = [3], [2.3], [0.1]  # a lone point, the range around it
    dlg.loss_plot.getViewBox().autoRange()
    assert _whole(_ticks(dlg.loss_plot)[0])
    assert _whole(_ticks(dlg.loss_plot, 0.0, 4000.0)[0])  # a long run: coarse ticks, whole steps as before


# ------------------------------------------------------------------------------------------------ 4
@pytest.mark.parametrize("module", ["workspace", "train_dialog", "open_model", "train_plots", "train_link",
                                    "open_files", "timm_dialog"])
def test_the_models_modules_stay_under_450_lines(module):
    path = Path(__file__).resolve().parent.parent / "widgets" / "models" / f"{module}.py"
    assert len(path.read_text(encoding="utf-8").splitlines()) < 450
