"""The live pipeline: frame -> (every pane's model) -> one colour-mapped uint8 mosaic per pane, off the GUI thread.

Qt-free. Three parts:

- ``LiveEngine.process(frame, config)``: pre-processing, forward pass (``forward_intermediates`` up to the chosen
  layer only), per-map normalisation, tiling and colour mapping, all on the compute device (``app.device.pick()``;
  channels_last and fp16 autocast on CUDA; channels_last on CPU where it measures faster); returns a frozen
  ``LiveFrame`` holding numpy *copies* only.
- ``Mailbox``: one slot for the newest ``LiveFrame`` (a slow consumer makes the loop drop frames, never queue
  them) plus a short list of status messages; ``notify`` is called only when the mailbox goes from empty to full,
  so a GUI never gets more than one pending wake-up.
- ``LiveLoop.run(cancel)``: the thread body. Opens the source *in that thread* (a camera can block), reads, processes,
  records, publishes; reacts to config changes, pause, single steps, retries and recording requests.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from app import device as devmod
from app.imaging import colormaps, maps
from app.imaging.layout import GridLayout
from app.live import mosaic as mz
from app.live.sources import FrameSource, SourceConfig, SourceError, make_source, set_cv_threads
from app.models import inputs
from app.models.build import build
from app.models.spec import ModelSpec
from app.tasks import CancelToken

# Options that keep a backbone affordable at video resolution (the registry defaults target 32x32 inputs).
LIVE_OPTIONS: dict[str, dict[str, Any]] = {
    "rdsn": {"k": 32, "blocks": 2},
}


# --- configuration (immutable: the GUI replaces it, the worker reads the newest) -------------------------------
@dataclass(frozen=True)
class PaneConfig:
    spec: ModelSpec
    layer: int | None = None  # index into feature_info; None: a default (deepest layer of stride <= 2)
    page: int = 0  # channel page
    per_page: int = 16
    focus: int | None = None  # a channel shown enlarged (with a colour bar), None: the mosaic


@dataclass(frozen=True)
class LiveConfig:
    source: SourceConfig = SourceConfig()
    panes: tuple[PaneConfig, ...] = ()
    colormap: str = "viridis"
    size: tuple[int, int] = (240, 320)  # processing size (H, W) the models see; (0, 0): the frame's own size
    paused: bool = False
    tile_max: tuple[int, int] = (96, 128)  # largest tile in a mosaic (bigger maps are average-pooled down)
    aspect: float = 1.0  # target width/height of each pane's mosaic
    symmetric: bool | None = None  # None: symmetric (0 at the centre) for diverging colour maps
    max_fps: float = 30.0  # cap of the loop (0: as fast as possible; the GUI never shows more than ~30 Hz)


# --- results (immutable snapshots that cross to the GUI) --------------------------------------------------------
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
    lo: float = 0.0  # value range of the focused map (colour bar)
    hi: float = 0.0
    map_size: tuple[int, int] = (0, 0)  # (H, W) of the layer's maps
    ms: float = 0.0  # this pane's time: model + mosaic (+ its share of pre-processing)
    error: str | None = None

    def channel_at(self, x: float, y: float) -> int | None:
        """The channel under mosaic pixel (x, y) (None: a gap, or a focused single map)."""
        if self.grid is None or self.focus is not None:
            return None
        i = self.grid.index_at(x, y)
        return None if i is None else self.first + i


@dataclass(frozen=True)
class LiveFrame:
    index: int
    frame: np.ndarray  # RGB uint8 input as the models saw it (processing size)
    panes: tuple[PaneResult, ...]
    source: str
    fps: float  # loop rate (frames published per second, smoothed)
    latency_ms: float  # read -> every mosaic ready
    read_ms: float
    colormap: str
    symmetric: bool
    captured: float = field(default=0.0)  # time.monotonic() when the frame was read

    def composite(self, height: int = 360) -> np.ndarray:
        """Input and every pane side by side (RGB uint8): what snapshots and recordings save."""
        return mz.compose([self.frame] + [p.mosaic for p in self.panes if p.mosaic is not None], height)


@dataclass(frozen=True)
class LiveStatus:
    message: str
    level: str = "info"  # info, warning, error
    running: bool = True  # False: the source is closed (error, end); Play/Retry reopens it


# --- models ---------------------------------------------------------------------------------------------------
def build_model(spec: ModelSpec, device: torch.device) -> tuple[torch.nn.Module, inputs.InputSpec]:
    """The pane's backbone (``app.models.build.build``: eval mode, on ``device``, no gradients) and its input spec
    (``app.models.inputs.input_spec``: the weights' own, or neutral statistics for random weights: Live has no
    dataset)."""
    model = build(spec, device)
    for p in model.parameters():
        p.requires_grad_(False)
    return model, inputs.input_spec(spec, model, stats=None)


def fit_size(frame_hw: tuple[int, int], size: tuple[int, int] | None) -> tuple[int, int]:
    """The processing size of a frame: the largest H x W that fits in ``size`` with the frame's aspect (a frame is
    never distorted; (0, 0) or None: the frame's own size)."""
    h, w = int(frame_hw[0]), int(frame_hw[1])
    if not size or size[0] <= 0 or size[1] <= 0:
        return h, w
    s = min(size[0] / h, size[1] / w)
    return max(1, round(h * s)), max(1, round(w * s))


