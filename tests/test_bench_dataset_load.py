"""``bench dataset-load``: its "first load" read the user's parsed cache whenever the dataset had been loaded before
(an audit: "first load 0.01 s" for MNIST test, 0.04 s from a fresh home). The first load is now a cold one (the
caches of a temporary home), the second reads the cache the first wrote; the user's caches are left as they were."""

from __future__ import annotations

import os

from app import paths


def test_the_first_load_is_cold_and_the_users_cache_is_untouched(tmp_path, fe_home, capsys, monkeypatch):
    from app.cli import run
    from app.data import formats

    calls = []
    parse = formats._parse

    def spy(*a, **k):
        calls.append(a[0])
        return (yield from parse(*a, **k))

    from tests.fixtures_data import idx_files  # a tiny MNIST in its official files

    root = tmp_path / "data"
    (root / "MNIST" / "raw").mkdir(parents=True)
    for name, data in idx_files().items():
        (root / "MNIST" / "raw" / name).write_bytes(data)
    monkeypatch.setattr(formats, "_parse", spy)
    formats.load("mnist", "test", str(root))  # the user's own cache now holds MNIST test
    before = sorted(p.name for p in (paths.cache_dir() / "datasets").iterdir())
    calls.clear()
    assert run(["bench", "dataset-load", "mnist", "--split", "test", "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert calls == ["mnist"]  # parsed once (cold), then read from the cache it wrote
    assert "first load" in out and "(parse/decode, caches empty)" in out and "from the cache it wrote" in out
    assert sorted(p.name for p in (paths.cache_dir() / "datasets").iterdir()) == before
    assert os.environ["FILTER_EXPLORER_HOME"] == str(fe_home)  # the home is the user's again


def test_a_source_read_without_a_cache_is_not_said_to_come_from_one(tmp_path, fe_home, capsys):
    """Plain (uncompressed) IDX files are read without a decode cache: the second load read the files again, and
    the line said "from the cache it wrote"."""
    import gzip

    from app.cli import run
    from tests.fixtures_data import idx_files

    root = tmp_path / "data"
    (root / "MNIST" / "raw").mkdir(parents=True)
    for name, data in idx_files().items():
        (root / "MNIST" / "raw" / name.removesuffix(".gz")).write_bytes(gzip.decompress(data))
    assert run(["bench", "dataset-load", "mnist", "--split", "test", "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "no cache written: read again from the source" in out and "from the cache it wrote" not in out
