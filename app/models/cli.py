"""Headless model commands: ``models list``, ``train``, ``eval``, ``weights download/list``, ``bench rdsn``."""

from __future__ import annotations

import sys
from pathlib import Path

from app import jsonout


def _dataset_name(name: str) -> str:
    if name.startswith("imagefolder:"):
        from app.data.core import imagefolder_path

        return "imagefolder:" + str(Path(imagefolder_path(name)).expanduser())  # an empty PATH refused
    return name


# --- handlers ------------------------------------------------------------------------------------------------
def cmd_models_list(args) -> int:
    # the registry's names without torch (a test keeps them equal)
    from app.models.catalog import BACKBONES, family_label

    if getattr(args, "json", False):
        print(jsonout.dumps([{"name": n, "family": family_label(n), "description": d} for n, d in BACKBONES.items()]))
        return 0
    width = max(len(n) for n in BACKBONES)
    fwidth = max(len(family_label(n)) for n in BACKBONES)
    for n, desc in BACKBONES.items():
        print(f"{n:<{width}}  {family_label(n):<{fwidth}}  {desc}")
    return 0


# train's defaults for a new run; on --resume, what the command line leaves out is the checkpoint's (resume_arguments)
TRAIN_DEFAULTS = {"epochs": 1, "optimizer": "sgd", "batch_size": 128, "seed": 0}


def resume_arguments(args) -> tuple[dict, dict]:
    """``train --resume CKPT``: the checkpoint set, verified, and every run setting the command line left out taken
    from its sidecar (``args`` is filled in place), so that ``train --resume CKPT --epochs 5`` just continues; a
    setting that is given and differs is refused by ``app.models.train`` before any work. Returns (sidecar,
    what else the run needs from it: momentum, which has no option)."""
    from app.errors import AppError, UserError
    from app.models.checkpoint import verify_set
    from app.models.train_resume import recorded_options
    from app.models.weights import checkpoint_paths, read_sidecar

    if Path(args.resume).expanduser().name in ("", ".", ".."):
        raise UserError(f"--resume {args.resume}: give the checkpoint's path stem (PATH of PATH.safetensors), not a "
                        f"folder")
    try:
        verify_set(args.resume)  # the clear "cannot resume ..." messages before anything else is read
        side = read_sidecar(checkpoint_paths(args.resume)[0])
    except AppError as exc:
        raise UserError(str(exc)) from None
    if not side:
        raise UserError(f"cannot resume from {args.resume}: its JSON sidecar (the run's settings) is missing")
    weights = checkpoint_paths(args.resume)[0]
    other = args.weights and Path(args.weights).expanduser().resolve() != weights.resolve()
    if getattr(args, "model", None) or other:
        raise UserError("--resume continues from the checkpoint's own weights; --weights and --model cannot be "
                        "given with it")
    args.weights = str(weights)
    rec = recorded_options(side)
    seed_given = args.seed is not None
    for dest in ("dataset", "data_root", "train_limit", "test_limit", "val", "lr", "weight_decay", "batch_size",
                 "optimizer", "seed", "epochs"):  # epochs: the planned ones, --resume alone finishes the run
        if getattr(args, dest, None) is None and rec[dest] is not None:
            setattr(args, dest, rec[dest])
    if args.augment is None and rec["augment"] is not None:
        args.augment = "on" if rec["augment"] else "off"
    if args.model_seed is None and rec["model_seed"] is not None and (not seed_given
                                                                      or rec["model_seed"] != rec["seed"]):
        # the weights' own seed: left out, or set apart from the data seed by the run's --model-seed (a --seed
        # given again then speaks for the data only); where the run's --seed set both, a --seed given sets both
        args.model_seed = rec["model_seed"]
    extra = {"momentum": rec["momentum"]} if rec["momentum"] is not None else {}
    return side, extra


