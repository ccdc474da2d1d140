"""What crosses between the Live GUI and its worker: configurations (the GUI replaces them, the worker reads the
newest) and results (frozen snapshots holding numpy copies only). Qt-free."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from app.imaging.layout import GridLayout
from app.live import mosaic as mz
from app.live.sources import SourceConfig
from app.live.stats import MapStats
from app.metrics import percent
from app.models.spec import ModelSpec

CONTRASTS = ("map", "shared")  # per-map ranges, or one range for every shown map of every pane
# the forward pass's arithmetic (``app.live.precision.forward_dtype``): "auto" float16 on CUDA (unless the engine was
# made with amp=False), float32 elsewhere; "full" float32 everywhere; "fast" float16 on CUDA, bfloat16 on a CPU that
# has it natively (AVX-512 BF16 / AMX: 1.3-1.6x the frames on this machine's Xeon), else float32
PRECISIONS = ("auto", "full", "fast")


# --- configuration ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PaneConfig:
    spec: ModelSpec
    layer: int | None = None  # index into feature_info; None: a default (deepest layer of stride <= 2)
    page: int = 0  # channel page
    per_page: int = 16  # maps per page (a huge number: every channel)
    focus: int | None = None  # a channel shown enlarged (with a colour bar), None: the mosaic
    aspect: float = 0.0  # width / height of this pane's view (0: LiveConfig.aspect)
    predict: bool = False  # the model's own classifier's top-5 on each frame (a full forward; trained models)
    head: str | None = None  # a stored probe head (its .json path, app.probe.head_export) whose top-5 to show


@dataclass(frozen=True)
class LiveConfig:
    source: SourceConfig = SourceConfig()
    panes: tuple[PaneConfig, ...] = ()
    colormap: str = "viridis"
    size: tuple[int, int] = (240, 320)  # largest H x W the models see (aspect kept); (0, 0): the frame's own size
    paused: bool = False
    tile_max: tuple[int, int] = (96, 128)  # largest tile in a mosaic (bigger maps are average-pooled down)
    aspect: float = 1.0  # target width/height of a pane's mosaic (where the pane does not say)
    symmetric: bool | None = None  # None: symmetric (0 at the centre) for diverging colour maps
    max_fps: float = 30.0  # cap of the loop (0: as fast as possible; the GUI never shows more than ~30 Hz)
    contrast: str = "map"  # "map": each map its own range; "shared": one range across maps and panes
    stats_every: float = 0.25  # seconds between two statistics updates of a pane (0: every frame)
    precision: str = "auto"  # one of PRECISIONS


# --- results ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prediction:
    """Top classes of one classifier on one frame (``app.live.predict``)."""

    title: str  # which classifier: the model's own, or a probe head (its run, layer, pooling, dataset)
    top: tuple[tuple[str, float], ...]  # (class name, probability or score), highest first
    note: str = ""  # how the frame was fed to it
    kind: str = "model"  # "model": the network's own classifier; "head": a probe head
    error: str | None = None
    scores: str = ""  # "": ``top`` holds softmax probabilities (the model's own classifier, a logistic head); else
    # the head whose raw scores it holds ("ridge", "svm"): its outputs are no probabilities, a softmax of them is none
    span: tuple[float, float] = (0.0, 1.0)  # the values at the two ends of a bar: 0..1, or the lowest and the
    # highest of the head's scores over every class on this frame

    def value_text(self, v: float) -> str:
        """One class's value as shown: "97%", or "score 0.84" for a head whose scores are no probabilities."""
        return f"score {v:.3g}" if self.scores else percent(v, 0)

    def bar(self, v: float) -> float:
        """The filled fraction of one class's bar: its probability, or its score's place in ``span``."""
        lo, hi = self.span
        return max(0.0, min(1.0, (v - lo) / (hi - lo))) if hi > lo else 1.0

    def meaning(self) -> str:
        """What the numbers are, for the tooltip."""
        if self.scores:
            return (f"scores of a {self.scores} head, not probabilities (its one-vs-rest outputs; a softmax of them "
                    "would be no probability either); a bar is where its score lies between the lowest (empty) and "
                    "the highest (full) score over every class on the frame")
        return "softmax probabilities"

    def describe(self) -> str:
        if self.error:
            return self.error
        return "  ".join(f"{name} {self.value_text(p)}" for name, p in self.top)


