"""Which file each model listed in "Your model" was read from, and how that file was on disk then (its path and
modification time: ``input_dialog.file_key``, the key its remembered input is kept under).

A second "Open model…" of a file that is open and unchanged selects the model that holds it instead of adding a copy;
a file changed on disk since it was read is opened again as before (its input is asked again: the answer remembered
for the old file does not apply) and the status line says which model holds the older version. No Qt, no I/O beyond
a ``stat`` of the file."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from widgets.models.input_dialog import file_key


def file_of(spec) -> tuple[str, str | None] | None:
    """(source, weights) of an opened trained model (a file, or ``timm:NAME`` with its weights file); None for a
    random twin (its weights are drawn, not read)."""
    source = str(getattr(spec, "kwargs", {}).get("source") or "")
    if not source or spec.weight_state != "trained":
        return None
    return source, (spec.weights if source.startswith("timm:") else None)


def _where(source: str, weights: str | None) -> tuple[str, ...]:
    """The file(s) themselves: resolved paths (a timm name as it is), whatever their modification time."""
    return tuple(p if p.startswith("timm:") else str(Path(p).expanduser().resolve()) for p in (source, weights) if p)


class OpenFiles:
    def __init__(self) -> None:
        self._read: dict[str, tuple[tuple[str, ...], str]] = {}  # model name -> (its file(s), file_key when read)

    def read(self, name: str, spec) -> None:
        """``name`` was just built from its file (opened, rebuilt with another input, or listed again)."""
        f = file_of(spec)
        if f is None:
            self._read.pop(name, None)
        else:
            self._read[name] = (_where(*f), file_key(*f))

    def unchanged(self, source: str, weights: str | None, names: Iterable[str]) -> str | None:
        """The model among ``names`` that holds this file as it is on disk now (None: none does)."""
        key = file_key(source, weights)
        return next((n for n in names if n in self._read and self._read[n][1] == key), None)

    def older(self, name: str, names: Iterable[str]) -> str | None:
        """Another model among ``names`` read from the same file as ``name`` before that file changed on disk."""
        if name not in self._read:
            return None
        where, key = self._read[name]
        return next((n for n in names if n != name and n in self._read and self._read[n][0] == where
                     and self._read[n][1] != key), None)
