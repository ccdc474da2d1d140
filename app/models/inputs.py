"""What input a model sees: ONE frozen ``InputSpec`` per model and ONE preprocessing, for train, eval, probe and live.

    ispec = input_spec(spec, model, stats=dataset_stats(ds))   # resolved once, up front
    x = to_tensor(images_uint8_nhwc, ispec, device)            # every path: train, eval, probe
    scale, shift = affine(ispec, device)                       # live: x255 * scale + shift, the same numbers

Where a spec comes from, in this order (``InputSpec.source`` says which, and runs record it):

1. declared: ``ModelSpec.input`` (the command line's ``--input-size/--mean/--std``, the Models workspace's
   weights dialog);
2. the checkpoint's JSON sidecar (``"input"``: what the model was trained on);
3. the known-weights table (``app.models.weights.KNOWN``: the official ResNet-20, LeNet-5);
4. otherwise (random weights, or a checkpoint that declares nothing) the model's own channels and, for models
   that need it (``fixed_input_size``), its size; the mean and standard deviation of the dataset it is fed
   (``stats``), or neutral statistics (0.5, 0.25) where there is no dataset (Live). A checkpoint with weights
   that falls to this case says so in ``source`` ("no declared input: dataset statistics").

Preprocessing, always in this order: uint8 (N, H, W, C) -> float32 0..255 (N, C, H, W) -> channels (grey is
replicated to RGB; RGB becomes grey by the ``LUMA`` weights; alpha is dropped) -> resize to ``size`` when it is set
and differs (``interpolation``, antialiased as ``antialias`` says: "shrink" only when making smaller, "always",
"never") -> ``x * scale + shift`` with ``scale = 1 / (255 std)`` and ``shift = -mean / std`` (one fused multiply-add;
Live applies the very same two tensors to its 0..255 frames).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from app.errors import AppError
from app.imaging import LUMA

NEUTRAL_MEAN = 0.5
NEUTRAL_STD = 0.25
INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "area")
ANTIALIAS = ("shrink", "always", "never")
PRESETS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "mnist": ((0.1307,), (0.3081,)),
    "unit": ((0.0,), (1.0,)),  # plain [0, 1]
    "neutral": ((NEUTRAL_MEAN,), (NEUTRAL_STD,)),
}


class InputSpecError(AppError, ValueError):
    """An input spec that cannot be used (wrong number of values, a zero std, an unknown interpolation)."""


def _floats(v: Any, what: str) -> tuple[float, ...]:
    try:
        out = tuple(float(x) for x in (v if isinstance(v, (list, tuple)) else [v]))
    except (TypeError, ValueError):
        raise InputSpecError(f"{what}: expected numbers, got {v!r}") from None
    if not out or not all(np.isfinite(out)):
        raise InputSpecError(f"{what}: expected finite numbers, got {v!r}")
    return out


def fit_stats(mean: tuple[float, ...], std: tuple[float, ...], channels: int) -> tuple[tuple, tuple]:
    """Statistics for ``channels`` channels: as they are, one value repeated, or RGB -> grey by luma. Any other count
    (2 or 4 values for 3 channels) is an ``InputSpecError``: such values used to be averaged into one per channel, a
    normalisation nobody gave."""
    mean, std = tuple(float(v) for v in mean), tuple(float(v) for v in std)
    if len(mean) != len(std):
        raise InputSpecError(f"mean has {len(mean)} values but std has {len(std)}")
    if len(mean) == channels:
        return mean, std
    if len(mean) == 1:
        return mean * channels, std * channels
    if channels == 1 and len(mean) == 3:
        return (sum(w * v for w, v in zip(LUMA, mean)),), (sum(w * v for w, v in zip(LUMA, std)),)
    raise InputSpecError(f"mean and std have {len(mean)} values for {channels} channel(s): give 1 value (every "
                         f"channel) or {channels}" + (" (or 3, R G B, for their luma)" if channels == 1 else ""))


@dataclass(frozen=True)
class InputSpec:
    """The input a model expects. ``size`` None: the images' own size (fully convolutional models)."""

    channels: int
    size: tuple[int, int] | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bilinear"
    antialias: str = "shrink"
    source: str = ""

    def __post_init__(self) -> None:
        if int(self.channels) not in (1, 3):
            raise InputSpecError(f"input channels must be 1 or 3, got {self.channels}")
        object.__setattr__(self, "channels", int(self.channels))
        size = self.size
        if size is not None:
            if isinstance(size, (int, np.integer)):
                size = (int(size), int(size))
            size = tuple(int(v) for v in size)
            if len(size) != 2 or min(size) < 1 or max(size) > 16384:
                raise InputSpecError(f"input size must be H x W between 1 and 16384, got {self.size!r}")
            object.__setattr__(self, "size", size)
        mean, std = fit_stats(_floats(self.mean, "mean"), _floats(self.std, "std"), self.channels)
        if any(s <= 0 for s in std):
            raise InputSpecError(f"std must be positive, got {std}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)
        if self.interpolation not in INTERPOLATIONS:
            raise InputSpecError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {self.interpolation!r}")
        if self.antialias not in ANTIALIAS:
            raise InputSpecError(f"antialias must be one of {', '.join(ANTIALIAS)}, got {self.antialias!r}")

    # --- text and storage -----------------------------------------------------------------------------------
    def key(self) -> str:
        """Everything that changes the tensor (not ``source``): for cache keys."""
        size = "any" if self.size is None else f"{self.size[0]}x{self.size[1]}"
        return (f"c{self.channels}-{size}-{self.interpolation}-{self.antialias}-m"
                + ",".join(f"{v:.6g}" for v in self.mean) + "-s" + ",".join(f"{v:.6g}" for v in self.std))

    def describe(self) -> str:
        size = "the images' own size" if self.size is None else f"{self.size[0]}x{self.size[1]}"
        m = ", ".join(f"{v:.4g}" for v in self.mean)
        s = ", ".join(f"{v:.4g}" for v in self.std)
        return f"{self.channels} channel(s), {size}, mean ({m}), std ({s})" + (f" [{self.source}]" if self.source else "")

    def to_dict(self) -> dict[str, Any]:
        return {"channels": self.channels, "size": None if self.size is None else list(self.size),
                "mean": list(self.mean), "std": list(self.std), "interpolation": self.interpolation,
                "antialias": self.antialias, "source": self.source}

    @staticmethod
    def from_dict(d: dict[str, Any], source: str | None = None) -> "InputSpec":
        """From ``to_dict()`` or an older sidecar's ``{"channels", "size" (int), "mean", "std"}``: the app's own
        stored specs. A missing mean / std falls back to the neutral statistics; the metadata of a model file the
        user brings is checked for both before it gets here (``app.models.external.model.metadata_input``)."""
        if not isinstance(d, dict) or "channels" not in d:
            raise InputSpecError(f"an input spec needs at least 'channels', got {d!r}")
        try:
            return InputSpec(int(d["channels"]), d.get("size"), tuple(d.get("mean") or (NEUTRAL_MEAN,)),
                             tuple(d.get("std") or (NEUTRAL_STD,)), str(d.get("interpolation", "bilinear")),
                             str(d.get("antialias", "shrink")), source if source is not None else str(d.get("source", "")))
        except (TypeError, ValueError) as exc:
            if isinstance(exc, InputSpecError):
                raise
            raise InputSpecError(f"not a valid input spec ({exc}): {d!r}") from None

    def with_(self, **kw: Any) -> "InputSpec":
        return replace(self, **kw)


def declared(channels: int, size: Any = None, mean: Any = None, std: Any = None, preset: str | None = None,
             **kw: Any) -> InputSpec:
    """An input spec the user states (``--input-size/--mean/--std``, or a preset name: imagenet, cifar10, mnist,
    unit, neutral)."""
    if preset is not None:
        if preset not in PRESETS:
            raise InputSpecError(f"unknown input preset {preset!r}; known: {', '.join(PRESETS)}")
        pm, ps = PRESETS[preset]
        mean = pm if mean is None else mean
        std = ps if std is None else std
    if mean is None or std is None:
        raise InputSpecError("a declared input needs a mean and a std (or a preset)")
    return InputSpec(channels, size, mean, std, source="declared", **kw)


def parse_size(text: str | int | None) -> tuple[int, int] | None:
    """"32", "224x224", "240x320" -> (H, W); None / "" / "any" -> None."""
    if text is None:
        return None
    if isinstance(text, int):
        return (text, text)
    t = str(text).strip().lower().replace("×", "x")
    if t in ("", "any", "none"):
        return None
    try:
        parts = [int(v) for v in t.split("x")]
    except ValueError:
        raise InputSpecError(f"input size {text!r}: expected N or HxW (e.g. 32 or 224x224)") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 1:
        raise InputSpecError(f"input size {text!r}: expected N or HxW with positive numbers")
    return parts[0], parts[1]


# --- resolution ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stats:
    """Dataset statistics (per channel, in [0, 1] units) and where they come from."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    name: str = ""


def dataset_stats(ds: Any) -> Stats | None:
    """``Stats`` of an ``ArrayDataset`` (its ``mean``/``std``), or None when it has none."""
    mean, std = tuple(getattr(ds, "mean", ()) or ()), tuple(getattr(ds, "std", ()) or ())
    if not mean or not std:
        return None
    return Stats(mean, std, str(getattr(ds, "name", "")))


def weights_input_spec(spec: Any) -> InputSpec | None:
    """The input the spec's weights carry: declared on the spec, in the sidecar, or in the known-weights table."""
    declared_in = getattr(spec, "input", None)
    if declared_in is not None:
        return declared_in if isinstance(declared_in, InputSpec) else InputSpec.from_dict(declared_in, "declared")
    weights = getattr(spec, "weights", None)
    if not weights:
        return None
    from app.models.weights import known_for_path, spec_sidecar

    side = spec_sidecar(spec) or {}
    inp = side.get("input")
    if isinstance(inp, dict) and "channels" in inp:
        ds = side.get("dataset")
        return InputSpec.from_dict(inp, f"sidecar: as trained on {ds}" if ds else "sidecar")
    kw = known_for_path(weights)
    if kw is not None:
        return InputSpec(kw.input_channels, kw.input_size, kw.mean, kw.std, source=f"known weights: {kw.name}")
    return None


def model_input(model: Any) -> tuple[int, tuple[int, int] | None]:
    """(channels, size) a built model asks for: its ``default_input`` channels; its size only when it needs one."""
    c, h, w = getattr(model, "default_input", (3, 32, 32))
    return int(c), ((int(h), int(w)) if getattr(model, "fixed_input_size", False) else None)


def input_spec(spec: Any, model: Any = None, stats: Stats | None = None) -> InputSpec:
    """THE input spec of a model (see the module docstring). ``model``: the built backbone (its channels and fixed
    size; built from ``spec`` without weights when not given); ``stats``: the dataset it will be fed."""
    own = weights_input_spec(spec)
    if (own is not None and model is not None and hasattr(model, "input_meta")
            and str(own.source).startswith("model metadata")):
        # an imported model's input copied from its file's metadata: the build re-read the file (a re-exported file's
        # new normalisation, its source saying so; None: the file no longer declares one)
        own = model.input_meta
    if own is not None and model is not None and getattr(spec, "input", None) is not None:
        channels, _size = model_input(model)
        if own.channels != channels:  # a declared input (--input-preset unit: 3 channels) for a 1-channel model
            if len(set(own.mean)) == 1 and len(set(own.std)) == 1:  # one value per channel alike: the model's count
                own = own.with_(channels=channels, mean=(own.mean[0],) * channels, std=(own.std[0],) * channels)
            else:
                raise InputSpecError(f"the declared input has {own.channels} channels (mean {own.mean}) but "
                                     f"{getattr(spec, 'label', '') or getattr(spec, 'backbone', 'the model')} takes "
                                     f"{channels}: give {channels} mean and std values")
    if own is not None:
        if own.size is None and model is not None and getattr(model, "fixed_input_size", False):
            # a model that runs at one size only is never fed another (a declared input that left the size open)
            _c, size = model_input(model)
            own = own.with_(size=size, source=f"{own.source}; size: the model's fixed input")
        return own
    stated = ""
    if model is None:
        from app.models.build import default_input

        channels, size = default_input(spec.backbone, spec.options)
    else:
        channels, size = model_input(model)
        meta_size = getattr(model, "metadata_size", None)  # an imported file's metadata: a size, no mean / std
        if size is None and meta_size:
            size, where = tuple(meta_size[0]), meta_size[1]
            stated = f"; size {size[0]}x{size[1]} from {where}, which gives no mean / std"
    if stats is not None:
        mean, std = fit_stats(stats.mean, stats.std, channels)
        what = f"dataset statistics ({stats.name})" if stats.name else "dataset statistics"
    else:
        mean, std = (NEUTRAL_MEAN,) * channels, (NEUTRAL_STD,) * channels
        what = "neutral statistics (0.5, 0.25)"
    trained = bool(getattr(spec, "weights", None))
    source = ("no declared input: " if trained else "random weights: ") + what + stated
    return InputSpec(channels, size, mean, std, source=source)


# --- the one preprocessing ----------------------------------------------------------------------------------
def affine(ispec: InputSpec, device: Any = "cpu"):
    """``(scale, shift)`` float32 tensors of shape (1, C, 1, 1): ``x255 * scale + shift`` normalises 0..255 input."""
    import torch

    std = torch.tensor(ispec.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    mean = torch.tensor(ispec.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    return 1.0 / (255.0 * std), -mean / std


def as_seen(images: np.ndarray, ispec: InputSpec, size: tuple[int, int] | None = None) -> np.ndarray:
    """The pixels a model is given, before normalisation: uint8 (N, H, W, C) after ``to_tensor``'s channel conversion
    and resize (its own interpolation and antialiasing), for pictures "as the model saw it" (Insight's top patches)."""
    import torch

    x = to_tensor(images, ispec, "cpu", size=size)
    scale, shift = affine(ispec)
    x255 = ((x - shift) / scale).round().clamp(0, 255).to(torch.uint8)
    return np.ascontiguousarray(x255.permute(0, 2, 3, 1).numpy())


def convert_channels(x, channels: int):
    """float (N, C, H, W) -> ``channels`` channels: grey replicated, RGB -> grey by ``LUMA``, alpha dropped."""
    import torch

    c = x.shape[1]
    if c == 4:
        x, c = x[:, :3], 3
    if c == channels:
        return x
    if c == 1:
        return x.expand(-1, channels, -1, -1)
    if channels == 1 and c == 3:
        w = torch.tensor(LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        return (x * w).sum(dim=1, keepdim=True)
    raise InputSpecError(f"cannot convert {c}-channel images to {channels} channel(s)")


def resize(x, size: tuple[int, int] | None, ispec: InputSpec):
    """Resize float (N, C, H, W) to ``size`` (no-op when None or equal) as the spec says."""
    import torch.nn.functional as F

    if size is None:
        return x
    h, w = x.shape[-2:]
    if (h, w) == tuple(size):
        return x
    shrink = size[0] < h or size[1] < w
    aa = ispec.antialias == "always" or (ispec.antialias == "shrink" and shrink)
    mode = ispec.interpolation
    if mode == "nearest":
        return F.interpolate(x, size=tuple(size), mode="nearest")
    if mode == "area":
        return F.interpolate(x, size=tuple(size), mode="area")
    return F.interpolate(x, size=tuple(size), mode=mode, align_corners=False, antialias=aa and mode in ("bilinear", "bicubic"))


def aspect_box(h: int, w: int, size: tuple[int, int] | None) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the centre of an h x w image with the aspect of ``size`` (H, W) (the whole image when it has
    that aspect within a pixel, or for no size)."""
    if not size:
        return 0, h, 0, w
    th, tw = int(size[0]), int(size[1])
    if abs(h * tw - w * th) <= max(h, w):
        return 0, h, 0, w
    if w * th > h * tw:  # too wide
        cw = max(1, round(h * tw / th))
        x0 = (w - cw) // 2
        return 0, h, x0, x0 + cw
    ch = max(1, round(w * th / tw))
    y0 = (h - ch) // 2
    return y0, y0 + ch, 0, w


def crop_to_aspect(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """The centre of an (H, W, ...) image with the aspect of ``size`` (H, W) (``aspect_box``): how a video frame is fed
    to a classifier trained at ``size``."""
    y0, y1, x0, x1 = aspect_box(image.shape[0], image.shape[1], size)
    return image[y0:y1, x0:x1]


def to_tensor(images: np.ndarray, ispec: InputSpec, device: Any = "cpu", size: tuple[int, int] | None = None):
    """uint8 (N, H, W, C) (or (N, H, W)) -> float32 (N, channels, H', W') normalised, on ``device``.

    ``size`` overrides ``ispec.size`` (Live's processing size for models that take any size)."""
    import torch

    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise InputSpecError(f"images must be (N, H, W, C), got shape {images.shape}")
    arr = np.ascontiguousarray(images)
    # a read-only batch (a memmap, a cached dataset's view) is copied: uint8, small beside the float32 it becomes, and
    # torch warns on wrapping read-only memory (the CLI printed that warning during the random-mnist preset)
    x = torch.from_numpy(arr if arr.flags.writeable else arr.copy()).to(device)
    x = x.permute(0, 3, 1, 2).float()
    x = convert_channels(x, ispec.channels)
    x = resize(x, size or ispec.size, ispec)
    scale, shift = affine(ispec, x.device)
    x = torch.addcmul(shift, x, scale)
    # channels-last where it was measured faster (the CPU); other devices keep torch's default layout (Live chooses
    # its own there: app.live.engine)
    return channels_last(x) if x.device.type == "cpu" else x.contiguous()


def standard_layout(x):
    """(N, C, H, W) ``x`` in torch's default memory order with plain strides (C H W, H W, W, 1), also for C = 1.
    A model file's own code may assume it (``x.view(n, -1)`` after its convolutions fails on channels-last maps), so
    the imported models (``app.models.external``) run on this layout whatever the batch's."""
    if x.dim() != 4:
        return x.contiguous()
    n, c, h, w = x.shape
    return _restrided(x, (c * h * w, h * w, w, 1))


def _restrided(x, strides: tuple[int, ...]):
    """``x`` itself where it has ``strides`` (or no elements), else a copy with them."""
    import torch

    if tuple(x.stride()) == strides or x.numel() == 0:
        return x
    return torch.empty_strided(tuple(x.shape), strides, dtype=x.dtype, device=x.device).copy_(x)


def channels_last(x):
    """(N, C, H, W) ``x`` stored channels-last (strides C H W, 1, W C, C; also for C = 1, whose channel stride torch
    would otherwise leave at H W), as ``to_tensor`` returns every batch on the CPU. torch's CPU convolutions and
    pooling take a faster path for this layout: measured on one thread (2026-12-01, load < 1), rdsn k = 2048 block-1
    maps of 32x32 CIFAR-10 images 49 -> 169 images/s, the random-cifar10 preset's extraction on two threads 125 ->
    233 images/s; at 240x320, 2 threads: resnet20 features 13.8 -> 18.5 frames/s, a 4-layer ``simple`` CNN 35.6 ->
    87.8. (A 1-channel batch made by permuting (N, H, W, 1) images already had channel stride 1, which is why MNIST
    extraction was fast and CIFAR-10's was not.) The values are the same tensor's; only the memory order differs."""
    if x.dim() != 4:
        return x.contiguous()
    n, c, h, w = x.shape
    return _restrided(x, (c * h * w, 1, w * c, c))