def default_layer(layers) -> int:
    """The layer a pane opens on: the deepest full-resolution (stride 1) layer past the first one, else the deepest
    layer of stride <= 2. Detailed maps, and affordable at video resolution (resnet20: layer1.2; rdsn: block1)."""
    strides = [info.stride if hasattr(info, "stride") else info[2] for info in layers]
    full = [i for i, s in enumerate(strides) if s == 1 and i >= 1]
    if full:
        return full[-1]
    best = 0
    for i, s in enumerate(strides):
        if s <= 2:
            best = i
    return best


def _spec_key(spec: ModelSpec) -> Any:
    try:
        hash(spec)
        return spec
    except TypeError:
        return spec.key()


@dataclass
class _Entry:
    model: torch.nn.Module
    inp: inputs.InputSpec | None  # None: the model could not be built (``error`` says why)
    layers: tuple[tuple[str, int, int], ...]
    channels_last: dict[tuple, bool] = field(default_factory=dict)  # (shape, layer) -> chosen memory format
    error: str | None = None
    cl_now: bool = False  # the memory format the model's weights are in now

    def set_format(self, cl: bool) -> None:
        if cl != self.cl_now:
            self.model.to(memory_format=torch.channels_last if cl else torch.contiguous_format)
            self.cl_now = cl


# how the input frame shown beside the panes is resized (the policy of a default input spec)
_SHOWN = inputs.InputSpec(3, None, (inputs.NEUTRAL_MEAN,), (inputs.NEUTRAL_STD,))


