"""``main.py bench extract``: the probe's feature extraction against a bare batched forward of the same filters.

ours: ``app.probe.extract.extract`` as the probe calls it, under a fresh cache key (a temporary home folder: no cache
hit), from the uint8 images to the features array the head gets (pre-processing per batch, the cache memmap, channel
chunks, progress). bare: the same model's plain forward up to the same layer (``forward_intermediates``) and the same
pooling (``pool_maps``), batch by batch, ``torch.cat`` at the end, on the images pre-processed once beforehand (that
pre-processing is not in its time). Both: the same images, model, device, batch size (``extract.batch_size``) and a
fixed thread count (the tuner off); each measurement in its own process, after a one-batch warm-up, so that its peak
resident memory (``VmHWM``, reset through ``/proc/self/clear_refs`` where allowed) is its own. Measurements alternate
(ours, bare, ours, bare, ...) and the best time of each counts, so the machine's load affects both alike.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from app.errors import AppError, UserError

KINDS = ("ours", "bare")
QUICK_IMAGES = 300
QUICK_OPTIONS = {"k": 32}
SKETCH = 4  # columns of the seeded random projection that compares the two feature arrays


def settings_from_args(args) -> dict:
    """The measurement settings of ``bench extract``'s arguments (checked: UserError), shared by every process."""
    from app import device as devices
    from app.probe.bench import bench_dataset, bench_options
    from app.probe.config import probe_defaults
    from app.probe.extract import parse_pooling

    if args.images < 1:
        raise UserError(f"bench extract: --images must be at least 1, got {args.images}")
    if not 1 <= args.rounds <= 20:
        raise UserError(f"bench extract: --rounds must be 1..20, got {args.rounds}")
    d0 = probe_defaults(args.backbone)
    pooling = d0["pooling"] if args.pooling in (None, "default") else args.pooling
    try:
        parse_pooling(pooling)
    except ValueError as exc:
        raise UserError(f"bench extract: --pooling: {exc}") from None
    dataset = bench_dataset(args)
    return {"dataset": dataset, "data_root": args.data_root,
            "images": min(args.images, QUICK_IMAGES) if args.quick else int(args.images),
            "backbone": args.backbone, "options": bench_options(args, QUICK_OPTIONS if args.quick else {}),
            "layer": d0["layer"] if args.layer is None else int(args.layer), "pooling": pooling,
            "threads": devices.configured_threads(), "seed": int(args.seed)}


def prepare(settings: dict, fit: bool = True):
    """(model, images, ispec, layer, device) of ``settings``; a data-dependent backbone is fitted on the images when
    ``fit``. Bad settings (backbone, options, layer) raise UserError."""
    import torch

    from app import device as devices
    from app.data import load
    from app.models.inputs import dataset_stats, input_spec
    from app.models.spec import ModelSpec
    from app.probe import extract as ex
    from app.probe.run import build_model, effective_spec
    from app.tasks import run_to_end

    ds = load(settings["dataset"], "train", settings["data_root"])
    ds = ds.subset(min(settings["images"], len(ds)), seed=settings["seed"])
    try:
        spec = effective_spec(ModelSpec.make(settings["backbone"], options=settings["options"]), ds)
        model = build_model(spec)
    except (AppError, ValueError, TypeError, KeyError) as exc:
        raise UserError(f"bench extract: --backbone {settings['backbone']} --options "
                        f"{json.dumps(settings['options'])}: {exc}") from None
    n_layers = len(model.feature_info)
    layer = settings["layer"] if settings["layer"] >= 0 else n_layers + settings["layer"]
    if not 0 <= layer < n_layers:
        raise UserError(f"bench extract: --layer {settings['layer']} is out of range for {settings['backbone']} "
                        f"(0..{n_layers - 1}, or negative from the end)")
    ispec = input_spec(spec, model, stats=dataset_stats(ds))
    dev = devices.pick()
    model = model.to(dev).eval()
    torch.manual_seed(0)
    if fit and getattr(model, "needs_fit", False):
        run_to_end(ex.fit_backbone(model, ds, ispec, settings["seed"]))
    return model, ds.images, ispec, layer, dev


def bare_features(model, x, layer: int, pooling: str, batch: int):
    """The plain batched forward: (N, F) float32 features of the pre-processed tensor ``x``."""
    import torch

    from app.probe.extract import pool_maps

    with torch.inference_mode():
        parts = [pool_maps(model.forward_intermediates(x[s:s + batch], [layer])[0], pooling).float()
                 for s in range(0, len(x), batch)]
        return torch.cat(parts).cpu().numpy()


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset this process's peak resident size (VmHWM) to its current size (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure(kind: str, settings: dict) -> dict:
    """One measurement in this process (``child_main`` runs it in a fresh one): seconds, images/s, the peak resident
    memory during it, and a seeded projection of the features (to check that both sides compute the same)."""
    import torch

    from app.models.inputs import to_tensor
    from app.probe import extract as ex
    from app.tasks import run_to_end

    model, images, ispec, layer, dev = prepare(settings)
    pooling = settings["pooling"]
    batch = ex.batch_size(model, to_tensor(images[:1], ispec, dev), layer)
    warm = images[:batch]  # one batch through the same path: lazy initialisation is nobody's time
    if kind == "ours":
        run_to_end(ex.extract(model, warm, ispec, layer, pooling, device=dev, key=None))
    else:
        bare_features(model, to_tensor(warm, ispec, dev), layer, pooling, batch)
    key = f"bench-extract-{os.getpid()}-{time.time_ns()}"  # the home folder is new and empty: never a hit
    start_kb = _status_kb("VmRSS")
    reset = _reset_peak()
    if kind == "ours":
        t0 = time.perf_counter()
        f = run_to_end(ex.extract(model, images, ispec, layer, pooling, device=dev, key=key, label="bench"))
        seconds = time.perf_counter() - t0
        feats = f.array
        assert not f.cache_hit
    else:
        x = to_tensor(images, ispec, dev)  # pre-processed once, outside the time (inside the memory window)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        feats = bare_features(model, x, layer, pooling, batch)
        seconds = time.perf_counter() - t0
    peak_kb = _status_kb("VmHWM")
    R = np.random.default_rng(0).standard_normal((feats.shape[1], SKETCH)).astype(np.float32)
    sketch = np.asarray(feats, dtype=np.float32) @ R
    return {"kind": kind, "seconds": seconds, "img_s": len(images) / seconds, "images": len(images),
            "n_features": int(feats.shape[1]), "dtype": str(feats.dtype), "batch": batch, "layer": layer,
            "threads": torch.get_num_threads(), "device": str(dev),
            "peak_rss_mb": None if peak_kb is None else peak_kb / 1024,
            "start_rss_mb": None if start_kb is None else start_kb / 1024, "peak_reset": reset,
            "sketch": sketch.tolist()}