@dataclass(frozen=True)
class PaneResult:
    label: str
    mosaic: np.ndarray | None  # RGB uint8 (H, W, 3), C-contiguous; None when the pane failed
    grid: GridLayout | None = None
    layer: int = 0
    layers: tuple[tuple[str, int, int], ...] = ()  # (name, channels, stride) of every tappable layer
    first: int = 0  # first channel shown
    count: int = 0  # channels shown
    channels: int = 0  # channels in the layer
    focus: int | None = None
    lo: float = 0.0  # value range of the colours: the focused map's, or the shared one
    hi: float = 0.0
    map_size: tuple[int, int] = (0, 0)  # (H, W) of the layer's maps
    ms: float = 0.0  # this pane's time: model + mosaic (+ its share of pre-processing)
    error: str | None = None
    values: np.ndarray | None = None  # read-only float32 (count, h, w): the shown maps as tiled (block means)
    factor: int = 1  # map pixels per value pixel (the shrink factor)
    shared: bool = False  # lo..hi is the range shared by every map of every pane
    stats: MapStats | None = None
    predictions: tuple[Prediction, ...] = ()  # the model's own top-5 and/or an attached probe head's
    classifier: bool = False  # the model has a trained classifier of its own (its top-5 can be shown)
    note: str = ""  # how the model runs in Live (e.g. its batch norms folded into its convolutions), for a tooltip

    def channel_at(self, x: float, y: float) -> int | None:
        """The channel under mosaic pixel (x, y) (None: a gap, or a focused single map)."""
        if self.grid is None or self.focus is not None:
            return None
        i = self.grid.index_at(x, y)
        return None if i is None else self.first + i

    def value_at(self, x: float, y: float) -> tuple[int, int, int, float] | None:
        """(channel, row, col in the layer's map, value) under mosaic pixel (x, y); None in a gap or outside."""
        if self.values is None or x < 0 or y < 0:
            return None
        if self.focus is not None:
            i, ty, tx, ch = 0, int(y), int(x), self.focus
        else:
            if self.grid is None:
                return None
            i = self.grid.index_at(x, y)
            if i is None:
                return None
            oy, ox = self.grid.origin(i)
            ty, tx, ch = int(y) - oy, int(x) - ox, self.first + i
        if i >= len(self.values) or not (0 <= ty < self.values.shape[1] and 0 <= tx < self.values.shape[2]):
            return None
        return ch, ty * self.factor, tx * self.factor, float(self.values[i, ty, tx])

    def hover_text(self, x: float, y: float) -> str | None:
        """The hover read-out under mosaic pixel (x, y) (None in a gap or outside). Channels are numbered from 1 with
        their index from 0 beside (``analyze --channel`` and Insight take the index); rows and columns count from 0
        in the layer's map. A map shown shrunk (``factor`` f > 1) has one value per f x f block: the read-out names
        the block's rows and columns and says the value is their mean."""
        hit = self.value_at(x, y)
        if hit is None:
            return None
        ch, row, col, value = hit
        f = max(1, int(self.factor))
        if f == 1:
            return f"{channel_name(ch)} · row {row}, col {col} · value {value:.4g}"
        mh, mw = self.map_size
        r1 = min(row + f, mh) - 1 if mh > 0 else row + f - 1
        c1 = min(col + f, mw) - 1 if mw > 0 else col + f - 1
        return f"{channel_name(ch)} · rows {row}–{r1}, cols {col}–{c1} · {f}x{f} block mean {value:.4g}"

    def channels_text(self) -> str:
        """Which channels the pane shows, numbered from 1 with their indices (from 0) beside."""
        mh, mw = self.map_size
        if self.focus is not None:
            return f"{channel_name(self.focus)} of {self.channels}, {mh}x{mw} (enlarged)"
        a, b = self.first, self.first + max(1, self.count) - 1
        if a == b:
            return f"{channel_name(a)} of {self.channels}, {mh}x{mw} (HxW)"
        return (f"channels {a + 1}–{b + 1} (indices {a}–{b}) of {self.channels}, {mh}x{mw} each (HxW)")


CHANNEL_NUMBERING = ("Channels are numbered from 1 here; the index beside each number counts from 0, as "
                     "`analyze --channel` and Insight do (channel 3 is index 2).")


def channel_name(ch: int) -> str:
    """A channel as Live names it: its number from 1 and its index from 0 ("channel 3 (index 2)")."""
    return f"channel {int(ch) + 1} (index {int(ch)})"


@dataclass(frozen=True)
class LiveFrame:
    index: int
    frame: np.ndarray  # RGB uint8 input as the models saw it (processing size)
    panes: tuple[PaneResult, ...]
    source: str
    fps: float  # loop rate (frames published per second over the last 12 played); 0: no rate (paused, a step, the
    # first frame after opening a source or resuming)
    latency_ms: float  # the frame there -> every mosaic ready: read_ms + processing (wait_ms not in it)
    read_ms: float  # reading/decoding the frame (a paced video's wait for it to be due not included)
    colormap: str
    symmetric: bool
    captured: float = field(default=0.0)  # time.monotonic() when the frame was read
    caption: str = ""  # about this frame (a dataset sample's label)
    wait_ms: float = 0.0  # the source's wait for this frame to be due (a video file paced at its own rate, like
    # the interval of a camera): the time between frames, not latency

    def composite(self, height: int = 360) -> np.ndarray:
        """Input and every pane side by side (RGB uint8): what snapshots and recordings save."""
        return mz.compose([self.frame] + [p.mosaic for p in self.panes if p.mosaic is not None], height)


@dataclass(frozen=True)
class LiveStatus:
    message: str
    level: str = "info"  # info, warning, error
    running: bool = True  # False: the source is closed (error, end); Play/Retry reopens it
    opened: bool = False  # True: a source has just been opened (frames follow)
