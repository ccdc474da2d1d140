"""Reading a recipe's TOML document into a ``Recipe``, with every check the recipe format promises
(``app.experiments.recipe``'s docstring): unknown keys, whole-number settings, grid and seed lists (no value twice,
no seed a kind of cell ignores), variants that would not be what their label says, the plot's axes and metric, the
[[paper]] figures, and a recipe with no cell. Each mistake is a ``RecipeError`` naming the file and the key."""

from __future__ import annotations

import copy
import json
import math
import re
from typing import Any

from app.experiments.recipe import KINDS, METRICS, SEED_KEYS, Recipe, RecipeError, get_dotted, set_dotted

TOP_KEYS = {"name", "title", "claim", "kind", "base", "grid", "seeds", "quick", "variants", "plot", "paper",
            "notes", "estimate_seconds", "quick_estimate_seconds"}
# the seeds each kind of cell reads (cell.py: model_spec reads model_seed; the probe split_seed and head_seed; train
# train_seed): a seed list the kind ignores would give cells with identical numbers counted as replicates
SEEDS_OF = {"probe": ("model", "split", "head"), "train": ("model", "train")}
# settings a cell may have (the union of what probe and train cells read)
PROBE_KEYS = {"backbone", "options", "weights", "init", "model_seed", "dataset", "data_root", "train_limit",
              "test_limit", "val", "layer", "pooling", "head", "head_options", "split_seed", "head_seed", "bank",
              "feature_budget", "label", "weight_state", "freeze", "threads", "whiten", "head_grid", "tta",
              "refit"}
# (no layer or pooling: a train cell reads neither, so a recipe that set them would change nothing)
TRAIN_KEYS = {"backbone", "options", "weights", "init", "model_seed", "dataset", "data_root", "train_limit",
              "test_limit", "val", "epochs", "optimizer", "lr", "weight_decay", "batch_size", "augment", "freeze",
              "train_seed", "label", "weight_state", "max_steps", "bank", "threads"}
# settings that are whole numbers, and their least value (a string "500" would only fail inside the cell)
WHOLE = {"train_limit": 1, "test_limit": 1, "epochs": 1, "batch_size": 1, "max_steps": 1, "threads": 1, "val": 0,
         "model_seed": 0, "split_seed": 0, "head_seed": 0, "train_seed": 0}
# a recipe's name names its report files: a plain file-name stem (no path separators, no leading dot)
NAME_RE = re.compile(r"[A-Za-z0-9_-](?:[A-Za-z0-9 ._-]*[A-Za-z0-9_-])?")
PLOT_KEYS = {"x", "y", "series", "log_x", "title", "x_label", "y_label", "kind", "baseline"}
PLOT_KINDS = ("auto", "ablation")  # auto: lines over a numeric x, bars over categories; ablation: each arm's change
PAPER_KEYS = {"source", "setting", "dataset", "metric", "value", "note", "series", "x"}

def _check_keys(where: str, d: Any, known: set[str], allow_dotted_of: set[str] | None = None) -> None:
    if not isinstance(d, dict):
        raise RecipeError(f"{where}: expected a table, got {type(d).__name__}")
    for k in d:
        root = k.split(".", 1)[0]
        if k in known or (allow_dotted_of is not None and root in allow_dotted_of):
            continue
        raise RecipeError(f"{where}: unknown key {k!r}; known: {', '.join(sorted(known))}")


_MISSING = object()


def _canon(v: Any) -> Any:
    """A value as a comparable key: 1 and 1.0 alike, true not 1, lists and tables by their contents."""
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, (int, float)):
        return ("num", float(v))
    if isinstance(v, (list, tuple)):
        return ("list", tuple(_canon(x) for x in v))
    if isinstance(v, dict):
        return ("table", tuple(sorted((str(k), _canon(x)) for k, x in v.items())))
    return (type(v).__name__, str(v))


def _toml(v: Any) -> str:
    """A value as a recipe writes it (for messages)."""
    return json.dumps(v, default=str) if not isinstance(v, bool) else ("true" if v else "false")


