"""Folders of class sub-folders as datasets, with a decoded-array cache keyed by content and absolute path.

``load_imagefolder(path, split)`` / ``iter_load_imagefolder(...)`` (task generator): one sub-folder per class.
The splits (``layout``): ``train/`` and ``test/`` when present; ``train/`` and ``val/`` (or ``valid/``,
``validation/``) without ``test/``: that folder is the test split (the probe and training carve their own
validation split from ``train/``), said in ``notes``; ``train/`` alone: a seeded split of it; else the folder's
class sub-folders, split the same way. The classes are the training folder's (class sub-folders without an image
are left out and named), in both splits: a test image is labelled by its folder's *name*, and a test class folder
that training has no class for is refused by name (its images could not be scored). Every image is resized to the
most common size among the training images (their headers, read before decoding; ``size`` overrides it), the same
for both splits; how many were resized is said in ``notes``. When every training image's header declares one grey
channel (PNG, JPEG, PNM), both splits are read as one channel (a folder of MNIST PNGs is then what ``mnist`` is,
not three equal channels).

Files that cannot be used are skipped and named in ``notes``, never fatal for the folder: unreadable or corrupt
images, dangling symlinks, symlink loops, file names that are not valid UTF-8, images whose header declares more
pixels than ``app.data.limits.MAX_IMAGE_PIXELS``. Files with other extensions are ignored (``IMAGE_EXTS``).

The cache (``cache/imagefolder/<name>-<path digest>-<content key>-<size>.npz``, written atomically) is keyed by
the folder's absolute path and, for every image, its relative path, size, ``st_mtime_ns``, ``st_ctime_ns`` and a
digest of its first and last 4 KiB (the whole file when smaller): two folders with the same name, file names,
sizes and times but other pixels never share a cache entry.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app import paths
from app.device import available_cores
from app.data.core import ArrayDataset, DatasetError, save_npz_atomic, seeded_split
from app.data import limits
# the folder's files before decoding (folder_signature: re-exported for app.experiments)
from app.data.folder_scan import (IMAGE_EXTS, Entry, class_dirs, display, folder_signature, layout,  # noqa: F401
                                  scan, training_classes)
from app.errors import LimitError

STATS_IMAGES = 2000  # images (spread over a split) its normalisation statistics are estimated from
CACHE_VERSION = "5"  # 3: classes by name across splits, the most common size; 4: grey folders as one channel;
# 5: the note on images with transparency
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
    """((height, width), channels: 1 grey, 3 colour) from the file's header (no decoding); None where unknown."""
    from app.data.imagesize import header_channels, header_size

    try:
        with open(entry.path, "rb") as f:
            head = f.read(4096)
            size = header_size(head)
            if size is None and entry.size > 4096:  # a JPEG frame header after a large EXIF block
                head += f.read(65536 - 4096)
                size = header_size(head)
    except OSError:
        return None, None
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


