"""THE evaluation of a classifier: used by ``train`` (per-epoch validation, the final test), ``eval`` and the probe's
"own head" / trained baseline.

    scores = yield from predict(model, images_uint8_nhwc, ispec)          # float32 (N, classes)
    result = yield from evaluate(model, dataset, ispec)                   # EvalResult (top-1/2/5, per class ...)
    check_classifier_fits(spec, model, dataset)                           # ModelError for a mismatched dataset

``predict`` preprocesses with ``app.models.inputs.to_tensor`` (the one preprocessing) batch by batch, checking
``cancel`` between batches; ``evaluate`` scores a whole ``ArrayDataset`` with ``app.metrics.evaluate_scores``.

Subsets: ``load_split(name, split, limit, root, seed)`` takes the seeded subset of ``app.data.core.limited``, the one
rule of every command (probe, train, eval): the training split's draw is the data seed, the test split's seed + 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generator

import numpy as np
import torch
from torch import nn

from app.models.base import ModelError
from app.tasks import CancelToken, Progress, check


@dataclass(frozen=True, eq=False)
class EvalResult:
    top1: float
    top2: float | None  # None: 2 classes or fewer (app.metrics.Metrics)
    top5: float | None  # None: 5 classes or fewer
    per_class: tuple[float, ...]
    confusion: np.ndarray  # (classes, classes): rows true, columns predicted
    n: int
    correct: int
    scores: np.ndarray  # float32 (n, classes)
    labels: np.ndarray  # int64 (n,)


def load_split(dataset: str, split: str, limit: int | None, root: str | None, seed: int):
    """A dataset split, limited to the seeded subset of ``limit`` images (``app.data.core.limited``: the probe's rule,
    the test split's draw is seed + 1)."""
    from app.data import load
    from app.data.core import limited

    ds = load(dataset, split, root)
    return limited(ds, limit, seed) if limit else ds


def _device_of(model: nn.Module, device: Any) -> Any:
    if device is not None:
        return device
    p = next(model.parameters(), None)
    return p.device if p is not None else "cpu"


def predict(model: nn.Module, images: np.ndarray, ispec, device: Any = None, batch_size: int = 256,
            cancel: CancelToken | None = None) -> Generator[Progress, None, np.ndarray]:
    """The model's class scores (float32 (N, C)) for uint8 (N, H, W, C) images, preprocessed as ``ispec`` says."""
    from app.models.inputs import to_tensor

    device = _device_of(model, device)
    n = len(images)
    batch_size = max(1, int(batch_size))
    parts: list[np.ndarray] = []
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                check(cancel)
                x = to_tensor(images[start:start + batch_size], ispec, device)
                try:
                    out = model(x)
                except (RuntimeError, ValueError, IndexError, TypeError, AssertionError) as exc:
                    raise ModelError(forward_error(model, x, exc)) from None
                parts.append(out.float().cpu().numpy())
                done = min(n, start + batch_size)
                yield Progress(done, n, f"evaluating: {done}/{n} images")
    finally:
        model.train(was_training)
    if not parts:
        return np.zeros((0, int(getattr(model, "num_classes", 0) or 0)), np.float32)
    return np.ascontiguousarray(np.concatenate(parts).astype(np.float32, copy=False))


def model_name(model: nn.Module) -> str:
    spec = getattr(model, "fe_spec", None)
    return (getattr(model, "label", "") or getattr(spec, "label", "") or getattr(spec, "backbone", "")
            or type(model).__name__)


def forward_error(model: nn.Module, x, exc: BaseException) -> str:
    """The message for a model whose forward pass failed on the batch ``x``: the model's name, the input, the error
    (one line, not TorchScript's code listing) and, for an imported file that fixes its batch, how to export it."""
    try:
        from app.models.external.backbone import short_error

        text = short_error(exc)
    except ImportError:  # pragma: no cover - the package is part of the app
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    n, c, h, w = (tuple(x.shape) + (0, 0, 0, 0))[:4]
    msg = f"{model_name(model)}: the model failed on a batch of {n} {c}-channel {h}x{w} images ({text})"
    if getattr(model, "fmt", "") == "onnx" and n > 1:
        msg += ("; if the file fixes its batch size, export it with a dynamic batch axis "
                "(torch.onnx.export(..., dynamic_axes={\"x\": {0: \"n\"}}))")
    return msg


def check_head(model: nn.Module, dataset: Any) -> None:
    """The model's head must have one output per class of the dataset."""
    problem = getattr(model, "output_problem", "")
    if problem:  # an imported model whose output is not one (N, classes) tensor (a tuple, a map ...)
        raise ModelError(f"{model_name(model)}: its output is {problem}: there are no class scores to evaluate "
                         f"(its layers can still be probed with a probe head)")
    n_head = getattr(model, "num_classes", None)
    n_cls = len(dataset.classes)
    if n_head is not None and n_head != n_cls:
        raise ModelError(f"the model's head has {n_head or 'no'} classes but {getattr(dataset, 'name', 'the dataset')} "
                         f"has {n_cls}: train it on this dataset first (or use a probe head)")


def evaluate(model: nn.Module, dataset: Any, ispec=None, device: Any = None, batch_size: int = 256,
             cancel: CancelToken | None = None) -> Generator[Progress, None, EvalResult]:
    """Top-1/2/5, per-class accuracy and confusion of ``model``'s classifier on an ``ArrayDataset``. ``ispec``:
    the input spec (default: ``input_spec`` of the model's spec with the dataset's statistics)."""
    from app.metrics import evaluate_scores
    from app.models.inputs import dataset_stats, input_spec

    check_head(model, dataset)
    if len(dataset) == 0:
        raise ModelError(f"{getattr(dataset, 'name', 'the dataset')}: no images to evaluate on")
    if ispec is None:
        ispec = input_spec(getattr(model, "fe_spec", None), model, stats=dataset_stats(dataset))
    scores = yield from predict(model, dataset.images, ispec, device, batch_size, cancel)
    labels = np.asarray(dataset.labels, dtype=np.int64)
    m = evaluate_scores(scores, labels, len(dataset.classes))
    correct = int((m.predicted == labels).sum())
    return EvalResult(float(m.top1), m.top2, m.top5, tuple(float(v) for v in m.per_class),
                      m.confusion, len(labels), correct, scores, labels)


# --- guardrail ----------------------------------------------------------------------------------------------------
def trained_on(spec: Any) -> str | None:
    """The dataset a checkpoint's classifier was trained on: its sidecar's ``dataset``, else the known weights'."""
    weights = getattr(spec, "weights", None)
    if not weights:
        return None
    from app.models.weights import known_for_path, spec_sidecar

    side = spec_sidecar(spec) or {}
    if isinstance(side.get("dataset"), str) and side["dataset"]:
        return side["dataset"]
    kw = known_for_path(weights)
    return kw.dataset if kw is not None else None


def _named(name: str | None) -> str | None:
    """A dataset name comparable by name: a built-in dataset (not an image folder, not unknown)."""
    from app.data.core import names

    if not name:
        return None
    base = name.split(":", 1)[0]
    return base if base in names() and base != "imagefolder" else None


def trained_classes(spec: Any) -> list[str] | None:
    """The class names of a checkpoint's classifier outputs, in order: its sidecar's ``classes`` (written by ``train``
    since the classes were checked by name), else those of the built-in dataset it was trained on (sidecar or known
    weights: ResNet-20 on CIFAR-10 has CIFAR-10's, so an image folder of its classes in another order is refused
    instead of scored at 3%); None when unknown."""
    weights = getattr(spec, "weights", None)
    if not weights:
        return None
    from app.data.catalog import BUILTINS
    from app.models.weights import spec_sidecar

    try:
        classes = (spec_sidecar(spec) or {}).get("classes")
        base = _named(trained_on(spec))
    except Exception:  # noqa: BLE001 - an unreadable sidecar is reported where the weights are loaded
        return None
    if isinstance(classes, list) and classes:
        return [str(c) for c in classes]
    return [str(c) for c in BUILTINS[base].classes] if base in BUILTINS else None


def check_classifier_fits(spec: Any, model: nn.Module, dataset: Any) -> None:
    """Refuse (``ModelError``) to score a trained classifier on a dataset it was not trained on: the head must have
    one output per class, a checkpoint that names its classes (sidecar ``classes``) is only scored on a dataset with
    the same classes in the same order, and one trained on a named dataset (sidecar or known weights) only on that
    dataset (older checkpoints of image folders: the class count only)."""
    check_head(model, dataset)
    what = Path(getattr(spec, "weights", "") or "").name or "the model"
    was = _named(trained_on(spec))
    now = _named(getattr(dataset, "name", None))
    if was is not None and now is not None and was != now:
        raise ModelError(f"{what}: its classifier was trained on {was}, not on {now}; its scores there would mean "
                         f"nothing (use a probe head, or weights trained on {now})")
    mine, theirs = trained_classes(spec), [str(c) for c in getattr(dataset, "classes", ())]
    if mine is not None and theirs and mine != theirs:
        show = (lambda cs: ", ".join(cs[:6]) + (f" ... ({len(cs)})" if len(cs) > 6 else ""))
        raise ModelError(f"{what}: its classifier's outputs are the classes {show(mine)}; "
                         f"{getattr(dataset, 'name', 'the dataset')} has {show(theirs)}: its scores there would mean "
                         f"nothing (use a probe head, or weights trained on these classes)")
