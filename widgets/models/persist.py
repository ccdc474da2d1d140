"""What the Models workspace remembers per backbone: its options and its per-layer freeze / initialisation choices
(JSON in the settings file; anything unreadable is forgotten, never an error)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from app.models import describe, viz
from widgets.common.settings import read_int, read_str


def saved_options(s: QSettings, backbone: str) -> dict:
    raw = read_str(s, f"models/options/{backbone}", "")
    try:
        d = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return {}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()} if isinstance(d, dict) else {}


def saved_layers(s: QSettings, backbone: str, banks: Any) -> tuple[dict[str, bool], dict[str, str]]:
    """(layer path -> frozen, conv label -> "init:KIND" | "bank:NAME") last chosen for ``backbone``; banks no longer
    in the session (``banks``: names present) are dropped."""
    freeze: dict[str, bool] = {}
    init: dict[str, str] = {}
    raw = read_str(s, f"models/layers/{backbone}", "")
    try:
        d = json.loads(raw) if raw else {}
        freeze.update({str(k): bool(v) for k, v in d.get("freeze", {}).items()})
        init.update({str(k): str(v) for k, v in d.get("init", {}).items()
                     if str(v).startswith("init:") or (str(v).startswith("bank:") and str(v)[5:] in banks)})
    except (TypeError, ValueError, AttributeError):
        return {}, {}
    return freeze, init


def save_backbone(s: QSettings, backbone: str, options: dict | None, freeze: dict, init: dict) -> None:
    if options is not None:
        s.setValue(f"models/options/{backbone}", json.dumps(options))
    s.setValue(f"models/layers/{backbone}", json.dumps({"freeze": freeze, "init": init}))


def save(ws) -> None:
    """Remember the workspace's choices (called on every change)."""
    s = ws.settings
    bb = ws.backbone.currentData()
    s.setValue("models/backbone", bb)
    try:
        options = ws.form.option_values()
    except ValueError:
        options = None
    save_backbone(s, bb, options, ws.choices.freeze, ws.choices.init)
    for key, value in (("init", ws.init.currentData()), ("seed", ws.seed.value()),
                       ("freeze", ws.freeze.currentData()), ("weights", ws._weights or ""),
                       ("name", ws.name_edit.text()), ("panel_a", ws.panel_a.source_id()),
                       ("panel_b", ws.panel_b.source_id()), ("layer", ws.panel_a.layer_path()),
                       ("scale", ws.scale.currentData())):
        s.setValue(f"models/{key}", value)


def restore(ws) -> None:
    """The choices of the last session; on a first launch, a random model beside a trained one of the same
    architecture (like with like, so the kernel panels can be compared)."""
    s = ws.settings
    try:
        refs = viz.reference_specs()
    except Exception:
        refs = []
    trained = [r for r in refs if r.weight_state == "trained"]
    default_bb = "resnet20" if any(r.backbone == "resnet20" for r in trained) else "simple"
    first_launch = s.value("models/backbone") is None
    bb = read_str(s, "models/backbone", default_bb)
    if ws.backbone.findData(bb) < 0:
        bb = default_bb if ws.backbone.findData(default_bb) >= 0 else ws.backbone.itemData(0)
    twin = next((r for r in trained if r.backbone == bb), None)  # the trained model of this architecture
    ws.backbone.setCurrentIndex(ws.backbone.findData(bb))
    ws.form.description.setText(describe(bb))
    options = saved_options(s, bb)
    if first_launch and twin is not None and not options:
        # like with like: the random model gets the trained one's architecture (channels, widths), so the
        # two kernel panels show the same layers and can be compared
        options = {k: v for k, v in dict(twin.options).items() if k in ws.form.option_names(bb)}
    ws.form.fill_options(bb, options)
    # a bank the Kernel Workbench restores when it is built (after this workspace, when the window opens on Models)
    # is kept: the layer gets it with the session's "banks" event
    from widgets.kernels.files import autosaved_names

    ws.choices.freeze, ws.choices.init = saved_layers(s, bb, set(ws.session.banks) | autosaved_names())
    ws.init.setCurrentIndex(max(0, ws.init.findData(read_str(s, "models/init", "default"))))
    ws.seed.setValue(read_int(s, "models/seed", 0, ws.seed.minimum(), ws.seed.maximum()))
    ws.freeze.setCurrentIndex(max(0, ws.freeze.findData(read_str(s, "models/freeze", "Train everything"))))
    w = read_str(s, "models/weights", "") or None
    if w and Path(w).is_file():
        ws._weights = w
        ws.weights_label.setText(Path(w).name)
        ws.weights_label.setToolTip(w)
    ws.name_edit.setText(read_str(s, "models/name", ""))
    ws.scale.setCurrentIndex(max(0, ws.scale.findData(read_str(s, "models/scale", "layer"))))
    ws.panel_a.set_scale(ws.scale.currentData())
    ws.panel_b.set_scale(ws.scale.currentData())
    ws._refresh_sources()
    a = read_str(s, "models/panel_a", "builder")
    ref_b = f"ref:{twin.label}" if twin is not None else (f"ref:{trained[0].label}" if trained else "builder")
    b = read_str(s, "models/panel_b", ref_b)
    ws.panel_a.select_source(a) or ws.panel_a.select_source("builder")
    ws.panel_b.select_source(b) or ws.panel_b.select_source(ref_b)
    ws._restore_layer = read_str(s, "models/layer", "")
