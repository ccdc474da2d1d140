"""Probe numbers audit (session 25): a training split that cannot hold every class is refused, and shift views on
the 8x8 digits carry a caveat."""

from __future__ import annotations

import pytest

from app.data import load
from app.models.spec import ModelSpec
from app.probe.caveats import views_caveat
from app.probe.config import ProbeConfig
from app.probe.resolve import ProbeSettingsError, resolve


def test_a_validation_split_that_leaves_fewer_training_images_than_classes_is_refused(fe_home):
    """`probe --val 1346` on digits (1,347 training images) trained on one image of one class, "selected" a weight
    decay and reported 9.8% test top-1 as a run."""
    train = load("digits", "train")
    spec = ModelSpec.make("simple", options={"widths": [4, 8], "in_channels": 1}, seed=0)

    def cfg(**kw):
        return ProbeConfig(model=spec, dataset="digits", **kw)

    with pytest.raises(ProbeSettingsError, match=r"would hold 1 image\(s\) .* for 10 classes"):
        resolve(cfg(val=1346), train)
    with pytest.raises(ProbeSettingsError, match="would hold 5 image"):
        resolve(cfg(train_limit=20, val=15), train)
    record, _ = resolve(cfg(train_limit=20, val=10), train)  # 10 images for 10 classes
    assert record.val == 10


def test_shift_views_on_the_8x8_digits_carry_a_caveat_and_on_mnist_none():
    """Measured by the audit (rdsn defaults, digits): ridge validation 98.88% -> 97.03% with shift views."""
    assert "8x8" in views_caveat("digits", "shift1")
    assert views_caveat("mnist", "shift1") is None and views_caveat("digits", "none") is None
