"""Headless probe commands: ``main.py probe ...`` (one run, JSON out) and ``main.py bench head`` (our logistic head
against scikit-learn's on the same features)."""

from __future__ import annotations

import argparse
import json
import sys
import time


def _json_arg(text: str | None, what: str) -> dict:
    from app.errors import UserError

    if not text:
        return {}
    try:
        v = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{what}: not valid JSON ({exc.msg} at column {exc.colno}): {text!r}") from None
    if not isinstance(v, dict):
        raise UserError(f"{what}: expected a JSON object like '{{\"k\": 4096}}', got {text!r}")
    return v


def register(sub, bench) -> None:
    p = sub.add_parser("probe", help="train a head on frozen features and print the accuracy",
                       description="Extract frozen features of a backbone (cached), train a linear head (or k-NN) "
                                   "and report top-1/top-2/top-5 accuracy. Progress goes to stderr.")
    p.add_argument("--backbone", required=True, help="backbone name (rdsn, simple, lenet5, resnet20, ...)")
    p.add_argument("--weights", default=None, help="checkpoint file (.pt/.pth/.th/.safetensors); none = random")
    p.add_argument("--options", default=None, help="backbone options as JSON, e.g. '{\"k\": 4096}'")
    p.add_argument("--init", default="default", help="initialisation (default, kaiming, gaussian, ...)")
    p.add_argument("--model-seed", type=int, default=0, help="seed of the random weights")
    p.add_argument("--dataset", required=True, help="digits, mnist, fashion-mnist, cifar10, imagefolder:PATH, ...")
    p.add_argument("--data-root", default=None, help="folder holding the dataset (default: the app's data folder)")
    p.add_argument("--train-limit", type=int, default=None, help="use a seeded subset of N training images")
    p.add_argument("--test-limit", type=int, default=None, help="use a seeded subset of N test images")
    p.add_argument("--layer", type=int, default=None, help="feature_info index (negative counts from the end)")
    p.add_argument("--pooling", default="default", help="default, gap, max, gridN (avg over NxN cells), maxgridN")
    p.add_argument("--head", default=None, choices=["logistic", "ridge", "svm", "knn", "own"],
                   help="head (default: the backbone's probe default; own = the model's trained classifier)")
    p.add_argument("--head-options", default=None,
                   help="head options as JSON, e.g. '{\"weight_decay\": 1e-3}', '{\"alpha\": 10}', '{\"k\": 5}'")
    p.add_argument("--seed", type=int, default=0, help="seed of the subsets and the head")
    p.add_argument("--json", action="store_true", help="print one JSON object (else a short summary)")
    p.set_defaults(func=cmd_probe)

    b = bench.add_parser("head", help="our logistic head vs scikit-learn's LogisticRegression on the same features")
    b.add_argument("--quick", action="store_true", help="tiny settings (digits, few features) for tests")
    b.add_argument("--dataset", default=None, help="dataset (default: mnist, digits where MNIST is absent)")
    b.add_argument("--data-root", default=None)
    b.add_argument("--backbone", default="rdsn")
    b.add_argument("--options", default=None, help="backbone options as JSON (default '{\"k\": 512}')")
    b.add_argument("--layer", type=int, default=0)
    b.add_argument("--pooling", default="grid2")
    b.add_argument("--train-limit", type=int, default=5000)
    b.add_argument("--test-limit", type=int, default=1000)
    b.add_argument("--weight-decay", type=float, default=1e-3, help="ours: mean CE + wd/2 |W|^2; sklearn C=1/(wd n)")
    b.add_argument("--epochs", type=int, default=100, help="our L-BFGS iterations (at most)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bench_head)


def make_config(args):
    from app.errors import UserError
    from app.models.spec import ModelSpec
    from app.probe.config import ProbeConfig, probe_defaults

    options = _json_arg(args.options, "--options")
    head_options = _json_arg(args.head_options, "--head-options")
    try:
        from app.models import names

        known = names()
    except Exception:  # noqa: BLE001
        known = []
    if known and args.backbone not in known:
        raise UserError(f"unknown backbone {args.backbone!r}; known: {', '.join(known)}")
    if args.weights:
        from pathlib import Path

        if not Path(args.weights).expanduser().is_file():
            raise UserError(f"--weights {args.weights}: no such file")
    spec = ModelSpec.make(args.backbone, options=options, init="checkpoint" if args.weights else args.init,
                          weights=str(args.weights) if args.weights else None, seed=args.model_seed,
                          weight_state="trained" if args.weights else "random")
    head = args.head or probe_defaults(args.backbone)["head"]
    for name, v in (("--train-limit", args.train_limit), ("--test-limit", args.test_limit)):
        if v is not None and v < 1:
            raise UserError(f"{name} must be at least 1, got {v}")
    cfg = ProbeConfig(model=spec, dataset=args.dataset, data_root=args.data_root, layer=args.layer,
                      pooling=args.pooling, head=head, train_limit=args.train_limit, test_limit=args.test_limit,
                      seed=args.seed, head_options=tuple(sorted(head_options.items())))
    try:
        cfg.resolved_head_options()
        if cfg.head != "own":
            from app.probe.extract import parse_pooling

            parse_pooling(cfg.resolved_pooling())
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return cfg


def summary(result, wall: float, cpu: float) -> dict:
    d = result.to_dict()
    out = {k: d[k] for k in ("top1", "top2", "top5", "n_train", "n_test", "n_features", "extract_seconds",
                             "train_seconds", "feature_cache_hit", "device", "created", "per_class", "classes",
                             "confusion", "settings", "config")}
    out["n_misclassified"] = len(d["misclassified"])
    out["wall_seconds"] = round(wall, 3)
    out["cpu_seconds"] = round(cpu, 3)
    out["curves"] = d["curves"][-1:] if d["curves"] else []
    return out


def cmd_probe(args) -> int:
    from app.errors import UserError
    from app.data import DatasetError
    from app.probe.run import run_probe
    from app.tasks import cli_progress, run_to_end

    cfg = make_config(args)
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        result = run_to_end(run_probe(cfg), cli_progress("probe: "))
    except (DatasetError, FileNotFoundError, ValueError, IndexError) as exc:
        raise UserError(str(exc)) from None
    finally:
        sys.stderr.write("\n")  # end the progress line
    out = summary(result, time.perf_counter() - t0, time.process_time() - c0)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{cfg.model.backbone} on {cfg.dataset}: top-1 {100 * out['top1']:.2f}%  top-2 {100 * out['top2']:.2f}%"
              f"  top-5 {100 * out['top5']:.2f}%  ({out['n_train']} train / {out['n_test']} test, "
              f"{out['n_features']} features, extract {out['extract_seconds']:.1f} s"
              f"{' (cached)' if out['feature_cache_hit'] else ''}, head {out['train_seconds']:.1f} s)")
    return 0


def cmd_bench_head(args) -> int:
    from app.probe.bench import bench_head

    out = bench_head(args)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"ours {out['ours_seconds']:.2f} s top-1 {100 * out['ours_top1']:.2f}%   sklearn "
              f"{out['sklearn_seconds']:.2f} s top-1 {100 * out['sklearn_top1']:.2f}%   speed-up {out['speedup']:.1f}x")
    return 0
