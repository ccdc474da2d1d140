"""Decoded-dataset caches are keyed by content and absolute path (issue 15: never a wrong answer)."""

from __future__ import annotations

import os
import pickle

import numpy as np

from app.data import formats
from app.data.formats import load
from fixtures_data import cifar_images


def _flat_folder(root, value: int, mtime_ns: int):
    """Two classes x 3 BMP images (uncompressed: the file size does not depend on the pixels), all ``value``."""
    import cv2

    for c in ("a", "b"):
        (root / c).mkdir(parents=True, exist_ok=True)
        for k in range(3):
            p = root / c / f"{k}.bmp"
            cv2.imwrite(str(p), np.full((8, 8, 3), value, np.uint8))
            os.utime(p, ns=(mtime_ns, mtime_ns))
    return root


def test_two_folders_called_data_with_same_names_sizes_and_times_read_as_themselves(tmp_path, fe_home):
    t = 1_700_000_000_000_000_000  # the same second (and nanosecond) for every file of both folders
    white = _flat_folder(tmp_path / "one" / "data", 255, t)
    black = _flat_folder(tmp_path / "two" / "data", 0, t)
    sizes = sorted(p.stat().st_size for p in white.rglob("*.bmp"))
    assert sizes == sorted(p.stat().st_size for p in black.rglob("*.bmp"))
    w = load(f"imagefolder:{white}", "train", test_fraction=0.5)
    b = load(f"imagefolder:{black}", "train", test_fraction=0.5)
    assert int(w.images.min()) == 255
    assert int(b.images.max()) == 0
    # and again, both from their caches: two cache files, one per folder
    assert int(load(f"imagefolder:{white}", "train", test_fraction=0.5).images.min()) == 255
    assert int(load(f"imagefolder:{black}", "train", test_fraction=0.5).images.max()) == 0
    assert len(list((fe_home / "cache" / "imagefolder").glob("data-*.npz"))) == 2


def test_a_file_rewritten_in_place_with_its_old_size_and_mtime_is_seen(tmp_path, fe_home):
    import cv2

    t = 1_700_000_000_000_000_000
    folder = _flat_folder(tmp_path / "data", 255, t)
    assert int(load(f"imagefolder:{folder}", "train", test_fraction=0.5).images.min()) == 255
    for p in folder.rglob("*.bmp"):
        cv2.imwrite(str(p), np.zeros((8, 8, 3), np.uint8))
        os.utime(p, ns=(t, t))  # same size, same mtime: only the content (and ctime) changed
    again = load(f"imagefolder:{folder}", "train", test_fraction=0.5)
    assert int(again.images.max()) == 0
    assert len(list((fe_home / "cache" / "imagefolder").glob("*.npz"))) == 1  # the stale entry was replaced


def _cifar_py(root, seed: int, mtime_ns: int):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i, fname in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        imgs = cifar_images(2, seed + i)
        d = {"labels": [1, 2], "data": imgs.transpose(0, 3, 1, 2).reshape(2, -1).copy()}
        (folder / fname).write_bytes(pickle.dumps(d, protocol=4))
        os.utime(folder / fname, ns=(mtime_ns, mtime_ns))
    return root


def test_builtin_cache_two_roots_same_names_sizes_times_read_as_themselves(tmp_path, fe_home):
    t = 1_700_000_000_000_000_000
    r1 = _cifar_py(tmp_path / "one" / "data", 1, t)
    r2 = _cifar_py(tmp_path / "two" / "data", 50, t)
    a = load("cifar10", "test", r1)
    b = load("cifar10", "test", r2)
    assert np.array_equal(a.images[0], cifar_images(2, 1 + 5)[0])
    assert np.array_equal(b.images[0], cifar_images(2, 50 + 5)[0])
    assert not np.array_equal(load("cifar10", "test", r1).images, load("cifar10", "test", r2).images)
    names = [p.name for p in (fe_home / "cache" / "datasets").glob("cifar10-test-*.npz")]
    assert len(names) == 2 and len({n.split("-")[2] for n in names}) == 2  # a digest of each absolute path


def test_builtin_cache_sees_a_rewrite_with_the_same_size_and_mtime(tmp_path, fe_home):
    t = 1_700_000_000_000_000_000
    root = _cifar_py(tmp_path / "data", 1, t)
    first = load("cifar10", "test", root)
    p = root / "cifar-10-batches-py" / "test_batch"
    imgs = cifar_images(2, 99)
    data = pickle.dumps({"labels": [1, 2], "data": imgs.transpose(0, 3, 1, 2).reshape(2, -1).copy()}, protocol=4)
    assert len(data) == p.stat().st_size
    p.write_bytes(data)
    os.utime(p, ns=(t, t))
    second = load("cifar10", "test", root)
    assert np.array_equal(second.images[0], imgs[0]) and not np.array_equal(first.images, second.images)
    assert formats.locate("cifar10", root).kind == "cifar-py"


def test_dataset_fingerprint_follows_the_content_not_the_name():
    from app.data import ArrayDataset

    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (6, 4, 4, 1), np.uint8)
    labels = np.arange(6) % 2
    a = ArrayDataset("imagefolder:/x/data", "test", imgs, labels, ("a", "b"))
    same = ArrayDataset("imagefolder:/x/data", "test", imgs.copy(), labels.copy(), ("a", "b"))
    swapped = ArrayDataset("imagefolder:/x/data", "test", imgs, 1 - labels, ("a", "b"))  # two classes swapped
    edited = imgs.copy()
    edited[3, 0, 0, 0] ^= 1
    assert a.fingerprint == same.fingerprint and len(a.fingerprint) == 16
    assert swapped.fingerprint != a.fingerprint
    assert ArrayDataset("n", "test", edited, labels, ("a", "b")).fingerprint != \
        ArrayDataset("n", "test", imgs, labels, ("a", "b")).fingerprint
