"""The random twin of an opened model: the same architecture, re-initialised in place, seeded.

- ``init="default"``: eager modules call their own ``reset_parameters()`` (every layer that has one, running
  statistics included); TorchScript modules (which keep no Python init code) get He-normal convs (fan-in, ReLU gain,
  zero bias), PyTorch's default for linear layers (U(+-1/sqrt(fan_in))) and norms reset (weight 1, bias 0, running
  mean 0, variance 1).
- any other ``app.models.freeze.INITS`` name (``kaiming``, ``gaussian:0.1``, ``orthogonal`` ...): applied to every conv
  and linear layer by ``apply_init`` after the default reset.

Parameters of layers that are none of these (e.g. a PReLU slope, a layer scale) keep their values; ``reinit``
returns their names so the caller can say so.

An ONNX twin is the architecture of the exported GRAPH: ``torch.onnx.export`` of a model in eval mode folds each
batch norm that follows a convolution into that convolution's weights and bias, so the graph (and the twin) has
none, and a random twin of it is not the trained network's architecture (no normalisation after its convs).
Unfolding is not possible (the graph no longer says where a batch norm was); ``twin_note(source, fmt)`` says it
instead: for an ONNX graph with convolutions and no ``BatchNormalization`` node (``folded_bn_note`` on its operator
types), or, when the graph cannot be read, for any ONNX twin; nothing for other formats. ``twin_label_note`` is its
short form for the twin's name.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from app.models.external.backbone import is_script
from app.models.freeze import layer_class

CONV_OPS = frozenset({"Conv", "ConvTranspose", "ConvInteger", "QLinearConv"})
FOLDED_BN = ("its ONNX graph has convolutions but no batch normalisation: an export in eval mode folds batch norm "
             "into the convolutions, so if the trained network had batch norm, this random twin has none (not the "
             "trained network's architecture: re-initialised convolutions with no normalisation after them)")
MAYBE_FOLDED_BN = ("if the ONNX export folded batch norm into the convolutions (as an export in eval mode does), this "
                   "random twin has none (not the trained network's architecture)")
FOLDED_BN_LABEL = "no batch norm in the ONNX graph, likely folded into its convs"
MAYBE_FOLDED_BN_LABEL = "an ONNX graph: batch norm may be folded into its convs"


def folded_bn_note(op_types) -> str:
    """The twin's caveat for an ONNX graph of these operator types: ``FOLDED_BN`` when it has convolutions and no
    ``BatchNormalization`` node (batch norm likely folded by the export), else ""."""
    ops = set(op_types)
    return FOLDED_BN if ops & CONV_OPS and "BatchNormalization" not in ops else ""


def onnx_op_types(source: str) -> set[str]:
    """The operator types of an ONNX file's graph, its subgraphs (If / Loop bodies) and local functions included;
    its weights are not read."""
    from app.models.external.onnx_files import _import_onnx

    onnx, _ = _import_onnx(converter=False)
    proto = onnx.load(str(source), load_external_data=False)
    ops: set[str] = set()
    graphs = [proto.graph] + [f for f in getattr(proto, "functions", ())]
    while graphs:
        g = graphs.pop()
        for node in g.node:
            ops.add(node.op_type)
            for a in node.attribute:
                graphs.extend([a.g] if a.HasField("g") else [])
                graphs.extend(a.graphs)
    return ops


def twin_note(source: str, fmt: str | None) -> str:
    """What a random twin of the model in ``source`` (format ``fmt``) does not share with the trained network: for
    ONNX, its folded batch norm (see the module docstring); "" otherwise."""
    if fmt != "onnx":
        return ""
    try:
        ops = onnx_op_types(source)
    except Exception:  # noqa: BLE001 - an unreadable graph: the caveat of every ONNX twin, said as a possibility
        return MAYBE_FOLDED_BN
    return folded_bn_note(ops)


def twin_label_note(source: str, fmt: str | None) -> str:
    """``twin_note`` in a few words, for the twin's name ("" when there is nothing to say)."""
    note = twin_note(source, fmt)
    return FOLDED_BN_LABEL if note == FOLDED_BN else MAYBE_FOLDED_BN_LABEL if note else ""


def _kind(m: nn.Module) -> str:
    name = layer_class(m)
    if "Conv" in name:
        return "conv"
    if name == "Linear":
        return "linear"
    if "Norm" in name:
        return "norm"
    return ""


def _proxy(m: nn.Module, kind: str) -> nn.Module:
    """An nn.Conv2d / nn.Linear sharing ``m``'s parameter tensors (so ``apply_init`` writes into ``m``)."""
    p = nn.Linear(1, 1) if kind == "linear" else nn.Conv2d(1, 1, 1)
    p.weight = m.weight if isinstance(m.weight, nn.Parameter) else nn.Parameter(m.weight, requires_grad=False)
    b = getattr(m, "bias", None)
    p.bias = None if b is None else (b if isinstance(b, nn.Parameter) else nn.Parameter(b, requires_grad=False))
    return p


def reinit(net: nn.Module, init: str = "default", seed: int = 0) -> list[str]:
    """Re-initialise ``net`` in place (see the module docstring); returns the parameters left as they were."""
    from app.models.freeze import apply_init

    g = torch.Generator().manual_seed(int(seed))
    touched: set[int] = set()
    proxies = nn.ModuleList()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        for _, m in net.named_modules():
            kind = _kind(m)
            w = getattr(m, "weight", None)
            if not is_script(m) and callable(getattr(m, "reset_parameters", None)):
                m.reset_parameters()
                touched.update(p.data_ptr() for p in m.parameters(recurse=False))
            elif kind in ("conv", "linear") and isinstance(w, torch.Tensor):
                fan_in = max(1, w[0].numel())
                if kind == "conv":
                    w.copy_(torch.randn(w.shape, generator=g) * math.sqrt(2.0 / fan_in))
                    if getattr(m, "bias", None) is not None:
                        m.bias.zero_()
                else:
                    bound = 1.0 / math.sqrt(fan_in)
                    w.copy_((torch.rand(w.shape, generator=g) * 2 - 1) * bound)
                    if getattr(m, "bias", None) is not None:
                        m.bias.copy_((torch.rand(m.bias.shape, generator=g) * 2 - 1) * bound)
                touched.update(p.data_ptr() for p in (w, getattr(m, "bias", None)) if p is not None)
            elif kind == "norm":
                for attr, value in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0),
                                    ("num_batches_tracked", 0)):
                    t = getattr(m, attr, None)
                    if isinstance(t, torch.Tensor):
                        t.fill_(value)
                        touched.add(t.data_ptr())
            if kind in ("conv", "linear") and isinstance(getattr(m, "weight", None), torch.Tensor):
                proxies.append(_proxy(m, kind))
        name = (init or "default").partition(":")[0].strip().lower()
        if name not in ("default", "", "checkpoint"):
            apply_init(proxies, init, g)
    # compared by storage: a TorchScript module hands out new tensor objects for the same parameter
    return [n for n, p in net.named_parameters() if p.data_ptr() not in touched]