def child_main() -> None:
    """The entry of one measurement process: settings JSON on stdin, one JSON line on stdout."""
    from app import device

    req = json.loads(sys.stdin.read())
    device.tune_allocator()  # as main.py does
    os.environ["FILTER_EXPLORER_THREADS"] = str(req["settings"]["threads"])  # a fixed count: the tuner off
    device.configure_threads()
    home = tempfile.mkdtemp(prefix="fe-bench-extract-")
    os.environ["FILTER_EXPLORER_HOME"] = home  # an empty feature cache: never a hit, nothing left behind
    try:
        out = measure(req["kind"], req["settings"])
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(out))


def run_child(kind: str, settings: dict, timeout: float) -> dict:
    root = Path(__file__).resolve().parent.parent.parent
    env = dict(os.environ)
    env.pop("FILTER_EXPLORER_TUNER", None)
    try:
        r = subprocess.run([sys.executable, "-c", "from app.probe.bench_extract import child_main; child_main()"],
                           input=json.dumps({"kind": kind, "settings": settings}), capture_output=True, text=True,
                           cwd=str(root), env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AppError(f"bench extract: the {kind} measurement took longer than {timeout:.0f} s "
                       "(use fewer --images)") from None
    if r.returncode != 0 or not r.stdout.strip():
        tail = "\n".join(r.stderr.strip().splitlines()[-5:])
        raise AppError(f"bench extract: the {kind} measurement failed (exit {r.returncode}): {tail}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def bench_extract(args) -> dict:
    import torch

    settings = settings_from_args(args)
    prepare(settings, fit=False)  # bad backbone / options / layer: the user's error here, before any process starts
    load_before = list(os.getloadavg())
    runs = [run_child(kind, settings, args.timeout) for _ in range(args.rounds) for kind in KINDS]
    load_after = list(os.getloadavg())
    best = {k: min((r for r in runs if r["kind"] == k), key=lambda r: r["seconds"]) for k in KINDS}
    peak = {k: max(r["peak_rss_mb"] or 0.0 for r in runs if r["kind"] == k) for k in KINDS}
    rise = {k: max((r["peak_rss_mb"] or 0.0) - (r["start_rss_mb"] or 0.0) for r in runs if r["kind"] == k)
            for k in KINDS}
    so, sb = np.asarray(best["ours"]["sketch"]), np.asarray(best["bare"]["sketch"])
    diff = float(np.abs(so - sb).max() / max(float(np.abs(sb).max()), 1e-30))
    ours, bare = round(best["ours"]["img_s"], 2), round(best["bare"]["img_s"], 2)
    b = best["ours"]
    return {
        "ours_img_s": ours, "bare_img_s": bare, "ratio": float(f"{ours / bare:.4g}"),
        "ours_seconds": round(best["ours"]["seconds"], 3), "bare_seconds": round(best["bare"]["seconds"], 3),
        "ours_peak_rss_mb": round(peak["ours"], 1), "bare_peak_rss_mb": round(peak["bare"], 1),
        "ours_rss_increase_mb": round(rise["ours"], 1), "bare_rss_increase_mb": round(rise["bare"], 1),
        "features_match": diff < 1e-4, "sketch_relative_difference": diff,
        "rounds": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items() if k != "sketch"}
                   for r in runs],
        "settings": {
            **{k: settings[k] for k in ("dataset", "backbone", "options", "pooling", "seed")},
            "images": b["images"], "layer": b["layer"], "n_features": b["n_features"], "feature_dtype": b["dtype"],
            "batch": b["batch"], "threads": b["threads"], "device": b["device"], "torch": torch.__version__,
            "rounds": args.rounds, "peak_reset": all(r["peak_reset"] for r in runs),
            "load_average_before": load_before, "load_average_after": load_after, "cpu_count": os.cpu_count(),
            "ours": "app.probe.extract.extract, fresh cache key (memmap written), uint8 images -> features, "
                    "pre-processing per batch included",
            "bare": "model.forward_intermediates + pool_maps per batch, torch.cat, on images pre-processed once "
                    "(not timed)",
            "memory": "VmHWM of the measurement process (peak resident, after a reset through /proc/self/clear_refs "
                      "when peak_reset); increase = peak - resident size at the start of the measurement",
        },
    }
