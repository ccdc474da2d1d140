"""``lenet5``: LeNet-5 with the key names of the shared trained checkpoint (``convnet.c1`` ... ``fc.f7``).

convnet: c1 conv 1->6 5x5 + ReLU, s2 2x2 max-pool, c3 conv 6->16 5x5 + ReLU, s4 2x2 max-pool, c5 conv 16->120 5x5
+ ReLU (1x1 map for 32x32 inputs); fc: f6 linear 120->84 + ReLU, f7 linear 84->classes (the classifier).
Input 1x32x32 (MNIST resized 28->32, normalised with MNIST mean/std).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from app.models.base import Backbone, LayerInfo
from app.models.registry import register_backbone


class LeNet5(Backbone):
    classifier_name = "fc.f7"
    fixed_input_size = True  # c5 needs at least 32x32; input_spec asks for exactly 32

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 32) -> None:
        super().__init__()
        self.default_input = (int(in_channels), int(input_size), int(input_size))
        self.convnet = nn.Sequential(OrderedDict([
            ("c1", nn.Conv2d(in_channels, 6, 5)), ("relu1", nn.ReLU()), ("s2", nn.MaxPool2d(2, 2)),
            ("c3", nn.Conv2d(6, 16, 5)), ("relu3", nn.ReLU()), ("s4", nn.MaxPool2d(2, 2)),
            ("c5", nn.Conv2d(16, 120, 5)), ("relu5", nn.ReLU()),
        ]))
        self.fc = nn.Sequential(OrderedDict([
            ("f6", nn.Linear(120, 84)), ("relu6", nn.ReLU()), ("f7", nn.Linear(84, 10)),
        ]))
        c = self.convnet
        # a plain list (not registered): the wrappers hold the same modules, so state_dict keys stay as above
        self._stages = [
            (LayerInfo("c1", 6, 1, "conv"), nn.Sequential(c.c1, c.relu1)),
            (LayerInfo("s2", 6, 2, "pool"), c.s2),
            (LayerInfo("c3", 16, 2, "conv"), nn.Sequential(c.c3, c.relu3)),
            (LayerInfo("s4", 16, 4, "pool"), c.s4),
            (LayerInfo("c5", 120, 4, "conv"), nn.Sequential(c.c5, c.relu5)),
        ]
        self.feature_info = [info for info, _ in self._stages]
        self.num_features = 84
        self.reset_classifier(num_classes)

    def stages(self):
        return self._stages

    def conv_layers(self) -> dict[str, nn.Conv2d]:
        return {"c1": self.convnet.c1, "c3": self.convnet.c3, "c5": self.convnet.c5}

    def forward_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = feats.mean(dim=(2, 3)) if feats.dim() == 4 else feats  # c5 is 1x1 for 32x32 inputs
        x = self.fc.relu6(self.fc.f6(x))
        return x if pre_logits else self.fc.f7(x)


@register_backbone("lenet5", "LeNet-5 (1x32x32), keys of the shared MNIST checkpoint (convnet.c1 ... fc.f7)")
def lenet5(**kw) -> LeNet5:
    return LeNet5(**kw)