def cmd_train(args) -> int:
    from dataclasses import replace

    from app.errors import UserError
    from app.models.spec_args import spec_from_args
    from app.models.train import TrainConfig, threads_text, train
    from app.tasks import cli_progress, run_to_end

    from app.cliargs import out_file

    out_file(args.out)  # a checkpoint stem: PATH.safetensors + PATH.json beside it, in a folder that exists
    check_out_free(args.out, args.resume)  # nothing is overwritten but the run --resume continues
    side, extra = resume_arguments(args) if args.resume else (None, {})
    if args.dataset is None:
        raise UserError("train: give --dataset (digits, mnist, imagefolder:PATH, ...); only --resume takes it from "
                        "the checkpoint")
    for dest, value in TRAIN_DEFAULTS.items():
        if getattr(args, dest) is None:
            setattr(args, dest, value)
    spec = with_banks(spec_from_args(args), args.bank)
    if side is not None:  # what the command line left out is the checkpoint's: its freeze, its init, its banks
        arch = side.get("architecture") if isinstance(side.get("architecture"), dict) else {}
        if args.freeze is None and isinstance(arch.get("freeze"), list):
            spec = replace(spec, freeze=tuple(str(e) for e in arch["freeze"]))
        if not args.bank and arch.get("banks"):  # their frozen kernels stay frozen (they were trained when left out)
            from app.models.build import spec_from_checkpoint

            spec = replace(spec, banks=spec_from_checkpoint(args.weights).banks)
        if args.init is not None:
            spec = replace(spec, init=args.init)  # compared with the checkpoint's (spec_from_args may drop it)
    if args.model_seed is None:  # as in probe: --seed is the model's seed too unless --model-seed says otherwise
        spec = replace(spec, seed=int(args.seed))
    cfg = TrainConfig(
        dataset=_dataset_name(args.dataset), epochs=args.epochs, optimizer=args.optimizer, lr=args.lr,
        weight_decay=args.weight_decay, batch_size=args.batch_size,
        augment=None if args.augment is None else args.augment == "on",
        train_limit=args.train_limit, test_limit=args.test_limit, data_root=args.data_root, seed=args.seed,
        out=str(Path(args.out).expanduser()), resume=args.resume, max_steps=args.max_steps, val=args.val, **extra,
    )
    show = cli_progress("train ")

    def on_progress(p):
        rec = p.payload
        if rec is not None and getattr(rec, "kind", "") == "epoch":
            sys.stderr.write("\n")
            val = f"val acc {rec.val_acc:.2%}" if rec.val_acc is not None else "no validation split"
            part = "" if rec.complete else f" (stopped by --max-steps after step {rec.step})"
            # the schedule's rate after the epoch's last step: the one the next step uses (not the epoch's own)
            print(f"epoch {rec.epoch}{part}: loss {rec.loss:.4f}  train acc {rec.train_acc:.2%}  {val}  "
                  f"next lr {rec.lr:.4g}", flush=True)
        else:
            show(p)

    result = run_to_end(train(spec, cfg), on_progress)
    if result.stopped_early:
        complete = not result.history or result.history[-1].complete
        how = (f"{result.steps} of {result.total_steps} steps ({result.epochs_done} complete epoch(s) of {cfg.epochs}"
               + ("" if complete else f", epoch {result.epochs_done + 1} part-done") + ")")
    else:
        how = f"{result.epochs_done} epoch(s), {result.steps} steps"
    print(f"trained {spec.backbone} on {cfg.dataset}: {how} in {result.seconds:.0f} s; "
          f"{result.trainable:,} trainable / {result.frozen:,} frozen parameters")
    if result.stopped_early:
        print(f"stopped by --max-steps {cfg.max_steps}: train --resume {cfg.out} --out {cfg.out} continues the run "
              f"at step {result.steps}")
    for line in result.froze:
        print(f"freeze {line}")
    if result.input is not None:
        print(f"input: {result.input.describe()}")
    if result.threads is not None:
        print("threads: " + jsonout.dumps(result.threads))
        print(f"threads used: {threads_text(result.threads)}")
    print(f"schedule: cosine over {result.total_steps} steps ({cfg.epochs} epoch(s))")
    for note in result.notes:
        print(f"note: {note}")
    print_notes(result.data_notes, cfg.dataset)
    print(f"seeds: data {cfg.seed}, model {spec.seed}")
    print(f"validation: {result.n_val} images carved from the training split (seed {cfg.seed})"
          + (f", accuracy {result.val_acc:.2%}" if result.val_acc is not None else ""))
    if result.test_acc is not None:
        from app.metrics import ci_text

        n = result.n_test
        # a run --max-steps stopped part-way through its schedule is not a finished model: not its "final" figure
        what = (f"test accuracy at this stop (step {result.steps} of {result.total_steps})" if result.stopped_early
                else "final test accuracy")
        print(f"{what}: {result.test_acc:.2%}"
              + (f" on {n:,} test images ({ci_text(result.test_acc, n, 2)})" if n else ""))
    print(f"checkpoint: {result.checkpoint} (+ {Path(result.checkpoint).with_suffix('.json').name})")
    return 0


