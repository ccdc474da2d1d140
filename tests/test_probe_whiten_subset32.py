"""The stem's patch-ZCA whitening takes its statistics from a seeded subset of ALL the training images: it took the
first 4,000 in storage order, and an image folder stores its images class by class (CIFAR-10's first 4,000 training
images are all airplanes)."""

from __future__ import annotations

import numpy as np
import torch


def _whitened(images, seed=0, sample=40):
    from app.models.build import build
    from app.models.inputs import InputSpec
    from app.models.spec import ModelSpec
    from app.probe.extract import whiten_stem

    model = build(ModelSpec.make("rdsn", options={"k": 8, "in_channels": 3}, seed=1), device="cpu")
    ispec = InputSpec(3, (16, 16), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert whiten_stem(model, images, ispec, 0.1, sample=sample, patches=5_000, seed=seed)
    return model.stem.weight.detach().clone(), model.stem.bias.detach().clone()


def _sorted_by_class(n_per_class=40, classes=4):
    rng = np.random.default_rng(0)
    blocks = []
    for c in range(classes):  # each class its own colour cast: a class's statistics differ from the others'
        base = rng.integers(0, 256, size=(n_per_class, 16, 16, 3)).astype(np.float32) * 0.3
        base[..., c % 3] += 150
        blocks.append(np.clip(base, 0, 255).astype(np.uint8))
    return np.concatenate(blocks)


def test_the_statistics_come_from_every_class_not_the_first_ones_stored():
    images = _sorted_by_class()
    mixed = images[np.random.default_rng(3).permutation(len(images))]  # the same images, classes interleaved
    w_sorted, b_sorted = _whitened(images)
    w_first, b_first = _whitened(images[:40], sample=40)  # what the old rule used: the first class only
    # drawn from all four classes, the fit is far from the first class's alone ...
    assert float((b_sorted - b_first).norm() / b_first.norm()) > 0.2
    # ... and the storage order hardly matters: a seeded draw from every class, either way
    w_mixed, b_mixed = _whitened(mixed)
    assert float((b_sorted - b_mixed).norm() / b_sorted.norm()) < float((b_sorted - b_first).norm() / b_first.norm()) / 3


def test_all_images_when_there_are_no_more_than_the_sample_and_the_draw_is_seeded():
    images = _sorted_by_class(n_per_class=10)
    a, _ = _whitened(images, sample=40)
    b, _ = _whitened(images[::-1].copy(), sample=40)  # every image either way: the same statistics up to patch draws
    assert torch.equal(_whitened(images, seed=5)[0], _whitened(images, seed=5)[0])
    assert float((a - b).norm() / a.norm()) < 0.05
