"""Reading a model file a user brings, safely: nothing that executes pickled Python code is ever loaded.

``detect(source)`` names the format of a file (or ``timm:NAME``); ``load(source, fmt, weights)`` returns a
``Loaded(module, fmt, metadata, note)``:

- ``torchscript``: ``torch.jit.load(map_location="cpu")`` (TorchScript's own unpickler builds only TorchScript
  types; no Python globals are imported or run); metadata from the extra file ``filter_explorer.json``;
- ``onnx``: ``onnx.load`` (protobuf) converted by ``onnx2torch`` (optional extra ``pip install .[onnx]``); metadata
  from ``metadata_props`` (``filter_explorer`` = JSON, or ``channels``/``size``/``mean``/``std``) and the graph's
  static input shape; a file that onnx2torch cannot convert as it is gets its constants folded into initializers
  and is then converted down to opset 17 (then 13) by onnx's own version converter;
- ``timm``: ``timm.create_model(NAME, pretrained=False)`` (optional extra ``pip install .[timm]``) + a local weights
  file read by ``app.models.weights.read_state_dict`` (safetensors, or ``torch.load(weights_only=True)``); metadata
  from the model's ``pretrained_cfg``;
- ``state_dict``: a weights file whose architecture the app has: its JSON sidecar names the backbone, its file name
  is one of the app's known weights (``app.models.weights.KNOWN``), or its keys are torchvision's resnet18
  (``app.models.resnet18``). A state dict of an unknown architecture is refused with a message that says how to open
  it. A checkpoint the app wrote of a model the user brought (sidecar backbone ``external``) is that model's spec
  with the checkpoint as its weights (``app.models.external.model.spec_for``); its ``net.``-prefixed keys
  (``ExternalBackbone.state_dict()``) are read by ``unwrapped`` for timm.

A ``torch.export`` archive (``torch.export.save``) is named as such and refused (``is_export_archive``).

A file that is none of these raises ``ModelFileError`` naming the file and what it is (an image, text, a pickled
``nn.Module``, ...).
"""

from __future__ import annotations

import json
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from app.errors import LimitError
from app.models.base import ModelError

FORMATS = ("torchscript", "onnx", "timm", "state_dict")
META_FILE = "filter_explorer.json"  # TorchScript extra file / ONNX metadata key holding the input spec
ONNX_META_KEY = "filter_explorer"
ONNX_FALLBACK_OPSETS = (17, 13)  # tried in turn when onnx2torch cannot convert a file's own opset
HOW = ("open a TorchScript file (torch.jit.save), an ONNX file (.onnx), timm:NAME with --weights FILE, or a "
       "state dict of an architecture the app has (--backbone NAME --weights FILE)")


class ModelFileError(ModelError):
    """A model file could not be opened; the message names the file and what it is."""


@dataclass
class Loaded:
    module: nn.Module  # an nn.Module or a torch.jit.ScriptModule, on the CPU, eval mode
    fmt: str
    metadata: dict[str, Any] | None  # {"channels", "size", "mean", "std", ...} when the file carries them
    note: str = ""  # where the architecture came from (e.g. "sidecar: simple")
    static_input: tuple[int, int, int] | None = None  # (C, H, W) fixed by the file (ONNX static shapes)
    size_hint: tuple[int, int] | None = None  # the size the architecture was built for (registry, timm cfg)
    static_batch: int | None = None  # a batch size the file fixes (ONNX exported without a dynamic batch axis)


# --- what is this file? ------------------------------------------------------------------------------------
def _zip_names(path: Path) -> list[str] | None:
    try:
        with zipfile.ZipFile(path) as z:
            return z.namelist()
    except (zipfile.BadZipFile, OSError):
        return None


def is_export_archive(names: list[str]) -> bool:
    """The entries of a zip written by ``torch.export.save`` (an ``ExportedProgram``, ``.pt2``): torch >= 2.6 writes a
    PT2 archive (``NAME/archive_format`` holding ``pt2``, ``NAME/models/*.json``, ``NAME/data/weights/...``); older
    versions wrote ``serialized_exported_program.json`` beside ``serialized_state_dict.pt``."""
    return any(n.endswith("/archive_format") or n == "archive_format" or n.endswith("/models/model.json")
               or n.endswith("serialized_exported_program.json") for n in names)


