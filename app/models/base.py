"""The one interface every backbone follows (in the style of timm's ``resnet.py``); the registry is in
``app.models.registry`` (``create``/``names``/``describe``/``register`` are re-exported here).

A backbone is a ``torch.nn.Module`` with:

- ``feature_info``: list of ``LayerInfo(name, channels, stride, kind)``, one per tappable layer, in forward order;
- ``forward_features(x)``: the map before pooling/head;
- ``forward_intermediates(x, indices)``: list of the maps of the chosen layers (indices into ``feature_info``),
  in one pass, no hooks left behind; ``stop_early=True`` stops after the last asked-for layer;
- ``forward_head(feats, pre_logits=False)``: global pooling (+ the linear head unless ``pre_logits``);
- ``reset_classifier(num_classes)``: a new linear head (0: identity);
- ``num_features``: the width of the pooled features; ``default_input``: (channels, H, W) it was built for.

Extras used by ``app.models.build`` and the Workbench: ``conv_layers()`` (name -> ``nn.Conv2d`` a kernel bank can
go into), ``get_classifier()`` (the linear head, wherever the checkpoint format keeps it: ``head``, ``linear``,
``fc``, ``fc.f7``) and ``classifier_name``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from app.errors import AppError


class ModelError(AppError, ValueError):
    """A model could not be built or loaded; the message says what to change (shown to the user as is)."""


@dataclass(frozen=True)
class LayerInfo:
    name: str
    channels: int
    stride: int
    kind: str = "conv"  # conv, block, pool, ...


class Backbone(nn.Module):
    feature_info: list[LayerInfo]
    num_features: int
    num_classes: int
    default_input: tuple[int, int, int] = (3, 32, 32)

    classifier_name: str = "head"  # dotted module path of the linear head (checkpoint key names)

    def __init__(self) -> None:
        super().__init__()
        if self.classifier_name == "head":
            self.head: nn.Module = nn.Identity()
        self.num_classes = 0

    # the classifier, wherever the checkpoint format keeps it
    def get_classifier(self) -> nn.Module:
        return self.get_submodule(self.classifier_name)

    def _set_classifier(self, mod: nn.Module) -> None:
        parent_name, _, leaf = self.classifier_name.rpartition(".")
        parent = self.get_submodule(parent_name) if parent_name else self
        setattr(parent, leaf, mod)

    def conv_layers(self) -> dict[str, nn.Conv2d]:
        """Convolutions a Workbench bank can be put into, by name (default: their module paths)."""
        return {name: m for name, m in self.named_modules() if isinstance(m, nn.Conv2d)}

    # subclasses implement stages(): an ordered list of (LayerInfo, module) run in sequence
    def stages(self) -> list[tuple[LayerInfo, nn.Module]]:
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for _, mod in self.stages():
            x = mod(x)
        return x

    def forward_intermediates(
        self, x: torch.Tensor, indices: list[int] | int | None = None, stop_early: bool = True
    ) -> list[torch.Tensor]:
        stages = self.stages()
        n = len(stages)
        if indices is None:
            want = list(range(n))
        elif isinstance(indices, int):
            want = [n - 1 - i for i in range(indices)][::-1]  # last N
        else:
            want = [i if i >= 0 else n + i for i in indices]
        for i in want:
            if not 0 <= i < n:
                raise IndexError(f"layer index {i} out of range 0..{n - 1}")
        wanted = set(want)
        last = max(want) if want else -1
        got: dict[int, torch.Tensor] = {}
        for i, (_, mod) in enumerate(stages):
            x = mod(x)
            if i in wanted:
                got[i] = x
            if stop_early and i >= last:
                break
        return [got[i] for i in want]

    def pool(self, feats: torch.Tensor) -> torch.Tensor:
        return feats.mean(dim=(2, 3)) if feats.dim() == 4 else feats

    def forward_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pool(feats)
        return x if pre_logits else self.get_classifier()(x)

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = int(num_classes)
        ref = next((p for p in self.parameters()), None)
        head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        if ref is not None:
            head = head.to(ref.device)
        self._set_classifier(head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# the registry lives in app.models.registry; these names stay importable from here
from app.models.registry import create, describe, names, register_backbone as register  # noqa: E402,F401