def set_files(out: str) -> list[Path]:
    """The files of the checkpoint set ``train --out OUT`` writes (weights, sidecar, training state, manifest) that
    are already there."""
    from app.models.checkpoint import manifest_path, state_path
    from app.models.weights import checkpoint_paths

    return [p for p in (*checkpoint_paths(out), state_path(out), manifest_path(out)) if p.exists()]


def check_out_free(out: str, resume: str | None) -> None:
    """``train --out OUT`` refuses, before any work, to write over files already there (a finished run, or one that
    ``--max-steps`` stopped and that ``--resume`` would continue), unless the run is that very checkpoint's,
    continued in place (``--resume OUT --out OUT``). There is no overwrite flag: delete the files to train anew."""
    from app.errors import UserError
    from app.models.weights import checkpoint_paths

    there = set_files(out)
    if not there:
        return
    names = ", ".join(p.name for p in there)
    if resume:
        if checkpoint_paths(resume)[0].resolve() == checkpoint_paths(out)[0].resolve():
            return  # the run continued where it is: its own files are rewritten
        raise UserError(f"--out {out}: another checkpoint set is already there ({names}); this run continues "
                        f"{resume} and would overwrite it. Give an --out where nothing is, or --out {resume} to "
                        f"continue in place")
    raise UserError(f"--out {out}: a checkpoint set is already there ({names}); a new run would overwrite it. "
                    f"Give another --out, or pass --resume {out} to continue that run (or delete its files to train "
                    f"anew)")


def print_notes(notes, dataset: str, shown: int = 5) -> None:
    """A dataset's loading notes (files skipped or resized ...), the first ``shown``, under the result."""
    for note in list(notes)[:shown]:
        print(f"note: {note}")
    if len(notes) > shown:
        print(f"note: ... and {len(notes) - shown} more (python main.py data info {dataset} lists them)")


def with_banks(spec, items: list[str] | None):
    """``--bank LAYER=FILE`` items: each Workbench bank file goes into that layer (``ModelSpec.banks``)."""
    import dataclasses

    from app.errors import UserError
    from app.kernels.io import load

    banks = list(spec.banks)
    for item in items or ():
        layer, sep, path = item.partition("=")
        if not sep or not layer.strip() or not path.strip():
            raise UserError(f"--bank: expected LAYER=FILE, got {item!r}")
        banks.append((layer.strip(), load(Path(path.strip()).expanduser())))
    if len(banks) == len(spec.banks):
        return spec
    from app.models.catalog import bank_state

    state = spec.weight_state if spec.weights else bank_state(banks)
    return dataclasses.replace(spec, banks=tuple(banks), weight_state=state)


