"""Moment deskewing (app.models.deskew) and rdsn's ``deskew`` option (issue #13: data-independent pre-processing)."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from app.errors import UserError
from app.models.deskew import deskew
from app.models.rdsn import RDSN
from app.probe import bench_extract as be


def scipy_deskew(img: np.ndarray) -> np.ndarray:
    """The widely used NumPy / SciPy deskew, with SciPy's 'grid-constant' edge (zeros interpolated, as torch's)."""
    img = img.astype(np.float64)
    h, w = img.shape
    c0, c1 = np.mgrid[:h, :w]
    tot = img.sum()
    m = np.array([(c0 * img).sum() / tot, (c1 * img).sum() / tot])
    v00 = ((c0 - m[0]) ** 2 * img).sum() / tot
    v01 = ((c0 - m[0]) * (c1 - m[1]) * img).sum() / tot
    A = np.array([[1.0, 0.0], [v01 / v00, 1.0]])
    return ndimage.affine_transform(img, A, offset=m - A @ (np.array([h, w]) / 2.0), order=1, mode="grid-constant")


def blobs(n: int, seed: int = 0) -> np.ndarray:
    """Slanted strokes of random thickness on a black 28x28 background (uint8-like floats)."""
    g = np.random.default_rng(seed)
    out = np.zeros((n, 28, 28), np.float32)
    r = np.arange(28)[:, None]
    c = np.arange(28)[None, :]
    for i in range(n):
        slope, c0, width = g.uniform(-0.6, 0.6), g.uniform(8, 20), g.uniform(1.0, 3.0)
        rows = (r > g.integers(3, 8)) & (r < g.integers(20, 25))
        out[i] = 255 * np.clip(width - np.abs(c - (c0 + slope * (r - 14))), 0, 1) * rows
    return out


def test_single_pixel_moves_to_the_middle():
    """By hand: one ink pixel at (5, 7): centre of mass (5, 7), no spread, so no shear; it lands on (14, 14)."""
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 5, 7] = 200.0
    y = deskew(x)[0, 0]
    assert y[14, 14].item() == pytest.approx(200.0)
    assert y.sum().item() == pytest.approx(200.0)


def test_matches_scipy_and_straightens_a_slanted_stroke():
    imgs = blobs(40)
    got = deskew(torch.from_numpy(imgs).unsqueeze(1))[:, 0].numpy()
    ref = np.stack([scipy_deskew(im) for im in imgs])
    np.testing.assert_allclose(got, ref, atol=2e-3)
    # a straight slanted stroke becomes vertical: each inked row's centre of mass in the same column
    for im in got[:10]:
        rows = im.sum(1) > 200
        cols = (im * np.arange(28)).sum(1)[rows] / im.sum(1)[rows]
        assert cols.std() < 0.2
    before = imgs[0]
    rows = before.sum(1) > 200
    assert ((before * np.arange(28)).sum(1)[rows] / before.sum(1)[rows]).std() > 0.5  # it was slanted


def test_the_same_on_preprocessed_inputs_and_per_channel_backgrounds():
    """x * a + b (the probe's normalisation, a > 0) deskews to a * deskew(x) + b; an empty image stays as it is."""
    x = torch.from_numpy(blobs(6, seed=1)).unsqueeze(1)
    a, b = 1 / (255 * 0.3081), -0.1307 / 0.3081
    torch.testing.assert_close(deskew(x * a + b), deskew(x) * a + b, atol=1e-5, rtol=1e-5)
    flat = torch.full((2, 3, 28, 28), -0.4)
    assert torch.equal(deskew(flat), flat)
    assert deskew(torch.zeros(0, 1, 28, 28)).shape == (0, 1, 28, 28)
    rgb = x.repeat(1, 3, 1, 1) + torch.tensor([0.0, 10.0, 20.0]).view(1, 3, 1, 1)  # three channels, three backgrounds
    bgs = torch.tensor([0.0, 10.0, 20.0]).view(1, 3, 1, 1)
    torch.testing.assert_close(deskew(rgb), deskew(x).repeat(1, 3, 1, 1) + bgs, atol=1e-3, rtol=1e-5)


def test_rdsn_deskew_option_is_the_same_network_on_deskewed_images():
    x = torch.from_numpy(blobs(4, seed=2)).unsqueeze(1) / 255
    on = RDSN(in_channels=1, k=16, blocks=1, input_size=28, activation="relu", deskew=True, seed=3).eval()
    off = RDSN(in_channels=1, k=16, blocks=1, input_size=28, activation="relu", seed=3).eval()
    with torch.no_grad():
        torch.testing.assert_close(on.extract_pooled(x, chunk=5, pool=3, layer=1),
                                   off.extract_pooled(deskew(x), chunk=5, pool=3, layer=1))
        torch.testing.assert_close(on.forward_intermediates(x, [1])[0], off.forward_intermediates(deskew(x), [1])[0])
        assert not torch.allclose(on.extract_pooled(x, pool=3, layer=1), off.extract_pooled(x, pool=3, layer=1))


def test_authors_comparison_refuses_deskew():
    model = RDSN(in_channels=1, k=8, blocks=1, stem_kernel=5, kernel_size=5, stem_padding=1, input_size=28,
                 deskew=True)
    settings = {"backbone": "rdsn", "options": {"deskew": True}, "pooling": "gap"}
    with pytest.raises(UserError, match='"deskew": false'):
        be.check_authors_settings(settings, model, 1)
    model.deskew = False
    be.check_authors_settings(settings, model, 1)


def test_stem_whitening_sees_the_deskewed_images():
    """The patch statistics folded into the stem are those of what the stem sees (deskewed images where on)."""
    from app.models.inputs import declared
    from app.probe.extract import whiten_stem

    imgs = blobs(30, seed=4).astype(np.uint8)[..., None]
    ispec = declared(1, mean=0.13, std=0.3)
    on = RDSN(in_channels=1, k=8, blocks=1, input_size=28, deskew=True, seed=5)
    off = RDSN(in_channels=1, k=8, blocks=1, input_size=28, seed=5)
    assert whiten_stem(on, imgs, ispec, 0.1) and whiten_stem(off, imgs, ispec, 0.1)
    assert not torch.allclose(on.stem.weight, off.stem.weight, atol=1e-3)
    on2 = RDSN(in_channels=1, k=8, blocks=1, input_size=28, deskew=True, seed=5)
    whiten_stem(on2, imgs, ispec, 0.1)
    assert torch.equal(on.stem.weight, on2.stem.weight)


def test_keeps_the_batch_memory_order():
    """A channels-last batch (the CPU's) stays channels-last, or every convolution after it takes torch's slow path."""
    from app.models.inputs import channels_last, standard_layout

    x = torch.from_numpy(blobs(3, seed=6)).unsqueeze(1).repeat(1, 3, 1, 1)
    for c in (1, 3):
        cl = channels_last(x[:, :c].contiguous())
        assert deskew(cl).stride() == cl.stride()
        st = standard_layout(x[:, :c])
        assert deskew(st).stride() == st.stride()
        torch.testing.assert_close(deskew(cl), deskew(st))


def test_scattering_deskew_option_is_the_same_transform_of_deskewed_images():
    """The scattering backbone offers the same pre-processing (the fair peer of a deskewing rdsn, issue #13)."""
    from app.models.scattering import Scattering

    x = torch.from_numpy(blobs(3, seed=7)).unsqueeze(1) / 255
    on = Scattering(in_channels=1, J=2, L=4, input_size=28, deskew=True)
    off = Scattering(in_channels=1, J=2, L=4, input_size=28)
    with torch.no_grad():
        torch.testing.assert_close(on.forward_features(x), off.forward_features(deskew(x)))
        assert not torch.allclose(on.forward_features(x), off.forward_features(x))
