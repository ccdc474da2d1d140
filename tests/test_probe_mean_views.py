"""app.probe.extract.mean_views: the test-time views' mean, chunked in torch, the same bits as the numpy formula it
replaced (a float32 copy of the whole split and numpy's slow float16 conversions)."""

from __future__ import annotations

import numpy as np
import pytest

from app.probe import extract as ex


def _numpy_mean(arrays):
    total = arrays[0].astype(np.float32)
    for a in arrays[1:]:
        total += a.astype(np.float32)
    return (total / len(arrays)).astype(arrays[0].dtype, copy=False)


@pytest.mark.filterwarnings("error::UserWarning")  # torch on a read-only array: the CLI would print it
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("n_views", [2, 5])
def test_the_same_bits_as_the_numpy_mean(monkeypatch, dtype, n_views):
    monkeypatch.setattr(ex, "VIEW_ROWS", 7)  # several chunks and a short last one
    rng = np.random.default_rng(n_views)
    arrays = [(rng.standard_normal((30, 11)) * 50).astype(dtype) for _ in range(n_views)]
    arrays[1] = np.lib.stride_tricks.as_strided(arrays[1], writeable=False)  # read-only, as a cached memmap is
    before = [a.copy() for a in arrays]
    got = ex.mean_views(arrays)
    assert all(np.array_equal(a, b) for a, b in zip(arrays, before))  # the inputs untouched
    assert got.dtype == dtype and got.shape == (30, 11)
    np.testing.assert_array_equal(got, _numpy_mean(arrays))
    assert not any(np.shares_memory(got, a) for a in arrays)


def test_views_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="different shapes"):
        ex.mean_views([np.zeros((3, 4), np.float32), np.zeros((3, 5), np.float32)])
