"""The app's settings file (an ini in the home folder) and typed reads of it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings

from app import paths


def settings() -> QSettings:
    return QSettings(str(paths.settings_file()), QSettings.Format.IniFormat)


def read_int(s: QSettings, key: str, default: int) -> int:
    try:
        return int(s.value(key, default))
    except (TypeError, ValueError):
        return default


def read_float(s: QSettings, key: str, default: float) -> float:
    try:
        return float(s.value(key, default))
    except (TypeError, ValueError):
        return default


def read_bool(s: QSettings, key: str, default: bool) -> bool:
    v: Any = s.value(key, default)
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true", "yes", "on")
    return bool(v)


def read_str(s: QSettings, key: str, default: str = "") -> str:
    v = s.value(key, default)
    return default if v is None else str(v)
