"""The report of an experiment: Markdown (+ a CSV of every cell) and a self-contained HTML page with the plot
embedded as SVG. Groups are the cells that differ only by seed: mean +- sample std over seeds
(``app.experiments.results``, the figures as data). The paper's figures stand beside ours with the differences
stated (dataset copy, budget, hardware).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import platform
import re
import time
from html import escape
from pathlib import Path

from app import paths
from app.experiments.recipe import RECIPE_DIR
from app.experiments.recipe import names as recipe_names
from app.experiments.ablation import ABLATION_METRICS, ablation, ablation_table, holm_mark
from app.experiments.results import (METRIC_NAMES, RETRIEVAL, _dataset, _flatten, _fmt, _varying, cell_settings, groups,
                                     md_row, metric_value, plot_series, results_table)
from app.experiments.svg import chart, delta_chart
from app.storage import atomic_write


def _plot(result, gs: list[dict]) -> str:
    r = result.recipe
    p = r.plot or {}
    if p.get("kind") == "ablation":
        rows = [{"label": a["arm"] + ("" if a["is_baseline"] or a["n_delta_test_top1"] >= a["planned"] else
                                      f" ({a['n_delta_test_top1']} of {a['planned']} seeds)"),
                 "baseline": a["is_baseline"], "values": [a[m] for m in ABLATION_METRICS],
                 "deltas": [None if a["is_baseline"] else a[f"delta_{m}"] for m in ABLATION_METRICS],
                 "mark": holm_mark(a.get("paired_p_holm") or [], a.get("planned"))}
                for a in ablation(result)]
        return delta_chart(rows, metrics=tuple(METRIC_NAMES[m] for m in ABLATION_METRICS),
                           title=p.get("title", r.title))
    y = p.get("y", "test_top1")
    series, refs = plot_series(result, gs)
    return chart(series, title=p.get("title", r.title), x_label=p.get("x_label", p.get("x") or ""),
                 y_label=p.get("y_label", METRIC_NAMES.get(y, y)), log_x=bool(p.get("log_x", False)), refs=refs)


def cell_machines(result) -> list[tuple[dict, int]]:
    """The machines the run's cells recorded (``app.device.machine()``), each with its number of cells, most cells
    first; empty when no cell recorded one (cells stored before machines were)."""
    from app.device import machine_text

    seen: dict[str, tuple[dict, int]] = {}
    for r in result.results.values():
        m = r.get("machine") if isinstance(r, dict) and "error" not in r else None
        if isinstance(m, dict) and m:
            key = machine_text(m)
            seen[key] = (m, seen.get(key, (m, 0))[1] + 1)
    return sorted(seen.values(), key=lambda mc: -mc[1])


def _versions(result=None) -> str:
    """Where the cells were computed (their own records) and what wrote the report. Cells computed on more than one
    machine (a cluster, or cells reused from a run on another computer) are named with their counts: a trained
    network's figures reproduce on one processor and its kernels, not necessarily across them."""
    import numpy
    import torch

    from app import __version__
    from app.device import describe, machine, machine_text

    here = machine()
    ms = cell_machines(result) if result is not None else []
    if len(ms) > 1:
        where = (f"cells computed on {len(ms)} machines (their figures may differ in the last float bits): "
                 + "; ".join(f"{machine_text(m)} ({n} cell{'s' if n != 1 else ''})" for m, n in ms))
    else:
        m = ms[0][0] if ms else here
        where = (f"{m.get('cpu')}" + (f" ({m['cpu_kernels']} kernels)" if m.get("cpu_kernels") else "")
                 + ("" if ms else " (this process's: the cells recorded none)"))
    return (f"Filter Explorer {__version__}, Python {platform.python_version()}, torch {torch.__version__}, "
            f"numpy {numpy.__version__}, {platform.system()} {platform.machine()}, device {describe().name}, "
            f"{os.cpu_count()} CPU core(s); {where}")


def _hardware(result) -> str:
    """The hardware the cells ran on, as the paper comparison names it ("a 2-core CPU, no GPU")."""
    from app.device import machine

    ms = cell_machines(result)
    devices = {str(r.get("device") or "") for r in result.results.values() if isinstance(r, dict) and "error" not in r}
    gpus = sorted(d.removeprefix("CUDA: ") for d in devices if d.startswith("CUDA"))
    if gpus:
        gpu = "a GPU (" + ", ".join(gpus) + ")"
        others = [d for d in devices if d and not d.startswith("CUDA")]
        # some cells on a GPU and some elsewhere: both said (the paper comparison named the GPU alone)
        return gpu if not others else f"{gpu} for some cells, {', '.join(sorted(others))} for the others"
    cores = sorted({int(m.get("cores") or 0) for m, _ in ms} - {0}) or [machine()["cores"]]
    n = "/".join(str(c) for c in cores)
    first = n.split("/")[0]
    return f"{'an' if first.startswith('8') or first in ('11', '18') else 'a'} {n}-core CPU, no GPU"


