"""The Experiments workspace's Dataset field, driven as a user would: run a recipe on another dataset, be told before
the run when the recipe's image folder is missing, and be refused an empty name."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from app.experiments.recipe import EMPTY_DATASET
from app.experiments.store import Store

pytestmark = pytest.mark.gui

TINY = """
name = "tiny-ds-gui"
title = "one tiny cell"
claim = "the dataset can be changed"
kind = "probe"
[base]
backbone = "rdsn"
dataset = "imagefolder:{folder}"
head = "ridge"
pooling = "gap"
train_limit = 200
test_limit = 80
options = {{ k = 8, blocks = 1 }}
[plot]
x = "options.k"
y = "test_top1"
"""


def _workspace(qtbot, tmp_path, settings=None):
    from widgets.experiments.workspace import ExperimentsWorkspace

    missing = tmp_path / "nowhere" / "cifar10-jpg"
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY.format(folder=missing))
    ws = ExperimentsWorkspace(settings=settings, store=Store(tmp_path / "exp.sqlite"))
    qtbot.addWidget(ws)
    ws.show()
    assert ws.load_file(str(recipe))
    ws.executor.setCurrentText("inline")
    return ws, missing


def test_the_field_shows_the_recipes_dataset_and_a_missing_folder_starts_nothing(qtbot, tmp_path):
    ws, missing = _workspace(qtbot, tmp_path)
    assert ws.dataset.value() == f"imagefolder:{missing}"
    assert "digits" in [ws.dataset.combo.itemText(i) for i in range(ws.dataset.combo.count())]
    assert ws.dataset.combo.toolTip() and "--dataset" in ws.dataset.combo.toolTip()
    # the note is there before anything runs
    assert str(missing) in ws.dataset.problem() and "choose another dataset" in ws.dataset.problem()
    ws.run()
    assert ws.worker is None and not ws.is_running()
    assert str(missing) in ws.status.text() and ws.status.text().startswith("Not started")
    ws.shutdown()


def test_an_empty_name_is_refused_with_the_projects_error(qtbot, tmp_path):
    ws, _ = _workspace(qtbot, tmp_path)
    ws.dataset.combo.setEditText("   ")
    assert ws.dataset.problem() == EMPTY_DATASET
    ws.run()
    assert ws.worker is None and EMPTY_DATASET in ws.status.text()
    ws.shutdown()


def test_a_user_runs_the_recipe_on_digits_and_the_choice_is_remembered(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    ws, missing = _workspace(qtbot, tmp_path, settings)
    ws.dataset.combo.setEditText("digits")  # as typed / picked by the user
    assert ws.dataset.problem() == ""
    assert "dataset digits" in ws.plan.text()
    ws.run()
    qtbot.waitUntil(lambda: not ws.is_running(), timeout=120_000)
    assert ws.result is not None and ws.result.failed == 0 and len(ws.result.cells) == 1
    assert {c["settings"]["dataset"] for c in ws.result.cells} == {"digits"}
    assert ws.recipe.dataset() == f"imagefolder:{missing}"  # the recipe itself is unchanged
    assert settings.value("experiments/dataset/tiny-ds-gui") == "digits"
    ws.shutdown()
    # a new workspace (a restart) shows the remembered dataset for that recipe; choosing the recipe's own forgets it
    ws2, _ = _workspace(qtbot, tmp_path, settings)
    assert ws2.dataset.value() == "digits" and ws2.dataset.problem() == ""
    ws2.dataset.combo.setEditText(f"imagefolder:{missing}")
    assert settings.value("experiments/dataset/tiny-ds-gui") is None
    ws2.shutdown()


def _no_mnist_here(tmp_path, monkeypatch):
    """A user's machine: an empty data folder, no ../shared. Returns the data folder."""
    from app import paths

    monkeypatch.setenv("FILTER_EXPLORER_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(paths, "shared_dir", lambda: None)
    return tmp_path / "data"


def _opened(qtbot, tmp_path, recipe: str | None = None):
    """The workspace as a launch shows it; ``recipe``: the one remembered from an earlier session."""
    from widgets.experiments.workspace import ExperimentsWorkspace

    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    if recipe:
        settings.setValue("experiments/recipe", recipe)
    ws = ExperimentsWorkspace(settings=settings, store=Store(tmp_path / "exp.sqlite"))
    qtbot.addWidget(ws)
    ws.show()
    return ws, settings


def test_the_first_launch_shows_a_recipe_whose_data_is_on_this_machine(qtbot, tmp_path, monkeypatch):
    """No remembered recipe, no CIFAR-10 folder under ~/.cache, no MNIST: the workspace opens on a recipe that runs
    (its quick size on the bundled digits), not on the first name with a red note; a remembered one is kept."""
    from widgets.experiments.workspace import ExperimentsWorkspace

    monkeypatch.setenv("HOME", str(tmp_path))
    _no_mnist_here(tmp_path, monkeypatch)
    ws, settings = _opened(qtbot, tmp_path)
    shown = ws.recipe_combo.currentText()
    assert shown not in ("ablation-cifar10", "ablation-mnist", "")
    assert ws.dataset.problem() == "" and ws.quick.isChecked()
    assert ws.dataset.value() == "digits"
    ws.recipe_combo.setCurrentText("ablation-mnist")  # the user picks one whose data is missing: told before Run
    assert "mnist is not downloaded" in ws.dataset.problem()
    ws.run()
    assert ws.worker is None and ws.status.text().startswith("Not started")
    ws.shutdown()
    again = ExperimentsWorkspace(settings=settings, store=Store(tmp_path / "exp.sqlite"))
    qtbot.addWidget(again)
    assert again.recipe_combo.currentText() == "ablation-mnist"  # remembered, not replaced
    again.shutdown()


def test_a_missing_dataset_is_downloaded_in_place_and_the_recipe_becomes_runnable(qtbot, tmp_path, monkeypatch):
    """No MNIST on the machine: ablation-mnist offers "Download mnist (11.1 MB)" under the Dataset field; a failed
    download says why and keeps the button; a finished one clears the note and Run may start."""
    from fixtures_data import idx_files

    from app.data import remote
    from app.tasks import Progress

    data = _no_mnist_here(tmp_path, monkeypatch)
    calls = []

    def fake_download(name, root, cancel=None, **kw):  # the real one's shape: a task returning the folder
        calls.append((name, root))
        yield Progress(1, 4, f"{name}: fetching")
        if len(calls) == 1:
            raise remote.DatasetError("the mirror answered 503")
        folder = data / "MNIST" / "raw"
        folder.mkdir(parents=True, exist_ok=True)
        for n, b in idx_files(20, 10).items():
            (folder / n).write_bytes(b)
        yield Progress(4, 4, f"{name}: done")
        return folder

    monkeypatch.setattr(remote, "download", fake_download)
    ws, _ = _opened(qtbot, tmp_path, "ablation-mnist")
    assert ws.recipe_combo.currentText() == "ablation-mnist" and ws.quick.isChecked()
    assert "mnist is not downloaded" in ws.dataset.problem()
    assert ws.download_btn.isVisible() and ws.download_btn.text() == "Download mnist (11.1 MB)"
    ws.download_btn.click()
    qtbot.waitUntil(lambda: not ws.is_downloading(), timeout=10_000)
    assert "The download of mnist failed: the mirror answered 503" in ws.status.text()
    assert ws.download_btn.isVisible() and ws.download_btn.isEnabled() and ws.run_btn.isEnabled()
    ws.download_btn.click()
    qtbot.waitUntil(lambda: not ws.is_downloading(), timeout=10_000)
    assert calls == [("mnist", None), ("mnist", None)]
    assert ws.status.text() == f"mnist downloaded into {data / 'MNIST' / 'raw'}."
    assert ws.dataset.problem() == "" and not ws.download_btn.isVisible()
    assert ws.run_btn.isEnabled() and not ws.progress.isVisible()
    ws.shutdown()


def test_a_download_in_place_can_be_cancelled_and_blocks_run_meanwhile(qtbot, tmp_path, monkeypatch):
    import time

    from app.data import remote
    from app.tasks import Progress, check

    _no_mnist_here(tmp_path, monkeypatch)

    def slow_download(name, root, cancel=None, **kw):
        for i in range(400):
            check(cancel)
            yield Progress(i, 400, f"{name}: {i}")
            time.sleep(0.02)
        return None

    monkeypatch.setattr(remote, "download", slow_download)
    ws, _ = _opened(qtbot, tmp_path, "ablation-mnist")
    ws.download_btn.click()
    qtbot.waitUntil(lambda: ws.progress.isVisible() and "mnist:" in ws.status.text(), timeout=5_000)
    assert not ws.run_btn.isEnabled() and ws.cancel_btn.isEnabled() and not ws.download_btn.isEnabled()
    ws.run()
    assert ws.worker is None  # no experiment while its data downloads
    ws.cancel()
    qtbot.waitUntil(lambda: not ws.is_downloading(), timeout=10_000)
    assert "was cancelled; the next one resumes it" in ws.status.text()
    assert ws.download_btn.isVisible() and ws.download_btn.isEnabled() and ws.run_btn.isEnabled()
    ws.shutdown()


def test_a_recipe_for_photographs_run_on_digits_says_its_caveat_in_amber(qtbot, tmp_path):
    from app.experiments.recipe import recipe_caveats
    from widgets.experiments.workspace import ExperimentsWorkspace

    ws = ExperimentsWorkspace(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                              store=Store(tmp_path / "exp.sqlite"))
    qtbot.addWidget(ws)
    ws.show()
    ws.recipe_combo.setCurrentText("ablation-cifar10")
    assert not ws.caveat.isVisible()
    ws.dataset.combo.setEditText("digits")  # as typed / picked by the user
    assert ws.caveat.isVisible() and ws.caveat.text().startswith("Caveat: mirror views on digits")
    assert ws.caveat.text() == "Caveat: " + recipe_caveats(ws.effective_recipe(), True)[0]
    assert ws.run_btn.isEnabled()  # a caveat, not a refusal
    ws.dataset.combo.setEditText("cifar10")
    assert not ws.caveat.isVisible()
    ws.shutdown()


def test_the_executor_and_its_workers_are_remembered(qtbot, tmp_path):
    """The workers count came back as 1 after a restart (only the executor was saved)."""
    from widgets.experiments.workspace import ExperimentsWorkspace

    ws, settings = _opened(qtbot, tmp_path)
    ws.executor.setCurrentText("local")
    ws.workers.setValue(2)
    ws.shutdown()
    again = ExperimentsWorkspace(settings=settings, store=Store(tmp_path / "exp.sqlite"))
    qtbot.addWidget(again)
    assert again.executor.currentText() == "local" and again.workers.value() == 2
    again.shutdown()
