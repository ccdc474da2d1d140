"""CIFAR ResNets of He et al. (2015) with the parameter-free "option A" shortcut, and the LC-block variant.

``resnet20``, ``resnet32``, ``resnet44``, ``resnet56``, ``resnet110`` (every 6n+2 depth): key names of
akamaster/pytorch_resnet_cifar10 (``conv1``, ``bn1``,
``layer1.0.conv1`` ..., ``linear``), so the shared trained checkpoint loads after stripping ``module.``.

``lc-resnet20``: Gavrikov & Keuper's linear-combination blocks: every 3x3 conv becomes a random 3x3 conv with
``c_out * expansion`` filters followed by a learned 1x1 conv back to ``c_out`` (``conv1.conv`` / ``conv1.lc``). Both
arms of the paper: the 3x3 filters frozen (default) or learned (``learn_spatial=true``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from app.models.base import Backbone, LayerInfo
from app.models.registry import register_backbone


class LCConv(nn.Module):
    """A random 3x3 conv with c_out*E filters (frozen unless ``learn_spatial``), then a learned 1x1 conv back to
    c_out."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, expansion: int = 4, learn_spatial: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out * expansion, 3, stride, 1, bias=False)
        self.conv.weight.requires_grad_(bool(learn_spatial))
        self.lc = nn.Conv2d(c_out * expansion, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lc(self.conv(x))


def _conv3x3(c_in: int, c_out: int, stride: int, expansion: int | None, learn_spatial: bool = False) -> nn.Module:
    if expansion:
        return LCConv(c_in, c_out, stride, expansion, learn_spatial)
    return nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)


class ShortcutA(nn.Module):
    """Option A: subsample by 2 and zero-pad planes//4 channels on each side; no parameters."""

    def __init__(self, planes: int) -> None:
        super().__init__()
        self.pad = planes // 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad), "constant", 0.0)


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1, expansion: int | None = None,
                 learn_spatial: bool = False) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_planes, planes, stride, expansion, learn_spatial)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, 1, expansion, learn_spatial)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = ShortcutA(planes) if (stride != 1 or in_planes != planes) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # in place: each ReLU's input and the sum are tensors of their own, read by nothing else (autograd keeps
        # what it needs; as torchvision's ResNets)
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out, inplace=True)


class ResNetCifar(Backbone):
    classifier_name = "linear"

    def __init__(self, depth: int = 20, in_channels: int = 3, num_classes: int = 10, width: int = 16,
                 expansion: int | None = None, input_size: int = 32, learn_spatial: bool = False) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56, 110, ...), got {depth}")
        n = (depth - 2) // 6
        self.default_input = (int(in_channels), int(input_size), int(input_size))
        if expansion and not learn_spatial:
            self.fixed_hint = ("its 3x3 filters are frozen random ones by construction; build it with "
                               "learn_spatial=true to train them")
        self.conv1 = _conv3x3(in_channels, width, 1, expansion, learn_spatial)
        self.bn1 = nn.BatchNorm2d(width)
        infos = [LayerInfo("stem", width, 1, "conv")]
        in_planes, stride_total = width, 1
        for li, (planes, stride) in enumerate([(width, 1), (2 * width, 2), (4 * width, 2)]):
            blocks = []
            for bi in range(n):
                s = stride if bi == 0 else 1
                blocks.append(BasicBlock(in_planes, planes, s, expansion, learn_spatial))
                stride_total *= s
                infos.append(LayerInfo(f"layer{li + 1}.{bi}", planes, stride_total, "block"))
                in_planes = planes
            setattr(self, f"layer{li + 1}", nn.Sequential(*blocks))
        self.feature_info = infos
        self.num_features = in_planes
        self.linear = nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m.weight.requires_grad:
                nn.init.kaiming_normal_(m.weight)
        self.reset_classifier(num_classes)

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn1(self.conv1(x)), inplace=True)

    def stages(self):
        mods = [self._stem] + [blk for name in ("layer1", "layer2", "layer3") for blk in getattr(self, name)]
        return list(zip(self.feature_info, mods))


def _register_depth(depth: int) -> None:
    name = f"resnet{depth}"
    desc = (f"CIFAR ResNet-{depth} (He et al.), option-A shortcuts; loads akamaster's official "
            f"{name}-*.th CIFAR-10 checkpoint")

    def factory(**kw) -> ResNetCifar:
        return ResNetCifar(depth=depth, learn_spatial=False, **kw)

    factory.__name__ = factory.__qualname__ = name.replace("-", "_")
    register_backbone(name, desc)(factory)


# every depth 6n+2 of the paper (akamaster publishes trained CIFAR-10 weights for each)
OPTION_TIPS = {  # the Models workspace's tooltips (app.models.options)
    "expansion": "LC blocks (Gavrikov & Keuper): each 3x3 convolution becomes c x expansion 3x3 filters followed by "
                 "a learned 1x1 convolution back to c; empty: plain 3x3 convolutions",
}
OPTION_EMPTY = {"expansion": "none: plain 3x3 convolutions"}  # what an empty expansion means (not "automatic")
DEPTHS = (20, 32, 44, 56, 110)
for _depth in DEPTHS:
    _register_depth(_depth)


@register_backbone("lc-resnet20", "ResNet-20 with LC blocks (Gavrikov & Keuper): random 3x3 convs (c_out*E filters, "
                                  "frozen, or learned with learn_spatial) + learned 1x1 convs; expansion E selectable")
def lc_resnet20(expansion: int = 4, learn_spatial: bool = False, **kw) -> ResNetCifar:
    if int(expansion) < 1:
        raise ValueError(f"lc-resnet20: expansion must be >= 1, got {expansion}")
    return ResNetCifar(depth=20, expansion=int(expansion), learn_spatial=bool(learn_spatial), **kw)
