"""The Experiments workspace reads an image folder's file list off the GUI thread before its plan matches stored
cells: a cell's key holds the folder's signature (a stat of every file), and the plan of ablation-cifar10 on the
60,000-image CIFAR-10 copy held the GUI thread 0.8-2.9 s when the workspace was first shown."""

from __future__ import annotations

import threading

import pytest

from app.data import folder_scan, imagefolder
from app.experiments.recipe import load_recipe
from app.experiments.store import Store
from fixtures_data import image_folder

pytestmark = pytest.mark.gui

TINY = """
name = "tiny-folder-keys"
title = "two tiny cells"
claim = "the plan's keys are read off the GUI thread"
kind = "probe"
[base]
backbone = "rdsn"
dataset = "imagefolder:{folder}"
head = "ridge"
pooling = "gap"
train_limit = 40
test_limit = 20
options = {{ k = 8, blocks = 1 }}
[grid]
"options.k" = [4, 8]
[plot]
x = "options.k"
y = "test_top1"
"""


def test_the_plan_reads_the_folder_in_a_worker_then_shows_the_cells_keys(qtbot, tmp_path, monkeypatch):
    from widgets.experiments.workspace import ExperimentsWorkspace

    folder = image_folder(tmp_path / "pics")
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY.format(folder=folder))
    monkeypatch.setattr(folder_scan, "_SIGNATURES", {})  # nothing remembered from another test
    walked_on: list[str] = []
    original = folder_scan.folder_signature

    def recording(path):
        if not folder_scan.signature_known(path):  # a walk of every file is due
            walked_on.append(threading.current_thread().name)
        return original(path)

    monkeypatch.setattr(folder_scan, "folder_signature", recording)
    monkeypatch.setattr(imagefolder, "folder_signature", recording)
    ws = ExperimentsWorkspace(store=Store(tmp_path / "exp.sqlite"))
    qtbot.addWidget(ws)
    ws.show()
    assert ws.load_file(str(recipe))
    assert threading.main_thread().name not in walked_on  # the GUI thread never walked the folder
    ws.wait_ready(10000)
    qtbot.waitUntil(lambda: "already stored" in ws.plan.text(), timeout=10000)
    assert walked_on and threading.main_thread().name not in walked_on
    keys = [c.key for c in load_recipe(str(recipe)).cells(ws.quick.isChecked())]
    assert [c["key"] for c in ws._cells] == keys and "0 of 2 cell(s) already stored" in ws.plan.text()
    assert ws.table.rowCount() == 2
