"""The random-mnist preset's features on full MNIST (its own split: 55,000 train / 5,000 validation), a head variant
each (issue #13; log: docs/benchmarks/presets-selection.md, "random-mnist, session 8"). Features through the probe's
extraction and cache, the head through ``app.probe.selection.select_and_fit`` fitted from zero for each weight decay
(no warm start). Prints validation top-1 and, for the record only, test top-1 (the choice is made on validation).

usage: [VIEWS=shift1] PYTHONPATH=. python scripts/mnist_head_screen.py ROOT UNITS WD1,WD2,... [KEY=VALUE,...]
  VIEWS=shift1: validation and test images scored by the mean of their own and their four one-pixel shifts' features
  UNITS: random ReLU units appended to the standardised features (0: none; N(0, 1/d) weights, seed 1)
  KEY=VALUE: head options (e.g. tol=1e-6,epochs=300)
"""
import os
import sys
import time

import numpy as np
import torch

from app.probe.headcore import standardizer
from mnist_preset_features import PresetFeatures, fit_each, head_options

torch.set_num_threads(2)
root, units, wds = sys.argv[1], int(sys.argv[2]), [float(x) for x in sys.argv[3].split(",")]
pf = PresetFeatures(root)
record, tr, va, te = pf.record, pf.train, pf.val, pf.test


def feats(ds, split):
    return torch.from_numpy(np.array(pf.features(ds, split), dtype=np.float32))


def views(ds, split):
    if os.environ.get("VIEWS") != "shift1":
        return feats(ds, split)
    return torch.from_numpy(pf.views(ds, split))


t0 = time.time()
F = [feats(tr, "train"), views(va, "val"), views(te, "test")]
print(f"features {F[0].shape[1]} in {time.time() - t0:.0f} s", flush=True)
if units:
    t0 = time.time()
    mean, inv = (torch.from_numpy(a) for a in standardizer(F[0].numpy(), True))
    d = F[0].shape[1]
    W = torch.randn(d, units, generator=torch.Generator().manual_seed(1)) / d ** 0.5 * inv[:, None]
    b = -(mean @ W)

    def expand(X):
        out = torch.empty(len(X), units)
        for i in range(0, len(X), 4096):
            out[i:i + 4096] = torch.relu(X[i:i + 4096] @ W + b)
        return torch.cat([X, out], 1)

    F = [expand(X) for X in F]
    print(f"expansion to {F[0].shape[1]} in {time.time() - t0:.0f} s", flush=True)
X = [f.numpy() for f in F]
fit_each(f"units {units}", wds, (X[0], tr.labels), (X[1], va.labels), (X[2], te.labels),
         head_options(record, sys.argv[4] if len(sys.argv) > 4 else None))
