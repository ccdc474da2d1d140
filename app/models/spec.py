"""A model as the user described it: a frozen, hashable spec every workspace can rebuild from.

``ModelSpec`` names a backbone, its options, an initialisation, optional weights and what is frozen.
``build(spec)`` turns it into a ``Backbone`` (in ``app.models.build``). Specs cross threads and are stored in
history records and JSON sidecars (``to_dict`` / ``from_dict``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any


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
        return ModelSpec(backbone=backbone, options=tuple(sorted(options.items())), label=label or backbone, **kw)

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.options)

    def to_dict(self) -> dict[str, Any]:
        # field by field: asdict() would deep-copy every bank's arrays only to drop them
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("options", "freeze", "banks", "input")}
        d["input"] = self.input.to_dict() if hasattr(self.input, "to_dict") else self.input
        d["options"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.options}
        d["freeze"] = list(self.freeze)
        d["banks"] = [name for name, _ in self.banks]
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "ModelSpec":
        d = dict(d)
        d["options"] = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in d.get("options", {}).items()))
        d["freeze"] = tuple(d.get("freeze", ()))
        d.pop("banks", None)
        if isinstance(d.get("input"), dict):
            from app.models.inputs import InputSpec

            d["input"] = InputSpec.from_dict(d["input"])
        return ModelSpec(**{k: v for k, v in d.items() if k in _FIELDS})

    def key(self) -> str:
        """A stable text key (for caches): everything that changes the weights."""
        return json.dumps(self.to_dict(), sort_keys=True, default=str)


_FIELDS = {f.name for f in fields(ModelSpec)}
