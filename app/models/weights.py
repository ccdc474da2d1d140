"""Weights I/O: safe loading, clear mismatch errors, safetensors checkpoints with a JSON sidecar, known downloads.

- ``read_state_dict(path)``: ``.safetensors`` (safetensors) or ``.pt/.pth/.th`` via ``torch.load(...,
  weights_only=True)`` only; a pickle that would run code is refused (``WeightsError``), never executed.
  Containers (``{"state_dict": ...}``, ``{"model": ...}``) are unwrapped and a ``module.`` prefix stripped.
- ``load_into(model, path_or_state)``: strict; a checkpoint that does not fit raises ``WeightsError`` naming the
  missing, unexpected and wrongly shaped keys. A classifier of another size is adapted (``reset_classifier``).
- ``save_checkpoint(model, path, ...)``: ``PATH.safetensors`` + ``PATH.json`` (architecture = ModelSpec dict,
  options, dataset, seed, accuracy, input), both written atomically.
- ``KNOWN``: weights the app knows by name (``resnet20-cifar10``, ``lenet5-mnist``); ``find_known(name)`` looks in
  ``../shared/weights`` and ``paths.user_files()/weights``; ``download(name)`` is a task generator.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generator

import torch

from app import jsonout
from app import paths
from app.storage import atomic_write
from app.models.base import ModelError
from app.tasks import CancelToken, Progress

TORCH_SUFFIXES = (".pt", ".pth", ".th", ".bin", ".ckpt")


class WeightsError(ModelError):
    """Weights could not be read or do not fit the model; the message says exactly why."""


# --- reading ---------------------------------------------------------------------------------------------
def _unwrap(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model", "net", "weights"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj:
        raise WeightsError(f"{path.name}: no state_dict found (got {type(obj).__name__})")
    out: dict[str, torch.Tensor] = {}
    for k, v in obj.items():
        if not isinstance(k, str):
            raise WeightsError(f"{path.name}: not a state_dict (key {k!r} is not a string)")
        if not isinstance(v, torch.Tensor):
            continue  # e.g. metadata such as best_prec1 next to tensors
        out[k] = v
    if not out:
        raise WeightsError(f"{path.name}: the file holds no tensors")
    prefixes = ("module.", "_orig_mod.")
    for pre in prefixes:
        if all(k.startswith(pre) for k in out):
            out = {k[len(pre):]: v for k, v in out.items()}
    return out


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise WeightsError(f"{path.name}: not a readable safetensors file ({exc})") from None
        return _unwrap(state, path)
    if suffix not in TORCH_SUFFIXES:
        raise WeightsError(f"{path.name}: unknown weights format (use .safetensors, .pt, .pth or .th)")
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise WeightsError(f"{path.name}: cannot read ({exc})") from None
    if not head:
        raise WeightsError(f"{path.name}: the file is empty (not a PyTorch weights file)")
    if not head.startswith(b"PK\x03\x04") and not head[:1] == b"\x80":  # a zip (torch.save) or a legacy pickle
        raise WeightsError(f"{path.name}: not a PyTorch weights file (it starts with {head!r}, neither a torch.save "
                           f"archive nor a pickle)")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's own text ("This file can still be loaded, to do so you have two options ...") is not repeated:
        # cut to one line it drops the options and reads as advice to load an untrusted pickle; the class it met is
        # what tells the user what the file is
        import re

        found = re.search(r"GLOBAL\s+([A-Za-z_][\w.]*)", str(exc))
        what = f" (it holds a {found.group(1)} object)" if found else ""
        raise WeightsError(
            f"{path.name}: refused: the file contains Python objects or code that a weights file must not hold"
            f"{what}; it was not executed. Only plain tensors are accepted; convert it to .safetensors."
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError, TypeError, KeyError, IndexError) as exc:
        raise WeightsError(f"{path.name}: not a readable PyTorch weights file ({type(exc).__name__}: "
                           f"{str(exc)[:300]})") from None
    return _unwrap(obj, path)


# --- fitting into a model ----------------------------------------------------------------------------------
def _fmt(keys: list[str], n: int = 8) -> str:
    shown = ", ".join(keys[:n])
    return shown + (f" ... (+{len(keys) - n} more)" if len(keys) > n else "")


def check_fit(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> tuple[list[str], list[str], list[str]]:
    """(missing, unexpected, wrong shape) keys of ``state`` against ``model``."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
             for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    return missing, unexpected, wrong


