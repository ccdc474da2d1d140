"""``main.py bench extract``: the probe's feature extraction against a bare batched forward of the same filters.

ours: ``app.probe.extract.extract`` as the probe calls it, under a fresh cache key (a temporary home folder: no cache
hit), from the uint8 images to the features array the head gets (pre-processing per batch, the cache memmap, channel
chunks, progress). bare: the same model's plain forward up to the same layer (``forward_intermediates``) and the same
pooling (``pool_maps``), batch by batch, ``torch.cat`` at the end, on the images pre-processed once beforehand (that
pre-processing is not in its time). Both: the same images, model, device, batch size (``extract.batch_size``) and a
fixed thread count (the tuner off); each measurement in its own process, after a one-batch warm-up, so that its peak
resident memory (``VmHWM``, reset through ``/proc/self/clear_refs`` where allowed) is its own. Measurements alternate
(ours, bare, ours, bare, ...) and the best time of each counts, so the machine's load affects both alike.

``--authors PATH`` adds a third side (issue 13): Xue & Roshan's published model code (the ``random_hp.py`` of their
repository github.com/xyzacademic/RandomDepthwiseCNN, ``mnist/`` for grey images; not shipped here), its ``Rh``
built for the same settings with OUR weights copied in (so that the features must match: the sketch checks it), its
own forward per batch on the images pre-processed once like the bare side, ``--authors-batch`` images at a time
(default 8, their ``mnist/run_job.sh``'s; their network is fastest on small batches here). Only settings
their network can express are accepted: rdsn, ``stem_padding`` 1 (their stem pads 1 whatever its kernel),
``kernel_size`` = ``stem_kernel`` (their depthwise kernels are the stem's size), the last block, global average
pooling, sign, biases.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from app import jsonout
from app.errors import AppError, UserError, message

KINDS = ("ours", "bare")
AUTHORS_KIND = "authors"
AUTHORS_BATCH = 8  # the batch size of Xue & Roshan's mnist/run_job.sh
QUICK_IMAGES = 300
QUICK_OPTIONS = {"k": 32}
SKETCH = 4  # columns of the seeded random projection that compares the two feature arrays


def settings_from_args(args) -> dict:
    """The measurement settings of ``bench extract``'s arguments (checked: UserError), shared by every process."""
    from app import device as devices
    from app.probe.bench import bench_dataset, bench_options, rdsn_default
    from app.probe.config import probe_defaults
    from app.probe.extract import parse_pooling

    if args.images < 1:
        raise UserError(f"bench extract: --images must be at least 1, got {args.images}")
    if not 1 <= args.rounds <= 20:
        raise UserError(f"bench extract: --rounds must be 1..20, got {args.rounds}")
    timeout = getattr(args, "timeout", None)
    if timeout is not None and not (timeout > 0 and math.isfinite(timeout)):
        raise UserError(f"bench extract: --timeout must be a positive number of seconds (one measurement's limit), "
                        f"got {timeout:g}")
    d0 = probe_defaults(args.backbone)
    pooling = d0["pooling"] if args.pooling in (None, "default") else args.pooling
    try:
        parse_pooling(pooling)
    except ValueError as exc:
        raise UserError(f"bench extract: --pooling: {exc}") from None
    dataset = bench_dataset(args)
    authors = getattr(args, "authors", None)
    if authors is not None and not Path(authors).is_file():
        raise UserError(f"bench extract: --authors {authors}: no such file (the random_hp.py of Xue & Roshan's "
                        "repository, e.g. RandomDepthwiseCNN/mnist/random_hp.py)")
    authors_batch = getattr(args, "authors_batch", None)
    authors_batch = AUTHORS_BATCH if authors_batch is None else int(authors_batch)
    if authors_batch < 1:
        raise UserError(f"bench extract: --authors-batch must be at least 1, got {authors_batch}")
    return {"dataset": dataset, "data_root": args.data_root,
            "authors": None if authors is None else str(Path(authors).resolve()), "authors_batch": authors_batch,
            "images": min(args.images, QUICK_IMAGES) if args.quick else int(args.images),
            "backbone": args.backbone,
            "options": bench_options(args, rdsn_default(args.backbone, QUICK_OPTIONS) if args.quick else {}),
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
                        f"{json.dumps(settings['options'])}: {message(exc)}") from None
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


