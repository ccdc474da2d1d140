"""Reading an ONNX file (``app.models.external.formats`` offers these under its own names): the metadata the
app reads from ``metadata_props``, the graph's static input (N, C, H, W) and batch, and the conversion to torch by
``onnx2torch`` (optional extra ``pip install .[onnx]``), with constants folded and the opset converted down when
onnx2torch cannot convert the file as it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.models.external.formats import (ONNX_FALLBACK_OPSETS, ONNX_META_KEY, Loaded, ModelFileError, _import_failed,
                                         _missing, parse_metadata, what_is)


def _onnx_metadata(proto: Any, where: str) -> dict[str, Any] | None:
    props = {p.key: p.value for p in proto.metadata_props}
    if ONNX_META_KEY in props:
        return parse_metadata(props[ONNX_META_KEY], where)
    keys = {"channels", "size", "mean", "std"}
    if "channels" in props and keys & set(props):
        from app.cliargs import parse_value

        return {k: parse_value(props[k]) for k in keys | {"interpolation"} if k in props}
    return None


def _onnx_input_dims(proto: Any) -> list[int | None] | None:
    """The dimensions of the graph's (first) image input: an int where static, None where dynamic."""
    inits = {i.name for i in proto.graph.initializer}
    for inp in proto.graph.input:
        if inp.name in inits:
            continue
        dims = inp.type.tensor_type.shape.dim
        return [int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims]
    return None


def _onnx_static_input(proto: Any, where: str = "the ONNX file") -> tuple[int, int, int] | None:
    """(C, H, W) the graph's input fixes (N, C, H, W with static C, H, W), None when H x W is dynamic;
    ``ModelFileError`` for an input the app cannot feed (N, H, W, C, or not 1 or 3 channels)."""
    vals = _onnx_input_dims(proto)
    if vals is None or len(vals) != 4:
        return None
    c, h, w = vals[1:]
    if c is not None and c not in (1, 3):
        shown = "x".join("?" if v is None else str(v) for v in vals)
        if w in (1, 3):
            raise ModelFileError(f"{where}: its input is laid out N,H,W,C ({shown}, channels last); the app feeds "
                                 f"N,C,H,W images (channels first): export the model with a channels-first input "
                                 f"(e.g. permute inside the model before exporting)")
        raise ModelFileError(f"{where}: its input has {c} channels ({shown}); the app feeds 1- or 3-channel images "
                             f"(N,C,H,W)")
    if c is not None and h is not None and w is not None:
        return int(c), int(h), int(w)
    return None


def _onnx_static_batch(proto: Any) -> int | None:
    vals = _onnx_input_dims(proto)
    return vals[0] if vals else None


def _import_onnx(converter: bool = True):
    """onnx (and onnx2torch when ``converter``: it imports torchvision, which a file need not reach to be read)."""
    try:
        import onnx
        onnx2torch = None
        if converter:
            import onnx2torch
    except (ImportError, RuntimeError, OSError) as exc:  # RuntimeError: a torchvision that does not fit torch
        if _missing(exc, ("onnx", "onnx2torch")):
            raise ModelFileError(f"ONNX files need the onnx extra: pip install .[onnx] (onnx and onnx2torch; "
                                 f"{exc})") from None
        raise ModelFileError(_import_failed("onnx and onnx2torch", exc)) from None
    return onnx, onnx2torch


def fold_constants(proto: Any) -> Any:
    """A copy of ``proto`` with ``Constant`` nodes and ``Identity`` nodes of initializers turned into initializers
    (newer exporters emit them at opsets onnx2torch does not convert yet)."""
    import copy

    proto = copy.deepcopy(proto)
    g = proto.graph
    inits = {i.name: i for i in g.initializer}
    changed = True
    while changed:
        changed = False
        keep = []
        for n in g.node:
            t = None
            if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].name == "value":
                t = copy.deepcopy(n.attribute[0].t)
            elif n.op_type == "Identity" and n.input[0] in inits:
                t = copy.deepcopy(inits[n.input[0]])
            if t is None:
                keep.append(n)
                continue
            t.name = n.output[0]
            g.initializer.append(t)
            inits[t.name] = t
            changed = True
        del g.node[:]
        g.node.extend(keep)
    return proto


def load_onnx(path: Path) -> Loaded:
    onnx, _ = _import_onnx(converter=False)  # a file that is no ONNX model says so, whatever onnx2torch does
    try:
        proto = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError, missing external data ...
        raise ModelFileError(f"{path.name}: not a valid ONNX model ({type(exc).__name__}: {str(exc)[:200]}); "
                             f"it is {what_is(path)}") from None
    if not proto.graph.node:
        raise ModelFileError(f"{path.name}: not an ONNX model (its graph has no operations); it is {what_is(path)}")
    meta = _onnx_metadata(proto, path.name)
    static = _onnx_static_input(proto, path.name)
    _, onnx2torch = _import_onnx()
    module = None
    first_error: Exception | None = None
    folded = None
    for opset in (None, "fold") + ONNX_FALLBACK_OPSETS:
        try:
            if opset is None:
                model = proto
            else:  # onnx2torch lags the newest opsets: fold constants, then convert the graph down (onnx's converter)
                from onnx import version_converter

                folded = folded or fold_constants(proto)
                model = folded if opset == "fold" else version_converter.convert_version(folded, opset)
            module = onnx2torch.convert(model)
            break
        except Exception as exc:  # unsupported operators raise NotImplementedError, KeyError ...
            first_error = first_error or exc
    if module is None:
        raise ModelFileError(f"{path.name}: onnx2torch cannot convert this model ({type(first_error).__name__}: "
                             f"{str(first_error)[:300]})")
    return Loaded(module.eval(), "onnx", meta, "ONNX via onnx2torch", static, static_batch=_onnx_static_batch(proto))
