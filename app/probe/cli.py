"""Headless probe commands: ``main.py probe ...`` (one run: resolved, run, stored in the history, JSON out),
``main.py history list|show|export`` (``app.probe.history_cli``) and ``main.py bench head`` (our logistic head
against scikit-learn's on the same features)."""

from __future__ import annotations

import json
import sys
import time

from app import jsonout
from app.cliargs import add_data_root, add_model_arguments, parse_options, parse_value, seed_value
from app.errors import AppError, UserError, message


def register(sub, bench) -> None:
    import argparse

    from app.probe.presets import names as preset_names

    p = sub.add_parser("probe", help="train a head on frozen features and print the accuracy",
                       description="Extract frozen features of a backbone (cached), select the head's "
                                   "hyperparameter on a validation split carved from the training data, score the "
                                   "test split once and store the run in the history. Progress goes to stderr.")
    add_model_arguments(p)
    p.set_defaults(model_seed=None)  # None: --seed (default 0)
    p.add_argument("--bank", action="append", default=[], metavar="LAYER=FILE",
                   help="put a kernel bank (.json/.npy/.npz) into a conv layer (repeatable)")
    p.add_argument("--dataset", default=None, help="digits, mnist, fashion-mnist, cifar10, imagefolder:PATH, ...")
    add_data_root(p)
    p.add_argument("--train-limit", type=int, default=None, help="use a seeded subset of N training images")
    p.add_argument("--test-limit", type=int, default=None, help="use a seeded subset of N test images (drawn with the split seed + 1: the images eval --seed S --test-limit N scores)")
    p.add_argument("--val", type=int, default=None,
                   help="validation images carved from the training subset (default: 5000 from 20000 images up, "
                        "else 20%%; 0 = none, recorded as such)")
    p.add_argument("--layer", type=int, default=None, help="feature_info index (negative counts from the end)")
    p.add_argument("--pooling", default=None, help="default, gap, max, gridN (avg over NxN cells), maxgridN, "
                                                   "avgmaxgridN (both side by side)")
    p.add_argument("--select-layer", action="store_true", help="choose the layer on validation too")
    p.add_argument("--select-pooling", action="store_true", help="choose the pooling on validation too")
    p.add_argument("--head", default=None, choices=["logistic", "ridge", "svm", "knn", "own"],
                   help="head (default: the backbone's probe default; own = the model's trained classifier)")
    p.add_argument("--head-options", nargs="*", default=None, metavar="OPT",
                   help="head options: KEY=VALUE items or a JSON object, e.g. weight_decay=1e-3, alpha=10, k=5")
    p.add_argument("--grid", default=None, metavar="V1,V2,...",
                   help="values of the head's hyperparameter (weight_decay, C, alpha, k) to select on validation")
    p.add_argument("--tta", default=None, choices=["none", "hflip", "shift1"],
                   help="test-time views: hflip scores each validation and test image by the mean of its own and its "
                        "left-right mirror's features (photographs, not digits); shift1 by the mean over the image "
                        "and its four one-pixel shifts (digits); default none")
    p.add_argument("--refit", default=None, action=argparse.BooleanOptionalAction,
                   help="after choosing on validation, fit the chosen value once more on the training + validation "
                        "images and score the test split with that fit (the validation figure stays the fit on "
                        "training images alone's); default off (--no-refit turns a preset's off)")
    p.add_argument("--feature-budget", type=int, default=None, metavar="N",
                   help="project the features to N dimensions (fitted on the training features only)")
    p.add_argument("--budget-method", default="pca", choices=["pca", "random"],
                   help="pca (default) or a seeded random Gaussian projection")
    p.add_argument("--seed", type=seed_value, default=0,
                   help="the model, split and head seeds at once (default 0)")
    p.add_argument("--split-seed", type=seed_value, default=None,
                   help="seed of the subsets and the validation split")
    p.add_argument("--head-seed", type=seed_value, default=None,
                   help="seed of the head (and of a random projection)")
    p.add_argument("--rerun", type=int, default=None, metavar="RUN_ID",
                   help="rebuild a stored run from its record and run it again (other settings are ignored)")
    p.add_argument("--preset", default=None, metavar="NAME",
                   help="a named preset fixing backbone, options, layer, pooling and head (+ grid): "
                        f"{', '.join(preset_names())}; flags given beside it override it")
    p.add_argument("--list-presets", action="store_true",
                   help="list the presets (family, what each fixes, how its settings were chosen) and exit")
    p.add_argument("--json", action="store_true", help="print one JSON object (else a short summary)")
    # None = not given: a --preset then supplies it (make_config falls back to "default")
    p.set_defaults(func=cmd_probe, pooling=None)

    from app.probe.history_cli import register as register_history

    register_history(sub)

    b = bench.add_parser("head", help="our logistic head vs scikit-learn's LogisticRegression on the same features")
    b.add_argument("--quick", action="store_true",
                   help="tiny settings for tests (digits unless --dataset, rdsn k=32, at most 600 training and 200 "
                        "test images: --train-limit and --test-limit are capped there)")
    b.add_argument("--dataset", default=None, help="dataset (default: mnist, digits where MNIST is absent)")
    b.add_argument("--data-root", default=None)
    b.add_argument("--backbone", default="rdsn")
    b.add_argument("--options", default=None,
                   help="backbone options as JSON (default: rdsn '{\"k\": 512}', '{\"k\": 32}' with --quick; "
                        "another backbone its own defaults)")
    b.add_argument("--layer", type=int, default=0)
    b.add_argument("--pooling", default="grid2")
    b.add_argument("--train-limit", type=int, default=5000,
                   help="training images, a seeded subset (default 5000; at most 600 with --quick)")
    b.add_argument("--test-limit", type=int, default=1000,
                   help="test images, a seeded subset (default 1000; at most 200 with --quick)")
    b.add_argument("--weight-decay", type=float, default=1e-3, help="ours: mean CE + wd/2 |W|^2; sklearn C=1/(wd n)")
    b.add_argument("--epochs", type=int, default=100, help="our L-BFGS iterations (at most)")
    b.add_argument("--seed", type=seed_value, default=0)
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bench_head)


