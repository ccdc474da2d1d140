"""Dataset images (uint8 NHWC) -> the float NCHW tensor a model expects: channels, size, normalisation.

``InputSpec`` says what the model wants; ``input_spec_for(spec, model, dataset)`` finds it (the models package's
``input_spec(spec)`` where it exists, else the backbone's ``default_input`` and the dataset's normalisation);
``to_tensor`` converts a batch on the compute device: gray -> RGB by replication, RGB -> gray by luma weights,
resize by bilinear interpolation (antialiased when shrinking), then (x - mean) / std.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class InputSpec:
    channels: int
    size: tuple[int, int]  # (H, W)
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def key(self) -> str:
        return f"c{self.channels}-{self.size[0]}x{self.size[1]}-m{','.join(f'{v:.5f}' for v in self.mean)}" \
               f"-s{','.join(f'{v:.5f}' for v in self.std)}"


def convert_stats(mean: tuple[float, ...], std: tuple[float, ...], channels: int) -> tuple[tuple, tuple]:
    """Dataset statistics expressed for ``channels`` output channels (after gray/RGB conversion)."""
    mean, std = tuple(float(v) for v in mean), tuple(float(v) for v in std)
    if len(mean) == channels:
        return mean, std
    if len(mean) == 1:
        return mean * channels, std * channels
    if channels == 1:
        m = sum(w * v for w, v in zip(LUMA, mean))
        s = sum(w * v for w, v in zip(LUMA, std))
        return (m,), (s,)
    return (float(np.mean(mean)),) * channels, (float(np.mean(std)),) * channels


def _from_models(spec) -> object | None:
    try:
        import app.models as models

        fn = getattr(models, "input_spec", None)
        if fn is None:
            import importlib

            for name in ("app.models.build", "app.models.zoo"):
                try:
                    fn = getattr(importlib.import_module(name), "input_spec", None)
                except ModuleNotFoundError:
                    fn = None
                if fn is not None:
                    break
        return fn(spec) if fn is not None else None
    except Exception:  # noqa: BLE001 - a partial models package must not break the probe
        return None


def _field(obj, name, default=None):
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def input_spec_for(spec, model, dataset) -> InputSpec:
    """What ``model`` (built from ``spec``) expects for images of ``dataset``.

    Asks the models package (``app.models.build.input_spec``) where it exists: trained weights bring their own
    channels, size and normalisation; a size of None means "any size" (the dataset's own is kept) and a mean/std of
    None means the dataset's statistics (what a random network sees best). Without it: the backbone's
    ``default_input`` and the dataset's statistics.
    """
    n, h_data, w_data, c_data = dataset.images.shape
    c_model, h_model, w_model = getattr(model, "default_input", (c_data, h_data, w_data))
    info = _from_models(model if getattr(model, "fe_spec", None) is not None else spec)
    if info is not None:
        channels = int(_field(info, "channels", c_model) or c_model)
        size = _field(info, "size", None)
        size = (h_data, w_data) if size is None else size
    else:
        channels, size = int(c_model), (h_model, w_model)
    if isinstance(size, int):
        size = (size, size)
    mean = _field(info, "mean", None)
    std = _field(info, "std", None)
    if mean is None or std is None:
        mean = dataset.mean or (0.5,) * dataset.channels
        std = dataset.std or (0.25,) * dataset.channels
    mean, std = convert_stats(tuple(mean), tuple(std), channels)
    return InputSpec(channels, (int(size[0]), int(size[1])), mean, std)


def to_tensor(images: np.ndarray, ispec: InputSpec, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (N, H, W, C) -> float32 (N, channels, H', W') normalised, on ``device``."""
    if images.ndim == 3:
        images = images[..., None]
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    c = x.shape[1]
    if c != ispec.channels:
        if c == 1:
            x = x.expand(-1, ispec.channels, -1, -1)
        elif ispec.channels == 1:
            w = torch.tensor(LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
            x = (x[:, :3] * w).sum(dim=1, keepdim=True)
        else:
            raise ValueError(f"cannot convert {c}-channel images to {ispec.channels} channels")
    h, w = x.shape[-2:]
    if (h, w) != tuple(ispec.size):
        shrink = ispec.size[0] < h or ispec.size[1] < w
        x = F.interpolate(x, size=tuple(ispec.size), mode="bilinear", align_corners=False, antialias=shrink)
    mean = torch.tensor(ispec.mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.tensor(ispec.std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    return ((x - mean) / std).contiguous()
