"""Validation-only screening of backbone variants with a ridge (least-squares) proxy head (issue #13; log:
docs/benchmarks/presets-selection.md, session 6). Same resolution, seeded split, input spec, stem whitening and fit as
``python main.py probe``; features standardised with the training rows' statistics; the ridge penalty is swept over
$RIDGE_ALPHAS (default 100,300,1000) and each validation top-1 printed. The test split is never loaded.

usage: PYTHONPATH=. python scripts/ridge_screen.py DATASET ROOT|- TRAIN_LIMIT VAL 'BACKBONE|OPTIONS_JSON|LAYER|POOLING' ...
(LAYER|POOLING may list several taps joined by "+", e.g. '1+2|avgmaxgrid3+grid3': their features side by side)
"""
import json
import os
import sys
import time
import numpy as np, torch
from app.data.core import load
from app.models.spec import ModelSpec
from app.probe import extract as ex
from app.probe.config import TTA_SHIFTS, ProbeConfig
from app.probe.resolve import resolve
from app.probe.run import train_splits
from app.tasks import run_to_end
torch.set_num_threads(2)
ALPHAS = [float(a) for a in os.environ.get("RIDGE_ALPHAS", "100,300,1000").split(",")]
# $FEATURE_TRANSFORMS: transforms of the pooled features tried on the same extraction (none, sqrt: signed square root)
TRANSFORMS = {"none": lambda f: f, "sqrt": lambda f: np.sign(f) * np.sqrt(np.abs(f))}
WANT = os.environ.get("FEATURE_TRANSFORMS", "none").split(",")
# $VIEWS=hflip: also score each validation image with its mirror image (the mean of the two views' scores, as the
# probe's --tta hflip; printed as a second line per transform); $VIEWS=shift1: with its four one-pixel shifts (up,
# down, left, right; the edge filled with zeros), the mean of the five views' scores
VIEWS = os.environ.get("VIEWS", "none")
# $WHITEN=EPS: patch-ZCA whitening of the input folded into the stem (``extract.whiten_stem``) at EPS, whatever the
# backbone's default (the colour rdsn has 0.1); $WHITEN=none: off
WHITEN = os.environ.get("WHITEN")


def extra_views(ds):
    if VIEWS == "hflip":
        return [ds.mirrored()]
    if VIEWS == "shift1":
        return [ds.shifted(dy, dx) for dy, dx in TTA_SHIFTS]  # the probe's --tta shift1 views
    return []
dataset, root, limit, val = sys.argv[1:5]
root = None if root == "-" else root
train_full = load(dataset, "train", root)
C = len(train_full.classes)
def ridge(A, ytr, B, yva, alphas, Bm=None):
    """Validation top-1 per penalty; ``Bm``: the other views' validation features (scores averaged with ``B``'s; a
    linear head's mean score is its score of the mean features)."""
    if Bm:
        B = sum((np.asarray(X, np.float32) for X in Bm), np.asarray(B, np.float32)) / (1 + len(Bm))
    A = torch.from_numpy(np.asarray(A, np.float32)); B = torch.from_numpy(np.asarray(B, np.float32))
    m = A.mean(0); s = A.std(0).clamp_min(1e-6); A = (A - m) / s; B = (B - m) / s
    Y = -torch.ones(len(A), C, dtype=torch.float64); Y[torch.arange(len(A)), torch.from_numpy(ytr).long()] = 1
    Yc = Y - Y.mean(0); n, d = A.shape
    res = {}
    if d <= n:
        G = (A.T @ A).double(); R = A.double().T @ Yc
        for a in alphas:
            W = torch.cholesky_solve(R, torch.linalg.cholesky(G + a * torch.eye(d, dtype=G.dtype))).float()
            res[a] = ((B @ W).argmax(1).numpy() == yva).mean() * 100
    else:
        K = (A @ A.T).double(); KB = (B @ A.T).double()
        for a in alphas:
            sol = torch.cholesky_solve(Yc, torch.linalg.cholesky(K + a * torch.eye(n, dtype=K.dtype)))
            res[a] = ((KB @ sol).argmax(1).numpy() == yva).mean() * 100
    return res
for spec in sys.argv[5:]:
    backbone, opts, layer, pooling = spec.split("|")
    # LAYER and POOLING may name several taps, "1+2" and "avgmaxgrid3+grid3": their pooled features side by side
    taps = list(zip((int(v) for v in layer.split("+")), pooling.split("+")))
    t0 = time.time()
    config = ProbeConfig(model=ModelSpec.make(backbone, options=json.loads(opts), seed=0), dataset=dataset,
                         data_root=root, train_limit=int(limit), val=int(val), layer=taps[0][0], pooling=taps[0][1])
    record, model = resolve(config, train_full)
    train, valds = train_splits(record, train_full)
    eps = record.whiten if WHITEN is None else (None if WHITEN == "none" else float(WHITEN))
    if eps is not None:
        ex.whiten_stem(model, train.images, record.input, float(eps), seed=record.seeds.split)
    if getattr(model, "needs_fit", False):
        run_to_end(ex.fit_backbone(model, train, record.input, record.seeds.model))
    views = (train, valds, *extra_views(valds))
    F = [np.asarray(run_to_end(ex.extract(model, ds.images, record.input, record.layer, record.pooling,
                                          dtype="float32")).array) for ds in views]
    for lay, pool in taps[1:]:
        F = [np.hstack([X, np.asarray(run_to_end(ex.extract(model, ds.images, record.input, lay, pool,
                                                             dtype="float32")).array)]) for X, ds in zip(F, views)]
    te = time.time() - t0
    for name in WANT:
        res = ridge(TRANSFORMS[name](F[0]), train.labels, TRANSFORMS[name](F[1]), valds.labels, ALPHAS)
        print(f"{spec:70s} whiten={eps} {name:5s} d={F[0].shape[1]:6d} ext {te:4.0f}s tot {time.time()-t0:4.0f}s  " +
              " ".join(f"{a:g}:{v:.2f}" for a, v in res.items()), flush=True)
        if len(F) > 2:
            T = TRANSFORMS[name]
            res = ridge(T(F[0]), train.labels, T(F[1]), valds.labels, ALPHAS, Bm=[T(X) for X in F[2:]])
            print(f"{spec:70s} {name:5s} + {VIEWS} views  " + " ".join(f"{a:g}:{v:.2f}" for a, v in res.items()),
                  flush=True)
