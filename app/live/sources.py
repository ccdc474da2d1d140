"""Frame sources for the Live view: one interface, several kinds.

A ``FrameSource`` is opened, read and closed on the *worker* thread (opening a camera can block)::

    src = make_source(SourceConfig("video", path="clip.mp4"))
    src.open()                 # raises SourceError with a message the user can act on
    frame = src.read()         # RGB uint8 (H, W, 3), C-contiguous; None at the end of a finite source
    src.close()                # idempotent

Kinds: ``synthetic`` (``app.live.synthetic``: a moving scene that needs no hardware and no files), ``camera``
(cv2.VideoCapture by index, validated first), ``video`` (a file, looped), ``image`` (a file or a folder of images,
cycled; unreadable files skipped and named), ``dataset`` (samples of ``app.data.load(name)``, with their labels).
Every source delivers frames at their own size: the pipeline resizes once, to the processing size.
"""

from __future__ import annotations

from app.errors import AppError

import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# OpenCV's own thread pool competes with torch and the GUI thread on small machines: decoding and resizing one
# frame at a time gains nothing from it. The live loop and the bench call this (and restore the previous value).
LIVE_CV_THREADS = 1


def set_cv_threads(n: int | None = LIVE_CV_THREADS) -> int:
    """Set OpenCV's thread count (process-wide); returns the previous value so the caller can restore it."""
    prev = cv2.getNumThreads()
    if n is not None:
        cv2.setNumThreads(int(n))
    return prev

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
KINDS = ("synthetic", "camera", "video", "image", "dataset")


class SourceError(AppError):
    """A source cannot be opened or read; the message says what and what to do."""


@dataclass(frozen=True)
class SourceConfig:
    kind: str = "synthetic"
    path: str = ""  # video file, image file or folder
    camera: int = 0  # camera index
    width: int = 320  # requested frame size: camera resolution, synthetic scene size (other sources: their own)
    height: int = 240
    dataset: str = "digits"  # app.data name for kind == "dataset"
    fps: float = 0.0  # pace of a video file (0: as fast as the pipeline runs; < 0: the file's own rate)

    def describe(self) -> str:
        if self.kind == "synthetic":
            return f"Synthetic scene {self.height}x{self.width}"
        if self.kind == "camera":
            return f"Camera {self.camera} ({self.height}x{self.width})"
        if self.kind == "video":
            return f"Video {Path(self.path).name}"
        if self.kind == "image":
            return f"Images {Path(self.path).name}"
        if self.kind == "dataset":
            return f"Dataset samples: {self.dataset}"
        return self.kind


class FrameSource:
    """Base class: open() / read() / close() and a description."""

    description = "source"
    caption = ""  # a line about the current frame (a dataset sample's label), shown under the input
    # ms the last read() spent waiting for its frame to be due (a video file paced at its own rate): the wait for
    # the next frame, not the cost of this one; the live loop keeps it out of the latency it shows
    wait_ms = 0.0
    # True: read() waits for each frame to be due (a camera, a video paced at its rate). The live loop then shows
    # each frame before it reads the next, never keeping one in flight (that would add a frame interval to latency)
    paced = False

    def open(self) -> None:
        raise NotImplementedError

    def read(self) -> np.ndarray | None:
        """The next RGB uint8 (H, W, 3) frame, in new memory that nothing else writes (the live loop hands it to
        the view as it is); None at the end of a stream."""
        raise NotImplementedError

    def advance(self) -> None:
        """Make the next read() deliver the next picture (a single step while paused). Sources that show each picture
        for several reads (``hold``: an image folder, dataset samples) skip the rest of its hold; the others deliver
        a new frame on every read anyway."""

    def close(self) -> None:
        pass

    def __enter__(self) -> "FrameSource":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _rgb(frame: np.ndarray) -> np.ndarray:
    """Any decoded image as RGB uint8 (H, W, 3), C-contiguous: grey replicated, alpha dropped. Never resized: the
    live pipeline resizes once, to the processing size (``app.live.pipeline.fit_size``)."""
    if frame.ndim == 2:
        frame = frame[..., None]
    if frame.shape[2] == 1:
        frame = np.repeat(frame, 3, axis=2)
    elif frame.shape[2] == 4:
        frame = frame[..., :3]
    return np.ascontiguousarray(frame)


