"""STAND-IN (probe helper, wave 1) for ``app.models.evaluate`` (the models helper builds the real one): the same
signatures of ``predict`` and ``check_classifier_fits``, so that the probe's "own" head and trained baseline are
written against the one evaluation. The lead replaces ``from app.probe.own_eval import`` with
``from app.models.evaluate import`` and deletes this file.
"""

from __future__ import annotations

import numpy as np
import torch

from app import device as devices
from app.models.base import ModelError
from app.models.inputs import to_tensor
from app.tasks import Progress, check


def _base(name: str | None) -> str:
    return str(name or "").split(":", 1)[0].lower()


def trained_on(spec) -> str | None:
    """The dataset a checkpoint's classifier was trained on (sidecar, else the known-weights table), or None."""
    weights = getattr(spec, "weights", None)
    if not weights:
        return None
    from app.models.weights import known_for_path, read_sidecar

    side = read_sidecar(weights) or {}
    if side.get("dataset"):
        return str(side["dataset"])
    kw = known_for_path(weights)
    return kw.dataset if kw is not None else None


def check_classifier_fits(spec, model, dataset) -> None:
    """Refuse to score a trained classifier on a dataset or class set it was not trained for (``ModelError``)."""
    what = getattr(spec, "label", "") or getattr(spec, "backbone", "the model")
    n = int(getattr(model, "num_classes", 0) or 0)
    if n <= 0:
        raise ModelError(f"{what} has no classifier of its own (load trained weights first)")
    k = len(dataset.classes)
    if n != k:
        raise ModelError(f"{what}: its classifier has {n} classes but {dataset.name} has {k}; a trained classifier "
                         f"is only scored on the dataset it was trained on")
    on = trained_on(spec)
    if on and _base(on) != _base(dataset.name):
        raise ModelError(f"{what}: its classifier was trained on {on}, not {dataset.name}; a trained classifier "
                         f"is only scored on the dataset it was trained on")


def predict(model, images, ispec, device=None, batch_size=256, cancel=None):
    """Task: the model's class scores (N, C) float32 for uint8 NHWC ``images``."""
    dev = device if device is not None else devices.pick()
    model = model.to(dev).eval()
    n = len(images)
    outs = []
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            check(cancel)
            x = to_tensor(images[start:start + batch_size], ispec, dev)
            outs.append(model(x).float().cpu().numpy())
            yield Progress(min(n, start + batch_size), n, f"evaluating {min(n, start + batch_size)}/{n}")
    c = int(getattr(model, "num_classes", 0) or 0)
    return np.concatenate(outs) if outs else np.zeros((0, c), np.float32)
