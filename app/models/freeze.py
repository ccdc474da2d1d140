"""Initialisations, freezing and parameter counts.

Initialisations (``ModelSpec.init``; an optional ``:value`` sets the scale):

- ``default``: the constructor's own (PyTorch defaults / He init for the ResNets / N(0,1) for rdsn);
- ``kaiming``: He normal (fan-in, ReLU gain), zero biases;
- ``gaussian[:std]``: N(0, std^2) for weights and biases (std 1 by default);
- ``uniform[:a]``: U(-a, a) for weights and biases (a 1 by default);
- ``signed-constant``: each weight +-sqrt(2 / fan_in) with a random sign (Ramanujan et al.), zero biases;
- ``orthogonal[:gain]``: orthogonal rows (flattened kernels), zero biases;
- ``bank:NAME`` / ``checkpoint``: the default init, then the spec's banks / weights are applied by ``build``.
Batch-norm parameters keep weight 1 / bias 0 under every init.

Freezing (``ModelSpec.freeze``): a tuple of entries applied in order; each entry freezes what it names, an entry
starting with ``!`` makes it trainable again. An entry is

- a group: ``all``, ``bn`` (batch-norm), ``conv`` (every conv), ``1x1`` (1x1 convs), ``kxk`` (convs larger than
  1x1), ``head`` (the linear classifier), ``bias``; layers are recognised by class, eager or TorchScript (a scripted
  layer by its ``original_name``: ``is_norm``, ``is_conv2d``);
- a shortcut: ``only-bn`` (train only batch-norm: ``all`` then ``!bn``), ``only-1x1``, ``only-head``,
  ``only-bn-head``;
- a layer name of ``conv_layers()``/``feature_info`` (``conv1``, ``layer1.0``, ``stem`` ...) or a module path:
  every parameter under it; a conv layer brings the batch-norm that directly follows it (``conv1`` -> ``bn1``,
  ``blocks.0.conv`` -> ``blocks.0.bn``, a Sequential's next item: ``layer2.0.downsample.0`` ->
  ``layer2.0.downsample.1``) unless the entry ends in ``:conv-only``;
- otherwise an fnmatch pattern on parameter names (``layer1.*.conv1.weight``).
An entry that matches nothing is an error (a typo must not silently train everything); a group that matches nothing
says so in its line ("nothing changed"), and is an error where the model has layers that look like the group's of a
class it does not recognise (a ``FooNorm``: name them instead). So is ``!entry`` for
parameters the architecture keeps fixed (rdsn, lc-resnet20's frozen 3x3 filters). ``apply_freeze`` returns one line
per entry saying what it froze.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass

import torch
from torch import nn

from app.models.base import ModelError

INITS = {
    "default": "the constructor's own initialisation",
    "kaiming": "He normal (fan-in, ReLU gain), zero biases",
    "gaussian": "N(0, 1) weights and biases (gaussian:STD to scale)",
    "uniform": "U(-1, 1) weights and biases (uniform:A to scale)",
    "signed-constant": "+-sqrt(2/fan_in) with random signs, zero biases",
    "orthogonal": "orthogonal flattened kernels, zero biases",
    "bank": "kernels from a Workbench bank (bank:NAME; the layers are the spec's banks)",
    "checkpoint": "weights from a checkpoint file (the spec's weights)",
}

FREEZE_GROUPS = ("all", "bn", "conv", "1x1", "kxk", "head", "bias")
FREEZE_SHORTCUTS = {
    "only-bn": ("all", "!bn"),
    "only-1x1": ("all", "!1x1"),
    "only-head": ("all", "!head"),
    "only-bn-head": ("all", "!bn", "!head"),
}
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)
NORM_NAMES = frozenset(c.__name__ for c in NORMS)


def layer_class(m: nn.Module) -> str:
    """The class a layer was written as: an eager module's class name, a TorchScript module's ``original_name``
    (a scripted ``nn.BatchNorm2d`` is a ``RecursiveScriptModule`` whose ``original_name`` is ``"BatchNorm2d"``)."""
    if isinstance(m, torch.jit.ScriptModule):
        return str(getattr(m, "original_name", "") or "")
    return type(m).__name__


def is_norm(m: nn.Module) -> bool:
    """A normalisation layer of ``NORMS``, eager or TorchScript."""
    return isinstance(m, NORMS) or (isinstance(m, torch.jit.ScriptModule) and layer_class(m) in NORM_NAMES)


def is_conv2d(m: nn.Module) -> bool:
    """A 2-D convolution (``nn.Conv2d``), eager or TorchScript."""
    return isinstance(m, nn.Conv2d) or (isinstance(m, torch.jit.ScriptModule) and layer_class(m) == "Conv2d")


def kernel_size(m: nn.Module) -> tuple[int, ...]:
    """A conv's kernel size (its ``kernel_size``, else its weight's last two dimensions)."""
    k = getattr(m, "kernel_size", None)
    if k is not None:
        return tuple(int(v) for v in k) if isinstance(k, (tuple, list)) else (int(k), int(k))
    return tuple(int(v) for v in m.weight.shape[-2:])


def _weighted(model: nn.Module):
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            yield m


def apply_init(model: nn.Module, init: str, generator: torch.Generator | None = None) -> None:
    """Re-initialise conv and linear layers in place (see the module docstring)."""
    name, _, arg = (init or "default").partition(":")
    name = name.strip().lower()
    if name in ("default", "bank", "checkpoint", ""):
        return
    if name not in INITS:
        raise ModelError(f"unknown initialisation {init!r}; known: {', '.join(INITS)}")
    try:
        scale = float(arg) if arg and name in ("gaussian", "uniform", "orthogonal") else None
    except ValueError:
        raise ModelError(f"initialisation {init!r}: {arg!r} is not a number") from None
    g = generator
    with torch.no_grad():
        for m in _weighted(model):
            w = m.weight
            fan_in = max(1, w[0].numel())
            if name == "kaiming":
                w.copy_(torch.randn(w.shape, generator=g) * math.sqrt(2.0 / fan_in))
            elif name == "gaussian":
                w.copy_(torch.randn(w.shape, generator=g) * (1.0 if scale is None else scale))
            elif name == "uniform":
                a = 1.0 if scale is None else scale
                w.copy_((torch.rand(w.shape, generator=g) * 2 - 1) * a)
            elif name == "signed-constant":
                s = torch.randint(0, 2, w.shape, generator=g).to(w.dtype) * 2 - 1
                w.copy_(s * math.sqrt(2.0 / fan_in))
            elif name == "orthogonal":
                flat = w.reshape(w.shape[0], -1)
                q = _orthogonal(flat.shape, g) * (1.0 if scale is None else scale)
                w.copy_(q.reshape(w.shape))
            if m.bias is not None:
                b = m.bias
                if name == "gaussian":
                    b.copy_(torch.randn(b.shape, generator=g) * (1.0 if scale is None else scale))
                elif name == "uniform":
                    a = 1.0 if scale is None else scale
                    b.copy_((torch.rand(b.shape, generator=g) * 2 - 1) * a)
                else:
                    b.zero_()


def _orthogonal(shape: tuple[int, int], g: torch.Generator | None) -> torch.Tensor:
    rows, cols = shape
    a = torch.randn(max(rows, cols), min(rows, cols), generator=g, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
    if rows < cols:
        q = q.T
    return q[:rows, :cols].to(torch.float32)


# --- freezing ----------------------------------------------------------------------------------------------
def _group_params(model: nn.Module, group: str) -> set[str]:
    names: set[str] = set()
    cls_name = getattr(model, "classifier_name", "head")
    for mname, m in model.named_modules():
        prefix = f"{mname}." if mname else ""
        own = [f"{prefix}{p}" for p, _ in m.named_parameters(recurse=False)]
        if group == "all":
            names.update(own)
        elif group == "bn" and is_norm(m):
            names.update(own)
        elif group == "conv" and is_conv2d(m):
            names.update(own)
        elif group == "1x1" and is_conv2d(m) and kernel_size(m) == (1, 1):
            names.update(own)
        elif group == "kxk" and is_conv2d(m) and kernel_size(m) != (1, 1):
            names.update(own)
        elif group == "head" and (mname == cls_name or mname.startswith(cls_name + ".")):
            names.update(own)
        elif group == "bias":
            names.update(n for n in own if n.endswith("bias"))
    return names


def _unrecognised(model: nn.Module, group: str) -> list[str]:
    """Layers with parameters that look like what ``group`` names (a class called ...Norm..., or ...Conv... with a
    4-D weight of the group's kernel size) but that the group does not recognise: "path (class)" each."""
    if group not in ("bn", "conv", "1x1", "kxk"):
        return []
    out = []
    for mname, m in model.named_modules():
        if not mname or not any(True for _ in m.parameters(recurse=False)):
            continue
        cls = layer_class(m)
        if group == "bn":
            looks = "Norm" in cls and not is_norm(m)
        else:
            w = getattr(m, "weight", None)
            looks = ("Conv" in cls and not is_conv2d(m) and isinstance(w, torch.Tensor) and w.dim() == 4
                     and (group == "conv" or (tuple(w.shape[-2:]) == (1, 1)) == (group == "1x1")))
        if looks:
            out.append(f"{mname} ({cls})")
    return out


def _entry_params(model: nn.Module, entry: str) -> set[str]:
    all_names = [n for n, _ in model.named_parameters()]
    if entry in FREEZE_GROUPS:
        return _group_params(model, entry)
    convs = model.conv_layers() if hasattr(model, "conv_layers") else {}
    if entry in convs:
        target = convs[entry]
        return {f"{mn}.{pn}" if mn else pn for mn, m in model.named_modules() if m is target
                for pn, _ in m.named_parameters(recurse=False)}
    modules = dict(model.named_modules())
    if entry in modules and entry:
        return {f"{entry}.{pn}" for pn, _ in modules[entry].named_parameters()}
    # feature_info names that are not module paths (e.g. "stem")
    info_names = [i.name for i in getattr(model, "feature_info", [])]
    if entry == "stem" and "stem" in info_names:
        return {n for n in all_names if n.startswith(("conv1.", "bn1."))} or set()
    return {n for n in all_names if fnmatch.fnmatchcase(n, entry)}


CONV_ONLY = ":conv-only"
GROUP_CLASSES = {"bn": ", ".join(sorted(NORM_NAMES)), "conv": "Conv2d", "1x1": "Conv2d", "kxk": "Conv2d"}


def _paired_norm(model: nn.Module, entry: str) -> set[str]:
    """The batch-norm that directly follows the conv layer ``entry`` names (conv1 -> bn1, conv2 -> bn2,
    blocks.N.conv -> blocks.N.bn, and in a Sequential the next item: downsample.0 -> downsample.1): its parameter
    names, or none when ``entry`` is not a conv layer. Eager or TorchScript layers alike."""
    modules = dict(model.named_modules())
    convs = model.conv_layers() if hasattr(model, "conv_layers") else {}
    path = entry
    if entry in convs:
        path = next((n for n, m in modules.items() if m is convs[entry]), entry)
    if path not in modules or not path:
        return set()
    parent, _, leaf = path.rpartition(".")
    owner = modules.get(parent)
    if leaf.isdigit() and is_conv2d(modules[path]) and (isinstance(owner, nn.Sequential)
                                                        or layer_class(owner) == "Sequential"):
        nxt = (parent + "." if parent else "") + str(int(leaf) + 1)  # a Sequential's conv, then its batch-norm
        if nxt in modules and is_norm(modules[nxt]):
            return {f"{nxt}.{pn}" for pn, _ in modules[nxt].named_parameters(recurse=False)}
    if not leaf.startswith("conv"):
        parent, _, leaf = parent.rpartition(".")  # an inner conv (lc-resnet's conv1.conv): its owner's bn
        if not leaf.startswith("conv"):
            return set()
    bn_path = (parent + "." if parent else "") + "bn" + leaf[len("conv"):]
    bn = modules.get(bn_path)
    if bn is None or not is_norm(bn):
        return set()
    return {f"{bn_path}.{pn}" for pn, _ in bn.named_parameters(recurse=False)}


def apply_freeze(model: nn.Module, entries) -> tuple[str, ...]:
    """Set ``requires_grad`` from the freeze entries (see the module docstring); returns one line per entry saying
    what it froze or unfroze. Raises ModelError on a typo, and on an entry that would train only parameters the
    architecture keeps fixed (rdsn's filters, lc-resnet's random 3x3 convs unless ``learn_spatial``).

    Freezing a conv layer by name freezes the batch-norm that directly follows it too (conv1 -> bn1), unless the
    entry ends in ``:conv-only``."""
    expanded: list[str] = []
    for e in entries or ():
        e = str(e).strip()
        if not e:
            continue
        expanded.extend(FREEZE_SHORTCUTS.get(e, (e,)))
    params = dict(model.named_parameters())
    fixed = getattr(model, "_fe_always_frozen", set())
    report: list[str] = []
    for e in expanded:
        unfreeze = e.startswith("!")
        key = e[1:] if unfreeze else e
        conv_only = key.endswith(CONV_ONLY)
        if conv_only:
            key = key[: -len(CONV_ONLY)]
        names = _entry_params(model, key)
        if not names:
            if key in FREEZE_GROUPS:
                odd = _unrecognised(model, key)
                if odd:  # the model has such layers, of a class the group does not know: never a silent no-op
                    raise ModelError(
                        f"freeze: {key!r} matches no parameter of {type(model).__name__}, which has {len(odd)} "
                        f"layer(s) of a kind it does not recognise ({', '.join(odd[:4])}"
                        f"{' ...' if len(odd) > 4 else ''}; it knows {GROUP_CLASSES[key]}, eager or TorchScript); "
                        f"name those layers or their parameters instead (a layer name or a parameter pattern)")
                report.append(f"{e}: no such parameters in {type(model).__name__}; nothing changed")
                continue  # a group this architecture lacks (e.g. bn in a net without batch-norm)
            raise ModelError(f"freeze: {key!r} matches no parameter of {type(model).__name__} "
                             f"(groups: {', '.join(FREEZE_GROUPS)}; shortcuts: {', '.join(FREEZE_SHORTCUTS)}; "
                             f"or a layer name / parameter pattern)")
        if key not in FREEZE_GROUPS and not conv_only:
            names |= _paired_norm(model, key)
        stuck = {n for n in names if n in fixed}
        if unfreeze and stuck and stuck == names:
            hint = getattr(model, "fixed_hint", "") or "they are never trained"
            raise ModelError(f"freeze: {e!r} changes nothing: the {len(stuck)} parameter tensor(s) it names are fixed "
                             f"by the architecture of {type(model).__name__} ({hint})")
        for n in names:
            if n in params:
                params[n].requires_grad_(unfreeze and n not in fixed)
        count = sum(params[n].numel() for n in names if n in params and n not in (stuck if unfreeze else ()))
        shown = sorted(names)
        line = (f"{e}: {'trainable' if unfreeze else 'frozen'} {len(names) - (len(stuck) if unfreeze else 0)} "
                f"tensor(s), {count:,} parameters ({', '.join(shown[:6])}{' ...' if len(shown) > 6 else ''})")
        if unfreeze and stuck:
            line += f"; {len(stuck)} tensor(s) fixed by the architecture stay frozen"
        report.append(line)
    return tuple(report)


def _always_frozen(model: nn.Module, pname: str) -> bool:
    """Parameters an architecture never trains (rdsn's, lc-resnet's random 3x3 convs)."""
    return pname in getattr(model, "_fe_always_frozen", set())


def mark_always_frozen(model: nn.Module) -> None:
    """Remember which parameters the constructor froze, so ``!group`` never unfreezes them."""
    object.__setattr__(model, "_fe_always_frozen",
                       {n for n, p in model.named_parameters() if not p.requires_grad})


@dataclass(frozen=True)
class ParamCounts:
    trainable: int
    frozen: int

    @property
    def total(self) -> int:
        return self.trainable + self.frozen

    def text(self) -> str:
        return f"{self.trainable:,} trainable / {self.frozen:,} frozen parameters ({self.total:,} total)"


def param_counts(model: nn.Module) -> ParamCounts:
    """Trainable and frozen parameter counts; kernels frozen by a Workbench bank count as frozen."""
    trainable = frozen = 0
    bank_frozen: dict[int, int] = {}
    for m in model.modules():
        mask = getattr(m, "_fe_frozen_mask", None)
        if mask is not None and is_conv2d(m) and m.weight.requires_grad:
            bank_frozen[id(m.weight)] = int(mask.sum()) * m.weight[0].numel()
    for p in model.parameters():
        if not p.requires_grad:
            frozen += p.numel()
        else:
            f = bank_frozen.get(id(p), 0)
            frozen += f
            trainable += p.numel() - f
    return ParamCounts(trainable, frozen)