def load_into(model: torch.nn.Module, source: str | Path | dict[str, torch.Tensor], adapt_head: bool = True,
              name: str | None = None) -> torch.nn.Module:
    """Load weights strictly into ``model``; ``WeightsError`` lists what does not fit."""
    state = source if isinstance(source, dict) else read_state_dict(source)
    label = name or (Path(source).name if not isinstance(source, dict) else "checkpoint")
    cls_name = getattr(model, "classifier_name", None)
    if adapt_head and cls_name and hasattr(model, "reset_classifier"):
        wkey, bkey = f"{cls_name}.weight", f"{cls_name}.bias"
        own = model.state_dict()
        w = state.get(wkey)
        if w is not None and w.dim() == 2 and w.shape[1] == getattr(model, "num_features", -1):
            if wkey not in own or tuple(own[wkey].shape) != tuple(w.shape):
                model.reset_classifier(int(w.shape[0]))
        elif w is None and bkey not in state and wkey in own:
            model.reset_classifier(0)  # a headless checkpoint (features only)
    own = model.state_dict()
    # old checkpoints (PyTorch < 0.4.1) lack batch-norm step counters: keep the model's
    state = dict(state)
    for k in own:
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = own[k]
    missing, unexpected, wrong = check_fit(model, state)
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing keys: {_fmt(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_fmt(unexpected)}")
        if wrong:
            parts.append(f"wrong shape: {_fmt(wrong, 5)}")
        raise WeightsError(f"{label} does not fit {type(model).__name__}: " + "; ".join(parts))
    own = model.state_dict()
    with torch.no_grad():
        model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)
    return model


# --- writing -----------------------------------------------------------------------------------------------
def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """(``X.safetensors``, ``X.json``) for ``X``, ``X.safetensors`` or ``X.json``."""
    p = Path(path).expanduser()
    if p.suffix.lower() in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def save_checkpoint(model: torch.nn.Module, path: str | Path, spec: Any = None, *, dataset: str | None = None,
                    seed: int | None = None, accuracy: float | None = None, options: dict | None = None,
                    input: Any = None, extra: dict | None = None) -> tuple[Path, Path]:
    """Write ``PATH.safetensors`` and the sidecar ``PATH.json``; returns both paths."""
    from safetensors.torch import save

    st_path, js_path = checkpoint_paths(path)
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    atomic_write(st_path, save(state, metadata={"format": "pt"}))
    arch = spec.to_dict() if hasattr(spec, "to_dict") else (spec or {"backbone": type(model).__name__})
    if isinstance(arch, dict):
        arch = {**arch, "weights": None}  # the sidecar describes this file; it is not a pointer to another
    side = {
        "architecture": arch,
        "options": options or {},
        "dataset": dataset,
        "seed": seed,
        "accuracy": accuracy,
        "num_classes": int(getattr(model, "num_classes", 0) or 0),
        "input": input.to_dict() if hasattr(input, "to_dict") else input,
        "format": "filter-explorer checkpoint 1",
    }
    if extra:
        side.update(extra)
    atomic_write(js_path, jsonout.dumps(side, indent=2, default=str))
    return st_path, js_path


def sidecar_path(path: str | Path) -> Path:
    return Path(path).expanduser().with_suffix(".json")


def stopped_at(side: dict | None) -> tuple[int, int] | None:
    """(steps, total) when a sidecar's training run stopped before its schedule ended (``train --max-steps``: its
    ``steps`` below its ``schedule.total_steps``); None for a finished run or a sidecar without those fields."""
    side = side or {}
    steps = side.get("steps")
    sched = side.get("schedule") if isinstance(side.get("schedule"), dict) else {}
    total = sched.get("total_steps")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (steps, total)) or steps >= total:
        return None
    return steps, total


def read_sidecar(path: str | Path) -> dict | None:
    """The JSON sidecar beside a checkpoint (``X.json`` for ``X.safetensors``), or None when there is none.

    A sidecar that is there but empty, truncated, not JSON or not a JSON object is a ``WeightsError`` naming the
    file (it is not reported as missing)."""
    cand = sidecar_path(path)
    if not cand.is_file():
        return None
    try:
        text = cand.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{cand.name}: the checkpoint's sidecar cannot be read ({exc})") from None
    if not text.strip():
        raise WeightsError(f"{cand.name}: the checkpoint's sidecar is empty (interrupted while saving?)")
    try:
        side = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise WeightsError(f"{cand.name}: the checkpoint's sidecar is not valid JSON (truncated?): {exc}") from None
    if not isinstance(side, dict):
        raise WeightsError(f"{cand.name}: the checkpoint's sidecar must be a JSON object, got {type(side).__name__}")
    for key, kinds in SIDECAR_TYPES.items():
        if side.get(key) is not None and not isinstance(side[key], kinds):
            raise WeightsError(f"{cand.name}: {key!r} must be {SIDECAR_TYPE_NAMES[key]}, got "
                               f"{type(side[key]).__name__} ({str(side[key])[:60]})")
    return side


def spec_sidecar(spec: Any) -> dict | None:
    """The JSON sidecar of ``spec``'s weights (``read_sidecar``), or None. A TorchScript or ONNX model file
    (``app.models.external``) is its own weights, and an ``X.json`` beside ``X.pt`` / ``X.onnx`` is often something
    else (class names, a training config): it is read only when it has the shape of the app's own sidecar (an
    ``architecture`` object, as ``save_checkpoint`` writes), and otherwise ignored."""
    weights = getattr(spec, "weights", None)
    if not weights:
        return None
    opts = dict(getattr(spec, "options", ()) or ())
    if getattr(spec, "backbone", None) == "external" and opts.get("format") in ("torchscript", "onnx"):
        try:
            side = read_sidecar(weights)
        except WeightsError:
            return None
        return side if side is not None and isinstance(side.get("architecture"), dict) else None
    return read_sidecar(weights)


