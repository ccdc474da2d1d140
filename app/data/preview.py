"""What the dataset browser shows, computed off the GUI thread (no Qt).

``sample_grid(ds, n, seed)`` tiles ``n`` seeded random samples into one uint8 RGB mosaic (row-major, C-contiguous,
ready for a single pyqtgraph ``ImageItem`` or a ``QImage``) and returns where each cell lies and its label.
``browse(...)`` is the task the browser runs: load (or reuse) a dataset, take the subset, tile, count classes; it
returns a frozen ``View``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Generator

import numpy as np

from app.data.core import ArrayDataset
from app.tasks import CancelToken, Progress, check


@dataclass(frozen=True)
class Cell:
    x: int  # left pixel of the cell in the mosaic
    y: int  # top pixel
    size: int  # cell width = height in pixels
    index: int  # index of the sample in the dataset
    label: int
    class_name: str


def sample_grid(ds: ArrayDataset, n: int = 48, seed: int = 0, cell: int | None = None, gap: int = 2,
                columns: int | None = None, background: int = 255) -> tuple[np.ndarray, tuple[Cell, ...]]:
    """A mosaic of ``min(n, len(ds))`` seeded random samples and their cells.

    Each image is scaled by an integer factor (nearest neighbour: the pixels stay visible) to about ``cell``
    pixels (default: 32 for small images, the image size otherwise); greyscale becomes RGB. Returns
    ``(mosaic (H, W, 3) uint8 C-contiguous, cells)``; an empty dataset gives a 1x1 mosaic and no cells."""
    k = min(int(n), len(ds))
    if k <= 0:
        return np.full((1, 1, 3), background, np.uint8), ()
    idx = np.random.default_rng(seed).choice(len(ds), size=k, replace=False)  # random order: classes mixed
    _, h, w, c = ds.images.shape
    side = max(h, w)
    target = cell or (side * max(1, round(32 / side)) if side < 32 else side)
    factor = max(1, target // side)
    ch, cw = h * factor, w * factor
    size = max(ch, cw)
    cols = columns
    if not cols:
        cols = max(1, math.ceil(math.sqrt(k * 1.5)))
        cols = next((c for c in (cols, cols - 1, cols + 1, cols - 2) if c > 0 and k % c == 0), cols)  # full rows
    rows = math.ceil(k / cols)
    mosaic = np.full((rows * (size + gap) + gap, cols * (size + gap) + gap, 3), background, np.uint8)
    cells = []
    for j, i in enumerate(idx):
        img = ds.images[i]
        if factor > 1:
            img = np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)
        if img.shape[-1] == 1:
            img = np.repeat(img, 3, axis=-1)
        elif img.shape[-1] > 3:
            img = img[..., :3]
        r, col = divmod(j, cols)
        y, x = gap + r * (size + gap), gap + col * (size + gap)
        mosaic[y:y + img.shape[0], x:x + img.shape[1]] = img
        lab = int(ds.labels[i])
        name = ds.classes[lab] if 0 <= lab < len(ds.classes) else str(lab)
        cells.append(Cell(x, y, size, int(i), lab, name))
    return np.ascontiguousarray(mosaic), tuple(cells)


def display_name(name: str) -> str:
    """A short name for messages: ``imagefolder:/a/b/pets`` -> ``folder pets``."""
    if name.startswith("imagefolder:"):
        folder = name.split(":", 1)[1].rstrip("/\\")
        return f"folder {Path(folder).name or folder}"
    return name


@dataclass(frozen=True)
class View:
    """Everything the browser displays for one dataset/split/subset (an immutable snapshot)."""

    name: str
    split: str
    total: int  # images in the split
    used: int  # images in the subset
    shape: tuple[int, int, int]  # C, H, W
    classes: tuple[str, ...]
    counts: np.ndarray  # per class, in the subset
    mosaic: np.ndarray
    cells: tuple[Cell, ...]
    notes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def summary(self) -> str:
        c, h, w = self.shape
        return (f"{display_name(self.name)} ({self.split}): {self.used:,} of {self.total:,} images, {h}x{w}x{c}, "
                f"{len(self.classes)} classes")


def view(ds: ArrayDataset, subset: int | None = None, n: int = 48, seed: int = 0,
         columns: int | None = None) -> View:
    total = len(ds)
    sub = ds.subset(subset, seed) if subset else ds
    mosaic, cells = sample_grid(sub, n, seed, columns=columns)
    counts = np.bincount(sub.labels, minlength=len(ds.classes)).astype(np.int64)
    counts.setflags(write=False)
    mosaic.setflags(write=False)
    return View(ds.name, ds.split, total, len(sub), ds.shape, ds.classes, counts, mosaic, cells, ds.notes,
                ds.mean, ds.std)


def browse(name: str, split: str = "train", root: str | Path | None = None, subset: int | None = None,
           n: int = 48, seed: int = 0, dataset: ArrayDataset | None = None,
           cancel: CancelToken | None = None, columns: int | None = None
           ) -> Generator[Progress, None, tuple[ArrayDataset, View]]:
    """Load ``name``/``split`` (unless ``dataset`` is that already) and compute its ``View``."""
    from app.data.formats import load_task

    if dataset is None or dataset.split != split or not _same(dataset.name, name):
        dataset = yield from load_task(name, split, root, cancel=cancel)
    check(cancel)
    yield Progress(0, None, "preparing the preview")
    return dataset, view(dataset, subset, n, seed, columns)


def _same(loaded: str, asked: str) -> bool:
    if asked.startswith("imagefolder:") and loaded.startswith("imagefolder:"):
        return Path(asked.split(":", 1)[1]).expanduser() == Path(loaded.split(":", 1)[1])
    return loaded == asked
