"""Kernel maths for the workbench: editing (symmetry, zero-sum), images, responses, FFTs and mosaics.

Everything the Kernel Workbench shows is computed here (numpy/torch, no Qt); widgets only display the uint8
RGB mosaics (row-major, C-contiguous) and map clicks through ``GridLayout.index_at``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.data.imagesize import decode_image
from app.errors import AppError, LimitError
from app.imaging import LUMA, colormaps
from app.imaging.layout import GridLayout
from app.imaging.layout import layout as grid_layout
from app.imaging.mosaic import tile
from app.imaging.scale import to_uint8_symmetric
from app.kernels.bank import KernelBank

# --- editing -------------------------------------------------------------------------------------------------
SYMMETRIES = ("none", "mirror x", "mirror y", "mirror x+y", "rotational 180", "rotational 90")
SYMMETRY_HELP = {
    "none": "each cell is edited alone",
    "mirror x": "left-right mirror: painting (r, c) also paints (r, k-1-c)",
    "mirror y": "top-bottom mirror: painting (r, c) also paints (k-1-r, c)",
    "mirror x+y": "both mirrors (4 cells at once)",
    "rotational 180": "point symmetry: (r, c) and (k-1-r, k-1-c)",
    "rotational 90": "4-fold rotation: the cell and its 90, 180, 270 degree rotations",
}


def symmetric_cells(k: int, r: int, c: int, mode: str) -> list[tuple[int, int]]:
    """The cells that an edit of (r, c) touches under a symmetry mode (the cell itself first)."""
    if mode not in SYMMETRIES:
        raise ValueError(f"unknown symmetry {mode!r}; known: {', '.join(SYMMETRIES)}")
    m = k - 1
    cells = [(r, c)]
    if mode in ("mirror x", "mirror x+y"):
        cells.append((r, m - c))
    if mode in ("mirror y", "mirror x+y"):
        cells.append((m - r, c))
    if mode == "mirror x+y":
        cells.append((m - r, m - c))
    if mode == "rotational 180":
        cells.append((m - r, m - c))
    if mode == "rotational 90":
        cells += [(c, m - r), (m - r, m - c), (m - c, r)]
    out: list[tuple[int, int]] = []
    for cell in cells:
        if cell not in out:
            out.append(cell)
    return out


def symmetrize(kernel2d: np.ndarray, mode: str) -> np.ndarray:
    """Project a kernel onto a symmetry (average over the symmetry group)."""
    k = np.asarray(kernel2d, dtype=np.float64)
    if mode == "none":
        return k.astype(np.float32)
    views = {
        "mirror x": [k, k[:, ::-1]],
        "mirror y": [k, k[::-1, :]],
        "mirror x+y": [k, k[:, ::-1], k[::-1, :], k[::-1, ::-1]],
        "rotational 180": [k, np.rot90(k, 2)],
        "rotational 90": [k, np.rot90(k, 1), np.rot90(k, 2), np.rot90(k, 3)],
    }[mode]
    return np.mean(views, axis=0).astype(np.float32)


def zero_sum(kernel2d: np.ndarray, keep: list[tuple[int, int]] | None = None) -> np.ndarray:
    """Shift the cells not in ``keep`` by one common amount so the kernel sums to zero.

    A common shift preserves every symmetry. When every cell is kept (or ``keep`` is None), all cells shift.
    """
    k = np.asarray(kernel2d, dtype=np.float64).copy()
    free = np.ones(k.shape, dtype=bool)
    for r, c in keep or []:
        free[r, c] = False
    if not free.any():
        free[:] = True
    k[free] -= k.sum() / free.sum()
    return k.astype(np.float32)


def paint(kernel2d: np.ndarray, cells: list[tuple[int, int]], value: float, symmetry: str = "none",
          zero_sum_constraint: bool = False) -> np.ndarray:
    """Set ``cells`` (and their symmetric partners) to ``value``; optionally keep the kernel's sum at zero."""
    k = np.array(kernel2d, dtype=np.float32, copy=True)
    n = k.shape[0]
    touched: list[tuple[int, int]] = []
    for r, c in cells:
        if not (0 <= r < n and 0 <= c < n):
            raise IndexError(f"cell ({r}, {c}) is outside the {n}x{n} kernel")
        for cell in symmetric_cells(n, r, c, symmetry):
            if cell not in touched:
                touched.append(cell)
    for r, c in touched:
        k[r, c] = np.float32(value)
    if zero_sum_constraint:
        k = zero_sum(k, touched)
    return k


