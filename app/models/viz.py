"""What the Models workspace shows, as plain data (no Qt): option fields, layer tables, kernel mosaics.

- ``option_fields(backbone)``: the constructor's keyword arguments as typed fields (kind, default, choices,
  tooltip), read from the registered factory and the class it returns; ``parse_option`` / ``format_option``
  convert to and from the text a user types ("32, 64, 64").
- ``layer_rows(model)``: one ``LayerRow`` per module that owns parameters (name, kind, channels, kernel, stride,
  parameters, trainable / frozen counts).
- ``snapshot(model, spec)`` -> ``ModelView``: an immutable copy (rows, totals, conv kernels as read-only numpy
  arrays) that crosses threads; ``inspect_task(spec)`` builds a spec and snapshots it as a task generator.
- ``kernel_mosaic(weights)`` -> ``Mosaic``: every kernel of a layer tiled into one RGB uint8 image, a diverging
  colour map centred on zero; first-layer RGB kernels (3 input channels) in colour.
"""

from __future__ import annotations

import inspect
import math
import threading
from dataclasses import dataclass, field
from typing import Any, Generator, Mapping

import numpy as np

from app.imaging import colormaps
from app.imaging.scale import to_uint8_symmetric
from app.models.spec import ModelSpec
from app.tasks import CancelToken, Progress, check

# --- option fields (derived once, at registration: app.models.options / app.models.registry) -------------------
from app.models.options import (HIDDEN_OPTIONS, TOOLTIPS, OptionField, format_option,  # noqa: E402,F401
                                parse_option)
from app.models.registry import option_fields  # noqa: E402,F401


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
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size
            if mod.groups > 1 and mod.groups == mod.in_channels:
                kind = "depthwise conv"
            elif k == (1, 1):
                kind = "1x1 conv"
            else:
                kind = "conv"
            rows.append(LayerRow(path, label, kind, mod.in_channels, mod.out_channels, f"{k[0]}x{k[1]}",
                                 int(mod.stride[0]), n, tr, n - tr, mod.weight.dim() == 4,
                                 tuple(int(v) for v in mod.weight.shape)))
        elif isinstance(mod, nn.modules.batchnorm._BatchNorm):
            rows.append(LayerRow(path, label, "batch-norm", mod.num_features, mod.num_features, "", 1, n, tr, n - tr,
                                 False))
        elif isinstance(mod, nn.Linear):
            rows.append(LayerRow(path, label, "linear", mod.in_features, mod.out_features, "", 1, n, tr, n - tr,
                                 False))
        else:
            rows.append(LayerRow(path, label, type(mod).__name__, 0, 0, "", 1, n, tr, n - tr, False))
    return rows


def count_parameters(model) -> tuple[int, int]:
    """(trainable, frozen) parameter counts (kernels frozen by a bank count as frozen)."""
    from app.models.freeze import param_counts

    c = param_counts(model)
    return c.trainable, c.frozen


def fmt_count(n: int) -> str:
    if n >= 1_000_000:
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


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


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
    kernels, totals = {}, {}
    for r in rows:
        if r.has_kernels:
            w = mods[r.path].weight.detach()
            totals[r.path] = int(w.shape[0])
            kernels[r.path] = _ro(w[:MAX_KERNEL_CHANNELS].to("cpu", copy=True).float().numpy())
    stages = tuple((i.name, int(i.channels), int(i.stride)) for i in getattr(model, "feature_info", []))
    return ModelView(spec, title or spec.label or spec.backbone, rows, tr, fr, kernels, totals,
                     tuple(int(v) for v in getattr(model, "default_input", (3, 32, 32))), tuple(notes), stages)


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
            model = build_model(spec)
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


# --- kernel mosaics ----------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Mosaic:
    rgb: np.ndarray  # (H, W, 3) uint8, C-contiguous
    limit: float  # |value| mapped to the ends of the colour map
    rows: int
    cols: int
    cell: int  # kernel side + padding, in pixels
    shown: int  # kernels drawn
    total: int  # kernels in the layer
    colour: bool  # first-layer RGB kernels drawn in colour
    note: str = ""
    blocks: int = 1  # an (out x in) grid cut into this many side-by-side blocks of output channels
    pad: int = 1  # pixels between kernels (0 for 1x1 convs)
    per_block: int = 0  # grid rows per block
    gap: int = 0  # pixels between blocks