def command(result) -> str:
    r = result.recipe
    shipped = not r.path or Path(r.path).parent == (paths.RESOURCES / "experiments").resolve()
    name = r.name if shipped else r.path
    extra = ""
    ds = _dataset(result)
    if ds and ds != _recipe_dataset(r, result.quick):
        extra = f" --dataset {ds}"  # the run's dataset was given on the command line (experiment run --dataset)
    return (f"python main.py experiment run {name}{' --quick' if result.quick else ''}{extra} "
            f"--executor {result.executor}")


def _recipe_dataset(recipe, quick: bool) -> str:
    """The dataset of the first cell as the recipe file itself names it (at the quick or full size), before any
    --dataset."""
    from app.errors import AppError
    from app.experiments.recipe import load_recipe

    try:
        original = load_recipe(recipe.path) if recipe.path and Path(recipe.path).is_file() else recipe
    except AppError:  # the file changed or went since the run: the command line names the run's own dataset
        return ""
    cells = original.cells(quick)
    return str(cells[0].get("dataset")) if cells else ""


def markdown(result, svg_name: str | None = None) -> str:
    r = result.recipe
    gs = groups(result)
    # an ablation's arms are named by what they change (the CSV has every setting): no column per setting
    vary = [] if (r.plot or {}).get("kind") == "ablation" else _varying(list(result.cells))
    lines = [f"# {r.title}", "", f"**Claim.** {r.claim}" if r.claim else "", "",
             f"Recipe `{r.name}` ({'quick' if result.quick else 'full'} size): {len(result.cells)} cells, "
             f"{result.reused} reused from earlier runs, {result.failed} failed; the cells took "
             f"{_cell_seconds(result):.0f} s of compute in all, this run {result.seconds:.0f} s wall. "
             f"Written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "",
             "Reproduce with:", "", "```", command(result), "```", "",
             f"Machine and versions: {_versions(result)}.", ""]
    from app.experiments.recipe import recipe_caveats

    for c in recipe_caveats(r, result.quick):
        lines += [f"**Caveat.** {c}.", ""]
    lines += ["## Results (mean ± std over seeds, in %)", ""] + results_table(result, gs)
    if any(g.get("identical") for g in gs):
        lines += ["", "n (identical): every seed gave the very same figures: the seed does not reach these cells (their "
                      "features are fixed: a frozen bank, trained weights or wavelets at the tapped layer), so they "
                      "are one result, not a replication over seeds."]
    shown = cell_settings(list(result.cells))
    failed = [(c, res["error"]) for c in result.cells
              if "error" in (res := result.results.get(c["key"], {"error": "not run"}))]
    if failed:
        lines += ["", "Failed or skipped cells:", ""] + [
            f"- {' · '.join(t for t in (c.get('variant'), shown[c['key']]) if t)}: {e}" for c, e in failed[:20]]
        if len(failed) > 20:
            lines.append(f"- ... {len(failed) - 20} more")
    if (r.plot or {}).get("kind") == "ablation":
        lines += [""] + ablation_table(result)
    if svg_name:
        lines += ["", f"![plot]({svg_name})"]
    lines += ["", "## Beside the paper", ""]
    if r.paper:
        for pp in r.paper:
            lines.append(f"- {pp.get('source', '')}: {pp.get('setting', '')}, {pp.get('dataset', '')} "
                         f"{METRIC_NAMES.get(pp.get('metric', 'test_top1'), pp.get('metric'))} "
                         f"**{100 * float(pp['value']):.2f}%**" + (f" ({pp['note']})" if pp.get("note") else ""))
        lines += ["", _differences(result)]
    else:
        lines.append("The recipe names no published figure.")
    if r.notes:
        lines += ["", "## Notes", "", r.notes]
    return "\n".join(x for x in lines if x is not None) + "\n"


def _cell_seconds(result) -> float:
    return sum(float(r.get("seconds") or 0.0) for r in result.results.values() if "error" not in r)


def _differences(result) -> str:
    ds = _dataset(result)
    s = result.cells[0]["settings"] if result.cells else {}
    parts = [f"Our numbers: dataset `{ds}`"]
    if s.get("train_limit"):
        parts.append(f"{s['train_limit']} training images (the paper: the full training set)")
    if result.quick:
        parts.append("the quick size (smaller data, smaller models, fewer epochs than the paper)")
    if "cifar10-jpg" in str(ds):
        parts.append("the shared CIFAR-10 copy is JPEG-compressed (a trained ResNet-20 loses 10 points on it)")
    probes = any(c.get("kind") == "probe" for c in result.cells)
    parts.append("hyperparameters selected on a validation split carved from the training data, test scored once"
                 + (" (a probe's validation figure is the best of its sweep's fits on those images, so it reads "
                    "high; its test figure does not)" if probes else ""))
    parts.append(_hardware(result))
    return "How ours differs: " + "; ".join(p for p in parts if p) + "."


