"""app.imaging.maps (Live's torch per-map kit): tiles laid out by app.imaging.layout.GridLayout, shared contrast."""

from __future__ import annotations

import numpy as np
import torch

from app.imaging import colormaps, maps
from app.imaging.layout import GridLayout, layout


def test_mosaic_layout_is_the_one_grid_layout():
    fmap = torch.arange(7 * 4 * 6, dtype=torch.float32).view(7, 4, 6)
    img, lay, lo, hi = maps.make_mosaic(fmap, 0, 7, "gray", pad=3, aspect=1.5)
    assert isinstance(lay, GridLayout) and lay == layout(7, 4, 6, gap=3, margin=0, aspect=1.5)
    assert img.shape == (lay.height, lay.width, 3)
    for i in range(7):
        x, y, w, h = lay.rect(i)
        tile = img[y:y + h, x:x + w, 0].numpy()
        assert tile[0, 0] == 0 and tile[-1, -1] == 255  # each map its own range (per-map contrast)
        assert lay.index_at(x + 1, y + 1) == i


def test_tile_maps_with_fixed_columns():
    m = torch.rand(5, 3, 3)
    _, lay, _, _ = maps.tile_maps(m, "viridis", cols=5, pad=1)
    assert (lay.rows, lay.cols) == (1, 5)


def test_shared_limits_keep_magnitudes_comparable():
    small = torch.full((1, 2, 2), 1.0)
    big = torch.full((1, 2, 2), 4.0)
    both = torch.cat([small, big])
    u, lo, hi = maps.normalise(both, limits=(0.0, 4.0))
    assert u[0, 0, 0] == 64 and u[1, 0, 0] == 255 and lo.tolist() == [0.0, 0.0] and hi.tolist() == [4.0, 4.0]
    u, lo, hi = maps.normalise(both)  # per map: both constant -> 0
    assert int(u.max()) == 0
    s, lo, hi = maps.normalise(torch.tensor([[[-1.0, 2.0]]]), symmetric=True, limits=(-1.0, 2.0))
    assert lo.tolist() == [-2.0] and hi.tolist() == [2.0] and s.tolist() == [[[64, 255]]]
    assert maps.value_range(both) == (1.0, 4.0)
    # a constant shared range (all maps zero) does not divide by zero
    z, _, _ = maps.normalise(torch.zeros(2, 2, 2), limits=(0.0, 0.0))
    assert int(z.max()) == 0


def test_single_map_and_colours():
    fmap = torch.linspace(0, 1, 16).view(1, 4, 4)
    img, lo, hi = maps.single_map(fmap, 0, "magma")
    lut = colormaps.lut("magma")
    assert (lo, hi) == (0.0, 1.0) and tuple(img[0, 0].tolist()) == tuple(lut[0]) and \
        tuple(img[-1, -1].tolist()) == tuple(lut[255])
    assert maps.page_maps(torch.zeros(10, 200, 200), 8, 5, (50, 50)).shape == (2, 50, 50)
    assert np.array_equal(maps.colorize(torch.tensor([0, 255], dtype=torch.uint8), "gray").numpy(),
                          [[0, 0, 0], [255, 255, 255]])
