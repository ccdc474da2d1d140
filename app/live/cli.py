"""Headless commands of the Live view: ``python main.py bench live ...``."""

from __future__ import annotations

import json

from app import jsonout


PRECISION_CHOICES = ("auto", "full", "fast")  # app.live.config.PRECISIONS (which imports torch: not at start-up)


def add_precision_argument(p, what: str = "", also: str = "") -> None:
    """``--precision``, as the Live view's Precision, for ``bench live`` and ``bench load``."""
    p.add_argument("--precision", choices=list(PRECISION_CHOICES), default="auto",
                   help=f"{what}the forward's arithmetic, as the Live view's Precision (auto: float16 on CUDA, "
                   "float32 on the CPU; full: float32; fast: float16 on CUDA, bfloat16 on a CPU with native "
                   f"bfloat16){also}")


def register(sub, bench) -> None:
    p = bench.add_parser(
        "live",
        help="the live pipeline (source -> model -> mosaic) against the bare forward pass",
        description="Measure the whole Live pipeline (synthetic source -> pre-processing -> forward up to the tapped "
        "layer -> per-map normalisation, tiling, colour map -> uint8 mosaic on the host) against the same model's "
        "bare forward pass on the same device and input. Prints app_fps, bare_fps, ratio (app/bare) and device.",
    )
    p.add_argument("--backbone", default=None,  # app.live.bench.DEFAULT_BACKBONE (imports torch: not at start-up)
                   help="registry name (default: the default Live pane's, resnet20, random weights)")
    p.add_argument("--options", default=None,
                   help='backbone options as JSON, e.g. \'{"k": 64}\' (default: the Live view\'s own)')
    p.add_argument("--weights", default=None,
                   help="a checkpoint to load (default: random weights); its JSON sidecar gives the architecture and "
                   "input, as in every other command (then --backbone may be left out)")
    p.add_argument("--size", default="240x320", help="input HxW (default 240x320; e.g. 720x1280, 1080x1920)")
    p.add_argument("--frame", default=None,
                   help="source frame HxW (default: the input size, no resize; e.g. 480x640 adds the pipeline's "
                   "one resize to the input size, as a camera frame gets)")
    p.add_argument("--frames", type=int, default=100, help="frames measured for each of app and bare (default 100)")
    p.add_argument("--layer", type=int, default=None, help="layer index to tap (default: the pane's default)")
    p.add_argument("--device", dest="bench_device", default=None,
                   help="cpu, cuda, cuda:N, mps (default: the app's choice, see the global --device)")
    p.add_argument("--channels-last", choices=["auto", "on", "off"], default="auto",
                   help="memory format (auto: on for CUDA, measured on CPU)")
    p.add_argument("--no-amp", action="store_true", help="no fp16 autocast on CUDA")
    add_precision_argument(p, also="; the bare forward runs in the same")
    p.add_argument("--pipeline", choices=["auto", "on", "off"], default="auto",
                   help="frames in flight (auto: one on CUDA, where the next frame's upload and forward overlap the "
                   "last one's read-back, as the Live view runs; off: each frame waited for in turn)")
    p.add_argument("--fold", choices=["on", "off"], default="on",
                   help="fold the model's batch norms into the convolutions before them, as the Live view does (on, "
                   "the default), or run the model as built (off); the bare forward runs the same model either way")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_bench)


def _bench(args) -> int:
    from app import device as devmod
    from app.errors import UserError
    from app.live.bench import DEFAULT_BACKBONE, parse_size, run_bench

    try:
        size = parse_size(args.size)
        frame = parse_size(args.frame, "--frame") if args.frame else None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.frames < 1:
        raise UserError("--frames must be at least 1")
    options = None
    if args.options:
        try:
            options = json.loads(args.options)
        except ValueError as exc:
            raise UserError(f"--options is not valid JSON: {exc}") from None
        if not isinstance(options, dict):
            raise UserError("--options must be a JSON object")
    dev = None
    if args.bench_device:
        try:
            devmod.set_override(args.bench_device)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        dev = str(devmod.pick())
    try:
        # with --weights and no --backbone the checkpoint's sidecar names the backbone (as in every other command)
        backbone = args.backbone or (None if args.weights else DEFAULT_BACKBONE)
        res = run_bench(backbone, size, args.frames, args.layer, options, dev, args.channels_last,
                        False if args.no_amp else None, weights=args.weights, frame=frame,
                        pipeline=args.pipeline, fold=args.fold == "on", precision=args.precision)
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(str(exc).strip("'\"")) from None
    if args.json:
        print(jsonout.dumps(res))
    else:
        load = res.get("load_average_before")
        print(f"live pipeline, {res['backbone']} @ {res['size']}, layer {res['layer']}, {res['device']}"
              + (f"; load average before {load[0]:.2f}" if load else ""))
        print(f"  app  {res['app_fps']:8.2f} FPS  (median frame {res['app_ms_median']} ms: source "
              f"{res['source_ms_median']} ms, queueing {res['submit_ms_median']} ms, waiting "
              f"{res['collect_ms_median']} ms; {'one frame in flight' if res['pipelined'] else 'serial'})")
        print(f"  bare {res['bare_fps']:8.2f} FPS  (median frame {res['bare_ms_median']} ms)")
        folded = res.get("batchnorm_folded") or {}
        print(f"  ratio app/bare {res['ratio']:.3f} (medians: {res['ratio_median']:.3f}); channels_last "
              f"{res['channels_last']}, {res['precision']}; batch norms folded "
              f"{folded.get('folded', 0)} of {folded.get('batchnorms', 0)}")
    return 0