class LiveEngine:
    """Turns frames into mosaics for a set of panes. Use from one thread at a time (the live worker, or a bench).

    Each pane's model sees exactly ``app.models.inputs.to_tensor(frame[None], ispec, size=...)`` (channels, then
    one resize, then the spec's scale/shift), computed once per frame for every distinct input spec; ``size`` is the
    model's own fixed size, else the processing size ``fit_size(frame, config.size)``."""

    def __init__(self, device: torch.device | str | None = None, channels_last: str = "auto",
                 amp: bool | None = None) -> None:
        self.device = torch.device(device) if device is not None else devmod.pick()
        self.channels_last = channels_last  # "auto" (CUDA: on; CPU: measured per model), "on", "off"
        self.amp = (self.device.type == "cuda") if amp is None else amp
        self.serial_post = True  # see serial()
        self._models: dict[Any, _Entry] = {}
        self._affine: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    # models are built lazily, on the worker thread
    def entry(self, spec: ModelSpec) -> _Entry:
        key = _spec_key(spec)
        e = self._models.get(key)
        if e is None:
            try:
                model, ispec = build_model(spec, self.device)
                layers = tuple((i.name, int(i.channels), int(i.stride)) for i in model.feature_info)
                e = _Entry(model, ispec, layers)
            except Exception as exc:  # a bad spec or a broken checkpoint: the pane says so, the others go on
                e = _Entry(torch.nn.Identity(), None, (), error=str(exc) or exc.__class__.__name__)
            self._models[key] = e
        return e

    def forget_except(self, specs) -> None:
        keep = {_spec_key(s) for s in specs}
        for k in list(self._models):
            if k not in keep:
                del self._models[k]

    # --- pre-processing: the steps of inputs.to_tensor, shared between panes where they agree ------------------
    def to_tensor(self, frame: np.ndarray) -> torch.Tensor:
        """RGB uint8 (H, W, 3) -> float (1, 3, H, W) in [0, 255] on the device, in channels_last memory (the
        frame's own HWC layout; no copy besides the float conversion)."""
        x = torch.from_numpy(np.ascontiguousarray(frame)).to(self.device, non_blocking=True)
        return x[None].permute(0, 3, 1, 2).float()

    @staticmethod
    def sized(x255: torch.Tensor, ispec: inputs.InputSpec, size: tuple[int, int] | None) -> torch.Tensor:
        """Channels (LUMA grey for 1-channel models) and the one resize, as ``inputs.to_tensor`` does them."""
        return inputs.resize(inputs.convert_channels(x255, ispec.channels), size, ispec)

    def normalise(self, x: torch.Tensor, ispec: inputs.InputSpec) -> torch.Tensor:
        """``x * scale + shift`` with ``inputs.affine(ispec)``'s very numbers, in one fused multiply-add."""
        scale, shift = self._scale_shift(ispec)
        n, c, h, w = x.shape
        if c == 3 and n == 1 and x.is_contiguous(memory_format=torch.channels_last):
            # the frame's HWC memory as (H, W*3) rows, with the per-channel scale/shift repeated along a row: one
            # vectorised multiply-add over long rows instead of a broadcast whose inner loop is 3 values long
            sr, hr = self._rows(ispec, w)
            out = torch.addcmul(hr, x.permute(0, 2, 3, 1).reshape(h, w * 3), sr)
            return out.view(1, h, w, 3).permute(0, 3, 1, 2)  # (1, 3, H, W) in channels_last memory
        return torch.addcmul(shift, x, scale)  # keeps the frame's layout

    def prepare(self, frame: np.ndarray, ispec: inputs.InputSpec, size: tuple[int, int] | None = None
                ) -> torch.Tensor:
        """One frame as a model with ``ispec`` sees it at processing size ``size`` (tests and the bench)."""
        return self.normalise(self.sized(self.to_tensor(frame), ispec, ispec.size or size), ispec)

    def _scale_shift(self, ispec: inputs.InputSpec) -> tuple[torch.Tensor, torch.Tensor]:
        key = (ispec.mean, ispec.std)
        t = self._affine.get(key)
        if t is None:
            t = self._affine[key] = inputs.affine(ispec, self.device)
        return t

    def _rows(self, ispec: inputs.InputSpec, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        key = (ispec.mean, ispec.std, width)
        t = self._affine.get(key)
        if t is None:
            scale, shift = self._scale_shift(ispec)
            t = self._affine[key] = (scale.view(3).repeat(width), shift.view(3).repeat(width))
        return t

    def _use_cl(self, e: _Entry, x: torch.Tensor, layer: int) -> bool:
        if self.channels_last == "on":
            return True
        if self.channels_last == "off":
            return False
        if self.device.type != "cpu":
            return self.device.type == "cuda"
        key = (tuple(x.shape), layer)
        if key not in e.channels_last:  # measure once: which memory format is faster for this model here
            times: dict[bool, float] = {}
            inputs = {cl: x.contiguous(memory_format=torch.channels_last if cl else torch.contiguous_format)
                      for cl in (True, False)}
            for cl in (True, False):  # warm-up (first use of each format allocates and picks kernels)
                e.set_format(cl)
                e.model.forward_intermediates(inputs[cl], [layer])
            # interleaved, best of three each: one noisy sample once picked the format that was 50% slower here
            for cl in (True, False) * 3:
                e.set_format(cl)
                t0 = time.perf_counter()
                e.model.forward_intermediates(inputs[cl], [layer])
                times[cl] = min(times.get(cl, 1e9), time.perf_counter() - t0)
            e.channels_last[key] = times[True] <= times[False]
        return e.channels_last[key]

    def forward(self, e: _Entry, x: torch.Tensor, layer: int) -> torch.Tensor:
        """The (C, H, W) map of one layer, computing only up to that layer."""
        cl = self._use_cl(e, x, layer)
        e.set_format(cl)
        if cl:
            x = x.contiguous(memory_format=torch.channels_last)
        amp = torch.autocast(self.device.type, dtype=torch.float16) if self.amp and self.device.type == "cuda" \
            else nullcontext()
        with amp:
            return e.model.forward_intermediates(x, [layer])[0][0]

    @contextmanager
    def serial(self):
        """On CPU, run the small element-wise work (pre-processing, mosaic) on this thread alone.

        Each of those ~25 small ops would otherwise open an OpenMP parallel region; on a busy 2-core machine every
        region waits for a time slice for its second thread (measured: rdsn app 2.6 FPS vs bare 10 FPS with 2
        threads under load). The forward pass keeps every intra-op thread. ``torch.set_num_threads`` acts on the
        calling thread's OpenMP setting here, and the previous value is restored at once."""
        n = torch.get_num_threads()
        if self.device.type != "cpu" or n <= 1 or not self.serial_post:
            yield
            return
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(n)

    def process(self, frame: np.ndarray, cfg: LiveConfig, index: int = 0, read_ms: float = 0.0,
                source: str = "", fps: float = 0.0) -> LiveFrame:
        t0 = time.perf_counter()
        proc = fit_size(frame.shape[:2], cfg.size)
        with self.serial():
            x255 = self.to_tensor(frame)
        pre_ms = (time.perf_counter() - t0) * 1000
        sym = cfg.symmetric if cfg.symmetric is not None else cfg.colormap in colormaps.DIVERGING
        sized: dict[tuple, torch.Tensor] = {}  # (channels, size, resize policy) -> resized 0..255 input
        prepared: dict[tuple, torch.Tensor] = {}  # (input spec, size) -> the model's input
        panes = []
        for pc in cfg.panes:
            panes.append(self._pane(pc, x255, proc, sized, prepared, cfg, sym, pre_ms / max(1, len(cfg.panes))))
        if frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3 and tuple(frame.shape[:2]) == proc:
            shown = np.array(frame, order="C")  # the models saw the frame itself: a copy, no round trip
        else:
            with self.serial():
                x = self._sized(x255, _SHOWN, proc, sized)
                shown = x[0].round().to(torch.uint8).permute(1, 2, 0).contiguous().cpu().numpy().copy()
        latency = (time.perf_counter() - t0) * 1000 + read_ms
        return LiveFrame(index, shown, tuple(panes), source, fps, latency, read_ms, cfg.colormap, sym,
                         time.monotonic() - latency / 1000)

    def _sized(self, x255: torch.Tensor, ispec: inputs.InputSpec, size: tuple[int, int], cache: dict
               ) -> torch.Tensor:
        key = (ispec.channels, tuple(size), ispec.interpolation, ispec.antialias)
        x = cache.get(key)
        if x is None:
            x = cache[key] = self.sized(x255, ispec, size)
        return x

    def _input(self, x255: torch.Tensor, ispec: inputs.InputSpec, proc: tuple[int, int], sized: dict,
               prepared: dict) -> torch.Tensor:
        size = ispec.size or proc
        key = (ispec.key(), size)
        x = prepared.get(key)
        if x is None:
            with self.serial():
                x = prepared[key] = self.normalise(self._sized(x255, ispec, size, sized), ispec)
        return x

    def _pane(self, pc: PaneConfig, x255: torch.Tensor, proc: tuple[int, int], sized: dict, prepared: dict,
              cfg: LiveConfig, sym: bool, share_ms: float) -> PaneResult:
        t0 = time.perf_counter()
        label = pc.spec.label or pc.spec.backbone
        e = self.entry(pc.spec)
        if e.error:
            return PaneResult(label, None, error=f"{label}: {e.error}")
        n_layers = len(e.layers)
        layer = default_layer(e.layers) if pc.layer is None else max(0, min(pc.layer, n_layers - 1))
        try:
            x = self._input(x255, e.inp, proc, sized, prepared)
            fmap = self.forward(e, x, layer)
            if fmap.dim() != 3:
                raise ValueError(f"layer {e.layers[layer][0]} gives {tuple(fmap.shape)} maps, not (C, H, W)")
            c, h, w = fmap.shape
            per = max(1, int(pc.per_page))
            pages = max(1, math.ceil(c / per))
            page = max(0, min(pc.page, pages - 1))
            first = page * per
            count = min(per, c - first)
            if pc.focus is not None and 0 <= pc.focus < c:
                with self.serial():
                    img, lo, hi = maps.single_map(fmap, pc.focus, cfg.colormap, sym)
                    mosaic = img.cpu().numpy().copy()
                ms = (time.perf_counter() - t0) * 1000 + share_ms
                return PaneResult(label, mosaic, None, layer, e.layers, first, count, c, pc.focus, lo, hi, (h, w),
                                  ms)
            with self.serial():
                img, grid, lo_t, hi_t = maps.make_mosaic(fmap, first, count, cfg.colormap, tile_max=cfg.tile_max,
                                                       aspect=cfg.aspect, symmetric=sym)
                # the only thing that crosses to the GUI: an owned uint8 array (make_mosaic's result is new memory)
                mosaic = img.numpy() if img.device.type == "cpu" else img.cpu().numpy()
            ms = (time.perf_counter() - t0) * 1000 + share_ms
            return PaneResult(label, mosaic, grid, layer, e.layers, first, count, c, None,
                              float(lo_t.min()), float(hi_t.max()), (h, w), ms)
        except Exception as exc:  # e.g. a 1-channel model fed a frame it cannot take, out of memory
            return PaneResult(label, None, None, layer, e.layers, error=f"{label}: {exc}")


# --- mailbox: one slot for the newest frame, a few status lines ----------------------------------------------
class Mailbox:
    def __init__(self, notify: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._frame: LiveFrame | None = None
        self._messages: deque[LiveStatus] = deque(maxlen=16)
        self._notify = notify
        self.dropped = 0  # frames replaced before anyone took them

    def _put(self, fn) -> None:
        with self._lock:
            was_empty = self._frame is None and not self._messages
            fn()
        if was_empty and self._notify is not None:
            self._notify()

    def put(self, frame: LiveFrame) -> None:
        def do():
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
        self._put(do)

    def post(self, status: LiveStatus) -> None:
        self._put(lambda: self._messages.append(status))

    def take(self) -> tuple[LiveFrame | None, list[LiveStatus]]:
        with self._lock:
            f, self._frame = self._frame, None
            msgs = list(self._messages)
            self._messages.clear()
        return f, msgs


# --- recording ------------------------------------------------------------------------------------------------
class Recorder:
    """Writes composites to a video file (cv2.VideoWriter, MJPG .avi or mp4v .mp4) at a fixed size."""

    def __init__(self, path: str | Path, fps: float = 15.0, height: int = 360) -> None:
        self.path = Path(path)
        self.fps, self.height = float(fps), int(height)
        self._writer = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
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
            rgb = cv2.resize(rgb, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


# --- the loop -------------------------------------------------------------------------------------------------
class LiveLoop:
    """The body of the live worker thread. Every public method may be called from any thread."""

    def __init__(self, config: LiveConfig, mailbox: Mailbox, engine: LiveEngine | None = None,
                 open_source: Callable[[SourceConfig], FrameSource] = make_source) -> None:
        self._config = config
        self.mailbox = mailbox
        self.engine = engine
        self._open_source = open_source
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._step = 0
        self._retry = False
        self._record: tuple[str, Any] | None = None  # ("start", (path, fps)) or ("stop", None)
        self.frames = 0

    # --- requests (any thread) ---
    @property
    def config(self) -> LiveConfig:
        return self._config

    def set_config(self, cfg: LiveConfig) -> None:
        self._config = cfg  # an atomic reference swap; the loop reads the newest
        self._wake.set()

    def step(self) -> None:
        with self._lock:
            self._step += 1
        self._wake.set()

    def retry(self) -> None:
        """Reopen the source (after an error, or when the user presses Play again)."""
        with self._lock:
            self._retry = True
        self._wake.set()

    def start_recording(self, path: str | Path, fps: float = 15.0) -> None:
        with self._lock:
            self._record = ("start", (str(path), float(fps)))
        self._wake.set()

    def stop_recording(self) -> None:
        with self._lock:
            self._record = ("stop", None)
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    # --- the thread body ---
    def run(self, cancel: CancelToken) -> None:
        src: FrameSource | None = None
        src_cfg: SourceConfig | None = None
        recorder: Recorder | None = None
        last_frame: np.ndarray | None = None
        last_done: LiveConfig | None = None
        fps = 0.0
        stamps: deque[float] = deque(maxlen=12)  # publish times of the last frames: the FPS shown
        post = self.mailbox.post
        cv_prev = set_cv_threads()  # deliberately single-threaded OpenCV (torch has the cores)
        with torch.inference_mode():
            if self.engine is None:
                self.engine = LiveEngine()
            engine = self.engine
            try:
                while not cancel.cancelled:
                    cfg = self._config
                    with self._lock:
                        retry, self._retry = self._retry, False
                        rec, self._record = self._record, None
                    # recording requests
                    if rec is not None:
                        if recorder is not None:
                            recorder.close()
                            post(LiveStatus(f"Recording saved: {recorder.path} ({recorder.frames} frames)"))
                            recorder = None
                        if rec[0] == "start":
                            recorder = Recorder(rec[1][0], rec[1][1])
                            post(LiveStatus(f"Recording to {recorder.path}"))
                    # (re)open the source when it changed or on request
                    if cfg.source != src_cfg or retry:
                        stamps.clear()
                        fps = 0.0
                        if src is not None:
                            src.close()
                            src = None
                        src_cfg = cfg.source
                        last_frame = None
                        post(LiveStatus(f"Opening {cfg.source.describe()}…"))
                        try:
                            s = self._open_source(cfg.source)
                            s.open()
                            src = s
                            post(LiveStatus(f"Showing {s.description}"))
                        except SourceError as exc:
                            post(LiveStatus(str(exc), "error", running=False))
                        except Exception as exc:  # anything else opening a source: say it, keep the app
                            post(LiveStatus(f"{cfg.source.describe()}: {exc}", "error", running=False))
                    engine.forget_except([p.spec for p in cfg.panes])
                    with self._lock:
                        stepping = self._step > 0 and src is not None
                        if stepping:
                            self._step -= 1
                    if cfg.paused and not stepping:
                        if last_frame is not None and cfg != last_done:
                            # paused, but the user changed a layer/page/colour map: show it on the same frame
                            lf = engine.process(last_frame, cfg, self.frames, 0.0, src.description if src else "",
                                                fps)
                            last_done = cfg
                            self.mailbox.put(lf)
                        self._wake.wait(0.1)
                        self._wake.clear()
                        continue
                    if src is None:
                        self._wake.wait(0.2)
                        self._wake.clear()
                        continue
                    t0 = time.perf_counter()
                    try:
                        frame = src.read()
                    except SourceError as exc:
                        src.close()
                        src = None
                        post(LiveStatus(str(exc), "error", running=False))
                        continue
                    except Exception as exc:
                        src.close()
                        src = None
                        post(LiveStatus(f"{cfg.source.describe()}: {exc}", "error", running=False))
                        continue
                    if frame is None:
                        src.close()
                        src = None
                        post(LiveStatus(f"{cfg.source.describe()}: end of stream", "info", running=False))
                        continue
                    read_ms = (time.perf_counter() - t0) * 1000
                    last_frame = frame
                    lf = engine.process(frame, cfg, self.frames, read_ms, src.description, fps)
                    last_done = cfg
                    self.frames += 1
                    if recorder is not None:
                        try:
                            recorder.write(lf.composite())
                        except Exception as exc:
                            post(LiveStatus(f"Recording stopped: {exc}", "error"))
                            recorder.close()
                            recorder = None
                    now = time.monotonic()
                    if self.frames == 1:
                        stamps.clear()  # the first frame builds and measures the models: not a rate
                    stamps.append(now)
                    if len(stamps) >= 2:
                        fps = (len(stamps) - 1) / max(1e-6, stamps[-1] - stamps[0])
                    self.mailbox.put(replace(lf, fps=fps))
                    if cfg.max_fps > 0:  # never faster than the display needs
                        wait = 1.0 / cfg.max_fps - (time.perf_counter() - t0)
                        if wait > 0:
                            self._wake.wait(wait)
                            self._wake.clear()
            finally:
                set_cv_threads(cv_prev)
                if src is not None:
                    src.close()
                if recorder is not None:
                    recorder.close()
                    post(LiveStatus(f"Recording saved: {recorder.path} ({recorder.frames} frames)"))


# --- which models the panes offer ------------------------------------------------------------------------------
def live_spec(spec: ModelSpec) -> ModelSpec:
    """The spec with the live-friendly options of LIVE_OPTIONS where the user left the registry defaults."""
    extra = {k: v for k, v in LIVE_OPTIONS.get(spec.backbone, {}).items() if k not in spec.kwargs}
    if not extra or spec.weights or spec.weight_state == "trained":
        return spec
    opts = {**spec.kwargs, **extra}
    note = ", ".join(f"{k}={v}" for k, v in extra.items())
    return replace(spec, options=tuple(sorted(opts.items())), label=f"{spec.label or spec.backbone} [{note}]")


def _zoo_specs() -> list[ModelSpec]:
    try:
        from app.models.zoo import default_specs  # type: ignore
    except ImportError:
        return []
    try:
        return list(default_specs())
    except Exception:
        return []


def model_choices(session_models: dict[str, ModelSpec] | None = None) -> list[ModelSpec]:
    """Specs a pane can show: the built-in ones (random, hand-designed, trained) and the session's, by label."""
    out: list[ModelSpec] = []
    seen: set[str] = set()

    def add(spec: ModelSpec, label: str | None = None) -> None:
        spec = live_spec(spec)
        if label:
            spec = replace(spec, label=label)
        lab = spec.label or spec.backbone
        if lab not in seen:
            seen.add(lab)
            out.append(spec if spec.label else replace(spec, label=lab))

    zoo = _zoo_specs()
    if not zoo:  # the zoo is not there: a small built-in list so the Live view still works
        zoo = [ModelSpec.make("rdsn", label="rdsn (random)"),
               ModelSpec.make("resnet20", label="resnet20 (random)"),
               ModelSpec.make("simple", label="simple (random)")]
    for s in zoo:
        try:
            add(s)
        except Exception:
            continue
    for name, s in (session_models or {}).items():
        add(s, s.label or name)
    return out


def default_pane_specs(choices: list[ModelSpec]) -> list[ModelSpec]:
    """Random vs random vs trained: rdsn (random), resnet20 (random) and the best trained model there is."""
    def first(pred) -> ModelSpec | None:
        return next((s for s in choices if pred(s)), None)

    picks = [
        first(lambda s: s.backbone == "rdsn" and s.weight_state != "trained"),
        first(lambda s: s.backbone == "resnet20" and s.weight_state == "random"),
        first(lambda s: s.backbone == "resnet20" and s.weight_state == "trained")
        or first(lambda s: s.weight_state == "trained"),
    ]
    out = [p for p in picks if p is not None]
    for s in choices:  # fewer than two found: fill with whatever is there
        if len(out) >= 2:
            break
        if s not in out:
            out.append(s)
    return out
