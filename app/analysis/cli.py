"""``python main.py analyze cka|top-patches|filters|fold ... [--json]``: the insight views, headless."""

from __future__ import annotations

import sys

from app import jsonout


def register(sub, bench) -> None:
    from app.cliargs import seed_value

    # allow_abbrev=False: argparse's prefix matching read "--model x.pt" as "--model-seed x.pt" and "--weights" as
    # one of "--weights-a/-b"; a flag is taken only as it is spelled
    p = sub.add_parser("analyze", help="explain random vs trained: CKA, top-activating patches, filter statistics, "
                                       "LC fold", allow_abbrev=False)
    a = p.add_subparsers(dest="analyze_command", metavar="ANALYSIS", required=True)

    c = a.add_parser("cka", help="CKA similarity between every layer of two models on a dataset sample",
                     allow_abbrev=False)
    for side in ("a", "b"):
        c.add_argument(f"--{side}", required=True, metavar="BACKBONE",
                       help=f"model {side}: a registry name" + ("; twin: model a's random twin (its architecture and "
                                                               "input, random weights at --seed-b, by default "
                                                               "--seed-a + 1)" if side == "b" else ""))
        c.add_argument(f"--weights-{side}", default=None, help=f"weights of model {side} (default: random)")
        c.add_argument(f"--options-{side}", nargs="*", default=None, metavar="OPT", help="backbone options")
        c.add_argument(f"--seed-{side}", type=seed_value, default=None,
                       help=f"model seed of {side} (default 0" + ("; with --b twin: --seed-a + 1, so that a random "
                                                                  "model a is not compared with itself)"
                                                                  if side == "b" else ")"))
    c.add_argument("--kernel", choices=["linear", "rbf", "debiased"], default="linear",
                   help="linear CKA (default), RBF CKA (bandwidth: the median distance), or debiased linear CKA "
                        "(the unbiased HSIC estimator: no upward bias when a layer has more features than images)")
    _data(c)
    c.set_defaults(func=cmd_cka)

    t = a.add_parser("top-patches", help="the dataset crops that excite one channel of one layer most",
                     allow_abbrev=False, description=TOP_DESCRIPTION)
    _model(t)
    t.add_argument("--layer", type=int, required=True, help="feature_info index (negative counts from the end)")
    t.add_argument("--channel", type=int, required=True)
    t.add_argument("--k", type=int, default=16,
                   help="how many patches (default 16): at most one per image, its strongest response, so at most "
                        "--n (count_note in the JSON, and a last line, say when fewer come back)")
    t.add_argument("--out", default=None, help="also write the patches as one PNG mosaic")
    _data(t)
    t.set_defaults(func=cmd_top)

    f = a.add_parser("filters", help="per-layer filter statistics (spectrum, orientation, PCA, sparsity), "
                                     "optionally beside a random twin", allow_abbrev=False)
    _model(f)
    f.add_argument("--compare-random", action="store_true", help="also the same architecture with random weights")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=cmd_filters)

    fo = a.add_parser("fold", help="LC models: fold the learned 1x1 mixing into effective spatial filters",
                      allow_abbrev=False)
    _model(fo)
    fo.add_argument("--json", action="store_true")
    fo.set_defaults(func=cmd_fold)


TOP_DESCRIPTION = (
    "The dataset crops that excite one channel of one layer most. Each crop is its unit's receptive field as "
    "measured (the input pixels its gradient reaches), clipped to the image. receptive_field (JSON; and the "
    "'receptive field' line): the (height, width) in input pixels of the field one unit sees, as the layers make it, "
    "not clipped to the image: deeper layers of a small input see more than the image (resnet20's layer3.2 sees "
    "81x81 pixels of a 32x32 input), which receptive_field_text then says ('81x81 px, more than the 32x32 image'); "
    "receptive_field_exceeds_input: true there. Where that size cannot be measured (a model that takes no larger "
    "input), receptive_field is a lower bound, receptive_field_lower_bound is true and the text says 'at least'.")


def _model(p) -> None:
    """The shared model flags (``app.cliargs.add_model_arguments``: --backbone --weights --model --options --init
    --model-seed --input-size --mean --std --input-preset), read as every other command reads them."""
    from app.cliargs import add_model_arguments

    add_model_arguments(p)