def eval_input(spec, model, dataset: str, root: str | None, test):
    """The input spec of ``eval``: the model's own (declared, sidecar, known weights); else, as probe and train
    normalise, the statistics of the dataset's TRAINING split (never those of the test images being scored), the
    source saying which split. Where no training split loads, the test split's, and the source says so."""
    from dataclasses import replace

    from app.models.inputs import dataset_stats, input_spec, weights_input_spec

    if weights_input_spec(spec) is not None:  # the model's own input: no dataset statistics involved
        return input_spec(spec, model, stats=dataset_stats(test))
    stats, split = dataset_stats(test), "training split"
    if str(getattr(test, "name", dataset)).startswith("imagefolder:"):
        # an image folder's splits each carry their own statistics (a built-in dataset's test split carries its
        # training split's already: app.data.core.NORMALISATION)
        from app.data import load
        from app.errors import AppError

        try:
            stats = dataset_stats(load(dataset, "train", root))
        except AppError:  # no training split to take them from
            split = "test split: no training split to take them from"
    if stats is not None:
        stats = replace(stats, name=f"{stats.name or dataset}, {split}")
    return input_spec(spec, model, stats=stats)


def cmd_eval(args) -> int:
    from app.data.core import limited
    from app.metrics import ci_text, top5_text
    from app.models.build import build
    from app.models.evaluate import check_classifier_fits, evaluate, load_split
    from app.models.spec_args import spec_from_args
    from app.tasks import cli_progress, run_to_end

    spec = spec_from_args(args)
    dataset = _dataset_name(args.dataset)
    full = load_split(dataset, "test", None, args.data_root, args.seed)
    ds = limited(full, args.test_limit, args.seed) if args.test_limit else full  # load_split's rule
    drawn = len(ds) < len(full)  # a --test-limit at least the split's size scores the whole split: no subset
    model = build(spec)
    check_classifier_fits(spec, model, ds)
    ispec = eval_input(spec, model, dataset, args.data_root, ds)
    if not args.json:
        print(f"input: {ispec.describe()}")
    res = run_to_end(evaluate(model, ds, ispec, batch_size=args.batch_size), cli_progress("eval "))
    # a --test-limit run scores a seeded subset (app.data.core.limited: the test split's draw is seed + 1)
    subset = (f"a seeded subset of {res.n} of the test images (--test-limit {args.test_limit}, seed {args.seed})"
              if drawn else None)
    stopped = stopped_text(spec.weights)
    if args.json:
        from app.metrics import accuracy_interval, standard_error

        print(jsonout.dumps({"backbone": spec.backbone, "weights": spec.weights, "dataset": args.dataset,
                             "split": "test", "n": res.n, "correct": res.correct, "top1": res.top1,
                             "top5": res.top5, "top1_se": standard_error(res.top1, res.n),
                             "top1_ci95": accuracy_interval(res.top1, res.n), "seed": args.seed,
                             "test_limit": args.test_limit, "subset": subset, "stopped": stopped,
                             "input": ispec.describe(), "notes": list(ds.notes)}))
        return 0
    what = (spec.label if spec.backbone == "external" and spec.label  # a model file or its twin, by its name
            else f"{spec.backbone} ({Path(spec.weights).name if spec.weights else 'random'})")
    print(f"{what} on {args.dataset} test "
          f"({res.n} images): top-1 {res.top1:.2%} ({res.correct}/{res.n}; {ci_text(res.top1, res.n, 2)}), "
          f"{top5_text(res.top5, len(ds.classes))}")
    if subset:
        print(f"subset: {subset}")
    if stopped:
        print(f"note: {stopped}")
    print_notes(ds.notes, args.dataset)
    return 0


