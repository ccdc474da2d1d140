"""``simple``: a configurable plain CNN (a first version; the backbones issue extends it)."""

from __future__ import annotations

import torch
from torch import nn

from app.models.base import Backbone, LayerInfo, register


class Sign(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sign(x)


class Abs(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.abs(x)


ACTIVATIONS = {"relu": nn.ReLU, "sign": Sign, "tanh": nn.Tanh, "abs": Abs}


class SimpleCNN(Backbone):
    def __init__(
        self,
        in_channels: int = 3,
        widths: tuple[int, ...] = (32, 64, 64),
        kernel_size: int = 3,
        stride: int = 1,
        pool: bool = True,
        activation: str = "relu",
        batchnorm: bool = False,
        num_classes: int = 0,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if seed is not None:
            torch.manual_seed(seed)
        self.default_input = (in_channels, 32, 32)
        layers: list[tuple[LayerInfo, nn.Module]] = []
        c, total_stride = in_channels, 1
        mods = nn.ModuleList()
        for i, w in enumerate(widths):
            parts: list[nn.Module] = [nn.Conv2d(c, w, kernel_size, stride=stride, padding=kernel_size // 2, bias=not batchnorm)]
            if batchnorm:
                parts.append(nn.BatchNorm2d(w))
            parts.append(ACTIVATIONS[activation]())
            total_stride *= stride
            if pool and i < len(widths) - 1:
                parts.append(nn.MaxPool2d(2))
            block = nn.Sequential(*parts)
            mods.append(block)
            layers.append((LayerInfo(f"conv{i + 1}", w, total_stride), block))
            if pool and i < len(widths) - 1:
                total_stride *= 2
            c = w
        self.blocks = mods
        self.feature_info = [info for info, _ in layers]
        self.num_features = c
        self.reset_classifier(num_classes)

    def stages(self):
        return list(zip(self.feature_info, self.blocks))


@register("simple", "A configurable plain CNN: depth, widths, kernel size, stride or pooling, activation, batch-norm")
def simple(**kw) -> SimpleCNN:
    return SimpleCNN(**kw)
