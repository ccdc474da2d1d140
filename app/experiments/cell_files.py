"""The contents of the files a cell's settings name, as digests for its key (``app.experiments.recipe.Cell.key``):
a checkpoint replaced under the same name, or an image folder's images added or rewritten, give new keys."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any


def file_digests(settings: dict[str, Any]) -> dict[str, str]:
    """The contents of the files a cell's settings name, as digests: ``weights`` naming a file on this machine (and
    its JSON sidecar, which a checkpoint without a backbone is built from), and an ``imagefolder:PATH`` dataset (its
    images' paths, sizes and times: ``app.data.imagefolder.folder_signature``). ``known:`` / ``shipped:`` names,
    built-in datasets, and a path that is not there (the cell fails on it), give none."""
    out: dict[str, str] = {}
    w = settings.get("weights")
    if isinstance(w, str) and w and not w.startswith(("known:", "shipped:")):
        p = Path(w).expanduser()
        files = [("weights", p)] + ([("weights sidecar", p.with_suffix(".json"))] if p.suffix != ".json" else [])
        for what, f in files:
            try:
                if f.is_file():
                    st = f.stat()
                    out[what] = _digest(str(f.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
            except OSError:  # unreadable: the cell says so when it runs
                continue
        if "weights" not in out:
            out = {}
    dataset = settings.get("dataset")
    if isinstance(dataset, str) and dataset.startswith("imagefolder:"):
        from app.data.imagefolder import folder_signature

        sig = folder_signature(dataset.split(":", 1)[1])
        if sig:  # an image added, removed or rewritten: new keys, the stored results are not reused
            out["dataset"] = sig
    return out


@lru_cache(maxsize=256)
def _digest(path: str, size: int, mtime_ns: int, inode: int) -> str:
    """A file's SHA-256 (its first 16 hex digits), read once per (path, size, mtime, inode) in a process."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]