def fit_kernel(src: np.ndarray, in_channels: int, size: int) -> np.ndarray:
    """Adapt a copied kernel (C, k, k) to another bank's (in_channels, size, size) for pasting.

    Sizes: centre crop or zero-pad. Channels, by the generators' 1/c rule (a grey image repeated on c channels gives
    the 1-channel response): one channel is repeated on c channels scaled 1/c; c channels pasted into a 1-channel
    bank are summed (the kernel a grey image sees); otherwise the counts must match.
    """
    src = np.asarray(src, dtype=np.float32)
    if src.ndim == 2:
        src = src[None]
    c, k, _ = src.shape
    if c != in_channels:
        if c == 1:
            src = (np.repeat(src.astype(np.float64), in_channels, axis=0) / in_channels).astype(np.float32)
        elif in_channels == 1:
            src = src.astype(np.float64).sum(0, keepdims=True).astype(np.float32)
        else:
            raise ValueError(f"cannot paste a {c}-channel kernel into a bank with {in_channels} input channels")
    out = np.zeros((in_channels, size, size), dtype=np.float32)
    if size >= k:
        a = (size - k) // 2
        out[:, a:a + k, a:a + k] = src
    else:
        a = (k - size) // 2
        out[:] = src[:, a:a + size, a:a + size]
    return out


def kernel_to_text(kernel2d: np.ndarray) -> str:
    """Tab-separated rows (pastes into a spreadsheet)."""
    return "\n".join("\t".join(f"{float(v):.6g}" for v in row) for row in np.asarray(kernel2d))


def channels_to_text(kernel: np.ndarray) -> str:
    """Every channel of a (C, k, k) kernel as ``kernel_to_text``; with several channels each block after a line naming
    it ("channel 2"), the blocks apart by an empty line."""
    k = np.asarray(kernel)
    if len(k) == 1:
        return kernel_to_text(k[0])
    return "\n\n".join(f"channel {i + 1}\n{kernel_to_text(c)}" for i, c in enumerate(k))