# --- camera and video -----------------------------------------------------------------------------------------
class CameraSource(FrameSource):
    """A webcam through cv2.VideoCapture. Open it on a worker thread: a busy device can block."""

    MAX_INDEX = 99
    paced = True  # each read waits for the camera's next frame

    def __init__(self, index: int = 0, width: int = 640, height: int = 480) -> None:
        # validated before OpenCV sees it: some backends crash on a negative index (CameraSource(-1) segfaulted)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index <= self.MAX_INDEX:
            raise SourceError(f"Camera index {index!r} is not valid: use a whole number from 0 to {self.MAX_INDEX} "
                              "(0 is usually the built-in webcam)")
        self.index, self.width, self.height = int(index), int(width), int(height)
        self.description = f"Camera {self.index}"
        self._cap: cv2.VideoCapture | None = None
        self._first: np.ndarray | None = None

    def open(self) -> None:
        try:  # OpenCV prints its own backend warnings for a missing camera; our SourceError says it clearly
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        except AttributeError:  # pragma: no cover
            pass
        cap = cv2.VideoCapture(self.index)
        if not cap.isOpened():
            cap.release()
            raise SourceError(
                f"Camera {self.index} could not be opened: no camera at that index, or another program is using "
                "it. Check the cable and the index, close other apps using the camera, or pick another source."
            )
        if self.width > 0 and self.height > 0:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        # the driver's own queue (V4L2: 4 buffers) would hand a slow pipeline frames several frames old: keep one
        # (backends without the property ignore it)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        ok, frame = cap.read()
        if not ok or frame is None:
            cap.release()
            raise SourceError(f"Camera {self.index} opened but delivers no frames (busy or unplugged?)")
        h, w = frame.shape[:2]
        self.description = f"Camera {self.index} ({h}x{w})"
        self._cap = cap
        self._first = frame

    def read(self) -> np.ndarray:
        if self._cap is None:
            raise SourceError(f"Camera {self.index} is not open")
        if self._first is not None:
            frame, self._first = self._first, None
        else:
            frame = None
            for _ in range(3):  # a single dropped frame is normal; three in a row means the camera is gone
                ok, frame = self._cap.read()
                if ok and frame is not None:
                    break
                frame = None
            if frame is None:
                raise SourceError(f"Camera {self.index} stopped delivering frames (unplugged or taken by "
                                  "another program). Reconnect it and press Play, or pick another source.")
        return np.ascontiguousarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".ogv")
MAX_FRAME_COUNT = 10**8  # more frames than any real file (an hour at 240 fps is under 10**6): a count OpenCV made up