def csv_text(result) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    keys = sorted({k for c in result.cells for k in _flatten(c["settings"])})
    # (precision_at_10, map: a k-NN head's retrieval figures, ``metric_value``; empty for other heads)
    metrics = ["test_top1", "val_top1", "top2", "top5", "precision_at_10", "map", "train_acc", "n_features",
               "trainable", "frozen", "n_test", "seconds", "run_id", "error"]
    from app.device import machine_text

    w.writerow(["key", "variant"] + keys + metrics + ["device", "machine"])
    for c in result.cells:
        f = _flatten(c["settings"])
        r = result.results.get(c["key"], {"error": "not run"})
        where = [r.get("device") or "", machine_text(r.get("machine")) if r.get("machine") else ""]
        values = [metric_value(r, m) if m in RETRIEVAL else r.get(m) for m in metrics]
        w.writerow([c["key"], c.get("variant", "")] + [_fmt(f.get(k, "")) for k in keys]
                   + [_fmt("" if v is None else v) for v in values] + where)
    return buf.getvalue()


def html(result, md: str, svg: str) -> str:
    body = []
    in_table = False
    for line in md.splitlines():
        if line.startswith("![plot]"):
            body.append(svg)
            continue
        if line.startswith("|"):
            cells = [escape(c) for c in md_row(line)]
            if set("".join(cells)) <= {"-"}:
                continue
            tag = "th" if not in_table else "td"
            if not in_table:
                body.append("<table>")
                in_table = True
            body.append("<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("# "):
            body.append(f"<h1>{escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{escape(line[3:])}</h2>")
        elif line.startswith("- "):
            body.append(f"<li>{_inline(line[2:])}</li>")
        elif line.startswith("```"):
            continue
        elif line.startswith("python main.py"):
            body.append(f"<pre>{escape(line)}</pre>")
        elif line.strip():
            body.append(f"<p>{_inline(line)}</p>")
    if in_table:
        body.append("</table>")
    style = ("body{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}"
             "pre{background:#f6f6f6;padding:6px}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(result.recipe.title)}</title>"
            f"<style>{style}</style></head><body>" + "\n".join(body) + "</body></html>\n")


def _inline(text: str) -> str:
    t = escape(text)
    parts = t.split("**")
    t = "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))
    parts = t.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def report_stem(result) -> str:
    """The report's name: the recipe's, ``-quick`` at the quick size, and ``-on-DATASET`` when it ran on a dataset
    other than the recipe's own (``--dataset``): a run on another dataset never overwrites the recipe's report. A
    recipe file outside the shipped ones that bears a shipped recipe's name gets a digest of its path after the name."""
    r = result.recipe
    stem = r.name
    if r.path and r.name in recipe_names() and Path(r.path).resolve().parent != RECIPE_DIR.resolve():
        # a file of its own named as a shipped recipe (an edited copy): its own report, never the shipped one's
        # (both wrote xue-roshan-quick.md, and the finished run of one opened the other's report)
        stem += "-" + hashlib.sha1(str(Path(r.path).resolve()).encode("utf-8")).hexdigest()[:6]
    stem += "-quick" if result.quick else ""
    own = None if r.estimated_on is None else r.estimated_on[1 if result.quick else 0]
    ds = r.dataset(result.quick)
    if own is not None and ds != own:
        folder = ds.startswith("imagefolder:")  # a folder's own name, not its whole path
        name = "imagefolder-" + Path(ds.split(":", 1)[1]).name if folder else ds
        stem += "-on-" + (re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "dataset")
    return stem


def default_dir(result) -> Path:
    return paths.user_files() / "experiments" / report_stem(result)


def write_report(result, out_dir: str | Path | None = None) -> dict[str, str]:
    out = Path(out_dir) if out_dir else default_dir(result)
    out.mkdir(parents=True, exist_ok=True)
    stem = report_stem(result)
    gs = groups(result)
    svg = _plot(result, gs)
    md = markdown(result, f"{stem}.svg")
    files = {"md": out / f"{stem}.md", "csv": out / f"{stem}.csv", "html": out / f"{stem}.html",
             "svg": out / f"{stem}.svg"}
    atomic_write(files["svg"], svg)
    atomic_write(files["md"], md)
    atomic_write(files["csv"], csv_text(result))
    atomic_write(files["html"], html(result, md, svg))
    return {k: str(v) for k, v in files.items()}
