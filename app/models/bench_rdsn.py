"""``main.py bench rdsn``: the rdsn backbone's pooled-feature extraction on random images (CPU), its speed and peak
memory (the k = 100,000 run of Xue & Roshan fits in memory by its channel chunks). On a device:
``scripts/rdsn_throughput.py``."""

from __future__ import annotations


def check_bench_rdsn(args) -> None:
    """``bench rdsn``'s arguments, checked before the model is built (UserError)."""
    from app.errors import UserError

    for name, value, least in (("--k", args.k, 1), ("--blocks", args.blocks, 0), ("--grid", args.grid, 1),
                               ("--images", args.images, 1), ("--batch", args.batch, 1),
                               ("--chunk-mb", args.chunk_mb, 0)):
        if value < least:
            raise UserError(f"bench rdsn: {name} must be at least {least}, got {value}")
    if args.size < 2 ** args.blocks:
        raise UserError(f"bench rdsn: --size must be at least 2^blocks = {2 ** args.blocks} px (each of the "
                        f"{args.blocks} blocks halves the maps), got {args.size}")


def cmd_bench_rdsn(args) -> int:
    import os
    import resource
    import time

    import torch

    from app.models.registry import create

    check_bench_rdsn(args)
    torch.manual_seed(0)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    model = create("rdsn", k=args.k, blocks=args.blocks, in_channels=3, pool_grid=args.grid,
                   chunk_bytes=args.chunk_mb * 2**20)
    x = torch.randn(args.images, 3, args.size, args.size)
    with torch.inference_mode():  # untimed warm-up on two images: the first call's one-time set-up is nobody's time
        model.extract_pooled(x[:min(2, args.batch)])
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
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
          f"peak RSS {rss:.0f} MB (before the model: {rss0:.0f} MB); after an untimed 2-image warm-up; load average "
          f"before {load_before:.2f}")
    return 0