def frame_count_text(cap: cv2.VideoCapture) -> str:
    """"120 frames" from the container's header, or "frame count unknown" where OpenCV has none or a made-up one
    (negative, or INT64_MIN for a stream without an index). The header's figure is what the file claims: a truncated
    file may hold fewer (the source loops when the frames run out, whatever the count)."""
    try:
        n = float(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    except cv2.error:
        n = 0.0
    if not (1 <= n <= MAX_FRAME_COUNT):  # NaN included
        return "frame count unknown"
    n = int(n)
    return "1 frame" if n == 1 else f"{n} frames"


class VideoFileSource(FrameSource):
    """A video file, looped (``loop=False``: read() returns None at the end)."""

    def __init__(self, path: str | os.PathLike, loop: bool = True, fps: float = 0.0) -> None:
        self.path = Path(path)
        self.loop = loop
        self.fps = float(fps)
        self.paced = self.fps > 0
        self.description = f"Video {self.path.name}"
        self._cap: cv2.VideoCapture | None = None
        self._last = 0.0

    def _open_cap(self) -> cv2.VideoCapture:
        if self.path.is_dir():
            raise SourceError(f"{self.path} is a folder, not a video file: choose a video file, or the image source "
                              "for a folder of images")
        if not self.path.is_file():
            raise SourceError(f"Video file {self.path} does not exist (moved or deleted?)")
        if self.path.suffix.lower() in IMAGE_EXTS:  # OpenCV "opens" a still image as a video of unknown length
            raise SourceError(f"{self.path.name} is an image, not a video: choose the image source for it")
        try:
            empty = self.path.stat().st_size == 0
        except OSError:
            empty = False
        if empty:
            raise SourceError(f"{self.path.name} is empty (0 bytes): not a video")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            if self.path.suffix.lower() in VIDEO_EXTS:
                raise SourceError(f"{self.path.name}: OpenCV cannot decode it (a damaged file, or a codec this "
                                  "OpenCV build lacks; MJPG in .avi and H.264 in .mp4 usually work)")
            raise SourceError(f"{self.path.name}: not a video OpenCV can decode (try an .mp4 or .avi file)")
        return cap

    def open(self) -> None:
        cap = self._open_cap()
        ok, frame = cap.read()
        if not ok or frame is None:
            cap.release()
            raise SourceError(f"{self.path.name}: the video has no frames that can be decoded")
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        h, w = frame.shape[:2]
        if self.fps < 0:  # pace at the file's own frame rate, like the camera it stands in for
            f = float(cap.get(cv2.CAP_PROP_FPS) or 0)
            self.fps = f if 1 <= f <= 240 else 25.0
        self.description = f"Video {self.path.name} ({h}x{w}, {frame_count_text(cap)}" + \
            (", looped)" if self.loop else ")")
        self._cap = cap

    def read(self) -> np.ndarray | None:
        if self._cap is None:
            raise SourceError(f"{self.path.name} is not open")
        self.wait_ms = 0.0
        if self.fps > 0:  # pace a file like the camera it stands in for
            now = time.monotonic()
            wait = self._last + 1.0 / self.fps - now
            if wait > 0:
                time.sleep(wait)
                self._last = time.monotonic()
                self.wait_ms = (self._last - now) * 1000  # what a camera's frame interval is: not latency
            else:
                self._last = now
        ok, frame = self._cap.read()
        if not ok or frame is None:
            if not self.loop:
                return None
            # end of file: rewind by reopening (works for every container, and notices a deleted file)
            self._cap.release()
            self._cap = None
            self._cap = self._open_cap()
            ok, frame = self._cap.read()
            if not ok or frame is None:
                raise SourceError(f"{self.path.name}: no frames could be decoded after rewinding")
        return np.ascontiguousarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def __getattr__(name: str):
    """``ImageSource`` and ``DatasetSource`` live in ``app.live.stills`` (held pictures); importable from here."""
    if name in ("ImageSource", "DatasetSource"):
        from app.live import stills

        return getattr(stills, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_source(cfg: SourceConfig) -> FrameSource:
    if cfg.kind == "synthetic":
        from app.live.synthetic import SyntheticSource  # the scene module builds on this one

        return SyntheticSource(cfg.width, cfg.height)
    if cfg.kind == "camera":
        return CameraSource(cfg.camera, cfg.width, cfg.height)
    if cfg.kind == "video":
        if not cfg.path:
            raise SourceError("No video file chosen")
        return VideoFileSource(cfg.path, loop=True, fps=cfg.fps)
    from app.live.stills import DatasetSource, ImageSource

    if cfg.kind == "image":
        if not cfg.path:
            raise SourceError("No image file or folder chosen")
        return ImageSource(cfg.path, hold=30)
    if cfg.kind == "dataset":
        return DatasetSource(cfg.dataset)
    raise SourceError(f"unknown source kind {cfg.kind!r}; known: {', '.join(KINDS)}")
