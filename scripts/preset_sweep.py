"""Validation-only exploration for the probe presets (issue #13; log: docs/benchmarks/presets-selection.md).

One extraction pass of an ``rdsn`` or ``patches`` backbone; several (layer, pooling) variants pooled from the same
maps; each scored by the probe's own ``select_and_fit`` (logistic head, the weight decay selected from GRID) on the
probe's own seeded validation split. The test split is never loaded. Same resolution (``app.probe.resolve``), split
(``train_splits``), input spec, stem whitening (colour rdsn) and fit (``fit_backbone``, training split only) as
``python main.py probe``: with dtype float32 a variant's validation figure equals the probe's for the same settings
(checked: rdsn k=64 on MNIST 1,500 / 500 and patches k=32 on CIFAR 600 / 200, both identical).

usage: PYTHONPATH=. python scripts/preset_sweep.py DATASET ROOT|- TRAIN_LIMIT VAL 'OPTIONS_JSON' \
           'LAYER:POOLING,...' 'GRID' [float16|float32] [rdsn|patches]
(patches: the layer is ignored, the variants pool the encoder's maps.)
"""
import json
import sys
import time

import numpy as np
import torch

from app.data.core import load
from app.models.inputs import to_tensor
from app.models.spec import ModelSpec
from app.probe import extract as ex
from app.probe.config import ProbeConfig
from app.probe.resolve import resolve
from app.probe.run import train_splits
from app.probe.selection import select_and_fit
from app.tasks import run_to_end

dataset, root, limit, val, opts, variants, grid = sys.argv[1:8]
dtype = np.dtype(sys.argv[8] if len(sys.argv) > 8 else "float16")
backbone = sys.argv[9] if len(sys.argv) > 9 else "rdsn"
torch.set_num_threads(2)
root = None if root == "-" else root
opts = json.loads(opts)
variants = [(int(v.split(":")[0]), v.split(":")[1]) for v in variants.split(",")]
grid = tuple(float(g) for g in grid.split(","))
t0 = time.time()
train_full = load(dataset, "train", root)
config = ProbeConfig(model=ModelSpec.make(backbone, options=opts, seed=0), dataset=dataset, data_root=root,
                     train_limit=int(limit), val=int(val), grid=grid)
record, model = resolve(config, train_full)
train, valds = train_splits(record, train_full)
print(f"# {dataset} train {len(train)} val {len(valds)} opts {dict(record.model.options)} whiten {record.whiten}",
      flush=True)
if record.whiten is not None:
    ex.whiten_stem(model, train.images, record.input, float(record.whiten), seed=record.seeds.split)
if getattr(model, "needs_fit", False):
    tf = time.time()
    fit = run_to_end(ex.fit_backbone(model, train, record.input, record.seeds.model))
    print(f"# fit {time.time() - tf:.0f} s {fit}", flush=True)
model.eval()
maxl = max(v[0] for v in variants)


def extract_all(images):
    n = len(images)
    outs = {}
    B = 256 if backbone == "rdsn" else 32
    with torch.inference_mode():
        for s in range(0, n, B):
            x = to_tensor(images[s:s + B], record.input, "cpu")
            parts = {v: [] for v in variants}
            if backbone == "patches":
                y = model._encode(model.whitened(x))
                for v in variants:
                    parts[v].append(ex.pool_maps(y, v[1]).reshape(len(x), -1))
                del y
            chunk = model.chunk_size(x) if backbone == "rdsn" else 0
            for c0 in (range(0, model.k, chunk) if backbone == "rdsn" else ()):
                sl = slice(c0, min(model.k, c0 + chunk))
                y = model._stem(x, sl)
                for layer in range(maxl + 1):
                    if layer > 0:
                        y = model._block(layer - 1, y, sl)
                    for v in variants:
                        if v[0] == layer:
                            parts[v].append(ex.pool_maps(y, v[1]).reshape(len(x), -1))
            for v in variants:
                f = torch.cat(parts[v], 1).numpy()
                if v not in outs:
                    outs[v] = np.empty((n, f.shape[1]), dtype)
                outs[v][s:s + len(x)] = f
            if (s // B) % (10 if backbone == "rdsn" else 40) == 0:
                print(f"  {s + len(x)}/{n} {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    return outs


t1 = time.time()
Ftr = extract_all(train.images)
Fva = extract_all(valds.images)
text = time.time() - t1
print(f"# extraction {text:.0f} s ({len(train) + len(valds)} images, all variants); load "
      f"{open('/proc/loadavg').read().split()[:3]}", flush=True)
n_classes = len(train.classes)
for v in variants:
    t2 = time.time()
    sel = run_to_end(select_and_fit(record.head, Ftr[v], train.labels, Fva[v], valds.labels, Fva[v], valds.labels,
                                    n_classes, record.options, grid=record.grid, seed=record.seeds.head))
    table = " ".join(f"{g:g}:{100 * a:.2f}" for g, a in sel.table)
    print(f"layer {v[0]} {v[1]:12s} feats {Ftr[v].shape[1]:6d} val_top1 {100 * sel.val_top1:.2f} "
          f"(best {sel.best_value:g}; {table}) head {time.time() - t2:.0f} s", flush=True)
print(f"# total {time.time() - t0:.0f} s; load {open('/proc/loadavg').read().split()[:3]}", flush=True)
