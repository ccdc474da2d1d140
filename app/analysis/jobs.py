"""The insight views' jobs for the GUI, Qt-free: each is a task generator (``app.tasks.Progress``, ``CancelToken``)
that builds what it needs from immutable specs and returns an immutable result ready to display (mosaics are drawn
here, the widgets only show them).

- ``random_twin(spec)`` (from ``app.models.twins``): the same architecture and input with default random weights (the
  baseline of every view);
- ``layers_job(spec)``: the tappable layers (name, channels) of a spec, for the layer choosers;
- ``cka_job``, ``patches_job``, ``filters_job``, ``fold_job``: the four Insight panels;
- the Probe's projector and pair gallery: ``app.analysis.projector_jobs``.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.errors import AppError
from app.models.twins import random_twin, twin_input  # noqa: F401  (their home is app.models.twins)
from app.tasks import CancelToken, Progress, check


class InsightError(AppError):
    """An insight view cannot be computed for the chosen model or run; the message says why."""


def sample(dataset: str, n: int, split: str = "test", data_root: str | None = None):
    """A seeded subset of ``n`` images of a dataset split."""
    from app.data import load

    if n < 2:
        raise InsightError(f"a sample needs at least 2 images, got {n}")
    return load(dataset, split, data_root).subset(n, seed=0)


def built(spec, ds=None):
    """(model on the CPU in eval mode, its input spec for ``ds``)."""
    from app.models.build import build
    from app.models.inputs import dataset_stats, input_spec

    model = build(spec, device="cpu").eval()
    if getattr(model, "needs_fit", False):  # the patches backbone: its filters come from a dataset, in the Probe
        raise InsightError(f"{spec.label or spec.backbone}: its filters are fitted to a dataset's training images "
                           f"when it is probed; unfitted, its numbers here would describe placeholder filters")
    return model, input_spec(spec, model, stats=dataset_stats(ds) if ds is not None else None)


@dataclass(frozen=True)
class LayerList:
    spec: Any
    names: tuple[str, ...]
    channels: tuple[int, ...]
    lc: bool  # the model has LC blocks (the fold view applies)


def layers_job(spec, cancel: CancelToken | None = None):
    from app.analysis.fold import lc_layers
    from app.models.build import build

    yield Progress(0, None, f"building {spec.label or spec.backbone}")
    model = build(spec, device="cpu")
    check(cancel)
    info = model.feature_info
    return LayerList(spec, tuple(i.name for i in info), tuple(int(i.channels) for i in info), bool(lc_layers(model)))


def cka_job(spec_a, spec_b, dataset: str = "digits", n: int = 300, kernel: str = "linear",
            cancel: CancelToken | None = None):
    """Task: ``CKAResult`` between every layer of the two models on ``n`` test images of ``dataset`` (all of them
    where the split has fewer: at least ``CKA_MIN_IMAGES`` either way). Where the two share one architecture: the
    random-initialisation reference, and a note when they saw different inputs (``cka_input_note``)."""
    from app.analysis.cka import cka_matrix

    check_cka_images(n)
    yield Progress(0, None, f"loading {dataset}")
    ds = sample(dataset, n)
    check_cka_images(len(ds), f"the test split of {dataset}", n)  # the images used, not the number asked for
    yield Progress(0, None, "building the models")
    ma, ia = built(spec_a, ds)
    mb, ib = built(spec_b, ds)
    check(cancel)
    res = yield from cka_matrix(ma, mb, ds.images, ia, ib, kernel=kernel, label_a=spec_a.label or spec_a.backbone,
                                label_b=spec_b.label or spec_b.backbone, cancel=cancel)
    if same_architecture(spec_a, spec_b):
        res = yield from with_seed_reference(res, spec_a, ds, kernel, cancel)
        res = with_input_note(res, ia, ib, cka_twin_hint(spec_a, spec_b))
    return res


CKA_MIN_IMAGES = 10


def check_cka_images(n: int, source: str = "", asked: int | None = None) -> None:
    """CKA on a handful of images means nothing (on 2 every linear value is 1.000): at least ``CKA_MIN_IMAGES``.
    ``source``: where the ``n`` images are the whole of a split ("the test split of imagefolder:..."), which the
    message then names, with the number ``asked`` for (a sample of 300 asked from a split of 4 is 4 images)."""
    if n < CKA_MIN_IMAGES:
        of = f" ({asked} asked for)" if asked is not None and asked > n else ""
        got = f": {source} has only {n}{of}" if source else f", got {n}"
        raise InsightError(f"CKA needs at least {CKA_MIN_IMAGES} images (on 2 every value is 1){got}")


INPUT_NOTE = "the two sides saw different inputs (size or normalisation): the matrix mixes that with their weights"


def cka_input_note(ia, ib, hint: str = "") -> str:
    """What a CKA of one architecture says where its two sides saw different inputs (``ia``, ``ib``: their input
    specs; "" where they saw the same); ``hint``: how to compare with one input."""
    if ia.key() == ib.key():
        return ""
    return INPUT_NOTE + (f"; {hint}" if hint else "")


def cka_twin_hint(spec_a, spec_b) -> str:
    """The window's way to one input: the random twin of the trained side, which keeps that side's input (an entry
    of the model choosers, ``widgets.analysis.common.model_choices``); "" where neither side has weights."""
    for spec, side, other in ((spec_b, "B", "A"), (spec_a, "A", "B")):
        if spec.weights is not None or spec.banks:
            return f"model {other} '{random_twin(spec).label}' is {side}'s random twin, with {side}'s input"
    return ""


def with_input_note(res, ia, ib, hint: str = ""):
    """``res`` (one architecture on both sides) with the note on different inputs, and the reference line naming
    the input it was computed at (model A's: ``with_seed_reference`` draws A's random twins) where they differ."""
    note = cka_input_note(ia, ib, hint)
    if not note:
        return res
    shown = dataclasses.replace(ia, source="").describe()
    return dataclasses.replace(res, input_note=note, reference_input=shown if res.reference else "")


# options that change only the classifier head, never a layer CKA compares (``feature_info``): the official
# ResNet-20's known weights carry num_classes=10, the plain registry name carries nothing, and both tap the same
# stem and blocks
HEAD_OPTIONS = frozenset({"num_classes"})


def same_architecture(spec_a, spec_b) -> bool:
    """The two specs build the same tapped layers (backbone and options), whatever their weights. Options compare
    by value, with the backbone's defaults filled in (``width=16`` given is the default left out), and without
    ``HEAD_OPTIONS``; a sidecar's ``widths`` tuple (32, 64, 64) is the command line's list [32, 64, 64]."""
    import json

    defaults: dict = {}
    if spec_a.backbone == spec_b.backbone:
        try:
            from app.models.registry import option_fields

            defaults = {f.name: f.default for f in option_fields(spec_a.backbone)}
        except (AppError, KeyError):  # not a registry backbone (an external model): its options as given
            defaults = {}

    def plain(spec) -> str:
        opts = {**defaults, **dict(spec.options)}
        return json.dumps({k: v for k, v in opts.items() if k not in HEAD_OPTIONS}, sort_keys=True, default=str)

    return spec_a.backbone == spec_b.backbone and plain(spec_a) == plain(spec_b)


# the seed references computed in this process, newest last: (architecture, seeds, images, kernel, layers) -> values.
# A reference depends on nothing else (no weights: both models are random twins), so comparing one model with
# several others, or again, computes it once (it was half of each comparison: 0.3-0.6 s on 300 digits, more on
# larger models and samples). The images' bytes are in the key: a changed dataset is never answered from here.
_REFERENCES: dict[tuple, tuple[float, ...]] = {}
_REFERENCES_LOCK = threading.Lock()  # the Insight panels' workers may compute two at once
REFERENCES_KEPT = 8


def _reference_key(twin, seeds: tuple[int, int], ds, kernel: str, layers: tuple[str, ...]) -> tuple:
    import hashlib

    images = np.ascontiguousarray(ds.images)
    digest = hashlib.sha256(images.view(np.uint8).reshape(-1) if images.size else b"").hexdigest()
    arch = dataclasses.replace(twin, label="", seed=0)
    return (repr(arch), seeds, images.shape, str(images.dtype), digest, kernel, layers)


def with_seed_reference(res, spec, ds, kernel: str = "linear", cancel: CancelToken | None = None):
    """Task: ``res`` with its reference: each layer's CKA between two random initialisations of ``spec``'s
    architecture (its random twin at seeds s and s + 1) on the same images, the layers being ``res``'s rows.
    Computed once per process for the same architecture, seeds, images, kernel and layers (``_REFERENCES``)."""
    from app.analysis.cka import cka_matrix, with_reference_note

    twin = random_twin(spec)
    seeds = (int(twin.seed), int(twin.seed) + 1)
    key = _reference_key(twin, seeds, ds, kernel, tuple(res.layers_a))
    with _REFERENCES_LOCK:
        kept = _REFERENCES.pop(key, None)
        if kept is not None:
            _REFERENCES[key] = kept  # the newest again
    if kept is not None:
        return dataclasses.replace(res, reference=kept, reference_seeds=seeds, note=with_reference_note(res.note))
    m0, i0 = built(dataclasses.replace(twin, seed=seeds[0]), ds)
    m1, i1 = built(dataclasses.replace(twin, seed=seeds[1]), ds)
    names = [i.name for i in m0.feature_info]
    layers = [names.index(n) for n in res.layers_a]
    yield Progress(0, None, "the reference: two random initialisations")
    ref = yield from cka_matrix(m0, m1, ds.images, i0, i1, kernel=kernel, layers_a=layers, layers_b=layers,
                                label_a=f"seed {seeds[0]}", label_b=f"seed {seeds[1]}", cancel=cancel)
    values = tuple(float(v) for v in np.diag(ref.matrix))
    with _REFERENCES_LOCK:
        _REFERENCES[key] = values
        while len(_REFERENCES) > REFERENCES_KEPT:
            _REFERENCES.pop(next(iter(_REFERENCES)))
    return dataclasses.replace(res, reference=values, reference_seeds=seeds, note=with_reference_note(res.note))


@dataclass(frozen=True)
class PatchesView:
    image: np.ndarray  # uint8 RGB mosaic of the crops, a caption row under each
    cells: tuple[tuple[int, int, int, int], ...]  # (x, y, w, h) of each crop in the mosaic (without the caption)
    captions: tuple[str, ...]  # "0.83 · 7" (value · label) per crop
    patches: tuple  # app.analysis.patches.Patch
    rf: Any  # app.analysis.patches.RF
    layer_name: str
    channel: int
    title: str


def patches_job(spec, layer: int, channel: int, dataset: str = "digits", n: int = 500, k: int = 16,
                cancel: CancelToken | None = None):
    """Task: the ``k`` dataset crops that excite ``channel`` of ``layer`` most, as a captioned mosaic."""
    from app.analysis.patches import top_patches
    from app.imaging.mosaic import mosaic

    yield Progress(0, None, f"loading {dataset}")
    ds = sample(dataset, n)
    model, ispec = built(spec, ds)
    info = model.feature_info
    if not 0 <= layer < len(info):
        raise InsightError(f"layer {layer}: {spec.backbone} has layers 0..{len(info) - 1}")
    if not 0 <= channel < info[layer].channels:
        raise InsightError(f"channel {channel}: layer {info[layer].name} has channels 0..{info[layer].channels - 1}")
    patches, rf = yield from top_patches(model, ds.images, ds.labels, ispec, layer, channel, k, cancel=cancel)
    side = max(max(p.image.shape[0], p.image.shape[1]) for p in patches)
    ch = patches[0].image.shape[-1]
    tiles = np.full((len(patches), side, side, ch), 255, np.uint8)
    for i, p in enumerate(patches):
        tiles[i, :p.image.shape[0], :p.image.shape[1]] = p.image
    img, lay = mosaic(tiles, cols=min(8, len(patches)), min_size=64, label_space=16, gap=4)
    cells = []
    for i in range(len(patches)):
        x, y, w, h = lay.rect(i)
        cells.append((int(x), int(y), int(w), int(h) - 16))
    name = lambda c: ds.classes[c] if 0 <= c < len(ds.classes) else str(c)  # noqa: E731
    captions = tuple(f"{p.value:.3g} · {name(p.label)}" for p in patches)
    # "channel index": counted from 0 (Live numbers its channels from 1, with the indices beside)
    title = (f"{spec.label or spec.backbone} · {info[layer].name} channel index {channel} · receptive field "
             f"{rf.size_text()} · top {len(patches)} of {len(ds)} {dataset} test images")
    if len(ds) < n:  # the split holds fewer than asked: all of them were scanned
        title += f" ({len(ds):,} of the {n:,} asked: the test split holds {len(ds):,})"
    title += tie_note(patches, len(ds))
    return PatchesView(img, tuple(cells), captions, patches, rf, info[layer].name, channel, title)


def tie_note(patches, n_images: int) -> str:
    """What the choice of the shown crops rests on where more images reach the cut (the last shown value) than are
    shown: "" when none tie past it. Every shown value tied (a sign activation: every positive response is 1): no
    ranking at all; otherwise the last ones shown tie with images not shown (the first in the dataset's order are
    shown)."""
    if not patches or patches[-1].tied <= len(patches):
        return ""
    cut = patches[-1].value
    above = sum(1 for p in patches if p.value > cut)
    if above == 0:
        return (f". Not a ranking: {patches[-1].tied} of the {n_images} images reach this channel's top value "
                f"{cut:.3g}; these {len(patches)} are the first of them in the dataset's order")
    at_cut = len(patches) - above
    return (f". The last {at_cut} shown tie at {cut:.3g} with {patches[-1].tied - len(patches)} more images not "
            f"shown (the first in the dataset's order are shown)")


def no_filters_message(spec, skipped=()) -> str:
    """Why a model has no filter statistics: no convolution with spatial kernels (k > 1) that it could describe;
    ``skipped``: its convolutions with a side of 1 (1 x k, k x 1: ``app.analysis.filters.skipped_note``)."""
    from app.analysis.filters import skipped_note

    name = spec.label or spec.backbone
    why = (" (its wavelets are computed, not stored as convolution weights)" if spec.backbone == "scattering"
           else "")
    return (f"{name}: no spatial convolutions (k x k kernels, k > 1) whose weights the filter statistics can "
            f"describe{why}" + (f"; {skipped_note(skipped)}" if skipped else ""))


@dataclass(frozen=True)
class FilterSet:
    label: str
    kind: str  # "trained", "random", "hand-designed"
    stats: tuple  # app.analysis.filters.FilterStats, per layer
    note: str = ""  # the layers left out (kernels with a side of 1), "" where none


FROZEN_KIND = "frozen"  # a trained model's layer whose weights were never trained (``series_entry``)


def series_entry(fs: FilterSet, s) -> tuple[str, str]:
    """(label, kind) a layer's statistics ``s`` of ``fs`` are drawn under: the set's own, except a trained model's
    layer whose weights its architecture keeps frozen (an LC model's random k x k basis, unless ``learn_spatial``;
    ``FilterStats.trainable`` False): those are not trained weights ("frozen, never trained")."""
    if fs.kind == "trained" and getattr(s, "trainable", None) is False:
        return f"{fs.label}: frozen, never trained", FROZEN_KIND
    return fs.label, fs.kind


def filters_job(spec, banks: tuple[tuple[str, np.ndarray], ...] = (), cancel: CancelToken | None = None):
    """Task: filter statistics of ``spec``, of its random twin (when ``spec`` has weights or banks) and of each
    hand-designed bank given as (name, weights (out, in, kh, kw)). Kernels with a side of 1 (1 x k, k x 1) are left
    out and named in the set's note."""
    from app.analysis.filters import model_stats, skipped_note, spatial, stats, too_thin
    from app.models.build import build

    out = []
    twin = spec.weights is not None or bool(spec.banks)
    yield Progress(0, 2, f"statistics of {spec.label or spec.backbone}")
    skipped: list[str] = []
    first = tuple(model_stats(built(spec)[0], skipped))  # built: refuses the unfitted patches backbone
    usable = [(n, np.asarray(w)) for n, w in banks]
    if not first and not any(spatial(w) and not too_thin(w) for _n, w in usable):
        raise InsightError(no_filters_message(spec, skipped))
    out.append(FilterSet(spec.label or spec.backbone, spec.weight_state, first, skipped_note(skipped)))
    check(cancel)
    if twin:
        t = random_twin(spec)
        yield Progress(1, 2, "statistics of the random twin")
        name = t.label if spec.backbone == "external" else f"{spec.backbone} (random)"
        left: list[str] = []
        out.append(FilterSet(name, "random", tuple(model_stats(build(t, "cpu"), left)), skipped_note(left)))
    for name, w in usable:
        check(cancel)
        if spatial(w):
            if too_thin(w):
                out.append(FilterSet(f"{name} (bank)", "hand-designed", (),
                                     skipped_note([f"{name} ({w.shape[-2]}x{w.shape[-1]})"])))
            else:
                out.append(FilterSet(f"{name} (bank)", "hand-designed", (stats(w, "bank"),)))
    yield Progress(2, 2, "done")
    return tuple(out)