def cell_colors(kernel2d: np.ndarray, limit: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Editor colours: (k, k, 3) uint8 coolwarm around zero and (k, k) bool 'use dark text'."""
    u, _ = to_uint8_symmetric(np.asarray(kernel2d, dtype=np.float32), limit)
    rgb = colormaps.apply(u, "coolwarm")
    lum = rgb.astype(np.float32) @ np.array(LUMA, dtype=np.float32)
    return np.ascontiguousarray(rgb), lum > 140


# --- images ------------------------------------------------------------------------------------------------
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
SAMPLE_IMAGES = ("china", "flower")


class ImageLoadError(AppError):
    """An image could not be read; the message names the file."""


def load_image(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as uint8 RGB (H, W, 3). The header's width x height is checked against
    ``app.data.limits.MAX_IMAGE_PIXELS`` (or ``max_pixels``) before decoding."""
    path = Path(path)
    try:
        raw = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise ImageLoadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        img = decode_image(raw, path.name, max_pixels)
    except LimitError as exc:
        raise ImageLoadError(str(exc)) from None
    if img is None:
        raise ImageLoadError(f"{path.name}: not an image OpenCV can decode (corrupt or unsupported format)")
    return np.ascontiguousarray(img)


def sample_image(name: str = "china") -> np.ndarray:
    """scikit-learn's bundled sample photographs (china.jpg, flower.jpg), available offline. Found without importing
    scikit-learn (1-4 s with SciPy; the Kernel Workbench shows one at start-up)."""
    from importlib.util import find_spec

    if name not in SAMPLE_IMAGES:
        raise ImageLoadError(f"unknown sample image {name!r}; known: {', '.join(SAMPLE_IMAGES)}")
    spec = find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("scikit-learn is not installed: its sample images (china.jpg, flower.jpg) are missing")
    return load_image(Path(list(spec.submodule_search_locations)[0]) / "datasets" / "images" / f"{name}.jpg")


def preview(image: np.ndarray, max_side: int = 256) -> np.ndarray:
    """Downscale (area interpolation) so the longer side is at most ``max_side``; uint8 RGB kept."""
    import cv2

    img = np.asarray(image)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    img = img[:, :, :3]
    h, w = img.shape[:2]
    ph, pw = preview_shape(h, w, max_side)
    if (ph, pw) != (h, w):
        img = cv2.resize(img, (pw, ph), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(img, dtype=np.uint8)


def preview_shape(h: int, w: int, max_side: int = 256) -> tuple[int, int]:
    """The (height, width) ``preview`` gives an h x w image: the longer side at most ``max_side``, never enlarged."""
    s = max_side / max(h, w)
    return (max(1, round(h * s)), max(1, round(w * s))) if s < 1 else (h, w)


def image_for_bank(image: np.ndarray, in_channels: int) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> float32 (C, H, W) in [0, 1]: RGB for 3 channels, luminance otherwise."""
    x = np.asarray(image, dtype=np.float32) / 255.0
    if in_channels == 3:
        return np.ascontiguousarray(x.transpose(2, 0, 1))
    gray = x @ np.array(LUMA, dtype=np.float32)
    return np.ascontiguousarray(np.repeat(gray[None], in_channels, axis=0))


def responses(weights: np.ndarray, image: np.ndarray, padding: str = "replicate") -> np.ndarray:
    """Cross-correlate (like a CNN layer) a bank with an image: float32 (out, H', W').

    Padded k // 2 on every side, as the models' layers (``nn.Conv2d(padding=k // 2)``, app.models.simple / rdsn): the
    image's size for odd k, one row and column more for even k, the layer's output pixel for pixel.
    ``padding``: "replicate" (default: no fake edges at the borders) or "constant" (zeros, as nn.Conv2d).
    """
    import torch
    import torch.nn.functional as F

    w = np.asarray(weights, dtype=np.float32)
    x = image_for_bank(image, w.shape[1])
    p = w.shape[-1] // 2  # the models' padding (an even kernel's output is one pixel larger, not shifted)
    with torch.inference_mode():
        # replicate padding: image borders do not light up as fake edges in the preview
        xt = F.pad(torch.from_numpy(x)[None], (p, p, p, p), mode=padding)
        y = F.conv2d(xt, torch.from_numpy(np.array(w, dtype=np.float32, copy=True)))
    return y[0].numpy().copy()


FFT_WHAT = "of each kernel summed over its input channels: its response to grey images"


def fft_magnitude(weights: np.ndarray, pad: int = 32) -> np.ndarray:
    """|2-D FFT| of each kernel summed over its input channels, zero-padded to pad x pad, fftshifted (DC in the
    centre): float32 (out, pad, pad).

    The channel sum is the kernel a grey image sees (the same values on every channel): what ``responses`` applies
    for banks of other than 3 channels (the luminance on every channel), and the grey part of a 3-channel bank's
    response to an RGB image (its response to colour differences is not in it). A kernel whose channels cancel
    (+1 on one, -1 on another) has a zero spectrum, as its responses are zero; averaging each channel's |FFT|
    showed it as a full passband."""
    w = np.asarray(weights, dtype=np.float64)
    pad = max(pad, w.shape[-1])
    f = np.abs(np.fft.fft2(w.sum(axis=1), s=(pad, pad)))
    return np.fft.fftshift(f, axes=(-2, -1)).astype(np.float32)


# --- mosaics -------------------------------------------------------------------------------------------------
def _lut(u: np.ndarray, name: str) -> np.ndarray:
    """uint8 values -> RGB through a colour map (np.take: several times faster than fancy indexing)."""
    return np.take(colormaps.lut(name), u, axis=0)


SELECTED_RGB = (255, 140, 0)
FROZEN_RGB = (30, 30, 40)
PLAIN_RGB = (205, 205, 210)


def kernel_tiles(weights: np.ndarray, tile_px: int = 48) -> np.ndarray:
    """Each kernel as an RGB picture, nearest-neighbour upscaled: (n, s, s, 3) uint8.

    1 channel (or other than 3): the channel mean on the diverging coolwarm map, zero = white, each kernel scaled
    by its own max |w|. 3 channels: the kernel as colours (0.5 + 0.5 w / max|w|), grey = zero.
    """
    w = np.asarray(weights, dtype=np.float32)
    n, c, k, _ = w.shape
    scale = max(1, tile_px // k)
    m = w.mean(1)
    lim = np.abs(m.reshape(n, -1)).max(1)
    lim = np.where(lim > 0, lim, 1.0)
    u = np.clip(np.round(127.5 + 127.5 * m / lim[:, None, None]), 0, 255).astype(np.uint8)
    rgb = np.array(colormaps.apply(u, "coolwarm"))
    if c == 3:  # colour kernels as colours; kernels equal on all channels stay on the diverging map
        same = np.all(np.abs(w - w[:, :1]) <= 1e-6 * (np.abs(w).reshape(n, -1).max(1)[:, None, None, None] + 1e-12),
                      axis=(1, 2, 3))
        lim3 = np.abs(w.reshape(n, -1)).max(1)
        lim3 = np.where(lim3 > 0, lim3, 1.0)
        col = np.clip(np.round(127.5 + 127.5 * w / lim3[:, None, None, None]), 0, 255).astype(np.uint8)
        col = col.transpose(0, 2, 3, 1)
        rgb[~same] = col[~same]
    return np.ascontiguousarray(rgb.repeat(scale, axis=1).repeat(scale, axis=2))


def bank_mosaic(bank: KernelBank, selected: int | None = None, tile_px: int = 48,
                cols: int | None = None) -> tuple[np.ndarray, GridLayout]:
    """The bank as one picture: frozen kernels framed dark, the selected one framed orange."""
    tiles = kernel_tiles(bank.weights, tile_px)
    s = tiles.shape[1]
    ring = 3
    framed = np.empty((len(tiles), s + 4 * ring, s + 4 * ring, 3), dtype=np.uint8)
    for i, t in enumerate(tiles):
        outer = SELECTED_RGB if i == selected else (255, 255, 255)
        inner = FROZEN_RGB if bank.frozen[i] else PLAIN_RGB
        framed[i] = outer
        framed[i, ring:-ring, ring:-ring] = inner
        if not bank.frozen[i]:  # a thin frame for trainable kernels, a thick dark one for frozen
            framed[i, ring + 1:-ring - 1, ring + 1:-ring - 1] = 255
        framed[i, 2 * ring:-2 * ring, 2 * ring:-2 * ring] = t
        if bank.frozen[i]:  # a small dark corner tab: "locked"
            framed[i, ring:3 * ring + 3, ring:3 * ring + 3] = inner
    n = len(tiles)
    lay = grid_layout(n, framed.shape[1], framed.shape[2], gap=2, margin=2,
                      cols=cols or min(n, max(1, math.ceil(math.sqrt(n))) if n <= 64 else 12))
    return tile(framed, lay), lay


RESPONSE_CENTRES = ("zero", "median")


def response_mosaic(resp: np.ndarray, cols: int | None = None, gap: int = 4,
                    centre: str = "zero") -> tuple[np.ndarray, GridLayout]:
    """Responses (n, H, W) on the diverging map, each scaled by its own 99.5th percentile of |value - centre|.

    ``centre`` "zero": white is 0 (what the layer outputs); "median": white is each map's median, a zero-mean
    display in which a kernel's mean (a random kernel's offset, which lifts the whole map) saturates nothing."""
    if centre not in RESPONSE_CENTRES:
        raise ValueError(f"unknown centre {centre!r}; known: {', '.join(RESPONSE_CENTRES)}")
    resp = np.asarray(resp, dtype=np.float32)
    n, h, w = resp.shape
    if centre == "median":
        resp = resp - np.median(resp[:, ::2, ::2].reshape(n, -1), axis=1).astype(np.float32)[:, None, None]
    sub = np.abs(resp[:, ::2, ::2]).reshape(n, -1)  # robust limit: a few edge pixels do not wash it out
    q = int(sub.shape[1] * 0.995)
    lim = np.partition(sub, min(q, sub.shape[1] - 1), axis=1)[:, min(q, sub.shape[1] - 1)]
    lim = np.where(lim > 0, lim, np.abs(resp.reshape(n, -1)).max(1))
    lim = np.where(lim > 0, lim, 1.0).astype(np.float32)
    u = np.clip(resp * (127.5 / lim)[:, None, None] + 128.0, 0, 255).astype(np.uint8)
    tiles = _lut(u, "coolwarm")
    lay = grid_layout(n, h, w, gap=gap, margin=gap, cols=cols)
    return tile(tiles, lay), lay


def fft_mosaic(weights: np.ndarray, pad: int = 32, scale: int = 2, cols: int | None = None,
               gap: int = 4) -> tuple[np.ndarray, GridLayout]:
    """FFT magnitudes (DC centred) on magma, each kernel scaled to its own maximum."""
    f = fft_magnitude(weights, pad)
    n = f.shape[0]
    mx = f.reshape(n, -1).max(1)
    mx = np.where(mx > 0, mx, 1.0)
    u = np.clip(np.round(255.0 * f / mx[:, None, None]), 0, 255).astype(np.uint8)
    tiles = _lut(u, "magma").repeat(scale, axis=1).repeat(scale, axis=2)
    lay = grid_layout(n, tiles.shape[1], tiles.shape[2], gap=gap, margin=gap, cols=cols)
    return tile(tiles, lay), lay


@dataclass(frozen=True)
class Views:
    """Everything the workbench draws for one (bank, image) pair: immutable, safe to pass between threads."""
    responses: np.ndarray  # uint8 (H, W, 3)
    responses_layout: GridLayout
    fft: np.ndarray  # uint8 (H, W, 3)
    fft_layout: GridLayout
    image: np.ndarray  # uint8 (h, w, 3): the preview the responses were computed on
    seconds: float
    centre: str = "zero"  # the responses' display centre (``response_mosaic``)


def preview_side(count: int) -> int:
    """Preview size for a bank: 256 px up to 32 kernels, smaller for big banks (keeps the preview interactive)."""
    return 256 if count <= 32 else 192 if count <= 64 else 128 if count <= 128 else 96


def compute_views(bank: KernelBank, image: np.ndarray, max_side: int | None = None, centre: str = "zero") -> Views:
    """Responses + FFT mosaics of a bank on an image (downscaled to ``max_side``, default ``preview_side``);
    ``centre``: the responses' display centre, "zero" or "median" (``response_mosaic``)."""
    import time

    t0 = time.perf_counter()
    img = preview(image, max_side or preview_side(bank.out_channels))
    cols = max(1, min(bank.out_channels, 4 if bank.out_channels <= 16 else 8))
    r, rl = response_mosaic(responses(bank.weights, img), cols=cols, centre=centre)
    f, fl = fft_mosaic(bank.weights, cols=cols)
    for a in (r, f, img):
        a.setflags(write=False)
    return Views(r, rl, f, fl, img, time.perf_counter() - t0, centre)
