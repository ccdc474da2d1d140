"""The Probe results' insight jobs, Qt-free task generators (as ``app.analysis.jobs``): ``projector_job(stored_run)``,
a run's frozen test features (from the feature cache when the run left them there, else extracted again) projected
to 2-D with the test images the points link to, its note (``projector_note``), and ``pair_gallery``, the test images
of one (true, predicted) pair of a run's confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from app.analysis.jobs import InsightError
from app.tasks import CancelToken, Progress, check


@dataclass(frozen=True)
class ProjectorData:
    projection: Any  # app.analysis.project.Projection (indices into the run's test split)
    images: np.ndarray  # the run's test images (uint8 NHWC)
    labels: np.ndarray
    classes: tuple[str, ...]
    cache_hit: bool
    note: str


def projector_job(stored: dict, method: str = "pca", cancel: CancelToken | None = None):
    """Task: the stored run's test features at its layer and pooling (the feature cache's copy when the run left
    one, else extracted again), projected to 2-D."""
    from app.analysis.project import project
    from app.probe import extract as ex
    from app.probe.resolve import ResolvedProbe
    from app.probe.run import build_model, test_split

    if not stored.get("resolved"):
        raise InsightError("this run was stored before runs recorded their settings: its features cannot be "
                           "rebuilt (train it again)")
    record = ResolvedProbe.from_dict(stored["resolved"])
    if record.layer < 0 or record.head == "own":
        raise InsightError("this run used the model's own classifier: it has no frozen features to project")
    yield Progress(0, None, f"loading {record.dataset} test split")
    test = test_split(record)
    check(cancel)
    yield Progress(0, None, f"building {record.model.label or record.model.backbone}")
    model = build_model(record.model)
    if getattr(model, "needs_fit", False):  # data-dependent (patches): the run's fit, rebuilt from its training split
        from app.probe.run import train_splits

        yield Progress(0, None, "fitting the filters on the training split (as the run did)")
        yield from ex.fit_backbone(model, train_splits(record)[0], record.input, record.seeds.model, cancel)
    key = None
    # the run's own cache key; a whitened stem changed the weights (extract without the cache)
    if record.whiten is None:
        from app.probe.run import external_content

        # (the model file's own content too, as the run's key: a program re-exported in place is another model)
        key = ex.cache_key(weights=ex.weights_hash(model) + "|" + external_content(record.model), layer=record.layer,
                           pooling=record.pooling, content=ex.content_digest(test), data_root=record.data_root,
                           split="test", ispec=record.input, dtype="auto", dataset=record.dataset)
    f = yield from ex.extract(model, test.images, record.input, record.layer, record.pooling, device="cpu", key=key,
                              label="test features", cancel=cancel)
    check(cancel)
    yield Progress(0, None, f"{method.upper()} of {len(test)} points")
    proj = project(np.asarray(f.array, np.float32), test.labels, method)
    classes = tuple(stored.get("classes") or test.classes)
    note = projector_note(method, proj, f.array.shape[1], len(test), record.layer_name, record.pooling,
                          bool(f.cache_hit), record.whiten is not None)
    return ProjectorData(proj, test.images, np.asarray(test.labels), classes, bool(f.cache_hit), note)


def projector_note(method: str, proj, n_features: int, n_test: int, layer: str, pooling: str,
                   cache_hit: bool = False, whitened: bool = False) -> str:
    """What the projector shows: how many points (``project`` keeps a random ``limit`` of a larger split) and what
    the PCA axes' "explained" shares are of (the features standardised one by one, not the raw features)."""
    from app.metrics import percent

    shown = len(proj.xy)
    points = (f"{shown:,} test images" if shown >= n_test
              else f"a random {shown:,} of the {n_test:,} test images (the projection's limit)")
    text = (f"{method.upper()} of {n_features:,} features ({layer}, {pooling}) of {points}"
            + (" · from the feature cache" if cache_hit else "")
            + (" · stem not whitened (the run whitened it)" if whitened else "")
            + " · each feature standardised (zero mean, unit variance) first")
    ex = tuple(proj.explained or ())
    if len(ex) >= 2:  # (percent: 0.99991 reads 99.99%, not a false 100%)
        text += (f"; the axes explain {percent(ex[0], 0)} + {percent(ex[1], 0)} of the standardised features' "
                 f"variance")
    elif len(ex) == 1:  # one feature (or one point): one axis of variance; the second is 0 for every point
        why = "one feature" if n_features <= 1 else "one point"
        text += (f"; the first axis explains {percent(ex[0], 0)} of the standardised features' variance (the "
                 f"second is 0 for every point: {why})")
    return text


def pair_gallery(stored: dict, true: int, predicted: int, limit: int = 40, cols: int = 10,
                 cancel: CancelToken | None = None):
    """Task: the stored run's misclassified test examples of one confusion cell (true class ``true`` predicted as
    ``predicted``), as an ``app.probe.gallery.Gallery`` (``total``: how many that cell holds)."""
    from app.probe.gallery import Gallery, mosaic
    from app.probe.run import test_images

    mis = np.asarray(stored.get("misclassified") or [], dtype=np.int64)
    pred = np.asarray(stored.get("mis_predicted") or [], dtype=np.int64)
    classes = tuple(stored.get("classes") or ())
    yield Progress(0, 2, "loading the test images")
    data = test_images(stored)
    check(cancel)
    if mis.size and (mis.max() >= len(data) or mis.min() < 0 or len(pred) < len(mis)):
        raise InsightError("the stored misclassified indices do not fit the test split (the dataset changed)")
    keep = (np.asarray(data.labels)[mis] == true) & (pred[:len(mis)] == predicted) if mis.size else np.zeros(0, bool)
    sel = mis[keep]
    show = sel[:limit]
    yield Progress(1, 2, "tiling the examples")
    image, cells = mosaic(data.images[show], cols=cols, pad=3, label_space=14)
    name = lambda i: classes[i] if 0 <= i < len(classes) else str(i)  # noqa: E731
    return Gallery(image, cells, tuple(name(true) for _ in show), tuple(name(predicted) for _ in show),
                   tuple(int(i) for i in show), int(len(sel)))
