"""``python main.py analyze cka|top-patches|filters|fold ... [--json]``: the insight views, headless."""

from __future__ import annotations

import sys

from app import jsonout


def register(sub, bench) -> None:
    from app.cliargs import seed_value

    p = sub.add_parser("analyze", help="explain random vs trained: CKA, top-activating patches, filter statistics, "
                                       "LC fold")
    a = p.add_subparsers(dest="analyze_command", metavar="ANALYSIS", required=True)

    c = a.add_parser("cka", help="CKA similarity between every layer of two models on a dataset sample")
    for side in ("a", "b"):
        c.add_argument(f"--{side}", required=True, metavar="BACKBONE",
                       help=f"model {side}: a registry name" + ("; twin: model a's random twin (its architecture and "
                                                               "input, random weights at --seed-b)" if side == "b"
                                                               else ""))
        c.add_argument(f"--weights-{side}", default=None, help=f"weights of model {side} (default: random)")
        c.add_argument(f"--options-{side}", nargs="*", default=None, metavar="OPT", help="backbone options")
        c.add_argument(f"--seed-{side}", type=seed_value, default=0, help=f"model seed of {side}")
    c.add_argument("--kernel", choices=["linear", "rbf", "debiased"], default="linear",
                   help="linear CKA (default), RBF CKA (bandwidth: the median distance), or debiased linear CKA "
                        "(the unbiased HSIC estimator: no upward bias when a layer has more features than images)")
    _data(c)
    c.set_defaults(func=cmd_cka)

    t = a.add_parser("top-patches", help="the dataset crops that excite one channel of one layer most")
    _model(t)
    t.add_argument("--layer", type=int, required=True, help="feature_info index (negative counts from the end)")
    t.add_argument("--channel", type=int, required=True)
    t.add_argument("--k", type=int, default=16, help="how many patches (default 16)")
    t.add_argument("--out", default=None, help="also write the patches as one PNG mosaic")
    _data(t)
    t.set_defaults(func=cmd_top)

    f = a.add_parser("filters", help="per-layer filter statistics (spectrum, orientation, PCA, sparsity), "
                                     "optionally beside a random twin")
    _model(f)
    f.add_argument("--compare-random", action="store_true", help="also the same architecture with random weights")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=cmd_filters)

    fo = a.add_parser("fold", help="LC models: fold the learned 1x1 mixing into effective spatial filters")
    _model(fo)
    fo.add_argument("--json", action="store_true")
    fo.set_defaults(func=cmd_fold)


def _model(p) -> None:
    from app.cliargs import seed_value

    p.add_argument("--backbone", required=True, help="registry name")
    p.add_argument("--weights", default=None, help="weights (default: random)")
    p.add_argument("--options", nargs="*", default=None, metavar="OPT")
    p.add_argument("--model-seed", type=seed_value, default=0)


