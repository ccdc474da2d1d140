"""A probe run end to end: load the dataset, build the frozen backbone, extract (or reuse) features, train a head,
compute the metrics. ``run_probe`` and ``evaluate_model`` are task generators (see ``app.tasks``).
"""

from __future__ import annotations

import inspect
import time
from datetime import datetime, timezone

import numpy as np
import torch

from app import device as devices
from app.data import ArrayDataset, load
from app.models.spec import ModelSpec
from app.probe import extract as ex
from app.probe.config import CurvePoint, ProbeConfig, ProbeResult, probe_defaults
from app.probe.heads import train_head
from app.metrics import evaluate_scores
from app.probe.preprocess import input_spec_for, to_tensor
from app.tasks import CancelToken, Progress, check


# --- datasets -------------------------------------------------------------------------------------------------
def _load_split(config_dataset: str, root: str | None, split: str, limit: int | None, seed: int) -> ArrayDataset:
    ds = load(config_dataset, split, root)
    return ds.subset(limit, seed=seed if split == "train" else seed + 1)


def test_images(config: ProbeConfig) -> ArrayDataset:
    """The exact (limited) test split a run with ``config`` evaluates on (for the misclassified gallery)."""
    return _load_split(config.dataset, config.data_root, "test", config.test_limit, config.seed)


test_images.__test__ = False  # not a pytest test, even when imported into a test module


# --- models ---------------------------------------------------------------------------------------------------
def _builder():
    import importlib

    try:
        mod = importlib.import_module("app.models.build")
        fn = getattr(mod, "build", None)
        if callable(fn):
            return fn
    except ModuleNotFoundError as exc:
        if exc.name != "app.models.build":
            raise
    fn = getattr(importlib.import_module("app.models"), "build", None)
    return fn if callable(fn) else None


def _is_random(spec: ModelSpec) -> bool:
    return not spec.weights and spec.init != "checkpoint"


def effective_spec(spec: ModelSpec, dataset: ArrayDataset, defaults: dict | None = None) -> ModelSpec:
    """For a random backbone (no weights) without explicit input options, match the dataset's channels and size:
    a fresh network has nothing to gain from replicated gray channels or upsampled digits. ``defaults``: further
    options (the probe defaults' ``model_options``) used where the spec does not set them."""
    if not _is_random(spec):
        return spec
    from app.models.base import _REGISTRY, _load_all

    _load_all()
    ctor = _REGISTRY.get(spec.backbone)
    if ctor is None:
        return spec
    target = ctor
    try:
        params = set(inspect.signature(target).parameters)
        if "kw" in params or not params:
            # a registry wrapper: look at the class it builds
            obj_params = _ctor_params(spec.backbone)
            params = obj_params or params
    except (TypeError, ValueError):
        return spec
    opts = dict(spec.options)
    c, h, w = dataset.shape
    changed = False
    if "in_channels" in params and "in_channels" not in opts:
        opts["in_channels"] = c
        changed = True
    if "input_size" in params and "input_size" not in opts and h == w:
        opts["input_size"] = h
        changed = True
    for name, value in (defaults or {}).items():
        if name in params and name not in opts:
            opts[name] = value
            changed = True
    if not changed:
        return spec
    return ModelSpec(spec.backbone, tuple(sorted(opts.items())), spec.init, spec.weights, spec.freeze, spec.seed,
                     spec.label, spec.weight_state, spec.banks)


_CTOR_CLASSES = {"simple": ("app.models.simple", "SimpleCNN"), "rdsn": ("app.models.rdsn", "RDSN")}


def _ctor_params(backbone: str) -> set[str]:
    import importlib

    if backbone not in _CTOR_CLASSES:
        return set()
    mod, cls = _CTOR_CLASSES[backbone]
    try:
        return set(inspect.signature(getattr(importlib.import_module(mod), cls)).parameters)
    except (ImportError, AttributeError, TypeError, ValueError):
        return set()


def build_model(spec: ModelSpec) -> torch.nn.Module:
    fn = _builder()
    if fn is not None:
        return fn(spec)
    if spec.weights:
        raise ValueError("loading weights needs app.models.build (not available in this version)")
    from app.models import create

    torch.manual_seed(spec.seed)
    return create(spec.backbone, **spec.kwargs)


