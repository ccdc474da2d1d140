"""What the Models workspace shows, as plain data (no Qt): option fields, layer tables, kernel mosaics.

- ``option_fields(backbone)``: the constructor's keyword arguments as typed fields (kind, default, choices,
  tooltip), derived once at registration (``app.models.registry``); ``parse_option`` / ``format_option``
  convert to and from the text a user types ("32, 64, 64").
- ``layer_rows(model)``: one ``LayerRow`` per module that owns parameters (name, kind, channels, kernel, stride,
  parameters, trainable / frozen counts).
- ``snapshot(model, spec)`` -> ``ModelView``: an immutable copy (rows, totals, conv kernels as read-only numpy
  arrays: the first ``MAX_KERNEL_CHANNELS`` output channels of a layer; its std, mean |w| and max |w| of every
  channel, ``kernel_stats``) that crosses threads; ``inspect_task(spec)`` builds a spec and snapshots it as a task
  generator.
- ``kernel_mosaic(weights)`` -> ``Mosaic`` (from ``app.models.kernel_mosaic``): every kernel of a layer tiled
  into one RGB uint8 image, a diverging colour map centred on zero; first-layer RGB kernels in colour.
"""

from __future__ import annotations

import re

import threading
from dataclasses import dataclass, field
from typing import Generator, Mapping

import numpy as np

# re-exported for the Models workspace: option fields are derived once, at registration (app.models.options,
# app.models.registry); kernel mosaics live in app.models.kernel_mosaic
from app.models.freeze import layer_class
from app.models.kernel_mosaic import (GAP_RGB, PAD_RGB, LayerStats, Mosaic, colour_bar,  # noqa: F401
                                      compare_text, kernel_at, kernel_mosaic, kernel_text)
from app.models.options import HIDDEN_OPTIONS, TOOLTIPS, OptionField, format_option, parse_option  # noqa: F401
from app.kernels.bank import readonly
from app.models.registry import option_fields  # noqa: F401
from app.models.spec import ModelSpec
from app.tasks import CancelToken, Progress, check


# --- layer table ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerRow:
    path: str  # module path ("blocks.0.conv"); parameter names start with it
    label: str  # the name a bank goes into ("conv1"), else the path
    kind: str  # conv, 1x1 conv, depthwise conv, batch-norm, linear, other
    in_channels: int
    out_channels: int
    kernel: str  # "3x3" or ""
    stride: int
    params: int
    trainable: int
    frozen: int
    has_kernels: bool  # a 4-D conv weight the kernel view can show
    weight_shape: tuple[int, ...] = ()  # (out, in/groups, k, k) for convs

    @property
    def state(self) -> str:
        if self.params == 0:
            return ""
        if self.frozen == 0:
            return "trainable"
        return "frozen" if self.trainable == 0 else "partly frozen"



_TRACED_CONV = re.compile(r"_convolution\([^,]+, weight, [^,]+, \[(\d+), \d+\], \[[^\]]*\], \[[^\]]*\], \w+, "
                          r"\[[^\]]*\], (\d+),")


def conv_params(mod) -> tuple[int, int]:
    """(stride along the rows, groups) of a 2-D convolution: its attributes, or for a traced TorchScript conv (which
    keeps neither) the constants of its ``torch._convolution`` call; a depthwise stride-2 conv of a traced model was
    listed "conv 1->8, stride 1" (an audit). (1, 1) where neither says."""
    stride, groups = getattr(mod, "stride", None), getattr(mod, "groups", None)
    if stride is not None and groups is not None:
        return int(stride[0] if isinstance(stride, (tuple, list)) else stride), int(groups)
    try:
        m = _TRACED_CONV.search(getattr(mod, "code", "") or "")
    except Exception:  # noqa: BLE001 - a module without readable code: the defaults
        m = None
    return (int(m.group(1)), int(m.group(2))) if m else (1, 1)


# the class names (``original_name``) a TorchScript module keeps of what ``isinstance`` recognises in eager models
_SCRIPTED_BATCHNORM = frozenset({"BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm"})
_SCRIPTED_LINEAR = frozenset({"Linear", "NonDynamicallyQuantizableLinear"})


