"""An experiment's results as data, for the report, the command line and the Experiments workspace: the groups of
cells that differ only by seed (mean +- sample std over seeds), the plot's series (an ablation's arms against their
baselines, paired by seed: ``app.experiments.ablation``), the results tables (Markdown, and as aligned text for a terminal) and what the
Experiments workspace draws while a run goes on (``live_view``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any



METRIC_NAMES = {"test_top1": "test top-1", "val_top1": "validation top-1", "top2": "test top-2",
                "top5": "test top-5", "train_acc": "train accuracy", "precision_at_10": "test precision@10 (k-NN)",
                "map": "test mAP (k-NN)"}


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
    layer showed no difference before the text was cut.) A setting this cell leaves unset is "(not set)" where most
    cells set it, and left out where there is no majority (a random arm beside trained arms does not read "weights =
    (none)"), unless the cell would name nothing else. A cell with nothing to name: ``"(the settings most cells
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
        parts, unset = [], []
        for k, top in rule.items():
            if top is not None and repr(f.get(k)) == top:
                continue
            if k in f:
                parts.append(f"{k} = {_setting(f[k])}")
            elif top is None:  # no majority: the cells that set it name it; this one only if it names nothing else
                unset.append(f"{k} = (not set)")
            else:  # most cells set it, this one does not
                parts.append(f"{k} = (not set)")
        parts = parts or unset
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


RETRIEVAL = {"precision_at_10": "precision@10", "map": "mAP"}  # a recipe's metric -> the k-NN head's retrieval key


def metric_value(cell_result: dict, metric: str) -> float | None:
    """A finished cell's ``metric`` (a recipe's name: ``recipe.METRICS``): its own field, or for the retrieval
    figures the k-NN head's (``retrieval``: precision@10, mAP); None where the cell has none."""
    if metric in RETRIEVAL:
        retrieval = cell_result.get("retrieval")
        v = retrieval.get(RETRIEVAL[metric]) if isinstance(retrieval, dict) else None
    else:
        v = cell_result.get(metric)
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def _unreached_seeds(done: list[tuple[dict, dict]]) -> list[str]:
    """The seed keys (``model_seed`` ...) with more than one value among ``done`` (cell, result) whose value never
    changes the figures while the other seeds are held. Empty when fewer than two seed keys vary, or when none of
    them reaches the cells (one result in all): ``identical`` says those cases."""
    keys = sorted({k for c, _ in done for k in c["settings"] if k.endswith("_seed")})
    varying = [k for k in keys if len({json.dumps(c["settings"].get(k)) for c, _ in done}) > 1]
    if len(varying) < 2:
        return []
    out = []
    for k in varying:
        held: dict[tuple, list] = {}
        for c, r in done:
            rest = tuple(json.dumps(c["settings"].get(o)) for o in varying if o != k)
            held.setdefault(rest, []).append(tuple(r.get(m) for m in ("test_top1", "val_top1", "top2")))
        # (at least one pair of cells that differ by this seed alone, and no such pair with other figures)
        if all(len(set(v)) == 1 for v in held.values()) and any(len(v) > 1 for v in held.values()):
            out.append(k)
    return out if len(out) < len(varying) else []  # every key unreached: one result in all (``identical``)


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
        # a seed that does not reach these cells (the same figures whatever its value, the other seeds held): its
        # values are one result, not replicates; the figures are over the distinct results (two seed lists, one of
        # which does not reach, read 91.00 +- 1.10 over 6 cells where the 2 results give 91.00 +- 1.41)
        done = [(c, r) for c, r in zip(g["cells"], rs) if "error" not in r]
        g["unreached"] = _unreached_seeds(done)
        if g["unreached"]:
            distinct: dict[tuple, dict] = {}
            for c, r in done:
                distinct.setdefault(tuple((k, v) for k, v in sorted(c["settings"].items())
                                          if k.endswith("_seed") and k not in g["unreached"]), r)
            ok = list(distinct.values())
        g["n_distinct"] = len(ok)
        for m in ("test_top1", "val_top1", "top2", "top5", "precision_at_10", "map", "train_acc", "n_features",
                  "trainable", "seconds"):
            vals = [v for v in (metric_value(r, m) for r in ok) if v is not None]
            g[m] = mean_std(vals)
            g["n_" + m] = len(vals)
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


