"""What a probe run is (``ProbeConfig``), what it reports while training (``CurvePoint``) and what it returns
(``ProbeResult``), plus the per-backbone probe defaults (layer, pooling, head and head options).

``ProbeConfig`` is what the user asked for ("default" pooling, no layer, a seed); ``app.probe.resolve`` turns it
once, up front, into a complete ``ResolvedProbe`` record that the run uses and the history stores.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.models.spec import ModelSpec
# the selection notes and the hyperparameter table live in app.probe.notes; importable from here as before
from app.probe.notes import FEW_ITERATIONS, HYPERPARAMETER, curve_note, selection_note  # noqa: F401

HEADS = ("logistic", "ridge", "svm", "knn")
POOLINGS = ("default", "gap", "max", "grid2", "grid3", "grid4", "grid7", "maxgrid2", "maxgrid3", "maxgrid4",
            "avgmaxgrid2", "avgmaxgrid3", "avgmaxgrid4")  # grid7: every coefficient of MNIST's 7x7 scattering maps

# head option defaults (every value a run used is recorded in its result)
HEAD_DEFAULTS: dict[str, dict[str, Any]] = {
    # softmax regression on standardised features, on the compute device
    "logistic": {"optimizer": "lbfgs", "weight_decay": 1e-4, "epochs": 100, "lr": 1.0, "batch_size": 512, "tol": 1e-4,
                 "gap_tol": 0.1, "precondition": "auto",
                 "standardize": True, "eval_every": 10},
    # closed-form ridge regression on one-vs-all targets (primal or dual, whichever is smaller)
    "ridge": {"alpha": 1.0, "standardize": True},
    # squared-hinge linear SVM, L-BFGS on the device, stopped by gradient norm and duality gap. multiclass "ww"
    # (Weston-Watkins, one problem for all classes) chosen on validation: rdsn MNIST features (15,000 train / 5,000
    # validation), validation top-1 98.62% against one-vs-rest's 98.22% (each at its C selected on validation);
    # "ovr" is LinearSVC's problem (bench svm compares that one)
    "svm": {"C": 1.0, "epochs": 1000, "tol": 1e-4, "gap_tol": 1e-3, "multiclass": "ww", "standardize": True,
            "eval_every": 10},
    # k nearest neighbours (euclidean, torch.cdist in chunks)
    "knn": {"k": 5, "standardize": True},
}

# test-time views (``ProbeConfig.tta``): "hflip" scores each validation and test image by the mean of its own and its
# left-right mirror's features (for a linear head: the mean of the two views' scores); the head trains on the training
# images as they are. For photographs (CIFAR-10), not digits or text, whose mirror images are other symbols.
# "shift1": the mean over the image and its four one-pixel shifts (up, down, left, right; the uncovered edge black):
# for digits, whose label a pixel's move does not change.
TTA = ("none", "hflip", "shift1")
TTA_SHIFTS = ((-1, 0), (1, 0), (0, -1), (0, 1))  # (rows, columns) of "shift1"'s four extra views
TTA_NAMES = {"none": "none", "hflip": "mirror views", "shift1": "shift views"}  # as the views and reports name them


# what each head option of a probe run may be (``head_option_problem``), checked before anything is loaded or
# extracted: "count" a whole number >= 1, "positive" a number > 0, "nonneg" a number >= 0, "every" a whole number
# >= 0, "flag" true/false, a tuple one of those choices. (The head functions themselves stay lenient where their
# tests rely on it: epochs 0 reports the start, k 0 means 1.)
OPTION_RULES: dict[str, dict[str, Any]] = {
    "logistic": {"weight_decay": "nonneg", "epochs": "count", "lr": "positive", "batch_size": "count",
                 "tol": "nonneg", "gap_tol": "nonneg", "eval_every": "every", "optimizer": ("lbfgs", "adam"),
                 "precondition": ("auto", "on", "off", "yes", "no", True, False), "standardize": "flag"},
    "ridge": {"alpha": "positive", "standardize": "flag"},
    "svm": {"C": "positive", "epochs": "count", "tol": "nonneg", "gap_tol": "nonneg", "eval_every": "every",
            "multiclass": ("ovr", "ww"), "standardize": "flag"},
    "knn": {"k": "count", "standardize": "flag"},
}
_RULE_TEXT = {"count": "a positive integer", "every": "a whole number (0 or more)", "positive": "positive",
              "nonneg": "0 or more"}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _is_flag(v: Any) -> bool:
    return isinstance(v, (bool, np.bool_)) or (_is_number(v) and v in (0, 1))


def head_option_problem(head: str, key: str, value: Any) -> str | None:
    """What is wrong with head option ``key`` = ``value`` of ``head`` ("epochs must be a positive integer, got -3"),
    or None (fine, or an option this check does not know: unknown options are refused elsewhere)."""
    rule = OPTION_RULES.get(head, {}).get(key)
    if rule is None:
        return None
    if isinstance(rule, tuple):
        if not any(value == c and (isinstance(value, str) if isinstance(c, str) else _is_flag(value)) for c in rule):
            names = ", ".join("true" if c is True else "false" if c is False else str(c) for c in rule)
            return f"{key} must be one of {names}, got {value!r}"
        return None
    if rule == "flag":
        if _is_flag(value):
            return None
        return f"{key} must be true or false, got {value!r}"
    if not _is_number(value):
        return f"{key} must be {_RULE_TEXT[rule] if rule in ('count', 'every') else 'a number'}, got {value!r}"
    v = float(value)
    if v != v or v in (float("inf"), float("-inf")):
        return f"{key} must be a finite number, got {value!r}"
    if rule in ("count", "every") and v != int(v):
        return f"{key} must be {_RULE_TEXT[rule]}, got {value!r}"
    bad = {"count": v < 1, "every": v < 0, "positive": not v > 0, "nonneg": v < 0}[rule]
    if bad:
        extra = " (0: no penalty)" if (head, key) == ("logistic", "weight_decay") else ""
        return f"{key} must be {_RULE_TEXT[rule]}{extra}, got {value!r}"
    return None


def check_head_options(head: str, opts: dict, where: str) -> None:
    """Raise ValueError("``where``: <problem>") for the first bad value among ``opts`` (``head_option_problem``)."""
    for key, value in opts.items():
        problem = head_option_problem(head, key, value)
        if problem:
            raise ValueError(f"{where}: {problem}")


def check_grid(head: str, grid, where: str) -> None:
    """Raise ValueError("``where``: <problem>") for the first bad value of a grid of ``head``'s hyperparameter (the
    rules of that option: logistic weight_decay >= 0, svm C and ridge alpha > 0, knn k a positive integer)."""
    key = HYPERPARAMETER.get(head)
    if key is None or grid is None:
        return
    for value in grid:
        problem = head_option_problem(head, key, value)
        if problem:
            raise ValueError(f"{where}: {problem}")


# probe defaults per backbone: used where the config says layer=None / pooling="default" / head_options omit a key.
# "layer": index into feature_info (negative counts from the end). "pooling": see POOLINGS. "head": used by the
# headless command when --head is not given. "head_options": overrides of HEAD_DEFAULTS for that backbone.
# "rgb": overrides for 3-channel inputs (colour photographs such as CIFAR-10), merged over the backbone's defaults;
# "model_options": options of a random (weightless) backbone that the user did not set; "whiten": patch-ZCA
# whitening of the input folded into the stem's random filters (epsilon relative to the mean eigenvalue, None = off).
PROBE_DEFAULTS: dict[str, dict[str, Any]] = {
    "rdsn": {"layer": 1, "pooling": "grid3", "head": "logistic", "head_options": {"weight_decay": 1e-3},
             "rgb": {"pooling": "avgmaxgrid3", "head_options": {"weight_decay": 1e-2},
                     "model_options": {"activation": "relu"}, "whiten": 0.1}},
    "simple": {"layer": -1, "pooling": "grid2", "head": "logistic", "head_options": {}},
    # Coates & Ng's quadrant pooling (not selected on validation here)
    "patches": {"layer": -1, "pooling": "grid2", "head": "logistic", "head_options": {}},
    # chosen on validation (MNIST 8,000 / 2,000, docs/benchmarks/probe.md "Scattering"): gap 89.3%, grid2 98.2%,
    # grid4 98.9%, every coefficient (grid7) 99.0%; grid4 keeps 16 cells per map at any input size
    "scattering": {"layer": -1, "pooling": "grid4", "head": "logistic", "head_options": {}},
    "_other": {"layer": -1, "pooling": "gap", "head": "logistic", "head_options": {}},
}


def probe_defaults(backbone: str, channels: int | None = None) -> dict[str, Any]:
    """The probe defaults of ``backbone`` for inputs of ``channels`` channels (None: the channel-independent ones)."""
    d = dict(PROBE_DEFAULTS.get(backbone, PROBE_DEFAULTS["_other"]))
    rgb = d.pop("rgb", None)
    if channels == 3 and rgb:
        d.update(rgb)
    d.setdefault("model_options", {})
    d.setdefault("whiten", None)
    return d


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return v


@dataclass(frozen=True)
class ProbeConfig:
    model: ModelSpec
    dataset: str
    data_root: str | None = None
    layer: int | None = None
    pooling: str = "default"
    head: str = "logistic"
    train_limit: int | None = None
    test_limit: int | None = None
    seed: int = 0  # the default of the split and head seeds (the CLI's --seed also sets the model seed)
    head_options: tuple[tuple[str, Any], ...] = ()
    val: int | None = None  # validation images carved from the training subset (None: the default rule; 0: none)
    split_seed: int | None = None  # None: ``seed``
    head_seed: int | None = None  # None: ``seed``
    feature_budget: int | None = None  # project the features to this many dimensions (fit on train only)
    budget_method: str = "pca"  # pca or random (a seeded Gaussian projection)
    select_layer: bool = False  # choose the layer on validation too
    select_pooling: bool = False  # choose the pooling on validation too
    grid: tuple[Any, ...] | None = None  # values of the head's hyperparameter to select from (None: the head's own)
    preset: str | None = None  # the named preset the settings came from (app.probe.presets), recorded
    preset_overrides: tuple[str, ...] = ()  # the preset's fields the user's flags overrode
    tta: str = "none"  # test-time views (``TTA``): "hflip" averages each evaluated image's and its mirror's features
    # after choosing on validation, fit the chosen value once more on training + validation images; the test split is
    # scored by that fit (the validation figure stays the fit on training images alone's: the refit has seen them)
    refit: bool = False

    # --- resolved settings ------------------------------------------------------------------------------------
    def resolved_pooling(self, channels: int | None = None) -> str:
        if self.pooling in ("default", "", None):
            return probe_defaults(self.model.backbone, channels)["pooling"]
        return self.pooling

    def resolved_layer(self, n_layers: int) -> int:
        layer = probe_defaults(self.model.backbone)["layer"] if self.layer is None else int(self.layer)
        idx = layer if layer >= 0 else n_layers + layer
        if not 0 <= idx < n_layers:
            raise ValueError(f"layer {layer} out of range: the backbone has {n_layers} layers (0..{n_layers - 1})")
        return idx

    def resolved_head_options(self, channels: int | None = None) -> dict[str, Any]:
        if self.head == "own":
            return {}
        if self.head not in HEAD_DEFAULTS:
            raise ValueError(f"unknown head {self.head!r}; choose one of {', '.join(HEADS)}")
        opts = dict(HEAD_DEFAULTS[self.head])
        d = probe_defaults(self.model.backbone, channels)
        if d.get("head") == self.head:
            opts.update(d.get("head_options", {}))
        given = dict(self.head_options)
        unknown = set(given) - set(opts)
        if unknown:
            raise ValueError(f"unknown option(s) for head {self.head!r}: {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(sorted(opts))}")
        opts.update(given)
        # the values too, and the grid of the head's hyperparameter, before anything is loaded or extracted
        # (a run would otherwise train on them: epochs -3 = no iteration, weight_decay -1 = a diverging fit)
        check_head_options(self.head, opts, self.head)
        check_grid(self.head, self.grid, self.head)
        return opts

    def with_options(self, **kw: Any) -> "ProbeConfig":
        d = dict(self.head_options)
        d.update(kw)
        return dataclasses.replace(self, head_options=tuple(sorted(d.items())))

    # --- serialisation ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.to_dict(),
            "dataset": self.dataset,
            "data_root": self.data_root,
            "layer": self.layer,
            "pooling": self.pooling,
            "head": self.head,
            "train_limit": self.train_limit,
            "test_limit": self.test_limit,
            "seed": self.seed,
            "head_options": {k: _jsonable(v) for k, v in self.head_options},
            "val": self.val,
            "split_seed": self.split_seed,
            "head_seed": self.head_seed,
            "feature_budget": self.feature_budget,
            "budget_method": self.budget_method,
            "select_layer": self.select_layer,
            "select_pooling": self.select_pooling,
            "grid": None if self.grid is None else _jsonable(list(self.grid)),
            "preset": self.preset,
            "preset_overrides": list(self.preset_overrides),
            "tta": self.tta,
            "refit": self.refit,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "ProbeConfig":
        ho = d.get("head_options", {}) or {}
        if isinstance(ho, dict):
            ho = ho.items()
        return ProbeConfig(
            model=ModelSpec.from_dict(d["model"]),
            dataset=d["dataset"],
            data_root=d.get("data_root"),
            layer=d.get("layer"),
            pooling=d.get("pooling", "default"),
            head=d.get("head", "logistic"),
            train_limit=d.get("train_limit"),
            test_limit=d.get("test_limit"),
            seed=int(d.get("seed", 0)),
            head_options=tuple(sorted((str(k), tuple(v) if isinstance(v, list) else v) for k, v in ho)),
            val=d.get("val"),
            split_seed=d.get("split_seed"),
            head_seed=d.get("head_seed"),
            feature_budget=d.get("feature_budget"),
            budget_method=d.get("budget_method") or "pca",
            select_layer=bool(d.get("select_layer", False)),
            select_pooling=bool(d.get("select_pooling", False)),
            grid=None if d.get("grid") is None else tuple(d["grid"]),
            preset=d.get("preset"),
            preset_overrides=tuple(d.get("preset_overrides") or ()),
            tta=d.get("tta") or "none",
            refit=bool(d.get("refit", False)),
        )


@dataclass(frozen=True)
class CurvePoint:
    """One point of a head's training curve: loss, train accuracy and validation accuracy (None where not
    measured). The test set is never scored while a head trains."""

    step: int
    epoch: float
    loss: float
    train_acc: float | None
    val_acc: float | None

    @property
    def test_acc(self) -> float | None:  # the name before the validation protocol (old callers)
        return self.val_acc

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "epoch": self.epoch, "loss": self.loss, "train_acc": self.train_acc,
                "val_acc": self.val_acc}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "CurvePoint":
        """Also reads runs stored before the rename (``test_acc``)."""
        return CurvePoint(int(d["step"]), float(d["epoch"]), float(d["loss"]), d.get("train_acc"),
                          d.get("val_acc", d.get("test_acc")))


@dataclass(frozen=True)
class ProbeResult:
    config: ProbeConfig
    top1: float
    top2: float | None  # None: 2 classes or fewer (trivially 100%); top5 the same with 5 or fewer
    top5: float | None
    per_class: tuple[float, ...]
    confusion: np.ndarray
    classes: tuple[str, ...]
    misclassified: np.ndarray
    mis_predicted: np.ndarray
    n_train: int
    n_test: int
    n_features: int
    extract_seconds: float
    train_seconds: float
    curves: tuple[CurvePoint, ...]
    device: str
    created: str
    feature_cache_hit: bool = False
    settings: dict = field(default_factory=dict, compare=False)  # everything resolved (layer, pooling, options)
    val_top1: float | None = None  # accuracy on the validation split (None: no validation split)
    selected: dict = field(default_factory=dict, compare=False)  # the chosen hyperparameters (and layer/pooling)
    selection: tuple = ()  # ((value, val_top1), ...) of the head's hyperparameter sweep
    selection_iterations: tuple = ()  # each of those values' fit: iterations (None: closed form), same order
    seeds: dict = field(default_factory=dict, compare=False)  # {"model", "split", "head"}
    n_val: int = 0
    resolved: Any = None  # the ResolvedProbe record the run used
    run_id: int | None = None  # the history id, once stored
    stop: dict = field(default_factory=dict, compare=False)  # the head's stopping information
    # the test split's content digest (``ArrayDataset.fingerprint``): two runs with the same one scored the same
    # images, and can be compared image by image (``app.probe.paired``)
    test_fingerprint: str | None = None
    # what it was computed on (``app.device.machine()``: processor, torch's CPU kernels, versions); {} before
    machine: dict = field(default_factory=dict, compare=False)

    @property
    def test_top1(self) -> float:
        return self.top1

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "top1": float(self.top1),
            "top2": None if self.top2 is None else float(self.top2),
            "top5": None if self.top5 is None else float(self.top5),
            "per_class": [float(v) for v in self.per_class],
            "confusion": np.asarray(self.confusion).astype(int).tolist(),
            "classes": list(self.classes),
            "misclassified": np.asarray(self.misclassified).astype(int).tolist(),
            "mis_predicted": np.asarray(self.mis_predicted).astype(int).tolist(),
            "n_train": int(self.n_train),
            "n_test": int(self.n_test),
            "n_features": int(self.n_features),
            "extract_seconds": float(self.extract_seconds),
            "train_seconds": float(self.train_seconds),
            "curves": [c.to_dict() for c in self.curves],
            "device": self.device,
            "created": self.created,
            "feature_cache_hit": bool(self.feature_cache_hit),
            "settings": _jsonable(self.settings),
            "val_top1": None if self.val_top1 is None else float(self.val_top1),
            "test_top1": float(self.top1),
            "selected": _jsonable(self.selected),
            "selection": _jsonable([list(r) for r in self.selection]),
            "selection_iterations": _jsonable(list(self.selection_iterations)),
            "seeds": _jsonable(self.seeds),
            "n_val": int(self.n_val),
            "resolved": self.resolved.to_dict() if self.resolved is not None else None,
            "run_id": self.run_id,
            "stop": _jsonable(self.stop),
            "test_fingerprint": self.test_fingerprint,
            "machine": _jsonable(self.machine),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())
