"""The synthetic scene: a Live source that needs no hardware and no files (a slow pan/zoom over scikit-learn's
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
    """A moving scene: slow pan/zoom over a photo, a rotating grating, oriented edges, a moving disc and square.

    Deterministic in the frame index (``t`` advances by ``1/rate`` per read), so tests can rely on it.
    """

    def __init__(self, width: int = 320, height: int = 240, rate: float = 30.0) -> None:
        self.width, self.height, self.rate = int(width), int(height), float(rate)
        self.description = f"Synthetic scene {self.height}x{self.width}"
        self._photo: np.ndarray | None = None
        self._i = 0
        self._grating: np.ndarray | None = None

    MAX_DRAW = 640  # the scene is drawn at most this wide/high, then scaled up (HD frames stay cheap)

    def open(self) -> None:
        if self.width < 16 or self.height < 16:
            raise SourceError(f"synthetic scene: size {self.height}x{self.width} is too small (at least 16x16)")
        self._photo = _sample_photo()
        f = min(1.0, self.MAX_DRAW / max(self.width, self.height))
        self._dw, self._dh = max(16, round(self.width * f)), max(16, round(self.height * f))
        s = max(8, min(self._dw, self._dh) // 6)
        yy, xx = np.mgrid[-s:s, -s:s].astype(np.float32)
        self._grating_r = s
        self._grating_xy = (xx, yy)
        self._i = 0

    def read(self) -> np.ndarray:
        if self._photo is None:
            raise SourceError("synthetic scene: read() before open()")
        t = self._i / self.rate
        self._i += 1
        W, H = self._dw, self._dh
        ph, pw = self._photo.shape[:2]
        # pan/zoom: scale so the view covers the photo, then zoom 1.0..1.6 and drift the centre slowly
        base = max(W / pw, H / ph)
        zoom = base * (1.3 + 0.3 * math.sin(2 * math.pi * t / 11.0))
        cx = pw / 2 + (pw / 2 - W / (2 * zoom)) * 0.9 * math.sin(2 * math.pi * t / 17.0)
        cy = ph / 2 + (ph / 2 - H / (2 * zoom)) * 0.9 * math.sin(2 * math.pi * t / 13.0 + 1.0)
        M = np.array([[zoom, 0, W / 2 - zoom * cx], [0, zoom, H / 2 - zoom * cy]], dtype=np.float64)
        frame = cv2.warpAffine(self._photo, M, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        u = min(W, H)
        # a rotating sinusoidal grating in a circular window (edges at every orientation over time)
        r = self._grating_r
        xx, yy = self._grating_xy
        ang = 2 * math.pi * t / 8.0
        period = max(4.0, r / 3.0)
        g = np.cos((xx * math.cos(ang) + yy * math.sin(ang)) * (2 * math.pi / period))
        mask = (xx * xx + yy * yy) < r * r
        gx = int(W * 0.78 + 0.08 * W * math.sin(2 * math.pi * t / 9.0))
        gy = int(H * 0.30)
        y0, x0 = gy - r, gx - r
        ys, xs = slice(max(0, y0), min(H, y0 + 2 * r)), slice(max(0, x0), min(W, x0 + 2 * r))
        sub = frame[ys, xs]
        gm = g[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
        mm = mask[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
        val = (127.5 + 127.5 * gm)[..., None].astype(np.uint8)
        sub[mm] = np.broadcast_to(val, gm.shape + (3,))[mm]
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
        if (W, H) != (self.width, self.height):
            frame = cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        return frame

    def close(self) -> None:
        self._photo = None


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
