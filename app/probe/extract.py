"""Frozen-feature extraction: batched on the compute device, any layer, a pooling choice, cached on disk.

``extract(...)`` is a task generator (``Progress`` while it runs, cancel between batches) returning a
``Features`` record. Features stream batch by batch into a preallocated array (a ``.npy`` memmap in the cache folder,
written under a temporary name and renamed when complete, so a cancelled or crashed run never leaves a half file
that looks valid). Memory stays bounded: the batch size follows the size of the maps, and backbones with an
``extract_pooled`` method (rdsn: depthwise after the stem) compute channels in chunks (of cache-sized maps on the
CPU, ``cache_chunk``; on a GPU as large as a share of its free memory allows, ``map_budget``), backbones with
``map_chunks`` (patches) a few images at a time. On the CPU whole batches are computed
at once on single-threaded workers, one per thread (``_fill``): no thread waits for a descheduled one.

Poolings: ``gap`` (global average), ``max`` (global max), ``gridN`` (average over an N x N grid of cells, as in
Coates & Ng), ``maxgridN`` (max over an N x N grid), ``avgmaxgridN`` (both, 2x the features). Feature order is
channel-major (channel, cell row, cell col). The cells are torch's adaptive pooling: cell i spans rows
floor(i H / N) to ceil((i + 1) H / N), so where N does not divide the map's side neighbouring cells share a row or
column (grid2 on a 27 x 27 map: rows 0-13 and 13-26, where Coates' quadrants are disjoint); where it divides them
(grid3 on 27) the cells are disjoint.

Cache keys are by content: the weights' hash, the layer, the pooling, the input spec and a digest of the decoded
images and labels of the split actually used (``content_digest``, memoised on the dataset object), plus the
dataset's absolute root, so an edited dataset never reads another's features.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from app import paths
from app.data import caches
from app.models.base import ModelError
from app.models.evaluate import forward_error
from app.models.inputs import InputSpec, to_tensor
from app.models.patch_fit import fit_on_training
from app.storage import atomic_path, stale_temporaries
from app.tasks import CancelToken, Progress, check
from app.threads import ThreadTuner, slice_pool

CACHE_VERSION = 4  # 2: keyed by content; 3: batches channels-last (app.models.inputs.channels_last; rounding);
# 4: 6 MB channel chunks and whole batches per worker (rounding: ~1e-8 relative with relu)
MAP_BUDGET = 192 * 2**20  # bytes of layer maps per batch
MAX_BATCH = 512
CACHE_MAPS = 6 * 2**20  # bytes of input-sized maps per channel chunk (measured best on this 2-core machine, 32 MB L3)
MAX_GRID = 16  # gridN: at most 16 x 16 cells per channel (grid100000 would ask for terabytes)
# On an accelerator the CPU's cache-sized numbers above would launch thousands of tiny kernels per batch (rdsn k =
# 100,000 on MNIST: one image per batch, ~50 chunks per image): there the maps of a batch may take a share of the
# device's free memory instead (``map_budget``), and a channel chunk as much as the batch's maps. On an H200
# (2026-12-04, docs/benchmarks/gpu.md): rdsn k = 100,000 at 32x32 368 images/s; the random-cifar10 preset's
# 45,000 + 5,000 + 10,000 images and the mirrored views of the last two in 18.5 s.
GPU_MAP_SHARE = 4  # a quarter of the free memory...
GPU_MAP_MAX = 8 * 2**30  # ...at most 8 GB of maps per batch
OTHER_ACCELERATOR_BUDGET = 1 * 2**30  # MPS and other devices that do not report their free memory


def parse_pooling(pooling: str) -> tuple[str, int]:
    """('avg'|'max', grid) for a pooling name."""
    if pooling == "gap":
        return "avg", 1
    if pooling == "max":
        return "max", 1
    m = re.fullmatch(r"(avgmax|max)?grid(\d{1,6})", pooling or "")
    if m and 1 <= int(m.group(2)) <= MAX_GRID:
        return (m.group(1) or "avg"), int(m.group(2))
    raise ValueError(f"unknown pooling {pooling!r}: use gap, max, gridN, maxgridN or avgmaxgridN "
                     f"(N = 1..{MAX_GRID})")


def pool_maps(maps: torch.Tensor, pooling: str) -> torch.Tensor:
    """(N, C, H, W) maps (or (N, F) vectors) -> (N, F) features."""
    if maps.dim() == 2:
        return maps
    if maps.dim() != 4:
        return maps.flatten(1)
    kind, grid = parse_pooling(pooling)
    if kind == "avgmax":
        n, c = maps.shape[:2]
        return torch.cat([pool_maps(maps, f"grid{grid}").reshape(n, c, -1),
                          pool_maps(maps, f"maxgrid{grid}").reshape(n, c, -1)], dim=2).flatten(1)
    if grid == 1:
        return maps.amax(dim=(2, 3)) if kind == "max" else maps.mean(dim=(2, 3))
    fn = F.adaptive_max_pool2d if kind == "max" else F.adaptive_avg_pool2d
    return fn(maps, grid).flatten(1)


def weights_hash(model: torch.nn.Module) -> str:
    """SHA-1 of the state_dict's names, shapes and bytes: the identity of the weights."""
    h = hashlib.sha1()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        # reshape: 0-dim tensors (batch-norm counters)
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def array_digest(a: np.ndarray) -> str:
    """SHA-1 of an array's dtype, shape and bytes."""
    a = np.ascontiguousarray(a)
    h = hashlib.sha1(f"{a.dtype.str}:{a.shape}".encode())
    h.update(memoryview(a).cast("B") if a.size else b"")
    return h.hexdigest()


