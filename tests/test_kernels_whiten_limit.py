"""The patches generator refuses a ZCA whitening covariance too large for memory before allocating it (no Qt)."""

from __future__ import annotations

import numpy as np
import pytest

from app.kernels.bank import KernelBankError
from app.kernels.generators import MAX_WHITEN_BYTES, MAX_WHITEN_DIM, check_whiten, generate


def test_a_huge_whitening_covariance_is_refused_up_front_with_its_size_and_the_way_out():
    """64 channels x 15x15 patches: a 14,400 x 14,400 float64 covariance (1.5 GB, three such matrices while
    whitening) was allocated after sampling a 20,480-patch pool; now refused before even loading the dataset."""
    with pytest.raises(KernelBankError) as err:
        generate("patches", 4, 15, 64, dataset="no-such-dataset", whiten=1)  # refused before the dataset is read
    msg = str(err.value)
    assert "ZCA whitening of 64 channel(s) x 15x15 patches" in msg
    assert "14,400 x 14,400 float64 covariance (1.5 GB" in msg
    assert "over the limit of 256.0 MB" in msg
    assert "a kernel size of at most 9 for 64 channel(s)" in msg  # smaller patches
    assert "at most 25 in-channel(s) at 15x15" in msg  # fewer channels
    assert "whiten=0" in msg and "FILTER_EXPLORER_LIMITS=off" in msg


def test_the_bound_and_its_edges():
    assert MAX_WHITEN_DIM ** 2 * 8 <= MAX_WHITEN_BYTES < (MAX_WHITEN_DIM + 1) ** 2 * 8
    check_whiten(64, 9)  # 5,184 values per patch: allowed
    check_whiten(3, 15)
    with pytest.raises(KernelBankError, match="64 channel"):
        check_whiten(64, 10)  # 6,400
    with pytest.raises(KernelBankError) as err:
        check_whiten(1, 50, limit=1024 ** 2)
    assert "2,500 x 2,500 float64 covariance (47.7 MB," in str(err.value)
    assert "fewer channels" not in str(err.value)  # one channel is already too many at 50x50


def test_the_limit_is_lifted_like_every_safety_limit(monkeypatch):
    monkeypatch.setenv("FILTER_EXPLORER_LIMITS", "off")
    check_whiten(64, 15)  # nothing allocated by the check itself


def test_no_whitening_is_not_refused_and_a_normal_size_still_whitens():
    with pytest.raises(KernelBankError, match="larger than the digits images"):  # not the whitening limit
        generate("patches", 2, 15, 64, dataset="digits", whiten=0)
    b = generate("patches", 6, 5, 3, seed=1, dataset="digits", whiten=1)
    assert b.weights.shape == (6, 3, 5, 5) and np.isfinite(b.weights).all() and np.abs(b.weights).max() > 0
    again = generate("patches", 6, 5, 3, seed=1, dataset="digits", whiten=1)
    np.testing.assert_array_equal(b.weights, again.weights)
