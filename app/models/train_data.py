"""The data of a training run (``app.models.train``): its splits loaded, checked and carved (the seeded validation
split), the flip/crop augmentation of a batch, and the run's input spec resolved from the training split."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from app.data.core import class_problem, limited
from app.models.evaluate import load_split
from app.models.inputs import InputSpec, dataset_stats, input_spec
from app.models.spec import ModelSpec
from app.models.train_config import TrainConfig, TrainError


# --- splits and augmentation ---------------------------------------------------------------------------------
def check_dataset(ds: Any, what: str) -> None:
    """A split must have images, and labels in 0..classes-1 (``TrainError`` before any training)."""
    name = getattr(ds, "name", "the dataset")
    if len(ds) == 0:
        raise TrainError(f"{name} ({what}): no images; nothing to train or test on")
    n_cls = len(ds.classes)
    labels = np.asarray(ds.labels)
    if n_cls < 1:
        raise TrainError(f"{name} ({what}): no classes")
    if labels.size and (labels.min() < 0 or labels.max() >= n_cls):
        bad = labels[(labels < 0) | (labels >= n_cls)]
        raise TrainError(f"{name} ({what}): {bad.size} label(s) outside 0..{n_cls - 1} (e.g. {int(bad[0])}); "
                         f"the dataset has {n_cls} classes")


def augment_batch(x: torch.Tensor, g: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop (zero padding ``pad``) and horizontal flip, per image."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=g) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1).to(x.device), x.flip(3), x)
    if pad:
        xp = F.pad(x, (pad, pad, pad, pad))
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=g)
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=g)
        # gather the crops with one advanced-indexing op
        rows = (dy.view(-1, 1) + torch.arange(h).view(1, -1)).to(x.device)  # (n, h)
        cols = (dx.view(-1, 1) + torch.arange(w).view(1, -1)).to(x.device)  # (n, w)
        idx_n = torch.arange(n, device=x.device).view(-1, 1, 1)
        x = xp.permute(0, 2, 3, 1)[idx_n, rows.view(n, h, 1), cols.view(n, 1, w)].permute(0, 3, 1, 2)
    return x.contiguous()


def _load_data(cfg: TrainConfig, data: tuple | None):
    if data is not None:
        train_ds, test_ds = limited(data[0], cfg.train_limit, cfg.seed), limited(data[1], cfg.test_limit, cfg.seed)
    else:
        train_ds = load_split(cfg.dataset, "train", cfg.train_limit, cfg.data_root, cfg.seed)
        test_ds = load_split(cfg.dataset, "test", cfg.test_limit, cfg.data_root, cfg.seed)
    check_dataset(train_ds, "train")
    check_dataset(test_ds, "test")
    problem = class_problem(train_ds, test_ds)
    if problem:
        raise TrainError(problem)
    n_val = cfg.resolved_val(len(train_ds), len(train_ds.classes))
    if n_val >= len(train_ds):
        raise TrainError(f"a validation split of {n_val} images leaves nothing to train on ({cfg.dataset} has "
                         f"{len(train_ds)} training images); use --val with a smaller number or 0")
    train_ds, val_ds = train_ds.split_off(n_val, cfg.seed)
    return train_ds, val_ds, test_ds


def resolve_input(spec: ModelSpec, model: nn.Module, train_ds: Any) -> InputSpec:
    """The input spec of a training run, once: the model's own, else the training set's statistics; a model that
    takes any size records the training images' size (what later evaluations resize to)."""
    ispec = input_spec(spec, model, stats=dataset_stats(train_ds))
    if ispec.size is None:
        ispec = ispec.with_(size=(int(train_ds.images.shape[1]), int(train_ds.images.shape[2])))
    return ispec
