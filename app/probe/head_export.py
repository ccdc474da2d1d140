"""A fitted linear probe head, kept so that it can be applied elsewhere (Live predicts with it on any frame).

``save_head(result, record, head_result, ...)`` writes ``<home>/files/heads/<name>.npz`` (the arrays) and
``<name>.json`` (everything else), both atomically (``app.storage``), at the end of a probe run with a logistic,
ridge or SVM head. ``load_head(path) -> LiveHead`` reads them back (frozen; a damaged or inconsistent file is a
``HeadFileError`` naming the file and what is wrong). ``list_heads()`` reads only the JSON sidecars (for menus).

What applying a head takes, exactly as the probe computed its scores:
    maps   = backbone.forward_intermediates(to_tensor(image, input, size), [layer])  (the backbone of ``backbone``,
             its stem replaced by the whitened one when the run whitened it)
    f      = the probe's pooling of the maps (``app.probe.extract``: ``pool_maps`` / ``extract_pooled``)
    f      = (f - proj_mean) @ proj_matrix        (only when the run had a feature budget)
    z      = (f - mean) * inv_std                 (the training features' standardisation)
    scores = z @ W.T + b                          (softmax: the class probabilities of a logistic head)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from app import jsonout
from app import paths
from app.errors import AppError
from app.models.inputs import InputSpec
from app.models.spec import ModelSpec
from app.storage import atomic_path, atomic_write

FORMAT = "filter-explorer probe head 1"
EXPORTED_HEADS = ("logistic", "ridge", "svm")  # linear heads (k-NN and the model's own classifier are not)
MAX_BYTES = 256 * 2**20  # a head bigger than this (a huge feature-budget projection) is not kept


class HeadFileError(AppError):
    """A stored probe head that cannot be used (missing, malformed, inconsistent arrays)."""


@dataclass(frozen=True, eq=False)
class LiveHead:
    """A fitted probe head and everything needed to apply it (read-only arrays)."""

    path: Path  # the .json file
    name: str  # "run-20261130-120102-1a2b3c4d"
    backbone: ModelSpec
    layer: int
    layer_name: str
    pooling: str
    input: InputSpec
    size: tuple[int, int] | None  # the size the head's features were computed at (None: unknown)
    classes: tuple[str, ...]
    head: str  # logistic, ridge, svm
    dataset: str
    top1: float | None  # test top-1 of the run
    created: str
    W: np.ndarray  # (C, d) float32
    b: np.ndarray  # (C,)
    mean: np.ndarray  # (d,) standardisation of the (projected) features
    inv_std: np.ndarray  # (d,)
    proj_mean: np.ndarray | None = None  # (d0,) feature-budget projection (pca), or None
    proj_matrix: np.ndarray | None = None  # (d0, d), or None
    stem_weight: np.ndarray | None = None  # the whitened stem convolution (the run whitened the input), or None
    stem_bias: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return int(self.W.shape[1])

    def title(self) -> str:
        acc = f" ({100 * self.top1:.1f}% on its test split)" if self.top1 is not None else ""
        return (f"{self.head} · {self.backbone.label or self.backbone.backbone} · {self.layer_name} · "
                f"{self.pooling} · {self.dataset}{acc}")

    def short_title(self) -> str:
        """The title a narrow pane shows: its layer first (an elided end keeps it), then the head and backbone."""
        return f"{self.layer_name} · {self.head} probe head · {self.backbone.label or self.backbone.backbone}"


def heads_dir() -> Path:
    return paths.user_files() / "heads"


def backbone_key(spec: ModelSpec) -> str:
    """What identifies a backbone's weights: its spec without the label the user sees."""
    d = spec.to_dict(bank_weights=False)
    d.pop("label", None)
    return json.dumps(d, sort_keys=True, default=str)


def _name(created: str, W: np.ndarray) -> str:
    import hashlib

    stamp = re.sub(r"[^0-9]", "", created)[:14]
    digest = hashlib.sha1(np.ascontiguousarray(W).tobytes()).hexdigest()[:8]
    return f"run-{stamp[:8]}-{stamp[8:]}-{digest}"


