"""Guardrail of the trained baseline: a trained model's own classifier is only scored on the dataset it was trained
on. The training dataset is read from the checkpoint's sidecar or the known-weights table; a model whose training
dataset is not recorded is refused too (its classes cannot be matched). When the core gains its own check, this
file defers to it."""

from __future__ import annotations

from typing import Any

from app.models.weights import known_for_path, read_sidecar


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def trained_on(spec: Any) -> str | None:
    """The dataset the spec's weights were trained on, or None when nothing records it."""
    weights = getattr(spec, "weights", None)
    if not weights:
        return None
    side = read_sidecar(weights)
    if isinstance(side, dict) and isinstance(side.get("dataset"), str) and side["dataset"]:
        return side["dataset"]
    kw = known_for_path(weights)
    return kw.dataset if kw is not None else None


def baseline_refusal(spec: Any, dataset: str) -> str | None:
    """None when ``spec``'s own classifier may be scored on ``dataset``, else the reason it may not."""
    label = getattr(spec, "label", "") or spec.backbone
    origin = trained_on(spec)
    if origin is None:
        return (f"{label}: not scored as a baseline: the dataset its classifier was trained on is not recorded "
                "(no sidecar), so its classes cannot be matched to this dataset's.")
    if _norm(origin) != _norm(dataset):
        return (f"{label}: not scored as a baseline on {dataset}: its classifier was trained on {origin}, so its "
                f"score here would measure the change of dataset (other images, perhaps other classes), not its "
                f"features (choose {origin} to compare with it, or probe its features with a head instead).")
    return None


def dataset_missing(name: str, root: str | None) -> str | None:
    """Why Train cannot run on ``name`` yet: a built-in dataset not downloaded into ``root`` (None: it is there, or
    it is not a built-in; the browser's own check, ``formats.locate``)."""
    from app.data import formats

    if name not in formats.BUILTINS:
        return None
    src = formats.locate(name, root)
    if src is not None and not getattr(src, "missing", ()):
        return None
    return (f"{not_here(name)}: press Download (under Train, or in the Dataset panel) first (a probe on it would fail "
            "to load its images).")


def not_here(name: str) -> str:
    """What ``dataset_missing`` says first: the fact, without what to do about it (the banner's "Not started: ...",
    under the stage line that says the rest)."""
    return f"{name} is not downloaded yet"
