"""A model as the user described it: a frozen, hashable spec every workspace can rebuild from.

``ModelSpec`` names a backbone, its options, an initialisation, optional weights and what is frozen.
``build(spec)`` turns it into a ``Backbone`` (in ``app.models.build``). Specs cross threads and are stored in
history records and JSON sidecars (``to_dict`` / ``from_dict``), kernel banks with their values (rebuildable).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ModelSpec:
    backbone: str
    options: tuple[tuple[str, Any], ...] = ()  # sorted (key, value) pairs: kwargs of the backbone's constructor
    init: str = "default"  # default, kaiming, gaussian, uniform, signed-constant, orthogonal, bank:NAME, checkpoint
    weights: str | None = None  # path of a checkpoint (.pt/.pth/.th/.safetensors) or None
    freeze: tuple[str, ...] = ()  # parameter-name patterns (fnmatch) or group names
    seed: int = 0
    label: str = ""  # what the user sees ("resnet20 (trained, CIFAR-10)")
    weight_state: str = "random"  # random, hand-designed, trained: how the comparison charts group runs
    banks: tuple[tuple[str, Any], ...] = ()  # (layer name, KernelBank) for hand-designed layers
    input: Any = None  # a declared app.models.inputs.InputSpec (None: from the weights, else the dataset)

    @staticmethod
    def make(backbone: str, label: str = "", **kw: Any) -> "ModelSpec":
        options = kw.pop("options", {}) or {}
        if "weight_state" not in kw and not kw.get("weights"):
            from app.models.catalog import default_weight_state

            kw["weight_state"] = default_weight_state(backbone)  # designed filters (scattering) are not "random"
        return ModelSpec(backbone=backbone, options=tuple(sorted(options.items())), label=label or backbone, **kw)

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.options)

    def to_dict(self, bank_weights: bool = True) -> dict[str, Any]:
        """A JSON-safe dict; banks as {layer, name, shape, sha256, weights (nested lists, float32 exact), frozen,
        meta} so that ``from_dict`` rebuilds the very same weights (``bank_weights=False``: without the values)."""
        # field by field: asdict() would deep-copy every bank's arrays
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("options", "freeze", "banks", "input")}
        d["input"] = self.input.to_dict() if hasattr(self.input, "to_dict") else self.input
        d["options"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.options}
        d["freeze"] = list(self.freeze)
        d["banks"] = [bank_dict(layer, bank, bank_weights) for layer, bank in self.banks]
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "ModelSpec":
        """From ``to_dict()`` (a history record, a sidecar's architecture); ``ModelError`` naming the field when a
        value has the wrong type."""
        _check_types(d)
        d = dict(d)
        d["options"] = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in d.get("options", {}).items()))
        d["freeze"] = tuple(d.get("freeze", ()))
        # banks stored with their weights are rebuilt; older records kept only bank names (nothing to rebuild)
        d["banks"] = tuple(bank_from_dict(b) for b in d.get("banks") or () if isinstance(b, dict) and "weights" in b)
        if isinstance(d.get("input"), dict):
            from app.models.inputs import InputSpec

            d["input"] = InputSpec.from_dict(d["input"])
        return ModelSpec(**{k: v for k, v in d.items() if k in _FIELDS})

    def key(self) -> str:
        """A stable text key (for caches): everything that changes the weights (banks by their digests)."""
        return json.dumps(self.to_dict(bank_weights=False), sort_keys=True, default=str)


_TYPES = {"backbone": (str,), "options": (dict,), "init": (str,), "weights": (str, type(None)), "freeze": (list, tuple),
          "seed": (int,), "label": (str,), "weight_state": (str,), "banks": (list, tuple, type(None)),
          "input": (dict, type(None))}


def _check_types(d: Any) -> None:
    from app.models.base import ModelError

    if not isinstance(d, dict):
        raise ModelError(f"a model spec must be an object, got {type(d).__name__}")
    if "backbone" not in d:
        raise ModelError("a model spec needs a 'backbone'")
    for key, kinds in _TYPES.items():
        v = d.get(key)
        if key in d and (not isinstance(v, kinds) or isinstance(v, bool)) and not (key == "input" and
                                                                                    hasattr(v, "to_dict")):
            raise ModelError(f"model spec: {key!r} has the wrong type ({type(v).__name__}: {str(v)[:40]})")
    if not all(isinstance(k, str) for k in d.get("options", {})):
        raise ModelError("model spec: option names must be text")
    if not all(isinstance(e, str) for e in d.get("freeze", ())):
        raise ModelError("model spec: freeze entries must be text")


def bank_digest(weights: Any) -> str:
    return hashlib.sha256(np.ascontiguousarray(weights, dtype=np.float32).tobytes()).hexdigest()


def bank_dict(layer: str, bank: Any, with_weights: bool = True) -> dict[str, Any]:
    w = np.asarray(bank.weights, dtype=np.float32)
    d = {"layer": layer, "name": str(getattr(bank, "name", "")), "shape": [int(v) for v in w.shape],
         "sha256": bank_digest(w), "frozen": [bool(v) for v in np.asarray(bank.frozen).reshape(-1)],
         "meta": json.loads(json.dumps(getattr(bank, "meta", {}) or {}, default=str))}
    if with_weights:
        d["weights"] = w.tolist()  # float32 -> float64 -> JSON -> float32 is exact
    return d


def bank_from_dict(d: dict[str, Any]) -> tuple[str, Any]:
    """(layer, KernelBank) from ``bank_dict``; a ``ModelError`` when the values do not match their digest."""
    from app.kernels.bank import KernelBank
    from app.models.base import ModelError

    try:
        w = np.asarray(d["weights"], dtype=np.float32)
        layer = str(d["layer"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"a stored kernel bank is malformed ({type(exc).__name__}: {exc})") from None
    if "shape" in d and list(w.shape) != list(d["shape"]):
        raise ModelError(f"stored bank {d.get('name', '')!r} for {layer}: weights of shape {tuple(w.shape)}, "
                         f"declared {tuple(d['shape'])}")
    if d.get("sha256") and bank_digest(w) != d["sha256"]:
        raise ModelError(f"stored bank {d.get('name', '')!r} for {layer}: the weights do not match their sha256 "
                         f"(the record was altered or damaged)")
    try:
        bank = KernelBank(w, d.get("frozen"), name=str(d.get("name", "bank")), meta=dict(d.get("meta") or {}))
    except ValueError as exc:
        raise ModelError(f"stored bank for {layer}: {exc}") from None
    return layer, bank


_FIELDS = {f.name for f in fields(ModelSpec)}
