"""Datasets as in-memory arrays.

``load(name, split, root=None) -> ArrayDataset``: images uint8 (N, H, W, C) (C = 1 or 3), labels int64 (N,),
class names. Names: ``digits`` (scikit-learn's 8x8 digits, embedded), ``mnist`` (IDX files under
``<root>/MNIST/raw``), ``imagefolder:PATH`` (class sub-folders, ``train/`` and ``test/`` when present). The probe
issue adds downloads and more formats (fashion-mnist, cifar10/100 binaries, stl10) in ``app.data.formats`` and
``app.data.download``.
"""

from __future__ import annotations

from app.data.core import ArrayDataset, DatasetError, load, names, normalisation

__all__ = ["ArrayDataset", "DatasetError", "load", "names", "normalisation"]
