"""Every cache of the app, with sizes: listed and cleared by ``data cache`` / ``data clear-cache`` (no Qt).

The caches are the sub-folders of ``app.paths.cache_dir()``: ``datasets`` (parsed built-in datasets),
``imagefolder`` (decoded image folders), ``features`` (the probe's extracted features) and any other folder there
that holds nothing but cache files (``CACHE_SUFFIXES``: what the app writes as caches). Temporary files left by
killed processes (``app.storage.stale_temporaries``) are counted apart and always cleared; a running process's
temporaries are never touched. Sources (downloads, image folders) are never touched: only files with a cache
suffix are removed, and a folder that is or holds the data folder (``paths.data_root()``), or a folder other than
the three above that holds any other file (images, dataset files), is listed as "not a cache" and never cleared
(``CacheUsage.kept`` says why).

The features cache has a size cap (``feature_cache_limit``: ``FILTER_EXPLORER_FEATURE_CACHE_GB``, default 20 GB;
0 = no cap): after each new feature file, ``trim`` removes the least recently used ones (a cache hit marks its file
used) until the folder fits, never the file just written. A full disk is what an uncapped cache did to this
project's own CI (a 32 GB features folder on a 252 GB disk shared with everything else).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from app import paths
from app.errors import UserError
from app.storage import TMP_MARK, human_size, stale_temporaries
from app.tasks import Progress, check

FEATURE_CACHE_GB = 20.0  # the features cache's default cap (FILTER_EXPLORER_FEATURE_CACHE_GB overrides; 0: none)

KNOWN = {"datasets": "parsed built-in datasets", "imagefolder": "decoded image folders",
         "features": "the probe's extracted features"}
CACHE_SUFFIXES = (".npz", ".npy", ".json")  # the files the app writes as caches (arrays, features, memos)
IGNORED = {".DS_Store", "Thumbs.db", "desktop.ini"}  # what a file browser leaves: no sign of the user's data


@dataclass(frozen=True)
class CacheUsage:
    name: str
    folder: Path
    description: str
    files: int
    bytes: int
    stale: int  # temporaries of dead processes
    stale_bytes: int
    kept: str = ""  # why this folder is not cleared ("": it is a cache, cleared on request)


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


def _all_files(folder: Path) -> list[Path]:
    out = []
    for dirpath, _dirs, names in os.walk(folder):
        for n in names:
            if not n.endswith(TMP_MARK):
                out.append(Path(dirpath) / n)
    return out


def _files(folder: Path) -> list[Path]:
    """The cache files under ``folder``: what ``clear`` may remove (never a file of another kind)."""
    return [p for p in _all_files(folder) if p.name.endswith(CACHE_SUFFIXES)]


def _data_root() -> Path | None:
    """``paths.data_root()`` resolved, without creating it."""
    env = os.environ.get("FILTER_EXPLORER_DATA")
    try:
        return (Path(env).expanduser() if env else paths.home() / "data").resolve()
    except OSError:
        return None


def _kept(name: str, folder: Path, data_root: Path | None) -> str:
    """Why ``folder`` (cache ``name``) must not be cleared, or "" when it is a cache."""
    if not folder.is_dir():
        return ""
    if data_root is not None:
        try:
            here = folder.resolve()
        except OSError:
            here = folder
        if here == data_root or here in data_root.parents:
            return f"not a cache: holds the data folder {data_root}; never cleared"
    if name in KNOWN:
        return ""
    other = [p for p in _all_files(folder) if not p.name.endswith(CACHE_SUFFIXES) and p.name not in IGNORED]
    if other:
        shown = ", ".join(str(p.relative_to(folder)) for p in other[:3]) + (", ..." if len(other) > 3 else "")
        return (f"not a cache of the app: holds {len(other):,} other file(s) ({shown}); never cleared (delete it "
                f"yourself if it is yours to delete)")
    return ""


def usage(root: Path | None = None) -> list[CacheUsage]:
    """One entry per cache folder (the known ones even when empty), sorted by name. A folder that is no cache
    (``CacheUsage.kept``: it is or holds the data folder, or holds files of another kind) is listed as such."""
    root = Path(root) if root else paths.cache_dir()
    names = set(KNOWN) | ({p.name for p in root.iterdir() if p.is_dir()} if root.is_dir() else set())
    data_root = _data_root()
    out = []
    for name in sorted(names):
        folder = root / name
        kept = _kept(name, folder, data_root)
        files = _files(folder) if folder.is_dir() and not kept else []
        stale = stale_temporaries(folder) if folder.is_dir() else []
        out.append(CacheUsage(name, folder, kept or KNOWN.get(name, "other cache"), len(files),
                              sum(_size(p) for p in files), len(stale), sum(_size(p) for p in stale), kept))
    return out


def clear(names: list[str] | None = None, root: Path | None = None) -> tuple[int, int]:
    """Delete the cache files of the named caches (all when None) and every stale temporary; (files, bytes) removed.
    A folder that is no cache (``CacheUsage.kept``) is skipped, named or not; in a cache, only cache files go."""
    root = Path(root) if root else paths.cache_dir()
    n = size = 0
    for u in usage(root):
        targets = stale_temporaries(u.folder) if u.folder.is_dir() else []
        if (names is None or u.name in names) and not u.kept:
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


def feature_cache_limit() -> int | None:
    """The features cache's cap in bytes (None: no cap), from ``FILTER_EXPLORER_FEATURE_CACHE_GB``."""
    text = os.environ.get("FILTER_EXPLORER_FEATURE_CACHE_GB", "").strip()
    if not text:
        gb = FEATURE_CACHE_GB
    else:
        try:
            gb = float(text)
        except ValueError:
            raise UserError(f"FILTER_EXPLORER_FEATURE_CACHE_GB must be a number of gigabytes (0: no cap), got "
                            f"{text!r}") from None
        if not gb >= 0 or gb == float("inf"):
            raise UserError(f"FILTER_EXPLORER_FEATURE_CACHE_GB must be 0 or more gigabytes, got {text!r}")
    return None if gb == 0 else int(gb * 2**30)


