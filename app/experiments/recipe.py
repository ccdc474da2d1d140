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
    # options = { k = 64 }              # a table REPLACES the base's whole table (here: options is {k = 64} only);
    # "options.k" = 64                  # a dotted key changes one entry and keeps the rest (the same in [quick])

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
``tta`` (test-time views: "hflip" scores each validation and test image with its mirror image, "shift1" with its
four one-pixel shifts; unset = none) and ``refit`` (true: the chosen value fitted again on training + validation
images, the test split scored by that fit; unset = false).

Unknown keys anywhere are an error naming the key and the known ones (a typo must not silently run the default).
So are recipes whose cells would not mean what they say, each refused when the file is read: a ``name`` that is
not a plain file name (the report files are named after it); a value listed twice in a [grid] or [seeds] list
(two cells of one setting counted as two replicates); seeds a kind of cell does not use (probe cells: model,
split, head; train cells: model, train); a variant that sets a key the [grid] (or a seed list) varies; a [grid]
with ``[plot] kind = "ablation"`` (its arms are paired by seed only); a plot ``y`` that is not a metric or an
``x`` / ``series`` that is not "variant" or a setting every cell has; a [[paper]] entry without a ``value``
between 0 and 1 (a fraction: 0.994 for 99.4%); whole-number settings (``train_limit``, ``epochs`` ...) of another
type; texts that are not strings (``title``, ``[plot] title`` ...), a time estimate that is not a non-negative number,
a ``log_x`` that is not true / false, a [[paper]] ``x`` that is not a number where the plot's x axis is numeric. The
[quick] table's "grid." and "seeds." lists are checked as [grid] and [seeds] are; a [quick] setting the quick size's
[grid] or a seed list varies is refused (the grid's values would replace it), and so is a [quick] dotted key
("options.k") whose table a variant replaces with its own value of that key (``options = { k = 4096, ... }``: that
arm would keep the full size's k at the quick size; write the variant's change as a dotted key, or give it its own
``quick``). An ablation's arms are each compared with the last baseline arm before them; arms listed before every
baseline arm, with the first baseline arm.

A cell's key (what makes a stored result reusable) covers its settings and, for ``weights`` naming a file on this
machine (not ``known:`` / ``shipped:`` names), a digest of that file and its JSON sidecar: a checkpoint replaced
under the same name gives new keys; for an ``imagefolder:PATH`` dataset, its images' paths, sizes and times (an
image added, removed or rewritten gives new keys; within one process, a file rewritten in place without its folder
changing is seen at the next start).
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
SEED_KEYS = ("model", "split", "head", "train")
METRICS = ("test_top1", "val_top1", "top2", "top5", "train_acc", "precision_at_10", "map")


class RecipeError(AppError):
    """A recipe file that cannot be used; the message names the file, the key and what is wrong."""


# What a cell's settings leave to the code and that changed its results: a kind's number here is part of its
# cells' keys. train 2: the default validation split became the probe's (app.data.core.default_val, 20% below
# 20,000 training images; it was 10%). train 3: the test subset of --test-limit is the probe's (app.data.core.limited:
# seed + 1; it was the data seed's own draw). probe 2: the logistic sweep's warm-started fits stop at a scaled
# tolerance (app.probe.heads.warm_tolerance, 2026-12-03; they stopped at the plain one and were the stronger value's
# model), so a probe cell stored before is not reused. probe 3: the logistic head stops on its duality gap too and its
# preconditioner has a floor (app.probe.heads.relative_gap, PRECONDITION_FLOOR, 2026-12-03: a fit from zero at a
# small weight decay said it had converged far from its optimum).
PROTOCOLS = {"train": 3, "probe": 3}


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
        from app.experiments.cell_files import file_digests

        files = file_digests(dict(self.settings))
        if files:  # a checkpoint replaced under the same name gives new keys (cells without one keep theirs)
            doc["files"] = files
        blob = json.dumps(doc, sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:20]

    def get(self, dotted: str, default: Any = None) -> Any:
        if dotted == "variant":
            return self.variant
        return get_dotted(dict(self.settings), dotted, default)

    def to_dict(self, key: str | None = None) -> dict[str, Any]:
        """The cell as a dict; ``key``: a stand-in for its key (a view's placeholder while an image folder's
        signature is being read: ``pending_folders``), else its own."""
        return {"experiment": self.experiment, "kind": self.kind, "variant": self.variant,
                "key": self.key if key is None else key, "settings": self.config}


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
        own dataset keeps it). A recipe whose [grid] varies the dataset is a RecipeError (``dataset_grid``): the grid's
        values would replace the one given."""
        for q in (False, True):
            if problem := self.dataset_grid(q):
                raise RecipeError(problem)
        quick = dict(self.quick)
        if "dataset" in quick:
            quick["dataset"] = dataset
        on = self.estimated_on or (self.dataset(False), self.dataset(True))
        return dataclasses.replace(self, base={**self.base, "dataset": dataset}, quick=quick, estimated_on=on)

    def dataset_grid(self, quick: bool = False) -> str | None:
        """Why another dataset cannot be given for this recipe (``--dataset``, the Experiments workspace's field): its
        [grid] varies the dataset at that size, so every cell names its own; None when it does not."""
        values = self._grid(quick).get("dataset")
        if values is None:
            return None
        return (f"{self.name}: its [grid] varies the dataset ({', '.join(str(v) for v in values)}), so each cell runs "
                f"on its own: another dataset (--dataset) cannot replace them; edit the recipe's [grid] instead")

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


def parse(doc: dict[str, Any], where: str, path: str = "") -> Recipe:
    """A recipe from its TOML document (``app.experiments.recipe_parse.parse``: every check of the module docstring);
    ``where`` names the file in messages."""
    from app.experiments.recipe_parse import parse as parse_doc

    return parse_doc(doc, where, path)


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


def check_runnable(recipe: Recipe, quick: bool = False) -> None:
    """A RecipeError when the recipe gives no cell at that size (a run would write an empty report)."""
    if not recipe.cells(quick):
        raise RecipeError(f"{recipe.name}: the recipe gives no cells at the {'quick' if quick else 'full'} size "
                          f"(an empty [grid] or [seeds] list?); nothing to run")


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
            if not name.split(":", 1)[1].strip():
                return (f"{recipe.name}: {name!r} names no folder: give imagefolder:PATH (a folder of class "
                        f"sub-folders) or choose another dataset")
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