def content_digest(ds) -> str:
    """The digest of a dataset's decoded images and labels, computed once per dataset object (memoised on it:
    ``ArrayDataset`` is immutable, and every subset or split is a new object with its own digest)."""
    d = getattr(ds, "_fe_content_digest", None)
    if d is None:
        d = array_digest(ds.images)[:20] + array_digest(np.asarray(ds.labels, dtype=np.int64))[:20]
        object.__setattr__(ds, "_fe_content_digest", d)
    return d


def cache_key(*, weights: str, layer: int, pooling: str, content: str, data_root: str | None, split: str,
              ispec: InputSpec, dtype: str, dataset: str = "") -> str:
    """The feature cache key: everything the features depend on, the data by content (``content_digest``)."""
    blob = json.dumps({
        "v": CACHE_VERSION, "weights": weights, "layer": int(layer), "pooling": pooling, "content": content,
        "dataset": dataset, "root": str(Path(data_root).expanduser().resolve()) if data_root else None,
        "split": split, "input": ispec.key(), "dtype": dtype,
    }, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:24]


def cache_path(key: str) -> Path:
    return paths.cache_dir() / "features" / f"{key}.npy"


@dataclass(frozen=True)
class Features:
    array: np.ndarray  # (N, F) float32 or float16 (may be a read-only memmap)
    seconds: float
    cache_hit: bool
    path: Path | None


