"""An ablation recipe's results (plot kind "ablation"): each arm (variant) against its baseline arm, paired by seed.

``ablation`` gives the table as data (means, per-seed changes, McNemar's p per seed pair and those p values adjusted
for all the table's comparisons by Holm's method), ``cell_changes`` / ``cell_pairs`` the same per cell for the live
table, ``ablation_table`` the report's Markdown, ``holm_mark`` the chart's marks. The general tables and the plot's
data are ``app.experiments.results``'s.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from app.experiments.results import _fmt, _pct, _unreached_seeds, md_cell, mean_std, metric_value
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


def _without(key: tuple, drop) -> tuple:
    """A seed key without the seeds in ``drop`` (seeds that do not reach the cells: their values are one result)."""
    return tuple((k, v) for k, v in key if k not in drop) if drop else key


@dataclass
class _Arms:
    """An ablation's arms: ``cells`` each arm's finished results by seed key (in recipe order), ``planned`` each
    arm's planned seed keys, ``base_of`` the baseline arm each is compared with, ``unreached`` each arm's seed keys
    that do not reach its cells (``results._unreached_seeds``: the same figures whatever their value, the other seeds
    held), ``order`` the arms as the table lists them (each baseline before the arms compared with it)."""

    cells: dict[str, dict[tuple, dict]]
    planned: dict[str, list[tuple]]
    base_of: dict[str, str]
    unreached: dict[str, list[str]]
    order: list[str]

    def drop(self, arm: str) -> set[str]:
        """The seeds left out when ``arm`` is paired with its baseline: those that reach neither arm's cells (their
        cells are repeats of one result, not pairs; the Holm family would count each repeat as a test)."""
        base = self.base_of.get(arm, arm)
        return set(self.unreached.get(arm, ())) & set(self.unreached.get(base, ()))

    def distinct(self, arm: str, drop) -> dict[tuple, dict]:
        """``arm``'s finished results by seed key without ``drop`` (the first cell of each: the others repeat it)."""
        out: dict[tuple, dict] = {}
        for k, r in self.cells.get(arm, {}).items():
            out.setdefault(_without(k, drop), r)
        return out

    def pairs(self, arm: str) -> tuple[dict[tuple, dict], dict[tuple, dict]]:
        """``arm``'s and its baseline's results by the seed key they are paired on."""
        drop = self.drop(arm)
        return self.distinct(arm, drop), self.distinct(self.base_of.get(arm, arm), drop)


def _arms(result) -> _Arms:
    """Each arm's (variant's) finished results by seed key, in recipe order, and the baseline arm each arm is
    compared with: the last baseline arm before it; an arm listed before every baseline arm, the first baseline arm
    (an ablation whose named baseline came last compared its arms with the first, non-baseline arm)."""
    base_set = set(baselines(result.recipe))
    by_arm: dict[str, dict[tuple, dict]] = {}
    planned: dict[str, list[tuple]] = {}
    done: dict[str, list] = {}
    for c in result.cells:
        r = result.results.get(c["key"])
        arm = by_arm.setdefault(c.get("variant", ""), {})
        planned.setdefault(c.get("variant", ""), []).append(_seed_key(c))
        if r is not None and "error" not in r:
            arm[_seed_key(c)] = r
            done.setdefault(c.get("variant", ""), []).append((c, r))
    arms = list(by_arm)
    first = next((a for a in arms if a in base_set), arms[0] if arms else "")
    base_of: dict[str, str] = {}
    current = None
    for arm in arms:
        if arm in base_set:
            current = arm
        base_of[arm] = current if current is not None else first
    i0 = arms.index(first) if first in arms else 0
    order = arms[i0:i0 + 1] + arms[:i0] + arms[i0 + 1:]
    unreached = {arm: _unreached_seeds(done.get(arm, [])) for arm in arms}
    return _Arms(by_arm, planned, base_of, unreached, order)


