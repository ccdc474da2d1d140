"""The faster ``patches`` layer (in-place whitening, one-pass triangle, chunked extraction) computes the same numbers
as the plain maths it replaced (kept here as the reference), in every mode and through the probe's extraction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from app.models import patch_fit as pf
from app.models import patches as patches_mod
from app.models.inputs import InputSpec
from app.models.registry import create
from app.probe.extract import extract, pool_maps
from app.tasks import run_to_end


def reference_maps(m, x: torch.Tensor, layer: int) -> torch.Tensor:
    """The layer as written before the speed work: out-of-place, one batch."""
    x = pf.pad_same(x, m.size, m.stride) if m.padding == "same" else x
    c = x.shape[1]
    z = F.conv2d(x, m.zca.reshape(m.D, c, m.size, m.size), None, stride=m.stride)
    if m.normalize:
        mu = F.avg_pool2d(x.mean(1, keepdim=True), m.size, m.stride)
        var = (F.avg_pool2d((x * x).mean(1, keepdim=True), m.size, m.stride) - mu * mu).clamp_min(0)
        z = (z - mu * m.zca.sum(1).view(1, -1, 1, 1)) / torch.sqrt(var + pf.NORM_EPS)
    z = z - (m.zca @ m.patch_mean).view(1, -1, 1, 1)
    if layer == 0:
        return z
    n, D, h, w = z.shape
    Wk = m.encoder.weight.reshape(m.k, D)
    s = torch.matmul(Wk, z.reshape(n, D, h * w))
    if m.act_name == "triangle":
        d = torch.sqrt(((z * z).sum(1).reshape(n, 1, h * w) - 2 * s + (Wk * Wk).sum(1).view(1, -1, 1)).clamp_min(0))
        out = torch.relu(d.mean(1, keepdim=True) - d)
    elif m.act_name == "split":
        out = torch.cat([torch.relu(s - m.alpha), torch.relu(-s - m.alpha)], dim=1)
    elif m.act_name == "soft":
        out = torch.relu(s - m.alpha)
    elif m.act_name == "nearest":
        half = (Wk * Wk).sum(1).view(1, -1, 1) / 2
        q = round(m.fraction * m.k)
        out = torch.cat([(d <= d.kthvalue(q, dim=1, keepdim=True).values).float() for d in (half - s, half + s)], 1)
    else:
        out = torch.relu(s)
    return out.reshape(n, -1, h, w)


def _fitted(act: str, padding: str, normalize: bool = True, stride: int = 1):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(24, 3, 16, 16, generator=g)
    m = create("patches", in_channels=3, k=24, patch_size=4, stride=stride, activation=act, padding=padding,
               normalize=normalize, n_patches=2000, kmeans_epochs=2, input_size=16)
    m.fit_patches(x, seed=0)
    return m.eval(), torch.randn(10, 3, 16, 16, generator=g)


@pytest.mark.parametrize("act", ["triangle", "split", "soft", "relu", "nearest"])
@pytest.mark.parametrize("padding, normalize, stride", [("valid", True, 1), ("same", True, 2), ("same", False, 1)])
def test_layer_equals_the_reference_maths(act, padding, normalize, stride):
    m, x = _fitted(act, padding, normalize, stride)
    for layer in (0, 1):
        want = reference_maps(m, x, layer)
        got = m.forward_intermediates(x, [layer])[0]  # autograd mode: the out-of-place path
        with torch.inference_mode():
            fast = m.forward_intermediates(x, [layer])[0]  # extraction: the in-place path
            chunks = torch.cat(list(m.map_chunks(x, layer)))
        scale = float(want.abs().max())
        assert got.shape == fast.shape == chunks.shape == want.shape
        assert torch.allclose(got, want, rtol=0, atol=1e-5 * scale)
        assert torch.allclose(fast, want, rtol=0, atol=1e-5 * scale)
        assert torch.equal(chunks, fast)  # chunking never changes a number


def test_chunks_hold_few_images_and_extraction_pools_them_like_one_batch(monkeypatch):
    m, x = _fitted("triangle", "valid")
    per_image = 24 * 13 * 13 * 4  # k x (16 - 4 + 1)^2 float32
    monkeypatch.setattr(patches_mod, "CHUNK_BYTES", 3 * per_image)
    with torch.inference_mode():
        sizes = [len(c) for c in m.map_chunks(x, 1)]
    assert sizes == [3, 3, 3, 1]
    images = (np.random.default_rng(0).random((10, 16, 16, 3)) * 255).astype(np.uint8)
    ispec = InputSpec(channels=3, size=None, mean=(0.5,) * 3, std=(0.25,) * 3)
    xs = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.25
    for pooling in ("grid2", "avgmaxgrid2", "gap"):
        feats = run_to_end(extract(m, images, ispec, 1, pooling, key=None)).array
        want = pool_maps(reference_maps(m, xs, 1), pooling).numpy()
        assert feats.shape == want.shape
        np.testing.assert_allclose(feats, want, rtol=1e-5, atol=1e-5 * float(np.abs(want).max()))


def test_out_size_matches_the_layer():
    for hw, size, stride, same in (((32, 32), 6, 1, True), ((32, 32), 6, 1, False), ((28, 20), 5, 2, True),
                                   ((28, 28), 4, 3, False), ((5, 5), 6, 1, True)):
        x = torch.zeros(1, 1, *hw)
        x = pf.pad_same(x, size, stride) if same else x
        assert pf.out_size(hw, size, stride, same) == tuple(F.avg_pool2d(x, size, stride).shape[-2:])
