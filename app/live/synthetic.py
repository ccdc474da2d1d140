"""The synthetic scene: a Live source that needs no hardware and no files (a slow pan over scikit-learn's
sample photo plus moving bars, edges and blobs at several orientations), and ``write_test_video``, the camera
stand-in for tests and demos."""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np

from app.live.sources import FrameSource, SourceError


def _sample_photo() -> np.ndarray:
    """scikit-learn's bundled sample photo (RGB), read with OpenCV (ships offline); a procedural one otherwise."""
    try:
        import sklearn

        p = Path(sklearn.__file__).parent / "datasets" / "images" / "china.jpg"
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is not None:
            return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    except Exception:  # pragma: no cover - sklearn is a dependency; this is a belt-and-braces fallback
        pass
    yy, xx = np.mgrid[0:427, 0:640].astype(np.float32)
    r = 128 + 100 * np.sin(xx / 37.0) * np.cos(yy / 23.0)
    g = 128 + 100 * np.sin((xx + yy) / 51.0)
    b = 128 + 100 * np.cos(np.hypot(xx - 320, yy - 213) / 19.0)
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


class SyntheticSource(FrameSource):
    """A moving scene: a slow pan over a photo, a rotating grating, oriented edges, a moving disc and square.

    Drawn at the frame's own size, uint8 throughout, from pieces made once in ``open``: the photo is scaled once to a
    canvas 1.3x the frame (the view covers it), and each frame is an integer-offset slice of that canvas (the pan: no
    zoom, no per-frame resampling of the whole frame), with the grating (a small float patch) and the shapes drawn on
    it (about 1 ms at 1080x1920 on one core; the earlier pan/zoom drew at most 640 wide and scaled every frame up).
    Each read returns new memory. Deterministic in the frame index (``t`` advances by ``1/rate`` per read), so tests
    can rely on it.
    """

    ZOOM = 1.3  # the canvas is the photo scaled to cover the frame, times this: the margin the pan moves over

    def __init__(self, width: int = 320, height: int = 240, rate: float = 30.0) -> None:
        self.width, self.height, self.rate = int(width), int(height), float(rate)
        self.description = f"Synthetic scene {self.height}x{self.width}"
        self._canvas: np.ndarray | None = None
        self._i = 0

    def open(self) -> None:
        if self.width < 16 or self.height < 16:
            raise SourceError(f"synthetic scene: size {self.height}x{self.width} is too small (at least 16x16)")
        photo = _sample_photo()
        W, H = self.width, self.height
        ph, pw = photo.shape[:2]
        z = max(W / pw, H / ph) * self.ZOOM
        cw, chh = max(W, round(pw * z)), max(H, round(ph * z))
        self._canvas = cv2.resize(photo, (cw, chh), interpolation=cv2.INTER_AREA if z < 1 else cv2.INTER_LINEAR)
        r = max(8, min(W, H) // 6)
        yy, xx = np.mgrid[-r:r, -r:r].astype(np.float32)
        self._grating_r = r
        self._grating_xy = (xx, yy)
        self._grating_mask = ((xx * xx + yy * yy) < r * r).astype(np.uint8)  # the circular window
        self._i = 0

    def read(self) -> np.ndarray:
        if self._canvas is None:
            raise SourceError("synthetic scene: read() before open()")
        t = self._i / self.rate
        self._i += 1
        W, H = self.width, self.height
        ch, cw = self._canvas.shape[:2]
        # the pan: the view's corner drifts slowly over the canvas (whole pixels: a slice, then one copy)
        x0 = round((cw - W) / 2 * (1 + 0.9 * math.sin(2 * math.pi * t / 17.0)))
        y0 = round((ch - H) / 2 * (1 + 0.9 * math.sin(2 * math.pi * t / 13.0 + 1.0)))
        frame = self._canvas[y0:y0 + H, x0:x0 + W].copy()
        u = min(W, H)
        # a rotating sinusoidal grating in a circular window (edges at every orientation over time)
        r = self._grating_r
        gx = int(W * 0.78 + 0.08 * W * math.sin(2 * math.pi * t / 9.0))
        gy = int(H * 0.30)
        y0, x0 = gy - r, gx - r
        ys, xs = slice(max(0, y0), min(H, y0 + 2 * r)), slice(max(0, x0), min(W, x0 + 2 * r))
        if ys.stop > ys.start and xs.stop > xs.start:
            xx, yy = self._grating_xy
            ang = 2 * math.pi * t / 8.0
            wn = 2 * math.pi / max(4.0, r / 3.0)  # wavenumber; period: a third of the radius, at least 4 pixels
            gys, gxs = slice(ys.start - y0, ys.stop - y0), slice(xs.start - x0, xs.stop - x0)
            ph = cv2.addWeighted(xx[gys, gxs], wn * math.cos(ang), yy[gys, gxs], wn * math.sin(ang), 0.0)
            g = cv2.convertScaleAbs(np.cos(ph, out=ph), alpha=127.5, beta=127.5)  # 0..255, rounded
            sub = frame[ys, xs]  # a view: copyTo writes into the frame
            cv2.copyTo(cv2.cvtColor(g, cv2.COLOR_GRAY2RGB), self._grating_mask[gys, gxs], sub)
        # oriented bars (three orientations, drifting)
        for k, a in enumerate((0.0, math.pi / 4, math.pi / 2)):
            cx_ = W * (0.15 + 0.12 * k) + 0.05 * W * math.sin(2 * math.pi * t / (5.0 + k))
            cy_ = H * 0.78
            L = u * 0.18
            dx, dy = L * math.cos(a + 0.3 * math.sin(t)), L * math.sin(a + 0.3 * math.sin(t))
            cv2.line(frame, (int(cx_ - dx), int(cy_ - dy)), (int(cx_ + dx), int(cy_ + dy)),
                     (255, 255, 255) if k % 2 == 0 else (0, 0, 0), max(2, u // 60), cv2.LINE_AA)
        # a moving red disc and a rotating blue square (colour edges)
        cxd = int(W * (0.5 + 0.35 * math.sin(2 * math.pi * t / 7.0)))
        cyd = int(H * (0.5 + 0.25 * math.cos(2 * math.pi * t / 7.0)))
        cv2.circle(frame, (cxd, cyd), max(3, u // 14), (230, 40, 40), -1, cv2.LINE_AA)
        sq = cv2.boxPoints(((W * 0.30, H * 0.30), (u * 0.16, u * 0.16), math.degrees(t * 0.7)))
        cv2.fillConvexPoly(frame, sq.astype(np.int32), (40, 60, 220), cv2.LINE_AA)
        return frame

    def close(self) -> None:
        self._canvas = None


def write_test_video(path: str | os.PathLike, frames: int = 30, width: int = 160, height: int = 120,
                     fps: float = 15.0) -> Path:
    """Write a short synthetic video (MJPG .avi) with cv2.VideoWriter: the camera stand-in for tests and demos."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter_fourcc(*"MJPG")
    w = cv2.VideoWriter(str(path), fourcc, fps, (width, height))
    if not w.isOpened():
        raise SourceError(f"cannot write a video to {path}")
    src = SyntheticSource(width, height)
    src.open()
    try:
        for _ in range(frames):
            w.write(cv2.cvtColor(src.read(), cv2.COLOR_RGB2BGR))
    finally:
        w.release()
        src.close()
    return path
