"""The embedded digits: read from the data file scikit-learn ships, without importing scikit-learn (its import in a
worker thread starves the GUI thread of the interpreter lock: issue 14), and the same pixels and labels as its own
loader; the loader is still the fallback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from app.data import core

ROOT = Path(__file__).resolve().parent.parent


def test_the_table_is_scikit_learns_digits():
    from sklearn.datasets import load_digits

    pixels, target = core._digits_table()
    ref = load_digits()
    assert pixels.shape == (1797, 64)
    np.testing.assert_array_equal(pixels, ref.data)
    np.testing.assert_array_equal(target.astype(int), ref.target)


def test_the_images_are_the_pixels_scaled_to_bytes(fe_home):
    from sklearn.datasets import load_digits

    imgs, labels = core._digits_arrays()
    ref = load_digits()
    want = np.clip(ref.images * (255.0 / 16.0), 0, 255).astype(np.uint8)[..., None]
    np.testing.assert_array_equal(imgs, want)
    np.testing.assert_array_equal(labels, ref.target)
    assert imgs[0, 0, 2, 0] == int(5 * 255 / 16) == 79  # the first digit's third pixel is 5 of 16


def test_without_the_file_scikit_learns_loader_gives_the_same(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    pixels, target = core._digits_table()
    monkeypatch.undo()
    np.testing.assert_array_equal(pixels, core._digits_table()[0])
    np.testing.assert_array_equal(target, core._digits_table()[1])


def test_loading_the_digits_does_not_import_scikit_learn(tmp_path):
    code = ("import sys; from app.data import load; ds = load('digits', 'train'); "
            "print(len(ds), 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "FILTER_EXPLORER_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1347", "False"]
