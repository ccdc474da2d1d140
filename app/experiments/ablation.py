"""An ablation recipe's results (plot kind "ablation"): each arm (variant) against its baseline arm, paired by seed.

``ablation`` gives the table as data (means, per-seed changes, McNemar's p per seed pair and those p values adjusted
for all the table's comparisons by Holm's method), ``cell_changes`` / ``cell_pairs`` the same per cell for the live
table, ``ablation_table`` the report's Markdown, ``holm_mark`` the chart's marks. The general tables and the plot's
data are ``app.experiments.results``'s.
"""

from __future__ import annotations

import json
import math
from typing import Any

from app.experiments.results import _fmt, _pct, md_cell, mean_std, metric_value
from app.probe.paired import holm, p_values_text, pair_records, with_holm

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
    planned: dict[str, int] = {}
    for c in result.cells:
        planned[c.get("variant", "")] = planned.get(c.get("variant", ""), 0) + 1
    rows = []
    for arm, per_seed in by_arm.items():
        current = base_of[arm]
        figures = {tuple(r.get(m) for m in ("test_top1", "val_top1", "top2")) for r in per_seed.values()}
        row: dict[str, Any] = {"arm": arm, "baseline": current, "is_baseline": arm == current, "n": len(per_seed),
                               "planned": planned.get(arm, 0),
                               # every seed gave the very same figures: one result, not a spread of 0 (as results)
                               "identical": len(per_seed) > 1 and len(figures) == 1,
                               "selected": sorted({json.dumps(r.get("selected"), sort_keys=True)
                                                   for r in per_seed.values() if r.get("selected")})}
        ref = by_arm[current]
        for m in dict.fromkeys(ABLATION_METRICS + tuple(metrics)):
            vals = [v for v in (metric_value(r, m) for r in per_seed.values()) if v is not None]
            row[m], row["n_" + m] = mean_std(vals), len(vals)
            diffs = [float(metric_value(per_seed[k], m)) - float(metric_value(ref[k], m)) for k in per_seed
                     if k in ref and metric_value(per_seed[k], m) is not None and metric_value(ref[k], m) is not None]
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


def holm_mark(adjusted: list, planned: int | None = None) -> str:
    """The chart's mark of an arm: "**" when every seed's Holm-adjusted p is below 0.05, "*" when some are, "" when
    none is or none was measured (``ablation``'s ``paired_p_holm``). ``planned``: the arm's seeds in the recipe;
    "**" only once each of them was paired (an arm with 1 of 3 seeds paired, its baseline's others failed or still
    running, read "**", "in every seed")."""
    ps = [p for p in adjusted if p is not None]
    beyond = [p < 0.05 for p in ps]
    every = ps and all(beyond) and len(ps) == len(adjusted) and (planned is None or len(ps) >= planned)
    return "**" if every else "*" if any(beyond) else ""


def change_text(row: dict, metric: str = "test_top1") -> str:
    """An arm's change against its baseline as the table prints it, in points, with how many of its seeds it rests
    on where that is fewer than the recipe's (a baseline cell failed or has not finished): "+4.00 (1 of 3 seeds)"."""
    if row["is_baseline"]:
        return "(baseline)"
    n = row[f"n_delta_{metric}"]
    text = _points(row[f"delta_{metric}"], n)
    planned = row.get("planned") or 0
    return text + (f" ({n} of {planned} seeds)" if text != "-" and n < planned else "")


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
        ok = (arm != base and mine is not None and ref is not None and metric_value(mine, metric) is not None
              and metric_value(ref, metric) is not None)
        out[c["key"]] = float(metric_value(mine, metric)) - float(metric_value(ref, metric)) if ok else None
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
        dt, dv = change_text(a, "test_top1"), change_text(a, "val_top1")
        one = a.get("identical")  # the seeds gave one result: no spread of 0 claimed (as the results table)
        pp = "" if a["is_baseline"] else p_values_text(a["paired_p"])
        ph = "" if a["is_baseline"] else p_values_text(a["paired_p_holm"])
        lines.append(f"| {md_cell(a['arm'] or '-')} | {md_cell(a['baseline'] or '-')} | "
                     f"{a['n']}{' (identical)' if one else ''} | "
                     f"{_pct(a['test_top1'], 1 if one else a['n_test_top1'])} | {dt} | {pp} | {ph} | "
                     f"{_pct(a['val_top1'], 1 if one else a['n_val_top1'])} | {dv} | "
                     f"{md_cell(_selected(a['selected']))} |")
    n_tests = rows[0]["paired_tests"] if rows else 0
    lines += ["", PAIRED_NOTE + (HOLM_NOTE.format(n=n_tests) if n_tests > 1 else "")]
    return lines


PAIRED_NOTE = ("McNemar p: each seed's arm cell against the baseline's cell of the same seeds, image by image on the "
               "same test images (exact two-sided test of equal accuracy; below 0.05: a difference these images "
               "show beyond chance; \"-\": a cell without a record of its test images).")
HOLM_NOTE = (" Holm-adjusted p: the same p values adjusted for all {n} of the table's comparisons together (Holm's "
             "step-down method): with this many tests some fall below 0.05 by chance alone; an adjusted p below 0.05 "
             "still says the difference is beyond chance.")
