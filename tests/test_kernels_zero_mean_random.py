"""Zero mean on the random kinds (session 33): a kernel whose weights came out all equal (a Rademacher 3x3 of nine
equal signs: 2 in 512, about one in a 256-kernel bank) was stored all zero, a dead filter in a bank that said it held
256 random ones; 1x1 kernels of one channel were all zero; random patches of one pixel gave an all-zero bank."""

from __future__ import annotations

import numpy as np
import pytest

from app.kernels import generate, generators
from app.kernels.bank import KernelBankError


def _zero_rows(w: np.ndarray) -> int:
    return int((np.abs(w.reshape(w.shape[0], -1)).sum(1) == 0).sum())


def test_rademacher_with_zero_mean_has_no_dead_kernel_and_says_how_many_were_drawn_again():
    # seed 0 draws 4 flat kernels among 256 (found by drawing: the same generator without zero mean)
    raw = generate("rademacher", 256, 3, 1, seed=0).weights.reshape(256, -1)
    flat = np.flatnonzero(np.ptp(raw, axis=1) == 0)
    assert flat.size == 4
    b = generate("rademacher", 256, 3, 1, seed=0, zero_mean=True)
    assert _zero_rows(b.weights) == 0  # was 4
    assert b.meta["redrawn"] == 4
    w = b.weights.reshape(256, -1).astype(np.float64)
    np.testing.assert_allclose(w.mean(1), 0, atol=1e-7)
    # the kernels that were not flat are the plain draw with its mean taken off: only the flat ones changed
    keep = np.setdiff1d(np.arange(256), flat)
    np.testing.assert_allclose(w[keep], (raw[keep] - raw[keep].mean(1, keepdims=True)), rtol=1e-6, atol=1e-7)
    assert len({tuple(np.sign(r)) for r in w[flat]}) == 4  # drawn again, not copies of one kernel
    # the same seed gives the same bank again
    np.testing.assert_array_equal(generate("rademacher", 256, 3, 1, seed=0, zero_mean=True).weights, b.weights)


def test_without_zero_mean_nothing_is_drawn_again():
    b = generate("rademacher", 256, 3, 1, seed=0)
    assert "redrawn" not in b.meta
    assert generate("gaussian", 64, 3, 1, seed=0, zero_mean=True).meta.get("redrawn") is None


def test_one_weight_per_kernel_with_zero_mean_is_refused():
    with pytest.raises(KernelBankError, match=r"zero mean leaves a 1x1 kernel of 1 channel all zero .*untick zero "
                                              r"mean$"):
        generate("gaussian", 8, 1, 1, seed=0, zero_mean=True)
    b = generate("rademacher", 64, 1, 2, seed=0, zero_mean=True)  # two channels: half are flat, drawn again
    assert _zero_rows(b.weights) == 0 and b.meta["redrawn"] >= 20


def test_a_family_that_keeps_giving_flat_kernels_is_refused(monkeypatch):
    monkeypatch.setattr(generators, "REDRAW_TRIES", 2)
    spec = generators.KINDS["rademacher"]
    monkeypatch.setitem(generators.KINDS, "rademacher", generators.Kind(
        **{**spec.__dict__, "func": lambda rng, n, c, k: np.ones((n, c, k, k))}))
    with pytest.raises(KernelBankError, match=r"rademacher: zero mean leaves 3 of the 3 kernels all zero \(every "
                                              r"weight equal\) after 2 draws"):
        generate("rademacher", 3, 3, 1, seed=0, zero_mean=True)


def test_random_patches_of_one_pixel_are_refused_not_stored_all_zero():
    # one pixel is a flat patch (contrast normalisation leaves it 0): none can be drawn
    with pytest.raises(KernelBankError, match=r"^digits: only 0 of 24 random 1x1 patches are not flat \(every pixel "
                                              r"within one grey level\); 8 are needed: use a larger size or another "
                                              r"dataset$"):
        generate("patches", 8, 1, 1, seed=0, whiten=0)
    assert _zero_rows(generate("patches", 8, 3, 1, seed=0).weights) == 0
    # the guard behind it: a random bank that comes out all zero is refused, not stored
    from app.kernels import generators

    spec = generators.KINDS["gaussian"]
    zero = generators.Kind(**{**spec.__dict__, "func": lambda rng, n, c, k, **_: np.zeros((n, c, k, k))})
    generators.KINDS["gaussian"] = zero
    try:
        with pytest.raises(KernelBankError, match=r"^gaussian: every kernel is all zero at size 3x3 with 2 "
                                                  r"in-channels; use a larger size$"):
            generate("gaussian", 4, 3, 2, seed=0)
    finally:
        generators.KINDS["gaussian"] = spec


def test_flat_patches_are_not_drawn_as_kernels():
    """Random patches of a dataset with flat areas (MNIST's black border: 118 of 256 5x5 patches of seed 0 were all
    zero once contrast-normalised; digits at 3x3 a few) are skipped and more drawn, counted in the meta."""
    b = generate("patches", 256, 3, 1, seed=0, whiten=0)
    assert _zero_rows(b.weights) == 0
    assert b.meta["used"]["flat_patches_skipped"] > 0
    raw_std = np.asarray(b.weights, np.float64).reshape(256, -1).std(1)
    assert raw_std.min() > 0.1  # contrast-normalised: each kept patch has a spread, none is near zero


def test_kernels_show_says_how_many_were_drawn_again(tmp_path):
    from app.kernels import io

    text = io.describe(generate("rademacher", 256, 3, 1, seed=0, zero_mean=True))
    assert "redrawn: 4 kernels whose weights came out all equal (zero mean would leave them all zero)" in text
    assert "redrawn" not in io.describe(generate("rademacher", 256, 3, 1, seed=2, zero_mean=True))
    # kept through a save and a load
    path = tmp_path / "b.npz"
    io.save(generate("rademacher", 256, 3, 1, seed=1, zero_mean=True), path)
    assert "redrawn: 1 kernel whose" in io.describe(io.load(path))