def _remove_stale_tmp(path: Path) -> None:
    """Temporary files in the cache folder left by processes that no longer run (killed, crashed)."""
    for tmp in stale_temporaries(path.parent, recursive=False):
        tmp.unlink(missing_ok=True)
    for tmp in path.parent.glob("*.*.tmp.npy"):  # the naming before app.storage: KEY.PID.tmp.npy
        parts = tmp.name.split(".")
        if len(parts) == 4 and parts[1].isdigit() and not _alive(int(parts[1])):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def map_budget(device: torch.device | str) -> int:
    """Bytes of layer maps one extraction batch may hold on ``device``: ``MAP_BUDGET`` on the CPU (cache- and
    RAM-friendly, measured on this 2-core machine); on a CUDA device a ``GPU_MAP_SHARE``-th of its free memory, at
    least ``MAP_BUDGET`` and at most ``GPU_MAP_MAX``; on other accelerators ``OTHER_ACCELERATOR_BUDGET``."""
    dev = torch.device(device)
    if dev.type == "cpu":
        return MAP_BUDGET
    if dev.type == "cuda":
        try:
            free, _total = torch.cuda.mem_get_info(dev)
        except (RuntimeError, AssertionError, ValueError):  # no driver: keep the CPU's figure
            return MAP_BUDGET
        return int(max(MAP_BUDGET, min(GPU_MAP_MAX, free // GPU_MAP_SHARE)))
    return max(MAP_BUDGET, OTHER_ACCELERATOR_BUDGET)


def cache_chunk(model, x: torch.Tensor) -> int:
    """Channels per chunk for a channel-chunked backbone (rdsn). On an accelerator: as many as the device's
    ``map_budget`` holds. On the CPU: within the model's own memory bound
    (``model.chunk_size``), and at most ``CACHE_MAPS`` of input-sized maps, so that each chunk's element-wise passes
    run in the processor's cache. Measured on MNIST 28x28, k = 1024, 62 images per batch (2026-11-30, load 15-16,
    1 thread): 64 channels (12 MB) 295 images/s, 112 (the model's bound alone, 22 MB) 247, 32: 250, 16: 197, and with
    2 threads 79 vs 78 (16 channels: 22, too many small operations). With two single-threaded workers at once, whose
    chunks share the last-level cache, 6 MB is faster than 12 (2026-12-01, quiet machine, 2 threads, best of 2-3
    alternating rounds, images/s; two slices of each batch: rdsn k = 1024 one block GAP on MNIST 1,589 vs 1,196, the
    random-mnist preset's maps 1,223 vs 897, random-cifar10's 319 vs 279, 5 and 7 MB in between, one thread 960 vs
    883 and 775 vs 816; two whole batches at once (``_fill``): 1,872 vs 1,714, 1,509 vs 1,322, 352 vs 333, 4 and 8 MB
    slower)."""
    n, _, h, w = x.shape
    per_channel = max(1, n * h * w * x.element_size())
    if x.device.type != "cpu":  # an accelerator: as many channels as the batch's map budget holds (three buffers)
        return max(1, min(int(getattr(model, "k", 1)), map_budget(x.device) // (3 * per_channel)))
    return max(1, min(model.chunk_size(x), CACHE_MAPS // per_channel))


def _maps_fn(model, layer: int, pooling: str):
    """The function batch -> pooled features, chunked over channels where the backbone can."""
    kind, grid = parse_pooling(pooling)
    if hasattr(model, "extract_pooled"):
        params = inspect.signature(model.extract_pooled).parameters
        chunk = (lambda x: {"chunk": cache_chunk(model, x)}) if "chunk" in params and hasattr(model, "chunk_size") \
            else (lambda x: {})
        if kind == getattr(model, "pool_kind", "avg"):
            return lambda x: model.extract_pooled(x, pool=grid, layer=layer, **chunk(x))
        if "kind" in params:
            return lambda x: model.extract_pooled(x, pool=grid, layer=layer, kind=kind, **chunk(x))
    if hasattr(model, "map_chunks"):  # a few images at a time (patches: large maps, cheap element-wise passes)
        return lambda x: torch.cat([pool_maps(m, pooling) for m in model.map_chunks(x, layer)])
    return lambda x: pool_maps(model.forward_intermediates(x, [layer])[0], pooling)


def whiten_stem(model: torch.nn.Module, images: np.ndarray, ispec: InputSpec, eps: float, *, sample: int = 4000,
                patches: int = 200_000, seed: int = 0) -> bool:
    """Fold patch-ZCA whitening of the input into a random backbone's first convolution (``model.stem``).

    A filter f applied to whitened patches W (p - m) equals the filter W f applied to raw patches with its bias
    lowered by (W f) . m (W = U diag(1 / sqrt(lambda + eps * mean(lambda))) U^T is symmetric), so whitening costs
    nothing per image: the random filters become random *whitened* filters (Coates & Ng 2011), which respond to
    edges and colour contrasts instead of the dominant low-frequency component. Statistics come from ``patches``
    random patches of a seeded subset of ``sample`` training images (drawn from all of them). Returns False (model unchanged) where
    the model has no plain ``stem`` convolution."""
    conv = getattr(model, "stem", None)
    if not isinstance(conv, torch.nn.Conv2d) or conv.groups != 1 or conv.bias is None:
        return False
    kh, kw = conv.kernel_size
    if len(images) > sample:  # a seeded subset of all of them: an image folder's are stored class by class (the
        # first 4,000 of CIFAR-10's were all airplanes); sorted, so reading them keeps the storage order
        images = images[np.sort(np.random.default_rng(int(seed)).permutation(len(images))[:sample])]
    x = to_tensor(images, ispec, "cpu")
    if hasattr(model, "prepare"):  # the statistics of what the stem sees (rdsn's deskewed images)
        with torch.no_grad():
            x = model.prepare(x)
    P = F.unfold(x, (kh, kw)).transpose(1, 2).reshape(-1, x.shape[1] * kh * kw)
    g = torch.Generator().manual_seed(int(seed))
    P = P[torch.randperm(len(P), generator=g)[:patches]].double()
    m = P.mean(0)
    ev, U = torch.linalg.eigh(torch.cov(P.T))
    ev = ev.clamp_min(0)
    W = U @ torch.diag(1.0 / torch.sqrt(ev + float(eps) * float(ev.mean()) + 1e-12)) @ U.T
    w = conv.weight.detach().reshape(conv.out_channels, -1).double().cpu()
    wn = w @ W
    with torch.no_grad():
        conv.weight.copy_(wn.reshape(conv.weight.shape).to(conv.weight))
        conv.bias.sub_((wn @ m).to(conv.bias))
    return True


def fit_backbone(model: torch.nn.Module, train, ispec: InputSpec, seed: int, cancel: CancelToken | None = None):
    """Task: the fit hook of a data-dependent backbone (``model.needs_fit``, e.g. ``patches``): its filters are fitted
    on ``train``, the TRAINING split (after the validation split was carved off; never validation or test images),
    from a seeded subset of at most ``model.fit_images`` images (and ``patch_fit.FIT_BYTES`` of them as floats), once, before
    any extraction. The fitted state is a deterministic function of (``seed``, the training images) and lives in the
    state dict, so ``weights_hash`` (the feature cache key) covers it. Returns the record the run stores: seed, the
    training data's digest, the images used and the fitted state's hash."""
    n = yield from fit_on_training(model, train, ispec, seed, cancel)  # the rule's one home (training uses it too)
    return {"seed": int(seed), "train_digest": content_digest(train), "images": int(n),
            "state": weights_hash(model)[:16]}


def batch_size(model: torch.nn.Module, probe: torch.Tensor, layer: int) -> int:
    """Images per extraction batch: one batch's layer maps within the device's ``map_budget`` (``MAP_BUDGET`` on the
    CPU; at most ``MAX_BATCH``), sized from one pre-processed image ``probe`` (1, C, H, W) on the compute device."""
    with torch.inference_mode():
        if hasattr(model, "extract_pooled"):  # chunked over channels: k maps of the input's size per image
            per_image = probe[0].numel() * 4 * max(1, getattr(model, "k", 64)) // max(1, probe.shape[1])
        else:
            per_image = model.forward_intermediates(probe, [layer])[0][0].numel() * 4 * 3
    return int(max(1, min(MAX_BATCH, map_budget(probe.device) // max(1, per_image))))


def cached_width(key: str | None, n: int) -> int | None:
    """The feature count of the cached features under ``key`` (``n`` rows), from the file's header alone; None
    where there are none (or they are not usable: ``extract`` then computes them anew)."""
    path = cache_path(key) if key else None
    if path is None or not path.exists():
        return None
    try:
        arr = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return None
    return int(arr.shape[1]) if arr.ndim == 2 and arr.shape[0] == n else None


def feature_count(model: torch.nn.Module, images: np.ndarray, ispec: InputSpec, layer: int, pooling: str,
                  device: torch.device | str = "cpu", key: str | None = None) -> int:
    """The features one image gives at ``layer`` with ``pooling`` (one forward of the first image; a model that
    cannot take the input says so as ``extract`` does). ``key``: the features' cache key; where they are cached,
    their count is read from the file and nothing is computed (a cached run runs no forward at all)."""
    cached = cached_width(key, len(images))
    if cached is not None:
        return cached
    model = model.to(device).eval()
    with torch.inference_mode():
        probe = to_tensor(images[:1], ispec, device)
        try:
            return int(_maps_fn(model, layer, pooling)(probe).shape[1])
        except (RuntimeError, ValueError, IndexError, TypeError, AssertionError) as exc:
            raise ModelError(forward_error(model, probe, exc)) from None


def extract(model: torch.nn.Module, images: np.ndarray, ispec: InputSpec, layer: int, pooling: str, *,
            device: torch.device | str = "cpu", key: str | None = None, dtype: str = "auto",
            label: str = "features", cancel: CancelToken | None = None):
    """Task: features of ``images`` (uint8 NHWC) at ``layer`` with ``pooling``; cached under ``key`` if given."""
    t0 = time.perf_counter()
    n = len(images)
    path = cache_path(key) if key else None
    if path is not None and path.exists():
        try:
            arr = np.load(path, mmap_mode="r")
            if arr.ndim == 2 and arr.shape[0] == n:
                caches.mark_used(path)
                yield Progress(n, n, f"{label}: loaded from cache")
                return Features(arr, time.perf_counter() - t0, True, path)
        except (OSError, ValueError):
            pass
        path.unlink(missing_ok=True)
    model = model.to(device).eval()
    fn = _maps_fn(model, layer, pooling)
    yield Progress(0, n, f"extracting {label} 0/{n}")
    with torch.inference_mode():
        probe = to_tensor(images[:1], ispec, device)
        try:  # the first image: a model that cannot take this input says so (lenet5's 5x5 kernels on 8x8 digits)
            batch = batch_size(model, probe, layer)
            first = fn(probe)
        except (RuntimeError, ValueError, IndexError, TypeError, AssertionError) as exc:
            raise ModelError(forward_error(model, probe, exc)) from None
        n_feat = int(first.shape[1])
        if dtype == "auto":
            dtype = "float16" if n * n_feat * 4 > 3 * 2**30 else "float32"
        if path is None:
            out = np.empty((n, n_feat), dtype=np.dtype(dtype))
            yield from _fill(out, fn, images, ispec, device, batch, label, cancel)
            return Features(out, time.perf_counter() - t0, False, None)
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_tmp(path)
        with atomic_path(path) as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.dtype(dtype), shape=(n, n_feat))
            try:
                yield from _fill(out, fn, images, ispec, device, batch, label, cancel)
                out.flush()
            finally:
                del out
    arr = np.load(path, mmap_mode="r")
    caches.trim("features", caches.feature_cache_limit(), keep=(path,))  # least recently used first (app.data.caches)
    return Features(arr, time.perf_counter() - t0, False, path)


def _fill(out, fn, images, ispec, device, batch, label, cancel):
    """Compute ``out`` batch by batch. On the CPU (more than one thread configured) whole batches go to single-threaded
    workers, as many at once as the thread tuner's count of the moment, and are written in order as they complete:
    no thread waits for another inside a batch (a torch team does at every operation's barrier, and on a loaded
    machine one of its threads is descheduled at most of them), the pre-processing runs in the workers too, and
    the next batch starts while the caller handles the last one's progress. Each batch is computed by one thread,
    so the features do not depend on the thread count.

    Measured (2026-12-01, quiet 2-core machine, 2 threads, best of 2-3 alternating rounds, images/s) against the
    earlier design (each batch split into one slice per thread, joined before the next batch: ``in_parts``): rdsn
    k = 1024 one block GAP on MNIST 1,592 -> 1,802; the random-mnist preset's maps 1,207 -> 1,298; random-cifar10's
    314 -> 357. (Session 6 measured those slices against one team of two threads at load ~8: 150-175 vs 27-28.)"""
    n = len(images)
    tuner = ThreadTuner("extract")  # created on the first step: in the thread that runs this task (app.threads)
    pool = slice_pool(tuner.max, "extract") if torch.device(device).type == "cpu" else None
    # the features are rounded to the stored dtype by torch where they are computed (an accelerator: float16 crosses
    # to the host at half the bytes; the CPU: on the worker, not numpy's float16 conversion in this thread, 2x slower
    # on 2,000 x 36,864 relu features); the same round-to-nearest-even bits
    store = torch.float16 if out.dtype == np.float16 else torch.float32
    if pool is None:  # a GPU, or one thread: batch after batch in this thread
        for start in range(0, n, batch):
            check(cancel)
            stop = min(n, start + batch)
            with tuner.step(items=stop - start):  # the compute only, never the yield
                f = fn(to_tensor(images[start:stop], ispec, device))
                out[start:stop] = f.to(store).cpu().numpy()
            yield Progress(stop, n, f"extracting {label} {stop}/{n}")
        return

    def job(start: int, stop: int) -> tuple[np.ndarray, float]:  # on a worker with one torch thread
        t0 = time.perf_counter()
        with torch.inference_mode():
            f = fn(to_tensor(images[start:stop], ispec, device)).to(store).numpy()
        return f, time.perf_counter() - t0

    starts = iter(range(0, n, batch))
    inflight: deque = deque()  # (start, stop, workers at submission, future), oldest first
    try:
        while True:
            workers = max(1, torch.get_num_threads())  # the tuner's count of the moment
            while len(inflight) < workers:
                start = next(starts, None)
                if start is None:
                    break
                check(cancel)
                stop = min(n, start + batch)
                inflight.append((start, stop, workers, pool.submit(job, start, stop)))
            if not inflight:
                break
            start, stop, at, fut = inflight.popleft()
            f, seconds = fut.result()
            out[start:stop] = f  # already in the stored dtype (the worker rounded it)
            # the pace: this batch's own time on its worker shared by the workers running beside it. Not the time
            # between two completions: with w workers those come w at once and then none for a batch's time, and
            # a tuner fed that alternation (measured: 0.1 and 2 ms per image in turn) takes a trial's first
            # batches for the new count's pace and kept one worker on an idle machine (757 instead of ~1,250
            # images/s)
            tuner.record(seconds / max(1, stop - start) / at)
            yield Progress(stop, n, f"extracting {label} {stop}/{n}")
            check(cancel)
    finally:
        for *_, fut in inflight:
            fut.cancel()
        pool.shutdown(wait=True)  # a batch still running (cancel, error) ends before the task does


VIEW_ROWS = 1024  # rows per chunk of ``mean_views``


def mean_views(arrays: list[np.ndarray]) -> np.ndarray:
    """The element-wise mean of same-shape feature arrays (an image's views: test-time mirror or shifts), in the
    first one's dtype: summed in float32 in their order, then divided, row chunk by row chunk. The same bits as
    ``(sum of float32 copies) / n`` in numpy, without a float32 copy of the whole split, and with torch's float16
    conversions. The random-cifar10 preset's test split and its mirror (two 10,000 x 36,864 float16 memmaps, 2 cores,
    load 2-3, 2026-12-04): numpy 10.9 s and 5.3 GB peak RSS, this 1.9 s and 2.6 GB."""
    first = arrays[0]
    if any(a.shape != first.shape for a in arrays):
        raise ValueError(f"views of different shapes: {[a.shape for a in arrays]}")

    def rows(a: np.ndarray, i: int) -> torch.Tensor:  # a chunk as stored (a read-only memmap's: copied, cheap)
        c = np.ascontiguousarray(a[i:i + VIEW_ROWS])
        return torch.from_numpy(c if c.flags.writeable else c.copy())

    out = np.empty(first.shape, first.dtype)
    stored = torch.from_numpy(out[:0]).dtype  # the first array's dtype, as torch names it
    for i in range(0, len(first), VIEW_ROWS):
        total = rows(first, i).to(torch.float32, copy=True)  # never the caller's memory
        for a in arrays[1:]:
            total += rows(a, i).float()
        total /= len(arrays)
        out[i:i + VIEW_ROWS] = total.to(stored).numpy()
    return out