PAD_RGB = np.array([190, 190, 190], dtype=np.uint8)
GAP_RGB = np.array([255, 255, 255], dtype=np.uint8)


def _grid(n: int, aspect: float = 1.0) -> tuple[int, int]:
    cols = max(1, int(math.ceil(math.sqrt(n * aspect))))
    rows = max(1, int(math.ceil(n / cols)))
    return rows, cols


def kernel_mosaic(weights: np.ndarray, *, colour: str = "auto", scale: str = "layer", cmap: str = "coolwarm",
                  max_kernels: int = 4096, pad: int = 1, total_out: int | None = None,
                  limit: float | None = None, wide_aspect: float = 1.3) -> Mosaic:
    """Tile a conv weight (out, in, k, k) into one RGB image.

    - ``colour``: "auto" draws 3-input-channel kernels as RGB pictures (0 -> mid grey), "rgb" forces it, "map"
      draws each (out, in) slice through the diverging map ``cmap`` (0 -> the map's centre).
    - Layout: RGB or single-input kernels in a near-square grid; otherwise one row per output channel, one
      column per input channel (at most ``max_kernels`` slices; the note says what was left out), a tall grid
      cut into side-by-side blocks of output channels (white gaps) to be about ``wide_aspect`` wide.
    - ``scale``: "layer" (one limit, max |w| of the layer, or ``limit``) or "kernel" (each slice to its own max).
    """
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim != 4:
        raise ValueError(f"kernels are 4-D (out, in, k, k); got shape {w.shape}")
    o, i, kh, kw = w.shape
    total_out = int(total_out or o)
    if scale not in ("layer", "kernel"):
        raise ValueError(f"scale must be 'layer' or 'kernel', got {scale!r}")
    rgb_mode = (colour == "rgb" and i == 3) or (colour == "auto" and i == 3)
    note = []
    if rgb_mode:
        n = min(o, max_kernels)
        sl = w[:n].transpose(0, 2, 3, 1)  # (n, k, k, 3)
        if scale == "kernel":
            lim = np.abs(sl).reshape(n, -1).max(axis=1)
            lim[lim == 0] = 1.0
            vals = 0.5 + 0.5 * sl / lim[:, None, None, None]
            lim_out = float(lim.max())
        else:
            lim_out = float(limit if limit else (np.abs(sl).max() if sl.size else 1.0)) or 1.0
            vals = 0.5 + 0.5 * sl / lim_out
        tiles = np.clip(np.round(vals * 255), 0, 255).astype(np.uint8)
        rows, cols = _grid(n)
        shown = n
    else:
        if i == 1:
            n = min(o, max_kernels)
            sl = w[:n, 0]
            rows, cols = _grid(n)
            shown = n
        else:
            max_out = max(1, min(o, max_kernels // i)) if i <= max_kernels else 1
            max_in = min(i, max_kernels)
            sl = w[:max_out, :max_in].reshape(-1, kh, kw)
            rows, cols = max_out, max_in
            shown = rows * cols
            if max_in < i:
                note.append(f"first {max_in} of {i} input channels")
        if scale == "kernel":
            lim = np.abs(sl).reshape(len(sl), -1).max(axis=1)
            lim[lim == 0] = 1.0
            u = np.clip(np.round(127.5 + 127.5 * sl / lim[:, None, None]), 0, 255).astype(np.uint8)
            lim_out = float(lim.max())
        else:
            u, lim_out = to_uint8_symmetric(sl, limit)
        tiles = colormaps.apply(u, cmap)  # (n, k, k, 3)
    per_out = 1 if (rgb_mode or i == 1) else i
    shown_out = shown // per_out
    if shown_out < total_out:
        note.insert(0, f"first {shown_out} of {total_out} output channels")
    if kh == 1 and kw == 1:
        pad = 0  # 1x1 convs: a plain (out x in) matrix
    cell_h, cell_w = kh + pad, kw + pad
    full = np.empty((rows * cols, cell_h, cell_w, 3), dtype=np.uint8)
    full[:] = PAD_RGB
    full[:len(tiles), :kh, :kw] = tiles
    body = full.reshape(rows, cols, cell_h, cell_w, 3).transpose(0, 2, 1, 3, 4).reshape(rows * cell_h, cols * cell_w, 3)
    # a tall (out x in) grid is cut into side-by-side blocks of output channels so it fills a landscape panel
    blocks = 1
    if not rgb_mode and i > 1:
        blocks = max(1, min(rows, int(round(math.sqrt(rows * wide_aspect / cols)))))
    per = int(math.ceil(rows / blocks))
    gap = max(cell_w, 2)
    width = blocks * cols * cell_w + (blocks - 1) * gap + pad
    img = np.empty((per * cell_h + pad, width, 3), dtype=np.uint8)
    img[:] = PAD_RGB
    for b in range(blocks):
        part = body[b * per * cell_h:(b + 1) * per * cell_h]
        x = pad + b * (cols * cell_w + gap)
        img[pad:pad + part.shape[0], x:x + cols * cell_w] = part
        if b:
            img[:, x - gap:x - pad] = GAP_RGB
    return Mosaic(np.ascontiguousarray(img), float(lim_out), rows, cols, cell_h, len(tiles),
                  int(total_out * per_out), bool(rgb_mode), "; ".join(note), blocks, pad, per, gap)


def kernel_at(m: Mosaic, x: float, y: float, in_channels: int) -> tuple[int, int | None] | None:
    """Which kernel is under mosaic pixel (x, y): (output channel, input channel or None for RGB/one-input
    grids), or None over padding and outside."""
    x, y = int(math.floor(x)), int(math.floor(y))
    if x < 0 or y < 0:
        return None
    block_w = m.cols * m.cell + m.gap
    b = x // block_w if m.blocks > 1 else 0
    if b >= m.blocks:
        return None
    cx, cy = x - b * block_w - m.pad, y - m.pad
    if cx < 0 or cy < 0:
        return None
    c, r = cx // m.cell, cy // m.cell
    if c >= m.cols or (m.pad and (cx % m.cell >= m.cell - m.pad or cy % m.cell >= m.cell - m.pad)):
        return None
    r += b * m.per_block
    if m.colour or in_channels == 1:
        idx = r * m.cols + c
        return (idx, None) if idx < m.shown else None
    return (r, c) if r < m.rows and r * m.cols + c < m.shown else None


def kernel_text(weights: np.ndarray, out: int, inp: int | None) -> str:
    """One line about one kernel: where it is and its value range."""
    k = weights[out] if inp is None else weights[out, inp]
    where = f"filter {out}" if inp is None else f"output {out}, input {inp}"
    return f"{where}: min {float(k.min()):+.3g}, max {float(k.max()):+.3g}, mean {float(k.mean()):+.3g}"


def colour_bar(cmap: str = "coolwarm", height: int = 12) -> np.ndarray:
    """A (height, 256, 3) uint8 strip of the colour map, for a legend ("rgb": the grey ramp of RGB kernels)."""
    table = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1) if cmap == "rgb" else colormaps.lut(cmap)
    return np.ascontiguousarray(np.repeat(table[None], height, axis=0))


def compare_text(a: np.ndarray, b: np.ndarray) -> str:
    """One line comparing two layers' kernels (same shape: correlation and mean |difference|)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    sa, sb = float(a.std()), float(b.std())
    line = f"std {sa:.3g} vs {sb:.3g}"
    if a.shape == b.shape and a.size > 1 and sa > 0 and sb > 0:
        corr = float(np.corrcoef(a.ravel(), b.ravel())[0, 1])
        line += f"; correlation {corr:+.2f}; mean |a-b| {float(np.abs(a - b).mean()):.3g}"
    return line
