"""The feature cache is keyed by content (issue 15): an edited dataset never reads another's features, the layer
is part of the key, and a cache hit returns rows in line with their labels."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.data import ArrayDataset
from app.models.inputs import InputSpec
from app.models.spec import ModelSpec
from app.probe import extract as ex
from app.probe.config import ProbeConfig
from app.probe.run import run_probe
from app.tasks import run_to_end


def _write(folder: Path, value: int, n: int, rng) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = np.clip(value + rng.integers(-10, 11, (8, 8, 3)), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"{i:02d}.png"), img)


def _folder(root: Path, swapped: bool) -> None:
    rng = np.random.default_rng(0)
    _write(root / "train" / "a", 20, 10, rng)
    _write(root / "train" / "b", 235, 10, rng)
    _write(root / "test" / "a", 235 if swapped else 20, 4, rng)
    _write(root / "test" / "b", 20 if swapped else 235, 4, rng)


def _config(root: Path, **kw) -> ProbeConfig:
    spec = ModelSpec.make("rdsn", options={"k": 8, "blocks": 1})
    base = dict(model=spec, dataset=f"imagefolder:{root}", head="knn", head_options=(("k", 1),), pooling="gap",
                layer=0)
    base.update(kw)
    return ProbeConfig(**base)


def test_swapped_test_images_do_not_hit_the_old_cache(fe_home, tmp_path):
    root = tmp_path / "shapes"
    _folder(root, swapped=False)
    first = run_to_end(run_probe(_config(root)))
    assert first.top1 == 1.0 and not first.feature_cache_hit
    again = run_to_end(run_probe(_config(root)))
    assert again.feature_cache_hit and again.top1 == 1.0  # unchanged data: served from the cache
    # swap the two classes' test images (same names, same count, same sizes)
    _folder(root, swapped=True)
    later = time.time() + 100  # the decoded-image cache of app.data must see new files too (its own key)
    for p in (root / "test").rglob("*.png"):
        os.utime(p, (later, later))
    swapped = run_to_end(run_probe(_config(root)))
    assert swapped.top1 == 0.0
    assert not swapped.feature_cache_hit


def _ds(images, labels) -> ArrayDataset:
    return ArrayDataset("t", "train", images, labels, ("a", "b"))


def test_content_digest_sees_images_and_labels_and_is_memoised():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (6, 4, 4, 1)).astype(np.uint8)
    labels = np.array([0, 1, 0, 1, 0, 1])
    a = _ds(images, labels)
    d = ex.content_digest(a)
    assert d == ex.content_digest(_ds(images.copy(), labels.copy()))  # same content, same digest
    assert d != ex.content_digest(_ds(images, labels[::-1].copy()))  # labels matter
    changed = images.copy()
    changed[0, 0, 0, 0] ^= 1
    assert d != ex.content_digest(_ds(changed, labels))  # one bit of one pixel matters
    assert ex.content_digest(a) is ex.content_digest(a)  # memoised on the object


def _key(**kw) -> str:
    ispec = InputSpec(1, None, (0.5,), (0.25,))
    base = dict(weights="w", layer=0, pooling="gap", content="c", data_root="/data", split="train", ispec=ispec,
                dtype="auto", dataset="digits")
    base.update(kw)
    return ex.cache_key(**base)


def test_cache_key_holds_every_setting(tmp_path, monkeypatch):
    k = _key()
    assert _key(layer=1) != k  # a key without the layer would collide
    assert _key(pooling="grid2") != k and _key(content="d") != k and _key(weights="v") != k
    assert _key(split="test") != k and _key(data_root="/other") != k
    assert _key(ispec=InputSpec(1, None, (0.5,), (0.3,))) != k
    # the root is made absolute: a relative and the absolute spelling of one folder are one key
    monkeypatch.chdir(tmp_path)
    assert _key(data_root="rel") == _key(data_root=str(tmp_path / "rel"))


def test_two_layers_two_cache_entries(fe_home):
    root_cfg = dict(model=ModelSpec.make("rdsn", options={"k": 8, "blocks": 1}), dataset="digits", head="ridge",
                    train_limit=120, test_limit=40, pooling="gap")
    one = run_to_end(run_probe(ProbeConfig(layer=0, **root_cfg)))
    two = run_to_end(run_probe(ProbeConfig(layer=1, **root_cfg)))
    assert not two.feature_cache_hit  # layer 1 did not read layer 0's features
    assert len(list((fe_home / "cache" / "features").glob("*.npy"))) == 6
    assert one.resolved.layer == 0 and two.resolved.layer == 1


def test_cache_hit_rows_line_up_with_labels(fe_home, monkeypatch):
    """A cache hit gives the very rows a fresh extraction gives, in the same order (a permuted read fails)."""
    cfg = ProbeConfig(model=ModelSpec.make("rdsn", options={"k": 8, "blocks": 1}), dataset="digits", head="ridge",
                      train_limit=200, test_limit=80, pooling="grid2")
    fresh = run_to_end(run_probe(cfg))
    seen = []
    real = ex.extract

    def spy(*a, **kw):
        f = yield from real(*a, **kw)
        seen.append((f, real(*a, **dict(kw, key=None))))
        return f

    monkeypatch.setattr(ex, "extract", spy)
    cached = run_to_end(run_probe(cfg))
    assert cached.feature_cache_hit
    assert len(seen) == 3
    for f, ref in seen:
        assert f.cache_hit
        assert np.array_equal(np.asarray(f.array), np.asarray(run_to_end(ref).array))
    assert cached.top1 == fresh.top1 and cached.val_top1 == fresh.val_top1
    assert cached.confusion.tolist() == fresh.confusion.tolist()
    assert fresh.top1 > 0.5  # far above chance: a permutation of the rows would not be


@pytest.mark.parametrize("planted", [True])
def test_a_permuted_cache_read_is_caught(fe_home, monkeypatch, planted):
    """The bug from issue 10 planted: a cache hit returning rows out of line with their labels changes top-1."""
    cfg = ProbeConfig(model=ModelSpec.make("rdsn", options={"k": 8, "blocks": 1}), dataset="digits", head="ridge",
                      train_limit=200, test_limit=80, pooling="grid2")
    fresh = run_to_end(run_probe(cfg))
    real = ex.extract

    def permuted(*a, **kw):
        f = yield from real(*a, **kw)
        rows = np.asarray(f.array)[np.random.default_rng(0).permutation(len(f.array))]
        return ex.Features(rows, f.seconds, f.cache_hit, f.path)

    monkeypatch.setattr(ex, "extract", permuted)
    bad = run_to_end(run_probe(cfg))
    assert bad.feature_cache_hit and bad.top1 < fresh.top1 - 0.3


def test_pooling_grid_is_bounded():
    assert ex.parse_pooling("grid16") == ("avg", 16) and ex.parse_pooling("maxgrid1") == ("max", 1)
    for bad in ("grid17", "grid100000", "grid0", "grid", "avggrid2", "grid" + "9" * 50):
        with pytest.raises(ValueError, match="N = 1..16"):
            ex.parse_pooling(bad)
