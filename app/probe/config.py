"""What a probe run is (``ProbeConfig``), what it reports while training (``CurvePoint``) and what it returns
(``ProbeResult``), plus the per-backbone probe defaults (layer, pooling, head and head options).

The contract with the GUI lives in ``/work/probe-api.md``: these names and fields are shared by the Probe workspace,
the history database and the headless ``probe`` command.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.models.spec import ModelSpec

HEADS = ("logistic", "ridge", "svm", "knn")
POOLINGS = ("default", "gap", "max", "grid2", "grid3", "grid4", "maxgrid2", "maxgrid3", "maxgrid4",
            "avgmaxgrid2", "avgmaxgrid3", "avgmaxgrid4")

# head option defaults (every value a run used is recorded in its result)
HEAD_DEFAULTS: dict[str, dict[str, Any]] = {
    # softmax regression on standardised features, on the compute device
    "logistic": {"optimizer": "lbfgs", "weight_decay": 1e-4, "epochs": 100, "lr": 1.0, "batch_size": 512, "tol": 1e-4,
                 "precondition": "auto",
                 "standardize": True, "eval_every": 10},
    # closed-form ridge regression on one-vs-all targets (primal or dual, whichever is smaller)
    "ridge": {"alpha": 1.0, "standardize": True},
    # one-vs-rest squared-hinge linear SVM, L-BFGS on the device
    "svm": {"C": 1.0, "epochs": 100, "standardize": True, "eval_every": 10},
    # k nearest neighbours (euclidean, torch.cdist in chunks)
    "knn": {"k": 5, "standardize": True},
}

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
    seed: int = 0
    head_options: tuple[tuple[str, Any], ...] = ()

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
        return opts

    def with_options(self, **kw: Any) -> "ProbeConfig":
        d = dict(self.head_options)
        d.update(kw)
        return ProbeConfig(self.model, self.dataset, self.data_root, self.layer, self.pooling, self.head,
                           self.train_limit, self.test_limit, self.seed, tuple(sorted(d.items())))

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
        )


@dataclass(frozen=True)
class CurvePoint:
    step: int
    epoch: float
    loss: float
    train_acc: float | None
    test_acc: float | None


@dataclass(frozen=True)
class ProbeResult:
    config: ProbeConfig
    top1: float
    top2: float
    top5: float
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "top1": float(self.top1),
            "top2": float(self.top2),
            "top5": float(self.top5),
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
            "curves": [
                {"step": c.step, "epoch": c.epoch, "loss": c.loss, "train_acc": c.train_acc, "test_acc": c.test_acc}
                for c in self.curves
            ],
            "device": self.device,
            "created": self.created,
            "feature_cache_hit": bool(self.feature_cache_hit),
            "settings": _jsonable(self.settings),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())