def layer_rows(model) -> list[LayerRow]:
    from torch import nn

    names = {}
    if hasattr(model, "conv_layers"):
        try:
            names = {id(m): n for n, m in model.conv_layers().items()}
        except Exception:
            names = {}
    rows = []
    for path, mod in model.named_modules():
        own = list(mod.parameters(recurse=False))
        if not own or not path:
            continue
        n = sum(p.numel() for p in own)
        tr = sum(p.numel() for p in own if p.requires_grad)
        mask = getattr(mod, "_fe_frozen_mask", None)  # kernels frozen by a Workbench bank
        if mask is not None and getattr(mod, "weight", None) is not None and mod.weight.requires_grad:
            tr -= int(np.asarray(mask).sum()) * int(mod.weight[0].numel())
        label = names.get(id(mod), path)
        cls = layer_class(mod) or type(mod).__name__  # a TorchScript module's class name: its original one
        w = getattr(mod, "weight", None)
        if isinstance(mod, nn.Conv2d) or (cls == "Conv2d" and w is not None and w.dim() == 4):
            # from the weight: a traced TorchScript conv keeps no kernel_size / groups / in_channels attributes
            k = tuple(int(v) for v in w.shape[-2:])
            stride, groups = conv_params(mod)
            cin = int(w.shape[1]) * groups
            if groups > 1 and groups == cin:
                kind = "depthwise conv"
            elif k == (1, 1):
                kind = "1x1 conv"
            else:
                kind = "conv"
            rows.append(LayerRow(path, label, kind, cin, int(w.shape[0]), f"{k[0]}x{k[1]}", stride, n, tr,
                                 n - tr, w.dim() == 4, tuple(int(v) for v in w.shape)))
        elif isinstance(mod, nn.modules.batchnorm._BatchNorm):
            rows.append(LayerRow(path, label, "batch-norm", mod.num_features, mod.num_features, "", 1, n, tr, n - tr,
                                 False))
        elif cls in _SCRIPTED_BATCHNORM and w is not None and w.dim() == 1:
            # a TorchScript batch-norm (traced: no num_features attribute): its channels from the weight
            c = int(w.shape[0])
            rows.append(LayerRow(path, label, "batch-norm", c, c, "", 1, n, tr, n - tr, False))
        elif isinstance(mod, nn.Linear):
            rows.append(LayerRow(path, label, "linear", mod.in_features, mod.out_features, "", 1, n, tr, n - tr,
                                 False))
        elif cls in _SCRIPTED_LINEAR and w is not None and w.dim() == 2:
            # a TorchScript linear layer (listed "Linear 0 -> 0" by its class name): its features from the weight
            rows.append(LayerRow(path, label, "linear", int(w.shape[1]), int(w.shape[0]), "", 1, n, tr, n - tr,
                                 False))
        else:
            rows.append(LayerRow(path, label, cls, 0, 0, "", 1, n, tr, n - tr, False))
    return rows


def count_parameters(model) -> tuple[int, int]:
    """(trainable, frozen) parameter counts (kernels frozen by a bank count as frozen)."""
    from app.models.freeze import param_counts

    c = param_counts(model)
    return c.trainable, c.frozen


def fmt_count(n: int) -> str:
    """A parameter count, short: 12,345 -> "12.3k", 2,500,000 -> "2.50M" (999,950 -> "1.00M", not "1000.0k")."""
    if n >= 999_950:
        return f"{n / 1e6:.2f}M"
    if n >= 10_000:
        return f"{n / 1e3:.1f}k"
    return str(n)


# --- freezing --------------------------------------------------------------------------------------------------

# preset label -> ModelSpec.freeze entries (groups and shortcuts of app.models.freeze)
FREEZE_PRESETS: dict[str, tuple[str, ...]] = {
    "Train everything": (),
    "Freeze everything": ("all",),
    "Train only batch-norm": ("only-bn",),
    "Train only 1x1 convs": ("only-1x1",),
    "Train only the head": ("only-head",),
    "Train only batch-norm + head": ("only-bn-head",),
    "Freeze every conv": ("conv",),
    "Freeze kxk convs (train 1x1, bn, head)": ("kxk",),
}


def freeze_entries(preset: str, layer_overrides: Mapping[str, bool]) -> tuple[str, ...]:
    """The preset's entries, then one entry per layer the user toggled (path: freeze, !path: train)."""
    out = list(FREEZE_PRESETS.get(preset, ()))
    for path, frozen in layer_overrides.items():
        out.append(path if frozen else f"!{path}")
    return tuple(out)


# --- per-layer initialisation ------------------------------------------------------------------------------------

LAYER_INITS = ("kaiming", "gaussian", "uniform", "signed-constant", "orthogonal")