def trim(name: str, max_bytes: int | None, root: Path | None = None, keep=()) -> tuple[int, int]:
    """Remove the least recently used files (oldest modification time first) of cache ``name`` until its files
    take at most ``max_bytes``; the paths in ``keep`` stay whatever their age. (files, bytes) removed."""
    if max_bytes is None:
        return 0, 0
    folder = (Path(root) if root else paths.cache_dir()) / name
    if not folder.is_dir():
        return 0, 0
    keep = {Path(p).resolve() for p in keep}
    entries = []
    for p in _files(folder):
        try:
            st = p.stat()
        except OSError:
            continue
        entries.append((st.st_mtime, st.st_size, p))
    total = sum(size for _, size, _ in entries)
    n = removed = 0
    for _, size, p in sorted(entries, key=lambda e: e[0]):
        if total <= max_bytes:
            break
        if p.resolve() in keep:
            continue
        try:
            p.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            continue  # not ours to remove (permissions): leave it, trim the rest
        total -= size
        n += 1
        removed += size
    return n, removed


def mark_used(path: Path) -> None:
    """A cache hit: the file becomes the most recently used (``trim`` removes it last)."""
    try:
        os.utime(path)
    except OSError:
        pass  # a read-only cache still serves; it is only trimmed in a different order


def cap_text() -> str:
    """The features cache's cap in words (``data cache`` prints it; the Disk use dialog shows it)."""
    cap = feature_cache_limit()
    return ("cap of the features cache: " + ("none" if cap is None else
                                            f"{human_size(cap)}, the least recently used removed first")
            + " (FILTER_EXPLORER_FEATURE_CACHE_GB; 0: none)")


def survey(cancel=None):
    """Task: (the caches' ``usage()`` rows, ``cap_text()``), for a view that must not walk the folders on its own
    thread (a features folder can hold thousands of files)."""
    yield Progress(0, None, "measuring the caches")
    rows = usage()
    check(cancel)
    return tuple(rows), cap_text()


def clear_task(names: list[str], cancel=None):
    """Task: ``clear(names)`` (an empty list clears nothing but the stale temporaries); (files, bytes) removed."""
    check(cancel)
    yield Progress(0, None, "clearing " + (", ".join(names) if names else "stale temporaries"))
    return clear(list(names))
