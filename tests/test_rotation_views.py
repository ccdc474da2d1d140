"""Rotation of each image about its frame's middle (app.models.deskew.rotate) and rdsn's ``rotation_views`` option:
the pooled features as the mean over the image and two rotated copies (issue #13; data-independent)."""

from argparse import Namespace
import json

import numpy as np
import pytest
import torch
from scipy import ndimage

from app.errors import UserError
from app.models.deskew import deskew, rotate
from app.models.inputs import channels_last
from app.models.rdsn import RDSN
from test_deskew import blobs


def test_a_quarter_turn_by_hand():
    """Counter-clockwise as a person sees it: the top row's middle pixel goes to the left column's middle."""
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 0, 2] = 7.0
    y = rotate(x, 90)[0, 0]
    assert y[2, 0].item() == pytest.approx(7.0, abs=1e-5)
    assert y.abs().sum().item() == pytest.approx(7.0, abs=1e-4)
    assert rotate(x, -90)[0, 0, 2, 4].item() == pytest.approx(7.0, abs=1e-5)  # and clockwise to the right
    assert rotate(x, 0) is x and rotate(torch.zeros(0, 1, 5, 5), 10).shape == (0, 1, 5, 5)


@pytest.mark.parametrize("angle", [12.0, -7.5])
def test_matches_scipy_rotate(angle):
    """SciPy's ``ndimage.rotate`` (about the middle, the frame kept, bilinear, zeros outside) is the reference."""
    imgs = blobs(12, seed=3)
    got = rotate(torch.from_numpy(imgs).unsqueeze(1), angle)[:, 0].numpy()
    ref = np.stack([ndimage.rotate(im, angle, reshape=False, order=1, mode="grid-constant", cval=0.0) for im in imgs])
    np.testing.assert_allclose(got, ref, atol=2e-3)
    assert np.abs(got - imgs).max() > 50  # it did move


def test_background_per_channel_and_memory_order():
    """Outside the frame each channel's own background (its darkest value), as deskew takes it; channels-last stays."""
    x = torch.from_numpy(blobs(3, seed=5)).unsqueeze(1)
    a, b = 1 / (255 * 0.3081), -0.1307 / 0.3081
    torch.testing.assert_close(rotate(x * a + b, 20), rotate(x, 20) * a + b, atol=1e-5, rtol=1e-5)
    rgb = channels_last(x.repeat(1, 3, 1, 1) + torch.tensor([0.0, 10.0, 20.0]).view(1, 3, 1, 1))
    out = rotate(rgb, 30)
    assert out.stride(1) == 1
    torch.testing.assert_close(out, rotate(x, 30).repeat(1, 3, 1, 1) + torch.tensor([0.0, 10.0, 20.0]).view(1, 3, 1, 1),
                               atol=1e-3, rtol=1e-5)


def _net(**kw):
    return RDSN(in_channels=1, k=12, blocks=1, input_size=28, activation="relu", seed=4, **kw).eval()


@pytest.mark.parametrize("desk", [False, True])
def test_rdsn_rotation_views_are_the_mean_of_three_forwards(desk):
    """By hand: the option's pooled features = the mean of the same network's features of the image, of its copy
    rotated by -a and of its copy rotated by +a (each deskewed after the rotation where deskew is on)."""
    x = torch.from_numpy(blobs(5, seed=6)).unsqueeze(1) / 255
    on, off = _net(deskew=desk, rotation_views=10.0), _net(deskew=desk)
    with torch.no_grad():
        got = on.extract_pooled(x, chunk=5, pool=3, layer=1, kind="avgmax")
        by_hand = sum(off.extract_pooled(rotate(x, a), pool=3, layer=1, kind="avgmax") for a in (0.0, -10.0, 10.0)) / 3
        torch.testing.assert_close(got, by_hand, atol=1e-5, rtol=1e-5)
        assert not torch.allclose(got, off.extract_pooled(x, pool=3, layer=1, kind="avgmax"), atol=1e-3)
        # the maps shown (Live, Models) are the image's own
        torch.testing.assert_close(on.forward_intermediates(x, [1])[0], off.forward_intermediates(x, [1])[0])
    if desk:  # rotated first, deskewed after: not the same as deskewing first
        with torch.no_grad():
            other = sum(_net().extract_pooled(rotate(deskew(x), a), pool=3, layer=1) for a in (0.0, -10.0, 10.0)) / 3
            assert not torch.allclose(on.extract_pooled(x, pool=3, layer=1), other, atol=1e-3)


def test_rdsn_rotation_views_off_is_the_plain_network_and_bad_values_are_refused():
    x = torch.from_numpy(blobs(3, seed=7)).unsqueeze(1) / 255
    with torch.no_grad():
        assert torch.equal(_net(rotation_views=0.0).extract_pooled(x, pool=2, layer=1),
                           _net().extract_pooled(x, pool=2, layer=1))
    for bad in (-1.0, 46.0):
        with pytest.raises(ValueError, match="rotation_views must be 0"):
            _net(rotation_views=bad)
    from app.models.build import BuildError, create_model

    with pytest.raises(BuildError) as e:  # as the CLI and the builder show it: the backbone named once
        create_model("rdsn", {"rotation_views": 60})
    assert str(e.value) == "rdsn: rotation_views must be 0 (off) to 45 degrees, got 60"
    with pytest.raises(BuildError) as e:
        create_model("simple", {"widths": [4, 8], "kernel_size": [3, 3, 3]})
    assert str(e.value).startswith("simple: ") and "simple: simple:" not in str(e.value)


def test_the_option_is_offered_with_a_tooltip():
    from app.models.registry import option_fields

    fields = {f.name: f for f in option_fields("rdsn")}
    assert fields["rotation_views"].kind == "float" and fields["rotation_views"].default == 0.0
    assert "rotated by -a and +a" in fields["rotation_views"].tooltip


def test_bench_extract_refuses_rotation_views():
    """Its bare side computes one forward per image: comparing it with three would be no comparison."""
    from app.probe.bench_extract import bench_extract

    args = Namespace(quick=True, dataset=None, data_root=None, backbone="rdsn", layer=1, pooling="gap",
                     options=json.dumps({"k": 8, "blocks": 1, "rotation_views": 8}), images=20, rounds=1,
                     timeout=60, seed=0, json=True, authors=None)
    with pytest.raises(UserError, match='"rotation_views": 0'):
        bench_extract(args)