def _data(p) -> None:
    from app.cliargs import add_data_root

    p.add_argument("--dataset", required=True, help="digits, mnist, imagefolder:PATH, ...")
    p.add_argument("--split", choices=["train", "test"], default="test")
    p.add_argument("--n", type=int, default=500, help="images (a seeded subset; default 500)")
    add_data_root(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _spec(backbone, weights, options, seed, args=None):
    """The model as the other commands read it (``app.models.spec_args.spec_from_args``): the weights' JSON sidecar,
    where there is one, gives the architecture's options and the input it was trained on (the shipped checkpoints
    need it: a one-channel model is not the registry's three-channel default). ``args``: the shared model flags
    (``_model``), read as they are (then the other arguments are not used)."""
    from types import SimpleNamespace

    from app.models.spec_args import spec_from_args

    import dataclasses

    if args is None:
        args = SimpleNamespace(backbone=backbone, weights=weights, options=options, model_seed=seed)
    spec = spec_from_args(args)
    if spec.weights or spec.backbone == "external":
        return spec
    # no weights: random, or (scattering) designed filters that no training changed
    return dataclasses.replace(spec, label=f"{spec.backbone} ({spec.weight_state})")


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
    from app.analysis.cka import cka_matrix, cka_text
    from app.analysis.jobs import same_architecture, with_seed_reference
    from app.tasks import cli_progress, run_to_end

    from app.analysis.jobs import InsightError, check_cka_images
    from app.errors import UserError

    try:
        check_cka_images(args.n)
    except InsightError as exc:
        raise UserError(f"--n {args.n}: {exc}") from None
    ds = _dataset(args)
    try:  # the images used: a split smaller than --n is used whole
        check_cka_images(len(ds), f"the {args.split} split of {args.dataset}", args.n)
    except InsightError as exc:
        raise UserError(str(exc)) from None
    seed_a = 0 if args.seed_a is None else int(args.seed_a)
    sa = _spec(args.a, args.weights_a, args.options_a, seed_a)
    twin_note = ""
    if args.b == "twin":  # the same architecture and input (declared, a sidecar's, the known weights') ...
        import dataclasses

        from app.analysis.jobs import random_twin

        if args.weights_b or args.options_b:
            raise UserError("--b twin is model a's architecture with random weights: no --weights-b or --options-b")
        # ... at another seed than a's by default: a random model a's twin at a's own seed is a itself (every
        # value on the diagonal 1.000)
        seed_b = seed_a + 1 if args.seed_b is None else int(args.seed_b)
        twin = random_twin(sa)
        sb = dataclasses.replace(twin, seed=seed_b, label=f"{twin.label[:-1]}, seed {seed_b})")
        if seed_b == seed_a and not sa.weights and not sa.banks and sa.init == sb.init:
            twin_note = (f"model a is random at seed {seed_a} and its twin is drawn at the same seed: the two are one "
                         f"model (every value on the diagonal is 1); leave out --seed-b, or give another")
    else:
        sb = _spec(args.b, args.weights_b, args.options_b, 0 if args.seed_b is None else int(args.seed_b))
    ma, ia = _built(sa, ds)
    mb, ib = _built(sb, ds)
    res = run_to_end(cka_matrix(ma, mb, ds.images, ia, ib, kernel=args.kernel, label_a=sa.label, label_b=sb.label),
                     cli_progress("cka: "))
    same = same_architecture(sa, sb)
    input_note = ""
    if same:
        from app.analysis.jobs import with_input_note

        res = run_to_end(with_seed_reference(res, sa, ds, args.kernel), cli_progress("cka reference: "))
        res = with_input_note(res, ia, ib, "" if args.b == "twin" else "--b twin gives model a's random twin with "
                                                                       "a's input")
        input_note = res.input_note
    sys.stderr.write("\n")
    if args.json:
        d = res.to_dict()
        # what the text prints too: the input each side saw, and the notes on them
        d["input_a"], d["input_b"] = ia.to_dict(), ib.to_dict()
        d["input_note"] = input_note or None
        d["twin_note"] = twin_note or None
        print(jsonout.dumps(d))
    else:
        w = max(len(n) for n in res.layers_a)
        print(f"{args.kernel} CKA, rows: {sa.label}, columns: {sb.label}, {res.n_images} images")
        print(f"input of the rows: {ia.describe()}\ninput of the columns: {ib.describe()}")
        if input_note:
            print(f"note: {input_note}")
        if twin_note:
            print(f"note: {twin_note}")
        print(" " * w + "  " + " ".join(f"{n[:8]:>8}" for n in res.layers_b))
        for n, row in zip(res.layers_a, res.matrix):
            print(f"{n:<{w}}  " + " ".join(f"{cka_text(v, 3):>8}" for v in row))
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
    spec = _spec(None, None, None, None, args)
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
    count_note = (f"{len(patches)} patch{'' if len(patches) == 1 else 'es'}, not the {args.k} asked (--k): each "
                  f"image gives at most one, its strongest response, and the sample has {len(ds)} images (--n "
                  f"{args.n}); a larger --n gives more" if len(patches) < args.k else "")
    hw = patches[0].input_size if patches else None
    own = sorted({tuple(int(v) for v in ds.images[p.index].shape[:2]) for p in patches})
    resized = hw is not None and any(tuple(o) != tuple(hw) for o in own)
    size = f"{hw[0]}x{hw[1]}" if hw else "?"
    pixels = (f"box: (top, left, bottom, right), end-exclusive, in the model's {size} input pixels"
              + (f" (each image resized from its own {', '.join(f'{h}x{w}' for h, w in own)}); image_box: the same "
                 f"box in the image's own pixels" if resized else " (the images' own pixels: they were not resized)")
              + "; position: (row, col) in the layer's map")
    # the field as the layers make it (more than the input where deep layers see past its borders), the same
    # quantity as the window's title; the crops are its clipped boxes (TOP_DESCRIPTION)
    out = {"layer": model.feature_info[layer].name, "channel": args.channel, "receptive_field": list(rf.size),
           "receptive_field_text": rf.size_text(), "receptive_field_exceeds_input": bool(rf.exceeds()),
           "receptive_field_lower_bound": bool(any(rf.lower_bound)),
           "input_size": list(hw) if hw else None, "box_pixels": pixels,
           "tied": patches[-1].tied if patches and patches[-1].tied > len(patches) else 0, "note": note or None,
           "count_note": count_note or None,
           # "index": the image's place in the dataset split (not in the seeded sample of --n images)
           "patches": [{"index": int(where[p.index]), "value": p.value, "position": [p.y, p.x], "box": list(p.box),
                        "image_box": list(p.image_box) if p.image_box is not None else None,
                        "label": ds.classes[p.label] if 0 <= p.label < len(ds.classes) else p.label}
                       for p in patches]}
    print(jsonout.dumps(out) if args.json else "\n".join(
        [f"{i + 1:>3}. image {p['index']:>6} ({p['label']}): {p['value']:.4g} at {p['position']}, box {p['box']}"
         + (f" (image pixels {p['image_box']})" if resized else "")
         for i, p in enumerate(out["patches"])] + [f"receptive field of {out['layer']}: {rf.size_text()}.",
                                                   pixels + "."] + ([note + "."] if note else [])
        + ([f"note: {count_note}."] if count_note else [])))
    if args.out:
        sys.stderr.write(f"wrote {args.out}\n")
    return 0


def cmd_filters(args) -> int:
    from app.analysis.filters import model_stats, skipped_note
    from app.analysis.jobs import no_filters_message, random_twin
    from app.errors import UserError

    spec = _spec(None, None, None, None, args)
    if args.compare_random and not (spec.weights or spec.banks
                                    or (spec.backbone == "external" and spec.init == "checkpoint")):
        raise UserError("--compare-random sets trained weights beside their random twin: give --weights (without "
                        "them the model is already random)")
    model, _ = _built(spec, None)  # refuses the patches backbone (placeholder filters) as cka and top-patches do
    skipped: list[str] = []
    first = model_stats(model, skipped)
    if not first:
        raise UserError(no_filters_message(spec, skipped))
    rows = {spec.label: [s.to_dict() for s in first]}
    trained = spec.weight_state == "trained"
    if args.compare_random:
        twin = random_twin(spec)
        name = twin.label if spec.backbone == "external" else f"{spec.backbone} (random)"
        rows[name] = [s.to_dict() for s in model_stats(_built(twin, None)[0])]
    note = skipped_note(skipped)
    if args.json:  # (each layer's "trainable": false where its architecture keeps it frozen: not trained weights)
        print(jsonout.dumps(rows))
        if note:
            sys.stderr.write(f"note: {note}\n")
        return 0
    for label, layers in rows.items():
        print(label)
        for s in layers:
            frozen = "  (frozen: never trained)" if label == spec.label and trained and s["trainable"] is False \
                else ""
            print(f"  {s['layer']:<24} {'x'.join(map(str, s['shape'])):<14} PCA top-1 {s['pca_explained'][0]:.2f}  "
                  f"coherence {s['coherence_mean']:.2f}  sparsity {s['sparsity']:.2f}  "
                  f"energy at DC {s['spectrum'][0]:.3f}{frozen}")
    if note:
        print(f"note: {note}")
    return 0


def cmd_fold(args) -> int:
    import numpy as np

    from app.analysis.fold import lc_layers
    from app.errors import UserError
    from app.models.build import build

    spec = _spec(None, None, None, None, args)
    layers = lc_layers(build(spec, device="cpu"))
    if not layers:
        raise UserError(f"{spec.backbone} has no LC blocks (a frozen k x k conv followed by a learned 1x1): try "
                        f"lc-resnet20")
    if args.json:
        print(jsonout.dumps([{"layer": f.name, "effective_shape": list(f.effective.shape),
                              "basis_shape": list(f.basis.shape), "basis_learned": f.learned_basis,
                              "effective_norm_mean":  # the mean of the norms
                              float(np.linalg.norm(f.effective.reshape(f.effective.shape[0], -1), axis=1).mean())}
                             for f in layers]))
    else:
        for f in layers:
            kind = "learned" if f.learned_basis else "frozen random"
            print(f"{f.name:<24} basis ({kind}) {f.basis.shape} -> effective {f.effective.shape}")
    return 0
