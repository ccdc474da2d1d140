"""The session's models kept between launches (the models a user added, trained or opened in the window: the
Probe, Live and the kernel panels offer them), in ``files/session-models.json``: each model's spec (``ModelSpec``,
with its banks' values), written atomically at every change. ``load`` drops, with a note, an entry whose spec
cannot be read or whose weights file is gone (a checkpoint deleted by hand); the rest come back by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app import paths
from app.jsonout import dumps
from app.storage import atomic_write

FILE = "session-models.json"
VERSION = 1


def store_path() -> Path:
    return paths.user_files() / FILE


def save(models: dict[str, Any], where: Path | None = None) -> None:
    """Write the session's models (name -> ``ModelSpec``), in their order."""
    doc = {"version": VERSION, "models": [{"name": name, "spec": spec.to_dict()} for name, spec in models.items()]}
    atomic_write(where or store_path(), dumps(doc))


def load(where: Path | None = None) -> tuple[dict[str, Any], list[str]]:
    """(name -> ``ModelSpec`` of the last session, notes on what could not come back)."""
    from app.models.spec import ModelSpec

    path = where or store_path()
    if not path.exists():
        return {}, []
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        entries = doc["models"]
        if not isinstance(entries, list):
            raise TypeError("models is not a list")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        kept = path.with_name(path.name + ".unreadable")
        try:
            path.replace(kept)
        except OSError:
            kept = path
        return {}, [f"the last session's models could not be read ({exc}); the file was kept as {kept.name}"]
    models: dict[str, Any] = {}
    notes: list[str] = []
    for e in entries:
        name = e.get("name") if isinstance(e, dict) else None
        if not isinstance(name, str) or not name:
            notes.append("an entry without a name was skipped")
            continue
        try:
            spec = ModelSpec.from_dict(e["spec"])
        except Exception as exc:  # noqa: BLE001 - any unreadable spec is one model not restored, said by name
            notes.append(f"{name!r}: its settings could not be read ({exc}); not restored")
            continue
        w = spec.weights
        local = isinstance(w, str) and w and not w.startswith(("known:", "shipped:", "timm:"))
        if local and not Path(w).expanduser().exists():
            notes.append(f"{name!r}: its weights file {w} is gone; not restored")
            continue
        models[name] = spec
    return models, notes