def parse_banks(items: list[str] | None) -> tuple:
    """``LAYER=FILE`` items -> ((layer, KernelBank), ...) (``app.kernels.io.load``)."""
    from pathlib import Path

    from app.kernels.io import load as load_bank

    out = []
    for item in items or []:
        layer, sep, path = item.partition("=")
        if not sep or not layer.strip() or not path.strip():
            raise UserError(f"--bank: expected LAYER=FILE (e.g. stem=edges.json), got {item!r}")
        out.append((layer.strip(), load_bank(Path(path.strip()).expanduser())))  # ~ as train's --bank
    return tuple(out)


def apply_preset(args):
    """(args with the preset's fields filled in, the ``preset`` record for --json) for ``--preset NAME``; the flags the
    user gave win field by field (``app.probe.presets.apply``). Without --preset: (args, None)."""
    import argparse

    from app.probe import presets

    if not getattr(args, "preset", None):
        return args, None
    grid = None
    if args.grid:
        grid = parse_value(args.grid)
        grid = list(grid) if isinstance(grid, list) else [grid]
    given = {"backbone": args.backbone, "options": parse_options(args.options), "layer": args.layer,
             "pooling": args.pooling, "head": args.head,
             "head_options": parse_options(args.head_options, "--head-options"), "grid": grid,
             "tta": getattr(args, "tta", None), "refit": getattr(args, "refit", None)}
    values, overrides = presets.apply(args.preset, given)
    if args.model:
        overrides["model"] = args.model
    if args.weights:
        overrides["weights"] = args.weights
    out = argparse.Namespace(**vars(args))
    out.backbone, out.layer, out.pooling, out.head = values["backbone"], values["layer"], values["pooling"], \
        values["head"]
    out.options = [json.dumps(values["options"])] if values["options"] else None
    out.head_options = [json.dumps(values["head_options"])] if values["head_options"] else None
    out.grid = json.dumps(values["grid"]) if values["grid"] else None
    out.tta = values["tta"]
    out.refit = values["refit"]
    return out, {"name": args.preset, "family": presets.get(args.preset).family, "overrides": overrides}


