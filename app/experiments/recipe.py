"""Experiment recipes: declarative TOML files, validated with clear messages, expanded into cells.

A recipe (``resources/experiments/*.toml`` are the shipped ones; any file works)::

    name = "xue-roshan"
    title = "Random depthwise signed features + linear SVM, as k grows"
    claim = "..."                       # the paper's claim, in a sentence
    kind = "probe"                      # "probe" (frozen features + a head) or "train" (end-to-end training)

    [base]                              # settings every cell shares (the probe / train command's options)
    backbone = "rdsn"
    dataset = "mnist"
    head = "svm"
    options = { activation = "sign" }

    [grid]                              # one cell per combination; dotted keys reach into dicts
    "options.k" = [1024, 4096, 16384]

    [seeds]                             # repeats: each list is crossed with the grid
    model = [0, 1, 2]

    [quick]                             # overrides for --quick (minutes on a 2-core CPU): base keys, and
    dataset = "digits"                  # "grid.KEY" / "seeds.KEY" lists
    "grid.options.k" = [64, 256]

    [[variants]]                        # optional: named arms (crossed with the grid), each a set of overrides
    label = "random"                    # (a variant's own "quick" table overrides it at the quick size)
    [[variants]]
    label = "trained"
    weights = "known:resnet20-cifar10"

    [plot]                              # the plot that fits the claim
    x = "options.k"
    y = "test_top1"
    series = "variant"
    log_x = true
    # kind = "ablation"                 # instead: each variant's change (test and validation top-1, in points)
    # baseline = ["full"]               # against the last baseline variant before it (default: the first variant)

    [[paper]]                           # the paper's figures, shown beside ours
    source = "Xue & Roshan (2019)"
    setting = "k = 100,000, linear SVM"
    dataset = "mnist"
    metric = "test_top1"
    value = 0.994

Probe cells also take ``head_grid`` (the values the head's hyperparameter is selected from, on validation),
``whiten`` (a random stem's patch-ZCA whitening: false = off, a number = its epsilon; unset = the probe's default)
and ``tta`` (test-time views: "hflip" scores each validation and test image with its mirror image, "shift1" with its
four one-pixel shifts; unset = none).

Unknown keys anywhere are an error naming the key and the known ones (a typo must not silently run the default).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import paths
from app.errors import AppError

RECIPE_DIR = paths.RESOURCES / "experiments"
KINDS = ("probe", "train")
TOP_KEYS = {"name", "title", "claim", "kind", "base", "grid", "seeds", "quick", "variants", "plot", "paper",
            "notes", "estimate_seconds", "quick_estimate_seconds"}
SEED_KEYS = ("model", "split", "head", "train")
# settings a cell may have (the union of what probe and train cells read)
PROBE_KEYS = {"backbone", "options", "weights", "init", "model_seed", "dataset", "data_root", "train_limit",
              "test_limit", "val", "layer", "pooling", "head", "head_options", "split_seed", "head_seed", "bank",
              "feature_budget", "label", "weight_state", "freeze", "threads", "whiten", "head_grid", "tta"}
TRAIN_KEYS = {"backbone", "options", "weights", "init", "model_seed", "dataset", "data_root", "train_limit",
              "test_limit", "val", "epochs", "optimizer", "lr", "weight_decay", "batch_size", "augment", "freeze",
              "train_seed", "label", "weight_state", "max_steps", "bank", "threads", "layer", "pooling"}
PLOT_KEYS = {"x", "y", "series", "log_x", "title", "x_label", "y_label", "kind", "baseline"}
PLOT_KINDS = ("auto", "ablation")  # auto: lines over a numeric x, bars over categories; ablation: each arm's change
PAPER_KEYS = {"source", "setting", "dataset", "metric", "value", "note", "series", "x"}
METRICS = ("test_top1", "val_top1", "top2", "top5", "train_acc", "precision_at_10", "map")


class RecipeError(AppError):
    """A recipe file that cannot be used; the message names the file, the key and what is wrong."""


# What a cell's settings leave to the code and that changed its results: a kind's number here is part of its
# cells' keys. train 2: the default validation split became the probe's (app.data.core.default_val, 20% below
# 20,000 training images; it was 10%).
PROTOCOLS = {"train": 2}


@dataclass(frozen=True)
class Cell:
    """One run of an experiment: its complete settings (no defaults left to chance) and a stable key."""

    experiment: str
    kind: str
    settings: tuple[tuple[str, Any], ...]  # sorted (key, value); values JSON-able
    variant: str = ""

    @property
    def config(self) -> dict[str, Any]:
        return json.loads(json.dumps(dict(self.settings)))

    @property
    def key(self) -> str:
        doc = {"kind": self.kind, "variant": self.variant, "settings": dict(self.settings)}
        if PROTOCOLS.get(self.kind):  # a changed protocol gives new keys: a stored result of the old one is not reused
            doc["protocol"] = PROTOCOLS[self.kind]
        blob = json.dumps(doc, sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:20]

    def get(self, dotted: str, default: Any = None) -> Any:
        if dotted == "variant":
            return self.variant
        return get_dotted(dict(self.settings), dotted, default)

    def to_dict(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "kind": self.kind, "variant": self.variant, "key": self.key,
                "settings": self.config}


@dataclass(frozen=True)
class Recipe:
    name: str
    title: str
    claim: str
    kind: str
    base: dict[str, Any]
    grid: dict[str, list]
    seeds: dict[str, list]
    quick: dict[str, Any]
    variants: tuple[dict[str, Any], ...]
    plot: dict[str, Any]
    paper: tuple[dict[str, Any], ...]
    notes: str = ""
    path: str = ""
    estimate_seconds: float | None = None  # per cell, full size (the recipe's own statement)
    quick_estimate_seconds: float | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)
    # the datasets (full, quick) the estimates were made on, once ``with_dataset`` moved the recipe elsewhere: an
    # estimate for CIFAR-10 says nothing of digits
    estimated_on: tuple[str, str] | None = None

    def cells(self, quick: bool = False) -> list[Cell]:
        base = copy.deepcopy(self.base)
        grid = copy.deepcopy(self.grid)
        seeds = copy.deepcopy(self.seeds)
        if quick:
            for k, v in self.quick.items():
                if k.startswith("grid."):
                    grid[k[5:]] = list(v)
                elif k.startswith("seeds."):
                    seeds[k[6:]] = list(v)
                else:
                    set_dotted(base, k, copy.deepcopy(v))
        keys = list(grid)
        seed_keys = [k for k in SEED_KEYS if k in seeds]
        variants = self.variants or ({"label": ""},)
        out = []
        for var in variants:
            vbase = copy.deepcopy(base)
            overrides = {k: v for k, v in var.items() if k not in ("label", "quick")}
            if quick:
                overrides.update(var.get("quick") or {})
            for k, v in overrides.items():
                set_dotted(vbase, k, copy.deepcopy(v))
            for combo in itertools.product(*(grid[k] for k in keys)):
                for seed_combo in itertools.product(*(seeds[k] for k in seed_keys)):
                    s = copy.deepcopy(vbase)
                    for k, v in zip(keys, combo):
                        set_dotted(s, k, copy.deepcopy(v))
                    for k, v in zip(seed_keys, seed_combo):
                        s[f"{k}_seed"] = int(v)
                    out.append(Cell(self.name, self.kind, tuple(sorted(s.items())), str(var.get("label", ""))))
        return out

    def with_dataset(self, dataset: str) -> "Recipe":
        """This recipe on another dataset, at both sizes (``experiment run --dataset``; a variant that names its
        own dataset keeps it)."""
        quick = dict(self.quick)
        if "dataset" in quick:
            quick["dataset"] = dataset
        on = self.estimated_on or (self.dataset(False), self.dataset(True))
        return dataclasses.replace(self, base={**self.base, "dataset": dataset}, quick=quick, estimated_on=on)

    def dataset(self, quick: bool = False) -> str:
        """The dataset this recipe names at that size (its base's, or the quick table's at the quick size)."""
        return str(self._base(quick).get("dataset") or "")

    def describe(self, quick: bool = False) -> str:
        cells = self.cells(quick)
        per = self.quick_estimate_seconds if quick else self.estimate_seconds
        est = f", about {fmt_seconds(per * len(cells))} on a 2-core CPU" if per else ""
        own = None if self.estimated_on is None else self.estimated_on[1 if quick else 0]
        if per and own is not None and own != self.dataset(quick):  # the recipe's estimate is for another dataset
            est = (f", no time estimate for {self.dataset(quick)} (the recipe's, about {fmt_seconds(per * len(cells))} "
                   f"on a 2-core CPU, is for {own})")
        grid = ", ".join(f"{k} in {v}" for k, v in (self._grid(quick)).items()) or "no grid"
        seeds = "; ".join(f"{k} seeds {', '.join(str(v) for v in vs)}" for k, vs in self._seeds(quick).items()) \
            or "one seed"
        return (f"{self.name} ({'quick' if quick else 'full'} size): {len(cells)} {self.kind} cell(s){est}; "
                f"{grid}; {seeds}; dataset {self._base(quick).get('dataset')}")

    def _base(self, quick: bool) -> dict:
        b = copy.deepcopy(self.base)
        if quick:
            for k, v in self.quick.items():
                if not k.startswith(("grid.", "seeds.")):
                    set_dotted(b, k, v)
        return b

    def _grid(self, quick: bool) -> dict:
        g = dict(self.grid)
        if quick:
            g.update({k[5:]: v for k, v in self.quick.items() if k.startswith("grid.")})
        return g

    def _seeds(self, quick: bool) -> dict:
        s = dict(self.seeds)
        if quick:
            s.update({k[6:]: v for k, v in self.quick.items() if k.startswith("seeds.")})
        return s


def fmt_seconds(s: float) -> str:
    s = float(s)
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def get_dotted(d: dict, dotted: str, default: Any = None) -> Any:
    cur: Any = d
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def set_dotted(d: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    cur = d
    for part in parts[:-1]:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[part] = nxt
        cur = nxt
    cur[parts[-1]] = value


def shipped() -> list[Path]:
    return sorted(RECIPE_DIR.glob("*.toml"))


def names() -> list[str]:
    return [p.stem for p in shipped()]


def find(name_or_file: str | Path) -> Path:
    p = Path(name_or_file).expanduser()
    if p.suffix.lower() == ".toml" or p.exists():
        if not p.is_file():
            raise RecipeError(f"{p}: no such recipe file")
        return p
    cand = RECIPE_DIR / f"{name_or_file}.toml"
    if cand.is_file():
        return cand
    raise RecipeError(f"unknown experiment {str(name_or_file)!r}; shipped: {', '.join(names())} "
                      f"(or give a .toml file)")


def _check_keys(where: str, d: Any, known: set[str], allow_dotted_of: set[str] | None = None) -> None:
    if not isinstance(d, dict):
        raise RecipeError(f"{where}: expected a table, got {type(d).__name__}")
    for k in d:
        root = k.split(".", 1)[0]
        if k in known or (allow_dotted_of is not None and root in allow_dotted_of):
            continue
        raise RecipeError(f"{where}: unknown key {k!r}; known: {', '.join(sorted(known))}")


def parse(doc: dict[str, Any], where: str, path: str = "") -> Recipe:
    _check_keys(where, doc, TOP_KEYS)
    for req in ("name", "kind", "base"):
        if req not in doc:
            raise RecipeError(f"{where}: missing {req!r}")
    kind = doc["kind"]
    if kind not in KINDS:
        raise RecipeError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    known = PROBE_KEYS if kind == "probe" else TRAIN_KEYS
    _check_keys(f"{where} [base]", doc["base"], known)
    grid = doc.get("grid", {}) or {}
    _check_keys(f"{where} [grid]", grid, known, allow_dotted_of=known)
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            raise RecipeError(f"{where} [grid]: {k!r} must be a non-empty list of values")
    seeds = doc.get("seeds", {}) or {}
    _check_keys(f"{where} [seeds]", seeds, set(SEED_KEYS))
    for k, v in seeds.items():
        if not isinstance(v, list) or not v or not all(isinstance(x, int) and x >= 0 for x in v):
            raise RecipeError(f"{where} [seeds]: {k!r} must be a list of non-negative integers")
    quick = doc.get("quick", {}) or {}
    for k in quick:
        if k.startswith("grid."):
            if k[5:].split(".", 1)[0] not in known:
                raise RecipeError(f"{where} [quick]: unknown grid key {k!r}")
        elif k.startswith("seeds."):
            if k[6:] not in SEED_KEYS:
                raise RecipeError(f"{where} [quick]: unknown seeds key {k!r}; known: {', '.join(SEED_KEYS)}")
        elif k.split(".", 1)[0] not in known:
            raise RecipeError(f"{where} [quick]: unknown key {k!r}; known: {', '.join(sorted(known))}")
    variants = doc.get("variants", []) or []
    if not isinstance(variants, list):
        raise RecipeError(f"{where}: [[variants]] must be an array of tables")
    labels = set()
    for i, v in enumerate(variants):
        _check_keys(f"{where} [[variants]] #{i + 1}", v, known | {"label", "quick"}, allow_dotted_of=known)
        _check_keys(f"{where} [[variants]] #{i + 1} quick", v.get("quick") or {}, known, allow_dotted_of=known)
        lab = str(v.get("label", ""))
        if not lab or lab in labels:
            raise RecipeError(f"{where} [[variants]] #{i + 1}: every variant needs its own label")
        labels.add(lab)
    plot = doc.get("plot", {}) or {}
    _check_keys(f"{where} [plot]", plot, PLOT_KEYS)
    if plot.get("kind", "auto") not in PLOT_KINDS:
        raise RecipeError(f"{where} [plot]: kind must be one of {', '.join(PLOT_KINDS)}, got {plot['kind']!r}")
    base_arms = plot.get("baseline", [])
    for b in base_arms if isinstance(base_arms, list) else [base_arms]:
        if str(b) not in labels:
            raise RecipeError(f"{where} [plot]: baseline {b!r} is not a variant's label; the variants: "
                              f"{', '.join(sorted(labels)) or 'none'}")
    paper = doc.get("paper", []) or []
    if not isinstance(paper, list):
        raise RecipeError(f"{where}: [[paper]] must be an array of tables")
    for i, p in enumerate(paper):
        _check_keys(f"{where} [[paper]] #{i + 1}", p, PAPER_KEYS)
    return Recipe(str(doc["name"]), str(doc.get("title", doc["name"])), str(doc.get("claim", "")), kind,
                  dict(doc["base"]), dict(grid), dict(seeds), dict(quick), tuple(variants), dict(plot),
                  tuple(paper), str(doc.get("notes", "")), path or where, doc.get("estimate_seconds"),
                  doc.get("quick_estimate_seconds"), doc)


def load_recipe(name_or_file: str | Path) -> Recipe:
    path = find(name_or_file)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{path.name}: not valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: cannot read ({exc})") from None
    return parse(doc, path.name, str(path.resolve()))


# --- running a recipe on another dataset (``experiment run --dataset``, the Experiments workspace's Dataset field)
EMPTY_DATASET = "--dataset needs a dataset name (digits, mnist, cifar10, imagefolder:PATH ...)"


def on_dataset(recipe: Recipe, dataset: str | None, quick: bool = False) -> Recipe:
    """``recipe`` run on ``dataset``: None, or the dataset the recipe names at that size, leaves it unchanged;
    anything else is ``recipe.with_dataset(name)``. A blank name is a RecipeError (``EMPTY_DATASET``)."""
    if dataset is None:
        return recipe
    name = dataset.strip()
    if not name:
        raise RecipeError(EMPTY_DATASET)
    return recipe if name == recipe.dataset(quick) else recipe.with_dataset(name)


def cell_datasets(recipe: Recipe, quick: bool = False) -> list[tuple[str, Any]]:
    """The distinct (dataset, data root) pairs the cells of that size read, in the cells' order."""
    out: list[tuple[str, Any]] = []
    for cell in recipe.cells(quick):
        s = dict(cell.settings)
        key = (str(s.get("dataset") or ""), s.get("data_root"))
        if key not in out:
            out.append(key)
    return out


