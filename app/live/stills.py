"""Frame sources that hold each picture for several reads: an image file or folder (``ImageSource``) and samples of
a dataset (``DatasetSource``). Qt-free; made by ``app.live.sources.make_source`` (and importable from there)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from app.data.imagesize import decode_image
from app.errors import LimitError
from app.live.sources import IMAGE_EXTS, FrameSource, SourceError, _rgb


def _next_hold(i: int, hold: int) -> int:
    """The read counter of a held source (picture ``i // hold`` next) moved to the next picture's first read: the
    picture shown last is the one of read ``i - 1``; nothing read yet: unchanged (the first picture comes first)."""
    return i if i <= 0 else ((i - 1) // hold + 1) * hold


class ImageSource(FrameSource):
    """An image file, or every image in a folder (sorted), cycled at their own size; each shown for ``hold`` reads.

    Unreadable files in a folder (not an image, damaged, a dangling link) are skipped and named in
    ``skipped`` and in the description; the source fails only when no file at all can be read."""

    CACHE_BYTES = 256 * 2**20  # decoded images kept in memory (a folder of photos must not fill it)

    def __init__(self, path: str | os.PathLike, hold: int = 1) -> None:
        self.path = Path(path)
        self.hold = max(1, int(hold))
        self.description = f"Images {self.path.name}"
        self._files: list[Path] = []
        self._i = 0
        self._cache: dict[Path, np.ndarray] = {}
        self._cached = 0
        self.skipped: list[str] = []

    def open(self) -> None:
        if self.path.is_dir():
            files = sorted(p for p in self.path.rglob("*") if p.suffix.lower() in IMAGE_EXTS)
            if not files:
                raise SourceError(f"Folder {self.path} holds no images ({', '.join(IMAGE_EXTS)})")
        elif self.path.is_file():
            files = [self.path]
        else:
            raise SourceError(f"{self.path} does not exist")
        self._files = files
        self._i = 0
        self.skipped = []
        self._first_readable()  # fail early when nothing can be read; unreadable files are skipped and named
        self._describe()

    def _describe(self) -> None:
        if not self.path.is_dir():
            self.description = f"Image {self.path.name}"
            return
        self.description = f"Folder {self.path.name} ({len(self._files) + len(self.skipped)} images"
        if self.skipped:
            names = ", ".join(self.skipped[:3]) + (", …" if len(self.skipped) > 3 else "")
            self.description += f"; {len(self.skipped)} unreadable, skipped: {names}"
        self.description += ")"

    def _first_readable(self) -> np.ndarray:
        last: SourceError | None = None
        for p in list(self._files):
            try:
                return self._load(p)
            except SourceError as exc:
                last = exc
                continue
        if self.path.is_file():
            raise last or SourceError(f"{self.path.name}: not an image OpenCV can read")
        names = ", ".join(self.skipped[:5]) + (", …" if len(self.skipped) > 5 else "")
        raise SourceError(f"None of the {len(self.skipped)} images in {self.path} can be read ({names})")

    def _load(self, p: Path) -> np.ndarray:
        img = self._cache.get(p)
        if img is None:
            why = f"{p.name}: not an image OpenCV can read"
            try:  # the header's width x height against the pixel limit before decoding (a 389 KB PNG -> 1.2 GB)
                raw = decode_image(np.fromfile(str(p), dtype=np.uint8), p.name)
            except LimitError as exc:
                raw, why = None, str(exc)
            except (OSError, ValueError, cv2.error):
                raw = None
            if raw is None:
                self._files.remove(p)
                self.skipped.append(p.name)
                raise SourceError(why)
            img = _rgb(raw)
            if self._cached + img.nbytes <= self.CACHE_BYTES:
                self._cache[p] = img
                self._cached += img.nbytes
        return img

    def read(self) -> np.ndarray:
        if not self._files:
            raise SourceError("image source: read() before open()")
        k, phase = (self._i // self.hold) % len(self._files), self._i % self.hold
        while True:
            if not self._files:
                self._first_readable()  # nothing left to read: raises the message that says so
            k %= len(self._files)
            try:
                img = self._load(self._files[k])
                break
            except SourceError:  # unreadable since it was listed: dropped from the list (and named), so the next
                self._describe()  # picture now sits at position k: show it, not the first one
        # the counter rebased on the picture shown: the list may have shrunk, and ``i // hold`` must keep counting
        # from this picture (held for the rest of its reads, then the one after it) rather than jump over the next
        self._i = k * self.hold + phase + 1
        return img.copy()

    def advance(self) -> None:
        self._i = _next_hold(self._i, self.hold)

    def close(self) -> None:
        self._cache.clear()
        self._cached = 0


class DatasetSource(FrameSource):
    """Samples of an ``app.data`` dataset (test split) at their own size and aspect, each held for ``hold`` reads;
    ``caption`` is the current sample's label."""

    def __init__(self, name: str = "digits", hold: int = 15, root: str | None = None) -> None:
        self.name, self.hold, self.root = name, max(1, hold), root
        self.description = f"Dataset {name}"
        self._images: np.ndarray | None = None
        self._labels: list[str] = []
        self._i = 0

    def open(self) -> None:
        from app import data

        try:
            ds = data.load(self.name, "test", self.root)
        except Exception as exc:
            raise SourceError(f"Dataset {self.name!r} could not be loaded: {exc}") from exc
        if len(ds) == 0:
            raise SourceError(f"Dataset {self.name!r} is empty")
        idx = np.random.default_rng(0).permutation(len(ds))[:256]
        self._images = ds.images[idx]
        self._labels = [ds.classes[int(i)] if ds.classes else str(int(i)) for i in ds.labels[idx]]
        self._i = 0
        h, w = self._images.shape[1:3]
        self.description = f"Dataset {self.name} (test split, {len(ds)} images, {h}x{w})"

    def read(self) -> np.ndarray:
        if self._images is None:
            raise SourceError("dataset source: read() before open()")
        k = (self._i // self.hold) % len(self._images)
        self._i += 1
        self.caption = f"label: {self._labels[k]}"
        return _rgb(np.array(self._images[k]))  # a copy: the frame is handed to the view, the samples stay

    def advance(self) -> None:
        self._i = _next_hold(self._i, self.hold)

    def close(self) -> None:
        self._images = None