@dataclass(frozen=True)
class FoldView:
    name: str
    effective: Any  # app.models.kernel_mosaic.Mosaic
    basis: Any
    shape_effective: tuple[int, ...]
    shape_basis: tuple[int, ...]
    learned_basis: bool = False  # the k x k basis is trained too (lc-* with learn_spatial=true), not frozen random


def fold_job(spec, cancel: CancelToken | None = None):
    """Task: every LC block of ``spec`` folded, as (effective, basis) kernel mosaics."""
    from app.analysis.fold import lc_layers
    from app.models.build import build
    from app.models.kernel_mosaic import kernel_mosaic

    yield Progress(0, None, f"building {spec.label or spec.backbone}")
    folded = lc_layers(build(spec, "cpu"))
    if not folded:
        raise InsightError(f"{spec.label or spec.backbone} has no LC blocks (a frozen k x k conv followed by a "
                           f"learned 1x1): choose an lc-* backbone, e.g. lc-resnet20")
    out = []
    for i, f in enumerate(folded):
        check(cancel)
        out.append(FoldView(f.name, kernel_mosaic(f.effective, max_kernels=1024),
                            kernel_mosaic(f.basis, max_kernels=1024), tuple(f.effective.shape),
                            tuple(f.basis.shape), f.learned_basis))
        yield Progress(i + 1, len(folded), f"folded {f.name}")
    return tuple(out)