def plot_series(result, gs: list[dict] | None = None, planned: bool = False, change: bool = False,
                arm_rows: list[dict] | None = None) -> tuple[dict[str, list[tuple]], list[tuple]]:
    """The recipe's plot as data: (series name -> [(x, mean, std)], paper reference points (label, x, value)).
    Works on a partial result (cells still running are left out). ``planned``: every series the recipe's cells will
    give is named, with no points yet where none finished (the live view lays its plot out once, at the plan);
    ``planned_x`` gives the x values they will take. ``change`` (an ablation recipe): each arm's point is its change
    against its baseline (``ablation``'s ``delta_<y>``: the mean and std of the per-seed differences; a baseline
    that finished sits at 0; an arm whose baseline has not finished has no point yet), and no paper figure (those
    are accuracies, not changes); ``arm_rows``: ``ablation(result, (y,))`` where the caller has it already."""
    r = result.recipe
    gs = groups(result) if gs is None else gs
    p = r.plot or {}
    x = p.get("x")
    y = p.get("y", "test_top1")
    series_key = p.get("series", "variant")
    change = change and p.get("kind") == "ablation"
    arms: dict[str, dict] = {}
    if change:  # (an ablation's own module builds on this one's tables)
        from app.experiments.ablation import ablation

        arms = {a["arm"]: a for a in (ablation(result, (y,)) if arm_rows is None else arm_rows)}
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


def _dataset(result) -> str:
    return str(result.cells[0]["settings"].get("dataset")) if result.cells else ""


def results_table(result, gs: list[dict] | None = None) -> list[str]:
    """The Markdown lines of the results table: one row per group of cells that differ only by seed (mean ± std
    over seeds, in %), a column per setting that varies (none for an ablation, whose arms are named by what they
    change)."""
    gs = groups(result) if gs is None else gs
    vary = [] if (result.recipe.plot or {}).get("kind") == "ablation" else _varying(list(result.cells))
    shown = ["test_top1", "val_top1", "top2"]
    y = (result.recipe.plot or {}).get("y", "test_top1")
    if y not in shown:  # the plot's own metric (a k-NN head's precision@10 or mAP, top-5 ...) has its column too
        shown.append(y)
    names = {"test_top1": "test top-1", "val_top1": "val top-1", "top2": "top-2"}
    cols = ["variant"] + vary + ["n"] + [names.get(m) or METRIC_NAMES.get(m, m) for m in shown] + [
        "features / trainable params"]
    lines = ["| " + " | ".join(md_cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for g in gs:
        extra = g["n_features"][0] if not math.isnan(g["n_features"][0]) else g["trainable"][0]
        flat = _flatten(g["cells"][0]["settings"])  # as a recipe writes it (TOML's [a, b], true), "(none)": unset
        row = [md_cell(g["variant"] or "-")] + [md_cell(_setting(flat[k]) if k in flat else "(none)")
                                                for k in vary] + [
            str(g["n"]) + (" (identical)" if g.get("identical") else
                           f" ({g['n_distinct']} distinct: {', '.join(g['unreached'])} "
                           f"{'does' if len(g['unreached']) == 1 else 'do'} not reach)"
                           if g.get("unreached") else "")] + [
            _pct(g[m], 1 if g.get("identical") else g["n_" + m]) for m in shown] + [
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
    from app.experiments.ablation import ablation, baselines, cell_changes, cell_pairs, holm_mark

    spec = dict(result.recipe.plot or {})
    ablating = spec.get("kind") == "ablation"
    change = change and ablating
    gs = groups(result)
    y = spec.get("y", "test_top1")
    rows = ablation(result, (y,)) if ablating else None  # once: the plot's changes and the marks
    series, refs = plot_series(result, gs, planned=True, change=change, arm_rows=rows)
    return LiveView(series, refs, {**spec, "view": "change"} if change else spec, planned_x(result, gs),
                    cell_changes(result, y) if ablating else None,
                    frozenset(baselines(result.recipe)) if ablating else frozenset(), METRIC_NAMES.get(y, y),
                    cell_pairs(result) if ablating else None,
                    {a["arm"]: holm_mark(a["paired_p_holm"], a["planned"]) for a in rows} if rows is not None else None)
