"""``main.py bench svm``: our linear SVM head vs scikit-learn's LinearSVC on the same cached features;
``main.py bench extract``: the probe's extraction against a bare batched forward (``app.probe.bench_extract``)."""

from __future__ import annotations

import json
import math

from app import jsonout
from app.errors import UserError


def register(sub, bench) -> None:
    from app.cliargs import seed_value

    b = bench.add_parser("svm", help="our linear SVM head vs scikit-learn's LinearSVC on the same features",
                         description="Extract features once (cached), train our one-vs-rest squared-hinge SVM and "
                                     "scikit-learn's LinearSVC (same objective, same C) and print times and top-1.")
    b.add_argument("--quick", action="store_true", help="tiny settings (digits, few features) for tests")
    b.add_argument("--dataset", default=None, help="dataset (default: mnist, digits where MNIST is absent)")
    b.add_argument("--data-root", "--root", dest="data_root", default=None, metavar="DIR",
                   help="folder holding the datasets (default: the app's data folder)")
    b.add_argument("--backbone", default="rdsn", help="backbone registry name (default rdsn)")
    b.add_argument("--options", default=None, help="backbone options as JSON (default: the backbone's defaults)")
    b.add_argument("--layer", type=int, default=None, help="feature_info index (default: the probe's default for the backbone)")
    b.add_argument("--pooling", default="default", help="pooling (default: the probe's for grey images, rdsn grid3; not its colour-image "
                        "settings, avgmaxgrid3 with relu and whitening, even on colour data)")
    b.add_argument("--train-limit", type=int, default=10000,
                   help="training images, a seeded subset (default 10000; at most 600 with --quick)")
    b.add_argument("--test-limit", type=int, default=2000,
                   help="test images, a seeded subset (default 2000; at most 200 with --quick)")
    b.add_argument("--C", type=float, default=None,
                   help="LinearSVC's C (both heads; default: the value chosen on validation, "
                        "app.probe.bench_svm.DEFAULT_C)")
    b.add_argument("--tol", type=float, default=None,
                   help="ours: relative gradient-norm tolerance (default 1e-5: liblinear's primal rule for tol=1e-4)")
    b.add_argument("--select-C", default=None, metavar="C1,C2,...",
                   help="choose C from these values on a validation split of the training images (ours), then compare")
    b.add_argument("--val", type=int, default=2000, help="validation images for --select-C (default 2000)")
    b.add_argument("--epochs", type=int, default=1000, help="our L-BFGS iterations (at most)")
    b.add_argument("--dual", default="True", choices=["auto", "True", "False"],
                   help="LinearSVC's dual (default True: dual coordinate descent, its fastest solver here; auto picks "
                        "the primal Newton solver when n_train >= n_features, > 14 minutes on the default features)")
    b.add_argument("--sklearn-tol", type=float, default=1e-4, help="LinearSVC's tol (its default)")
    b.add_argument("--sklearn-max-iter", type=int, default=10000, help="LinearSVC's max_iter (default 10000)")
    b.add_argument("--seed", type=seed_value, default=0, help="the images' subset seed (and our head's)")
    b.add_argument("--json", action="store_true", help="print one JSON object (else a one-line summary)")
    b.set_defaults(func=cmd_bench_svm)

    e = bench.add_parser("extract", help="the probe's feature extraction vs a bare batched forward of the same filters",
                         description="Time the probe's extraction (fresh cache key, images -> features) and a plain "
                                     "batched forward of the same model to the same layer + the same pooling, "
                                     "alternating, each in its own process (peak memory), and print both images/s "
                                     "and their ratio (ours/bare).")
    e.add_argument("--quick", action="store_true", help=f"tiny settings for tests (digits, at most 300 images, "
                                                        f"rdsn: '{{\"k\": 32}}')")
    e.add_argument("--dataset", default=None, help="dataset (default: mnist, digits where MNIST is absent)")
    e.add_argument("--data-root", "--root", dest="data_root", default=None, metavar="DIR",
                   help="folder holding the datasets (default: the app's data folder)")
    e.add_argument("--backbone", default="rdsn", help="backbone registry name (default rdsn)")
    e.add_argument("--options", default=None, help="backbone options as JSON (default: the backbone's defaults)")
    e.add_argument("--layer", type=int, default=None, help="feature_info index (default: the probe's default for the backbone)")
    e.add_argument("--pooling", default="default", help="pooling (default: the probe's for grey images, rdsn grid3; not its colour-image "
                        "settings, avgmaxgrid3 with relu and whitening, even on colour data)")
    e.add_argument("--images", type=int, default=10000,
                   help="training images (default 10000; at most 300 with --quick)")
    e.add_argument("--rounds", type=int, default=2, help="measurements of each side, alternating (default 2)")
    e.add_argument("--timeout", type=float, default=600, help="seconds allowed to one measurement (default 600)")
    e.add_argument("--seed", type=seed_value, default=0, help="the images' subset seed")
    e.add_argument("--authors", default=None, metavar="RANDOM_HP_PY",
                   help="also time Xue & Roshan's published model code: the path of their random_hp.py "
                        "(github.com/xyzacademic/RandomDepthwiseCNN, mnist/random_hp.py); needs settings their network "
                        "computes, e.g. --options '{\"k\": 1024, \"blocks\": 1, \"stem_kernel\": 5, "
                        "\"kernel_size\": 5, \"stem_padding\": 1}' --layer 1 --pooling gap")
    e.add_argument("--authors-batch", type=int, default=None, metavar="N",
                   help="images per forward of the authors' network (default 8, as their mnist/run_job.sh)")
    e.add_argument("--json", action="store_true", help="print one JSON object (else a one-line summary)")
    e.set_defaults(func=cmd_bench_extract)