def save_head(result: Any, record: Any, head_result: Any, *, mean: np.ndarray, inv_std: np.ndarray,
              size: tuple[int, int] | None, projection: Any = None, stem: tuple[np.ndarray, np.ndarray] | None = None,
              folder: Path | None = None) -> Path | None:
    """Write the head of a finished run (``ProbeResult``, its ``ResolvedProbe``, the selected ``HeadResult``);
    returns the .json path, or None for heads that are not linear (k-NN, own); ``OSError`` when it cannot be
    written or is larger than ``MAX_BYTES`` (the run keeps its result and says why in its settings). ``mean``/``inv_std``: the
    standardisation of the training features the head was fitted on (after ``projection``, the run's
    ``app.probe.budget.Projection`` or None); ``size``: the size of the training images; ``stem``: the whitened
    stem's (weight, bias) when the run whitened the input."""
    if record.head not in EXPORTED_HEADS or not head_result.state:
        return None
    W = np.ascontiguousarray(head_result.state["W"], dtype=np.float32)
    if projection is not None and getattr(projection, "matrix", None) is None:
        projection = None
    b = np.ascontiguousarray(head_result.state["b"], dtype=np.float32)
    created = getattr(result, "created", "") or datetime.now(timezone.utc).isoformat(timespec="seconds")
    folder = Path(folder) if folder is not None else heads_dir()
    folder.mkdir(parents=True, exist_ok=True)
    name = _name(created, W)
    arrays = {"W": W, "b": b, "mean": np.asarray(mean, np.float32), "inv_std": np.asarray(inv_std, np.float32)}
    if projection is not None and getattr(projection, "matrix", None) is not None:
        arrays["proj_matrix"] = np.asarray(projection.matrix, np.float32)
        if projection.mean is not None:
            arrays["proj_mean"] = np.asarray(projection.mean, np.float32)
    if stem is not None:
        arrays["stem_weight"] = np.asarray(stem[0], np.float32)
        arrays["stem_bias"] = np.asarray(stem[1], np.float32)
    total = sum(a.nbytes for a in arrays.values())
    if total > MAX_BYTES:
        raise OSError(f"the head's arrays take {total / 2**20:.0f} MB (more than {MAX_BYTES // 2**20} MB): not kept")
    npz = folder / f"{name}.npz"
    with atomic_path(npz) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    meta = {
        "format": FORMAT, "name": name, "backbone": record.model.to_dict(), "layer": int(record.layer),
        "layer_name": record.layer_name, "pooling": record.pooling, "input": record.input.to_dict(),
        "size": list(size) if size else None, "classes": list(result.classes), "head": record.head,
        "dataset": record.dataset, "top1": float(result.top1), "created": created, "arrays": npz.name,
        "whiten": record.whiten, "feature_budget": record.feature_budget,
    }
    path = folder / f"{name}.json"
    atomic_write(path, jsonout.dumps(meta, indent=1))
    return path


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HeadFileError(f"{path}: no such probe head") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise HeadFileError(f"{path}: not a readable probe head ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise HeadFileError(f"{path}: not a probe head (format {meta.get('format') if isinstance(meta, dict) else None!r}"
                            f", expected {FORMAT!r})")
    for key in ("backbone", "layer", "pooling", "input", "classes", "head"):
        if key not in meta:
            raise HeadFileError(f"{path}: the field {key!r} is missing")
    return meta


def load_head(path: str | Path) -> LiveHead:
    """The head stored at ``path`` (its .json, or its .npz beside it)."""
    from app.probe.extract import parse_pooling

    path = Path(path)
    if path.suffix == ".npz":
        path = path.with_suffix(".json")
    meta = _read_meta(path)
    try:
        backbone = ModelSpec.from_dict(meta["backbone"])
        ispec = InputSpec.from_dict(meta["input"])
        parse_pooling(str(meta["pooling"]))
        layer = int(meta["layer"])
        size = tuple(int(v) for v in meta["size"]) if meta.get("size") else None
    except (AppError, ValueError, TypeError, KeyError) as exc:
        raise HeadFileError(f"{path}: {exc}") from None
    npz = path.parent / str(meta.get("arrays") or path.with_suffix(".npz").name)
    try:
        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: np.array(z[k]) for k in z.files}
    except FileNotFoundError:
        raise HeadFileError(f"{path}: its weights {npz.name} are missing") from None
    except (OSError, ValueError, EOFError) as exc:
        raise HeadFileError(f"{npz}: not a readable array file ({exc})") from None
    for key in ("W", "b", "mean", "inv_std"):
        if key not in arrays:
            raise HeadFileError(f"{npz}: the array {key!r} is missing")
    W, b = arrays["W"].astype(np.float32), arrays["b"].astype(np.float32)
    classes = tuple(str(c) for c in meta["classes"])
    c, d = W.shape if W.ndim == 2 else (-1, -1)
    if W.ndim != 2 or b.shape != (c,) or arrays["mean"].shape != (d,) or arrays["inv_std"].shape != (d,):
        raise HeadFileError(f"{npz}: arrays of inconsistent shapes (W {W.shape}, b {b.shape}, mean "
                            f"{arrays['mean'].shape}, inv_std {arrays['inv_std'].shape})")
    if len(classes) > c:
        raise HeadFileError(f"{path}: {len(classes)} class names for a head of {c} outputs")
    pm = arrays.get("proj_matrix")
    if pm is not None and (pm.ndim != 2 or pm.shape[1] != d):
        raise HeadFileError(f"{npz}: the projection {pm.shape} does not give the head's {d} features")
    for k, a in arrays.items():
        if not np.isfinite(a).all():
            raise HeadFileError(f"{npz}: the array {k!r} holds NaN or infinite values")
    out = {k: arrays.get(k) for k in ("proj_mean", "proj_matrix", "stem_weight", "stem_bias")}
    for a in [W, b, arrays["mean"], arrays["inv_std"], *[v for v in out.values() if v is not None]]:
        a.flags.writeable = False
    return LiveHead(path, str(meta.get("name") or path.stem), backbone, layer, str(meta.get("layer_name") or layer),
                    str(meta["pooling"]), ispec, size, classes + tuple(f"class {i}" for i in range(len(classes), c)),
                    str(meta["head"]), str(meta.get("dataset") or ""), meta.get("top1"), str(meta.get("created") or ""),
                    W, b, arrays["mean"], arrays["inv_std"], **out)


