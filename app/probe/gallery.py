"""Pictures for the probe results, computed here so the widgets only display them (Qt-free numpy).

- ``mosaic(images, cols)``: one uint8 RGB image of many examples on a grid (one pyqtgraph ImageItem shows it);
- ``misclassified_gallery(run, limit)``: a task that loads the run's exact test split and tiles its misclassified
  examples, returning the mosaic with each cell's true and predicted class;
- ``confusion_uint8(confusion)``: the row-normalised confusion matrix as uint8 (0..255) for a colour LUT.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generator

import numpy as np

from app.tasks import CancelToken, Progress, check


@dataclass(frozen=True)
class Gallery:
    image: np.ndarray  # uint8 (H, W, 3) C-contiguous
    cells: tuple[tuple[int, int, int, int], ...]  # (x, y, w, h) of each example's tile in the mosaic
    true: tuple[str, ...]
    predicted: tuple[str, ...]
    indices: tuple[int, ...]  # indices into the run's test split
    total: int  # how many were misclassified in all (the gallery may show fewer)


def _to_rgb(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.dtype != np.uint8:
        images = np.clip(images, 0, 255).astype(np.uint8)
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    return images[..., :3]


def mosaic(images: np.ndarray, cols: int, pad: int = 2, background: int = 255, min_size: int = 32,
           label_space: int = 0) -> tuple[np.ndarray, tuple[tuple[int, int, int, int], ...]]:
    """Tile (N, H, W[, C]) uint8 images on a grid of ``cols`` columns (nearest-neighbour upscaled so a tile is at
    least ``min_size`` pixels high; ``label_space`` empty pixels under each tile for a caption).

    Returns the RGB mosaic (uint8, C-contiguous) and each tile's (x, y, w, h).
    """
    imgs = _to_rgb(images)
    n = len(imgs)
    if n == 0:
        return np.full((min_size, min_size, 3), background, np.uint8), ()
    h, w = imgs.shape[1:3]
    scale = max(1, int(np.ceil(min_size / max(1, h))))
    if scale > 1:
        imgs = imgs.repeat(scale, axis=1).repeat(scale, axis=2)
        h, w = h * scale, w * scale
    cols = max(1, min(cols, n))
    rows = (n + cols - 1) // cols
    cell_h, cell_w = h + pad + label_space, w + pad
    out = np.full((rows * cell_h + pad, cols * cell_w + pad, 3), background, np.uint8)
    cells = []
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = pad + r * cell_h, pad + c * cell_w
        out[y : y + h, x : x + w] = imgs[i]
        cells.append((x, y, w, h))
    return np.ascontiguousarray(out), tuple(cells)


def misclassified_gallery(run: dict[str, Any], limit: int = 40, cols: int = 10,
                          cancel: CancelToken | None = None) -> Generator[Progress, None, Gallery]:
    """Task: the misclassified test examples of a stored run (``ProbeResult.to_dict()``), as one mosaic."""
    from app.probe.run import test_images

    mis = np.asarray(run.get("misclassified") or [], dtype=np.int64)
    pred = np.asarray(run.get("mis_predicted") or [], dtype=np.int64)
    classes = tuple(run.get("classes") or ())
    yield Progress(0, 2, "loading the test images")
    check(cancel)
    data = test_images(run)
    check(cancel)
    n_test = run.get("n_test")
    if n_test is not None and len(data) != int(n_test):
        raise ValueError(f"the test split now has {len(data)} images but the run used {n_test}: "
                         "the dataset changed since, so its misclassified examples cannot be shown")
    show = mis[:limit]
    if show.size and (show.max() >= len(data) or show.min() < 0):
        raise ValueError("the stored misclassified indices do not fit the test split")
    yield Progress(1, 2, "tiling the misclassified examples")
    image, cells = mosaic(data.images[show], cols=cols, pad=3, label_space=14)
    names = classes or tuple(str(i) for i in range(int(max(data.labels.max(), pred.max(initial=0))) + 1))

    def name(i: int) -> str:
        return names[i] if 0 <= i < len(names) else str(i)

    true = tuple(name(int(data.labels[i])) for i in show)
    predicted = tuple(name(int(p)) for p in pred[: len(show)])
    return Gallery(image, cells, true, predicted, tuple(int(i) for i in show), int(len(mis)))


def confusion_uint8(confusion: Any) -> np.ndarray:
    """Row-normalised (per true class) confusion matrix scaled to 0..255, uint8, C-contiguous."""
    m = np.asarray(confusion, dtype=np.float64)
    if m.ndim != 2 or m.size == 0:
        return np.zeros((1, 1), np.uint8)
    rows = m.sum(axis=1, keepdims=True)
    frac = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    return np.ascontiguousarray(np.round(frac * 255.0).astype(np.uint8))
