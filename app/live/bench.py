"""``python main.py bench live``: the whole live pipeline against the same model's bare forward pass.

app: source (the synthetic scene, drawn at ``frame`` size, by default the input size: then no resize; a larger
``frame`` adds the pipeline's one torch resize, as a camera frame gets) -> pre-processing -> forward up to the tapped
layer ->
per-map normalisation + tiling + colour map -> uint8 mosaic copied to host memory (ready for display), as the Live
view's loop runs it: on a pipelined engine (CUDA, or ``pipeline="on"``) one frame in flight, each frame submitted
before the previous one is collected (``LiveEngine.submit`` / ``collect``), the last frame of each round collected
before the round ends (its wait counted); otherwise each frame submitted and collected in turn (``process``).
bare: ``model.forward_intermediates(x, [layer])`` alone on a ready input tensor of the same size, same device,
same memory format and precision. The two are measured in interleaved rounds so that load from other processes
hits both alike; FPS figures are frames / total time, medians of per-frame times are reported too.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from typing import Any

import torch

from app import device as devmod
from app.live import precision as prec
from app.live.config import LiveConfig, PaneConfig
from app.live.engine import LiveEngine, default_layer, fit_size
from app.live.pipeline import LIVE_OPTIONS
from app.live.sources import set_cv_threads
from app.live.synthetic import SyntheticSource
from app.models.spec import ModelSpec

DEFAULT_BACKBONE = "resnet20"  # the default Live pane (random weights), tapped at its default layer


def parse_size(text: str, option: str = "--size") -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise ValueError(f"{option} {text!r}: expected HxW, e.g. 240x320 or 720x1280") from None
    if h < 16 or w < 16:
        raise ValueError(f"{option} {text!r}: at least 16x16")
    return h, w


def bench_spec(backbone: str | None, options: dict[str, Any] | None = None, weights: str | None = None) -> ModelSpec:
    """The benchmarked model's spec, built like every other command's (``app.models.spec_args.spec_from_args``):
    a checkpoint's JSON sidecar (or the known-weights table) gives its architecture, options and input spec, so the
    app's own trained models load as they do in Live; given ``options`` override the sidecar's. ``backbone`` None:
    the sidecar names it. Random weights without ``options``: the Live view's own options (``LIVE_OPTIONS``)."""
    from types import SimpleNamespace

    from app.models.spec_args import spec_from_args

    if options is None and not weights and backbone is not None:
        options = dict(LIVE_OPTIONS.get(backbone, {}))
    args = SimpleNamespace(backbone=backbone, weights=weights, options=[json.dumps(options)] if options else None,
                           model=None, init=None, model_seed=0, freeze=None, bank=None)
    return spec_from_args(args)


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def run_bench(backbone: str | None = DEFAULT_BACKBONE, size: tuple[int, int] = (240, 320), frames: int = 100,
              layer: int | None = None, options: dict[str, Any] | None = None, device: str | None = None,
              channels_last: str = "auto", amp: bool | None = None, warmup: int = 5, rounds: int = 4,
              per_page: int = 16, weights: str | None = None, frame: tuple[int, int] | None = None,
              pipeline: str = "auto", fold: bool = True, precision: str = "auto") -> dict[str, Any]:
    """``pipeline``: "auto" (the engine's own: one frame in flight on CUDA), "on" or "off". ``fold``: the engine
    folds the model's batch norms into its convolutions (as the Live view does); the bare forward runs the same
    model as the app, folded or not, so that the ratio measures the pipeline around it. ``precision``: the Live
    config's (``app.live.precision``); the bare forward runs in the same autocast."""
    if pipeline not in ("auto", "on", "off"):
        raise ValueError(f"pipeline must be auto, on or off, not {pipeline!r}")
    load_before = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    dev = torch.device(device) if device else devmod.pick()
    spec = bench_spec(backbone, options, weights)
    backbone, options = spec.backbone, dict(spec.kwargs)
    engine = LiveEngine(dev, channels_last=channels_last, amp=amp, fold=fold)
    if pipeline != "auto":
        engine.pipelined = pipeline == "on"
    h, w = size
    fh, fw = frame or size
    cv_prev = set_cv_threads()  # as in the app's live loop
    src = SyntheticSource(fw, fh)
    src.open()
    with torch.inference_mode():
        e = engine.entry(spec)
        if e.error:
            raise ValueError(f"cannot build {backbone!r}: {e.error}")
        li = default_layer(e.layers) if layer is None else layer
        if not -len(e.layers) <= li < len(e.layers):
            raise ValueError(f"--layer {li}: {backbone} has layers 0..{len(e.layers) - 1}")
        li %= len(e.layers)
        cfg = LiveConfig(panes=(PaneConfig(spec, li, 0, per_page),), size=(h, w), max_fps=0, precision=precision)
        dtype = prec.forward_dtype(dev, precision, engine.amp)
        # bare input: the same tensor the pipeline feeds the model
        proc = fit_size((fh, fw), (h, w))
        x = engine.prepare(src.read(), e.inp, engine.input_size(e, proc), crop=bool(e.fixed))
        for _ in range(warmup):  # also settles the channels_last choice (measured on CPU)
            engine.process(src.read(), cfg)
        cl = engine._use_cl(e, x, li, dtype)
        e.set_format(cl)
        xb = x.contiguous(memory_format=torch.channels_last) if cl else x

        def bare() -> torch.Tensor:
            with prec.autocast(dev, dtype):
                return e.model.forward_intermediates(xb, [li])[0]

        for _ in range(warmup):
            bare()
        _sync(dev)

        app_t: list[float] = []
        bare_t: list[float] = []
        read_t: list[float] = []
        submit_t: list[float] = []
        collect_t: list[float] = []
        per_round = max(1, frames // rounds)
        done = 0
        while done < frames:
            n = min(per_round, frames - done)
            for _ in range(n):
                t0 = time.perf_counter()
                bare()  # (its map freed at once, before the app's frames)
                _sync(dev)
                bare_t.append(time.perf_counter() - t0)
            pending = None
            for _ in range(n):
                t0 = time.perf_counter()
                frame = src.read()
                t1 = time.perf_counter()
                nxt = engine.submit(frame, cfg, owned=True)
                t2 = time.perf_counter()
                if engine.pipelined:  # one frame in flight: the previous frame is collected after this one is queued
                    pending, nxt = nxt, pending
                if nxt is not None:
                    lf = engine.collect(nxt)  # ends with the uint8 mosaic in host memory
                t3 = time.perf_counter()
                app_t.append(t3 - t0)
                read_t.append(t1 - t0)
                submit_t.append(t2 - t1)
                collect_t.append(t3 - t2)
            if pending is not None:  # the round's last frame: its wait counts
                t0 = time.perf_counter()
                lf = engine.collect(pending)
                app_t[-1] += time.perf_counter() - t0
            done += n
    src.close()
    set_cv_threads(cv_prev)
    pane = lf.panes[0]
    if pane.error:
        raise ValueError(pane.error)
    app_fps = len(app_t) / sum(app_t)
    bare_fps = len(bare_t) / sum(bare_t)
    app_med = statistics.median(app_t)
    bare_med = statistics.median(bare_t)
    info = devmod.describe(dev)
    return {
        "backbone": backbone,
        "options": options,
        "layer": e.layers[li][0],
        "layer_index": li,
        "size": f"{h}x{w}",
        "frame": f"{fh}x{fw}",
        "input": "x".join(str(v) for v in engine.input_size(e, proc)),
        "frames": len(app_t),
        "device": info.name,
        "device_kind": dev.type,
        "threads": torch.get_num_threads(),
        "channels_last": bool(cl),
        "amp_fp16": dtype == torch.float16,
        "precision": prec.name(dtype),  # the forward's arithmetic, app and bare alike
        "app_fps": round(app_fps, 2),
        "bare_fps": round(bare_fps, 2),
        "ratio": round(app_fps / bare_fps, 3),
        "app_fps_median": round(1.0 / app_med, 2),
        "bare_fps_median": round(1.0 / bare_med, 2),
        "ratio_median": round(bare_med / app_med, 3),
        "app_ms_median": round(app_med * 1000, 2),
        "bare_ms_median": round(bare_med * 1000, 2),
        "source_ms_median": round(statistics.median(read_t) * 1000, 2),
        "pipelined": bool(engine.pipelined),  # one frame in flight (CUDA's default)
        # batch norms folded into their convolutions, in the app's and the bare forward's model alike
        "batchnorm_folded": e.fold.as_dict() if e.fold is not None else None,
        "submit_ms_median": round(statistics.median(submit_t) * 1000, 2),  # queueing a frame's work
        "collect_ms_median": round(statistics.median(collect_t) * 1000, 2),  # waiting for a frame to be done
        "mosaic_shape": list(pane.mosaic.shape),
        "channels_shown": pane.count,
        "torch": torch.__version__,
        "load_average_before": load_before,
    }
