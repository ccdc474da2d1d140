"""The app's settings file (an ini in the home folder) and typed reads of it.

A value in the file may be of any type: empty (``key=``), edited by hand, a list (QSettings reads an unquoted comma
as one: ``name=my net, v2``), or stored differently by another version. The ``read_*`` helpers never raise: a value
they cannot read gives the default. Every read whose result is used as a given type goes through one of them."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from app import paths


def settings() -> QSettings:
    return QSettings(str(paths.settings_file()), QSettings.Format.IniFormat)


def read_int(s: QSettings, key: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
    """The whole number at ``key`` (the default when it is not one), kept within ``lo``..``hi`` when given (a spin
    box's range: a value past a 32-bit int raises OverflowError in ``setValue``)."""
    try:
        v = int(s.value(key, default))
    except (TypeError, ValueError, OverflowError):
        v = default
    return _within(v, lo, hi)


def read_float(s: QSettings, key: str, default: float, lo: float | None = None, hi: float | None = None) -> float:
    """The number at ``key`` (the default when it is not one, or not finite), kept within ``lo``..``hi`` when
    given."""
    try:
        v = float(s.value(key, default))
    except (TypeError, ValueError, OverflowError):
        v = default
    if v != v or v in (float("inf"), float("-inf")):
        v = default
    return _within(v, lo, hi)


def _within(v, lo, hi):
    """``v`` kept within ``lo``..``hi`` (either None: no bound on that side)."""
    if lo is not None:
        v = max(lo, v)
    if hi is not None:
        v = min(hi, v)
    return v


def read_bool(s: QSettings, key: str, default: bool) -> bool:
    v: Any = s.value(key, default)
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(v, (bool, int, float)):
        return bool(v)
    return default


def read_spin(s: QSettings, key: str, box, default: int) -> int:
    """``read_int`` within the range of the spin box ``box`` that shows it."""
    return read_int(s, key, default, box.minimum(), box.maximum())


def read_str(s: QSettings, key: str, default: str = "") -> str:
    """The text at ``key``; a list (an unquoted comma in the file) is the text the user wrote, its items joined
    with ", "; bytes or other values: the default."""
    v = s.value(key, default)
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
        return ", ".join(v)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    return default


def read_state(s: QSettings, key: str) -> QByteArray | None:
    """A saved widget state or geometry (``saveState`` / ``saveGeometry``) at ``key``; None when there is none or
    the value is not one (empty, text: pass only a byte array to ``restoreState`` / ``restoreGeometry``)."""
    v = s.value(key)
    if isinstance(v, (QByteArray, bytes)) and len(v):
        return QByteArray(v)
    return None
