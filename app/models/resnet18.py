"""``resnet18`` with torchvision's module names (``conv1``, ``bn1``, ``layer1.0.conv1``, ``downsample.0/1``, ``fc``),
so a torchvision ImageNet state_dict loads as is (no torchvision dependency).

``stem="imagenet"`` (default): 7x7 stride-2 conv + 3x3 stride-2 max-pool, for ~224 px inputs.
``stem="cifar"``: 3x3 stride-1 conv and no max-pool, for 32 px inputs (keys unchanged except conv1's shape).
"""

from __future__ import annotations

import torch
from torch import nn

from app.models.base import Backbone, LayerInfo
from app.models.registry import register_backbone

STEMS = ("imagenet", "cifar")
OPTION_CHOICES = {"stem": STEMS}  # shown as a list in the Models workspace
OPTION_TIPS = {"stem": "imagenet: 7x7 stride-2 convolution and 3x3 max-pool, for ~224 px inputs; cifar: 3x3 "
                       "stride-1 convolution and no max-pool, for 32 px inputs"}


class BasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(Backbone):
    classifier_name = "fc"

    def __init__(self, in_channels: int = 3, num_classes: int = 1000, stem: str = "imagenet",
                 input_size: int | None = None) -> None:
        super().__init__()
        if stem not in STEMS:
            raise ValueError(f"resnet18: stem must be 'imagenet' or 'cifar', got {stem!r}")
        size = input_size or (224 if stem == "imagenet" else 32)
        self.default_input = (int(in_channels), int(size), int(size))
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            s0 = 2
        else:
            self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
            s0 = 1
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        infos = [LayerInfo("stem", 64, s0, "conv")]
        total = s0 * (2 if stem == "imagenet" else 1)
        inplanes = 64
        for li, (planes, stride) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)]):
            blocks = []
            for bi in range(2):
                s = stride if bi == 0 else 1
                blocks.append(BasicBlock(inplanes, planes, s))
                total *= s
                infos.append(LayerInfo(f"layer{li + 1}.{bi}", planes, total, "block"))
                inplanes = planes
            setattr(self, f"layer{li + 1}", nn.Sequential(*blocks))
        self.feature_info = infos
        self.num_features = 512
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        self.fc = nn.Identity()
        self.reset_classifier(num_classes)

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn1(self.conv1(x)))

    def stages(self):
        first = self.feature_info[0]
        blocks = [blk for name in ("layer1", "layer2", "layer3", "layer4") for blk in getattr(self, name)]
        # the max-pool belongs to the first block's stage so that the stem map keeps its full resolution
        mods = [self._stem, lambda x: blocks[0](self.maxpool(x))] + blocks[1:]
        return list(zip([first] + self.feature_info[1:], mods))


@register_backbone("resnet18", "ResNet-18 with torchvision's key names (loads torchvision ImageNet checkpoints); "
                      "stem='cifar' for 32 px inputs")
def resnet18(**kw) -> ResNet18:
    return ResNet18(**kw)