def make_config(args):
    import dataclasses

    from app.models.catalog import bank_state
    from app.models.spec_args import check_banks, spec_from_args
    from app.probe.config import ProbeConfig, check_grid, check_head_options, probe_defaults
    from app.probe.resolve import ProbeSettingsError, check_config, is_random

    if not args.dataset:
        raise UserError("give --dataset (or --rerun RUN_ID)")
    args, preset = apply_preset(args)
    spec = spec_from_args(args, check_bank_args=False)  # a random backbone takes the dataset's channels: checked below
    if args.model_seed is None:
        spec = dataclasses.replace(spec, seed=int(args.seed))
    banks = parse_banks(args.bank)
    if banks and not is_random(spec):  # an architecture the weights fix: a bank that does not fit is refused now
        check_banks(spec, [(layer, bank, layer) for layer, bank in banks])
    if banks:
        spec = dataclasses.replace(spec, banks=banks,
                                   weight_state="trained" if spec.weights else bank_state(banks))
    head_options = parse_options(args.head_options, "--head-options")
    head = args.head or probe_defaults(spec.backbone)["head"]
    for name, v in (("--train-limit", args.train_limit), ("--test-limit", args.test_limit),
                    ("--feature-budget", args.feature_budget)):
        if v is not None and v < 1:
            raise UserError(f"{name} must be at least 1, got {v}")
    if args.val is not None and args.val < 0:
        raise UserError(f"--val must be 0 or more, got {args.val}")
    grid = None
    if args.grid is not None:
        items = [v.strip() for v in str(args.grid).split(",")]
        if not all(items):  # "" (it fell back to the default grid) or an empty item (dropped without a word)
            raise UserError(f"--grid: expected comma-separated numbers, got {args.grid!r} (an empty value)")
        grid = parse_value(args.grid)
        grid = tuple(grid) if isinstance(grid, list) else (grid,)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in grid):
            raise UserError(f"--grid: expected comma-separated numbers, got {args.grid!r}")
    try:  # the values, before anything is loaded or extracted (the flag named; unknown options: check_config)
        check_head_options(head, head_options, "--head-options")
        check_grid(head, grid, "--grid")
    except ValueError as exc:
        raise UserError(str(exc)) from None
    cfg = ProbeConfig(model=spec, dataset=args.dataset, data_root=args.data_root, layer=args.layer,
                      pooling=args.pooling or "default", head=head, train_limit=args.train_limit,
                      test_limit=args.test_limit,
                      seed=args.seed, head_options=tuple(sorted(head_options.items())), val=args.val,
                      split_seed=args.split_seed, head_seed=args.head_seed, feature_budget=args.feature_budget,
                      budget_method=args.budget_method, select_layer=args.select_layer,
                      select_pooling=args.select_pooling, grid=grid, tta=getattr(args, "tta", None) or "none",
                      refit=bool(getattr(args, "refit", None)),
                      preset=preset["name"] if preset else None,
                      preset_overrides=tuple(sorted(preset["overrides"])) if preset else ())
    try:
        check_config(cfg)
    except ProbeSettingsError as exc:
        raise UserError(str(exc)) from None
    return cfg


SUMMARY_KEYS = ("top1", "top2", "top5", "val_top1", "test_top1", "selected", "selection", "selection_iterations",
                "seeds", "n_train", "n_val", "n_test", "n_features", "extract_seconds", "train_seconds",
                "feature_cache_hit", "device", "created", "per_class", "classes", "confusion", "settings", "config",
                "resolved", "stop", "run_id", "machine")


def summary(result, wall: float, cpu: float) -> dict:
    from app.metrics import accuracy_interval, standard_error
    from app.probe.caveats import caveats
    from app.probe.notes import best_of_count

    d = result.to_dict()
    out = {k: d.get(k) for k in SUMMARY_KEYS}
    out["caveats"] = caveats(d)
    # sampling error of each figure on its own split (binomial): whether two runs' difference is more than noise
    out["test_top1_se"] = standard_error(d.get("top1"), d.get("n_test"))
    out["val_top1_se"] = standard_error(d.get("val_top1"), d.get("n_val"))
    # and its Wilson 95% interval: honest where the s.e. is not (a few images, or a figure near 0% or 100%)
    out["test_top1_ci95"] = accuracy_interval(d.get("top1"), d.get("n_test"))
    out["val_top1_ci95"] = accuracy_interval(d.get("val_top1"), d.get("n_val"))
    # the validation figure is the best of this many fits scored on those images (it reads high; the interval above
    # ignores the choice); with --select the layers and poolings were chosen on them too (``resolved.select``)
    out["val_top1_best_of"] = best_of_count(d.get("selection")) or 1
    out["input"] = (d.get("resolved") or {}).get("input")
    from app.probe.printed import resolved_as_fitted

    out["resolved"] = resolved_as_fitted(out.get("resolved"), out.get("selected"))
    out["n_misclassified"] = len(d["misclassified"])
    out["wall_seconds"] = round(wall, 3)
    out["cpu_seconds"] = round(cpu, 3)
    out["curves"] = d["curves"][-1:] if d["curves"] else []
    return out


