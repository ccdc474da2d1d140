"""Receptive fields against hand-derived theory: a unit's box is exactly the input pixels that can change it.

Boxes are ``(top, left, bottom, right)`` in input pixels, end-exclusive (``image[top:bottom, left:right]``), clipped
to the image. The theory, per axis, for map position p: a k x k convolution at stride s with padding q sees input
[s p - q, s p - q + k); a 2 x 2 max-pool over a map whose position p sees [a p + b, a p + b + n) sees
[2 a p + b, 2 a p + b + a + n). The old measurement (a gradient at a blank input, box centred on h / mh steps) gave
the whole image behind BatchNorm/ReLU and sign, 3x3 behind conv3 + maxpool2 and shifted boxes for valid convs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from app.analysis import patches
from app.models.base import Backbone, LayerInfo
from app.models.build import build
from app.models.inputs import InputSpec
from app.models.spec import ModelSpec
from app.tasks import run_to_end

HW = (32, 32)


def model(backbone: str, **options):
    return build(ModelSpec.make(backbone, options=options), device="cpu")


def ispec(channels: int) -> InputSpec:
    return InputSpec(channels, None, (0.0,) * channels, (1.0,) * channels)


def boxes(m, layer: int, channels: int, positions, hw=HW):
    rf = patches.receptive_field(m, layer, ispec(channels), hw)
    return rf, [patches.box_for(rf, y, x, hw) for y, x in positions]


def theory(p: int, stride: int, start: int, size: int, n: int) -> tuple[int, int]:
    lo = stride * p + start
    return max(0, lo), min(n, lo + size)


def box(y: int, x: int, stride: int, start: int, size: int, hw=HW) -> tuple[int, int, int, int]:
    (t, b), (left, r) = theory(y, stride, start, size, hw[0]), theory(x, stride, start, size, hw[1])
    return t, left, b, r


def test_a_padded_3x3_conv_sees_3x3_pixels_around_its_position():
    m = model("simple", in_channels=1, widths=[4], kernel_size=3)  # one layer: conv 3x3, padding 1, relu
    rf, got = boxes(m, 0, 1, [(3, 5), (16, 16), (0, 0), (31, 31), (0, 31)])
    assert rf.size == (3, 3)
    assert got == [(2, 4, 5, 7), (15, 15, 18, 18), (0, 0, 2, 2), (30, 30, 32, 32), (0, 30, 2, 32)]


def test_conv3_then_maxpool2_sees_4x4_pixels():
    """simple layer 0 = conv 3x3 (padding 1) + relu + 2x2 max-pool: map position p sees [2p - 1, 2p + 3). A gradient
    at one input goes to one element of each pool window (3x3 before)."""
    m = model("simple", widths=[8, 8], kernel_size=3, pool="max")
    rf, got = boxes(m, 0, 3, [(3, 5), (8, 8), (0, 0), (15, 15)])
    assert rf.size == (4, 4) and rf.stride == (2.0, 2.0)
    assert got == [(5, 9, 9, 13), (15, 15, 19, 19), (0, 0, 3, 3), (29, 29, 32, 32)]
    assert got == [box(y, x, 2, -1, 4) for y, x in [(3, 5), (8, 8), (0, 0), (15, 15)]]


def test_conv3_maxpool2_with_batchnorm_is_not_the_whole_image():
    m = model("simple", widths=[8, 8], kernel_size=3, pool="max", batchnorm=True)
    rf, got = boxes(m, 0, 3, [(3, 5)])
    assert rf.size == (4, 4)
    assert got == [(5, 9, 9, 13)]


def test_a_valid_5x5_conv_starts_at_its_position():
    """lenet5 c1: 5x5, no padding: map position p sees [p, p + 5) (the old centring on 32 / 28 steps gave (1, 4, 6, 9)
    at (3, 5)); s2 (2x2 max-pool of c1) sees [2p, 2p + 6)."""
    m = model("lenet5")
    positions = [(3, 5), (0, 0), (27, 27), (13, 20)]
    rf, got = boxes(m, 0, 1, positions)
    assert rf.size == (5, 5) and rf.stride == (1.0, 1.0)
    assert got[0] == (3, 5, 8, 10)
    assert got == [box(y, x, 1, 0, 5) for y, x in positions]
    assert got[2] == (27, 27, 32, 32)  # the last position ends at the image's edge, not past it
    rf2, got2 = boxes(m, 1, 1, [(3, 5), (0, 0), (13, 13)])
    assert rf2.size == (6, 6)
    assert got2 == [(6, 10, 12, 16), (0, 0, 6, 6), (26, 26, 32, 32)]
    # c3 (5x5 valid over s2): [2p, 2p + 14); s4: [4p, 4p + 16); c5 sees the whole 32x32 image
    _, got3 = boxes(m, 2, 1, [(3, 5), (9, 9)])
    assert got3 == [(6, 10, 20, 24), (18, 18, 32, 32)]
    _, got4 = boxes(m, 3, 1, [(2, 1), (4, 4)])
    assert got4 == [(8, 4, 24, 20), (16, 16, 32, 32)]
    _, got5 = boxes(m, 4, 1, [(0, 0)])
    assert got5 == [(0, 0, 32, 32)]


@pytest.mark.parametrize("k", [3, 5])
def test_a_stride_2_padded_conv(k):
    """simple, conv k x k at stride 2 with padding k // 2, no pooling: p sees [2p - k // 2, 2p - k // 2 + k)."""
    m = model("simple", widths=[4, 4], kernel_size=k, stride=2, pool="none")
    positions = [(3, 5), (0, 0), (15, 15), (7, 1)]
    rf, got = boxes(m, 0, 3, positions)
    assert rf.size == (k, k) and rf.stride == (2.0, 2.0)
    assert got == [box(y, x, 2, -(k // 2), k) for y, x in positions]
    if k == 3:
        assert got[0] == (5, 9, 8, 12)
    # layer 1: another k x k at stride 2 over layer 0: p sees [4p - 3 (k // 2), 4p - 3 (k // 2) + 3k - 2)
    _, got1 = boxes(m, 1, 3, [(3, 5), (0, 0), (7, 7)])
    assert got1 == [box(y, x, 4, -3 * (k // 2), 3 * k - 2) for y, x in [(3, 5), (0, 0), (7, 7)]]


def test_resnet20_stem_with_batchnorm_is_3x3():
    """conv 3x3 + BatchNorm (eval: running statistics) + ReLU: at a blank input the fresh BatchNorm gives 0 and
    the ReLU no gradient (the old answer: the whole image)."""
    m = model("resnet20")
    rf, got = boxes(m, 0, 3, [(3, 5), (0, 0), (31, 31), (31, 0)])
    assert rf.size == (3, 3)
    assert got == [(2, 4, 5, 7), (0, 0, 2, 2), (30, 30, 32, 32), (30, 0, 32, 2)]
    # layer1.0 and layer1.1: two more 3x3 convs each (the identity shortcut adds nothing wider)
    _, got2 = boxes(m, 2, 3, [(16, 16), (3, 5)])
    assert got2 == [(11, 11, 22, 22), (0, 0, 9, 11)]
    # layer2.0: conv 3x3 stride 2 (then 3x3) over layer1.2 (RF 15, stride 1): p sees [2p - 10, 2p + 11)
    _, got4 = boxes(m, 4, 3, [(8, 8), (0, 0)])
    assert got4 == [(6, 6, 27, 27), (0, 0, 11, 11)]


def test_resnet20_stem_with_trained_like_batchnorm_statistics():
    m = model("resnet20")
    with torch.no_grad():
        m.bn1.running_mean.uniform_(-2, 2)
        m.bn1.running_var.uniform_(0.5, 2)
        m.bn1.bias.uniform_(-1, 1)
    _, got = boxes(m, 0, 3, [(3, 5)])
    assert got == [(2, 4, 5, 7)]


def test_sign_activations_have_a_receptive_field_and_its_size_agrees_with_the_box():
    """sign has a zero gradient everywhere: the measurement passes it on as the identity would."""
    m = model("simple", widths=[8, 8], kernel_size=3, pool="max", activation="sign")
    rf, got = boxes(m, 0, 3, [(3, 5), (0, 0)])
    assert rf.size == (4, 4)
    assert got == [(5, 9, 9, 13), (0, 0, 3, 3)]
    assert (got[0][2] - got[0][0], got[0][3] - got[0][1]) == rf.size
    # layer 1 (conv 3x3 over layer 0, no pool after the last layer): p sees [2p - 3, 2p + 5)
    rf1, got1 = boxes(m, 1, 3, [(3, 5), (0, 0), (15, 15)])
    assert rf1.size == (8, 8)
    assert got1 == [box(y, x, 2, -3, 8) for y, x in [(3, 5), (0, 0), (15, 15)]]


def test_rdsn_sign_network():
    """rdsn: 5x5 'same' stem + sign, then avg-pool 2 -> depthwise 3x3 + sign -> depthwise 3x3 + sign."""
    m = model("rdsn", k=8)
    _, got = boxes(m, 0, 3, [(3, 5), (0, 0)])
    assert got == [(1, 3, 6, 8), (0, 0, 3, 3)]
    # block 1: p sees [2p - 4, 2p + 6) of the stem map (pool 2, two 3x3), so [2p - 6, 2p + 8) of the input
    _, got1 = boxes(m, 1, 3, [(8, 8), (0, 0)])
    assert got1 == [(10, 10, 24, 24), (0, 0, 8, 8)]


def test_boxes_are_clipped_at_every_border():
    m = model("simple", in_channels=1, widths=[4], kernel_size=5)
    rf, got = boxes(m, 0, 1, [(0, 0), (0, 31), (31, 0), (31, 31), (1, 30), (16, 0)])
    assert rf.size == (5, 5)
    assert got == [(0, 0, 3, 3), (0, 29, 3, 32), (29, 0, 32, 3), (29, 29, 32, 32), (0, 28, 4, 32), (14, 0, 19, 3)]
    # a receptive field larger than the image: every box is the image
    deep = model("resnet20")
    _, got = boxes(deep, 9, 3, [(0, 0), (4, 4), (7, 7)])
    assert got == [(0, 0, 32, 32)] * 3


def test_a_non_square_input():
    m = model("simple", in_channels=1, widths=[4, 4], kernel_size=3, pool="max")
    hw = (20, 28)
    _, got = boxes(m, 0, 1, [(0, 0), (9, 13), (4, 7)], hw)
    assert got == [(0, 0, 3, 3), (17, 25, 20, 28), (7, 13, 11, 17)]


class TwoHalves(Backbone):
    """No translation: the top half of the map comes from a 3x3 conv, the bottom half from a 5x5 conv."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Conv2d(1, 3, 3, padding=1)
        self.b = nn.Conv2d(1, 3, 5, padding=2)
        self.feature_info = [LayerInfo("halves", 3, 1, "conv")]
        self.num_features = 3

    def _halves(self, x):
        h = x.shape[-2] // 2
        return torch.cat([torch.relu(self.a(x))[..., :h, :], torch.relu(self.b(x))[..., h:, :]], dim=-2)

    def stages(self):
        return [(self.feature_info[0], self._halves)]


def test_a_layer_that_is_no_translation_is_measured_at_each_position():
    m = TwoHalves().eval()
    rf = patches.receptive_field(m, 0, ispec(1), HW)
    for y in (0, 5, 15, 16, 17, 31):
        for x in (0, 9, 31):
            k = 3 if y < 16 else 5
            assert patches.box_for(rf, y, x, HW) == box(y, x, 1, -(k // 2), k), (y, x)


def test_a_unit_without_gradient_is_measured_by_perturbation():
    """The patches backbone's 'nearest' encoder is 0/1 (comparisons): no gradient anywhere; its units still see
    their patch (5x5, 'same' padding 2 before, 2 after)."""
    m = model("patches", k=8, patch_size=5, activation="nearest", n_patches=100)
    rf, got = boxes(m, 1, 3, [(3, 5), (0, 0), (31, 31)])
    assert got == [(1, 3, 6, 8), (0, 0, 3, 3), (29, 29, 32, 32)]


def test_the_callers_model_is_left_as_it_was():
    m = model("simple", widths=[4, 4], batchnorm=True)
    m.train()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    patches.receptive_field(m, 1, ispec(3), HW)
    assert m.training and all(mod.training for mod in m.modules())
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())  # BatchNorm statistics untouched
    assert all(p.dtype == torch.float32 and p.grad is None for p in m.parameters())


def test_top_patches_crop_the_exact_box():
    m = model("lenet5")
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 255, (12, 32, 32, 1), dtype=np.uint8)
    found, rf = run_to_end(patches.top_patches(m, imgs, np.zeros(12, int), ispec(1), layer=1, channel=0, k=5))
    assert rf.size == (6, 6)
    for p in found:
        assert p.box == box(p.y, p.x, 2, 0, 6)
        t, left, b, r = p.box
        assert np.array_equal(p.image, imgs[p.index][t:b, left:r])
