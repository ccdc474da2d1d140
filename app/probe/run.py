"""A probe run end to end. ``run_probe(config)`` resolves everything first (``app.probe.resolve``: one frozen
``ResolvedProbe`` record), then ``run_resolved(record)`` does the work from the record alone:

1. the splits: a seeded training subset, a seeded stratified validation split carved from it (``record.val``
   images; 0 = none), the seeded test subset;
2. features of train and validation (cached by content), for each candidate layer/pooling when these are selected;
3. the head's hyperparameter (and, when asked, layer and pooling) chosen on validation (``select_and_fit``);
   with ``record.refit`` the chosen value is then fitted once more on training + validation images (the
   validation images' own features, without test-time views: training rows are single views);
4. the test split scored once, at the end (by the refit where there is one).

Head "own" (the model's trained classifier) goes through the one evaluation (``predict``) after
``check_classifier_fits`` refuses a dataset the classifier was not trained for. All are task generators
(``app.tasks``).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import numpy as np

from app import device as devices
from app.data import ArrayDataset, DatasetError, load
from app.data.core import class_problem, data_notes, limited
from app.data.formats import load_task
from app.metrics import evaluate_scores
from app.models.build import build
from app.models.spec import ModelSpec
from app.probe import extract as ex
from app.probe.budget import fit_projection
from app.probe.head_export import EXPORTED_HEADS, save_head
from app.probe.headcore import standardizer
from app.probe.config import HYPERPARAMETER, TTA_SHIFTS, ProbeConfig, ProbeResult
from app.models.evaluate import check_classifier_fits, predict
from app.probe.resolve import ResolvedProbe, effective_spec, is_random, resolve  # noqa: F401 (effective_spec: API)
from app.probe import memory
from app.probe.selection import select_and_fit
from app.storage import content_id
from app.tasks import CancelToken, Progress, check

SELECT_POOLINGS = ("gap", "grid2", "grid3", "maxgrid2", "avgmaxgrid2")


# --- datasets -------------------------------------------------------------------------------------------------
def test_split(record: ResolvedProbe, test_full: ArrayDataset | None = None) -> ArrayDataset:
    """The exact (limited) test split the run of ``record`` evaluates on (``test_full``: the whole split, loaded)."""
    if test_full is None:
        test_full = load(record.dataset, "test", record.data_root)
    return limited(test_full, record.test_limit, record.seeds.split)


def train_splits(record: ResolvedProbe, train_full: ArrayDataset | None = None) -> tuple[ArrayDataset, ArrayDataset]:
    """(train, validation) of ``record``: the seeded subset, then the seeded stratified validation split."""
    if train_full is None:
        train_full = load(record.dataset, "train", record.data_root)
    train = limited(train_full, record.train_limit, record.seeds.split)
    return train.split_off(record.val, record.seeds.split)


def tta_views(ds: ArrayDataset, tta: str) -> list[tuple[str, ArrayDataset]]:
    """The extra views of ``ds`` that test-time views ``tta`` score it with (``app.probe.config.TTA``), named."""
    if tta == "hflip":
        return [("mirrored", ds.mirrored())]
    if tta == "shift1":
        return [(f"shifted {dy},{dx}", ds.shifted(dy, dx)) for dy, dx in TTA_SHIFTS]
    return []


def test_images(config) -> ArrayDataset:
    """The test split of a run: from its ``ResolvedProbe`` (or a stored run's dict), else from a ``ProbeConfig``
    (runs stored before the record existed: subset seed = seed + 1)."""
    if isinstance(config, dict):
        if config.get("resolved"):
            return test_split(ResolvedProbe.from_dict(config["resolved"]))
        config = ProbeConfig.from_dict(config["config"])
    if isinstance(config, ResolvedProbe):
        return test_split(config)
    seed = config.seed if config.split_seed is None else config.split_seed
    return limited(load(config.dataset, "test", config.data_root), config.test_limit, seed)


test_images.__test__ = False  # not a pytest test, even when imported into a test module
test_split.__test__ = False


def build_model(spec: ModelSpec):
    """The frozen backbone of ``spec`` (``app.models.build.build``) on the compute device."""
    model = build(spec)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def external_content(spec: ModelSpec) -> str:
    """``spec.key()`` plus, for a model file the user brought (``external``), the content of its files: a TorchScript
    or ONNX program is not in its state_dict, so a file re-exported in place (ReLU -> tanh, the same parameters)
    must not be answered from the feature cache: the model file itself (``options.source``: a random twin has no
    weights but runs the file's program) and the weights file (timm)."""
    key = spec.key()
    if spec.backbone != "external":
        return key
    files = {str(spec.kwargs.get("source") or ""), str(spec.weights or "")}
    return key + "|" + ",".join(sorted(content_id(f) or "" for f in files if f and not f.startswith("timm:")))


def _check_stored_input(record: ResolvedProbe, model) -> None:
    """A stored run of an imported model whose input came from its file's metadata: refuse a rerun when the file now
    declares another input (the file was re-exported: the rerun would not be the same run)."""
    from app.models.external.model import from_metadata

    if record.model.backbone != "external" or record.input is None or not from_metadata(record.input):
        return
    from app.models.inputs import input_spec

    now = input_spec(record.model, model)  # as the run resolved it, from what the file declares now
    if not from_metadata(now) or now.with_(source="") != record.input.with_(source=""):
        from app.probe.history import HistoryError

        said = now.with_(source="").describe() if from_metadata(now) else "none"
        raise HistoryError(f"{record.model.label}: the file changed since this run: its metadata declared the input "
                           f"{record.input.with_(source='').describe()}, it now declares {said}; run the probe anew")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def config_of(record: ResolvedProbe) -> ProbeConfig:
    """A ``ProbeConfig`` asking exactly for ``record`` (for a rerun's result)."""
    return ProbeConfig(
        model=record.model, dataset=record.dataset, data_root=record.data_root, layer=record.layer,
        pooling=record.pooling, head=record.head, train_limit=record.train_limit, test_limit=record.test_limit,
        seed=record.seeds.split, head_options=record.head_options, val=record.val, split_seed=record.seeds.split,
        head_seed=record.seeds.head, feature_budget=record.feature_budget,
        budget_method=record.budget_method or "pca", select_layer="layer" in record.select,
        select_pooling="pooling" in record.select, grid=record.grid, tta=record.tta, refit=record.refit)


# --- the run ----------------------------------------------------------------------------------------------------
def run_probe(config: ProbeConfig, cancel: CancelToken | None = None):
    """Task: resolve ``config`` (before any extraction), then run it; returns a ``ProbeResult``."""
    from app.probe.resolve import check_config

    check_config(config)
    yield Progress(0, None, f"loading dataset {config.dataset}")
    # the own classifier needs no training images: its record is resolved from the test split
    own = config.head == "own"
    # as a task: a first load's decoding (60,000 JPEG files: ~10 s on an H200's host, more here) shows its progress
    data = yield from load_task(config.dataset, "test" if own else "train", config.data_root, cancel=cancel)
    if len(data) == 0:
        raise DatasetError(f"{config.dataset}: the {data.split} split has no images")
    check(cancel)
    yield Progress(0, None, f"building {config.model.label or config.model.backbone}")
    record, model = resolve(config, data, devices.pick())
    return (yield from run_resolved(record, cancel, train_full=None if own else data, model=model, config=config))


def rerun(stored: dict, cancel: CancelToken | None = None):
    """Task: the run of a stored result (``ProbeResult.to_dict()`` with its ``resolved`` record), rebuilt."""
    if not stored.get("resolved"):
        from app.probe.history import HistoryError

        raise HistoryError("this run was stored before runs kept their complete record; it cannot be rebuilt")
    return (yield from run_resolved(ResolvedProbe.from_dict(stored["resolved"]), cancel))


def run_resolved(record: ResolvedProbe, cancel: CancelToken | None = None, *, train_full=None, model=None,
                 config: ProbeConfig | None = None):
    """Task: the run of ``record`` (see the module docstring); ``model``: the built backbone, when at hand."""
    dev = devices.pick()
    config = config or config_of(record)
    if model is None:
        yield Progress(0, None, f"building {record.model.label or record.model.backbone}")
        model = build_model(record.model)
        _check_stored_input(record, model)
    if record.head == "own":
        return (yield from _run_own(record, model, config, dev, cancel))
    _check_head_values(record)  # a rerun's record too: before anything is loaded or extracted
    yield Progress(0, None, f"loading dataset {record.dataset}")
    if train_full is None:  # a rerun: the training split loaded here, with its progress
        train_full = yield from load_task(record.dataset, "train", record.data_root, cancel=cancel)
    train, val = train_splits(record, train_full)
    test = test_split(record, (yield from load_task(record.dataset, "test", record.data_root, cancel=cancel)))
    for ds in (train, test):
        if len(ds) == 0:
            raise DatasetError(f"{record.dataset}: the {ds.split} split has no images")
    problem = class_problem(train, test)
    if problem:
        raise DatasetError(problem)
    _check_k(record, len(train), len(val))
    check(cancel)
    n_classes = max(len(train.classes), int(train.labels.max()) + 1 if len(train) else 0)
    t0 = time.perf_counter()
    whiten = record.whiten
    whiten_note = None
    if whiten is not None:
        yield Progress(0, None, "whitening the stem filters (patch ZCA)")
        if not ex.whiten_stem(model, train.images, record.input, float(whiten), seed=record.seeds.split):
            # the record says what the run did (it said whitened: Insight's projector then told the user so and
            # skipped the cached features); the request is kept in ``config``
            whiten_note = (f"stem whitening {whiten} not applied: this model's first convolution has no bias to take "
                           f"the patch mean (or is not a plain convolution named stem), so its filters were left "
                           f"as they are")
            whiten = None
            record = record.with_(whiten=None)
    fit = None
    if getattr(model, "needs_fit", False):  # data-dependent backbone: filters from the training split only
        yield Progress(0, None, "fitting the filters on the training split")
        fit = yield from ex.fit_backbone(model, train, record.input, record.seeds.model, cancel)
    whash = ex.weights_hash(model) + "|" + external_content(record.model)
    hits: list[bool] = []

    def key_of(ds: ArrayDataset, split: str, layer: int, pooling: str) -> str:
        return ex.cache_key(weights=whash, layer=layer, pooling=pooling, content=ex.content_digest(ds),
                            data_root=record.data_root, split=split, ispec=record.input, dtype="auto",
                            dataset=record.dataset)

    def feats(ds: ArrayDataset, split: str, layer: int, pooling: str, n_feat: int | None = None):
        if len(ds) == 0:
            return np.zeros((0, n_feat or 0), np.float32)
        key = key_of(ds, split, layer, pooling)
        f = yield from ex.extract(model, ds.images, record.input, layer, pooling, device=dev, key=key,
                                  label=f"{split} features", cancel=cancel)
        hits.append(f.cache_hit)
        return f.array

    def evaluated(ds: ArrayDataset, split: str, layer: int, pooling: str, n_feat: int):
        """Features of a split that is scored (validation, test): with test-time views (``tta``), the mean over each
        image's views (a linear head's scores are then the mean of the views' scores): "hflip" the image and its
        left-right mirror, "shift1" the image and its four one-pixel shifts."""
        X = yield from feats(ds, split, layer, pooling, n_feat)
        others = tta_views(ds, record.tta)
        if not others or len(ds) == 0:
            return X
        views = [X]
        for name, view in others:
            views.append((yield from feats(view, f"{split} {name}", layer, pooling, n_feat)))
        return ex.mean_views(views)

    projections = []  # the last fitted projection (kept with the exported head)
    unprojected = []  # the feature count, when the last projection was none (the budget >= the features)
    cut = []  # (directions, training images), when PCA gave fewer directions than the budget (fewer images)

    def project(Xtr, *others):
        if record.feature_budget is None:
            return (Xtr, *others)
        proj = fit_projection(Xtr, record.feature_budget, record.budget_method or "pca", record.seeds.head)
        if proj.matrix is None:  # no more features than the budget: nothing to project, nothing kept
            projections[:], unprojected[:], cut[:] = [], [int(Xtr.shape[1])], []
            return (Xtr, *others)
        projections[:], unprojected[:] = [proj], []
        cut[:] = [(proj.n_out, len(Xtr))] if proj.n_out < int(record.feature_budget) else []
        return tuple(proj.apply(X) for X in (Xtr, *others))

    opts = record.options
    layers = range(len(model.feature_info)) if "layer" in record.select else (record.layer,)
    poolings = SELECT_POOLINGS if "pooling" in record.select else (record.pooling,)
    candidates = [(ly, po) for ly in layers for po in poolings]
    # before minutes of extraction: would the head's arrays fit in memory? (app.probe.memory; a lower bound)
    scored = len(val) if len(candidates) > 1 else max(len(val), len(test))  # every candidate is fitted and scored
    # a refit's training rows are the training and validation images, its scored rows the test images
    rows = len(train) + (len(val) if record.refit else 0)
    for ly, po in candidates:
        d = ex.feature_count(model, train.images, record.input, ly, po, device=dev,
                             key=key_of(train, "train", ly, po) if len(train) else None)
        memory.check_fits(record.head, rows, len(val), max(scored, len(test) if record.refit else 0), d, dev,
                          record.feature_budget, record.budget_method)
    check(cancel)
    extract_seconds = 0.0
    if len(candidates) > 1:
        scored = []
        for ly, po in candidates:
            check(cancel)
            t1 = time.perf_counter()
            Xtr = yield from feats(train, "train", ly, po)
            Xva = yield from evaluated(val, "val", ly, po, Xtr.shape[1])
            extract_seconds += time.perf_counter() - t1
            Xtr, Xva = project(Xtr, Xva)
            yield Progress(0, None, f"selecting: layer {ly}, {po}")
            # the test split is not touched while selecting: validation stands in for it
            sel = yield from select_and_fit(record.head, Xtr, train.labels, Xva, val.labels, Xva, val.labels,
                                            n_classes, opts, grid=record.grid, device=dev, seed=record.seeds.head,
                                            cancel=cancel)
            scored.append(((ly, po), sel.val_top1))
        best = max(range(len(scored)), key=lambda i: (scored[i][1], -i))  # ties: the first candidate
        ly, po = scored[best][0]
        record = record.with_(layer=ly, layer_name=model.feature_info[ly].name, pooling=po)
    t1 = time.perf_counter()
    Xtr = yield from feats(train, "train", record.layer, record.pooling)
    Xva = yield from evaluated(val, "val", record.layer, record.pooling, Xtr.shape[1])
    Xte = yield from evaluated(test, "test", record.layer, record.pooling, Xtr.shape[1])
    # a refit's extra training rows: the validation images' own features (cached: read, not computed again)
    Xvr = (yield from feats(val, "val", record.layer, record.pooling, Xtr.shape[1])) if record.refit else None
    extract_seconds += time.perf_counter() - t1
    stem = _whitened_stem(model) if whiten is not None else None
    del model
    if Xvr is None:
        Xtr, Xva, Xte = project(Xtr, Xva, Xte)
    else:
        Xtr, Xva, Xte, Xvr = project(Xtr, Xva, Xte, Xvr)
    budget_note = None
    if unprojected:  # the record says what the run did: no budget applied (the request is kept in ``config``)
        budget_note = (f"feature budget {record.feature_budget} not applied: there are only {unprojected[0]} "
                       f"features, no more than the budget (nothing to project)")
        record = record.with_(feature_budget=None, budget_method=None)
    elif cut:  # the budget asked stays in the record (a rerun asks it again); n_features is the count the head saw
        budget_note = (f"feature budget {record.feature_budget}: only {cut[0][0]} PCA directions from {cut[0][1]} "
                       f"training images (PCA finds at most one per training image), so the head was fitted on "
                       f"{cut[0][0]} features, not {record.feature_budget}")
    check(cancel)
    yield Progress(0, None, f"training {record.head} head")
    sel = yield from select_and_fit(record.head, Xtr, train.labels, Xva, val.labels, Xte, test.labels, n_classes,
                                    opts, grid=record.grid, device=dev, seed=record.seeds.head, cancel=cancel,
                                    refit=None if Xvr is None else (Xvr, val.labels))
    hr = sel.result
    m = evaluate_scores(hr.scores, test.labels, n_classes)
    selected = {HYPERPARAMETER[record.head]: sel.best_value}
    if "layer" in record.select:
        selected["layer"] = record.layer
    if "pooling" in record.select:
        selected["pooling"] = record.pooling
    settings = {
        "layer": record.layer, "layer_name": record.layer_name, "pooling": record.pooling, "head": record.head,
        "head_options": dict(hr.settings), "input": record.input.to_dict(), "model_options": dict(record.model.options),
        "split_seed": record.seeds.split, "whiten_stem": whiten, "feature_dtype": str(Xtr.dtype),
        "feature_budget": record.feature_budget, "budget_method": record.budget_method, "tta": record.tta,
    }
    if sel.refit is not None:
        settings["refit"] = dict(sel.refit)
    if budget_note:
        settings["feature_budget_note"] = budget_note
    if whiten_note:
        settings["whiten_note"] = whiten_note
    if hr.extra:  # k-NN: retrieval precision@1/5/10 and mAP of the test images against the training set
        settings["retrieval"] = dict(hr.extra)
    notes = data_notes(train, test)
    if notes:  # what loading the dataset said (files skipped or resized ...): a caveat of the figures
        settings["data_notes"] = list(notes)
    if fit is not None:
        settings["fit"] = fit
    result = ProbeResult(
        config=config, top1=m.top1, top2=m.top2, top5=m.top5, per_class=m.per_class, confusion=m.confusion,
        classes=tuple(train.classes), misclassified=m.misclassified, mis_predicted=m.mis_predicted,
        n_train=len(train), n_test=len(test), n_features=int(Xtr.shape[1]), extract_seconds=extract_seconds,
        train_seconds=hr.seconds, curves=hr.curves, device=devices.describe(dev).name, created=_now(),
        feature_cache_hit=bool(hits) and all(hits), settings=settings, val_top1=sel.val_top1, selected=selected,
        selection=tuple(tuple(r) for r in sel.table), selection_iterations=tuple(sel.iterations),
        seeds=record.seeds.to_dict(), n_val=len(val),
        resolved=record, stop=dict(getattr(hr, "stop", {}) or {}), test_fingerprint=test.fingerprint,
        machine=devices.machine(),
    )
    if fit is not None:  # Live rebuilds the backbone from its spec alone: it would not have the fitted filters
        settings["head_file"] = None
        settings["head_file_error"] = "not exported: Live cannot rebuild a data-dependent backbone's fitted filters"
    elif record.head in EXPORTED_HEADS and hr.state:  # keep the fitted head: Live applies it to any frame
        mean, inv = sel.stats or standardizer(Xtr, bool(sel.best_opts.get("standardize", True)))
        try:
            path = save_head(result, record, hr, mean=mean, inv_std=inv, size=tuple(train.images.shape[1:3]),
                             projection=projections[0] if projections else None, stem=stem)
            settings["head_file"] = str(path)
        except OSError as exc:  # the run itself succeeded: say why its head is not kept, lose nothing else
            settings["head_file"] = None
            settings["head_file_error"] = str(exc)
    return result


def _check_head_values(record: ResolvedProbe) -> None:
    """The head's options and grid of ``record`` (``app.probe.config.check_head_options``), as ProbeSettingsError."""
    from app.probe.config import check_grid, check_head_options
    from app.probe.resolve import ProbeSettingsError

    try:
        check_head_options(record.head, record.options, record.head)
        check_grid(record.head, record.grid, record.head)
    except ValueError as exc:
        raise ProbeSettingsError(str(exc)) from None


def _check_k(record: ResolvedProbe, n_train: int, n_val: int) -> None:
    """Refuse a k-NN k the user gave (options or grid) larger than the training rows: it could not be honoured
    (every vote would be the whole training set's) and the record would claim it."""
    from app.probe.resolve import ProbeSettingsError

    if record.head != "knn" or record.grid is None:
        return
    k = max(int(v) for v in record.grid)
    if k > n_train:
        where = f" ({n_train + n_val} training images less {n_val} for validation)" if n_val else ""
        raise ProbeSettingsError(f"knn: k = {k} is more than the {n_train} training rows{where}; choose k <= "
                                 f"{n_train} or use more training images")


def _whitened_stem(model) -> tuple[np.ndarray, np.ndarray] | None:
    conv = getattr(model, "stem", None)
    if conv is None or getattr(conv, "bias", None) is None:
        return None
    return conv.weight.detach().float().cpu().numpy().copy(), conv.bias.detach().float().cpu().numpy().copy()


def _run_own(record: ResolvedProbe, model, config: ProbeConfig, dev, cancel):
    """The trained baseline: the model's own classifier on the test split, refused on a foreign dataset."""
    yield Progress(0, None, f"loading dataset {record.dataset}")
    test = test_split(record)
    if len(test) == 0:
        raise DatasetError(f"{record.dataset}: the test split has no images")
    check_classifier_fits(record.model, model, test)
    t0 = time.perf_counter()
    scores = yield from predict(model, test.images, record.input, device=dev, cancel=cancel)
    seconds = time.perf_counter() - t0
    n_classes = max(len(test.classes), scores.shape[1])
    m = evaluate_scores(scores, test.labels, n_classes)
    return ProbeResult(
        config=config, top1=m.top1, top2=m.top2, top5=m.top5, per_class=m.per_class[:len(test.classes)],
        confusion=m.confusion, classes=tuple(test.classes), misclassified=m.misclassified,
        mis_predicted=m.mis_predicted, n_train=0, n_test=len(test), n_features=int(getattr(model, "num_features", 0)),
        extract_seconds=seconds, train_seconds=0.0, curves=(), device=devices.describe(dev).name, created=_now(),
        feature_cache_hit=False, settings={"head": "own", "input": record.input.to_dict()},
        seeds=record.seeds.to_dict(), resolved=record, test_fingerprint=test.fingerprint,
        machine=devices.machine())


def evaluate_model(spec: ModelSpec, dataset: str, data_root=None, test_limit=None, cancel=None, seed: int = 0):
    """Task: the fully trained baseline (head "own") of ``spec`` on ``dataset``'s test split."""
    config = ProbeConfig(model=spec, dataset=dataset, data_root=data_root, head="own", test_limit=test_limit,
                         seed=seed)
    return (yield from run_probe(config, cancel))


__all__ = ["run_probe", "run_resolved", "rerun", "evaluate_model", "test_images", "test_split", "train_splits",
           "build_model", "effective_spec", "is_random", "config_of"]
