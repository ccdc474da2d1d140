#!/usr/bin/env python3
"""Turn the step outputs of scripts/gpu-check.sh into docs/benchmarks/gpu.md (markdown on stdout).

    python scripts/gpu_report.py WORKDIR --device-name NAME --total SECONDS [--dry-run]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path


def _json(path: Path) -> dict | None:
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip().startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


def _pytest(path: Path) -> dict | None:
    """pytest's last line ("3 passed, 1 skipped in 4.2s"), or None."""
    try:
        lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    except OSError:
        return None
    return {"summary": lines[-1]} if lines else None


def _folded(f: dict | None) -> str:
    """``bench live``'s batch norms folded into the convolutions (app and bare alike), as a clause."""
    if not f:
        return ""
    return f", batch norms folded {f.get('folded', 0)} of {f.get('batchnorms', 0)}" + (
        f" ({f['reason']})" if f.get("reason") else "")


def _figures(name: str, d: dict | None, process_wall: str | None = None) -> list[str]:
    """The figures of one step's JSON; ``process_wall``: the step's own wall time (steps.tsv: the whole process,
    interpreter start and imports included), which a probe's in-process ``wall_seconds`` leaves out."""
    if d is None:
        return []
    if name.startswith("live-"):
        return [f"- app {d['app_fps']} FPS, bare {d['bare_fps']} FPS, **app/bare {d['ratio']}** "
                f"(medians: {d['ratio_median']}); median frame {d['app_ms_median']} ms app, {d['bare_ms_median']} ms "
                f"bare; {d['backbone']} layer {d['layer']}, {d['frames']} frames, channels_last {d['channels_last']}, "
                f"{d.get('precision') or ('float16' if d['amp_fp16'] else 'float32')}, device {d['device']}"
                + _folded(d.get("batchnorm_folded")),
                f"- per frame (medians): source {d.get('source_ms_median')} ms, queueing the frame's work "
                f"{d.get('submit_ms_median')} ms, waiting for it {d.get('collect_ms_median')} ms; "
                + ("one frame in flight (the Live view's loop on CUDA)" if d.get("pipelined")
                   else "serial (each frame waited for before the next is read)")]
    if name == "head":
        s = d.get("settings", {})
        return [f"- ours {d['ours_seconds']} s vs scikit-learn {d['sklearn_seconds']} s: **{d['speedup']}x**; top-1 "
                f"ours {100 * d['ours_top1']:.2f}% / sklearn {100 * d['sklearn_top1']:.2f}%; {s.get('dataset')} "
                f"n_train {s.get('n_train')}, {s.get('n_features')} features, device {s.get('device')}"]
    if name == "rdsn":
        return [f"- **{d['images_per_s']} images/s** ({d['images']} images {d['size']}x{d['size']} in {d['seconds']} s), "
                f"k {d['k']} -> {d['features']} features, batch {d['batch']}, peak device memory "
                f"{d['peak_device_mb']} MB, {d['device']}"]
    if name == "cuda-tests":
        return [f"- pytest: **{d['summary']}**"]
    if name == "cifar-unpack":
        return ["- unpacked (a cache folder outside the repository; later runs reuse it)"]
    if name == "cifar-probe" or name.startswith(("preset-", "paper-")):
        val = f", validation {100 * d['val_top1']:.2f}%" if d.get("val_top1") is not None else ""
        try:
            end_to_end = f"**end to end {float(process_wall):.1f} s** (the step's process: interpreter start and " \
                         f"imports included; the target's figure); "
        except (TypeError, ValueError):
            end_to_end = ""
        return [f"- **test top-1 {100 * d['top1']:.2f}%** (top-2 {100 * d['top2']:.2f}%){val}, {d['n_train']} train / "
                f"{d['n_test']} test, {d['n_features']} features; extract {d['extract_seconds']:.1f} s, head "
                f"{d['train_seconds']:.1f} s, **wall {d['wall_seconds']:.1f} s** inside the process (the probe run "
                f"itself, timed by the probe: without the interpreter's start and imports); {end_to_end}"
                f"cache hit {d['feature_cache_hit']}, device {d['device']}"]
    return []


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("work", type=Path)
    ap.add_argument("--device-name", required=True)
    ap.add_argument("--total", type=float, required=True)
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--script-args", default=None, help="the arguments gpu-check.sh was given (default: --cpu-dry-run "
                    "with --dry-run, else none)")
    args = ap.parse_args()
    import torch

    given = args.script_args if args.script_args is not None else ("--cpu-dry-run" if args.dry_run else "")
    script = f"scripts/gpu-check.sh {given}".strip()
    rows = list(csv.DictReader((args.work / "steps.tsv").open(), delimiter="\t"))
    out = ["# GPU check" + (" (CPU dry run: tiny sizes, NOT a GPU measurement)" if args.dry_run else ""), ""]
    out += [f"- Device: **{args.device_name}**",
            f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; host: {platform.node() or '?'}, "
            f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f} when the report was written (each "
            f"step's own, at its start and end, under its heading)",
            f"- torch {torch.__version__} (CUDA {torch.version.cuda}), Python {platform.python_version()}",
            f"- Script: `{script}`, total {args.total:.0f} s "
            f"wall; each step bounded by `timeout` (seconds in brackets).",
            "- Targets (issue 14): Live at 1080x1920 >= 60 FPS with app/bare >= 0.9; head >= 20x scikit-learn; "
            "the random-feature CIFAR-10 preset (preset-random-cifar10) end to end <= 60 s.", ""]
    for r in rows:
        name = r["name"]
        out.append(f"## {name}")
        out.append("")
        load = (f"; load average {r['load_start']} -> {r['load_end']}" if r.get("load_start") and r.get("load_end")
                else "")
        out.append(f"`{r['command']}`  (timeout {r['timeout']} s; exit {r['rc']}; {r['wall_s']} s wall{load})")
        out.append("")
        figs = _figures(name, _pytest(args.work / f"{name}.out") if name == "cuda-tests" else
                        _json(args.work / f"{name}.out") or ({} if name == "cifar-unpack" else None), r.get("wall_s"))
        if r["rc"] not in ("0",):
            err = (args.work / f"{name}.err")
            tail = err.read_text().strip().splitlines()[-3:] if err.exists() else []
            out.append(f"- **not measured** ({'timed out' if r['rc'] == '124' else 'rc ' + r['rc']}): "
                       + " / ".join(t.strip() for t in tail))
        out += figs or ([] if r["rc"] != "0" else ["- (no figures recognised; raw output below)", "```",
                                                   (args.work / f"{name}.out").read_text()[-2000:], "```"])
        out.append("")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
