"""Live-only image helpers (numpy): the composite of the input and every pane that snapshots and recordings save,
and PNG writing. The per-map torch work (scaling, tiling, colour mapping) lives in ``app.imaging.maps``."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from app.imaging.maps import GAP


def compose(images: list[np.ndarray], height: int = 360, gap: int = 8, fill: int = GAP) -> np.ndarray:
    """RGB uint8 images side by side, each scaled to ``height`` (aspect kept), ``gap`` px apart; RGB uint8."""
    parts = []
    for img in images:
        if img is None or img.size == 0:
            continue
        h, w = img.shape[:2]
        nw = max(1, round(w * height / h))
        interp = cv2.INTER_AREA if height < h else cv2.INTER_NEAREST
        parts.append(cv2.resize(np.ascontiguousarray(img), (nw, height), interpolation=interp))
        parts.append(np.full((height, gap, 3), fill, np.uint8))
    if not parts:
        return np.full((height, height, 3), fill, np.uint8)
    return np.ascontiguousarray(np.concatenate(parts[:-1], axis=1))


def save_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image as PNG (``app.imaging.mosaic.save_png``: atomic, parent folders created)."""
    from app.imaging.mosaic import save_png as _save

    return _save(path, rgb)