def _check_setting(where: str, key: str, value: Any) -> None:
    """A setting's value where its type is known: the whole-number settings (``WHOLE``), the switches (``refit``)."""
    if key == "refit" and not isinstance(value, bool):  # "false" (a string) would be read as on
        raise RecipeError(f"{where}: 'refit' must be true or false, got {_toml(value)}")
    if key in WHOLE:
        least = WHOLE[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise RecipeError(f"{where}: {key!r} must be a whole number >= {least}, got {_toml(value)}")


def _check_grid_list(where: str, key: str, values: Any) -> None:
    if not isinstance(values, list) or not values:
        raise RecipeError(f"{where}: {key!r} must be a non-empty list of values")
    seen = set()
    for v in values:
        c = _canon(v)
        if c in seen:
            raise RecipeError(f"{where}: {key!r} lists {_toml(v)} twice (two cells of one setting would count as "
                              f"two replicates; repeats are [seeds])")
        seen.add(c)
    name = key[5:] if key.startswith("grid.") else key
    for v in values:
        _check_setting(where, name, v)


def _check_seed_list(where: str, key: str, values: Any, kind: str) -> None:
    name = key[6:] if key.startswith("seeds.") else key
    if name not in SEEDS_OF[kind]:
        raise RecipeError(f"{where}: {kind} cells do not use {name!r} seeds (their cells would give the same "
                          f"numbers, counted as replicates); {kind} cells use: {', '.join(SEEDS_OF[kind])}")
    if not isinstance(values, list) or not values or not all(
            isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in values):
        raise RecipeError(f"{where}: {key!r} must be a list of non-negative integers")
    if len(set(values)) != len(values):
        dup = next(x for x in values if values.count(x) > 1)
        raise RecipeError(f"{where}: {key!r} lists seed {dup} twice (one cell counted as two replicates)")


def _nested(overrides: dict[str, Any]) -> dict:
    out: dict = {}
    for k, v in overrides.items():
        set_dotted(out, k, copy.deepcopy(v))
    return out


def _check_text(where: str, key: str, value: Any) -> None:
    if not isinstance(value, str):
        raise RecipeError(f"{where}: {key!r} must be a string (in quotes), got {_toml(value)}")


def _check_seconds(where: str, key: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise RecipeError(f"{where}: {key!r} must be a non-negative number of seconds per cell (e.g. 10 or 2.5, "
                          f"without quotes), got {_toml(value)}")


def _check_types(doc: dict[str, Any], where: str) -> None:
    """The values whose type the format fixes: the texts (a title of 5 failed in the report's chart after every cell
    had run), the time estimates (a string "10" read as ten characters: "about 17 min"), the plot's switches."""
    for key in ("title", "claim", "notes"):
        if key in doc:
            _check_text(where, key, doc[key])
    for key in ("estimate_seconds", "quick_estimate_seconds"):
        if key in doc:
            _check_seconds(where, key, doc[key])
    plot = doc.get("plot")
    if isinstance(plot, dict):
        for key in ("x", "y", "series", "title", "x_label", "y_label", "kind"):
            if key in plot:
                _check_text(f"{where} [plot]", key, plot[key])
        if "log_x" in plot and not isinstance(plot["log_x"], bool):
            raise RecipeError(f"{where} [plot]: 'log_x' must be true or false (without quotes), got "
                              f"{_toml(plot['log_x'])}")
        b = plot.get("baseline")
        if b is not None and not (isinstance(b, str) or isinstance(b, list) and all(isinstance(x, str) for x in b)):
            raise RecipeError(f"{where} [plot]: 'baseline' must be a variant's label or a list of them (strings), got "
                              f"{_toml(b)}")
    paper = doc.get("paper")
    if isinstance(paper, list):
        for i, p in enumerate(paper):
            if isinstance(p, dict):
                for key in ("source", "setting", "dataset", "metric", "note", "series"):
                    if key in p:
                        _check_text(f"{where} [[paper]] #{i + 1}", key, p[key])
    variants = doc.get("variants")
    if isinstance(variants, list):
        for i, v in enumerate(variants):
            if isinstance(v, dict) and "label" in v:
                _check_text(f"{where} [[variants]] #{i + 1}", "label", v["label"])


def _check_paper_x(where: str, paper: list, cells: list, plot: dict) -> None:
    """A [[paper]] figure's ``x`` where the plot's x axis is numeric (every cell's x a number): a number too (a
    string "100k" failed in the report's chart after every cell had run); on a category axis, one of its names."""
    x = plot.get("x")
    if not x or x == "variant":
        return
    xs = [c.get(x) for c in cells]
    if not xs or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs):
        return
    for i, p in enumerate(paper):
        px = p.get("x")
        if px is not None and (isinstance(px, bool) or not isinstance(px, (int, float)) or not math.isfinite(px)):
            raise RecipeError(f"{where} [[paper]] #{i + 1}: 'x' must be a number (the plot's x, {x!r}, is numeric: "
                              f"100000, not \"100k\"), got {_toml(px)}")


def parse(doc: dict[str, Any], where: str, path: str = "") -> Recipe:
    _check_keys(where, doc, TOP_KEYS)
    _check_types(doc, where)
    for req in ("name", "kind", "base"):
        if req not in doc:
            raise RecipeError(f"{where}: missing {req!r}")
    name = doc["name"]
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise RecipeError(f"{where}: 'name' must be a plain file name (letters, digits, spaces, '.', '-', '_'; no "
                          f"'/' or '\\', not starting with '.'): the report files are named after it; got "
                          f"{_toml(name)}")
    kind = doc["kind"]
    if kind not in KINDS:
        raise RecipeError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    known = PROBE_KEYS if kind == "probe" else TRAIN_KEYS
    _check_keys(f"{where} [base]", doc["base"], known)
    for k, v in doc["base"].items():
        _check_setting(f"{where} [base]", k, v)
    grid = doc.get("grid", {}) or {}
    _check_keys(f"{where} [grid]", grid, known, allow_dotted_of=known)
    for k, v in grid.items():
        _check_grid_list(f"{where} [grid]", k, v)
    seeds = doc.get("seeds", {}) or {}
    _check_keys(f"{where} [seeds]", seeds, set(SEED_KEYS))
    for k, v in seeds.items():
        _check_seed_list(f"{where} [seeds]", k, v, kind)
    quick = doc.get("quick", {}) or {}
    if not isinstance(quick, dict):
        raise RecipeError(f"{where}: [quick] must be a table, got {type(quick).__name__}")
    for k, v in quick.items():
        if k.startswith("grid."):
            if k[5:].split(".", 1)[0] not in known:
                raise RecipeError(f"{where} [quick]: unknown grid key {k!r}")
            _check_grid_list(f"{where} [quick]", k, v)
        elif k.startswith("seeds."):
            if k[6:] not in SEED_KEYS:
                raise RecipeError(f"{where} [quick]: unknown seeds key {k!r}; known: {', '.join(SEED_KEYS)}")
            _check_seed_list(f"{where} [quick]", k, v, kind)
        elif k.split(".", 1)[0] not in known:
            raise RecipeError(f"{where} [quick]: unknown key {k!r}; known: {', '.join(sorted(known))}")
        else:
            _check_setting(f"{where} [quick]", k, v)
    variants = doc.get("variants", []) or []
    if not isinstance(variants, list):
        raise RecipeError(f"{where}: [[variants]] must be an array of tables")
    full_grid = set(grid)
    quick_grid = full_grid | {k[5:] for k in quick if k.startswith("grid.")}
    full_seeds = {f"{k}_seed" for k in seeds}
    quick_seeds = full_seeds | {f"{k[6:]}_seed" for k in quick if k.startswith("seeds.")}
    # a [quick] setting the quick size's [grid] (or a seed list) also sets would be replaced by it in every cell: the
    # quick size would silently not be what the table says
    for k, x in quick.items():
        if k.startswith(("grid.", "seeds.")):
            continue
        nested = _nested({k: x})
        for g in sorted(quick_grid):
            if get_dotted(nested, g, _MISSING) is not _MISSING or k.startswith(g + "."):
                listed = f"grid.{g}" if g not in full_grid else g
                raise RecipeError(f"{where} [quick]: sets {k!r}, which the [grid] varies ({listed!r}): the grid's "
                                  f"values would replace the quick table's in every cell; give the quick size's "
                                  f"values as \"grid.{g}\" = [...] in [quick] instead, or drop one of the two")
        for sk in sorted(quick_seeds):
            if sk in nested:
                raise RecipeError(f"{where} [quick]: sets {k!r}, which [seeds] varies ({sk[:-5]!r} seeds): the seeds "
                                  f"would replace the quick table's value in every cell; set it in one place only")
    labels = set()
    for i, v in enumerate(variants):
        _check_keys(f"{where} [[variants]] #{i + 1}", v, known | {"label", "quick"}, allow_dotted_of=known)
        _check_keys(f"{where} [[variants]] #{i + 1} quick", v.get("quick") or {}, known, allow_dotted_of=known)
        lab = str(v.get("label", ""))
        if not lab or lab in labels:
            raise RecipeError(f"{where} [[variants]] #{i + 1}: every variant needs its own label")
        labels.add(lab)
        own = {k: x for k, x in v.items() if k not in ("label", "quick")}
        for k, x in own.items():
            _check_setting(f"{where} [[variants]] #{i + 1} ({lab!r})", k, x)
        for k, x in (v.get("quick") or {}).items():
            _check_setting(f"{where} [[variants]] #{i + 1} ({lab!r}) quick", k, x)
        # a key the grid (or a seed list) also sets would be replaced by it in every cell: the variant would not be
        # what its label says
        # a [quick] dotted key ("options.k" = 64) whose table the variant replaces with its own value of that key
        # (options = { k = 4096, ... }): at the quick size the variant's table wins, the other arms get the quick value,
        # and the arms differ in what the quick table meant to set alike
        vquick = _nested(v.get("quick") or {})
        own_nested = _nested(own)
        for k, x in quick.items():
            if k.startswith(("grid.", "seeds.")) or "." not in k or k in own:
                continue
            table = next((o for o in own if k.startswith(o + ".")), None)
            mine = get_dotted(own_nested, k, _MISSING)
            if table is None or mine is _MISSING or _canon(mine) == _canon(x):
                continue
            own_quick = v.get("quick") or {}
            if get_dotted(vquick, k, _MISSING) is not _MISSING or any(k.startswith(q + ".") for q in own_quick):
                continue  # the variant says its own quick value
            raise RecipeError(f"{where} [[variants]] #{i + 1} ({lab!r}): its table {table!r} sets {k!r} = "
                              f"{_toml(mine)} and replaces the whole table, so [quick]'s {k!r} = {_toml(x)} would not "
                              f"reach this variant at the quick size (the other arms get {_toml(x)}); write the "
                              f"variant's changes as dotted keys (\"{table}.NAME\" = ...) so [quick] applies to it, "
                              f"or give it its own quick = {{ \"{k}\" = ... }}")
        for size, sets, varied, seeded in (("", own, full_grid, full_seeds),
                                           (" (at the quick size)", {**own, **(v.get("quick") or {})}, quick_grid,
                                            quick_seeds)):
            nested = _nested(sets)
            for g in sorted(varied):
                if get_dotted(nested, g, _MISSING) is not _MISSING:
                    raise RecipeError(f"{where} [[variants]] #{i + 1} ({lab!r}): sets {g!r}, which the [grid] "
                                      f"varies{size}: the grid's values would replace the variant's; set it in one "
                                      f"place only")
            for sk in sorted(seeded):
                if sk in nested:
                    raise RecipeError(f"{where} [[variants]] #{i + 1} ({lab!r}): sets {sk!r}, which [seeds] "
                                      f"varies{size}: the seeds would replace the variant's; set it in one place only")
    plot = doc.get("plot", {}) or {}
    _check_keys(f"{where} [plot]", plot, PLOT_KEYS)
    if plot.get("kind", "auto") not in PLOT_KINDS:
        raise RecipeError(f"{where} [plot]: kind must be one of {', '.join(PLOT_KINDS)}, got {plot['kind']!r}")
    if plot.get("kind") == "ablation" and quick_grid:
        raise RecipeError(f"{where}: a [grid] ({', '.join(sorted(quick_grid))}) cannot be combined with [plot] "
                          f"kind = \"ablation\" (an ablation pairs each arm's cells with its baseline's by seed "
                          f"only, so the grid's cells would overwrite each other); make each grid value a variant")
    if "y" in plot and plot["y"] not in METRICS:
        raise RecipeError(f"{where} [plot]: y must be one of {', '.join(METRICS)}, got {_toml(plot['y'])}")
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
        if "value" not in p:
            raise RecipeError(f"{where} [[paper]] #{i + 1}: missing 'value' (the paper's figure as a fraction: 0.994 "
                              f"for 99.4%)")
        value = p["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise RecipeError(f"{where} [[paper]] #{i + 1}: 'value' must be a fraction between 0 and 1 (0.994 for "
                              f"99.4%), got {_toml(value)}")
        if p.get("metric", "test_top1") not in METRICS:
            raise RecipeError(f"{where} [[paper]] #{i + 1}: metric must be one of {', '.join(METRICS)}, got "
                              f"{_toml(p['metric'])}")
    recipe = Recipe(name, str(doc.get("title", name)), str(doc.get("claim", "")), kind,
                    dict(doc["base"]), dict(grid), dict(seeds), dict(quick), tuple(variants), dict(plot),
                    tuple(paper), str(doc.get("notes", "")), path or where, doc.get("estimate_seconds"),
                    doc.get("quick_estimate_seconds"), doc)
    for quick_size in (False, True):
        cells = recipe.cells(quick_size)
        size = "quick" if quick_size else "full"
        if not cells:
            raise RecipeError(f"{where}: the recipe gives no cells at the {size} size")
        for axis in ("x", "series"):
            key = plot.get(axis)
            if key is None or key == "variant":
                continue
            if not isinstance(key, str) or any(c.get(key, _MISSING) is _MISSING for c in cells):
                common = set.intersection(*(set(_flat_keys(dict(c.settings))) for c in cells))
                raise RecipeError(f"{where} [plot]: {axis} = {_toml(key)} is not a setting of every cell (at the "
                                  f"{size} size); use \"variant\" or one of: {', '.join(sorted(common))}")
        _check_paper_x(where, list(paper), cells, plot)
    return recipe


def _flat_keys(d: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        out.append(f"{prefix}{k}")
        if isinstance(v, dict):
            out += _flat_keys(v, f"{prefix}{k}.")
    return out
