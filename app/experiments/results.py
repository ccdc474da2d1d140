"""An experiment's results as data, for the report, the command line and the Experiments workspace: the groups of
cells that differ only by seed (mean +- sample std over seeds), the plot's series, an ablation's arms against their
baselines (paired by seed), the results tables (Markdown, and as aligned text for a terminal) and what the
Experiments workspace draws while a run goes on (``live_view``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from app.probe.paired import holm, p_values_text, pair_records, with_holm


METRIC_NAMES = {"test_top1": "test top-1", "val_top1": "validation top-1", "top2": "test top-2",
                "top5": "test top-5", "train_acc": "train accuracy"}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def md_cell(text: str) -> str:
    """Text for a Markdown table cell: a ``|`` (a variant's label may have one) escaped so it splits no column."""
    return str(text).replace("|", "\\|")


def md_row(line: str) -> list[str]:
    """The cells of a Markdown table row (``| a | b \\| c |``), split at unescaped ``|`` and unescaped."""
    t = line.strip()
    t = t[1:] if t.startswith("|") else t
    t = t[:-1] if t.endswith("|") and not t.endswith("\\|") else t
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", t)]


def group_key(cell: dict[str, Any]) -> tuple:
    s = {k: v for k, v in cell["settings"].items() if not k.endswith("_seed")}
    return (cell.get("variant", ""), tuple(sorted((k, repr(v)) for k, v in s.items())))


def _varying(cells: list[dict]) -> list[str]:
    """Setting names (dotted for dicts) whose value differs between cells (seeds excluded)."""
    flat = [_flatten(c["settings"]) for c in cells]
    keys = sorted({k for f in flat for k in f if not k.endswith("_seed")})
    return [k for k in keys if len({repr(f.get(k)) for f in flat}) > 1]


def _setting(v: Any) -> str:
    """A setting as a person reads it in a recipe file: TOML's true / false, lists and tables without Python's
    quotes ("[conv1, conv2]", "{kind: gabor, count: 32}")."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_setting(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_setting(x)}" for k, x in v.items()) + "}"
    return _fmt(v)


def cell_settings(cells: list[dict]) -> dict[str, str]:
    """Each cell's key -> the settings that tell it apart from the recipe's other cells, as ``name = value`` (dotted
    names) joined by " · ", the backbone first, the seeds last. Cells are compared with the cells of their own
    backbone (an ablation's random-filter arms with each other, its patch arms with each other): a setting most of
    them share (a strict majority: the baseline's value) is named only where a cell departs from it; a setting with
    no majority value (a grid's axis, the seeds) is named in every cell; what they all share is left out. The
    backbone itself follows the same rule over all cells. (A table whose rows all began with the same head, grid and
    layer showed no difference before the text was cut.) A cell with nothing to name: ``"(the settings most cells
    share)"``; one cell: ``"(one cell)"``."""
    flat = [_flatten(c["settings"]) for c in cells]
    keys = sorted({k for f in flat for k in f}, key=lambda k: (k != "backbone", k.endswith("_seed"), k))

    def commons(rows: list[dict], names: list[str]) -> dict[str, str | None]:
        """varying name -> its strict-majority value's repr among ``rows`` (None: no majority)."""
        out: dict[str, str | None] = {}
        for k in names:
            counts: dict[str, int] = {}
            for f in rows:
                counts[repr(f.get(k))] = counts.get(repr(f.get(k)), 0) + 1
            if len(counts) > 1:
                top, n = max(counts.items(), key=lambda kv: kv[1])
                out[k] = top if 2 * n > len(rows) else None
        return out

    overall = commons(flat, keys)
    by_backbone: dict[str, dict[str, str | None]] = {}
    for b in {repr(f.get("backbone")) for f in flat}:
        rows = [f for f in flat if repr(f.get("backbone")) == b]
        by_backbone[b] = commons(rows, [k for k in keys if k != "backbone" and k in overall])
    out = {}
    for c, f in zip(cells, flat):
        rule = dict(by_backbone[repr(f.get("backbone"))])
        if "backbone" in overall:
            rule = {"backbone": overall["backbone"], **rule}
        parts = [f"{k} = {_setting(f[k]) if k in f else '(none)'}" for k, top in rule.items()
                 if top is None or repr(f.get(k)) != top]
        out[c["key"]] = (" · ".join(parts) if parts
                         else "(one cell)" if len(cells) == 1 else "(the settings most cells share)")
    return out


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and k != "bank":
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def mean_std(values: list[float]) -> tuple[float, float]:
    vals = [float(v) for v in values if isinstance(v, (int, float)) and not math.isnan(float(v))]
    if not vals:
        return float("nan"), float("nan")
    m = sum(vals) / len(vals)
    s = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return m, s


def groups(result) -> list[dict[str, Any]]:
    """[{variant, settings (flat, varying keys), n, failed, metric -> (mean, std), cells}] in recipe order."""
    cells = list(result.cells)
    vary = _varying(cells)
    order: dict[tuple, dict] = {}
    for c in cells:
        g = order.setdefault(group_key(c), {"variant": c.get("variant", ""), "cells": [],
                                             "settings": {k: _flatten(c["settings"]).get(k) for k in vary}})
        g["cells"].append(c)
    out = []
    for g in order.values():
        rs = [result.results.get(c["key"], {"error": "not run"}) for c in g["cells"]]
        ok = [r for r in rs if "error" not in r]
        g["n"] = len(ok)
        g["failed"] = [r["error"] for r in rs if "error" in r]
        for m in ("test_top1", "val_top1", "top2", "train_acc", "n_features", "trainable", "seconds"):
            g[m] = mean_std([r.get(m) for r in ok if r.get(m) is not None])
            g["n_" + m] = sum(1 for r in ok if r.get(m) is not None)
        g["seeds"] = sorted({tuple((k, v) for k, v in c["settings"].items() if k.endswith("_seed"))
                             for c in g["cells"]})
        # every seed gave the very same figures: the seed does not reach these cells (a frozen bank or trained
        # weights at the tapped layer, a fixed head), so n counts one result, not a replication
        figures = {tuple(r.get(m) for m in ("test_top1", "val_top1", "top2")) for r in ok}
        g["identical"] = len(ok) > 1 and len(g["seeds"]) > 1 and len(figures) == 1
        out.append(g)
    return out


def _pct(ms: tuple[float, float], n: int = 1) -> str:
    """A mean (± std) in %: the spread shown wherever it was measured, over ``n`` > 1 values (two seeds that give
    the same figure read "± 0.00", not as one figure)."""
    m, s = ms
    if math.isnan(m):
        return "-"
    return f"{100 * m:.2f} ± {100 * s:.2f}" if s > 0 or n > 1 else f"{100 * m:.2f}"


def plot_series(result, gs: list[dict] | None = None, planned: bool = False, change: bool = False
                ) -> tuple[dict[str, list[tuple]], list[tuple]]:
    """The recipe's plot as data: (series name -> [(x, mean, std)], paper reference points (label, x, value)).
    Works on a partial result (cells still running are left out). ``planned``: every series the recipe's cells will
    give is named, with no points yet where none finished (the live view lays its plot out once, at the plan);
    ``planned_x`` gives the x values they will take. ``change`` (an ablation recipe): each arm's point is its change
    against its baseline (``ablation``'s ``delta_<y>``: the mean and std of the per-seed differences; a baseline
    that finished sits at 0; an arm whose baseline has not finished has no point yet), and no paper figure (those
    are accuracies, not changes)."""
    r = result.recipe
    gs = groups(result) if gs is None else gs
    p = r.plot or {}
    x = p.get("x")
    y = p.get("y", "test_top1")
    series_key = p.get("series", "variant")
    change = change and p.get("kind") == "ablation"
    arms = {a["arm"]: a for a in ablation(result, (y,))} if change else {}
    series: dict[str, list] = {}
    for g in gs:
        m, s = g.get(y, (float("nan"), 0.0))
        if change:
            a = arms.get(g["variant"])
            if a is None or a["n"] == 0:
                m, s = float("nan"), 0.0
            else:
                m, s = (0.0, 0.0) if a["is_baseline"] else a[f"delta_{y}"]
        if math.isnan(m) and not planned:
            continue
        flat = _flatten(g["cells"][0]["settings"])
        xv = g["variant"] if x == "variant" else (flat.get(x) if x else (g["variant"] or "all"))
        name = g["variant"] if series_key == "variant" else str(flat.get(series_key))
        points = series.setdefault(name or "ours", [])
        if not math.isnan(m):
            points.append((xv, m, s))
    refs = []
    for pp in [] if change else r.paper:
        if pp.get("metric", "test_top1") == y and (pp.get("dataset") in (None, _dataset(result))):
            refs.append((f"{pp.get('source', 'paper')}: {pp.get('setting', '')}", pp.get("x"), float(pp["value"])))
    return series, refs


def planned_x(result, gs: list[dict] | None = None) -> list:
    """The x value of every group of the recipe's cells, finished or not, in the order of ``plot_series``."""
    p = result.recipe.plot or {}
    x = p.get("x")
    out = []
    for g in groups(result) if gs is None else gs:
        flat = _flatten(g["cells"][0]["settings"])
        out.append(g["variant"] if x == "variant" else (flat.get(x) if x else (g["variant"] or "all")))
    return out


# --- ablation (plot kind "ablation"): each arm against its baseline --------------------------------------------
ABLATION_METRICS = ("test_top1", "val_top1")


def baselines(recipe) -> list[str]:
    """The baseline arms of an ablation recipe: ``plot.baseline`` (a variant label or a list of them), by default
    the first variant."""
    b = (recipe.plot or {}).get("baseline")
    if b is None:
        return [str(recipe.variants[0].get("label", ""))] if recipe.variants else [""]
    return [str(x) for x in b] if isinstance(b, list) else [str(b)]


def _seed_key(cell: dict) -> tuple:
    return tuple(sorted((k, v) for k, v in cell["settings"].items() if k.endswith("_seed")))


def _arms(result) -> tuple[dict[str, dict[tuple, dict]], dict[str, str]]:
    """Each arm's (variant's) finished results by seed key, in recipe order, and the baseline arm each arm is
    compared with (the last baseline arm before it; the first arm when none is named before it)."""
    base_set = set(baselines(result.recipe))
    by_arm: dict[str, dict[tuple, dict]] = {}
    for c in result.cells:
        r = result.results.get(c["key"])
        arm = by_arm.setdefault(c.get("variant", ""), {})
        if r is not None and "error" not in r:
            arm[_seed_key(c)] = r
    base_of: dict[str, str] = {}
    current = None
    for arm in by_arm:
        if arm in base_set or current is None:
            current = arm
        base_of[arm] = current
    return by_arm, base_of


def ablation(result, metrics: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The ablation as data, one row per arm (variant) in recipe order: ``arm``, ``baseline`` (the arm it is compared
    with: the last baseline arm before it), ``is_baseline``, ``n`` (finished cells), per metric of
    ``ABLATION_METRICS`` (and of ``metrics``) its (mean, std) over seeds and ``delta_<metric>``: the (mean, std) of
    the per-seed differences arm - baseline (cells paired by their seeds; seeds either side lacks are left out; NaN
    when no pair finished). Fractions, like the metrics (x 100 = points)."""
    by_arm, base_of = _arms(result)
    rows = []
    for arm, per_seed in by_arm.items():
        current = base_of[arm]
        row: dict[str, Any] = {"arm": arm, "baseline": current, "is_baseline": arm == current, "n": len(per_seed),
                               "selected": sorted({json.dumps(r.get("selected"), sort_keys=True)
                                                   for r in per_seed.values() if r.get("selected")})}
        ref = by_arm[current]
        for m in dict.fromkeys(ABLATION_METRICS + tuple(metrics)):
            vals = [r.get(m) for r in per_seed.values() if r.get(m) is not None]
            row[m], row["n_" + m] = mean_std(vals), len(vals)
            diffs = [float(per_seed[k][m]) - float(ref[k][m]) for k in per_seed
                     if k in ref and per_seed[k].get(m) is not None and ref[k].get(m) is not None]
            row[f"delta_{m}"], row[f"n_delta_{m}"] = mean_std(diffs), len(diffs)
        # the test split image by image, per seed pair: McNemar's exact p of arm against baseline (None: no record)
        pairs = [pair_records(per_seed[k], ref[k]) for k in per_seed if k in ref] if arm != current else []
        row["paired_p"] = [None if c is None else c.p_value for c in pairs]
        row["paired_counts"] = [None if c is None else (c.a_only, c.b_only) for c in pairs]
        rows.append(row)
    # read together, the table's p values are many tests: each also adjusted for all of them (Holm), in the same order
    flat = [p for row in rows for p in row["paired_p"]]
    adjusted = iter(holm(flat))
    n_tests = sum(p is not None for p in flat)
    for row in rows:
        row["paired_p_holm"] = [next(adjusted) for _ in row["paired_p"]]
        row["paired_tests"] = n_tests
    return rows


def holm_mark(adjusted: list) -> str:
    """The chart's mark of an arm: "**" when every seed's Holm-adjusted p is below 0.05, "*" when some are, "" when
    none is or none was measured (``ablation``'s ``paired_p_holm``)."""
    ps = [p for p in adjusted if p is not None]
    beyond = [p < 0.05 for p in ps]
    return "**" if ps and all(beyond) and len(ps) == len(adjusted) else "*" if any(beyond) else ""


def cell_pairs(result) -> dict[str, Any]:
    """Each arm cell's image-by-image comparison with its baseline arm's cell of the same seeds
    (``app.probe.paired.PairedComparison``: McNemar's exact p, the disagreements), by cell key; None for a baseline's
    cell, an unfinished pair or cells without a record of their test images (``pair_records``)."""
    by_arm, base_of = _arms(result)
    out: dict[str, Any] = {}
    for c in result.cells:
        arm = c.get("variant", "")
        base = base_of.get(arm, arm)
        mine = by_arm.get(arm, {}).get(_seed_key(c))
        ref = by_arm.get(base, {}).get(_seed_key(c))
        out[c["key"]] = pair_records(mine, ref) if arm != base and mine is not None and ref is not None else None
    return with_holm(out)


def cell_changes(result, metric: str = "test_top1") -> dict[str, float | None]:
    """Each cell's change of ``metric`` against its baseline arm's cell of the same seeds (a fraction; the per-seed
    differences whose mean is the arm's ``delta_<metric>`` in ``ablation``). None: the cell is a baseline's, has not
    finished, or its baseline's cell of the same seeds has not."""
    by_arm, base_of = _arms(result)
    out: dict[str, float | None] = {}
    for c in result.cells:
        arm = c.get("variant", "")
        base = base_of.get(arm, arm)
        mine = by_arm.get(arm, {}).get(_seed_key(c))
        ref = by_arm.get(base, {}).get(_seed_key(c))
        ok = (arm != base and mine is not None and ref is not None and mine.get(metric) is not None
              and ref.get(metric) is not None)
        out[c["key"]] = float(mine[metric]) - float(ref[metric]) if ok else None
    return out


def _points(ms: tuple[float, float], n: int = 1) -> str:
    m, s = ms
    if math.isnan(m):
        return "-"
    return f"{100 * m:+.2f} ± {100 * s:.2f}" if s > 0 or n > 1 else f"{100 * m:+.2f}"


def _selected(values: list[str]) -> str:
    """The hyperparameter values the arm's cells selected on validation (``weight_decay 0.1``; several: seeds)."""
    out = []
    for v in values:
        d = json.loads(v)
        out.append(", ".join(f"{k} {_fmt(x)}" for k, x in d.items()) if isinstance(d, dict) else str(d))
    return "; ".join(out) or "-"


def ablation_table(result) -> list[str]:
    """The Markdown lines of the ablation table (each arm's cost against its baseline, in points)."""
    lines = ["## Ablation: what each ingredient is worth (change against the baseline, in points)", "",
             "| arm | compared with | n | test top-1 | change (test) | McNemar p (per seed) | Holm-adjusted p "
             "| val top-1 | change (val) | selected on val |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    rows = ablation(result)
    for a in rows:
        dt = "(baseline)" if a["is_baseline"] else _points(a["delta_test_top1"], a["n_delta_test_top1"])
        dv = "(baseline)" if a["is_baseline"] else _points(a["delta_val_top1"], a["n_delta_val_top1"])
        pp = "" if a["is_baseline"] else p_values_text(a["paired_p"])
        ph = "" if a["is_baseline"] else p_values_text(a["paired_p_holm"])
        lines.append(f"| {md_cell(a['arm'] or '-')} | {md_cell(a['baseline'] or '-')} | {a['n']} | "
                     f"{_pct(a['test_top1'], a['n_test_top1'])} | {dt} | {pp} | {ph} | "
                     f"{_pct(a['val_top1'], a['n_val_top1'])} | {dv} | {md_cell(_selected(a['selected']))} |")
    n_tests = rows[0]["paired_tests"] if rows else 0
    lines += ["", PAIRED_NOTE + (HOLM_NOTE.format(n=n_tests) if n_tests > 1 else "")]
    return lines


PAIRED_NOTE = ("McNemar p: each seed's arm cell against the baseline's cell of the same seeds, image by image on the "
               "same test images (exact two-sided test of equal accuracy; below 0.05: a difference these images "
               "show beyond chance; \"-\": a cell without a record of its test images).")
HOLM_NOTE = (" Holm-adjusted p: the same p values adjusted for all {n} of the table's comparisons together (Holm's "
             "step-down method): with this many tests some fall below 0.05 by chance alone; an adjusted p below 0.05 "
             "still says the difference is beyond chance.")


def _dataset(result) -> str:
    return str(result.cells[0]["settings"].get("dataset")) if result.cells else ""


def results_table(result, gs: list[dict] | None = None) -> list[str]:
    """The Markdown lines of the results table: one row per group of cells that differ only by seed (mean ± std
    over seeds, in %), a column per setting that varies (none for an ablation, whose arms are named by what they
    change)."""
    gs = groups(result) if gs is None else gs
    vary = [] if (result.recipe.plot or {}).get("kind") == "ablation" else _varying(list(result.cells))
    cols = ["variant"] + vary + ["n", "test top-1", "val top-1", "top-2", "features / trainable params"]
    lines = ["| " + " | ".join(md_cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for g in gs:
        extra = g["n_features"][0] if not math.isnan(g["n_features"][0]) else g["trainable"][0]
        flat = _flatten(g["cells"][0]["settings"])  # as a recipe writes it (TOML's [a, b], true), "(none)": unset
        row = [md_cell(g["variant"] or "-")] + [md_cell(_setting(flat[k]) if k in flat else "(none)")
                                                for k in vary] + [
            str(g["n"]) + (" (identical)" if g.get("identical") else "")] + [
            _pct(g[m], 1 if g.get("identical") else g["n_" + m]) for m in ("test_top1", "val_top1", "top2")] + [
            "-" if isinstance(extra, float) and math.isnan(extra) else f"{extra:,.0f}"]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def as_text(md_lines: list[str]) -> str:
    """Markdown table lines as aligned plain-text columns for a terminal (other lines as they are; the ``|---|``
    rule becomes dashes under the header)."""
    out: list[str] = []
    block: list[list[str]] = []

    def flush() -> None:
        if not block:
            return
        widths = [max(len(r[j]) if j < len(r) else 0 for r in block) for j in range(max(map(len, block)))]
        for i, r in enumerate(block):
            out.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
            if i == 0:
                out.append("  ".join("-" * w for w in widths))
        block.clear()

    for line in md_lines:
        t = line.strip()
        if t.startswith("|") and t.endswith("|"):
            cells = md_row(t)
            if not all(set(c) <= {"-", ":"} and c for c in cells):
                block.append(cells)
            continue
        flush()
        out.append(line)
    flush()
    return "\n".join(out)


@dataclass(frozen=True)
class LiveView:
    """What the Experiments workspace draws for a (partial) result: the plot's series laid out for every planned
    cell (``plot_series(planned=True)``), the x values they take (``planned_x``), the plot spec (with ``view =
    "change"`` when an ablation is drawn as changes) and, for an ablation, each cell's change against its baseline
    (``cell_changes``; None for other recipes), the baseline arms and the metric's name."""

    series: dict
    refs: list
    spec: dict
    xs: list
    changes: dict | None
    baselines: frozenset
    metric: str
    pairs: dict | None = None  # an ablation's cells compared image by image with their baseline's (``cell_pairs``)
    marks: dict | None = None  # an ablation's arms: "**" / "*": beyond chance after Holm in every / some seed


def live_view(result, change: bool = False) -> LiveView:
    """The live table's and plot's data of ``result`` (cells still running have no result yet); ``change``: an
    ablation's arms as their changes against their baselines (ignored for other recipes)."""
    spec = dict(result.recipe.plot or {})
    ablating = spec.get("kind") == "ablation"
    change = change and ablating
    gs = groups(result)
    series, refs = plot_series(result, gs, planned=True, change=change)
    y = spec.get("y", "test_top1")
    return LiveView(series, refs, {**spec, "view": "change"} if change else spec, planned_x(result, gs),
                    cell_changes(result, y) if ablating else None,
                    frozenset(baselines(result.recipe)) if ablating else frozenset(), METRIC_NAMES.get(y, y),
                    cell_pairs(result) if ablating else None,
                    {a["arm"]: holm_mark(a["paired_p_holm"]) for a in ablation(result)} if ablating else None)
