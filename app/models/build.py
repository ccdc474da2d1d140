"""From a ``ModelSpec`` to a ready ``Backbone``, and what input that model expects.

    model = build(spec, device=None)      # eval mode, on ``device`` (default: app.device.pick())
    ispec = input_spec(spec or model)     # InputSpec(channels, size, mean, std)
    x = preprocess(images_uint8_nhwc, ispec, dataset_mean, dataset_std, device)

``build`` order: create from the registry with ``spec.kwargs`` (seeded with ``spec.seed``) -> ``spec.init`` ->
``spec.weights`` (strict, ``WeightsError`` on mismatch) -> Workbench banks (``spec.banks``: (layer name,
KernelBank); frozen kernels stay frozen in training) -> ``spec.freeze`` patterns.
"""

from __future__ import annotations

import threading

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from app.models.base import Backbone, ModelError, create, names
from app.models.freeze import apply_freeze, apply_init, mark_always_frozen, param_counts  # noqa: F401
from app.models.spec import ModelSpec
from app.models.weights import WeightsError, known_for_path, load_into, read_sidecar


class BuildError(ModelError):
    """A spec could not be turned into a model (unknown backbone, bad option, bank that does not fit)."""


@dataclass(frozen=True)
class InputSpec:
    """The input a model expects. ``size`` None: any size (fully convolutional). ``mean``/``std`` None: normalise
    with the dataset's own statistics (random or untrained models)."""

    channels: int
    size: int | None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    note: str = ""


# --- banks -------------------------------------------------------------------------------------------------
def resolve_conv(model: nn.Module, layer: str) -> nn.Conv2d:
    """The conv a bank named ``layer`` goes into: a ``conv_layers()`` name or a module path."""
    convs = model.conv_layers() if hasattr(model, "conv_layers") else {}
    if layer in convs:
        return convs[layer]
    mods = dict(model.named_modules())
    m = mods.get(layer)
    if isinstance(m, nn.Conv2d):
        return m
    if m is not None:  # a block: its first conv
        for sub in m.modules():
            if isinstance(sub, nn.Conv2d):
                return sub
    raise BuildError(f"no conv layer {layer!r} in {type(model).__name__}; layers: {', '.join(convs)}")


def apply_bank(conv: nn.Conv2d, bank: Any) -> None:
    """Copy a Workbench bank into ``conv``; its frozen kernels stay frozen in training (see app.kernels.bank)."""
    try:
        from app.kernels.bank import apply_bank_to_conv
    except ModuleNotFoundError as exc:  # pragma: no cover - the kernels package ships with the app
        if exc.name not in ("app.kernels.bank",):
            raise
        apply_bank_to_conv = _apply_bank_fallback
    weights = np.asarray(getattr(bank, "weights"))
    want = tuple(conv.weight.shape)
    if tuple(weights.shape) != want:
        raise BuildError(
            f"bank {getattr(bank, 'name', '')!r} has shape {tuple(weights.shape)} (out, in, k, k) but the layer "
            f"needs {want}; change the layer's width/kernel size or the bank")
    try:
        apply_bank_to_conv(conv, bank)
    except ValueError as exc:
        raise BuildError(str(exc)) from None


def _apply_bank_fallback(conv: nn.Conv2d, bank: Any) -> None:  # pragma: no cover - used only without app.kernels
    w = conv.weight
    with torch.no_grad():
        w.copy_(torch.as_tensor(np.asarray(bank.weights), dtype=w.dtype))
    mask = torch.as_tensor(np.asarray(bank.frozen, dtype=bool))
    conv.register_buffer("_fe_frozen_mask", mask, persistent=False)
    conv.register_buffer("_fe_frozen_ref", w.detach().clone(), persistent=False)
    if bool(mask.any()):
        w.register_hook(lambda g: g.masked_fill(mask.to(g.device).view(-1, 1, 1, 1), 0.0))