@dataclass(frozen=True)
class HeadInfo:
    """A stored head as a menu shows it (from its JSON only)."""

    path: Path
    name: str
    backbone: ModelSpec
    title: str
    created: str
    layer: int | None = None  # the backbone layer (index) its features were pooled from; None when the file says none


def _info(p: Path, meta: dict) -> HeadInfo:
    try:
        spec = ModelSpec.from_dict(meta["backbone"])
    except (AppError, TypeError, ValueError) as exc:
        raise HeadFileError(f"{p}: its backbone: {exc}") from None
    acc = f", top-1 {100 * meta['top1']:.1f}%" if isinstance(meta.get("top1"), (int, float)) else ""
    title = (f"{meta['head']} · {spec.label or spec.backbone} · {meta.get('layer_name', meta['layer'])} · "
             f"{meta['pooling']} · {meta.get('dataset', '')}{acc} ({str(meta.get('created', ''))[:16]})")
    layer = meta.get("layer")
    layer = layer if isinstance(layer, int) and not isinstance(layer, bool) and layer >= 0 else None
    return HeadInfo(p, str(meta.get("name") or p.stem), spec, title, str(meta.get("created") or ""), layer)


def head_info(path: str | Path) -> HeadInfo:
    """A stored head's ``HeadInfo`` from its JSON (``HeadFileError`` when it cannot be read)."""
    path = Path(path)
    path = path.with_suffix(".json") if path.suffix == ".npz" else path
    return _info(path, _read_meta(path))


def list_heads(folder: Path | None = None) -> list[HeadInfo]:
    """The stored heads, newest first (unreadable files are skipped)."""
    folder = Path(folder) if folder is not None else heads_dir()
    out = []
    for p in sorted(folder.glob("run-*.json")) if folder.is_dir() else ():
        try:
            out.append(_info(p, _read_meta(p)))
        except AppError:
            continue
    out.sort(key=lambda h: h.created, reverse=True)
    return out


