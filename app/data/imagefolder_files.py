"""What an image folder's files say before and while they are decoded (``app.data.imagefolder``'s cache keys and
reads): a digest of each file's ends and the cache file's key and name, the size and channels the headers declare
(``training_look``, remembered beside the decoded arrays) and one file's decoding."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app import paths
from app.data.folder_scan import Entry, display
from app.errors import LimitError

CACHE_VERSION = "6"  # 3: classes by name across splits, the most common size; 4: grey folders as one channel;
# 5: the note on images with transparency; 6: EXIF orientation ignored (OpenCV applied it), headers read wherever
# they lie (past 64 KiB), the pixel limit in the key, the training load's decisions kept for its test split
EDGE = 4096  # bytes digested at each end of a file


def edge_digest(path: Path, size: int) -> bytes:
    """A digest of the first and last ``EDGE`` bytes (the whole file when it is small); b"" when unreadable."""
    try:
        with open(path, "rb") as f:
            if size <= 2 * EDGE:
                data = f.read()
            else:
                data = f.read(EDGE)
                f.seek(-EDGE, os.SEEK_END)
                data += f.read(EDGE)
    except OSError:
        return b""
    return hashlib.blake2b(data, digest_size=8).digest()


def path_digest(folder: Path) -> str:
    return hashlib.sha1(os.fsencode(str(Path(folder).resolve()))).hexdigest()[:12]


def content_key(folder: Path, classes: list[str], entries: list[Entry], size: object) -> str:
    """The cache key: absolute path, classes, decode size (for a test split, the training images' size), and every
    file's path, size, times and edge digest."""
    h = hashlib.sha1(f"v{CACHE_VERSION}\n{size}\n".encode())
    h.update(os.fsencode(str(Path(folder).resolve())) + b"\n")
    h.update(("\n".join(classes) + "\n").encode())
    for e in entries:
        h.update(os.fsencode(e.rel) + f":{e.label}:{e.size}:{e.mtime_ns}:{e.ctime_ns}:".encode())
        h.update(edge_digest(e.path, e.size) + b"\n")
    return h.hexdigest()[:16]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", display(name))[:40] or "folder"


def cache_file(folder: Path, key: str, size: int | None) -> Path:
    return (paths.cache_dir() / "imagefolder" /
            f"{_safe(Path(folder).name)}-{path_digest(folder)}-{key}-{size}.npz")


def _decode(entry: Entry, max_pixels: int | None, grey: bool = False) -> tuple[np.ndarray | None, str | None, bool]:
    """(image or None, why it was skipped, whether the file declares transparency: its alpha is dropped)."""
    from app.data.imagesize import decode_image, has_alpha

    try:
        buf = np.fromfile(entry.path, dtype=np.uint8)
    except OSError as exc:
        return None, f"{display(entry.rel)}: cannot read ({exc.strerror or exc}), skipped", False
    try:
        img = decode_image(buf, display(entry.rel), max_pixels, grey=grey)
    except LimitError as exc:
        return None, f"{exc}; skipped", False
    if img is None:
        return None, f"{display(entry.rel)}: not a readable image, skipped", False
    return img, None, has_alpha(buf[:1 << 16])


def _header(entry: Entry) -> tuple[tuple[int, int] | None, int | None]:
    """((height, width), channels: 1 grey, 3 colour) from the file's header (no decoding); None where unknown. The
    header is found wherever it lies (``imagesize.file_header``: a JPEG's frame header after a large EXIF block or
    ICC profile, a TIFF's IFD at the end of the file)."""
    from app.data.imagesize import file_header, header_channels, header_size

    try:
        with open(entry.path, "rb") as f:
            head = file_header(f)
    except OSError:
        return None, None
    size = header_size(head)
    return (None if size is None else (size[1], size[0])), header_channels(head)


@dataclass(frozen=True)
class Look:
    """What a folder's images declare in their headers: their most common (height, width) (ties: the first such
    image's; None: no header read) and whether every one is grey (PNG/JPEG/PNM headers of one channel: the images
    are then read as one channel, as the built-in digit datasets are, not as three equal ones)."""

    size: tuple[int, int] | None
    grey: bool


def training_look(folder: Path, entries: list[Entry]) -> Look:
    """The ``Look`` of ``entries``, remembered in the cache beside the decoded arrays, keyed by every file's path,
    size and times (reading 50,000 headers takes ~4 s; a test split's load needs its training folder's every
    time)."""
    import json
    from collections import Counter

    from app.storage import atomic_write

    h = hashlib.sha1(f"v{CACHE_VERSION}\n".encode() + os.fsencode(str(Path(folder).resolve())) + b"\n")
    for e in entries:
        h.update(os.fsencode(e.rel) + f":{e.size}:{e.mtime_ns}:{e.ctime_ns}\n".encode())
    stem = f"{_safe(Path(folder).name)}-{path_digest(folder)}-size-"
    memo = paths.cache_dir() / "imagefolder" / f"{stem}{h.hexdigest()[:16]}.json"
    try:
        value = json.loads(memo.read_text(encoding="utf-8"))
        size = None if value["size"] is None else (int(value["size"][0]), int(value["size"][1]))
        return Look(size, bool(value["grey"]))
    except (OSError, ValueError, TypeError, IndexError, KeyError):
        pass  # not there yet (or damaged): read the headers
    heads = [_header(e) for e in entries]
    counts = Counter(s for s, _c in heads if s is not None)
    best = max(counts.values()) if counts else 0
    look = Look(next((s for s in counts if counts[s] == best), None),  # Counter keeps first-seen order
                bool(heads) and all(c == 1 for _s, c in heads))
    try:
        for old in memo.parent.glob(f"{stem}*.json") if memo.parent.is_dir() else ():
            old.unlink(missing_ok=True)  # the folder's older figure (its files changed)
        memo.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(memo, json.dumps({"size": None if look.size is None else list(look.size), "grey": look.grey}))
    except OSError:
        pass  # only the next load reads the headers again
    return look