def init_bank(shape: tuple[int, int, int, int], init: str, seed: int, name: str = ""):
    """A Workbench ``KernelBank`` of one layer's shape drawn with an initialisation of ``app.models.freeze``
    (the same formulas as a whole-model ``init``), so a single layer can be initialised differently."""
    import torch
    from torch import nn

    from app.kernels.bank import KernelBank
    from app.models.freeze import apply_init

    o, i, k, _ = (int(v) for v in shape)
    holder = nn.Conv2d(i, o, k, bias=False)
    apply_init(holder, init, torch.Generator().manual_seed(int(seed)))
    w = holder.weight.detach().numpy().copy()
    return KernelBank(w, None, name=name or f"{init} (seed {seed})", meta={"generator": init, "seed": int(seed)})


def layer_seed(seed: int, layer: str) -> int:
    import zlib

    return (int(seed) * 1_000_003 + zlib.crc32(layer.encode())) % (2**31 - 1)


def with_layer_inits(spec: ModelSpec, layer_inits: tuple[tuple[str, tuple[int, ...], str], ...]) -> ModelSpec:
    """``spec`` plus one generated bank per (layer, weight shape, init) — how per-layer inits reach ``build``."""
    import dataclasses

    if not layer_inits:
        return spec
    banks = list(spec.banks)
    for layer, shape, init in layer_inits:
        banks.append((layer, init_bank(shape, init, layer_seed(spec.seed, layer), f"{init} init")))
    return dataclasses.replace(spec, banks=tuple(banks))


def resolve_layer_inits(spec: ModelSpec, layer_inits: tuple[tuple[str, str], ...],
                        optional_freeze: tuple[str, ...] = ()) -> tuple[ModelSpec, tuple[str, ...]]:
    """(layer, init) pairs -> ``spec`` with generated banks. Layers the architecture does not have (after an
    option change) are skipped, and so are the ``optional_freeze`` entries (per-layer freeze toggles) that name
    no layer of it; the returned notes say what was skipped."""
    import dataclasses

    import torch

    from app.models.build import BuildError, create_model, resolve_conv

    if not layer_inits and not optional_freeze:
        return spec, ()
    with torch.random.fork_rng(devices=[]):
        probe = create_model(spec.backbone, spec.kwargs)
    shaped, notes = [], []
    for layer, init in layer_inits:
        try:
            shaped.append((layer, tuple(resolve_conv(probe, layer).weight.shape), init))
        except BuildError:
            notes.append(f"{layer}: no such layer any more; its {init} initialisation was skipped")
    if optional_freeze:
        known = set(dict(probe.named_modules())) | set(probe.conv_layers() if hasattr(probe, "conv_layers") else {})
        keep = []
        for e in spec.freeze:
            if e in optional_freeze and e.lstrip("!") not in known:
                notes.append(f"{e.lstrip('!')}: no such layer any more; its freeze toggle was skipped")
                continue
            keep.append(e)
        spec = dataclasses.replace(spec, freeze=tuple(keep))
    return with_layer_inits(spec, tuple(shaped)), tuple(notes)


# --- snapshots ---------------------------------------------------------------------------------------------------

BUILD_LOCK = threading.RLock()
MAX_KERNEL_CHANNELS = 1024  # output channels kept per layer in a snapshot (the mosaic shows at most this many)


@dataclass(frozen=True, eq=False)
class ModelView:
    spec: ModelSpec
    title: str
    rows: tuple[LayerRow, ...]
    trainable: int
    frozen: int
    kernels: Mapping[str, np.ndarray] = field(default_factory=dict)  # row path -> (out, in, k, k) float32
    kernel_totals: Mapping[str, int] = field(default_factory=dict)  # row path -> full out-channel count
    input_shape: tuple[int, int, int] = (3, 32, 32)
    notes: tuple[str, ...] = ()
    stages: tuple[tuple[str, int, int], ...] = ()  # feature_info: (name, channels, output stride)
    kernel_notes: Mapping[str, str] = field(default_factory=dict)  # row path -> what the shown kernels are, where a
    # backbone shows a layer's weights in another shape than the module's (``kernels_as_shown``)
    kernel_stats: Mapping[str, LayerStats] = field(default_factory=dict)  # row path -> std, mean |w|, max |w| of the
    # whole layer (``kernels`` keeps its first MAX_KERNEL_CHANNELS output channels only: an audit found "A vs B"
    # and "|w| up to" read off that subset of a 2048-channel layer, 7 times too small)

    def layer_limit(self, path: str) -> float | None:
        """The |w| limit of a layer's colour scale: its max |w| over every output channel (None: not known)."""
        st = self.kernel_stats.get(path)
        return st.max_abs if st is not None and st.max_abs > 0 else None

    @property
    def kernel_layers(self) -> list[LayerRow]:
        return [r for r in self.rows if r.has_kernels]

    def totals_text(self) -> str:
        total = self.trainable + self.frozen
        return (f"{fmt_count(total)} parameters: {fmt_count(self.trainable)} trainable, "
                f"{fmt_count(self.frozen)} frozen")


