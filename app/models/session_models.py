"""The session's models kept between launches (the models a user added, trained or opened in the window: the
Probe, Live and the kernel panels offer them), in ``files/session-models.json``: each model's spec (``ModelSpec``,
with its banks' values), written atomically at every change. ``load`` leaves out, with a note, an entry whose spec
cannot be read, that has no name, or whose weights file is not there (a checkpoint deleted or on a drive not
mounted); such entries stay in the file as they were (``save``'s ``kept``: a newer version's entry, or a checkpoint
that comes back with its drive, is never dropped), and their names stay taken (``new_name``). A file written by a
newer version is not read and never written over (``NewerFileError``); an unreadable one is moved aside under a name
of its own (never over an earlier copy)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app import paths
from app.errors import AppError
from app.jsonout import dumps
from app.storage import aside_path, atomic_write

FILE = "session-models.json"
VERSION = 1


def store_path() -> Path:
    return paths.user_files() / FILE


class NewerFileError(AppError):
    """The session-models file was written by a newer version of Filter Explorer: this one neither reads it nor
    writes over it (its models would be lost for the newer version)."""


def _version(doc: Any) -> int | None:
    """The format version a session-models document declares (1 when it says none); None: not a number."""
    v = doc.get("version", 1) if isinstance(doc, dict) else 1
    if isinstance(v, str) and v.strip().isdigit():
        return int(v)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v in (float("inf"), float("-inf")):
        return None
    return int(v) if v == int(v) else None


def _newer(path: Path, version: int | None) -> NewerFileError:
    found = f"format {version}" if version is not None else "a format it does not know"
    return NewerFileError(f"{path} was written by a newer version of Filter Explorer ({found}; this version reads "
                          f"format {VERSION}): its models are not restored, and this session's models are not kept, "
                          "so that the file stays as the newer version wrote it. Update the app, or move the file "
                          "aside to keep this session's models.")


def _refuse_newer(path: Path) -> None:
    """Raise ``NewerFileError`` when ``path`` holds a session-models document of a newer format."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # none, or not readable: nothing of a newer version's to keep
    version = _version(doc)
    if isinstance(doc, dict) and (version is None or version > VERSION):
        raise _newer(path, version)


def _kept_name(entry: Any) -> str | None:
    """The name a kept entry holds (None: none)."""
    name = entry.get("name") if isinstance(entry, dict) else None
    return name if isinstance(name, str) and name else None


def taken_names(kept: list | None) -> set[str]:
    """The names of ``load``'s kept entries: a new session model must not take one (``save`` would drop the kept
    entry for the new model, and with it the model that was promised to come back)."""
    return {n for n in map(_kept_name, kept or ()) if n is not None}


def new_name(session: Any, base: str) -> str:
    """The name for a new session model: ``base``, numbered ("base (2)") when a model of the session, an entry kept
    in the file (``session.kept_models``: set by the main window from ``load``) or a built-in model has it. The one place that
    names new session models (added, trained, opened)."""
    from app.models.zoo import default_specs
    from app.session import Session

    taken = set(session.models) | taken_names(getattr(session, "kept_models", None))
    # nor a built-in model's ("simple (random)" at seed 3 took the seed-0 built-in's name: Live and Probe list models
    # by name, and showed the built-in one in its place)
    taken |= {spec.label or spec.backbone for spec in default_specs()}
    return Session.unique_name(dict.fromkeys(taken), base)


def save(models: dict[str, Any], where: Path | None = None, kept: list | None = None) -> None:
    """Write the session's models (name -> ``ModelSpec``), in their order, and ``kept``: the entries ``load`` could
    not restore, as they were (a checkpoint on a drive not mounted today comes back with it, a newer version's entry
    stays for it, instead of being dropped for good), less those whose name the session now uses. A file written by
    a newer version is not written over: ``NewerFileError`` (nothing written)."""
    path = where or store_path()
    _refuse_newer(path)
    doc = {"version": VERSION, "models": [{"name": name, "spec": spec.to_dict()} for name, spec in models.items()]
           + [e for e in kept or () if _kept_name(e) not in models]}
    atomic_write(path, dumps(doc))


def _aside(path: Path) -> Path:
    """A free name beside ``path`` for a copy of it: ``session-models.unreadable-STAMP.json`` (numbered when taken)."""
    return aside_path(path)


def load(where: Path | None = None, kept: list | None = None) -> tuple[dict[str, Any], list[str]]:
    """(name -> ``ModelSpec`` of the last session, notes on what could not come back). ``kept``: a list the entries
    that could not come back are appended to, as they are in the file (for ``save``: they stay in the file). A file
    of a newer format restores nothing (a note says so; ``save`` then refuses to write over it)."""
    from app.models.spec import ModelSpec

    path = where or store_path()
    if not path.exists():
        return {}, []
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        version = _version(doc)
        if isinstance(doc, dict) and (version is None or version > VERSION):
            return {}, [str(_newer(path, version))]
        entries = doc["models"]
        if not isinstance(entries, list):
            raise TypeError("models is not a list")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        aside = _aside(path)
        try:
            path.replace(aside)
        except OSError:
            aside = path
        return {}, [f"the last session's models could not be read ({exc}); the file was kept as {aside.name}"]
    models: dict[str, Any] = {}
    notes: list[str] = []
    unnamed = 0
    for e in entries:
        name = _kept_name(e)
        if name is None:
            unnamed += 1
            if kept is not None:
                kept.append(e)
            continue
        try:
            spec = ModelSpec.from_dict(e["spec"])
        except Exception as exc:  # noqa: BLE001 - any unreadable spec is one model not restored, said by name
            notes.append(f"{name!r}: its settings could not be read ({exc}); not restored (kept in the file, "
                         "untouched)")
            if kept is not None:
                kept.append(e)
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
    if unnamed:
        notes.append(f"{unnamed} entr{'y' if unnamed == 1 else 'ies'} without a name could not be restored (kept in "
                     "the file, untouched)")
    return models, notes
