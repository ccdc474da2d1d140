"""The stride of each tapped map against the input image (``app.models.external.discover``'s taps): rows of input
per row of map, what Live's layer menu shows and its default layer is chosen by. A TorchScript graph says it
(``graph_strides``: the convolutions, poolings and strided slices on the way); an eager module is measured
(``eager_strides``: a second forward with more rows). Where neither can say, the caller falls back to the input's
rows over the map's (wrong for valid convolutions: a traced LeNet-5's c3 read 3 where it is 2)."""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

import torch
from torch import nn


def is_tensor(v: torch._C.Value) -> bool:
    return isinstance(v.type(), torch._C.TensorType)


def hooked_forward(net: nn.Module, mods: dict[str, nn.Module], x: torch.Tensor,
                   seen: Callable[[str, int, nn.Module, tuple, object], None]):
    """``net(x)`` without gradients, with a forward hook on each of ``mods`` (path -> module) that calls
    ``seen(path, k, module, inputs, output)`` (k: the module's call index in this forward); the hooks are removed
    afterwards, also when the forward raises (the exception goes on)."""
    calls: dict[str, int] = defaultdict(int)
    handles = []

    def hook_for(path: str):
        def hook(mod, inputs, output):
            k = calls[path]
            calls[path] += 1
            seen(path, k, mod, inputs, output)
        return hook

    try:
        for path, m in mods.items():
            handles.append(m.register_forward_hook(hook_for(path)))
        with torch.no_grad():
            return net(x)
    finally:
        for h in handles:
            h.remove()


_STRIDED = {"aten::_convolution": 3, "aten::conv2d": 3, "aten::convolution": 3, "aten::max_pool2d": 2,
            "aten::avg_pool2d": 2, "aten::max_pool2d_with_indices": 2}  # op -> the position of its stride argument
_RESIZING = ("upsample", "interpolate", "adaptive", "pixel_shuffle", "pixel_unshuffle", "grid_sampler", "unfold",
             "fold", "reshape", "view", "flatten", "permute", "transpose")


def _constant(v):
    """A graph value's constant: a constant's, or a list built of constants (a traced conv's stride); raises else."""
    node = v.node()
    if node.kind() == "prim::ListConstruct":
        return [_constant(i) for i in node.inputs()]
    if node.kind() != "prim::Constant":
        raise ValueError("not a constant")
    return v.toIValue()


def graph_strides(graph: torch._C.Graph) -> dict[int, int | None]:
    """Each tensor value's stride against the graph's input image (value.unique() -> rows of input per row of map),
    from the strides of the convolutions and poolings on its way (a value with several inputs: the largest, as a
    residual block's sum); None where an op that resizes otherwise lies on the way (an upsampling, an adaptive
    pooling, a reshape)."""
    unknown = -1
    out: dict[int, int] = {}
    inputs = list(graph.inputs())
    for v in inputs[1:]:  # (the first input is the module itself)
        if is_tensor(v):
            out[v.unique()] = 1
    for node in graph.nodes():
        ins = [out[i.unique()] for i in node.inputs() if i.unique() in out]
        if not ins:
            continue
        base = unknown if unknown in ins else max(ins)
        kind = node.kind()
        own = 1
        if kind in _STRIDED and base != unknown:
            args = list(node.inputs())
            try:
                stride = _constant(args[_STRIDED[kind]])
                if kind != "aten::_convolution" and kind not in ("aten::conv2d", "aten::convolution") and not stride:
                    stride = _constant(args[1])  # a pooling's empty stride: its kernel size
                own = int(stride[0]) if isinstance(stride, (list, tuple)) else int(stride)
            except Exception:  # noqa: BLE001 - a stride that is not a constant: not known
                base = unknown
            if kind in ("aten::_convolution", "aten::convolution"):
                try:
                    if bool(_constant(args[6])):  # transposed: it enlarges
                        base = unknown
                except Exception:  # noqa: BLE001
                    base = unknown
        elif kind == "aten::slice" and base != unknown:  # x[:, :, ::2]: a step along the rows strides too
            try:
                args = list(node.inputs())
                dim, step = int(_constant(args[1])), _constant(args[4])
                own = int(step) if dim in (2, -2) and step else 1
            except Exception:  # noqa: BLE001 - not constants: not known
                base = unknown
        elif any(word in kind for word in _RESIZING):
            base = unknown
        for o in node.outputs():
            if is_tensor(o):
                out[o.unique()] = unknown if base == unknown else base * own
    return {k: (None if v == unknown else v) for k, v in out.items()}


GROW_ROWS = 64  # the second forward's extra rows (``eager_strides``): strides up to 64 measured


def eager_strides(net: nn.Module, mods: dict[str, nn.Module], x: torch.Tensor, raw: list) -> list[int | None]:
    """Each tap's stride measured: a second forward with ``GROW_ROWS`` more rows (zeros at the bottom); a map that
    grows by d rows has stride GROW_ROWS / d (a valid convolution shrinks a map without changing that). A forward
    that fails part way (a head that wants the first size) still measures the maps before it. None where not
    measured (the ratio of sizes then); nothing tried for a module in training mode (its batch-norm statistics
    would move)."""
    if net.training or x.dim() != 4:
        return [None] * len(raw)
    rows: dict[tuple[str, int], int] = {}

    def seen(path, k, mod, inputs, output):
        if isinstance(output, torch.Tensor) and output.dim() == 4:
            rows[(path, k)] = int(output.shape[2])

    try:
        hooked_forward(net, mods, torch.nn.functional.pad(x, (0, 0, 0, GROW_ROWS)), seen)
    except Exception:  # noqa: BLE001 - a model that takes only its own size: the maps measured before it failed
        pass
    out = []
    for path, call, _, shape in raw:
        d = rows.get((path, call), 0) - int(shape[1])
        out.append(GROW_ROWS // d if d > 0 and GROW_ROWS % d == 0 else None)
    return out
