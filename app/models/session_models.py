"""The session's models kept between launches (the models a user added, trained or opened in the window: the
Probe, Live and the kernel panels offer them), in ``files/session-models.json``: each model's spec (``ModelSpec``,
with its banks' values), written atomically at every change. ``load`` leaves out, with a note, an entry whose spec
cannot be read or whose weights file is not there (a checkpoint deleted or on a drive not mounted); the latter stays
in the file (``save``'s ``kept``) and comes back when its file does; the rest come back by name."""

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


def save(models: dict[str, Any], where: Path | None = None, kept: list[dict] | None = None) -> None:
    """Write the session's models (name -> ``ModelSpec``), in their order, and ``kept``: the entries ``load`` could
    not restore (a checkpoint on a drive not mounted today comes back with it, instead of being dropped for good),
    less those whose name the session now uses."""
    doc = {"version": VERSION, "models": [{"name": name, "spec": spec.to_dict()} for name, spec in models.items()]
           + [e for e in kept or () if e.get("name") not in models]}
    atomic_write(where or store_path(), dumps(doc))


def load(where: Path | None = None, kept: list[dict] | None = None) -> tuple[dict[str, Any], list[str]]:
    """(name -> ``ModelSpec`` of the last session, notes on what could not come back). ``kept``: a list the entries
    that could not come back are appended to (for ``save``: they stay in the file)."""
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
            notes.append(f"{name!r}: its weights file {w} is not there; not restored this time (kept in the list: "
                         f"it comes back when the file does)")
            if kept is not None:
                kept.append(e)
            continue
        models[name] = spec
    return models, notes