def cmd_bench_svm(args) -> int:
    from app.probe.bench import check_feature_args, check_positive, ms
    from app.probe.bench_svm import DEFAULT_C, bench_svm

    if args.dual != "auto":
        args.dual = args.dual == "True"
    args.C_given = args.C is not None  # a C given with --C is said so, not labelled a default (bench_svm)
    if args.C is None:
        args.C = DEFAULT_C
    if not (args.C > 0 and math.isfinite(args.C)):  # inf: a ZeroDivisionError after the extraction
        raise UserError(f"bench svm: --C must be a positive number, got {args.C:g}")
    if args.select_C is not None:
        try:
            args.select_C = [float(v) for v in args.select_C.split(",") if v.strip()]
        except ValueError:
            raise UserError(f"bench svm: --select-C must be numbers separated by commas, got {args.select_C!r}")
        if not args.select_C or not all(v > 0 and math.isfinite(v) for v in args.select_C):
            raise UserError("bench svm: --select-C needs positive numbers")
        check_positive("bench svm: --val", args.val, "at least 1 (validation images for --select-C)")
    if args.tol is not None and not (args.tol > 0 and math.isfinite(args.tol)):
        raise UserError(f"bench svm: --tol must be a positive number, got {args.tol:g}")
    if not (args.sklearn_tol > 0 and math.isfinite(args.sklearn_tol)):
        raise UserError(f"bench svm: --sklearn-tol must be a positive number, got {args.sklearn_tol:g}")
    check_positive("bench svm: --epochs", args.epochs, "at least 1 (our L-BFGS iterations)")
    check_positive("bench svm: --sklearn-max-iter", args.sklearn_max_iter, "at least 1")
    check_feature_args(args, default_pooling=True)  # limits, backbone, --options, --pooling: before any work
    out = bench_svm(args)
    if args.json:
        print(jsonout.dumps(out))
    else:
        print(f"ours {ms(out['ours_seconds'])} top-1 {100 * out['ours_top1']:.2f}% ({out['iterations']} iterations)"
              f"   sklearn {ms(out['sklearn_seconds'])} top-1 {100 * out['sklearn_top1']:.2f}%   "
              f"speed-up {out['speedup']:.2f}x   objective ours/sklearn {out['ours_objective']:.6g} / "
              f"{out['sklearn_objective']:.6g}")
        print(f"ours on {out['settings']['device']}; load average {out['settings']['load_average'][0]:.2f} at the "
              f"end")
        if out["convergence_note"]:
            print(f"note: {out['convergence_note']}")
    return 0


def cmd_bench_extract(args) -> int:
    from app.probe.bench_extract import bench_extract

    out = bench_extract(args)
    if args.json:
        print(jsonout.dumps(out))
    else:
        st = out["settings"]
        print(f"ours {out['ours_img_s']:.1f} img/s (peak {out['ours_peak_rss_mb']:.0f} MB)   bare "
              f"{out['bare_img_s']:.1f} img/s (peak {out['bare_peak_rss_mb']:.0f} MB)   ours/bare {out['ratio']:.3f}   "
              f"features match: {out['features_match']}   ({st['images']} {st['dataset']} images, {st['backbone']} "
              f"{json.dumps(st['options'])}, layer {st['layer']}, {st['pooling']}, batch {st['batch']}, "
              f"{st['threads']} threads, load {st['load_average_before'][0]:.1f})")
        if "authors_img_s" in out:
            print(f"authors' code {out['authors_img_s']:.1f} img/s (peak {out['authors_peak_rss_mb']:.0f} MB)   "
                  f"ours/authors {out['ratio_vs_authors']:.3f}   features match: {out['authors_features_match']}")
    return 0
