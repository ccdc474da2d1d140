"""Draw the app icon (resources/icons/app.png): a Gabor kernel on the diverging map, in a rounded square.

    python resources/make_icon.py

Uses only numpy, the app's own colour map and OpenCV to write the PNG (RGBA, 256x256).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make(size: int = 256) -> np.ndarray:
    from app import colormaps
    from app.kernels.generators import gabor_kernel

    g = gabor_kernel(size, np.pi / 4, size / 3.2, 0.0, sigma=size / 5.5, gamma=0.8)
    u, _ = colormaps.to_uint8_symmetric(g)
    rgb = colormaps.apply(u, "coolwarm").astype(np.float32)
    # a 9x9 pixel grid laid over it, as in the editor
    cell = size / 9
    y, x = np.mgrid[0:size, 0:size]
    grid = ((x % cell) < 2) | ((y % cell) < 2)
    rgb[grid] = rgb[grid] * 0.75
    # rounded-square alpha mask
    r = size * 0.18
    cx = np.clip(x, r, size - 1 - r)
    cy = np.clip(y, r, size - 1 - r)
    inside = (x - cx) ** 2 + (y - cy) ** 2 <= r * r
    alpha = np.where(inside, 255, 0).astype(np.uint8)
    return np.dstack([np.round(rgb).astype(np.uint8), alpha])


def main() -> int:
    import cv2

    rgba = make()
    out = ROOT / "resources" / "icons" / "app.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    bgra = rgba[:, :, [2, 1, 0, 3]]
    if not cv2.imwrite(str(out), bgra):
        print(f"could not write {out}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