def iter_load_imagefolder(path: str | Path, split: str, size: int | None = None, seed: int = 0,
                          test_fraction: float = 0.2, cancel=None, threads: int | None = None,
                          max_pixels: int | None = None):
    """``load_imagefolder`` as a task generator (``app.tasks``): yields Progress while decoding, returns the
    ArrayDataset. Images are decoded in ``threads`` threads (OpenCV releases the GIL); cancel is checked between
    chunks. ``max_pixels``: the per-image pixel limit (default ``limits.MAX_IMAGE_PIXELS``)."""
    from concurrent.futures import ThreadPoolExecutor

    import cv2

    from app.tasks import Progress, check

    if not str(path).strip():  # Path("") is the current folder: never read it unasked
        raise DatasetError("an image folder needs a path (imagefolder:PATH); the path is empty")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{display(root)}: not a folder")
    lay = layout(root)
    yield Progress(0, None, f"scanning {display(lay.train)}")
    classes, train_entries, train_notes = training_classes(lay.train)
    notes_l = [lay.note] if lay.note else []
    if split == "train" or lay.test is None:
        folder, entries = lay.train, train_entries
        notes_l += train_notes
        size_key: object = size  # the decode size and channels follow from these entries' own content (in the key)
        look = None
    else:
        folder = lay.test
        yield Progress(0, None, f"scanning {display(folder)}")
        here = class_dirs(folder)
        entries, scan_notes = scan(folder, classes, present=set(here) & set(classes))
        extra = [c for c in here if c not in classes]
        if extra and scan(folder, extra)[0]:
            raise DatasetError(
                f"{display(folder)}: class folder(s) {', '.join(display(c) for c in extra)} hold images but "
                f"{display(lay.train.name)}/ has no such class: a classifier trained there could not score them "
                f"(the classes are matched by name; rename or remove those folders)")
        missing = [c for c in classes if c not in here]
        if missing:
            notes_l.append(f"{display(folder.name)}/ has no folder for class(es) {', '.join(missing)} of "
                           f"{display(lay.train.name)}/: their accuracy is not measured")
        notes_l += scan_notes
        look = training_look(lay.train, train_entries)
        size_key = (size, look.size, look.grey)  # the training images decide them: part of this split's key
    check(cancel)
    key = content_key(folder, classes, entries, size_key)
    cache = cache_file(folder, key, size)
    if cache.exists():
        try:
            with np.load(cache, allow_pickle=False) as z:
                images, labels, notes = z["images"], z["labels"], tuple(z["notes"].tolist())
        except Exception:  # a damaged cache is rebuilt, never trusted
            cache.unlink(missing_ok=True)
        else:
            yield Progress(1, 1, f"{display(folder.name)}: {len(labels)} images from the cache")
            return _result(root, split, images, labels, classes, notes, lay.test is None, seed, test_fraction)
    if not entries:
        raise DatasetError(f"{display(folder)}: no image files ({', '.join(sorted(IMAGE_EXTS))})"
                           + (f"; {'; '.join(notes_l[:3])}" if notes_l else ""))
    look = look or training_look(folder, entries)
    target = (size, size) if size is not None else look.size
    if look.grey:
        notes_l.append("every training image is grey (its header): the images are read as one grey channel")
    images_l, labels_l = [], []
    resized = transparent = 0
    threads = threads or max(1, min(4, available_cores()))
    chunk = 512

    def check_bytes(t: tuple[int, int]) -> None:
        limits.check_count(f"{display(folder)}: {len(entries)} images of {t[0]}x{t[1]}",
                           len(entries) * t[0] * t[1] * 3, limits.MAX_DATASET_BYTES, "bytes decoded")

    if target is not None:
        check_bytes(target)
    with ThreadPoolExecutor(threads, thread_name_prefix="decode") as pool:
        for start in range(0, len(entries), chunk):
            check(cancel)
            part = entries[start:start + chunk]
            for e, (img, note, alpha) in zip(part, pool.map(lambda e: _decode(e, max_pixels, look.grey), part)):
                if img is None:
                    notes_l.append(note)
                    continue
                transparent += alpha
                if target is None:  # no header could be read: the first image's size
                    target = (img.shape[0], img.shape[1])
                    check_bytes(target)
                if img.shape[:2] != target:
                    img = cv2.resize(img, (target[1], target[0]), interpolation=cv2.INTER_AREA)
                    img = img[..., None] if img.ndim == 2 else img  # cv2 drops a single channel's axis
                    resized += 1
                images_l.append(img)
                labels_l.append(e.label)
            yield Progress(min(start + chunk, len(entries)), len(entries), f"decoding {display(folder.name)}")
    if not images_l:
        raise DatasetError(f"{display(folder)}: none of {len(entries)} files could be read"
                           + (f" ({notes_l[-1]})" if notes_l else ""))
    if resized:
        whose = "the requested size" if size is not None else "the training images' most common size"
        notes_l.append(f"{resized} of {len(images_l)} images resized to {target[0]}x{target[1]} (HxW), {whose}")
    if transparent:
        notes_l.append(f"{transparent} of {len(images_l)} images have transparency (alpha): it is dropped, as "
                       f"torchvision's ImageFolder does, and the colours under transparent pixels are read as stored")
    images = np.stack(images_l)
    labels = np.asarray(labels_l, dtype=np.int64)
    notes = tuple(notes_l)
    prefix = cache.name.rsplit("-", 2)[0] + "-"  # the folder's older entries (its content changed)
    for old in cache.parent.glob(f"{prefix}*.npz") if cache.parent.is_dir() else ():
        if old != cache:
            old.unlink(missing_ok=True)
    try:
        save_npz_atomic(cache, images=images, labels=labels, notes=np.asarray(notes, dtype=str))
    except OSError as exc:  # only the next load is slower
        notes = notes + (f"could not write the cache ({exc.strerror or exc})",)
    return _result(root, split, images, labels, classes, notes, lay.test is None, seed, test_fraction)


def load_imagefolder(path: str | Path, split: str, size: int | None = None, seed: int = 0,
                     test_fraction: float = 0.2, progress=None, cancel=None,
                     max_pixels: int | None = None) -> ArrayDataset:
    """Load a folder of class sub-folders; ``train/`` and ``test/`` splits when present, else a seeded split (see
    the module docstring for ``val/`` and the classes by name).

    Decoded arrays are cached (see the module docstring). Unusable files are skipped and named in ``notes``.
    All images are resized to the training images' most common size (or ``size``). ``progress(done, total)`` is
    called while decoding."""
    gen = iter_load_imagefolder(path, split, size, seed, test_fraction, cancel=cancel, max_pixels=max_pixels)
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        if progress is not None and p.total:
            progress(int(p.done), int(p.total))


def _result(root, split, images, labels, classes, notes, seeded, seed, test_fraction):
    if seeded:
        tr, te = seeded_split(labels, test_fraction, seed)
        idx = tr if split == "train" else te
        counts = np.bincount(labels, minlength=len(classes))
        untested = [f"{classes[c]} ({counts[c]})" for c in range(len(classes)) if not np.any(labels[te] == c)]
        if untested and split == "test":
            notes = tuple(notes) + (f"class(es) too small for a test image in the seeded split (images in all): "
                                    f"{', '.join(untested)}: their accuracy is not measured",)
        images, labels = images[idx], labels[idx]
    if len(labels) == 0:
        raise DatasetError(f"{display(root)}: the {split} split holds no images")
    c = images.shape[-1]
    # statistics from images spread over the whole split (the files are sorted by class: the first ones are
    # all of one class and would bias the normalisation)
    # (about STATS_IMAGES of them: the mean within ~0.004 of all 50,000 CIFAR-10 images', said by data info)
    sample = images[:: max(1, len(images) // STATS_IMAGES)].reshape(-1, c).astype(np.float32)
    mean = tuple(float(v) for v in (sample.mean(0) / 255.0))
    std = tuple(float(max(v, 1e-3)) for v in (sample.std(0) / 255.0))
    return ArrayDataset(f"imagefolder:{root}", split, images, labels, tuple(classes), mean, std, tuple(notes))
