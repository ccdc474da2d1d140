"""Resolve a probe once, up front: ``ProbeConfig`` (what the user asked, with "default"s) -> ``ResolvedProbe`` (a
complete, frozen record: the effective backbone spec, its input spec, layer index and name, concrete pooling, the
head's complete options, the three seeds, the dataset and its absolute root, limits, validation size, feature
budget). The run uses only the record; the result and the history store it (``to_dict``/``from_dict``), and
``probe --rerun`` rebuilds the run from it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import paths
from app.data import ArrayDataset
from app.data.core import default_val  # noqa: F401  (the probe's default validation size; re-exported)
from app.errors import AppError
from app.models.build import build
from app.models.inputs import InputSpec, dataset_stats, input_spec
from app.models.registry import constructor_params, names
from app.models.spec import ModelSpec
from app.probe import extract as ex
from app.probe.config import HEAD_DEFAULTS, HEADS, TTA, ProbeConfig, _jsonable, probe_defaults
from app.probe.selection import HYPER

BUDGET_METHODS = ("pca", "random")


class ProbeSettingsError(AppError, ValueError):
    """A probe setting that cannot be resolved (unknown head option, pooling, layer out of range, ...)."""


@dataclass(frozen=True)
class Seeds:
    model: int = 0  # the backbone's random weights: the seed that drew them (``model_seed``)
    split: int = 0  # the train/test subsets and the validation split
    head: int = 0  # the head's initialisation, sampling and random projections

    def to_dict(self) -> dict[str, int]:
        return {"model": self.model, "split": self.split, "head": self.head}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Seeds":
        return Seeds(int(d.get("model", 0)), int(d.get("split", 0)), int(d.get("head", 0)))


@dataclass(frozen=True)
class ResolvedProbe:
    model: ModelSpec  # effective spec (a random backbone matched to the data's channels and size)
    input: InputSpec | None  # None only for records read from runs stored before the record existed
    layer: int  # index into feature_info (-1: the model's own classifier)
    layer_name: str
    pooling: str  # concrete ("grid3", ...; "none" for the own classifier)
    head: str
    head_options: tuple[tuple[str, Any], ...]  # complete (defaults merged), sorted
    seeds: Seeds
    dataset: str
    data_root: str | None  # absolute
    train_limit: int | None
    test_limit: int | None
    val: int  # validation images carved from the training subset (0: none)
    feature_budget: int | None = None
    budget_method: str | None = None
    whiten: float | None = None  # patch-ZCA whitening folded into a random stem (eps), None = off
    select: tuple[str, ...] = ()  # also chosen on validation: "layer", "pooling"
    grid: tuple[Any, ...] | None = None  # values of the head's hyperparameter to select from
    tta: str = "none"  # test-time views (app.probe.config.TTA): "hflip" = each evaluated image with its mirror
    refit: bool = False  # the chosen value fitted again on training + validation images; test scored by that fit

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.head_options)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.to_dict(),
            "input": self.input.to_dict() if self.input is not None else None,
            "layer": self.layer, "layer_name": self.layer_name, "pooling": self.pooling, "head": self.head,
            "head_options": {k: _jsonable(v) for k, v in self.head_options},
            "seeds": self.seeds.to_dict(), "dataset": self.dataset, "data_root": self.data_root,
            "train_limit": self.train_limit, "test_limit": self.test_limit, "val": self.val,
            "feature_budget": self.feature_budget, "budget_method": self.budget_method, "whiten": self.whiten,
            "select": list(self.select), "grid": None if self.grid is None else _jsonable(list(self.grid)),
            "tta": self.tta,
            # only when on: a record without refit reads as before (runs stored before it group with runs without)
            **({"refit": True} if self.refit else {}),
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "ResolvedProbe":
        ho = d.get("head_options") or {}
        return ResolvedProbe(
            model=ModelSpec.from_dict(d["model"]),
            input=InputSpec.from_dict(d["input"]) if d.get("input") else None,
            layer=int(d["layer"]), layer_name=str(d.get("layer_name") or ""), pooling=str(d["pooling"]),
            head=str(d["head"]),
            head_options=tuple(sorted((str(k), tuple(v) if isinstance(v, list) else v) for k, v in ho.items())),
            seeds=Seeds.from_dict(d.get("seeds") or {}), dataset=str(d["dataset"]), data_root=d.get("data_root"),
            train_limit=d.get("train_limit"), test_limit=d.get("test_limit"), val=int(d.get("val") or 0),
            feature_budget=d.get("feature_budget"), budget_method=d.get("budget_method"), whiten=d.get("whiten"),
            select=tuple(d.get("select") or ()), grid=None if d.get("grid") is None else tuple(d["grid"]),
            tta=str(d.get("tta") or "none"), refit=bool(d.get("refit", False)),
        )

    def with_(self, **kw: Any) -> "ResolvedProbe":
        return dataclasses.replace(self, **kw)


# --- pieces -------------------------------------------------------------------------------------------------
def is_random(spec: ModelSpec) -> bool:
    return not spec.weights and spec.init != "checkpoint"


def effective_spec(spec: ModelSpec, dataset: ArrayDataset, defaults: dict | None = None) -> ModelSpec:
    """For a random backbone (no weights), the options the user left unset that match it to the dataset: its
    channels (``in_channels``) and square size (``input_size``), the model seed where the backbone takes a ``seed``
    option, and ``defaults`` (the probe defaults' ``model_options``). A trained backbone, and a model the user
    brought (``external``: a file's architecture, its random twin included), is returned as it is."""
    if not is_random(spec) or spec.backbone == "external":  # a model file (or its random twin) has its architecture
        return spec
    params = constructor_params(spec.backbone)
    opts = dict(spec.options)
    c, h, w = dataset.shape
    want = {"in_channels": c, "seed": int(spec.seed)}
    if h == w:
        want["input_size"] = h
    want.update(defaults or {})
    changed = False
    for name, value in want.items():
        if name in params and name not in opts:
            opts[name] = value
            changed = True
    if not changed:
        return spec
    return dataclasses.replace(spec, options=tuple(sorted(opts.items())))


def absolute_dataset(name: str) -> str:
    """``imagefolder:PATH`` with PATH made absolute (other names unchanged)."""
    if name.startswith("imagefolder:"):
        from app.data.core import imagefolder_path

        return "imagefolder:" + str(Path(imagefolder_path(name)).expanduser().resolve())  # an empty PATH refused
    return name


def resolve_root(root: str | Path | None) -> str:
    return str(Path(root).expanduser().resolve()) if root else str(paths.data_root().resolve())


def resolve_layer(layer: int | None, backbone: str, n_layers: int) -> int:
    layer = probe_defaults(backbone)["layer"] if layer is None else int(layer)
    idx = layer if layer >= 0 else n_layers + layer
    if not 0 <= idx < n_layers:
        raise ProbeSettingsError(f"layer {layer} out of range: the backbone has {n_layers} layers (0..{n_layers - 1})")
    return idx


def head_options(config: ProbeConfig, channels: int) -> dict[str, Any]:
    if config.head == "own":
        return {}
    if config.head not in HEAD_DEFAULTS:
        raise ProbeSettingsError(f"unknown head {config.head!r}; choose one of {', '.join(HEADS)} or own")
    try:
        opts = config.resolved_head_options(channels)
    except ValueError as exc:
        raise ProbeSettingsError(str(exc)) from None
    if config.head == "logistic" and opts.get("optimizer") == "adam":
        opts["lr"] = _adam_lr(config, opts)
    return opts


def _adam_lr(config: ProbeConfig, opts: dict[str, Any]) -> float:
    """The learning rate an Adam logistic head will use, as the record states it: the default ``lr`` (1.0, the L-BFGS
    step) is replaced by Adam's 1e-3 (``app.probe.heads.adam_lr``); an ``lr`` the user gives is used as given, and
    one of 0.5 or more is refused (the head would replace it by 1e-3: a run that asks for lr 1.0 would have recorded a
    rate it did not use, or trained with another than it asked)."""
    from app.probe.heads import ADAM_LR, LBFGS_STEP, adam_lr

    given = dict(config.head_options or ())
    if "lr" in given and float(given["lr"]) >= LBFGS_STEP:
        raise ProbeSettingsError(f"lr {given['lr']} with optimizer adam: an Adam learning rate must be below "
                                 f"{LBFGS_STEP:g} (lr 1.0 is L-BFGS's step); leave lr out for Adam's {ADAM_LR:g}")
    return adam_lr(opts)


def model_seed(spec: ModelSpec, fitted: bool = False) -> int:
    """The seed that draws the random weights of ``spec`` (the run's recorded model seed): a ``seed`` in its options
    where the backbone's constructor takes one (``app.models.build.seeded_options``: "a seed in the options wins";
    ``--options seed=5 --model-seed 1`` and ``--model-seed 2`` build the very same weights, and ``seed=5`` against
    ``seed=6`` other weights), else ``spec.seed``. Also ``spec.seed`` where something else draws from it:

    - an initialisation that redraws the layers (``build``: ``apply_init`` seeded with ``spec.seed + 1``; an init
      other than default / bank / checkpoint): both seeds draw weights;
    - ``fitted``, a data-dependent backbone (``needs_fit``: patches): the run fits its filters with the recorded
      model seed (``run.run_resolved``: ``fit_backbone(..., record.seeds.model)``), the spec's as before, and they
      replace the constructor's.

    There the spec's seed is recorded, and an options seed that differs from it stays in the run's setting
    (``history_schema.setting_of``)."""
    opts = dict(spec.options)
    if "seed" not in opts or spec.backbone not in names() or "seed" not in constructor_params(spec.backbone):
        return int(spec.seed)  # (an imported model, ``external``, is not in the registry)
    if fitted or (spec.init or "default").partition(":")[0].strip().lower() not in ("default", "bank", "checkpoint",
                                                                                       ""):
        return int(spec.seed)
    try:
        return int(opts["seed"])
    except (TypeError, ValueError):  # (not a seed build would take: it refuses it; the spec's is recorded)
        return int(spec.seed)


def _seeds(config: ProbeConfig, spec: ModelSpec, fitted: bool = False) -> Seeds:
    split = config.seed if config.split_seed is None else config.split_seed
    head = config.seed if config.head_seed is None else config.head_seed
    return Seeds(model_seed(spec, fitted), int(split), int(head))


def check_config(config: ProbeConfig) -> None:
    """The checks that need no data (run before loading anything)."""
    if config.head != "own":
        head_options(config, 0)
        pooling = config.resolved_pooling()
        try:
            ex.parse_pooling(pooling)
        except ValueError as exc:
            raise ProbeSettingsError(str(exc)) from None
    if config.val is not None and int(config.val) < 0:
        raise ProbeSettingsError(f"val must be 0 or more, got {config.val}")
    grid = list(config.grid) if isinstance(config.grid, (list, tuple)) else []
    if config.val is not None and int(config.val) == 0 and config.head != "own" and len(set(map(str, grid))) > 1:
        # the head's default value was fitted and reported as "selected" (the grid silently dropped)
        raise ProbeSettingsError(f"val 0 leaves no validation split to choose among the grid's {len(grid)} values "
                                 f"({', '.join(f'{v:g}' if isinstance(v, float) else str(v) for v in grid)}): give "
                                 f"one value, or a validation split")
    if config.feature_budget is not None and int(config.feature_budget) < 1:
        raise ProbeSettingsError(f"feature budget must be at least 1, got {config.feature_budget}")
    if config.budget_method not in BUDGET_METHODS:
        raise ProbeSettingsError(f"budget method must be one of {', '.join(BUDGET_METHODS)}, got "
                                 f"{config.budget_method!r}")
    if config.tta not in TTA:
        raise ProbeSettingsError(f"tta (test-time views) must be one of {', '.join(TTA)}, got {config.tta!r}")
    if config.tta != "none" and config.head == "own":
        raise ProbeSettingsError("test-time views (tta) apply to a trained head's features, not to a model's own "
                                 "classifier (head own)")
    if config.refit and config.head == "own":
        raise ProbeSettingsError("refit applies to a trained head, not to a model's own classifier (head own)")
    if config.refit and config.val is not None and int(config.val) == 0:
        raise ProbeSettingsError("refit fits the chosen value again on training + validation images: it needs a "
                                 "validation split (val > 0)")


# --- the one resolution -------------------------------------------------------------------------------------
def resolve(config: ProbeConfig, train: ArrayDataset, device: Any = "cpu"):
    """(ResolvedProbe, model): everything the run needs, decided now from ``config`` and the (full) training split
    ``train``. ``model`` is the built backbone of ``record.model`` (frozen, on ``device``)."""
    check_config(config)
    channels = int(train.shape[0])
    defaults = probe_defaults(config.model.backbone, channels)
    opts = head_options(config, channels)
    spec = effective_spec(config.model, train, defaults.get("model_options") or None)
    model = build(spec, device)
    seeds = _seeds(config, spec, bool(getattr(model, "needs_fit", False)))
    for p in model.parameters():
        p.requires_grad_(False)
    ispec = input_spec(spec, model, stats=dataset_stats(train))
    n_sub = len(train) if config.train_limit is None else min(len(train), int(config.train_limit))
    n_classes = len(train.classes)
    if config.head == "own":
        layer, layer_name, pooling, val = -1, "classifier", "none", 0
    else:
        pooling = config.resolved_pooling(channels)
        try:
            ex.parse_pooling(pooling)
        except ValueError as exc:
            raise ProbeSettingsError(str(exc)) from None
        layer = resolve_layer(config.layer, spec.backbone, len(model.feature_info))
        layer_name = model.feature_info[layer].name
        val = default_val(n_sub, n_classes) if config.val is None else int(config.val)
        if val >= n_sub:
            raise ProbeSettingsError(f"a validation split of {val} images needs more than {val} training images "
                                     f"(the training subset has {n_sub})")
        if 0 < n_sub - val < n_classes and config.head != "knn":
            # a head fitted on fewer images than classes never saw some classes (--val 1346 of digits' 1347: one
            # image of one class, 9.8% test top-1 reported as a run, with a value "selected")
            raise ProbeSettingsError(f"the training split would hold {n_sub - val} image(s) ({n_sub} minus a "
                                     f"validation split of {val}) for {n_classes} classes: some classes would have "
                                     f"no training image; give a smaller --val or a larger --train-limit")
    select = tuple(s for s, on in (("layer", config.select_layer), ("pooling", config.select_pooling)) if on)
    if select and val == 0:
        raise ProbeSettingsError("selecting the layer or pooling needs a validation split (val > 0)")
    if config.refit and val == 0:
        raise ProbeSettingsError("refit fits the chosen value again on training + validation images: this run has "
                                 "no validation split (val 0)")
    whiten = defaults.get("whiten") if is_random(spec) and config.head != "own" else None
    record = ResolvedProbe(
        model=spec, input=ispec, layer=layer, layer_name=layer_name, pooling=pooling, head=config.head,
        head_options=tuple(sorted(opts.items())), seeds=seeds, dataset=absolute_dataset(config.dataset),
        data_root=resolve_root(config.data_root), train_limit=config.train_limit, test_limit=config.test_limit,
        val=val, feature_budget=None if config.feature_budget is None else int(config.feature_budget),
        budget_method=config.budget_method if config.feature_budget is not None else None,
        whiten=None if whiten is None else float(whiten), select=select,
        grid=_grid(config), tta=config.tta, refit=bool(config.refit))
    return record, model


def _grid(config: ProbeConfig) -> tuple[Any, ...] | None:
    """The values to select from: ``config.grid`` when given; a hyperparameter value the user fixed in the head
    options (``--head-options weight_decay=X``, the GUI field with "auto" unchecked) is a grid of that one value (it
    is fitted and scored on validation and test, not swept over); otherwise None (the head's default grid)."""
    key = HYPER.get(config.head)
    given = dict(config.head_options or ())
    if config.grid is not None:
        if key is not None and key in given and tuple(config.grid) != (given[key],):
            # the grid won and the fixed value was never fitted, without a word (an audit)
            raise ProbeSettingsError(f"{key}={given[key]!r} in the head options fixes the value, and a grid "
                                     f"({', '.join(str(v) for v in config.grid)}) sweeps it: give one of them")
        return tuple(config.grid)
    if key is not None and key in given:
        return (given[key],)
    return None
