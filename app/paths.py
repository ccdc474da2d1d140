"""Where Filter Explorer keeps its files.

Everything lives under one home folder so tests (and users) can move it with one variable:
``FILTER_EXPLORER_HOME`` (default: the platform's user data folder).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESOURCES = REPO_ROOT / "resources"
SHARED = REPO_ROOT.parent / "shared"


def home() -> Path:
    env = os.environ.get("FILTER_EXPLORER_HOME")
    if env:
        p = Path(env)
    elif sys.platform == "win32":
        p = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "FilterExplorer"
    elif sys.platform == "darwin":
        p = Path.home() / "Library" / "Application Support" / "FilterExplorer"
    else:
        p = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "filter-explorer"
    p.mkdir(parents=True, exist_ok=True)
    return p


def _sub(name: str) -> Path:
    p = home() / name
    p.mkdir(parents=True, exist_ok=True)
    return p


def data_root() -> Path:
    """Default root for datasets (downloads and unpacked copies)."""
    env = os.environ.get("FILTER_EXPLORER_DATA")
    if env:
        p = Path(env)
        p.mkdir(parents=True, exist_ok=True)
        return p
    return _sub("data")


def cache_dir() -> Path:
    """Feature caches and decoded dataset arrays."""
    return _sub("cache")


def user_files() -> Path:
    """The user's banks, models and exports (autosave lives here too)."""
    return _sub("files")


def settings_file() -> Path:
    return home() / "settings.ini"


def shared_dir() -> Path | None:
    """``../shared`` beside the checkout, where it exists (developer machines and CI only)."""
    return SHARED if SHARED.is_dir() else None
