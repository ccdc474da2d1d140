"""``simple``: a configurable plain CNN.

Depth = ``len(widths)``; per layer: conv (kernel ``kernel_size``, stride ``stride``) -> optional batch-norm ->
activation (relu, sign, tanh, abs) -> optional 2x2 pooling (``pool``: "max", "avg" or "none"; not after the last
layer). Layers are named ``conv1``, ``conv2``, ... (also the names a Workbench bank goes into). ``feature_info``
reports each layer's output stride (pooling included).
"""

from __future__ import annotations

import torch
from torch import nn

from app.models.base import Backbone, LayerInfo
from app.models.registry import register_backbone


class Sign(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sign(x)


class Abs(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.abs(x)


ACTIVATIONS = {"relu": nn.ReLU, "sign": Sign, "tanh": nn.Tanh, "abs": Abs, "identity": nn.Identity}
POOLS = ("max", "avg", "none")


class ConvBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, batchnorm: bool, activation: str,
                 pool: str) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=not batchnorm)
        self.bn = nn.BatchNorm2d(c_out) if batchnorm else nn.Identity()
        self.act = ACTIVATIONS[activation]()
        self.pool = {"max": nn.MaxPool2d(2), "avg": nn.AvgPool2d(2), "none": nn.Identity()}[pool]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.act(self.bn(self.conv(x))))


def _per_layer(value, n: int, what: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{what}: {len(value)} values given for {n} layers")
        return list(value)
    return [value] * n


class SimpleCNN(Backbone):
    def __init__(
        self,
        in_channels: int = 3,
        widths: tuple[int, ...] = (32, 64, 64),
        kernel_size: int | tuple[int, ...] = 3,
        stride: int | tuple[int, ...] = 1,
        pool: str | bool = "max",
        activation: str = "relu",
        batchnorm: bool = False,
        num_classes: int = 0,
        input_size: int = 32,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if seed is not None:
            torch.manual_seed(seed)
        widths = tuple(int(w) for w in widths)
        if not widths or any(w < 1 for w in widths):
            raise ValueError(f"widths must be positive integers, got {widths}")
        if pool is True:
            pool = "max"
        elif pool is False or pool is None:
            pool = "none"
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")
        n = len(widths)
        ks = [int(k) for k in _per_layer(kernel_size, n, "kernel_size")]
        ss = [int(s) for s in _per_layer(stride, n, "stride")]
        if any(k < 1 for k in ks):  # a 0 kernel failed only at the first forward, in torch ("primitive descriptor")
            raise ValueError(f"kernel_size must be at least 1 on every layer, got {kernel_size}")
        if any(s < 1 for s in ss):
            raise ValueError(f"stride must be at least 1 on every layer, got {stride}")
        self.default_input = (int(in_channels), int(input_size), int(input_size))
        self.blocks = nn.ModuleList()
        infos = []
        c, total = int(in_channels), 1
        for i, w in enumerate(widths):
            p = pool if i < n - 1 else "none"
            self.blocks.append(ConvBlock(c, w, ks[i], ss[i], batchnorm, activation, p))
            total *= ss[i] * (2 if p != "none" else 1)
            infos.append(LayerInfo(f"conv{i + 1}", w, total, "conv"))
            c = w
        self.feature_info = infos
        self.num_features = c
        self.reset_classifier(num_classes)

    def stages(self):
        return list(zip(self.feature_info, self.blocks))

    def conv_layers(self) -> dict[str, nn.Conv2d]:
        return {info.name: blk.conv for info, blk in zip(self.feature_info, self.blocks)}


@register_backbone("simple", "A configurable plain CNN: depth, widths, kernel size, stride or pooling, activation, "
                             "batch-norm")
def simple(**kw) -> SimpleCNN:
    return SimpleCNN(**kw)
