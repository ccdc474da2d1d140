"""Live predictions: a trained model's own top-5 classes on the current frame, and a probe head's (a linear head
trained in Probe on any backbone, a random one included). Qt-free; runs on the live worker thread (inside
``LiveEngine.process``); what it returns is a frozen ``app.live.config.Prediction``.

- The model's own classifier (a checkpoint with ``num_classes`` > 0): the frame centre-cropped to the aspect of the
  model's input size (its input spec's, else the size it was built for), ``app.models.inputs.to_tensor`` at that
  size, the full forward, softmax. Class names: the dataset the checkpoint was trained on (sidecar ``dataset``, or
  the known weights'): the data catalog's names, an image folder's sub-folders, else "class N".
- A probe head: ``open_head(path, device)`` (``app.probe.head_export.open_head``, injected by the GUI: app.live does
  not import app.probe) gives an object with ``scores(images)``, ``classes``, ``title()``, ``note()`` and
  ``matches(spec)``. A logistic head's scores go through the same softmax/top-5 (its softmax is the class
  probabilities it was fitted to, ``PROBABILITY_HEADS``); a ridge or SVM head's do not: a softmax of a ridge head's +-1
  targets never passes ~45% over 10 classes, however sure, so its top-5 shows its raw scores, said to be scores.
  The note shown is ``head_note``'s (it names the size the frame is fed at and, where they differ, the training
  images' own size).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from app.live.config import Prediction
from app.models import inputs

TOP_K = 5
PROBABILITY_HEADS = ("logistic",)  # heads whose softmax is their class probabilities (a cross-entropy fit)
HeadOpener = Callable[[str, Any], Any]  # (path, device) -> an applier (see the module docstring)


def class_names(dataset: str | None, n: int) -> tuple[str, ...]:
    """``n`` class names of a dataset: the catalog's (digits, MNIST, CIFAR-10, ...), an image folder's sorted
    sub-folders, else "class N"."""
    names: tuple[str, ...] = ()
    if dataset:
        base = dataset.split(":", 1)[0]
        if base == "digits":
            names = tuple(str(i) for i in range(10))
        elif base == "imagefolder":
            folder = Path(dataset.split(":", 1)[1])
            folder = folder / "train" if (folder / "train").is_dir() else folder
            try:
                names = tuple(sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")))
            except OSError:  # the folder is gone (a checkpoint trained elsewhere): see below
                names = _folder_of_builtin(folder, n)
        else:
            from app.data.formats import BUILTINS

            b = BUILTINS.get(base)
            names = tuple(b.classes) if b is not None else ()
    if len(names) != n:
        names = names[:n] + tuple(f"class {i}" for i in range(len(names[:n]), n))
    return names


def _folder_of_builtin(folder: Path, n: int) -> tuple[str, ...]:
    """An image folder named after a built-in dataset ("cifar10-jpg") with as many classes: that dataset's names,
    where they are in sorted order (an image folder's classes are its sorted sub-folders, so a folder export of
    CIFAR-10 or MNIST has exactly these, in this order)."""
    from app.data.formats import BUILTINS

    stem = folder.name.lower() if folder.name not in ("train", "test") else folder.parent.name.lower()
    for name, b in sorted(BUILTINS.items(), key=lambda kv: -len(kv[0])):
        if stem.startswith(name) and len(b.classes) == n and list(b.classes) == sorted(b.classes):
            return tuple(b.classes)
    return ()


def classifier_classes(spec: Any, model: torch.nn.Module) -> tuple[str, ...] | None:
    """The class names of a model's own trained classifier; None when it has none (random weights, or
    ``num_classes`` 0)."""
    n = int(getattr(model, "num_classes", 0) or 0)
    if n <= 0 or not getattr(spec, "weights", None):
        return None
    from app.models.evaluate import trained_on
    from app.models.weights import spec_sidecar

    # the classifier's outputs in order, as its training recorded them (an image folder's sub-folders may have
    # changed since: one added or renamed shifted every name after it); else the dataset's
    recorded = (spec_sidecar(spec) or {}).get("classes")
    if isinstance(recorded, list) and len(recorded) == n and all(isinstance(c, str) for c in recorded):
        return tuple(recorded)
    return class_names(trained_on(spec), n)


def top_k(scores: np.ndarray, classes: tuple[str, ...], k: int = TOP_K, softmax: bool = True
          ) -> tuple[tuple[str, float], ...]:
    """The ``k`` most probable classes (name, softmax probability), most probable first (ties: lower index);
    ``softmax`` False: the ``k`` highest raw scores (name, score), for a head whose scores are no probabilities."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if softmax:
        p = np.exp(s - s.max())
        p /= p.sum()
    else:
        p = s
    order = np.argsort(-p, kind="stable")[:k]
    return tuple((classes[i] if i < len(classes) else f"class {i}", float(p[i])) for i in order)


