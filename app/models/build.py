"""From a ``ModelSpec`` to a ready ``Backbone``.

    model = build(spec, device=None)      # eval mode, on ``device`` (default: app.device.pick())

``build`` order: create from the registry with ``spec.kwargs`` (seeded with ``spec.seed``; backbones whose
constructor takes a ``seed`` get ``seed=spec.seed`` unless the options set it) -> ``spec.init`` -> banks a checkpoint
was trained from (marked ``in_weights``: their frozen kernels) -> ``spec.weights`` (strict, ``WeightsError`` on
mismatch) -> other Workbench banks (``spec.banks``: (layer name, KernelBank); frozen kernels stay frozen in training)
-> ``spec.freeze`` patterns. ``spec_from_checkpoint`` marks a sidecar's banks ``in_weights``, so a resumed or
re-loaded run keeps its frozen kernels frozen and its trained ones trained. What input the model expects is
``app.models.inputs``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from app.errors import LimitError
from app.models import registry
from app.models.base import Backbone, ModelError
from app.models.inputs import model_input
from app.models.options import FLAG_WORDS, coerce_options
from app.models.registry import create, names
from app.models.freeze import apply_freeze, apply_init, is_conv2d, mark_always_frozen, param_counts  # noqa: F401
from app.models.spec import ModelSpec
from app.models.weights import WeightsError, known_for_path, load_into, read_sidecar, stopped_at


class BuildError(ModelError):
    """A spec could not be turned into a model (unknown backbone, bad option, bank that does not fit)."""


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
    scripted = [n for n, sub in mods.items() if n and is_conv2d(sub) and not isinstance(sub, nn.Conv2d)]
    if scripted and not convs:  # a TorchScript model: its convolutions are compiled, not nn.Conv2d modules
        at = f" ({layer!r} is one of them)" if any(n == layer or n.endswith("." + layer) for n in scripted) else ""
        raise BuildError(f"{type(model).__name__}: a Workbench bank goes into an eager nn.Conv2d, and this TorchScript "
                         f"model's convolutions are compiled{at}: open the model as ONNX or as a state dict of an "
                         f"architecture the app has to put a bank in it")
    names_ = ", ".join(convs) or ", ".join(n for n, sub in mods.items() if isinstance(sub, nn.Conv2d)) or "none"
    raise BuildError(f"no conv layer {layer!r} in {type(model).__name__}; layers: {names_}")


def apply_bank(conv: nn.Conv2d, bank: Any) -> None:
    """Copy a Workbench bank into ``conv``; its frozen kernels stay frozen in training (see app.kernels.bank)."""
    from app.kernels.bank import apply_bank_to_conv

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


IN_WEIGHTS = "in_weights"  # bank meta flag: the checkpoint's weights already hold this bank (trained from it)


def baked(banks) -> tuple:
    """``banks`` marked as already in a checkpoint's weights (see ``build``)."""
    from app.kernels.bank import KernelBank

    return tuple((layer, KernelBank(b.weights, b.frozen, b.name, {**(b.meta or {}), IN_WEIGHTS: True}))
                 for layer, b in banks)


def restore_frozen(model: nn.Module) -> int:
    """Put Workbench-frozen kernels back bit for bit (call after each optimizer step)."""
    from app.kernels.bank import restore_frozen as _rf

    return _rf(model)


# --- build -------------------------------------------------------------------------------------------------
SEED_LOCK = threading.RLock()


MAX_PARAMS = 1_000_000_000  # 4 GB of float32 weights: more is a typo (widths=[100000, 100000]), not a model
LIMITS_ENV = "FILTER_EXPLORER_LIMITS"


def _limits_on() -> bool:
    return os.environ.get(LIMITS_ENV, "").strip().lower() not in ("off", "0", "no", "false", "none")


