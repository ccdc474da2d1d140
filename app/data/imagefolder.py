"""Folders of class sub-folders as datasets, with a decoded-array cache keyed by content and absolute path.

``load_imagefolder(path, split)`` / ``iter_load_imagefolder(...)`` (task generator): one sub-folder per class.
The splits (``layout``): ``train/`` and ``test/`` when present; ``train/`` and ``val/`` (or ``valid/``,
``validation/``) without ``test/``: that folder is the test split (the probe and training carve their own
validation split from ``train/``), said in ``notes``; ``train/`` alone: a seeded split of it; else the folder's
class sub-folders, split the same way. The classes are the training folder's (class sub-folders without an image
are left out and named), in both splits: a test image is labelled by its folder's *name*, and a test class folder
that training has no class for is refused by name (its images could not be scored). Every image is resized to the
most common size among the training images (their headers, read before decoding, wherever in the file they lie;
``size`` overrides it; when no header can be read, the first readable training image's size), the same for both
splits: a test split takes the size its training folder's load decided, never its own; how many were resized is
said in ``notes``. When every training image's header declares one grey channel (PNG, JPEG, PNM), both splits are
read as one channel (a folder of MNIST PNGs is then what ``mnist`` is, not three equal channels). An EXIF
orientation is ignored (the pixels as stored, as torchvision's ``ImageFolder`` reads them). Both splits carry the
training images' normalisation statistics (``mean``, ``std``), as built-in datasets do.

A test folder that is the training folder (a symlink to it) is refused; test files that are training files (hard
links or symlinks to them) are skipped, and how many is said in ``notes``.

Files that cannot be used are skipped and named in ``notes``, never fatal for the folder: unreadable or corrupt
images, dangling symlinks, symlink loops, file names that are not valid UTF-8, images whose header declares more
pixels than ``app.data.limits.MAX_IMAGE_PIXELS``. Files with other extensions are ignored (``IMAGE_EXTS``).

The cache (``cache/imagefolder/<name>-<path digest>-<content key>-<size>.npz``, written atomically; its keys and
names in ``app.data.imagefolder_files``) is keyed by
the folder's absolute path, the pixel limit in force and, for every image, its relative path, size,
``st_mtime_ns``, ``st_ctime_ns`` and a digest of its first and last 4 KiB (the whole file when smaller): two
folders with the same name, file names, sizes and times but other pixels never share a cache entry. It holds the
decoding's notes only; what the folder's layout says (its splits, missing classes, files skipped when scanning) is
worked out at every load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.device import available_cores
from app.data.core import ArrayDataset, DatasetError, save_npz_atomic, seeded_split
from app.data import limits
# the folder's files before decoding (folder_signature: re-exported for app.experiments)
from app.data.folder_scan import (IMAGE_EXTS, Entry, class_dirs, display, folder_signature, layout,  # noqa: F401
                                  scan, training_classes)
# what the files say: digests and cache names, headers, one file's decoding (edge_digest, path_digest: re-exported)
from app.data.imagefolder_files import (_decode, cache_file, content_key, edge_digest, path_digest,  # noqa: F401
                                        training_look)

STATS_IMAGES = 2000  # images (spread over a split) its normalisation statistics are estimated from
def _pixel_limit(max_pixels: int | None) -> int | None:
    """The per-image pixel limit a load decodes under (None: limits off): part of the cache keys, so that lifting the
    limit (``FILTER_EXPLORER_LIMITS=off``, ``max_pixels``) decodes the images it skipped instead of serving them
    skipped from the cache."""
    if not limits.enabled():
        return None
    return int(max_pixels if max_pixels is not None else limits.MAX_IMAGE_PIXELS)


def _stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per channel in [0, 1], from about ``STATS_IMAGES`` images spread over ``images`` (the files are
    sorted by class: the first ones are all of one class and would bias the normalisation; the mean within ~0.004
    of all 50,000 CIFAR-10 images', said by data info)."""
    c = images.shape[-1]
    sample = images[:: max(1, len(images) // STATS_IMAGES)].reshape(-1, c).astype(np.float32)
    mean = tuple(float(v) for v in (sample.mean(0) / 255.0))
    std = tuple(float(max(v, 1e-3)) for v in (sample.std(0) / 255.0))
    return mean, std


@dataclass(frozen=True)
class Decided:
    """What a training folder's load decided, kept with its decoded arrays for its test split: the size every image
    is resized to (height, width) and why (for the notes), whether the images are read as one grey channel, and
    the training images' normalisation statistics (a test split carries its training split's, as built-in
    datasets do)."""

    target: tuple[int, int]
    why: str
    grey: bool
    mean: tuple[float, ...]
    std: tuple[float, ...]


def _read_cache(cache: Path, arrays: bool = True):
    """(images, labels, notes, Decided) from a cache file, or None when absent or damaged (then deleted: rebuilt,
    never trusted). ``arrays`` False: (None, None, None, Decided), the arrays left unread."""
    if not cache.exists():
        return None
    try:
        with np.load(cache, allow_pickle=False) as z:
            t = z["target"].tolist()
            decided = Decided((int(t[0]), int(t[1])), str(z["why"]), bool(z["grey"]),
                              tuple(float(v) for v in z["mean"]), tuple(float(v) for v in z["std"]))
            if not arrays:
                return None, None, None, decided
            return z["images"], z["labels"], tuple(z["notes"].tolist()), decided
    except Exception:  # a damaged (or older) cache is rebuilt, never trusted
        cache.unlink(missing_ok=True)
        return None


def _load_split(folder: Path, classes: list[str], entries: list[Entry], size: int | None, limit: int | None,
                given: Decided | None, cancel, threads: int | None, max_pixels: int | None, arrays: bool = True):
    """Task generator: the decoded (images, labels, notes, Decided) of ``entries``, from the cache or decoded (and
    cached). ``given``: the training folder's decisions, for a test folder (its size and channels; None: a training
    folder, which decides them from its images' headers). The notes are the decoding's (files skipped, resized,
    transparent ...); what the folder's layout says is added by the caller at every load (never cached: the layout
    can change while the files do not). ``arrays`` False: a cache hit returns only the Decided."""
    from concurrent.futures import ThreadPoolExecutor

    import cv2

    from app.tasks import Progress, check

    key_size: object = (size, limit) if given is None else (size, limit, given.target, given.grey)
    key = content_key(folder, classes, entries, key_size)
    cache = cache_file(folder, key, size)
    hit = _read_cache(cache, arrays)
    if hit is not None:
        if arrays:
            yield Progress(1, 1, f"{display(folder.name)}: {len(hit[1])} images from the cache")
        return hit
    if not entries:
        raise DatasetError(f"{display(folder)}: no image files ({', '.join(sorted(IMAGE_EXTS))})")
    notes_l: list[str] = []
    if given is not None:
        target: tuple[int, int] | None = given.target
        why, grey = given.why, given.grey
    else:
        look = training_look(folder, entries)
        target = (size, size) if size is not None else look.size
        why = ("the requested size" if size is not None else "the training images' most common size"
               if look.size is not None else "the first readable training image's size (no training image's "
                                             "header declares one)")
        grey = look.grey
    if grey:
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
            for e, (img, note, alpha) in zip(part, pool.map(lambda e: _decode(e, max_pixels, grey), part)):
                if img is None:
                    notes_l.append(note)
                    continue
                transparent += alpha
                if target is None:  # a training folder none of whose headers could be read: its first image's
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
    if given is None:  # a class whose every file was unreadable has no training image: said, and no class to learn
        got = set(labels_l)
        unread = [display(classes[c]) for c in sorted({e.label for e in entries}) if c not in got]
        if unread:
            notes_l.append(f"{', '.join(c + '/' for c in unread)}: no image file could be read: no training image "
                           f"of {'this class' if len(unread) == 1 else 'these classes'}")
    if resized:
        notes_l.append(f"{resized} of {len(images_l)} images resized to {target[0]}x{target[1]} (HxW), {why}")
    if transparent:
        notes_l.append(f"{transparent} of {len(images_l)} images have transparency (alpha): it is dropped, as "
                       f"torchvision's ImageFolder does, and the colours under transparent pixels are read as stored")
    images = np.stack(images_l)
    labels = np.asarray(labels_l, dtype=np.int64)
    notes = tuple(notes_l)
    mean, std = _stats(images) if given is None else (given.mean, given.std)
    decided = Decided(target, why, grey, mean, std)
    prefix = cache.name.rsplit("-", 2)[0] + "-"  # the folder's older entries (its content changed)
    for old in cache.parent.glob(f"{prefix}*.npz") if cache.parent.is_dir() else ():
        if old != cache:
            old.unlink(missing_ok=True)
    try:
        save_npz_atomic(cache, images=images, labels=labels, notes=np.asarray(notes, dtype=str),
                        target=np.asarray(target, np.int64), why=np.asarray(why), grey=np.asarray(grey),
                        mean=np.asarray(mean, np.float64), std=np.asarray(std, np.float64))
    except OSError as exc:  # only the next load is slower
        notes = notes + (f"could not write the cache ({exc.strerror or exc})",)
    return images, labels, notes, decided


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _without_training_files(entries: list[Entry], train_entries: list[Entry], test: Path,
                            train: Path) -> tuple[list[Entry], str | None]:
    """``entries`` less the files that are training files (the same device and inode: hard links, symlinks), and a
    note saying how many were skipped (None: none)."""
    ids = {(e.dev, e.ino): e.rel for e in train_entries if e.ino}
    kept, same = [], []
    for e in entries:
        t = ids.get((e.dev, e.ino)) if e.ino else None
        if t is None:
            kept.append(e)
        else:
            same.append((e, t))
    if not same:
        return entries, None
    e, t = same[0]
    return kept, (f"{len(same)} of {len(entries)} files in {display(test.name)}/ are the same files as training "
                  f"images in {display(train.name)}/ (links to them), skipped: a test image must not be a training "
                  f"image (the first: {display(e.rel)}, the same file as {display(train.name)}/{display(t)})")


def iter_load_imagefolder(path: str | Path, split: str, size: int | None = None, seed: int = 0,
                          test_fraction: float = 0.2, cancel=None, threads: int | None = None,
                          max_pixels: int | None = None):
    """``load_imagefolder`` as a task generator (``app.tasks``): yields Progress while decoding, returns the
    ArrayDataset. Images are decoded in ``threads`` threads (OpenCV releases the GIL); cancel is checked between
    chunks. ``max_pixels``: the per-image pixel limit (default ``limits.MAX_IMAGE_PIXELS``).

    A ``test/`` (or ``val/``) folder's split takes its size, channels and statistics from the training folder's
    load (its cache, else the training folder is decoded and cached first): never its own."""
    from app.tasks import Progress, check

    if not str(path).strip():  # Path("") is the current folder: never read it unasked
        raise DatasetError("an image folder needs a path (imagefolder:PATH); the path is empty")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{display(root)}: not a folder")
    lay = layout(root)
    yield Progress(0, None, f"scanning {display(lay.train)}")
    classes, train_entries, train_notes = training_classes(lay.train)
    notes_l = [lay.note] if lay.note else []  # said at every load, never cached (the layout can change)
    limit = _pixel_limit(max_pixels)
    if split == "train" or lay.test is None:
        check(cancel)
        notes_l += train_notes
        if not train_entries:
            raise DatasetError(f"{display(lay.train)}: no image files ({', '.join(sorted(IMAGE_EXTS))})"
                               + (f"; {'; '.join(notes_l[:3])}" if notes_l else ""))
        images, labels, notes, _d = yield from _load_split(lay.train, classes, train_entries, size, limit, None,
                                                          cancel, threads, max_pixels)
        return _result(root, split, images, labels, classes, tuple(notes_l) + tuple(notes), lay.test is None, seed,
                       test_fraction, None)
    folder = lay.test
    if _same_folder(folder, lay.train):
        raise DatasetError(f"{display(root)}: {display(folder.name)}/ is {display(lay.train.name)}/ itself (a link to "
                           f"it): the test images would be the training images, and a test accuracy measured on them "
                           f"would mean nothing; give the folder a test split of its own (or remove "
                           f"{display(folder.name)}/: a seeded part of {display(lay.train.name)}/ is then the test "
                           f"split)")
    yield Progress(0, None, f"scanning {display(folder)}")
    here = class_dirs(folder)
    entries, scan_notes = scan(folder, classes, present=set(here) & set(classes))
    extra = [c for c in here if c not in classes]
    if extra and scan(folder, extra)[0]:
        raise DatasetError(
            f"{display(folder)}: class folder(s) {', '.join(display(c) for c in extra)} hold images but "
            f"{display(lay.train.name)}/ has no such class: a classifier trained there could not score them "
            f"(the classes are matched by name; rename or remove those folders)")
    entries, linked = _without_training_files(entries, train_entries, folder, lay.train)
    check(cancel)
    if not entries:
        why = scan_notes + ([linked] if linked else [])
        raise DatasetError(f"{display(folder)}: no image files ({', '.join(sorted(IMAGE_EXTS))})"
                           + (f"; {'; '.join((notes_l + why)[:3])}" if notes_l or why else ""))
    # the training folder's decisions (its cache's, else its load's): this split is decoded as it was
    hit = yield from _load_split(lay.train, classes, train_entries, size, limit, None, cancel, threads, max_pixels,
                                 arrays=False)
    given = hit[3]
    del hit
    images, labels, notes, _d = yield from _load_split(folder, classes, entries, size, limit, given, cancel, threads,
                                                       max_pixels)
    got = set(labels.tolist())
    no_folder = [classes[c] for c in range(len(classes)) if c not in got and classes[c] not in here]
    no_image = [classes[c] for c in range(len(classes)) if c not in got and classes[c] in here]
    if no_folder:
        notes_l.append(f"{display(folder.name)}/ has no folder for class(es) {', '.join(no_folder)} of "
                       f"{display(lay.train.name)}/: their accuracy is not measured")
    if no_image:
        notes_l.append(f"{display(folder.name)}/ has no readable image of class(es) {', '.join(no_image)} of "
                       f"{display(lay.train.name)}/: their accuracy is not measured")
    notes_l += scan_notes + ([linked] if linked else [])
    return _result(root, split, images, labels, classes, tuple(notes_l) + tuple(notes), False, seed, test_fraction,
                   (given.mean, given.std))


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


def _result(root, split, images, labels, classes, notes, seeded, seed, test_fraction, stats):
    """The split's ArrayDataset. Its normalisation statistics are the training split's, in both splits (as a
    built-in dataset's): ``stats`` (a test folder's load: its training folder's), else measured on the training
    images (a seeded split's training part)."""
    if seeded:
        tr, te = seeded_split(labels, test_fraction, seed)
        idx = tr if split == "train" else te
        counts = np.bincount(labels, minlength=len(classes))
        untested = [f"{classes[c]} ({counts[c]})" for c in range(len(classes)) if not np.any(labels[te] == c)]
        if untested and split == "test":
            notes = tuple(notes) + (f"class(es) too small for a test image in the seeded split (images in all): "
                                    f"{', '.join(untested)}: their accuracy is not measured",)
        if stats is None and len(tr):
            stats = _stats(images[tr])
        images, labels = images[idx], labels[idx]
    if len(labels) == 0:
        raise DatasetError(f"{display(root)}: the {split} split holds no images")
    mean, std = stats if stats is not None else _stats(images)
    return ArrayDataset(f"imagefolder:{root}", split, images, labels, tuple(classes), mean, std, tuple(notes))