def ablation(result, metrics: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The ablation as data, one row per arm (variant) in recipe order, each baseline arm before the arms compared
    with it: ``arm``, ``baseline`` (the arm it is compared with: the last baseline arm before it, or the first
    baseline arm for an arm listed before every baseline), ``is_baseline``, ``n`` (finished cells), ``n_distinct``
    and ``unreached`` (a seed list that does not reach the arm's cells: its values repeat one result, counted once),
    ``planned`` (the arm's planned pairs with its baseline: its planned cells, less the repeats), per metric of
    ``ABLATION_METRICS`` (and of ``metrics``) its (mean, std) over its distinct results and ``delta_<metric>``: the
    (mean, std) of the per-seed differences arm - baseline (cells paired by their seeds, without the seeds that reach
    neither arm; seeds either side lacks are left out; NaN when no pair finished). Fractions, like the metrics
    (x 100 = points)."""
    a = _arms(result)
    rows = []
    for arm in a.order:
        per_seed = a.cells[arm]
        current = a.base_of[arm]
        own = a.distinct(arm, a.unreached[arm])
        figures = {tuple(r.get(m) for m in ("test_top1", "val_top1", "top2")) for r in per_seed.values()}
        drop = a.drop(arm) if arm != current else set(a.unreached[arm])
        row: dict[str, Any] = {"arm": arm, "baseline": current, "is_baseline": arm == current, "n": len(per_seed),
                               "n_distinct": len(own), "unreached": list(a.unreached[arm]),
                               "planned": len({_without(k, drop) for k in a.planned.get(arm, [])}),
                               "planned_cells": len(a.planned.get(arm, [])),
                               # every seed gave the very same figures: one result, not a spread of 0 (as results)
                               "identical": len(per_seed) > 1 and len(figures) == 1,
                               "selected": sorted({json.dumps(r.get("selected"), sort_keys=True)
                                                   for r in per_seed.values() if r.get("selected")})}
        mine, ref = a.pairs(arm)
        for m in dict.fromkeys(ABLATION_METRICS + tuple(metrics)):
            vals = [v for v in (metric_value(r, m) for r in own.values()) if v is not None]
            row[m], row["n_" + m] = mean_std(vals), len(vals)
            diffs = [float(metric_value(mine[k], m)) - float(metric_value(ref[k], m)) for k in mine
                     if k in ref and metric_value(mine[k], m) is not None and metric_value(ref[k], m) is not None]
            row[f"delta_{m}"], row[f"n_delta_{m}"] = mean_std(diffs), len(diffs)
        # the test split image by image, per seed pair: McNemar's exact p of arm against baseline (None: no record)
        pairs = [pair_records(mine[k], ref[k]) for k in mine if k in ref] if arm != current else []
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


def n_text(row: dict) -> str:
    """An arm's finished cells as the table counts them: "3", "3 (identical)", "6 (2 distinct: model_seed does not
    reach)" (as the results table: a seed list that does not reach the cells repeats one result)."""
    if row.get("identical"):
        return f"{row['n']} (identical)"
    un = row.get("unreached") or []
    if un and row.get("n_distinct", row["n"]) < row["n"]:
        return (f"{row['n']} ({row['n_distinct']} distinct: {', '.join(un)} {'does' if len(un) == 1 else 'do'} "
                f"not reach)")
    return str(row["n"])


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


def _pair_key(a: _Arms, c: dict) -> tuple[str, str, tuple]:
    """A cell's arm, its baseline arm and the seed key it is paired on (``_Arms.drop``)."""
    arm = c.get("variant", "")
    return arm, a.base_of.get(arm, arm), _without(_seed_key(c), a.drop(arm))


def cell_pairs(result) -> dict[str, Any]:
    """Each arm cell's image-by-image comparison with its baseline arm's cell of the same seeds
    (``app.probe.paired.PairedComparison``: McNemar's exact p, the disagreements), by cell key; None for a baseline's
    cell, an unfinished pair or cells without a record of their test images (``pair_records``). Cells that repeat one
    result (a seed list that reaches neither arm) share one comparison, counted once in Holm's family."""
    a = _arms(result)
    distinct: dict[tuple, Any] = {}
    of_cell: dict[str, tuple | None] = {}
    for c in result.cells:
        arm, base, key = _pair_key(a, c)
        if arm == base or a.cells.get(arm, {}).get(_seed_key(c)) is None:
            of_cell[c["key"]] = None
            continue
        mine, ref = a.pairs(arm)
        if (arm, key) not in distinct:
            distinct[(arm, key)] = pair_records(mine[key], ref[key]) if key in mine and key in ref else None
        of_cell[c["key"]] = (arm, key)
    adjusted = with_holm(distinct)
    return {k: None if pk is None else adjusted.get(pk) for k, pk in of_cell.items()}


def cell_changes(result, metric: str = "test_top1") -> dict[str, float | None]:
    """Each cell's change of ``metric`` against its baseline arm's cell of the same seeds (a fraction; the per-seed
    differences whose mean is the arm's ``delta_<metric>`` in ``ablation``; a seed that reaches neither arm is left
    out of the pairing). None: the cell is a baseline's, has not finished, or its baseline's cell of the same seeds
    has not."""
    a = _arms(result)
    out: dict[str, float | None] = {}
    for c in result.cells:
        arm, base, key = _pair_key(a, c)
        mine = a.cells.get(arm, {}).get(_seed_key(c))
        ref = a.pairs(arm)[1].get(key) if arm != base else None
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
        lines.append(f"| {md_cell(a['arm'] or '-')} | {md_cell(a['baseline'] or '-')} | {n_text(a)} | "
                     f"{_pct(a['test_top1'], 1 if one else a['n_test_top1'])} | {dt} | {pp} | {ph} | "
                     f"{_pct(a['val_top1'], 1 if one else a['n_val_top1'])} | {dv} | "
                     f"{md_cell(_selected(a['selected']))} |")
    n_tests = rows[0]["paired_tests"] if rows else 0
    lines += ["", PAIRED_NOTE + (HOLM_NOTE.format(n=n_tests) if n_tests > 1 else "")]
    return lines


PAIRED_NOTE = ("McNemar p: each seed's arm cell against the baseline's cell of the same seeds, image by image on the "
               "same test images (exact two-sided test of equal accuracy; below 0.05: a difference these images "
               "show beyond chance; \"-\": no pair: a cell without a record of its test images, or an arm scored on "
               "other test images than its baseline).")
HOLM_NOTE = (" Holm-adjusted p: the same p values adjusted for all {n} of the table's comparisons together (Holm's "
             "step-down method): with this many tests some fall below 0.05 by chance alone; an adjusted p below 0.05 "
             "still says the difference is beyond chance.")
