#!/usr/bin/env python3
"""rdsn feature extraction throughput on a device: ``bench rdsn``'s loop (which computes on the CPU) with --device.

    .venv/bin/python scripts/rdsn_throughput.py --device cuda --k 100000 --images 2048 --batch 256 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--k", type=int, default=100_000)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--grid", type=int, default=1)
    ap.add_argument("--images", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--chunk-mb", type=int, default=256)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import torch

    from app import device as devmod
    from app.models import create

    devmod.set_override(args.device)
    dev = devmod.pick()
    torch.manual_seed(0)
    model = create("rdsn", k=args.k, blocks=args.blocks, in_channels=3, pool_grid=args.grid,
                   chunk_bytes=args.chunk_mb * 2**20).to(dev).eval()
    x = torch.randn(args.images, 3, args.size, args.size, device=dev)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    with torch.inference_mode():
        model.extract_pooled(x[: min(args.batch, 8)])  # warm-up: kernels, allocator
        sync()
        t = time.perf_counter()
        n_feat = 0
        for s in range(0, args.images, args.batch):
            n_feat = model.extract_pooled(x[s:s + args.batch]).shape[1]
        sync()
        dt = time.perf_counter() - t
    res = {"device": devmod.describe(dev).name, "k": args.k, "blocks": args.blocks, "grid": args.grid,
           "images": args.images, "batch": args.batch, "size": args.size, "features": int(n_feat),
           "seconds": round(dt, 3), "images_per_s": round(args.images / dt, 1),
           "peak_device_mb": round(torch.cuda.max_memory_allocated(dev) / 2**20) if dev.type == "cuda" else None}
    print(json.dumps(res) if args.json else
          f"rdsn k={args.k}: {args.images} images in {dt:.2f} s ({res['images_per_s']} images/s) on {res['device']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