def check_authors_settings(settings: dict, model, layer: int) -> None:
    """UserError unless the authors' ``Rh`` can compute exactly what ``settings`` ask for (see the module text)."""
    opts = settings["options"]
    need = []
    if settings["backbone"] != "rdsn":
        need.append("--backbone rdsn")
    else:
        stem = model.stem
        dw = list(model.dw)
        if stem.padding != (1, 1):
            need.append('"stem_padding": 1')
        if dw and dw[0].kernel_size != stem.kernel_size:
            need.append(f'"kernel_size": {stem.kernel_size[0]} (the stem\'s)')
        if model.act_name != "sign" or stem.bias is None or model.pool_grid != 1:
            need.append('"activation": "sign", "bias": true, "pool_grid": 1')
        if model.deskew:
            need.append('"deskew": false')
        if layer != model.n_blocks or model.n_blocks < 1:
            need.append(f"--layer {max(1, model.n_blocks)} (the last block; at least one)")
    if settings["pooling"] != "gap":
        need.append("--pooling gap")
    if need:
        raise UserError("bench extract --authors: their network computes only rdsn with its stem padded by 1, "
                        "depthwise kernels of the stem's size, sign, biases, no deskewing and global average pooling "
                        f"of the last block; set {', '.join(need)} (got --options {json.dumps(opts)})")


def authors_model(path: str, model, seed: int):
    """The authors' ``Rh`` from ``path`` for ``model``'s shape, with ``model``'s weights copied in."""
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("authors_random_hp", path)
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
        torch.manual_seed(seed)
        net = mod.Rh(num_layers=model.n_blocks, kernel_size=model.stem.kernel_size[0], n=model.k)
        stem_shape = net.conv.weight.shape
    except Exception as exc:  # their file, their errors: say whose
        raise UserError(f"bench extract --authors {path}: cannot build its Rh: {type(exc).__name__}: {exc}") from None
    if stem_shape != model.stem.weight.shape:
        raise UserError(f"bench extract --authors {path}: its stem takes {stem_shape[1]} input channel(s), "
                        f"the images have {model.stem.weight.shape[1]} (use their repository's file for this dataset)")
    try:
        with torch.no_grad():
            net.conv.weight.copy_(model.stem.weight)
            net.conv.bias.copy_(model.stem.bias)
            for i, block in enumerate(net.conv2):
                for theirs, ours in ((block.conv, model.dw[2 * i]), (block.conv2, model.dw[2 * i + 1])):
                    theirs.weight.copy_(ours.weight)
                    theirs.bias.copy_(ours.bias)
    except (AttributeError, IndexError, RuntimeError, TypeError) as exc:
        raise UserError(f"bench extract --authors {path}: its Rh is not the published network (conv, then conv2 "
                        f"blocks of conv and conv2): {type(exc).__name__}: {exc}") from None
    return net.eval()