class _ShapesOnly(torch.overrides.TorchFunctionMode):
    """On the meta device only the shapes count: in-place fills of meta tensors (``normal_``, ``sign_``, ``erfinv_``)
    are skipped. Their meta kernels are Python references whose first call imports ``torch._dynamo`` (with sympy and
    more: 1.2-2.6 s and ~300k objects, at every launch's first model build: the desktop app's GUI thread then stalled
    ~100 ms in each garbage collection of them). ``torch.randn``/``rand`` (whose meta kernels are the same) give an
    empty tensor of the same shape instead."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name.endswith("_") and not name.endswith("__") and args and isinstance(args[0], torch.Tensor) \
                and args[0].is_meta:
            return args[0]
        if func is torch.randn or func is torch.rand:
            return torch.empty(*args, **{k: v for k, v in kwargs.items() if k != "generator"})
        return func(*args, **kwargs)


def check_size(backbone: str, opts: dict[str, Any]) -> None:
    """Count the parameters ``opts`` would create on the meta device (nothing allocated) and refuse more than
    ``MAX_PARAMS`` with a ``LimitError`` (``FILTER_EXPLORER_LIMITS=off`` lifts it)."""
    if not _limits_on():
        return
    try:
        with torch.random.fork_rng(devices=[]), torch.device("meta"), _ShapesOnly():
            n = sum(p.numel() for p in create(backbone, **opts).parameters())
    except Exception:  # a bad option: the real construction below reports it
        return
    if n > MAX_PARAMS:
        shown = ", ".join(f"{k}={v}" for k, v in opts.items() if k != "seed")
        raise LimitError(f"{backbone} ({shown}) would have {n:,} parameters ({n * 4 / 2**30:,.1f} GiB), over the limit "
                         f"of {MAX_PARAMS:,}; nothing was allocated (set {LIMITS_ENV}=off if you mean it)")


def create_model(backbone: str, options: dict[str, Any]) -> Backbone:
    if backbone == "external":  # a model the user brings (TorchScript, ONNX, timm): app.models.external
        from app.models import external

        return external.create(dict(options))
    if backbone not in names():
        raise BuildError(f"unknown backbone {backbone!r}; known: {', '.join(names())}")
    try:
        opts = coerce_options(options, registry.get(backbone).options)
    except ValueError as exc:
        raise BuildError(f"{backbone}: {exc}") from None
    check_size(backbone, opts)
    try:
        return create(backbone, **opts)
    except TypeError as exc:
        raise BuildError(f"{backbone}: bad option ({exc})") from None
    except (ValueError, KeyError) as exc:  # the backbone's name once, whether its own message starts with it or not
        text = str(exc)
        raise BuildError(text if text.startswith(f"{backbone}:") else f"{backbone}: {text}") from None


def seeded_options(spec: ModelSpec) -> dict[str, Any]:
    """``spec.kwargs`` plus ``seed=spec.seed`` for constructors that draw their weights from their own ``seed``
    (rdsn, simple), so the model seed decides every random weight; a ``seed`` in the options wins."""
    opts = spec.kwargs
    if "seed" not in opts and spec.backbone in names() and "seed" in registry.constructor_params(spec.backbone):
        opts["seed"] = int(spec.seed)
    return opts


def build(spec: ModelSpec, device: torch.device | str | None = None) -> Backbone:
    """Create, initialise, load, apply banks and freeze (see the module docstring); returns it in eval mode.

    A checkpoint written before on/off words were read (``batchnorm: "off"`` in its sidecar built batch-norm, so its
    weights hold batch-norm layers) does not fit the model its sidecar now describes; it is loaded as it was trained
    (``legacy_flag_spec``), with a warning naming the option, rather than refused."""
    if spec.backbone == "external":  # a model the user brings: loaded, discovered and wrapped there
        from app.models import external

        return external.build(spec, device)
    try:
        return _build(spec, device)
    except WeightsError as exc:
        legacy = legacy_flag_spec(spec)
        if legacy is None:
            raise
        try:
            model = _build(legacy, device)
        except (WeightsError, ModelError, LimitError):
            raise exc from None
    old = {k: v for k, v in spec.options if dict(legacy.options)[k] != v}
    said = ", ".join(f"{k}={v}" for k, v in old.items())
    warnings.warn(f"{Path(spec.weights).name}: its settings say {said}, but its weights were trained with "
                  f"{', '.join(old)} on (versions before 2026-12-03 read that word as on); loaded as trained, "
                  f"with {', '.join(f'{k}=on' for k in old)}")
    return model


def legacy_flag_spec(spec: ModelSpec) -> ModelSpec | None:
    """``spec`` with each on/off option written as an "off" word (``"off"``, ``"false"``, ``"no"``, ``"0"``) turned
    on, as versions before 2026-12-03 built it (any non-empty word was true); None when there are none or the
    spec has no weights to decide by."""
    if not spec.weights or spec.backbone not in names():
        return None
    kinds = {f.name: f.kind for f in registry.get(spec.backbone).options}
    opts = dict(spec.options)
    turned = {k: True for k, v in opts.items()
              if kinds.get(k) == "bool" and isinstance(v, str) and FLAG_WORDS.get(v.strip().lower()) is False}
    if not turned:
        return None
    return dataclasses.replace(spec, options=tuple(sorted({**opts, **turned}.items())))


def _build(spec: ModelSpec, device: torch.device | str | None) -> Backbone:
    if device is None:
        from app import device as _dev

        device = _dev.pick()
    # torch's default generator is process-wide: builds in parallel threads (Live, Probe, Models) would mix their
    # draws and a "seed 0" model would differ from run to run, so seeded creation is serialised.
    with SEED_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(spec.seed))
        try:
            model = create_model(spec.backbone, seeded_options(spec))
        except LimitError as exc:  # the architecture came with these weights (their sidecar): name the file
            if not spec.weights:
                raise
            raise LimitError(f"{Path(spec.weights).name}: {exc}") from None
        mark_always_frozen(model)
        g = torch.Generator().manual_seed(int(spec.seed) + 1)
        apply_init(model, spec.init, g)
    # banks a checkpoint was trained from (``IN_WEIGHTS`` in their meta) go in first, for their frozen kernels: the
    # weights then load over them (trained where the bank did not freeze); any other bank replaces the layer
    pre = [(layer, bank) for layer, bank in spec.banks if (getattr(bank, "meta", None) or {}).get(IN_WEIGHTS)]
    for layer, bank in pre:
        apply_bank(resolve_conv(model, layer), bank)
    if spec.weights:
        if spec.input is None:  # a damaged sidecar is reported with the weights, not later by its first reader
            read_sidecar(spec.weights)
        try:
            load_into(model, spec.weights)
        except WeightsError:
            raise
        except (OSError, RuntimeError) as exc:
            raise WeightsError(f"{Path(spec.weights).name}: {exc}") from None
    for layer, bank in spec.banks:
        if not any(bank is b for _, b in pre):
            apply_bank(resolve_conv(model, layer), bank)
    froze = apply_freeze(model, spec.freeze)
    object.__setattr__(model, "fe_froze", froze)
    model.to(device)
    model.eval()
    object.__setattr__(model, "fe_spec", spec)
    return model


def spec_from_checkpoint(path: str | Path, label: str | None = None, weight_state: str = "trained") -> ModelSpec:
    """A spec for a checkpoint: from its JSON sidecar (architecture, banks, input), or from the known weights table
    (shared files). ``ModelSpec.input`` is the sidecar's input spec (what the model was trained on)."""
    from app.models.inputs import InputSpec, InputSpecError

    path = Path(path).expanduser()
    side = read_sidecar(path)
    if side and isinstance(side.get("architecture"), dict):
        arch = dict(side["architecture"])
        arch.pop("weights", None)
        arch.pop("input", None)

        try:
            base = ModelSpec.from_dict({k: v for k, v in arch.items() if k in ModelSpec.__dataclass_fields__})
        except (TypeError, ValueError, AttributeError) as exc:  # ModelError (a ValueError) included
            raise WeightsError(f"{path.with_suffix('.json').name}: the architecture cannot be read ({exc})") from None
        ds = side.get("dataset") or ""
        inp = None
        if isinstance(side.get("input"), dict):
            try:
                inp = InputSpec.from_dict(side["input"], f"sidecar: as trained on {ds}" if ds else "sidecar")
            except InputSpecError as exc:
                raise WeightsError(f"{path.with_suffix('.json').name}: its input spec is not valid ({exc})") from None
        at = stopped_at(side)  # a run train --max-steps stopped: not a finished model, and its name says so
        what = f"trained, {ds}" + (f"; stopped at step {at[0]} of {at[1]}" if at else "")
        return ModelSpec(base.backbone, base.options, "checkpoint", str(path), base.freeze, base.seed,
                         label or f"{base.backbone} ({what})", weight_state, baked(base.banks), inp)
    kw = known_for_path(path)
    if kw is not None:
        return ModelSpec.make(kw.backbone, label=label or kw.label, options=dict(kw.options), init="checkpoint",
                              weights=str(path), weight_state=weight_state)
    raise WeightsError(f"{path.name}: no JSON sidecar ({path.with_suffix('.json').name}) says which backbone it is; "
                       f"give the backbone explicitly")