def snapshot(model, spec: ModelSpec, title: str = "", notes: tuple[str, ...] = ()) -> ModelView:
    rows = tuple(layer_rows(model))
    tr, fr = count_parameters(model)
    mods = dict(model.named_modules())
    kernels, totals, kernel_notes, stats = {}, {}, {}, {}
    as_shown = getattr(model, "kernels_as_shown", None)  # a backbone whose weights read better in another shape
    for r in rows:
        if r.has_kernels:
            w = mods[r.path].weight.detach()
            shown = as_shown(r.path, w) if callable(as_shown) else None
            if shown is not None:
                w, kernel_notes[r.path] = shown
            totals[r.path] = int(w.shape[0])
            kernels[r.path] = readonly(w[:MAX_KERNEL_CHANNELS].to("cpu", copy=True).float().numpy())
            stats[r.path] = _layer_stats(w)
    stages = tuple((i.name, int(i.channels), int(i.stride)) for i in getattr(model, "feature_info", []))
    return ModelView(spec, title or spec.label or spec.backbone, rows, tr, fr, kernels, totals,
                     tuple(int(v) for v in getattr(model, "default_input", (3, 32, 32))), tuple(notes), stages,
                     kernel_notes, stats)


def _layer_stats(w) -> LayerStats:
    """``LayerStats`` of a whole weight tensor (torch's float32 reductions, pairwise and Welford: no float64 or numpy
    copy of a large layer)."""
    import torch

    x = w.detach().to("cpu", dtype=torch.float32)
    if x.numel() == 0:
        return LayerStats(0.0, 0.0, 0.0, 0)
    a = x.abs()
    return LayerStats(float(x.std(correction=0)), float(a.mean()), float(a.max()), int(x.numel()))


def build_model(spec: ModelSpec):
    """Build a spec (init, weights, banks, freezing) on the CPU: the views only read weights."""
    from app.models.build import build

    return build(spec, device="cpu")


def reference_specs() -> list[ModelSpec]:
    """Ready-made specs to compare against: the zoo's defaults."""
    from app.models.zoo import default_specs

    return list(default_specs())


def inspect_task(spec: ModelSpec, title: str = "", cancel: CancelToken | None = None,
                 layer_inits: tuple[tuple[str, str], ...] = (), optional_freeze: tuple[str, ...] = ()
                 ) -> Generator[Progress, None, ModelView]:
    """Build a spec (plus per-layer initialisations) off the GUI thread; return its snapshot. The snapshot's
    ``spec`` is the complete one (generated banks included)."""
    import torch

    yield Progress(0, 2, f"building {title or spec.label or spec.backbone}")
    check(cancel)
    notes: tuple[str, ...] = ()
    # build() seeds torch's process-wide generator: two builds in two threads at once would interleave their
    # draws and give different "seed 0" weights on every run, so builds from here run one at a time
    with BUILD_LOCK:
        if layer_inits or optional_freeze:
            spec, notes = resolve_layer_inits(spec, layer_inits, optional_freeze)
        with torch.inference_mode(False):
            try:
                model = build_model(spec)
            except Exception as exc:
                refused = exc
            else:
                refused = None
    if refused is not None:  # a checkpoint that does not fit: say which architecture it is for (here, off the GUI
        from app.errors import message  # thread: the hint reads its sidecar and may build once more)
        from app.models.hints import refusal_hint
        from app.models.weights import WeightsError

        hint = refusal_hint(spec.weights, spec.backbone) if spec.weights else ""
        if not hint:
            raise refused
        raise WeightsError(message(refused) + hint) from refused
    check(cancel)
    yield Progress(1, 2, "reading layers")
    view = snapshot(model, spec, title, notes)
    yield Progress(2, 2, "done")
    return view


def train_task(spec: ModelSpec, cfg, cancel: CancelToken | None = None):
    """``app.models.train.train`` with the model built under ``BUILD_LOCK`` (so its seeded initial weights do not
    depend on what other threads build at the same moment)."""
    from app.models.build import build
    from app.models.train import train

    yield Progress(0, None, f"building {spec.label or spec.backbone}")
    with BUILD_LOCK:
        model = build(spec)
    check(cancel)
    return (yield from train(spec, cfg, cancel=cancel, model=model))
