"""Training-time shift views for the random-mnist preset's features on full MNIST (its own split: 55,000 train /
5,000 validation; issue #13; log: docs/benchmarks/presets-selection.md, "random-mnist, session 9"). Validation and
test are scored with the preset's test-time views (the mean over each image's own and its four one-pixel shifts'
features); the training split is one of:

  none   the training images alone (the preset today)
  mean   each training image as the mean of its own and its four one-pixel shifts' features (the same transform as
         the scored splits)
  rows1  the training images plus one one-pixel shift of each (the shift drawn per image, seed 0): 110,000 rows
  rows2  the training images plus two different one-pixel shifts of each (seeded): 165,000 rows

Features through the probe's extraction and cache (float16 as the probe stores them), the head through
``app.probe.selection.select_and_fit`` for each weight decay. Prints validation top-1 and, for the record only,
test top-1 (the choice is made on validation).

usage: PYTHONPATH=. python scripts/mnist_aug_screen.py ROOT MODE WD1,WD2,... [KEY=VALUE,...]
"""
import sys
import time

import numpy as np
import torch

from app.probe.config import TTA_SHIFTS
from mnist_preset_features import PresetFeatures, fit_each, head_options

torch.set_num_threads(2)
root, mode, wds = sys.argv[1], sys.argv[2], [float(x) for x in sys.argv[3].split(",")]
pf = PresetFeatures(root)
record, tr, va, te = pf.record, pf.train, pf.val, pf.test
feats, views = pf.features, pf.views


t0 = time.time()
Xva, Xte = views(va, "val"), views(te, "test")
base = feats(tr, "train")
ytr = tr.labels
if mode == "none":
    Xtr = base
elif mode == "mean":
    Xtr = views(tr, "train")
elif mode in ("rows1", "rows2"):
    shifted = [feats(tr.shifted(dy, dx), f"train shifted {dy},{dx}") for dy, dx in TTA_SHIFTS]
    rng = np.random.default_rng(0)
    order = np.argsort(rng.random((len(tr), len(TTA_SHIFTS))), axis=1)  # a random permutation of the 4 per image
    parts, labels = [np.asarray(base)], [ytr]
    for j in range(1 if mode == "rows1" else 2):
        pick = order[:, j]
        rows = np.empty_like(np.asarray(base))
        for s, S in enumerate(shifted):
            m = pick == s
            rows[m] = S[m]
        parts.append(rows)
        labels.append(ytr)
    Xtr, ytr = np.concatenate(parts), np.concatenate(labels)
else:
    raise SystemExit(f"unknown mode {mode!r}")
print(f"{mode}: train {Xtr.shape} {Xtr.dtype}, features in {time.time() - t0:.0f} s", flush=True)
fit_each(mode, wds, (Xtr, ytr), (Xva, va.labels), (Xte, te.labels),
         head_options(record, sys.argv[4] if len(sys.argv) > 4 else None))