def cmd_probe(args) -> int:
    import dataclasses

    from app.metrics import ci_text, top5_text
    from app.probe.caveats import stop_text
    from app.probe.notes import best_of_text, selection_note
    from app.probe.history import History, HistoryError, record
    from app.probe.run import rerun, run_probe
    from app.tasks import cli_progress, run_to_end
    from app.threads import forget_reports, reports

    if args.list_presets:
        return cmd_list_presets(args)
    forget_reports()  # only this run's loops in "threads"

    note = ""
    preset = None
    if args.rerun is not None:
        with History(readonly=True) as h:  # (a read: works on a history that cannot be written now)
            try:
                stored = h.get(args.rerun)
            except KeyError:
                raise UserError(f"--rerun {args.rerun}: no run with that id in {h.path}") from None
        task = rerun(stored)
        note = f"rerun of run {args.rerun}"
    else:
        if args.preset:
            from app.probe.presets import note as preset_note

            preset = apply_preset(args)[1]
            note = preset_note(preset["name"], preset["overrides"])
        task = run_probe(make_config(args))
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        result = run_to_end(task, cli_progress("probe: "))
    except AppError:
        raise
    except (FileNotFoundError, ValueError, IndexError) as exc:
        raise UserError(str(exc)) from None
    finally:
        sys.stderr.write("\n")  # end the progress line
    # a run that cannot be stored (history locked, read-only, disk full, newer version) is still printed, then
    # reported as an error: the figures are not lost, and scripts still see the failure in the exit status
    not_stored = None
    try:
        result = dataclasses.replace(result, run_id=record(result, note=note))
    except HistoryError as exc:
        not_stored = exc
    out = summary(result, time.perf_counter() - t0, time.process_time() - c0)
    out["stored"] = not_stored is None
    out["not_stored_reason"] = None if not_stored is None else message(not_stored)
    if args.rerun is not None:
        from app.probe.paired import rerun_check

        out["rerun_of"] = args.rerun
        # the rerun against the run it reran: reproduced to the image, or what differs (and on which machines)
        out["rerun_check"] = rerun_check(stored, result.to_dict())
    out["preset"] = preset
    out["threads"] = reports()  # each compute loop's thread choice (app.threads; issue 14)
    if args.json:
        print(jsonout.dumps(out))
    else:
        r = result.resolved
        # each figure's sampling error on its split, in one form for both (the Wilson interval; an s.e. beside an
        # interval invited comparing unlike numbers); the validation figure said to be the best of the sweep's fits
        ci = lambda p, n: ci_text(p, n, 2)  # noqa: E731
        best = best_of_text(out.get("selection"), r.select)
        said = "; ".join(t for t in (best, ci(out["val_top1"], out["n_val"])) if t)
        val = ("" if out["val_top1"] is None else
               f"val top-1 {100 * out['val_top1']:.2f}%{f' ({said})' if said else ''}  ")
        sel = ", ".join(f"{k}={v}" for k, v in (out["selected"] or {}).items())
        if sel and out["val_top1"] is None:  # --val 0: the value was used as given (or the head's default), not chosen
            sel += " (not selected: no validation split)"
        name = f"run {out['run_id']}" if not_stored is None else "run (not stored)"
        test_ci = ci(out["top1"], out["n_test"])
        print(f"{name}: {r.model.backbone} on {r.dataset}: {val}test top-1 {100 * out['top1']:.2f}%"
              f"{f' ({test_ci})' if test_ci else ''}  "
              f"{top5_text(out['top5'], len(out.get('classes') or ()))}  ({out['n_train']} train / {out['n_val']} val / {out['n_test']} test, "
              f"{out['n_features']:,} features, layer {r.layer_name or r.layer}, {r.pooling}"
              f"{', ' + sel if sel else ''}; extract {out['extract_seconds']:.1f} s"
              f"{' (cached)' if out['feature_cache_hit'] else ''}, head {out['train_seconds']:.1f} s)")
        note = selection_note(out.get("selection"), out.get("selection_iterations"), out.get("stop"))
        if note:
            print(f"  validation per {next(iter(out['selected'] or {}), 'value')}: {note}")
        stopped = stop_text(out.get("stop"))
        if stopped:
            print(f"  head: {stopped}")
        for line in out["caveats"]:
            print(f"  caveat: {line}")
        if out.get("rerun_check"):
            print(f"  {out['rerun_check']['text']}")
        if not_stored is not None:
            print(f"  not stored: {message(not_stored)}")
    if not_stored is not None:
        sys.stdout.flush()
        print(f"error: the run was not stored in the history: {message(not_stored)}", file=sys.stderr)
        return 2
    return 0


def cmd_list_presets(args) -> int:
    from app.probe.presets import PRESETS, listing

    if args.json:
        print(jsonout.dumps([p.to_dict() for p in PRESETS.values()]))
    else:
        print(listing())
    return 0


def cmd_bench_head(args) -> int:
    from app.probe.bench import bench_head

    out = bench_head(args)
    if args.json:
        print(jsonout.dumps(out))
    else:
        from app.probe.bench import ms

        print(f"ours {ms(out['ours_seconds'])} top-1 {100 * out['ours_top1']:.2f}%   sklearn "
              f"{ms(out['sklearn_seconds'])} top-1 {100 * out['sklearn_top1']:.2f}%   speed-up {out['speedup']:.2f}x")
        print(f"ours on {out['settings']['device']}; load average {out['settings']['load_average'][0]:.2f} at the "
              f"end")
        if out["convergence_note"]:
            print(f"note: {out['convergence_note']}")
    return 0
