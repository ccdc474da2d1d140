"""The features cache's size cap (``app.data.caches``: ``FILTER_EXPLORER_FEATURE_CACHE_GB``, default 20 GB): after
each new feature file the least recently used ones go until the folder fits; a cache hit marks its file used; the
file just written always stays. (An uncapped cache filled this project's CI disk.)"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from app.data import caches
from app.errors import UserError


def _file(folder, name: str, size: int, age_s: float):
    p = folder / name
    p.write_bytes(b"x" * size)
    t = time.time() - age_s
    os.utime(p, (t, t))
    return p


def test_trim_removes_the_least_recently_used_until_the_folder_fits(tmp_path):
    folder = tmp_path / "features"
    folder.mkdir()
    old = _file(folder, "old.npy", 100, 300)
    mid = _file(folder, "mid.npy", 100, 200)
    kept = _file(folder, "kept.npy", 100, 400)  # the oldest, but asked to stay
    new = _file(folder, "new.npy", 100, 0)
    assert caches.trim("features", 250, root=tmp_path, keep=(kept,)) == (2, 200)
    assert sorted(p.name for p in folder.iterdir()) == ["kept.npy", "new.npy"]
    assert not old.exists() and not mid.exists() and new.exists()
    assert caches.trim("features", 250, root=tmp_path) == (0, 0)  # fits already
    assert caches.trim("features", None, root=tmp_path) == (0, 0)  # no cap
    assert caches.trim("missing", 0, root=tmp_path) == (0, 0)


def test_the_cap_comes_from_the_environment_with_clear_errors(monkeypatch):
    monkeypatch.delenv("FILTER_EXPLORER_FEATURE_CACHE_GB", raising=False)
    assert caches.feature_cache_limit() == 20 * 2**30
    monkeypatch.setenv("FILTER_EXPLORER_FEATURE_CACHE_GB", "1.5")
    assert caches.feature_cache_limit() == int(1.5 * 2**30)
    monkeypatch.setenv("FILTER_EXPLORER_FEATURE_CACHE_GB", "0")
    assert caches.feature_cache_limit() is None
    for bad in ("abc", "-1", "nan", "inf"):
        monkeypatch.setenv("FILTER_EXPLORER_FEATURE_CACHE_GB", bad)
        with pytest.raises(UserError, match="FILTER_EXPLORER_FEATURE_CACHE_GB"):
            caches.feature_cache_limit()


def test_extraction_keeps_the_recently_used_files_within_the_cap(fe_home, monkeypatch):
    from app.data import load
    from app.models.spec import ModelSpec
    from app.probe import extract as ex
    from app.probe.config import ProbeConfig
    from app.probe.resolve import resolve
    from app.tasks import run_to_end

    ds = load("digits", "test")
    cfg = ProbeConfig(model=ModelSpec.make("simple", options={"widths": [4, 8], "in_channels": 1}, seed=0),
                      dataset="digits", layer=0, pooling="gap")
    record, model = resolve(cfg, ds)
    ispec = record.input

    def features(key: str):
        return run_to_end(ex.extract(model, ds.images, ispec, 0, "gap", key=key))

    first = features("a")
    size = first.path.stat().st_size
    monkeypatch.setenv("FILTER_EXPLORER_FEATURE_CACHE_GB", str(2.5 * size / 2**30))  # room for two files
    b = features("b")
    old = time.time() - 100
    os.utime(first.path, (old, old))  # "a" is the oldest file now ...
    os.utime(b.path, (old + 10, old + 10))
    hit = features("a")  # ... until a run reads it from the cache
    assert hit.cache_hit and hit.path == first.path
    c = features("c")  # a third file: the least recently used ("b") goes
    assert first.path.exists() and c.path.exists() and not b.path.exists()
    np.testing.assert_array_equal(np.asarray(features("a").array), np.asarray(first.array))