def model_size(ispec: inputs.InputSpec, model: torch.nn.Module) -> tuple[int, int]:
    """The size a model's classifier sees a frame at: its input spec's, else the size it was built for."""
    if ispec.size:
        return tuple(ispec.size)
    c, h, w = getattr(model, "default_input", (3, 32, 32))
    return int(h), int(w)


def head_note(applier: Any) -> str:
    """How the frame is fed to a probe head's backbone: the applier's own note (``HeadApplier.note``: the size the
    frame is resized to, and the training images' own where they differ)."""
    return applier.note()


class Predictor:
    """Per engine (one thread): opened probe heads by path, class names by model."""

    def __init__(self, device: Any, open_head: HeadOpener | None = None) -> None:
        self.device = device
        self.open_head = open_head
        self._heads: dict[str, tuple[Any, str | None]] = {}  # path -> (applier or None, error)
        self._classes: dict[tuple, tuple[str, ...] | None] = {}

    def forget_except(self, heads) -> None:
        keep = {str(h) for h in heads if h}
        for k in list(self._heads):
            if k not in keep:
                del self._heads[k]

    def classes_of(self, spec: Any, model: torch.nn.Module) -> tuple[str, ...] | None:
        key = (id(model), getattr(spec, "weights", None))
        if key not in self._classes:
            self._classes[key] = classifier_classes(spec, model)
        return self._classes[key]

    def model_prediction(self, spec: Any, model: torch.nn.Module, ispec: inputs.InputSpec, frame: np.ndarray
                         ) -> Prediction:
        title = f"{spec.label or spec.backbone}: its own classifier"
        classes = self.classes_of(spec, model)
        if classes is None:
            return Prediction(title, (), kind="model", error="no trained classifier of its own (random weights or "
                                                             "no classes): attach a probe head instead")
        size = model_size(ispec, model)
        try:
            x = inputs.to_tensor(inputs.crop_to_aspect(frame, size)[None], ispec, self.device, size=size)
            with torch.inference_mode():
                scores = model(x).float().cpu().numpy()[0]
        except Exception as exc:  # e.g. a frame the model cannot take: the maps go on
            return Prediction(title, (), kind="model", error=f"prediction failed: {exc}")
        note = f"frame centre-cropped and resized to {size[0]}x{size[1]} (its input size)"
        return Prediction(title, top_k(scores, classes), note, kind="model")

    def head(self, path: str) -> tuple[Any, str | None]:
        got = self._heads.get(path)
        if got is None:
            if self.open_head is None:
                got = (None, "this engine cannot open probe heads")
            else:
                try:
                    got = (self.open_head(path, self.device), None)
                except Exception as exc:  # a damaged or missing head file: the pane says so
                    got = (None, str(exc) or exc.__class__.__name__)
            self._heads[path] = got
        return got

    def head_prediction(self, path: str, pane_spec: Any, frame: np.ndarray) -> Prediction:
        applier, error = self.head(path)
        if applier is None:
            return Prediction(f"probe head {Path(path).stem}", (), kind="head", error=f"probe head: {error}")
        # the pane's title: the layer first (a narrow pane elides its end); the whole title leads the tooltip
        full = f"probe head: {applier.title()}"
        short = getattr(applier, "short_title", None)
        title = short() if callable(short) else full
        note = head_note(applier)
        if title != full:
            note = f"{full}\n{note}"
        if not applier.matches(pane_spec):
            note += "; computed on the head's own backbone, not this pane's model"
        try:
            scores = applier.scores(np.asarray(frame)[None])[0]
        except Exception as exc:
            return Prediction(title, (), kind="head", error=f"prediction failed: {exc}")
        kind = str(getattr(getattr(applier, "head", None), "head", "") or "")  # LiveHead.head: logistic, ridge, svm
        if kind in PROBABILITY_HEADS:
            return Prediction(title, top_k(scores, applier.classes), note, kind="head")
        s = np.asarray(scores, dtype=np.float64).reshape(-1)
        return Prediction(title, top_k(s, applier.classes, softmax=False), note, kind="head",
                          scores=kind or "probe", span=(float(s.min()), float(s.max())))
