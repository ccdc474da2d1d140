"""``python main.py kernels ...``: generate, list kinds, show a bank file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _param(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    try:
        val: object = json.loads(v)
    except json.JSONDecodeError:
        val = v
    return k.strip().replace("-", "_"), val


# ``bench kernels-preview --max-side``'s least value: the side of the largest kernel it times (15) and more
MIN_PREVIEW_SIDE = 16


def register(sub, bench) -> None:
    from app.cliargs import seed_value

    p = sub.add_parser("kernels", help="kernel banks: generate, list kinds, show")
    ks = p.add_subparsers(dest="kernels_command", metavar="ACTION", required=True)

    g = ks.add_parser("generate", help="write a generated bank (.json, .npz or .npy by extension)")
    g.add_argument("--kind", required=True, help="generator (see: kernels kinds)")
    g.add_argument("--count", type=int, required=True, help="number of kernels (output channels)")
    g.add_argument("--size", type=int, required=True, help="kernel side k (1..15)")
    g.add_argument("--in-channels", type=int, default=1, help="input channels (1 grey, 3 RGB; default 1)")
    g.add_argument("--seed", type=seed_value, default=0, help="random seed (default 0): same seed, same bytes")
    g.add_argument("--zero-mean", action="store_true",
                   help="subtract each kernel's mean (over all its weights, every channel together: no response to a "
                        "flat grey image; a flat colour can still respond unless each channel sums to 0); a random kernel "
                        "whose weights came out all equal (it would be all zero) is drawn again")
    g.add_argument("--unit-norm", action="store_true", help="scale each kernel to L2 norm 1")
    g.add_argument("--param", "-p", action="append", type=_param, default=[], metavar="NAME=VALUE",
                   help="a parameter of the kind, e.g. -p std=0.05 or -p dataset=mnist (repeatable)")
    g.add_argument("--name", default=None, help="bank name stored in the file")
    g.add_argument("--out", required=True,
                   help="output file: .json, .npz or .npy, in a folder that exists; an existing file is refused "
                        "unless --force")
    g.add_argument("--force", action="store_true", help="replace an existing --out file")
    g.set_defaults(func=_generate)

    k = ks.add_parser("kinds", help="list the generator kinds with their parameters")
    k.set_defaults(func=_kinds)

    s = ks.add_parser("show", help="print a bank file's shape, frozen count and statistics")
    s.add_argument("file")
    s.set_defaults(func=_show)

    b = bench.add_parser("kernels-preview", help="time the workbench's live preview (responses + FFT mosaics)")
    b.add_argument("--repeat", type=int, default=5,
                   help="timed runs per configuration, at least 1 (median reported; default 5)")
    b.add_argument("--max-side", type=int, default=None,
                   help=f"preview image size, at least {MIN_PREVIEW_SIDE} px (default: as the GUI, 256 px up to 32 "
                        f"kernels, less for bigger banks; never more than the image's own size)")
    b.set_defaults(func=_bench_preview)


def _generate(args) -> int:
    from app.errors import UserError
    from app.kernels import io
    from app.kernels.bank import KernelBankError
    from app.kernels.generators import generate

    from app.cliargs import out_file

    out = Path(args.out).expanduser()
    if out.suffix.lower() not in io.EXTENSIONS:
        raise UserError(f"--out {args.out}: use a .json, .npz or .npy file name")
    out_file(args.out)  # its folder exists and takes a file, before the bank is generated
    if out.exists() and not args.force:  # train --out refuses to overwrite too: a bank may be the only copy
        raise UserError(f"--out {args.out}: the file already exists; give --force to replace it, or another --out")
    try:
        bank = generate(args.kind, args.count, args.size, args.in_channels, args.seed, args.zero_mean,
                        args.unit_norm, name=args.name, **dict(args.param))
        io.save(bank, out)
    except (KernelBankError, io.KernelFileError) as exc:
        raise UserError(str(exc)) from None
    f, t = bank.parameter_counts()
    print(f"wrote {out}: {bank.out_channels} x {bank.in_channels} x {bank.size} x {bank.size} ({args.kind}, "
          f"seed {args.seed}; {t:,} parameters)")
    return 0


def _kinds(args) -> int:
    from app.kernels.generators import CHANNELS_NOTE, kinds

    width = max(len(k.name) for k in kinds())
    for k in kinds():
        print(f"{k.name:<{width}}  {k.description}")
        for p in k.params:
            print(f"{'':<{width}}    -p {p.name}={p.default}: {p.help}")
    print(f"\nnote: {CHANNELS_NOTE}")
    return 0


def _show(args) -> int:
    from app.errors import UserError
    from app.kernels import io

    try:
        bank = io.load(args.file)
    except io.KernelFileError as exc:
        raise UserError(str(exc)) from None
    print(io.describe(bank))
    return 0


def _bench_preview(args) -> int:
    import os
    import statistics
    import time

    import torch

    from app.errors import UserError
    from app.kernels import ops
    from app.kernels.generators import generate

    if args.repeat < 1:
        raise UserError(f"--repeat must be at least 1 (timed runs per configuration), got {args.repeat}")
    if args.max_side is not None and args.max_side < MIN_PREVIEW_SIDE:
        raise UserError(f"--max-side must be at least {MIN_PREVIEW_SIDE} px (the largest kernel timed is 15 px), "
                        f"got {args.max_side}")
    image = ops.sample_image("china")
    ops.compute_views(generate("gabor", 16, 11, 3), image, args.max_side)  # untimed warm-up: first-use costs
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"live preview on china.jpg; torch threads {torch.get_num_threads()}; median of {args.repeat} runs after an "
          f"untimed warm-up; load average {load:.2f}")
    print(f"{'bank (out x in x k x k)':<26}{'image px':>9}{'preview ms':>12}{'generate ms':>13}")
    for n, c, k in ((16, 3, 11), (64, 3, 7), (64, 3, 15), (128, 1, 5), (256, 3, 7)):
        gen_t, prev_t = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            bank = generate("gabor", n, k, c)
            gen_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            views = ops.compute_views(bank, image, args.max_side)
            prev_t.append(time.perf_counter() - t0)
        side = max(views.image.shape[:2])  # the side used (--max-side above the image's own size: the image's)
        print(f"{f'{n} x {c} x {k} x {k}':<26}{side:>9}{1000 * statistics.median(prev_t):>12.1f}"
              f"{1000 * statistics.median(gen_t):>13.1f}")
    return 0