def restore_frozen(model: nn.Module) -> int:
    """Put Workbench-frozen kernels back bit for bit (call after each optimizer step)."""
    try:
        from app.kernels.bank import restore_frozen as _rf
    except ModuleNotFoundError:  # pragma: no cover
        _rf = None
    if _rf is not None:
        return _rf(model)
    n = 0  # pragma: no cover
    with torch.no_grad():  # pragma: no cover
        for m in model.modules():
            mask = getattr(m, "_fe_frozen_mask", None)
            if mask is not None and bool(mask.any()):
                m.weight[mask] = m._fe_frozen_ref[mask]
                n += int(mask.sum())
    return n


# --- build -------------------------------------------------------------------------------------------------
SEED_LOCK = threading.RLock()


def create_model(backbone: str, options: dict[str, Any]) -> Backbone:
    if backbone not in names():
        raise BuildError(f"unknown backbone {backbone!r}; known: {', '.join(names())}")
    opts = {k: (tuple(v) if isinstance(v, list) else v) for k, v in options.items()}
    try:
        return create(backbone, **opts)
    except TypeError as exc:
        raise BuildError(f"{backbone}: bad option ({exc})") from None
    except (ValueError, KeyError) as exc:
        raise BuildError(f"{backbone}: {exc}") from None


def build(spec: ModelSpec, device: torch.device | str | None = None) -> Backbone:
    """Create, initialise, load, apply banks and freeze (see the module docstring); returns it in eval mode."""
    if device is None:
        from app import device as _dev

        device = _dev.pick()
    # torch's default generator is process-wide: builds in parallel threads (Live, Probe, Models) would mix their
    # draws and a "seed 0" model would differ from run to run, so seeded creation is serialised.
    with SEED_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(spec.seed))
        model = create_model(spec.backbone, spec.kwargs)
        mark_always_frozen(model)
        g = torch.Generator().manual_seed(int(spec.seed) + 1)
        apply_init(model, spec.init, g)
    if spec.weights:
        try:
            load_into(model, spec.weights)
        except WeightsError:
            raise
        except (OSError, RuntimeError) as exc:
            raise WeightsError(f"{Path(spec.weights).name}: {exc}") from None
    for layer, bank in spec.banks:
        apply_bank(resolve_conv(model, layer), bank)
    apply_freeze(model, spec.freeze)
    model.to(device)
    model.eval()
    object.__setattr__(model, "fe_spec", spec)
    return model


def spec_from_checkpoint(path: str | Path, label: str | None = None, weight_state: str = "trained") -> ModelSpec:
    """A spec for a checkpoint: from its JSON sidecar, or from the known weights table (shared files)."""
    path = Path(path).expanduser()
    side = read_sidecar(path)
    if side and isinstance(side.get("architecture"), dict):
        arch = dict(side["architecture"])
        arch.pop("weights", None)
        arch.pop("banks", None)
        base = ModelSpec.from_dict({k: v for k, v in arch.items() if k in ModelSpec.__dataclass_fields__})
        ds = side.get("dataset") or ""
        return ModelSpec(base.backbone, base.options, "checkpoint", str(path), base.freeze, base.seed,
                         label or f"{base.backbone} (trained, {ds})", weight_state)
    kw = known_for_path(path)
    if kw is not None:
        return ModelSpec.make(kw.backbone, label=label or kw.label, options=dict(kw.options), init="checkpoint",
                              weights=str(path), weight_state=weight_state)
    raise WeightsError(f"{path.name}: no JSON sidecar ({path.with_suffix('.json').name}) says which backbone it is; "
                       f"give the backbone explicitly")