def authors_features(net, x, batch: int):
    """Their forward, batch by batch, as their ``stack_features.py`` runs it (no_grad): (N, k) float32."""
    import torch

    with torch.no_grad():
        return torch.cat([net(x[s:s + batch]).float() for s in range(0, len(x), batch)]).cpu().numpy()


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
    net = None
    if kind == AUTHORS_KIND:
        check_authors_settings(settings, model, layer)
        net = authors_model(settings["authors"], model, settings["seed"]).to(dev)
    if kind == "ours":
        run_to_end(ex.extract(model, warm, ispec, layer, pooling, device=dev, key=None))
    elif net is not None:
        batch = settings["authors_batch"]
        authors_features(net, to_tensor(images[:batch], ispec, dev), batch)
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
        feats = authors_features(net, x, batch) if net is not None else bare_features(model, x, layer, pooling, batch)
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
    except AppError as exc:  # the user's problem: its message alone (the parent says which measurement failed)
        print(message(exc), file=sys.stderr)
        sys.exit(2)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(jsonout.dumps(out))


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
    # bad backbone / options / layer: the user's error here, before any process starts
    model, _, _, layer, _ = prepare(settings, fit=False)
    kinds = KINDS + ((AUTHORS_KIND,) if settings["authors"] else ())
    if getattr(model, "rotation_views", 0.0):
        raise UserError("bench extract: with rotation_views the probe averages three forwards per image (the image "
                        "and two rotated copies), which the bare forward it is compared with does not compute; set "
                        '"rotation_views": 0 to measure the extraction of one view')
    if settings["authors"]:
        check_authors_settings(settings, model, layer)
        authors_model(settings["authors"], model, settings["seed"])  # a file it cannot use: said now, before any round
    del model
    load_before = list(os.getloadavg())
    runs = [run_child(kind, settings, args.timeout) for _ in range(args.rounds) for kind in kinds]
    load_after = list(os.getloadavg())
    best = {k: min((r for r in runs if r["kind"] == k), key=lambda r: r["seconds"]) for k in kinds}
    peak = {k: max(r["peak_rss_mb"] or 0.0 for r in runs if r["kind"] == k) for k in kinds}
    rise = {k: max((r["peak_rss_mb"] or 0.0) - (r["start_rss_mb"] or 0.0) for r in runs if r["kind"] == k)
            for k in kinds}
    so, sb = np.asarray(best["ours"]["sketch"]), np.asarray(best["bare"]["sketch"])
    diff = float(np.abs(so - sb).max() / max(float(np.abs(sb).max()), 1e-30))
    ours, bare = round(best["ours"]["img_s"], 2), round(best["bare"]["img_s"], 2)
    b = best["ours"]
    authors = {}
    if AUTHORS_KIND in best:
        sa = np.asarray(best[AUTHORS_KIND]["sketch"])
        adiff = float(np.abs(so - sa).max() / max(float(np.abs(sa).max()), 1e-30))
        a_img_s = round(best[AUTHORS_KIND]["img_s"], 2)
        authors = {"authors_img_s": a_img_s, "ratio_vs_authors": float(f"{ours / a_img_s:.4g}"),
                   "authors_seconds": round(best[AUTHORS_KIND]["seconds"], 3),
                   "authors_peak_rss_mb": round(peak[AUTHORS_KIND], 1),
                   "authors_rss_increase_mb": round(rise[AUTHORS_KIND], 1),
                   "authors_features_match": adiff < 1e-4, "authors_sketch_relative_difference": adiff}
    return {
        "ours_img_s": ours, "bare_img_s": bare, "ratio": float(f"{ours / bare:.4g}"),
        "ours_seconds": round(best["ours"]["seconds"], 3), "bare_seconds": round(best["bare"]["seconds"], 3),
        "ours_peak_rss_mb": round(peak["ours"], 1), "bare_peak_rss_mb": round(peak["bare"], 1),
        "ours_rss_increase_mb": round(rise["ours"], 1), "bare_rss_increase_mb": round(rise["bare"], 1),
        "features_match": diff < 1e-4, "sketch_relative_difference": diff, **authors,
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
            **({"authors": f"Rh of {settings['authors']} (Xue & Roshan's published model code) with our weights "
                           f"copied in, its forward per batch of {settings['authors_batch']} under no_grad, on images "
                           "pre-processed once (not timed; their own script also times its DataLoader)",
                "authors_batch": settings["authors_batch"]} if settings["authors"] else {}),
            "memory": "VmHWM of the measurement process (peak resident, after a reset through /proc/self/clear_refs "
                      "when peak_reset); increase = peak - resident size at the start of the measurement",
        },
    }