def checkpoint_extras(path: str | Path, backbone: str) -> tuple[tuple, object]:
    """What a checkpoint's JSON sidecar adds to its weights when it is loaded on ``backbone``: its kernel banks (their
    frozen flags: kernels frozen in the Workbench stay frozen when the model trains further here; the values are the
    checkpoint's, ``app.models.build.baked``) and the input it was trained on. Nothing without a sidecar, for another
    backbone, or when the sidecar cannot be read (the load itself says why)."""
    from app.models.weights import sidecar_path

    try:  # read once per sidecar version: the Models workspace asks at every rebuild of its builder
        st = os.stat(sidecar_path(path))
        version = (st.st_mtime_ns, st.st_size)
    except (OSError, TypeError, ValueError):
        version = None
    return _checkpoint_extras(str(path), version, backbone)


@functools.lru_cache(maxsize=32)
def _checkpoint_extras(path: str, version: tuple | None, backbone: str) -> tuple[tuple, object]:
    from app.errors import AppError

    try:
        if not read_sidecar(path):
            return (), None
        ck = spec_from_checkpoint(path)
    except (AppError, OSError, ValueError):
        return (), None
    return (ck.banks, ck.input) if ck.backbone == backbone else ((), None)


# --- input ---------------------------------------------------------------------------------------------------
def default_input(backbone: str, options) -> tuple[int, tuple[int, int] | None]:
    """(channels, (H, W) or None) a backbone built with ``options`` asks for (see ``app.models.inputs``)."""
    opts = tuple(sorted(dict(options).items()))
    try:
        hash(opts)
    except TypeError:
        with torch.random.fork_rng(devices=[]):
            return model_input(create_model(backbone, dict(options)))
    return _default_input_spec(backbone, opts)


@functools.lru_cache(maxsize=64)
def _default_input_spec(backbone: str, options: tuple) -> tuple[int, tuple[int, int] | None]:
    with torch.random.fork_rng(devices=[]):
        return model_input(create_model(backbone, dict(options)))
