"""Every cache of the app, with sizes: listed and cleared by ``data cache`` / ``data clear-cache`` (no Qt).

The caches are the sub-folders of ``app.paths.cache_dir()``: ``datasets`` (parsed built-in datasets),
``imagefolder`` (decoded image folders), ``features`` (the probe's extracted features) and any other folder there.
Temporary files left by killed processes (``app.storage.stale_temporaries``) are counted apart and always cleared;
a running process's temporaries are never touched. Sources (downloads, image folders) are never touched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from app import paths
from app.storage import TMP_MARK, stale_temporaries

KNOWN = {"datasets": "parsed built-in datasets", "imagefolder": "decoded image folders",
         "features": "the probe's extracted features"}


@dataclass(frozen=True)
class CacheUsage:
    name: str
    folder: Path
    description: str
    files: int
    bytes: int
    stale: int  # temporaries of dead processes
    stale_bytes: int


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


def _files(folder: Path) -> list[Path]:
    out = []
    for dirpath, _dirs, names in os.walk(folder):
        for n in names:
            if not n.endswith(TMP_MARK):
                out.append(Path(dirpath) / n)
    return out


def usage(root: Path | None = None) -> list[CacheUsage]:
    """One entry per cache folder (the known ones even when empty), sorted by name."""
    root = Path(root) if root else paths.cache_dir()
    names = set(KNOWN) | ({p.name for p in root.iterdir() if p.is_dir()} if root.is_dir() else set())
    out = []
    for name in sorted(names):
        folder = root / name
        files = _files(folder) if folder.is_dir() else []
        stale = stale_temporaries(folder) if folder.is_dir() else []
        out.append(CacheUsage(name, folder, KNOWN.get(name, "other cache"), len(files),
                              sum(_size(p) for p in files), len(stale), sum(_size(p) for p in stale)))
    return out


def clear(names: list[str] | None = None, root: Path | None = None) -> tuple[int, int]:
    """Delete the files of the named caches (all when None) and every stale temporary; (files, bytes) removed."""
    root = Path(root) if root else paths.cache_dir()
    n = size = 0
    for u in usage(root):
        targets = stale_temporaries(u.folder) if u.folder.is_dir() else []
        if names is None or u.name in names:
            targets += _files(u.folder) if u.folder.is_dir() else []
        for p in targets:
            b = _size(p)
            try:
                p.unlink()
            except FileNotFoundError:
                continue
            n += 1
            size += b
    for p in stale_temporaries(root, recursive=False):  # loose temporaries in the cache folder itself
        size += _size(p)
        p.unlink(missing_ok=True)
        n += 1
    return n, size
