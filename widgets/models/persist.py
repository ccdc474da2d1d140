"""What the Models workspace remembers per backbone: its options and its per-layer freeze / initialisation choices
(JSON in the settings file; anything unreadable is forgotten, never an error)."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QSettings


def saved_options(s: QSettings, backbone: str) -> dict:
    raw = s.value(f"models/options/{backbone}", "")
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
    raw = s.value(f"models/layers/{backbone}", "")
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
