"""The default data folder, given explicitly (a resolved probe record stores it absolute), still finds MNIST in
../shared where the project's machines have it."""

from __future__ import annotations

import pytest

from app import paths
from app.data import formats


def test_the_default_root_spelled_out_falls_back_to_shared_mnist():
    if paths.shared_dir() is None or not (paths.shared_dir() / "datasets" / "MNIST").is_dir():
        pytest.skip("../shared/datasets/MNIST is absent (it exists on the project's machines only)")
    a = formats.locate("mnist", None)
    b = formats.locate("mnist", str(paths.data_root().resolve()))
    assert a is not None and b is not None and a.path == b.path


def test_another_root_does_not_fall_back(tmp_path):
    assert formats.locate("mnist", tmp_path) is None