def stopped_text(weights: str | None) -> str | None:
    """What eval says of a checkpoint whose run ``train --max-steps`` stopped before its schedule ended (the sidecar's
    ``steps`` below its ``schedule.total_steps``): "stopped at step S of T of its schedule ...", or None (a finished
    run, weights without a sidecar, or a sidecar from before steps were recorded)."""
    if not weights:
        return None
    from app.errors import AppError
    from app.models.weights import read_sidecar, stopped_at

    try:
        side = read_sidecar(weights) or {}
    except (AppError, OSError, ValueError):
        return None
    at = stopped_at(side)
    if at is None:
        return None
    steps, total = at
    return (f"its training run stopped at step {steps} of {total} of its schedule (train --max-steps): not a "
            f"finished model")


def cmd_weights_download(args) -> int:
    from app.models.weights import download
    from app.tasks import cli_progress, run_to_end

    path = run_to_end(download(args.name, url=args.url), cli_progress("download "))
    print(f"saved {path}")
    return 0


def cmd_weights_list(args) -> int:
    from app.models.weights import KNOWN, find_known

    for name, kw in KNOWN.items():
        where = find_known(name)
        print(f"{name:<18} {kw.backbone:<9} {kw.dataset:<8} {'found: ' + str(where) if where else 'not present'}"
              f"{'' if where or kw.url else ' (no download address)'}")
    return 0