SIDECAR_TYPES = {"architecture": dict, "options": dict, "dataset": str, "input": dict, "num_classes": int,
                 "epoch": int, "accuracy": (int, float), "val_accuracy": (int, float), "test_accuracy": (int, float)}
SIDECAR_TYPE_NAMES = {"architecture": "an object", "options": "an object", "dataset": "a string",
                      "input": "an object", "num_classes": "a whole number", "epoch": "a whole number",
                      "accuracy": "a number", "val_accuracy": "a number", "test_accuracy": "a number"}


# --- known weights and downloads -------------------------------------------------------------------------
@dataclass(frozen=True)
class KnownWeights:
    name: str
    backbone: str
    filename: str
    sha256: str
    url: str | None
    dataset: str
    label: str
    input_channels: int
    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    options: tuple[tuple[str, Any], ...] = ()
    note: str = ""


IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
# akamaster/pytorch_resnet_cifar10's official pretrained file names (pretrained_models/resnetD-TAG.th)
AKAMASTER = {32: "d509ac18", 44: "014dd654", 56: "4bfd9763", 110: "1d1ed7c2"}
KNOWN: dict[str, KnownWeights] = {
    "resnet20-cifar10": KnownWeights(
        "resnet20-cifar10", "resnet20", "resnet20_cifar10-12fca82f.th",
        "12fca82f0bebc4135bf1f32f6e3710e61d5108578464b84fd6d7f5c1b04036c8",
        "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/resnet20-12fca82f.th",
        "cifar10", "resnet20 (trained, CIFAR-10)", 3, 32, *IMAGENET, (("num_classes", 10),),
        "akamaster/pytorch_resnet_cifar10 (BSD-2-Clause); 91.7% on CIFAR-10 test",
    ),
    **{f"resnet{d}-cifar10": KnownWeights(
        f"resnet{d}-cifar10", f"resnet{d}", f"resnet{d}-{tag}.th", "", None, "cifar10",
        f"resnet{d} (trained, CIFAR-10)", 3, 32, *IMAGENET, (("num_classes", 10),),
        "akamaster/pytorch_resnet_cifar10 (BSD-2-Clause): the official file, recognised by its name (place it in "
        "the weights folder; no download address is stored without a checksum)",
    ) for d, tag in AKAMASTER.items()},
    "lenet5-mnist": KnownWeights(
        "lenet5-mnist", "lenet5", "lenet5_mnist.pt",
        "d5d98d05c84b8cf305ebf37ca682a9852c41831230a3667e0e39cfeb7c88f4e2", None,
        "mnist", "lenet5 (trained, MNIST)", 1, 32, (0.1307,), (0.3081,), (("num_classes", 10),),
        "khushbujpatel/lenet_mnist (MIT); 99.0% on MNIST test (resized 28->32)",
    ),
}


def weights_dir() -> Path:
    p = paths.user_files() / "weights"
    p.mkdir(parents=True, exist_ok=True)
    return p


def find_known(name: str) -> Path | None:
    """Where the known weights ``name`` are on this machine (``../shared/weights`` or the user's folder)."""
    kw = KNOWN[name]
    cands = []
    shared = paths.shared_dir()
    if shared is not None:
        cands.append(shared / "weights" / kw.filename)
    cands.append(paths.user_files() / "weights" / kw.filename)
    for c in cands:
        if c.is_file():
            return c
    return None


def known_for_path(path: str | Path | None) -> KnownWeights | None:
    """The known weights whose file name ``path`` has, if any."""
    if not path:
        return None
    name = Path(path).name
    for kw in KNOWN.values():
        if kw.filename == name or (kw.url and name == kw.url.rsplit("/", 1)[-1]):
            return kw
    return None


def _fetch(url: str, dest: Path, sha256: str | None, cancel: CancelToken | None):
    from app.data.download import fetch

    return fetch(url, dest, sha256=sha256, cancel=cancel)


def download(name: str, cancel: CancelToken | None = None, url: str | None = None,
             dest_dir: Path | None = None) -> Generator[Progress, None, Path]:
    """Download the known weights ``name`` into ``paths.user_files()/weights`` (progress, cancel, sha256).

    ``url`` overrides the official address (tests serve a fixture from 127.0.0.1)."""
    if name not in KNOWN:
        raise WeightsError(f"unknown weights {name!r}; known: {', '.join(KNOWN)}")
    kw = KNOWN[name]
    src = url or kw.url
    if not src:
        raise WeightsError(f"{name}: no download address is known (the file ships with ../shared/weights only)")
    dest = (dest_dir or weights_dir()) / kw.filename
    try:
        result = yield from _fetch(src, dest, kw.sha256, cancel)
    except WeightsError:
        raise
    except Exception as exc:
        from app.data.core import DatasetError
        from app.tasks import Cancelled

        if isinstance(exc, Cancelled):
            raise
        if isinstance(exc, DatasetError):
            raise WeightsError(str(exc)) from None
        raise
    return Path(result)
