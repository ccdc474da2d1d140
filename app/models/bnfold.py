"""Batch norm folded into the convolution before it, for inference (Live).

In eval mode a ``BatchNorm2d`` is a fixed per-channel affine map, ``y = (x - mean) / sqrt(var + eps) * gamma +
beta``; when its input is a convolution's output and nothing else reads that output, the map can be folded into the
convolution's weights and bias (``torch.nn.utils.fusion.fuse_conv_bn_eval``) and the batch norm dropped: the same
function to float rounding, one pass over the activations fewer per pair. Measured on this 2-core CPU (Live's
resnet20 pane, 240x320, docs/benchmarks/live.md): about 15% more frames per second idle and 20% beside two busy
processes. (Not ``app.analysis.fold``, which folds LC blocks' 1x1 mixing into their spatial filters.)

Which pairs fold is found by running the model once, not by module names: a convolution's output must be the very
tensor the batch norm receives, each module called once (a shared module is left alone), and the batch norm in eval
mode with running statistics. The folded model is then checked against the original on the same input, every
layer ``forward_intermediates`` gives (and ``forward`` where it runs); any difference beyond float rounding, or any
error, puts every module back: the model is never changed in what it computes. The model is changed in place (Live
builds its own copy of each pane's model)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from app.device import exact_float32

# the largest difference kept, relative to the largest magnitude of the output compared (float32 rounding through
# a few dozen layers is ~1e-6 of it; a wrong fold changes it by a whole channel's scale), plus 1e-6
TOLERANCE = 1e-4


@dataclass(frozen=True)
class FoldReport:
    folded: int  # batch norms folded into their convolution
    batchnorms: int  # batch norms in the model
    reason: str = ""  # why none were folded, where some could have been

    def as_dict(self) -> dict:
        out = {"folded": self.folded, "batchnorms": self.batchnorms}
        if self.reason:
            out["reason"] = self.reason
        return out

    def describe(self) -> str:
        """What a Live pane's timing tooltip says of the model's batch norms (empty: it has none)."""
        if not self.batchnorms:
            return ""
        if self.folded:
            return (f"{self.folded} of the model's {self.batchnorms} batch norms are folded into the convolutions "
                    "before them here (the same maps to float rounding, checked when the model was loaded; faster)")
        return f"the model's {self.batchnorms} batch norms run as they are ({self.reason or 'not folded'})"


def count_batchnorms(model: nn.Module) -> int:
    return sum(1 for m in model.modules() if isinstance(m, nn.BatchNorm2d))


def _layer_count(model: nn.Module) -> int:
    return len(getattr(model, "feature_info", ()) or ())


def _layers(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    n = _layer_count(model)
    return [t.detach().clone() for t in model.forward_intermediates(x, list(range(n)))] if n else []


def _outputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    outs = _layers(model, x)
    try:
        y = model(x)
    except Exception:  # a backbone without a usable forward: the layers alone are compared
        return outs
    if isinstance(y, torch.Tensor):
        outs.append(y.detach().clone())
    return outs


def _pairs(model: nn.Module, x: torch.Tensor) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """(conv, bn) where, in one run up to the last layer, bn's input was conv's output, each called once."""
    made: dict[int, tuple[torch.Tensor, nn.Conv2d]] = {}  # id(output) -> (output kept alive, conv)
    calls: dict[nn.Module, int] = {}
    fed: list[tuple[nn.Conv2d | None, nn.BatchNorm2d]] = []
    handles = []

    def conv_hook(mod, _inp, out):
        calls[mod] = calls.get(mod, 0) + 1
        if isinstance(out, torch.Tensor):
            made[id(out)] = (out, mod)

    def bn_hook(mod, inp):
        calls[mod] = calls.get(mod, 0) + 1
        src = made.get(id(inp[0])) if inp and isinstance(inp[0], torch.Tensor) else None
        fed.append((src[1] if src is not None and src[0] is inp[0] else None, mod))

    try:
        for m in model.modules():
            if type(m) is nn.Conv2d:
                handles.append(m.register_forward_hook(conv_hook))
            elif type(m) is nn.BatchNorm2d:
                handles.append(m.register_forward_pre_hook(bn_hook))
        _layers(model, x)
    finally:
        for h in handles:
            h.remove()
    # a conv output read by anything besides its batch norm would change with it: the check against the original
    # finds that (every layer is compared); here only the plain cases are kept
    return [(c, b) for c, b in fed if c is not None and calls.get(c) == 1 and calls.get(b) == 1
            and not b.training and b.track_running_stats and b.running_mean is not None
            and c.out_channels == b.num_features and not _hooked(c) and not _hooked(b)]


def _hooked(m: nn.Module) -> bool:
    return bool(m._forward_hooks or m._forward_pre_hooks or getattr(m, "parametrizations", None))


def fold_batchnorm(model: nn.Module, example: torch.Tensor) -> FoldReport:
    """Fold every batch norm that directly follows a convolution into it, in place, if the result computes what the
    model computed on ``example`` (one input batch, on the model's device); otherwise leave the model as it was."""
    bns = count_batchnorms(model)
    if not bns or model.training or isinstance(model, torch.jit.ScriptModule):
        return FoldReport(0, bns, "" if not bns else "not an eval-mode torch module")
    names = {m: n for n, m in model.named_modules()}
    undo: list[tuple[nn.Module, str, nn.Module]] = []

    def put(mod: nn.Module, new: nn.Module) -> None:
        parent_name, _, leaf = names[mod].rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        undo.append((parent, leaf, getattr(parent, leaf)))
        setattr(parent, leaf, new)

    try:
        with torch.no_grad(), exact_float32():  # cuDNN's TF32 would fail every fold's check on a GPU
            pairs = _pairs(model, example)
            if not pairs:
                return FoldReport(0, bns, "no batch norm reads a convolution's output alone")
            want = _outputs(model, example)
            for conv, bn in pairs:
                fused = torch.nn.utils.fusion.fuse_conv_bn_eval(conv, bn)
                fused.requires_grad_(False)
                put(conv, fused)
                put(bn, nn.Identity())
            got = _outputs(model, example)
            if len(got) != len(want) or any(
                    a.shape != b.shape or float((a - b).abs().max()) > TOLERANCE * float(a.abs().max()) + 1e-6
                    for a, b in zip(want, got)):
                raise ValueError("the folded model computes something else")
    except Exception as exc:
        for parent, leaf, old in reversed(undo):
            setattr(parent, leaf, old)
        return FoldReport(0, bns, f"not folded: {exc}")
    return FoldReport(len(pairs), bns)


def example_input(model: nn.Module, device: torch.device | str) -> torch.Tensor:
    """A small input the model takes (its declared channels and size, fixed or not), random, seeded."""
    c, h, w = getattr(model, "default_input", (3, 32, 32))
    gen = torch.Generator().manual_seed(0)
    return torch.randn(1, int(c), int(h), int(w), generator=gen).to(device)


def fold_for_inference(model: nn.Module, device: torch.device | str, enabled: bool = True) -> FoldReport:
    """``fold_batchnorm`` on ``example_input``; with ``enabled`` False nothing is changed and the report says so."""
    if not enabled:
        return FoldReport(0, count_batchnorms(model), "folding off")
    return fold_batchnorm(model, example_input(model, device))
