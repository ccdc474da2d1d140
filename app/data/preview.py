"""What the dataset browser shows, computed off the GUI thread (no Qt).

``sample_grid(ds, n, seed)`` tiles ``n`` seeded random samples into one uint8 RGB mosaic (row-major, C-contiguous,
ready for a single pyqtgraph ``ImageItem`` or a ``QImage``) and returns where each cell lies and its label.
``browse(...)`` is the task the browser runs: load (or reuse) a dataset, take the subset, tile, count classes; it
returns a frozen ``View``; ``relayout(view, columns)`` lays the same samples out for another area (the browser calls
it when it is shown or resized) and ``columns_for(k, width, height)`` says which column count suits an area.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Generator

import numpy as np

from app.data.core import ArrayDataset
from app.imaging.layout import layout as grid_layout
from app.imaging.mosaic import tile, to_rgb
from app.tasks import CancelToken, Progress, check


@dataclass(frozen=True)
class Cell:
    x: int  # left pixel of the cell in the mosaic
    y: int  # top pixel
    size: int  # cell width = height in pixels
    index: int  # index of the sample in the dataset's split (not in the subset: the image a user can look up)
    label: int
    class_name: str


@dataclass(frozen=True)
class Samples:
    """Seeded random samples ready to tile: upscaled RGB tiles and what each one is."""

    tiles: np.ndarray  # uint8 (k, h, w, 3), nearest-neighbour upscaled
    index: tuple[int, ...]  # index of each sample in the dataset it was picked from (``view``: in the split)
    labels: tuple[int, ...]
    names: tuple[str, ...]


def pick_samples(ds: ArrayDataset, n: int = 48, seed: int = 0, cell: int | None = None) -> Samples:
    """``min(n, len(ds))`` seeded random samples (random order: classes mixed), each scaled by an integer factor
    (nearest neighbour: the pixels stay visible) to about ``cell`` pixels (default: 32 for small images, the image
    size otherwise); greyscale becomes RGB."""
    k = min(int(n), len(ds))
    if k <= 0:
        return Samples(np.zeros((0, 1, 1, 3), np.uint8), (), (), ())
    idx = np.random.default_rng(seed).choice(len(ds), size=k, replace=False)
    _, h, w, _c = ds.images.shape
    side = max(h, w)
    target = cell or (side * max(1, round(32 / side)) if side < 32 else side)
    factor = max(1, target // side)
    tiles = to_rgb(ds.images[idx])
    if factor > 1:
        tiles = tiles.repeat(factor, axis=1).repeat(factor, axis=2)
    labels = tuple(int(ds.labels[i]) for i in idx)
    names = tuple(ds.classes[lab] if 0 <= lab < len(ds.classes) else str(lab) for lab in labels)
    return Samples(np.ascontiguousarray(tiles), tuple(int(i) for i in idx), labels, names)


def default_columns(k: int) -> int:
    """About 1.5 times as many columns as rows, preferring a count that fills every row."""
    cols = max(1, math.ceil(math.sqrt(k * 1.5)))
    return next((c for c in (cols, cols - 1, cols + 1, cols - 2) if c > 0 and k % c == 0), cols)


def columns_for(k: int, width: float, height: float, choices: tuple[int, ...] = (4, 6, 8, 12, 16)) -> int:
    """Grid columns for ``k`` square tiles that suit an area of ``width`` x ``height`` (a narrow area gets fewer
    columns and more rows): the first of ``choices`` whose grid is no taller, relative to its width, than the
    area."""
    ratio = max(1.0, float(height)) / max(1.0, float(width))
    for c in choices:
        if math.ceil(k / c) / c <= ratio:
            return c
    return choices[-1]


def arrange(samples: Samples, columns: int | None = None, gap: int = 2,
            background: int = 255) -> tuple[np.ndarray, tuple[Cell, ...]]:
    """Tile samples into one mosaic (``app.imaging``) and say where each one lies."""
    k = len(samples.index)
    if k == 0:
        return np.full((1, 1, 3), background, np.uint8), ()
    h, w = samples.tiles.shape[1:3]
    size = max(h, w)
    lay = grid_layout(k, size, size, gap=gap, margin=gap, cols=columns or default_columns(k))
    mosaic = tile(samples.tiles, lay, background)
    cells = []
    for j in range(k):
        y, x = lay.origin(j)
        cells.append(Cell(x, y, size, samples.index[j], samples.labels[j], samples.names[j]))
    return np.ascontiguousarray(mosaic), tuple(cells)


def sample_grid(ds: ArrayDataset, n: int = 48, seed: int = 0, cell: int | None = None, gap: int = 2,
                columns: int | None = None, background: int = 255) -> tuple[np.ndarray, tuple[Cell, ...]]:
    """A mosaic of ``min(n, len(ds))`` seeded random samples and their cells (``pick_samples`` + ``arrange``).
    Returns ``(mosaic (H, W, 3) uint8 C-contiguous, cells)``; an empty dataset gives a 1x1 mosaic and no cells."""
    return arrange(pick_samples(ds, n, seed, cell), columns, gap, background)


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
    samples: Samples | None = None  # to lay the mosaic out again for another area (``relayout``)
    columns: int = 0

    def summary(self) -> str:
        c, h, w = self.shape
        return (f"{display_name(self.name)} ({self.split}): {self.used:,} of {self.total:,} images, {h}x{w}x{c}, "
                f"{len(self.classes)} class{'es' if len(self.classes) != 1 else ''}")


def view(ds: ArrayDataset, subset: int | None = None, n: int = 48, seed: int = 0,
         columns: int | None = None) -> View:
    total = len(ds)
    sub = ds.subset(subset, seed) if subset else ds
    samples = pick_samples(sub, n, seed)
    if sub is not ds:  # picked from the subset: each cell names its image's index in the split
        kept = ds.subset_indices(subset, seed)
        samples = replace(samples, index=tuple(int(kept[i]) for i in samples.index))
    columns = columns or default_columns(len(samples.index))
    mosaic, cells = arrange(samples, columns)
    counts = np.bincount(sub.labels, minlength=len(ds.classes)).astype(np.int64)
    counts.setflags(write=False)
    mosaic.setflags(write=False)
    return View(ds.name, ds.split, total, len(sub), ds.shape, ds.classes, counts, mosaic, cells, ds.notes,
                ds.mean, ds.std, samples, columns)


def relayout(v: View, columns: int) -> View:
    """The same view with its samples in ``columns`` columns (cheap: a few dozen small tiles)."""
    if v.samples is None or columns == v.columns:
        return v
    mosaic, cells = arrange(v.samples, columns)
    mosaic.setflags(write=False)
    return replace(v, mosaic=mosaic, cells=cells, columns=int(columns))


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
