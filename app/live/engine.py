"""The live engine: frame -> (every pane's model) -> one colour-mapped uint8 mosaic per pane, on the compute device.

Qt-free. ``LiveEngine.process(frame, config)``: pre-processing (exactly ``app.models.inputs.to_tensor`` for each
pane's input spec, the frame resized once to the processing size with its aspect kept), the forward pass
(``forward_intermediates`` up to the chosen layer only), per-map or shared normalisation, tiling and colour mapping
(``app.imaging.maps``), the pane's statistics (``app.live.stats``), all on the compute device
(``app.device.pick()``; channels_last and fp16 autocast on CUDA; channels_last on CPU where it measures faster;
bfloat16 autocast on a CPU with native bfloat16 where the config asks for "fast" precision);
returns a frozen ``LiveFrame`` holding numpy *copies* only. ``process`` = ``collect(submit(...))``: on CUDA
``submit`` queues a frame's work without waiting for it, so a loop can submit the next frame before it collects
this one (two frames in flight: the next frame's source, upload and forward overlap this one's read-back).
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from app import device as devmod
from app.imaging import colormaps, maps
from app.live import precision as prec
from app.live.config import LiveConfig, LiveFrame, PaneConfig, PaneResult, Prediction
from app.live.predict import Predictor
from app.live.stats import MapStats, map_stats
from app.live.transfer import Fence, Launched, Marks, Pending, Uploader, to_host
from app.live.transfer import Work as _Work
from app.models import inputs
from app.models.build import build
from app.models.bnfold import FoldReport, fold_for_inference
from app.models.spec import ModelSpec


# --- models ---------------------------------------------------------------------------------------------------
STATS_SHARE = 0.02  # on the CPU, a pane's statistics take at most this share of the loop's time (``_stats_of``)


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


FOCUS_MAX = (720, 1280)  # largest enlarged map (bigger ones are average-pooled down)


@dataclass
class _Entry:
    model: torch.nn.Module
    inp: inputs.InputSpec | None  # None: the model could not be built (``error`` says why)
    layers: tuple[tuple[str, int, int], ...]
    fixed: tuple[int, int] | None = None  # the size the model needs (lenet5: 32x32); None: any size
    channels_last: dict[tuple, bool] = field(default_factory=dict)  # (shape, layer, dtype) -> chosen memory format
    error: str | None = None
    cl_now: bool = False  # the memory format the model's weights are in now
    fold: FoldReport | None = None  # batch norms folded into their convolutions (``app.models.bnfold``)

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
    size the model needs (``fixed_input_size``: lenet5 32x32), else the processing size
    ``fit_size(frame, config.size)``, also for trained models whose spec names the size they were trained at."""

    def __init__(self, device: torch.device | str | None = None, channels_last: str = "auto",
                 amp: bool | None = None, open_head=None, fold: bool = True) -> None:
        """``open_head``: (path, device) -> a probe head applier (``app.probe.head_export.open_head``; the GUI
        passes it: app.live does not import app.probe); None: panes cannot attach probe heads. ``fold``: fold each
        model's batch norms into the convolutions before them (``app.models.bnfold``: the same maps to float rounding,
        checked per model, fewer passes over the activations)."""
        self.fold = bool(fold)
        self.device = torch.device(device) if device is not None else devmod.pick()
        self.channels_last = channels_last  # "auto" (CUDA: on; CPU: measured per model), "on", "off"
        self.amp = (self.device.type == "cuda") if amp is None else amp
        self.serial_post = True  # see serial()
        self._models: dict[Any, _Entry] = {}
        self._affine: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self._stats: dict[tuple, tuple[float, MapStats, float]] = {}  # (spec, layer, arith) -> (when, stats, took s)
        self.predictor = Predictor(self.device, open_head)  # top-5 of a model's own classifier or of a probe head
        self.uploader = Uploader(self.device) if self.device.type == "cuda" else None  # CUDA: pinned, own stream
        # frames ``submit`` may queue before the oldest is collected: CUDA overlaps the next frame's source, upload
        # and forward with the read-back of the last one (``LiveLoop`` and ``bench live`` keep one frame in flight
        # where this is True); CPU does each frame's work as it is submitted, so nothing would overlap
        self.pipelined = self.device.type == "cuda"

    # models are built lazily, on the worker thread
    def entry(self, spec: ModelSpec) -> _Entry:
        key = _spec_key(spec)
        e = self._models.get(key)
        if e is None:
            try:
                model, ispec = build_model(spec, self.device)
                layers = tuple((i.name, int(i.channels), int(i.stride)) for i in model.feature_info)
                e = _Entry(model, ispec, layers, inputs.model_input(model)[1])
                e.fold = fold_for_inference(model, self.device, self.fold)
            except Exception as exc:  # a bad spec or a broken checkpoint: the pane says so, the others go on
                e = _Entry(torch.nn.Identity(), None, (), error=str(exc) or exc.__class__.__name__)
            self._models[key] = e
        return e

    def forget_except(self, specs) -> None:
        keep = {_spec_key(s) for s in specs}
        for k in list(self._models):
            if k not in keep:
                del self._models[k]
        for k in list(self._stats):
            if k[0] not in keep:
                del self._stats[k]

    # --- pre-processing: the steps of inputs.to_tensor, shared between panes where they agree ------------------
    def to_tensor(self, frame: np.ndarray) -> torch.Tensor:
        """RGB uint8 (H, W, 3) -> float (1, 3, H, W) in [0, 255] on the device, in channels_last memory (the
        frame's own HWC layout; no copy besides the float conversion). On CUDA a uint8 frame is uploaded through
        page-locked buffers on a copy stream of its own (``app.live.transfer.Uploader``)."""
        if self.uploader is not None and frame.dtype == np.uint8:
            x = self.uploader(frame)
        else:
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

    def prepare(self, frame: np.ndarray, ispec: inputs.InputSpec, size: tuple[int, int] | None,
                crop: bool = False) -> torch.Tensor:
        """One frame as a model with ``ispec`` sees it at ``size`` (the model's fixed size, else the processing
        size: ``input_size``) (tests and the bench); ``crop``: first the frame's centre at the aspect of ``size``
        (``inputs.crop_to_aspect``), as a pane of a fixed-size model (``_Entry.fixed``) takes it."""
        return self.normalise(self.sized(self.to_tensor(inputs.crop_to_aspect(frame, size) if crop else frame),
                                         ispec, size), ispec)

    @staticmethod
    def input_size(entry: "_Entry", proc: tuple[int, int]) -> tuple[int, int]:
        """The size a pane's model sees: the size it needs (``fixed_input_size`` models), else the processing size
        (a trained fully convolutional model's ``InputSpec.size``, what it was trained at, is not forced on video)."""
        return entry.fixed or proc

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

    def _use_cl(self, e: _Entry, x: torch.Tensor, layer: int, dtype: torch.dtype | None = None) -> bool:
        if self.channels_last == "on":
            return True
        if self.channels_last == "off":
            return False
        if self.device.type != "cpu":
            return self.device.type == "cuda"
        key = (tuple(x.shape), layer, dtype)
        if key not in e.channels_last:  # measure once: which memory format is faster for this model here
            ctx = prec.autocast(self.device, dtype)
            e.channels_last[key] = prec.channels_last_faster(e.model, e.set_format, x, layer, ctx)
        return e.channels_last[key]

    def forward(self, e: _Entry, x: torch.Tensor, layer: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The (C, H, W) map of one layer, computing only up to that layer, in ``dtype`` autocast (None: float32;
        ``app.live.precision.forward_dtype``)."""
        cl = self._use_cl(e, x, layer, dtype)
        e.set_format(cl)
        if cl:
            x = x.contiguous(memory_format=torch.channels_last)
        with prec.autocast(self.device, dtype):
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
                source: str = "", fps: float = 0.0, caption: str = "") -> LiveFrame:
        """One frame's ``LiveFrame``, waited for (``collect(submit(...))``)."""
        return self.collect(self.submit(frame, cfg, index, read_ms, source, fps, caption))

    def submit(self, frame: np.ndarray, cfg: LiveConfig, index: int = 0, read_ms: float = 0.0,
               source: str = "", fps: float = 0.0, caption: str = "", owned: bool = False) -> Pending:
        """Queue one frame's work: the upload, every pane's forward, mosaic and read-backs (on CUDA nothing is
        waited for, but for a pane's statistics when they are due and for top-5 predictions; on CPU the work is
        done here). ``collect`` turns the returned ``Pending`` into the frame's ``LiveFrame``; another frame may be
        submitted before (``pipelined``). ``owned``: the caller hands ``frame`` over (a source's new memory, never
        written again): shown as it is, without a copy."""
        t0 = time.perf_counter()
        proc = fit_size(frame.shape[:2], cfg.size)
        self.predictor.forget_except([p.head for p in cfg.panes])
        marks = Marks(self.device)  # CUDA: the device's own time of each pane (its kernels run after we return)
        with self.serial():
            x255 = self.to_tensor(frame)
        marks.mark()
        pre_ms = (time.perf_counter() - t0) * 1000
        sym = cfg.symmetric if cfg.symmetric is not None else cfg.colormap in colormaps.DIVERGING
        sized: dict[tuple, torch.Tensor] = {}  # (channels, size, resize policy) -> resized 0..255 input
        prepared: dict[tuple, torch.Tensor] = {}  # (input spec, size) -> the model's input
        share = pre_ms / max(1, len(cfg.panes))
        # two passes: every pane's maps first, then the colours (a shared range needs every pane's maps)
        work = [marks.after(self._compute(pc, x255, proc, sized, prepared, cfg, share, frame)) for pc in cfg.panes]
        limits = None
        shared = cfg.contrast == "shared"
        if shared:
            ranges = [w.range for w in work if isinstance(w, _Work)]
            if ranges:
                limits = (min(r[0] for r in ranges), max(r[1] for r in ranges))
        panes = tuple(marks.after(w if isinstance(w, PaneResult) else self._launch(w, cfg, sym, limits)) for w in work)
        shown: np.ndarray | torch.Tensor
        if frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3 and tuple(frame.shape[:2]) == proc:
            # the models saw the frame itself: no round trip (a copy unless the caller handed the frame over)
            shown = frame if owned and frame.flags.c_contiguous else np.array(frame, order="C")
        else:
            with self.serial():
                x = self._sized(x255, _SHOWN, proc, sized)
                shown = to_host(x[0].round().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous())
        return Pending(t0, index, read_ms, source, fps, caption, cfg.colormap, sym, panes, shown,
                       Fence(self.device), marks)

    def collect(self, p: Pending) -> LiveFrame:
        """The ``LiveFrame`` of a submitted frame, once the device has finished it (CPU: at once)."""
        p.fence.wait()
        panes = tuple(r if isinstance(r, PaneResult) else self._finish(r, p.marks.pane_ms(i, len(p.panes)))
                      for i, r in enumerate(p.panes))
        shown = p.shown if isinstance(p.shown, np.ndarray) else p.shown.numpy()
        latency = (time.perf_counter() - p.t0) * 1000 + p.read_ms
        return LiveFrame(p.index, shown, panes, p.source, p.fps, latency, p.read_ms, p.colormap, p.symmetric,
                         time.monotonic() - latency / 1000, p.caption)

    def _sized(self, x255: torch.Tensor, ispec: inputs.InputSpec, size: tuple[int, int], cache: dict,
               crop: bool = False) -> torch.Tensor:
        key = (ispec.channels, tuple(size), ispec.interpolation, ispec.antialias, crop)
        x = cache.get(key)
        if x is None:
            if crop:  # a fixed-size model: the frame's centre at its aspect, never squashed (as its Top-5 sees it)
                y0, y1, x0, x1 = inputs.aspect_box(x255.shape[-2], x255.shape[-1], size)
                x255 = x255[..., y0:y1, x0:x1]
            x = cache[key] = self.sized(x255, ispec, size)
        return x

    def _input(self, x255: torch.Tensor, ispec: inputs.InputSpec, size: tuple[int, int], sized: dict,
               prepared: dict, crop: bool = False) -> torch.Tensor:
        key = (ispec.key(), size, crop)
        x = prepared.get(key)
        if x is None:
            with self.serial():
                x = prepared[key] = self.normalise(self._sized(x255, ispec, size, sized, crop), ispec)
        return x

    def _compute(self, pc: PaneConfig, x255: torch.Tensor, proc: tuple[int, int], sized: dict, prepared: dict,
                 cfg: LiveConfig, share_ms: float, frame: np.ndarray | None = None) -> "_Work | PaneResult":
        """Forward pass, the shown maps (shrunk floats) and, now and then, the statistics of one pane."""
        t0 = time.perf_counter()
        label = pc.spec.label or pc.spec.backbone
        e = self.entry(pc.spec)
        if e.error:
            return PaneResult(label, None, error=f"{label}: {e.error}")
        n_layers = len(e.layers)
        layer = default_layer(e.layers) if pc.layer is None else max(0, min(pc.layer, n_layers - 1))
        try:
            # a model of fixed size (lenet5's 32x32) sees the frame's centre at its aspect: stretched to it, a 4:3 or
            # 16:9 frame was squashed (a disc became a 2:1 ellipse) while the same pane's Top-5 saw it round
            x = self._input(x255, e.inp, self.input_size(e, proc), sized, prepared, crop=bool(e.fixed))
            dtype = prec.forward_dtype(self.device, cfg.precision, self.amp)  # None: float32
            fmap = self.forward(e, x, layer, dtype)
            if fmap.dim() != 3:
                raise ValueError(f"layer {e.layers[layer][0]} gives {tuple(fmap.shape)} maps, not (C, H, W)")
            c, h, w = fmap.shape
            per = max(1, int(pc.per_page))
            pages = max(1, math.ceil(c / per))
            page = max(0, min(pc.page, pages - 1))
            first = page * per
            count = min(per, c - first)
            focus = pc.focus if pc.focus is not None and 0 <= pc.focus < c else None
            with self.serial():
                if focus is not None:
                    shown = maps.page_maps(fmap, focus, 1, FOCUS_MAX)
                    factor = maps.shrink_factor(h, w, *FOCUS_MAX)
                else:
                    shown = maps.page_maps(fmap, first, count, cfg.tile_max)
                    factor = maps.shrink_factor(h, w, *cfg.tile_max)
                # playing, the statistics refresh every stats_every s (they would flicker unreadably at 30 Hz);
                # paused (a step, or a setting changed on the held frame) one frame is studied: its own numbers
                st = self._stats_of(pc, layer, fmap, 0.0 if cfg.paused else cfg.stats_every, prec.name(dtype))
                rng = maps.value_range(shown) if cfg.contrast == "shared" else (0.0, 0.0)
            preds = self._predictions(pc, e, frame)
            ms = (time.perf_counter() - t0) * 1000 + share_ms
            return _Work(label, e.layers, layer, first, count, c, (h, w), focus, shown, factor, st, rng,
                         pc.aspect or cfg.aspect, ms, preds, self.predictor.classes_of(pc.spec, e.model) is not None,
                         self._note(e, dtype, cfg.precision))
        except Exception as exc:  # e.g. a 1-channel model fed a frame it cannot take, out of memory
            return PaneResult(label, None, None, layer, e.layers, error=f"{label}: {exc}")

    def _note(self, e: _Entry, dtype: torch.dtype | None, precision: str) -> str:
        """How the pane's model runs, for its timing tooltip: its batch norms folded, its arithmetic."""
        fold, arith = e.fold.describe() if e.fold is not None else "", prec.describe(dtype, precision, self.device)
        return f"{fold}; {arith}" if fold else arith

    def _predictions(self, pc: PaneConfig, e: _Entry, frame: np.ndarray | None) -> tuple[Prediction, ...]:
        """Only when asked: the model's own top-5 (a full forward) and an attached probe head's
        (``app.live.predict``); the mosaic's forward stays as it is."""
        if frame is None or not (pc.predict or pc.head):
            return ()
        out = []
        if pc.predict:
            out.append(self.predictor.model_prediction(pc.spec, e.model, e.inp, frame))
        if pc.head:
            out.append(self.predictor.head_prediction(pc.head, pc.spec, frame))
        return tuple(out)

    def _stats_of(self, pc: PaneConfig, layer: int, fmap: torch.Tensor, every: float,
                  arithmetic: str = "float32") -> MapStats | None:
        """The statistics of ``fmap``, or those of an earlier frame of the same pane layer computed less than
        ``every`` s ago (0: always this frame's). On the CPU, also not before the last computation's own time over
        ``STATS_SHARE``, so that they never take more than that share of the loop: beside two busy processes one
        pane's took ~12 ms (~6 ms idle), 5% of a loop refreshing them every 0.25 s, where the frames are what
        matters (CUDA's are a few kernels, and its clock would count the forward they wait for)."""
        key = (_spec_key(pc.spec), layer, arithmetic)
        now = time.monotonic()
        last = self._stats.get(key)
        wait = every
        if last is not None and every > 0 and self.device.type == "cpu":
            wait = max(every, last[2] / STATS_SHARE)
        if last is None or now - last[0] >= wait:
            t0 = time.perf_counter()
            st = replace(map_stats(fmap), arithmetic=arithmetic)
            last = self._stats[key] = (now, st, time.perf_counter() - t0)
        return last[1]

    def _launch(self, wk: "_Work", cfg: LiveConfig, sym: bool, limits: tuple[float, float] | None
                ) -> "Launched | PaneResult":
        """A pane's colours and mosaic queued, and their copies to the host (read by ``_finish``)."""
        t0 = time.perf_counter()
        try:
            with self.serial():
                if wk.focus is not None:
                    u, lo_t, hi_t = maps.normalise(wk.shown, sym, limits)
                    img = maps.colorize(u[0], cfg.colormap).contiguous()
                    grid = None
                else:
                    img, grid, lo_t, hi_t = maps.tile_maps(wk.shown, cfg.colormap, aspect=wk.aspect, symmetric=sym,
                                                           limits=limits)
                ends = (lo_t[0], hi_t[0]) if wk.focus is not None or limits is not None else (lo_t.min(), hi_t.max())
                # what crosses to the GUI: owned arrays (the mosaic and the shrunk maps are new memory); the range
                # as one read-back (one wait on CUDA), not two
                out = Launched(wk, to_host(img), grid, to_host(wk.shown), to_host(torch.stack(ends)),
                                limits is not None, wk.ms + (time.perf_counter() - t0) * 1000)
        except Exception as exc:
            return PaneResult(wk.label, None, None, wk.layer, wk.layers, error=f"{wk.label}: {exc}")
        return out

    @staticmethod
    def _finish(r: Launched, device_ms: float | None = None) -> PaneResult:
        """``device_ms``: the pane's time on the device (CUDA), shown instead of the host's time to queue it."""
        wk = r.work
        try:
            mosaic = r.mosaic.numpy()
            values = r.values.numpy()
            values.flags.writeable = False
            lo, hi = r.ends.tolist()
        except Exception as exc:
            return PaneResult(wk.label, None, None, wk.layer, wk.layers, error=f"{wk.label}: {exc}")
        return PaneResult(wk.label, mosaic, r.grid, wk.layer, wk.layers, wk.first, wk.count, wk.channels, wk.focus,
                          lo, hi, wk.map_size, r.ms if device_ms is None else device_ms, None, values, wk.factor,
                          r.shared, wk.stats,
                          wk.predictions, wk.classifier, wk.note)