def what_is(path: Path) -> str:
    """A short description of a file that is not a model (for error messages)."""
    try:
        size = path.stat().st_size
        head = path.open("rb").read(64)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if size == 0:
        return "an empty file"
    sigs = [(b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
            (b"BM", "a BMP image"), (b"%PDF", "a PDF document"), (b"\x1f\x8b", "a gzip archive"),
            (b"PK", "a zip archive that is not a PyTorch file"), (b"\x93NUMPY", "a NumPy array (.npy)"),
            (b"\x89HDF", "an HDF5 file (Keras/TensorFlow weights are not supported)")]
    for sig, desc in sigs:
        if head.startswith(sig):
            return desc
    try:
        text = head.decode("utf-8")
        stripped = text.lstrip()
        if stripped.startswith(("{", "[")):
            return "a JSON/text file"
        if all(c.isprintable() or c in "\r\n\t" for c in text):
            return "a text file"
    except UnicodeDecodeError:
        pass
    return f"{size:,} bytes of unrecognised data"


def detect(source: str | Path) -> str:
    """The format of ``source``: one of ``FORMATS``; ``ModelFileError`` for a missing file or one that is no model."""
    text = str(source)
    if text.startswith("timm:"):
        if not text[5:].strip():
            raise ModelFileError("timm: give a model name, e.g. timm:resnet18")
        return "timm"
    path = Path(text).expanduser()
    if not path.is_file():
        raise ModelFileError(f"{text}: no such file")
    suffix = path.suffix.lower()
    names = _zip_names(path)
    if names is not None:
        if any("/code/" in n or n.endswith("/constants.pkl") for n in names):
            return "torchscript"
        if is_export_archive(names):
            raise ModelFileError(f"{path.name}: a torch.export archive (an ExportedProgram written by "
                                 f"torch.export.save), which the app does not open; save the model with "
                                 f"torch.jit.save(torch.jit.script(model), FILE) (or torch.jit.trace) or export it "
                                 f"to ONNX (torch.onnx.export) instead")
        if any(n.endswith("data.pkl") for n in names):
            return "state_dict"  # torch.save zip: a state dict, or a pickled module (refused when read)
        raise ModelFileError(f"{path.name}: not a model file: it is a zip archive of {len(names)} entries "
                             f"without PyTorch content; {HOW}")
    if suffix == ".safetensors":
        return "state_dict"
    head = path.open("rb").read(2)
    if suffix == ".onnx":
        return "onnx"
    if head[:1] == b"\x80":  # a legacy (non-zip) torch.save pickle; read_state_dict refuses code
        return "state_dict"
    if head[:1] == b"\x08" and suffix not in (".pt", ".pth", ".ts", ".th"):
        return "onnx"  # protobuf ModelProto starts with field 1 (ir_version)
    raise ModelFileError(f"{path.name}: not a model file: it is {what_is(path)}; {HOW}")


# --- metadata ------------------------------------------------------------------------------------------------
def parse_metadata(raw: Any, where: str) -> dict[str, Any]:
    """``{"channels", "size", "mean", "std", ...}`` from JSON text or a dict; ``ModelFileError`` if malformed."""
    if isinstance(raw, (bytes, str)):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise ModelFileError(f"{where}: {META_FILE} is not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ModelFileError(f"{where}: {META_FILE} must be a JSON object, got {type(raw).__name__}")
    return raw


# --- loaders -------------------------------------------------------------------------------------------------
def load_torchscript(path: Path) -> Loaded:
    extra = {META_FILE: ""}
    try:
        with warnings.catch_warnings():  # torch >= 2.10 marks TorchScript deprecated; it is what users have
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except (RuntimeError, ValueError, OSError) as exc:
        first = (str(exc).strip().splitlines() or ["?"])[0]
        raise ModelFileError(f"{path.name}: not a readable TorchScript file ({first[:300]})") from None
    raw = extra.get(META_FILE)
    meta = parse_metadata(raw, path.name) if raw else None
    return Loaded(module.eval(), "torchscript", meta, "TorchScript")


def _missing(exc: BaseException, names: tuple[str, ...]) -> bool:
    """``exc`` says that one of the packages ``names`` itself is not installed (not that importing it failed)."""
    return isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in names


def _import_failed(what: str, exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    hint = (" (a torchvision built for another torch: install torchvision from the index your torch came from, "
            "see docs/own-models.md)" if "torchvision" in str(exc) or "nms" in str(exc) else "")
    return f"{what} are installed but importing them failed: {type(exc).__name__}: {first}{hint}"


def _import_timm():
    try:
        import timm
    except (ImportError, RuntimeError, OSError) as exc:
        if _missing(exc, ("timm",)):
            raise ModelFileError(f"timm models need the timm extra: pip install .[timm] ({exc})") from None
        raise ModelFileError(_import_failed("timm", exc)) from None
    return timm


def check_timm(name: str):
    """timm, after checking that it knows ``name`` (``ModelFileError`` naming similar models otherwise)."""
    timm = _import_timm()
    arch = name.split(".", 1)[0]
    if not timm.is_model(name) and not timm.is_model(arch):
        near = timm.list_models(f"*{arch}*")[:8]
        raise ModelFileError(f"timm:{name}: timm has no such model" + (f"; similar: {', '.join(near)}" if near else ""))
    return timm


def _timm_cfg(timm, name: str) -> dict:
    cfg = timm.models.get_pretrained_cfg(name) or timm.models.get_pretrained_cfg(name.split(".", 1)[0])
    return cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg or {})


def timm_arch_args(name: str, state: dict[str, torch.Tensor]) -> dict[str, int]:
    """The architecture arguments of timm model ``name`` that a weights file fixes: ``num_classes`` (its classifier's
    outputs, 0 for none) and ``in_chans`` (its first conv's input channels). A random twin is built with the same."""
    cfg = _timm_cfg(check_timm(name), name)
    out: dict[str, int] = {}
    cls, first = cfg.get("classifier"), cfg.get("first_conv")
    if isinstance(cls, str):
        w = state.get(f"{cls}.weight")
        out["num_classes"] = int(w.shape[0]) if w is not None and w.dim() == 2 else 0
    if isinstance(first, str) and state.get(f"{first}.weight") is not None:
        out["in_chans"] = int(state[f"{first}.weight"].shape[1])
    return out


TIMM_ARCH_ARGS = ("in_chans", "num_classes")  # spec options of a timm model passed to timm.create_model


def load_timm(name: str, weights: str | Path | None, arch: dict[str, Any] | None = None) -> Loaded:
    """``timm.create_model(name)`` with the local ``weights`` (never a download); None: timm's own random init.
    ``arch``: ``in_chans`` / ``num_classes`` to build with (the weights file's, kept by a random twin's spec)."""
    from app.models.weights import WeightsError, load_into, read_state_dict

    timm = check_timm(name)
    kwargs: dict[str, Any] = {k: int(v) for k, v in (arch or {}).items() if k in TIMM_ARCH_ARGS and v is not None}
    state = None
    if weights:
        state = unwrapped(read_state_dict(weights))  # the timm weights file, or a checkpoint the app trained of it
        kwargs.update(timm_arch_args(name, state))
    try:
        module = timm.create_model(name, pretrained=False, **kwargs)
    except Exception as exc:
        raise ModelFileError(f"timm:{name}: could not be created ({type(exc).__name__}: {str(exc)[:300]})") from None
    if state is not None:
        try:
            load_into(module, state, adapt_head=False, name=Path(weights).name)
        except WeightsError as exc:
            raise ModelFileError(f"timm:{name}: {exc}") from None
    cfg = dict(getattr(module, "pretrained_cfg", None) or {})
    meta = _timm_meta(cfg, kwargs.get("in_chans"))
    static = hint = None
    if cfg.get("input_size"):
        hint = tuple(int(v) for v in cfg["input_size"][1:])
        if cfg.get("fixed_input_size"):
            static = (int(kwargs.get("in_chans", cfg["input_size"][0])),) + hint
    return Loaded(module.eval(), "timm", meta, f"timm {name}", static, hint)


def state_dict_architecture(path: Path, state: dict[str, torch.Tensor]):
    """The registry ``ModelSpec`` a state dict belongs to: its JSON sidecar, else the known weights of that file name
    (``app.models.weights.KNOWN``, as ``app.models.build.spec_from_checkpoint`` reads them), else torchvision's
    resnet18 layout. A checkpoint the app wrote of a model the user brought (its sidecar's backbone ``external``)
    gives that external spec (``app.models.external.spec_for`` opens it as such, not wrapped twice)."""
    from app.models.build import spec_from_checkpoint
    from app.models.spec import ModelSpec
    from app.models.weights import WeightsError, known_for_path, read_sidecar

    if read_sidecar(path) is not None:
        try:
            return spec_from_checkpoint(path)
        except WeightsError:
            pass
    kw = known_for_path(path)  # the app's own known weights (the official ResNet-20, LeNet-5), by their file name
    if kw is not None:
        return ModelSpec.make(kw.backbone, label=kw.label, options=dict(kw.options), init="checkpoint",
                              weights=str(path), weight_state="trained")
    w = state.get("conv1.weight")
    fc = state.get("fc.weight")
    if w is not None and w.dim() == 4 and "layer4.1.bn2.running_var" in state and "layer4.1.conv2.weight" in state:
        stem = "imagenet" if w.shape[-1] == 7 else "cifar"
        opts = {"in_channels": int(w.shape[1]), "stem": stem, "num_classes": int(fc.shape[0]) if fc is not None else 0}
        return ModelSpec.make("resnet18", label=f"resnet18 ({path.name})", options=opts, init="checkpoint",
                              weights=str(path), weight_state="trained")
    keys = list(state)
    shown = ", ".join(keys[:5]) + (" ..." if len(keys) > 5 else "")
    raise ModelFileError(f"{path.name}: holds only weights (a state dict of {len(keys)} tensors: {shown}) and no "
                         f"architecture the app knows (no JSON sidecar; not torchvision's resnet18). Open it with "
                         f"--backbone NAME --weights FILE or timm:NAME --weights FILE, or save the model itself with "
                         f"torch.jit.save(torch.jit.script(model), FILE)")


WRAPPED = "net."  # the key prefix of an ``ExternalBackbone``'s own state dict (what ``save_checkpoint`` writes)


def unwrapped(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` without the ``net.`` prefix when every key has it: a checkpoint the app wrote of a model the user
    brought (``ExternalBackbone.state_dict()``) holds the wrapped module's keys under ``net.``."""
    if state and all(k.startswith(WRAPPED) for k in state):
        return {k[len(WRAPPED):]: v for k, v in state.items()}
    return state


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    from app.models.weights import WeightsError, read_state_dict

    try:
        return read_state_dict(path)
    except WeightsError as exc:
        msg = str(exc)
        if "refused" in msg:
            msg += (" If it is a whole model saved with torch.save(model), save it with "
                    "torch.jit.save(torch.jit.script(model), FILE) or export it to ONNX instead.")
        raise ModelFileError(msg) from None


def load_state_dict_model(path: Path, trained: bool = True) -> Loaded:
    """The registry backbone the state dict belongs to, with the weights loaded (or freshly initialised)."""
    from app.models.build import create_model
    from app.models.weights import load_into

    state = read_weights(path)
    spec = state_dict_architecture(path, state)
    try:
        model = create_model(spec.backbone, spec.kwargs)
    except LimitError as exc:  # the architecture its sidecar declares is too large: name the file
        raise LimitError(f"{path.name}: {exc}") from None
    if trained:
        load_into(model, state, name=path.name)
    if spec.backbone == "external":  # a checkpoint the app wrote of a model the user brought: the module inside
        # (an ExternalBackbone is never wrapped in another: its taps would hook a wrapper, and TorchScript refuses)
        return Loaded(model.net.eval(), model.fmt, None, f"checkpoint of {Path(model.source).name}",
                      tuple(model.default_input) if model.fixed_input_size else None, tuple(model.default_input[1:]),
                      getattr(model, "batch", None))
    c, h, w = (int(v) for v in model.default_input)
    return Loaded(model.eval(), "state_dict", None, f"state dict of {spec.backbone}",
                  (c, h, w) if getattr(model, "fixed_input_size", False) else None, (h, w))


def _timm_meta(cfg: dict, in_chans: int | None) -> dict[str, Any] | None:
    """The input metadata of a timm ``pretrained_cfg``; ``crop_pct`` / ``crop_mode`` are kept for ``crop_note``
    (the app's preprocessing resizes the whole image to ``size``: it has no crop step)."""
    if not (cfg.get("input_size") and cfg.get("mean") and cfg.get("std")):
        return None
    c, h, w = cfg["input_size"]
    if in_chans is not None and in_chans != c:
        return None
    meta = {"channels": c, "size": [h, w], "mean": list(cfg["mean"]), "std": list(cfg["std"]),
            "interpolation": cfg.get("interpolation", "bilinear")}
    for key in ("crop_pct", "crop_mode"):
        if cfg.get(key) is not None:
            meta[key] = cfg[key]
    return meta


def crop_note(meta: dict[str, Any] | None) -> str:
    """What timm's evaluation transform does that the app's input does not, from metadata with a ``crop_pct``
    (``_timm_meta``); "" when nothing differs. timm (``resolve_data_config`` + ``transforms_factory``) resizes the
    shorter side to ``floor(size / crop_pct)`` and centre-crops ``size``; ``app.models.inputs.to_tensor`` resizes the
    whole image to ``size`` (one preprocessing for train, eval, probe and Live, with no crop step), so the crop is
    stated in the input's source instead of applied."""
    if not isinstance(meta, dict) or meta.get("crop_pct") is None:
        return ""
    try:
        pct = float(meta["crop_pct"])
        h, w = (int(v) for v in meta["size"])
    except (TypeError, ValueError, KeyError):
        return ""
    if not 0 < pct < 1:  # 1: the crop is the whole resized image, as here
        return ""
    sh, sw = int(h / pct), int(w / pct)
    mode = str(meta.get("crop_mode") or "center")
    centre = f"resizes the shorter side to {min(sh, sw)}" if sh == sw else \
        f"resizes to cover {sh}x{sw} keeping the aspect"
    how = {"squash": f"resizes to {sh}x{sw}",
           "border": f"resizes the longer side to {max(sh, sw)} and pads"}.get(mode, centre)
    return (f"timm evaluates it with crop_pct {pct:g}{'' if mode == 'center' else f', crop_mode {mode}'}: {how}, "
            f"then centre-crops {h}x{w}; here the whole image is resized to {h}x{w}, without that crop")


def read_metadata(source: str, fmt: str, weights: str | Path | None = None, in_chans: int | None = None
                  ) -> dict[str, Any] | None:
    """The input metadata a model file carries, read without building the model (None when there is none)."""
    if fmt == "timm":
        name = source[5:] if source.startswith("timm:") else source
        cfg = _timm_cfg(check_timm(name), name)
        if weights and isinstance(cfg.get("first_conv"), str):
            w = unwrapped(read_weights(Path(weights))).get(f"{cfg['first_conv']}.weight")
            in_chans = int(w.shape[1]) if w is not None and w.dim() == 4 else None
        return _timm_meta(cfg, in_chans)
    path = Path(source)
    if fmt == "torchscript":
        with zipfile.ZipFile(path) as z:
            entry = next((n for n in z.namelist() if n.endswith(f"/extra/{META_FILE}")), None)
            raw = z.read(entry) if entry else b""
        return parse_metadata(raw, path.name) if raw else None
    if fmt == "onnx":
        onnx, _ = _import_onnx(converter=False)
        try:
            proto = onnx.load(str(path), load_external_data=False)
        except Exception as exc:
            raise ModelFileError(f"{path.name}: not a valid ONNX model ({type(exc).__name__}: {str(exc)[:200]}); "
                                 f"it is {what_is(path)}") from None
        _import_onnx()  # a readable file: say now (at spec time) when the converter is missing
        return _onnx_metadata(proto, path.name)
    return None


def read_size(source: str, fmt: str) -> tuple[tuple[int, int], str] | None:
    """(H, W) the file fixes without metadata, read without building the model, and where it comes from: an ONNX
    graph's static input shape, or a timm architecture's ``pretrained_cfg`` input size; None otherwise."""
    if fmt == "onnx":
        onnx, _ = _import_onnx(converter=False)
        path = Path(source)
        try:
            proto = onnx.load(str(path), load_external_data=False)
        except Exception:  # noqa: BLE001 - reading the file again says what is wrong with it
            return None
        static = _onnx_static_input(proto, path.name)
        return ((static[1], static[2]), f"the static input shape of {path.name}") if static else None
    if fmt == "timm":
        name = source[5:] if source.startswith("timm:") else source
        size = _timm_cfg(check_timm(name), name).get("input_size")
        return ((int(size[1]), int(size[2])), f"timm's pretrained_cfg of {name}") if size else None
    return None


def load(source: str, fmt: str | None = None, weights: str | Path | None = None, trained: bool = True,
         arch: dict[str, Any] | None = None) -> Loaded:
    """Load ``source`` (a path, or ``timm:NAME``) in format ``fmt`` (detected when None); ``arch``: a timm model's
    ``in_chans`` / ``num_classes`` (a random twin of a model whose weights file fixed them)."""
    fmt = fmt or detect(source)
    if fmt not in FORMATS:
        raise ModelFileError(f"unknown model format {fmt!r}; known: {', '.join(FORMATS)}")
    if fmt == "timm":
        name = str(source)[5:] if str(source).startswith("timm:") else str(source)
        return load_timm(name, weights if trained else None, arch)
    path = Path(source).expanduser()
    if not path.is_file():
        raise ModelFileError(f"{source}: no such file")
    if fmt == "torchscript":
        return load_torchscript(path)
    if fmt == "onnx":
        return load_onnx(path)
    return load_state_dict_model(path, trained)


# the ONNX reader (its own module), under the names this module has always offered
from app.models.external.onnx_files import (  # noqa: E402 - after the names it imports from here
    _import_onnx, _onnx_metadata, _onnx_static_input, load_onnx)
