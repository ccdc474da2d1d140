"""``widgets.common.feature_scan``: PySide6's scan of each module imported after it gives the same answers without
``inspect.getsource`` (which kept every imported file's lines in ``linecache``: 825 files, 16.7 MB after torch)."""

from __future__ import annotations

import importlib
import linecache
import sys

import pytest


def _feature():
    import PySide6.QtCore  # noqa: F401

    feature = sys.modules.get("shibokensupport.feature")
    if feature is None or not hasattr(feature, "_mod_uses_pyside"):
        pytest.skip("this PySide6 has no feature scan")
    return feature


def test_the_same_answers_as_pysides_own_scan():
    from widgets.common import feature_scan

    feature = _feature()
    assert feature_scan.install() and feature._mod_uses_pyside is feature_scan.uses_pyside
    original = feature_scan._original
    assert original is not None and original is not feature_scan.uses_pyside
    mods = [m for name, m in sorted(sys.modules.items())
            if m is not None and isinstance(getattr(m, "__file__", None), str)][:400]
    mods += [sys, importlib]  # built in / frozen: PySide6's own function answers
    answers = [(m.__name__, feature_scan.uses_pyside(m)) for m in mods]
    assert answers == [(m.__name__, bool(original(m))) for m in mods]
    assert any(a for _, a in answers) and not all(a for _, a in answers)  # both answers occur
    assert feature_scan.install() and feature_scan._original is original  # a second install changes nothing


def test_modules_imported_later_are_scanned_from_their_bytes(tmp_path, monkeypatch):
    from widgets.common import feature_scan

    feature = _feature()
    feature_scan.install()
    (tmp_path / "fe_scan_uses.py").write_text("# needs PySide6\nX = 1\n")
    (tmp_path / "fe_scan_plain.py").write_text("Y = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        for name in ("fe_scan_uses", "fe_scan_plain"):
            # what PySide6's import hook calls after each import (the hook itself is PySide6's business)
            feature.feature_imported(importlib.import_module(name))
        assert feature.pyside_feature_dict["fe_scan_uses"] == 0  # "uses PySide6": features switchable
        assert feature.pyside_feature_dict["fe_scan_plain"] == -1  # ignored
        assert not [f for f in linecache.cache if "fe_scan_" in f]  # nothing kept
    finally:
        for name in ("fe_scan_uses", "fe_scan_plain"):
            sys.modules.pop(name, None)
            feature.pyside_feature_dict.pop(name, None)
