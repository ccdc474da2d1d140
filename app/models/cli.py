"""Headless model commands: ``models list``, ``train``, ``eval``, ``weights download/list``, ``bench rdsn``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def parse_options(items: list[str] | None) -> dict[str, Any]:
    """``--options '{"widths": [32, 64]}'`` or ``--options widths=32,64 batchnorm=true``."""
    from app.errors import UserError

    out: dict[str, Any] = {}
    for item in items or []:
        item = item.strip()
        if not item:
            continue
        if item.startswith("{"):
            try:
                d = json.loads(item)
            except ValueError as exc:
                raise UserError(f"--options: not valid JSON ({exc})") from None
            if not isinstance(d, dict):
                raise UserError("--options: the JSON must be an object")
            out.update(d)
            continue
        if "=" not in item:
            raise UserError(f"--options: expected KEY=VALUE or a JSON object, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = _value(value.strip())
    return out


def _value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    if "," in text:
        return [_value(t.strip()) for t in text.split(",") if t.strip()]
    return text


def _spec_from_args(args) -> "Any":
    from app.errors import UserError
    from app.models.build import spec_from_checkpoint
    from app.models.spec import ModelSpec
    from app.models.weights import WeightsError

    options = parse_options(getattr(args, "options", None))
    weights = getattr(args, "weights", None)
    freeze = tuple(getattr(args, "freeze", None) or ())
    seed = int(getattr(args, "seed", 0) or 0)
    init = getattr(args, "init", None) or ("checkpoint" if weights else "default")
    if args.backbone is None:
        if not weights:
            raise UserError("give --backbone (or --weights with a JSON sidecar that names it)")
        try:
            base = spec_from_checkpoint(weights)
        except WeightsError as exc:
            raise UserError(str(exc)) from None
        kw = dict(base.options)
        kw.update(options)
        return ModelSpec.make(base.backbone, label=base.label, options=kw, init="checkpoint", weights=str(weights),
                              freeze=freeze or base.freeze, seed=seed, weight_state="trained")
    return ModelSpec.make(args.backbone, label=args.backbone, options=options, init=init,
                          weights=str(Path(weights).expanduser()) if weights else None, freeze=freeze, seed=seed,
                          weight_state="trained" if weights else "random")


def _dataset_name(name: str) -> str:
    if name.startswith("imagefolder:"):
        return "imagefolder:" + str(Path(name.split(":", 1)[1]).expanduser())
    return name


# --- handlers ------------------------------------------------------------------------------------------------
def cmd_models_list(args) -> int:
    from app.models.catalog import BACKBONES  # the registry's names without torch (a test keeps them equal)

    width = max(len(n) for n in BACKBONES)
    for n, text in BACKBONES.items():
        print(f"{n:<{width}}  {text}")
    return 0


def cmd_train(args) -> int:
    from app.errors import UserError
    from app.data import DatasetError
    from app.models.base import ModelError
    from app.models.train import TrainConfig, train
    from app.tasks import cli_progress, run_to_end

    if args.resume and args.backbone is None and not args.weights:
        args.weights = args.resume
    spec = _spec_from_args(args)
    cfg = TrainConfig(
        dataset=_dataset_name(args.dataset), epochs=args.epochs, optimizer=args.optimizer, lr=args.lr,
        weight_decay=args.weight_decay, batch_size=args.batch_size,
        augment=None if args.augment is None else args.augment == "on",
        train_limit=args.train_limit, test_limit=args.test_limit, data_root=args.data_root, seed=args.seed,
        out=str(Path(args.out).expanduser()), resume=args.resume, max_steps=args.max_steps,
    )
    last_epoch = [None]
    show = cli_progress("train ")

    def on_progress(p):
        rec = p.payload
        if rec is not None and getattr(rec, "kind", "") == "epoch":
            sys.stderr.write("\n")
            print(f"epoch {rec.epoch}: loss {rec.loss:.4f}  train acc {rec.train_acc:.2%}  test acc "
                  f"{rec.test_acc:.2%}  lr {rec.lr:.4g}", flush=True)
            last_epoch[0] = rec
        else:
            show(p)

    try:
        result = run_to_end(train(spec, cfg), on_progress)
    except (ModelError, DatasetError) as exc:
        raise UserError(str(exc)) from None
    print(f"trained {spec.backbone} on {cfg.dataset}: {result.epochs_done} epoch(s) in {result.seconds:.0f} s; "
          f"{result.trainable:,} trainable / {result.frozen:,} frozen parameters")
    if result.test_acc is not None:
        print(f"final test accuracy: {result.test_acc:.2%}")
    print(f"checkpoint: {result.checkpoint} (+ {Path(result.checkpoint).with_suffix('.json').name})")
    return 0


def cmd_eval(args) -> int:
    from app.errors import UserError
    from app.data import DatasetError
    from app.models.base import ModelError
    from app.models.build import build
    from app.models.train import evaluate
    from app.tasks import cli_progress, run_to_end

    spec = _spec_from_args(args)
    try:
        model = build(spec)
        res = run_to_end(evaluate(model, _dataset_name(args.dataset), "test", args.test_limit, args.data_root,
                                  batch_size=args.batch_size), cli_progress("eval "))
    except (ModelError, DatasetError) as exc:
        raise UserError(str(exc)) from None
    print(f"{spec.backbone} ({Path(spec.weights).name if spec.weights else 'random'}) on {args.dataset} test "
          f"({res.n} images): top-1 {res.top1:.2%} ({res.correct}/{res.n})")
    return 0


def cmd_weights_download(args) -> int:
    from app.errors import UserError
    from app.models.weights import WeightsError, download
    from app.tasks import cli_progress, run_to_end

    try:
        path = run_to_end(download(args.name, url=args.url), cli_progress("download "))
    except WeightsError as exc:
        raise UserError(str(exc)) from None
    print(f"saved {path}")
    return 0


def cmd_weights_list(args) -> int:
    from app.models.weights import KNOWN, find_known

    for name, kw in KNOWN.items():
        where = find_known(name)
        print(f"{name:<18} {kw.backbone:<9} {kw.dataset:<8} {'found: ' + str(where) if where else 'not present'}"
              f"{'' if where or kw.url else ' (no download address)'}")
    return 0


def cmd_bench_rdsn(args) -> int:
    import resource
    import time

    import torch

    from app.models import create

    torch.manual_seed(0)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    model = create("rdsn", k=args.k, blocks=args.blocks, in_channels=3, pool_grid=args.grid,
                   chunk_bytes=args.chunk_mb * 2**20)
    x = torch.randn(args.images, 3, args.size, args.size)
    t = time.perf_counter()
    feats_parts = []
    with torch.inference_mode():
        for s in range(0, args.images, args.batch):
            feats_parts.append(model.extract_pooled(x[s:s + args.batch]))
    feats = torch.cat(feats_parts)
    dt = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rdsn k={args.k} blocks={args.blocks} grid={args.grid}: {args.images} images {args.size}x{args.size} "
          f"-> features {tuple(feats.shape)} in {dt:.1f} s ({args.images / dt:.1f} images/s, torch threads "
          f"{torch.get_num_threads()}); chunk {model.chunk_size(x[:args.batch])} channels; "
          f"peak RSS {rss:.0f} MB (before the model: {rss0:.0f} MB)")
    return 0


def register(sub, bench) -> None:
    p = sub.add_parser("models", help="the backbones: list")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    pl = msub.add_parser("list", help="registry names and descriptions")
    pl.set_defaults(func=cmd_models_list)

    pt = sub.add_parser("train", help="train a backbone end to end on a dataset (writes PATH.safetensors + PATH.json)")
    pt.add_argument("--backbone", help="registry name (python main.py models list)")
    pt.add_argument("--dataset", required=True, help="digits, mnist, imagefolder:PATH, ...")
    pt.add_argument("--data-root", default=None, help="dataset root (default: the app's data folder)")
    pt.add_argument("--epochs", type=int, default=1)
    pt.add_argument("--options", nargs="*", default=None, metavar="OPT",
                    help="backbone options: a JSON object or KEY=VALUE items (widths=32,64 batchnorm=true)")
    pt.add_argument("--init", default=None, help="initialisation: default, kaiming, gaussian[:std], uniform[:a], "
                                                 "signed-constant, orthogonal")
    pt.add_argument("--weights", default=None, help="start from these weights (.safetensors/.pt/.pth/.th)")
    pt.add_argument("--freeze", nargs="*", default=None, metavar="ENTRY",
                    help="freeze groups/layers/patterns: all bn conv 1x1 kxk head bias, only-bn only-1x1 only-head, "
                         "layer names (conv1), parameter patterns; prefix ! to keep trainable")
    pt.add_argument("--optimizer", choices=["sgd", "adamw"], default="sgd")
    pt.add_argument("--lr", type=float, default=None, help="learning rate (default 0.05 sgd, 0.001 adamw)")
    pt.add_argument("--weight-decay", type=float, default=None)
    pt.add_argument("--batch-size", type=int, default=128)
    pt.add_argument("--augment", choices=["on", "off"], default=None,
                    help="flip+crop (default: on for RGB images, off for gray digits)")
    pt.add_argument("--train-limit", type=int, default=None, help="use a seeded subset of N training images")
    pt.add_argument("--test-limit", type=int, default=None, help="use a seeded subset of N test images")
    pt.add_argument("--max-steps", type=int, default=None, help="stop after N optimizer steps in total")
    pt.add_argument("--seed", type=int, default=0)
    pt.add_argument("--resume", default=None, metavar="CKPT", help="continue from a checkpoint written by train")
    pt.add_argument("--out", required=True, metavar="PATH", help="checkpoint stem: PATH.safetensors + PATH.json")
    pt.set_defaults(func=cmd_train)

    pe = sub.add_parser("eval", help="top-1 accuracy of a backbone with weights on a dataset's test split")
    pe.add_argument("--backbone", default=None, help="registry name (default: from the weights' JSON sidecar)")
    pe.add_argument("--weights", required=True, help=".safetensors/.pt/.pth/.th")
    pe.add_argument("--dataset", required=True)
    pe.add_argument("--data-root", default=None)
    pe.add_argument("--options", nargs="*", default=None, metavar="OPT")
    pe.add_argument("--test-limit", type=int, default=None)
    pe.add_argument("--batch-size", type=int, default=256)
    pe.set_defaults(func=cmd_eval, seed=0, freeze=None, init=None)

    pw = sub.add_parser("weights", help="known trained weights: list, download")
    wsub = pw.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    pd = wsub.add_parser("download", help="download known weights (sha256-checked) into the user's weights folder")
    pd.add_argument("name", choices=["resnet20-cifar10"])
    pd.add_argument("--url", default=None, help="another address for the same file (a mirror)")
    pd.set_defaults(func=cmd_weights_download)
    pwl = wsub.add_parser("list", help="known weights and where they are")
    pwl.set_defaults(func=cmd_weights_list)

    pb = bench.add_parser("rdsn", help="rdsn feature extraction: time and peak memory (RSS)")
    pb.add_argument("--k", type=int, default=100_000)
    pb.add_argument("--blocks", type=int, default=2)
    pb.add_argument("--grid", type=int, default=1)
    pb.add_argument("--images", type=int, default=256)
    pb.add_argument("--batch", type=int, default=256)
    pb.add_argument("--size", type=int, default=32)
    pb.add_argument("--chunk-mb", type=int, default=64)
    pb.set_defaults(func=cmd_bench_rdsn)