def register(sub, bench) -> None:
    from app.cliargs import add_data_root, add_model_arguments, at_least_one, seed_value
    from app.models.bench_rdsn import cmd_bench_rdsn

    p = sub.add_parser("models", help="the backbones: list")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    pl = msub.add_parser("list", help="registry names and descriptions")
    pl.add_argument("--json", action="store_true", help="a JSON list of {name, family, description}")
    pl.set_defaults(func=cmd_models_list)

    pt = sub.add_parser("train", help="train a backbone end to end on a dataset (writes PATH.safetensors + PATH.json)")
    add_model_arguments(pt)
    add_data_root(pt)
    # the run's settings default to None: a new run takes TRAIN_DEFAULTS, --resume the checkpoint's (cmd_train)
    pt.add_argument("--dataset", default=None,
                    help="digits, mnist, imagefolder:PATH, ... (required, except with --resume: the checkpoint's)")
    pt.add_argument("--epochs", type=int, default=None,
                    help="epochs of the run (default 1; with --resume: the checkpoint's run's; a different number "
                         "extends or shortens it: the cosine schedule is then rebuilt at the resumed step, and the "
                         "output and sidecar say so)")
    pt.add_argument("--freeze", nargs="*", default=None, metavar="ENTRY",
                    help="freeze groups/layers/patterns: all bn conv 1x1 kxk head bias, only-bn only-1x1 only-head, "
                         "layer names (conv1: with its batch-norm; conv1:conv-only: without), parameter patterns; "
                         "prefix ! to keep trainable")
    pt.add_argument("--bank", action="append", default=None, metavar="LAYER=FILE",
                    help="put a Workbench kernel bank (.json/.npz/.npy) into a conv layer (repeatable); its frozen "
                         "kernels stay frozen, and the checkpoint's sidecar stores the bank")
    pt.add_argument("--optimizer", choices=["sgd", "adamw"], default=None,
                    help="sgd: SGD with Nesterov momentum 0.9 (the default); adamw: AdamW")
    pt.add_argument("--lr", type=float, default=None, help="learning rate (default 0.05 sgd, 0.001 adamw)")
    pt.add_argument("--weight-decay", type=float, default=None, help="default 5e-4 sgd, 0.05 adamw")
    pt.add_argument("--batch-size", type=int, default=None, help="default 128")
    pt.add_argument("--augment", choices=["on", "off"], default=None,
                    help="flip+crop (default: on for RGB images, off for gray digits)")
    pt.add_argument("--train-limit", type=int, default=None, help="use a seeded subset of N training images")
    pt.add_argument("--test-limit", type=int, default=None, help="use a seeded subset of N test images")
    pt.add_argument("--val", type=int, default=None,
                    help="validation images carved (seeded, stratified) from the training data; default 5000 for "
                         "datasets of 20,000+ training images, else 20%% (as probe); 0: none")
    pt.add_argument("--max-steps", type=int, default=None,
                    help="stop after N optimizer steps in total, counted from the run's start (resumes included); "
                         "the cosine schedule still spans --epochs, so this stops the run early, it does not make "
                         "it shorter; a part-done epoch is recorded as such and --resume continues at that step")
    pt.add_argument("--seed", type=seed_value, default=None,
                    help="the data seed (subsets, validation split, shuffles, augmentation) and, unless --model-seed "
                         "is given, the model's random weights' and new head's seed too (default 0). Bit-for-bit "
                         "identical weights from the same seed also need a fixed --threads N: the automatic thread "
                         "count adapts to the machine's load, which changes the order of float sums")
    pt.add_argument("--resume", default=None, metavar="CKPT",
                    help="continue from a checkpoint written by train, as the same run: the settings not given are "
                         "the checkpoint's, and one given that differs from them is refused (only --epochs, "
                         "--max-steps, --out, --device and --threads may change)")
    pt.add_argument("--out", required=True, metavar="PATH",
                    help="checkpoint stem: PATH.safetensors + PATH.json; refused where a checkpoint set is already "
                         "there, unless --resume PATH continues it in place")
    pt.set_defaults(func=cmd_train, model_seed=None)  # None: --seed (default 0), as in probe

    pe = sub.add_parser("eval", help="top-1 accuracy of a backbone with weights on a dataset's test split")
    add_model_arguments(pe, weights_required=True)
    add_data_root(pe)
    pe.add_argument("--dataset", required=True)
    pe.add_argument("--test-limit", type=at_least_one("images"), default=None,
                    help="use a seeded subset of N test images (N at least 1)")
    pe.add_argument("--seed", type=seed_value, default=0, help="data seed of the test subset")
    pe.add_argument("--batch-size", type=at_least_one("images per batch"), default=256,
                    help="images per forward, at least 1 (default 256)")
    pe.add_argument("--json", action="store_true", help="print one JSON object (top1, top5, n, correct, top1_se, top1_ci95 ...)")
    pe.set_defaults(func=cmd_eval, freeze=None)

    pw = sub.add_parser("weights", help="known trained weights: list, download")
    wsub = pw.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    pd = wsub.add_parser("download", help="download known weights (sha256-checked) into the user's weights folder")
    pd.add_argument("name", help="known weights with a download address (python main.py weights list): "
                                 "resnet20-cifar10")
    pd.add_argument("--url", default=None, help="another address for the same file (a mirror)")
    pd.set_defaults(func=cmd_weights_download)
    pwl = wsub.add_parser("list", help="known weights and where they are")
    pwl.set_defaults(func=cmd_weights_list)

    pb = bench.add_parser("rdsn", help="rdsn feature extraction: time and peak memory (RSS)")
    pb.add_argument("--k", type=int, default=100_000, help="random filters (channels), at least 1 (default 100000)")
    pb.add_argument("--blocks", type=int, default=2, help="depthwise blocks after the stem, 0 or more (default 2)")
    pb.add_argument("--grid", type=int, default=1,
                    help="pooling grid: G x G averages per channel, at least 1 (default 1: global average)")
    pb.add_argument("--images", type=int, default=256, help="random RGB images to extract, at least 1 (default 256)")
    pb.add_argument("--batch", type=int, default=256, help="images per forward, at least 1 (default 256)")
    pb.add_argument("--size", type=int, default=32,
                    help="image side in px, at least 2^blocks (each block halves it; default 32)")
    pb.add_argument("--chunk-mb", type=int, default=64,
                    help="MB of feature maps per channel chunk (default 64; 0: one channel at a time)")
    pb.set_defaults(func=cmd_bench_rdsn)  # app.models.bench_rdsn