# --- input ---------------------------------------------------------------------------------------------------
def input_spec(spec_or_model: ModelSpec | Backbone) -> InputSpec:
    """What input the model expects (channels, size, normalisation; None = the dataset's own)."""
    spec = spec_or_model if isinstance(spec_or_model, ModelSpec) else getattr(spec_or_model, "fe_spec", None)
    model = spec_or_model if isinstance(spec_or_model, nn.Module) else None
    if spec is not None and spec.weights:
        side = read_sidecar(spec.weights)
        inp = (side or {}).get("input")
        if isinstance(inp, dict) and "channels" in inp:
            return InputSpec(int(inp["channels"]), inp.get("size"), _tup(inp.get("mean")), _tup(inp.get("std")),
                             f"as trained on {(side or {}).get('dataset')}")
        kw = known_for_path(spec.weights)
        if kw is not None:
            return InputSpec(kw.input_channels, kw.input_size, kw.mean, kw.std, f"as trained ({kw.name})")
    if model is None:
        try:
            c, size = _default_input(spec.backbone, spec.options)
        except TypeError:  # unhashable options
            c, size = _default_input.__wrapped__(spec.backbone, spec.options)
    else:
        c, size = _model_input(model)
    return InputSpec(c, size, None, None, "random weights: dataset statistics")


def _model_input(model: nn.Module) -> tuple[int, int | None]:
    c, h, _ = getattr(model, "default_input", (3, 32, 32))
    return int(c), (int(h) if getattr(model, "fixed_input_size", False) else None)


@functools.lru_cache(maxsize=64)
def _default_input(backbone: str, options: tuple) -> tuple[int, int | None]:
    with torch.random.fork_rng(devices=[]):
        return _model_input(create_model(backbone, dict(options)))


def default_input(backbone: str, options) -> tuple[int, tuple[int, int] | None]:
    """(channels, (H, W) or None) a backbone built with ``options`` asks for (see ``app.models.inputs``)."""
    from app.models.inputs import model_input

    opts = tuple(sorted(dict(options).items()))
    try:
        hash(opts)
    except TypeError:
        with torch.random.fork_rng(devices=[]):
            return model_input(create_model(backbone, dict(options)))
    return _default_input_spec(backbone, opts)


@functools.lru_cache(maxsize=64)
def _default_input_spec(backbone: str, options: tuple) -> tuple[int, tuple[int, int] | None]:
    from app.models.inputs import model_input

    with torch.random.fork_rng(devices=[]):
        return model_input(create_model(backbone, dict(options)))


def _tup(v) -> tuple[float, ...] | None:
    return None if v is None else tuple(float(x) for x in v)


def preprocess(images: np.ndarray, ispec: InputSpec, mean: tuple[float, ...] | None = None,
               std: tuple[float, ...] | None = None, device: torch.device | str | None = "cpu") -> torch.Tensor:
    """uint8 (N, H, W, C) -> float (N, C', H', W') as the model expects: channels converted (gray <-> RGB),
    resized to ``ispec.size`` (bilinear, antialiased), normalised with the model's mean/std or else the given
    dataset statistics (or 0.5/0.25 when none)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    if x.dim() == 3:
        x = x.unsqueeze(-1)
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    c = x.shape[1]
    if c != ispec.channels:
        if c == 1:
            x = x.expand(-1, ispec.channels, -1, -1)
        elif ispec.channels == 1:
            w = torch.tensor([0.299, 0.587, 0.114], device=x.device)[: c].view(1, c, 1, 1)
            x = (x * w).sum(1, keepdim=True) / w.sum()
        else:
            raise ModelError(f"cannot convert {c}-channel images to {ispec.channels} channels")
    if ispec.size and (x.shape[2] != ispec.size or x.shape[3] != ispec.size):
        x = torch.nn.functional.interpolate(x, size=(ispec.size, ispec.size), mode="bilinear",
                                            align_corners=False, antialias=True)
    m = ispec.mean if ispec.mean is not None else mean
    s = ispec.std if ispec.std is not None else std
    if m is None or s is None:
        m, s = (0.5,), (0.25,)
    mt = torch.tensor(_fit(m, x.shape[1]), device=x.device).view(1, -1, 1, 1)
    st = torch.tensor(_fit(s, x.shape[1]), device=x.device).view(1, -1, 1, 1)
    return ((x - mt) / st).contiguous()


def _fit(v: tuple[float, ...], c: int) -> list[float]:
    v = list(v)
    if len(v) == c:
        return v
    if len(v) == 1:
        return v * c
    return [float(np.mean(v))] * c