def _data(p) -> None:
    from app.cliargs import add_data_root

    p.add_argument("--dataset", required=True, help="digits, mnist, imagefolder:PATH, ...")
    p.add_argument("--split", choices=["train", "test"], default="test")
    p.add_argument("--n", type=int, default=500, help="images (a seeded subset; default 500)")
    add_data_root(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _spec(backbone, weights, options, seed):
    """The model as the other commands read it (``app.models.spec_args.spec_from_args``): the weights' JSON sidecar,
    where there is one, gives the architecture's options and the input it was trained on (the shipped checkpoints
    need it: a one-channel model is not the registry's three-channel default)."""
    from types import SimpleNamespace

    from app.models.spec_args import spec_from_args

    import dataclasses

    spec = spec_from_args(SimpleNamespace(backbone=backbone, weights=weights, options=options, model_seed=seed))
    return spec if weights else dataclasses.replace(spec, label=f"{backbone} (random)")


def _built(spec, ds):
    """``app.analysis.jobs.built`` (the Insight workspace's), its refusals as the command's errors."""
    from app.analysis.jobs import InsightError, built
    from app.errors import UserError

    try:
        return built(spec, ds)
    except InsightError as exc:
        raise UserError(str(exc)) from None


def _dataset(args, with_indices: bool = False):
    """The seeded sample of ``--n`` images (and, ``with_indices``, where each is in the split)."""
    from app.data import load
    from app.errors import UserError

    if args.n < 2:
        raise UserError("--n must be at least 2")
    full = load(args.dataset, args.split, args.data_root)
    ds = full.subset(args.n, seed=0)
    return (ds, full.subset_indices(args.n, seed=0)) if with_indices else ds


def cmd_cka(args) -> int:
    from app.analysis.cka import cka_matrix
    from app.analysis.jobs import same_architecture, with_seed_reference
    from app.tasks import cli_progress, run_to_end

    from app.analysis.jobs import InsightError, check_cka_images
    from app.errors import UserError

    try:
        check_cka_images(args.n)
    except InsightError as exc:
        raise UserError(f"--n {args.n}: {exc}") from None
    ds = _dataset(args)
    sa = _spec(args.a, args.weights_a, args.options_a, args.seed_a)
    if args.b == "twin":  # the same architecture and declared input (a sidecar's 28x28, MNIST's statistics ...)
        import dataclasses

        from app.analysis.jobs import random_twin

        if args.weights_b or args.options_b:
            raise UserError("--b twin is model a's architecture with random weights: no --weights-b or --options-b")
        sb = dataclasses.replace(random_twin(sa), seed=int(args.seed_b))
    else:
        sb = _spec(args.b, args.weights_b, args.options_b, args.seed_b)
    ma, ia = _built(sa, ds)
    mb, ib = _built(sb, ds)
    res = run_to_end(cka_matrix(ma, mb, ds.images, ia, ib, kernel=args.kernel, label_a=sa.label, label_b=sb.label),
                     cli_progress("cka: "))
    if same_architecture(sa, sb):
        res = run_to_end(with_seed_reference(res, sa, ds, args.kernel), cli_progress("cka reference: "))
    sys.stderr.write("\n")
    if args.json:
        print(jsonout.dumps(res.to_dict()))
    else:
        w = max(len(n) for n in res.layers_a)
        print(f"{args.kernel} CKA, rows: {sa.label}, columns: {sb.label}, {res.n_images} images")
        print(f"input of the rows: {ia.describe()}\ninput of the columns: {ib.describe()}")
        if same_architecture(sa, sb) and ia.describe() != ib.describe():
            print("note: the two sides saw different inputs (size or normalisation): the matrix mixes that with "
                  "their weights; --b twin gives model a's random twin with a's input")
        print(" " * w + "  " + " ".join(f"{n[:8]:>8}" for n in res.layers_b))
        for n, row in zip(res.layers_a, res.matrix):
            print(f"{n:<{w}}  " + " ".join("     n/a" if v != v else f"{v:8.3f}" for v in row))
        if res.reference:
            print(res.reference_text())
        if res.note:
            print(f"note: {res.note}")
    return 0


def cmd_top(args) -> int:
    from app.analysis.patches import top_patches
    from app.errors import UserError
    from app.tasks import cli_progress, run_to_end

    if args.k < 1:
        raise UserError(f"--k {args.k}: show at least one patch")
    if args.out:
        from pathlib import Path

        from app.cliargs import out_file

        out_file(args.out)
        if Path(args.out).suffix.lower() != ".png":
            raise UserError(f"--out {args.out}: the mosaic is a PNG image; give a file name ending in .png")
    ds, where = _dataset(args, with_indices=True)
    spec = _spec(args.backbone, args.weights, args.options, args.model_seed)
    model, ispec = _built(spec, ds)
    n_layers = len(model.feature_info)
    layer = args.layer if args.layer >= 0 else n_layers + args.layer
    if not 0 <= layer < n_layers:
        raise UserError(f"--layer {args.layer}: {spec.backbone} has layers 0..{n_layers - 1}")
    try:
        patches, rf = run_to_end(top_patches(model, ds.images, ds.labels, ispec, layer, args.channel, args.k),
                                 cli_progress("top patches: "))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    sys.stderr.write("\n")
    if args.out:
        import numpy as np

        from app.imaging.mosaic import mosaic, save_png

        side = max(max(p.image.shape[0], p.image.shape[1]) for p in patches)
        tiles = np.zeros((len(patches), side, side, patches[0].image.shape[-1]), np.uint8)
        for i, p in enumerate(patches):
            tiles[i, :p.image.shape[0], :p.image.shape[1]] = p.image
        img, _ = mosaic(tiles, cols=8, min_size=48)
        save_png(args.out, img)
    from app.analysis.jobs import tie_note

    note = tie_note(patches, len(ds)).lstrip(". ")
    out = {"layer": model.feature_info[layer].name, "channel": args.channel, "receptive_field": list(rf.size),
           "tied": patches[-1].tied if patches and patches[-1].tied > len(patches) else 0, "note": note or None,
           # "index": the image's place in the dataset split (not in the seeded sample of --n images)
           "patches": [{"index": int(where[p.index]), "value": p.value, "position": [p.y, p.x], "box": list(p.box),
                        "label": ds.classes[p.label] if 0 <= p.label < len(ds.classes) else p.label}
                       for p in patches]}
    print(jsonout.dumps(out) if args.json else "\n".join(
        [f"{i + 1:>3}. image {p['index']:>6} ({p['label']}): {p['value']:.4g} at {p['position']}"
         for i, p in enumerate(out["patches"])] + ([note + "."] if note else [])))
    if args.out:
        sys.stderr.write(f"wrote {args.out}\n")
    return 0


def cmd_filters(args) -> int:
    import dataclasses

    from app.analysis.filters import model_stats
    from app.models.build import build

    from app.errors import UserError

    spec = _spec(args.backbone, args.weights, args.options, args.model_seed)
    if args.compare_random and not spec.weights:
        raise UserError("--compare-random sets trained weights beside their random twin: give --weights (without "
                        "them the model is already random)")
    rows = {spec.label: [s.to_dict() for s in model_stats(build(spec, device="cpu"))]}
    if args.compare_random and spec.weights:
        twin = dataclasses.replace(spec, weights=None, init="default", label=f"{spec.backbone} (random)",
                                   weight_state="random")
        rows[twin.label] = [s.to_dict() for s in model_stats(build(twin, device="cpu"))]
    if args.json:
        print(jsonout.dumps(rows))
        return 0
    for label, layers in rows.items():
        print(label)
        for s in layers:
            print(f"  {s['layer']:<24} {'x'.join(map(str, s['shape'])):<14} PCA top-1 {s['pca_explained'][0]:.2f}  "
                  f"coherence {s['coherence_mean']:.2f}  sparsity {s['sparsity']:.2f}  "
                  f"energy at DC {s['spectrum'][0]:.3f}")
    return 0


def cmd_fold(args) -> int:
    import numpy as np

    from app.analysis.fold import lc_layers
    from app.errors import UserError
    from app.models.build import build

    spec = _spec(args.backbone, args.weights, args.options, args.model_seed)
    layers = lc_layers(build(spec, device="cpu"))
    if not layers:
        raise UserError(f"{spec.backbone} has no LC blocks (a frozen k x k conv followed by a learned 1x1): try "
                        f"lc-resnet20")
    if args.json:
        print(jsonout.dumps([{"layer": f.name, "effective_shape": list(f.effective.shape),
                              "basis_shape": list(f.basis.shape), "effective_norm_mean":  # the mean of the norms
                              float(np.linalg.norm(f.effective.reshape(f.effective.shape[0], -1), axis=1).mean())}
                             for f in layers]))
    else:
        for f in layers:
            print(f"{f.name:<24} basis {f.basis.shape} -> effective {f.effective.shape}")
    return 0
