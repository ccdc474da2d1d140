"""Recording the live view to a video file on the loop's clock (``Recorder``), and fitting a frame of another size
into a recording's (``letterbox``). Qt-free; used by ``app.live.pipeline.LiveLoop``."""

from __future__ import annotations

from pathlib import Path

import numpy as np


# --- recording ------------------------------------------------------------------------------------------------
MAX_GAP_S = 2.0  # a pause between two recorded frames longer than this is cut to one frame's time


class Recorder:
    """Writes composites to a video file (cv2.VideoWriter, MJPG .avi or mp4v .mp4) at a fixed size and rate.

    Given each frame's time (``write(rgb, t)``, the loop's clock), the frames are laid on that clock: a frame is
    repeated until the next one's time slot (a loop slowed by load, after the rate was chosen) and a frame that
    falls in a slot already written is left out (a loop that sped up), so the video plays at the pace it ran
    whatever the loop's rate did while recording (before, every frame was written once at the rate measured when
    recording started: a loop that fell from 40 to 4 FPS under load played back ten times too fast). A pause of
    more than ``MAX_GAP_S`` (paused, single steps) is cut to one frame's time, not filled with copies. Without
    times every frame is written once."""

    def __init__(self, path: str | Path, fps: float = 15.0, height: int = 360) -> None:
        self.path = Path(path)
        self.fps, self.height = float(fps), int(height)
        self._writer = None
        self._size: tuple[int, int] | None = None
        self.frames = 0  # frames in the file
        self.repeated = 0  # of them, copies that fill a slower loop's slots
        self.dropped = 0  # frames left out (their slot was written)
        self.cuts = 0  # pauses over MAX_GAP_S cut short
        self._t0: float | None = None
        self._t_last = 0.0
        self._last: np.ndarray | None = None

    def write(self, rgb: np.ndarray, t: float | None = None) -> None:
        frame = self._prepare(rgb)
        if t is None:
            self._put(frame)
            return
        t = float(t)
        if self._t0 is None:
            self._t0 = t
        elif t - self._t_last > MAX_GAP_S:
            self._t0 += (t - self._t_last) - 1.0 / self.fps
            self.cuts += 1
        self._t_last = t
        slot = int(np.floor((t - self._t0) * self.fps + 1e-6))
        while self._last is not None and self.frames < slot:
            self._put(self._last)
            self.repeated += 1
        if self.frames <= slot:
            self._put(frame)
        else:
            self.dropped += 1
        self._last = frame

    def _prepare(self, rgb: np.ndarray) -> np.ndarray:
        import cv2

        if self._writer is None:
            h, w = rgb.shape[:2]
            w += w % 2
            h += h % 2
            self._size = (w, h)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter_fourcc(*("mp4v" if self.path.suffix.lower() == ".mp4" else "MJPG"))
            wr = cv2.VideoWriter(str(self.path), fourcc, self.fps, self._size)
            if not wr.isOpened():
                raise OSError(f"cannot write a video to {self.path} (try an .avi file name)")
            self._writer = wr
        if (rgb.shape[1], rgb.shape[0]) != self._size:
            rgb = letterbox(rgb, self._size)
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)

    def _put(self, bgr: np.ndarray) -> None:
        self._writer.write(bgr)
        self.frames += 1

    def summary(self) -> str:
        """'Recording saved: PATH (N frames, S s; ...)' for the status line."""
        notes = [f"{self.frames} frames, {self.frames / self.fps:.3g} s"]  # its rate was said when it started
        if self.repeated:
            notes.append(f"{self.repeated} repeated where the loop ran slower")
        if self.dropped:
            notes.append(f"{self.dropped} left out where it ran faster")
        if self.cuts:
            notes.append(f"{self.cuts} pause{'s' if self.cuts > 1 else ''} over {MAX_GAP_S:g} s cut short")
        return f"Recording saved: {self.path} ({'; '.join(notes)})"

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


def letterbox(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``rgb`` scaled to fit ``size`` (W, H) with its aspect kept, centred on the mosaic's gap colour: a recording's
    frames all have its first frame's size, and a composite that changed shape (a pane added, more maps per page) was
    stretched to it."""
    import cv2

    from app.imaging.maps import GAP

    W, H = size
    h, w = rgb.shape[:2]
    s = min(W / w, H / h)
    nw, nh = max(1, min(W, round(w * s))), max(1, min(H, round(h * s)))
    out = np.full((H, W, 3), GAP, np.uint8)
    y0, x0 = (H - nh) // 2, (W - nw) // 2
    out[y0:y0 + nh, x0:x0 + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    return out