def missing_datasets(recipe: Recipe, quick: bool = False) -> list[tuple[str, Any]]:
    """The built-in datasets (name, data root) the cells of that size read and this machine has no copy of (what a
    download would fix), in the cells' order."""
    from app.data import formats

    return [key for key in cell_datasets(recipe, quick) if formats.missing(*key)]


def dataset_problem(recipe: Recipe, quick: bool = False) -> str | None:
    """Why the cells of that size cannot read their data before any of them starts; None when fine: an
    ``imagefolder:PATH`` whose folder does not exist (a recipe's path that only exists where its author unpacked the
    data), or a built-in dataset (mnist, cifar10 ...) with no local copy under the cell's data root (every cell would
    fail on it; the message says how to download it)."""
    from app.data import formats
    from app.data.core import names

    for name, root in cell_datasets(recipe, quick):
        if not name.startswith("imagefolder:") and name not in names():
            known = ", ".join(names())
            return f"{recipe.name}: unknown dataset {name!r} (known: {known}); choose another dataset"
        if name.startswith("imagefolder:"):
            folder = Path(name.split(":", 1)[1]).expanduser()
            if not folder.is_dir():
                what = "is not a folder" if folder.exists() else "does not exist"
                return (f"{recipe.name}: the dataset folder {folder} ({name}) {what}; choose another dataset "
                        f"(e.g. cifar10 or digits, or imagefolder:PATH of a folder of class sub-folders)")
        elif why := formats.missing(name, root):
            return f"{recipe.name}: {why}; or choose another dataset (e.g. digits, which ships with the application)"
    return None


def recipe_caveats(recipe: Recipe, quick: bool = False) -> list[str]:
    """What the cells' figures will not say by themselves, before any runs (``app.probe.caveats``): test-time views
    that do not suit the dataset a cell reads, e.g. mirror views once a recipe made for photographs is run on digits
    (``--dataset digits``). Each caveat once, with the variants it concerns."""
    from app.probe.caveats import views_caveat

    found: dict[str, list[str]] = {}
    every: list[str] = []
    for cell in recipe.cells(quick):
        s = dict(cell.settings)
        if cell.variant not in every:
            every.append(cell.variant)
        text = views_caveat(str(s.get("dataset") or ""), s.get("tta"))
        if text:
            variants = found.setdefault(text, [])
            if cell.variant not in variants:
                variants.append(cell.variant)
    out = []
    for text, variants in found.items():
        others = [v for v in every if v not in variants]
        if not others:
            where = "every cell"
        elif len(variants) <= 3:
            where = "variants: " + ", ".join(v or "(unnamed)" for v in variants)
        else:
            where = f"{len(variants)} of {len(every)} variants; not: " + ", ".join(v or "(unnamed)" for v in others)
        out.append(f"{text} ({where})")
    return out
