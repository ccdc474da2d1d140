"""app.data.preview: the sample mosaic and the browser's view (no Qt)."""

from __future__ import annotations

import numpy as np

from app.data import ArrayDataset, load
from app.data.preview import browse, display_name, sample_grid, view
from app.tasks import run_to_end


def _ds(n=30, h=8, w=8, c=1):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (n, h, w, c), dtype=np.uint8)
    return ArrayDataset("t", "train", imgs, (np.arange(n) % 3).astype(np.int64), ("a", "b", "c"))


def test_sample_grid_places_each_sample_at_its_cell():
    ds = _ds()
    mosaic, cells = sample_grid(ds, n=12, seed=1, gap=2)
    assert mosaic.dtype == np.uint8 and mosaic.flags.c_contiguous and mosaic.shape[2] == 3
    assert len(cells) == 12 and len({c.index for c in cells}) == 12
    for cell in cells:
        # 8x8 greyscale scaled x4 (nearest) to 32x32 RGB
        block = mosaic[cell.y:cell.y + 32, cell.x:cell.x + 32]
        expect = np.repeat(np.repeat(ds.images[cell.index], 4, 0), 4, 1)
        np.testing.assert_array_equal(block, np.repeat(expect, 3, axis=2))
        assert cell.class_name == ds.classes[ds.labels[cell.index]]
    # full rows: 12 samples in 3 or 4 columns, no empty cells
    cols = len({c.x for c in cells})
    assert 12 % cols == 0


def test_sample_grid_is_seeded_and_handles_small_and_empty():
    ds = _ds()
    a, ca = sample_grid(ds, 10, seed=3)
    b, cb = sample_grid(ds, 10, seed=3)
    np.testing.assert_array_equal(a, b)
    assert ca == cb
    _, cells = sample_grid(ds, 100)
    assert len(cells) == 30
    empty = ArrayDataset("e", "train", np.zeros((0, 8, 8, 1), np.uint8), np.zeros(0, np.int64), ("a",))
    m, cells = sample_grid(empty, 10)
    assert m.shape == (1, 1, 3) and cells == ()


def test_view_counts_the_subset_and_is_read_only():
    ds = load("digits", "train")
    v = view(ds, subset=200, n=24, columns=6)
    assert v.used == 200 and v.total == len(ds) and int(v.counts.sum()) == 200
    assert len({c.x for c in v.cells}) == 6 and len(v.cells) == 24
    assert not v.mosaic.flags.writeable and not v.counts.flags.writeable
    assert v.summary().startswith("digits (train): 200 of 1,347 images, 8x8x1, 10 classes")


def test_browse_reuses_a_loaded_dataset():
    ds, v = run_to_end(browse("digits", "test", subset=None, n=8))
    again, v2 = run_to_end(browse("digits", "test", subset=50, n=8, dataset=ds))
    assert again is ds and v2.used == 50
    other, _ = run_to_end(browse("digits", "train", n=8, dataset=ds))
    assert other is not ds and other.split == "train"
    assert display_name("imagefolder:/a/b/pets/") == "folder pets"