# --- the run ----------------------------------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_probe(config: ProbeConfig, cancel: CancelToken | None = None):
    """Task: train ``config.head`` on frozen features of ``config.model``; returns a ``ProbeResult``."""
    if config.head == "own":
        return (yield from evaluate_model(config.model, config.dataset, config.data_root, config.test_limit,
                                          cancel, seed=config.seed))
    config.resolved_head_options()  # validates the head and its options first
    ex.parse_pooling(config.resolved_pooling())
    yield Progress(0, None, f"loading dataset {config.dataset}")
    train = _load_split(config.dataset, config.data_root, "train", config.train_limit, config.seed)
    check(cancel)
    test = test_images(config)
    # the probe defaults may depend on the input (3-channel colour photographs vs 1-channel digits)
    channels = int(train.shape[0])
    head_opts = config.resolved_head_options(channels)
    pooling = config.resolved_pooling(channels)
    ex.parse_pooling(pooling)
    defaults = probe_defaults(config.model.backbone, channels)
    n_classes = max(len(train.classes), int(train.labels.max()) + 1 if len(train) else 0)
    spec = effective_spec(config.model, train, defaults.get("model_options") or None)
    yield Progress(0, None, f"building {spec.label or spec.backbone}")
    model = build_model(spec)
    for p in model.parameters():
        p.requires_grad_(False)
    n_layers = len(model.feature_info)
    layer = config.resolved_layer(n_layers)
    dev = devices.pick()
    ispec = input_spec_for(spec, model, train)
    t0 = time.perf_counter()
    whiten = defaults.get("whiten")
    if whiten is not None and _is_random(spec):
        yield Progress(0, None, "whitening the stem filters (patch ZCA)")
        if not ex.whiten_stem(model, train.images, ispec, float(whiten), seed=config.seed):
            whiten = None
    else:
        whiten = None
    whash = ex.weights_hash(model) + "|" + spec.key()
    feats = {}
    hits = []
    for split, ds, limit in (("train", train, config.train_limit), ("test", test, config.test_limit)):
        key = ex.cache_key(weights=whash, layer=layer, pooling=pooling, dataset=config.dataset,
                           data_root=config.data_root, split=split, limit=limit, seed=config.seed, n=len(ds),
                           ispec=ispec, dtype="auto")
        f = yield from ex.extract(model, ds.images, ispec, layer, pooling, device=dev, key=key,
                                  label=f"{split} features", cancel=cancel)
        feats[split] = f
        hits.append(f.cache_hit)
    extract_seconds = time.perf_counter() - t0
    del model
    check(cancel)
    yield Progress(0, None, f"training {config.head} head")
    hr = yield from train_head(config.head, feats["train"].array, train.labels, feats["test"].array, test.labels,
                               n_classes, head_opts, device=dev, seed=config.seed, cancel=cancel)
    m = evaluate_scores(hr.scores, test.labels, n_classes)
    settings = {
        "layer": layer, "layer_name": getattr(getattr(build_model, "__self__", None), "x", None) or None,
        "pooling": pooling, "head": config.head, "head_options": hr.settings,
        "input": {"channels": ispec.channels, "size": list(ispec.size), "mean": list(ispec.mean),
                  "std": list(ispec.std)},
        "model_options": dict(spec.options), "split_seed": config.seed, "whiten_stem": whiten,
        "feature_dtype": str(feats["train"].array.dtype),
    }
    settings.pop("layer_name")
    return ProbeResult(
        config=config, top1=m.top1, top2=m.top2, top5=m.top5, per_class=m.per_class, confusion=m.confusion,
        classes=tuple(train.classes), misclassified=m.misclassified, mis_predicted=m.mis_predicted,
        n_train=len(train), n_test=len(test), n_features=int(feats["train"].array.shape[1]),
        extract_seconds=extract_seconds, train_seconds=hr.seconds, curves=hr.curves,
        device=devices.describe(dev).name, created=_now(), feature_cache_hit=all(hits), settings=settings,
    )


def evaluate_model(spec: ModelSpec, dataset: str, data_root=None, test_limit=None, cancel=None, seed: int = 0):
    """Task: the fully trained baseline: the model's own classifier on the test split (head = "own")."""
    config = ProbeConfig(model=spec, dataset=dataset, data_root=data_root, head="own", test_limit=test_limit,
                         seed=seed)
    yield Progress(0, None, f"loading dataset {dataset}")
    test = test_images(config)
    model = build_model(spec)
    if getattr(model, "num_classes", 0) <= 0:
        raise ValueError(f"{spec.label or spec.backbone} has no classifier of its own (load trained weights first)")
    dev = devices.pick()
    model = model.to(dev).eval()
    ispec = input_spec_for(spec, model, test)
    n = len(test)
    t0 = time.perf_counter()
    outs = []
    with torch.inference_mode():
        for start in range(0, n, 256):
            check(cancel)
            x = to_tensor(test.images[start:start + 256], ispec, dev)
            outs.append(model(x).float().cpu().numpy())
            yield Progress(min(n, start + 256), n, f"evaluating {min(n, start + 256)}/{n}")
    scores = np.concatenate(outs) if outs else np.zeros((0, len(test.classes)), np.float32)
    seconds = time.perf_counter() - t0
    n_classes = max(len(test.classes), scores.shape[1])
    m = evaluate_scores(scores, test.labels, n_classes)
    return ProbeResult(
        config=config, top1=m.top1, top2=m.top2, top5=m.top5, per_class=m.per_class[:len(test.classes)],
        confusion=m.confusion, classes=tuple(test.classes), misclassified=m.misclassified,
        mis_predicted=m.mis_predicted, n_train=0, n_test=n, n_features=int(getattr(model, "num_features", 0)),
        extract_seconds=seconds, train_seconds=0.0, curves=(), device=devices.describe(dev).name, created=_now(),
        feature_cache_hit=False,
        settings={"head": "own", "input": {"channels": ispec.channels, "size": list(ispec.size)}},
    )