# --- applying a head ---------------------------------------------------------------------------------------------
def head_scores(head: LiveHead, features: np.ndarray) -> np.ndarray:
    """(N, C) float32 scores of raw pooled features (N, F): projection, standardisation, ``W f + b``."""
    f = np.asarray(features, dtype=np.float32)
    if head.proj_matrix is not None:
        if head.proj_mean is not None:
            f = f - head.proj_mean
        f = f @ head.proj_matrix
    if f.ndim != 2 or f.shape[1] != head.n_features:
        raise HeadFileError(f"{head.path.name}: the backbone gives {f.shape[-1]} features, the head takes "
                            f"{head.n_features}")
    z = (f - head.mean) * head.inv_std
    return (z @ head.W.T + head.b).astype(np.float32)


class HeadApplier:
    """A stored head with its backbone built (frozen; the run's whitened stem where it had one), ready to score
    images: ``scores(images_uint8_nhwc)``. Each image is centre-cropped to the aspect of ``size`` and fed through
    ``app.models.inputs.to_tensor`` at ``size``; the features are the probe's own (``app.probe.extract``)."""

    def __init__(self, head: LiveHead, device: Any = "cpu") -> None:
        import torch

        from app.models.build import build

        self.head, self.device = head, device
        model = build(head.backbone, device)
        for p in model.parameters():
            p.requires_grad_(False)
        if head.stem_weight is not None:
            conv = getattr(model, "stem", None)
            if conv is None or tuple(conv.weight.shape) != head.stem_weight.shape or conv.bias is None:
                raise HeadFileError(f"{head.path.name}: its whitened stem does not fit the backbone")
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(head.stem_weight.copy()))
                conv.bias.copy_(torch.from_numpy(head.stem_bias.copy()))
        self.model = model.eval()
        n_layers = len(model.feature_info)
        if not 0 <= head.layer < n_layers:
            raise HeadFileError(f"{head.path.name}: layer {head.layer} out of range (the backbone has {n_layers})")

    @property
    def classes(self) -> tuple[str, ...]:
        return self.head.classes

    @property
    def size(self) -> tuple[int, int] | None:
        """The size the frame is fed at: the input spec's, else the training images' (None: the frame's own)."""
        return self.head.input.size or self.head.size

    def title(self) -> str:
        return self.head.title()

    def short_title(self) -> str:
        return self.head.short_title()

    def note(self) -> str:
        """How a frame is fed to the head's backbone: at ``size``, the input spec's (the size the probe fed the
        backbone, the training images resized to it), else the training images' own; the two differ (digits are
        8x8, resized to 28x28 for an MNIST model), so the note names which it is (it called 28x28 the training
        images' size)."""
        fed = _hw(self.size)
        own = _hw(self.head.size)
        declared = _hw(self.head.input.size) if self.head.input is not None else None
        if fed is None:
            return "frame at its own size (the size the head was trained at is unknown)"
        text = f"frame centre-cropped and resized to {fed[0]}x{fed[1]}"
        if declared is not None and fed == declared:
            text += " (the size its backbone was fed in the probe"
            if own is not None and own != fed:
                text += f": the training images, {own[0]}x{own[1]}, were resized to {fed[0]}x{fed[1]} too"
            return text + ")"
        return text + " (the size of the head's training images)"

    def matches(self, spec: ModelSpec) -> bool:
        return backbone_key(self.head.backbone) == backbone_key(spec)

    def features(self, images: np.ndarray) -> np.ndarray:
        import torch

        from app.models.inputs import crop_to_aspect, to_tensor
        from app.probe.extract import _maps_fn

        size = self.size
        images = np.asarray(images)
        x = torch.cat([to_tensor(crop_to_aspect(im, size)[None], self.head.input, self.device, size=size)
                       for im in images])
        with torch.inference_mode():
            return _maps_fn(self.model, self.head.layer, self.head.pooling)(x).float().cpu().numpy()

    def scores(self, images: np.ndarray) -> np.ndarray:
        """(N, C) scores of uint8 (N, H, W, C) images."""
        if len(images) == 0:
            return np.zeros((0, len(self.head.classes)), np.float32)
        return head_scores(self.head, self.features(images))


def open_head(path: str | Path, device: Any = "cpu") -> HeadApplier:
    """``load_head`` + its backbone: what Live calls (injected by the GUI: app.live does not import app.probe)."""
    return HeadApplier(load_head(path), device)


def _hw(size) -> tuple[int, int] | None:
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        return None
    return (h, w) if h > 0 and w > 0 else None
