"""Dataset formats: IDX, CIFAR binary/python, STL-10, archives, downloads from a local mirror, image folders,
the parsed-array cache, and clear errors for damaged files."""

from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pytest
from fixtures_data import (cifar10_binary_tar, cifar10_python_folder, cifar100_binary_tar, idx_files, idx_pair,
                           image_folder, md5, serve, stl10_tar)

from app.data import DatasetError, formats, load, names, remote, safe_pickle
from app.data.formats import NotDownloaded
from app.tasks import CancelToken, Cancelled, run_to_end


@pytest.fixture
def root(tmp_path, fe_home):
    r = tmp_path / "data"
    r.mkdir()
    return r


def write_idx(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for n, data in files.items():
        (folder / n).write_bytes(data)


def test_names_and_digits_embedded():
    assert {"digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "stl10"} <= set(names())
    ds = load("digits", "train")
    assert ds.images.dtype == np.uint8 and ds.images.shape[1:] == (8, 8, 1) and len(ds.classes) == 10
    assert remote.status("digits").local


def test_fashion_mnist_idx_gz_in_torchvision_layout_and_cache(root):
    write_idx(root / "FashionMNIST" / "raw", idx_files(20, 10))
    ds = load("fashion-mnist", "train", root)
    imgs, labels = idx_pair(20, 1)
    assert ds.images.shape == (20, 28, 28, 1)
    np.testing.assert_array_equal(ds.images[..., 0], imgs)
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.classes[0] == "T-shirt/top" and ds.mean == (0.2860,)
    assert len(load("fashion-mnist", "test", root)) == 10
    cached = list((formats.paths.cache_dir() / "datasets").glob("fashion-mnist-train-*.npz"))
    assert len(cached) == 1
    # the second load reads the cache, not the .gz files
    def no_parsing(path):
        raise AssertionError(f"parsed {path} again")

    with pytest.MonkeyPatch.context() as m:
        m.setattr(formats.core, "read_idx", no_parsing)
        again = load("fashion-mnist", "train", root)
    np.testing.assert_array_equal(again.images, ds.images)
    np.testing.assert_array_equal(again.labels, ds.labels)
    assert again.classes == ds.classes


def test_idx_wrong_magic_names_the_file(root):
    files = idx_files(20, 10)
    files["train-images-idx3-ubyte.gz"] = gzip.compress(b"\x12\x34\x08\x03" + b"\x00" * 100)
    write_idx(root / "MNIST" / "raw", files)
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.gz: wrong header \(magic 0x12340803"):
        load("mnist", "train", root)
    assert not list((formats.paths.cache_dir() / "datasets").glob("mnist-train-*"))


def test_idx_truncated_gz_names_the_file(root):
    files = idx_files(20, 10)
    files["t10k-labels-idx1-ubyte.gz"] = files["t10k-labels-idx1-ubyte.gz"][:-12]
    write_idx(root / "MNIST" / "raw", files)
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte.gz: cannot read"):
        load("mnist", "test", root)


def test_cifar10_binary_archive_and_unpacked_folder(root):
    data, expect = cifar10_binary_tar()
    (root / "cifar-10-binary.tar.gz").write_bytes(data)
    assert formats.locate("cifar10", root).kind == "archive"
    ds = load("cifar10", "train", root)
    np.testing.assert_array_equal(ds.images, expect["train"][0])
    np.testing.assert_array_equal(ds.labels, expect["train"][1])
    assert ds.classes[1] == "automobile" and ds.images.shape[1:] == (32, 32, 3)
    out = run_to_end(remote.unpack(root / "cifar-10-binary.tar.gz", root))
    assert out == root / "cifar-10-batches-bin" and not list(out.glob("*.part"))
    assert formats.locate("cifar10", root).kind == "cifar-bin"
    test = load("cifar10", "test", root)
    np.testing.assert_array_equal(test.images, expect["test"][0])


def test_cifar100_binary_uses_fine_labels(root):
    data, expect = cifar100_binary_tar()
    (root / "cifar-100-binary.tar.gz").write_bytes(data)
    run_to_end(remote.unpack(root / "cifar-100-binary.tar.gz", root))
    ds = load("cifar100", "train", root)
    np.testing.assert_array_equal(ds.labels, expect["train"][1])
    np.testing.assert_array_equal(ds.images, expect["train"][0])
    assert len(ds.classes) == 100 and ds.classes[3] == "fine3"


def test_cifar10_python_folder_via_safe_unpickler(root):
    expect = cifar10_python_folder(root)
    ds = load("cifar10", "train", root)
    np.testing.assert_array_equal(ds.images, expect["train"][0])
    np.testing.assert_array_equal(ds.labels, expect["train"][1])
    assert ds.classes == formats.CIFAR10_CLASSES


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_malicious_pickle_is_refused_not_executed(root):
    cifar10_python_folder(root)
    (root / "cifar-10-batches-py" / "data_batch_2").write_bytes(pickle.dumps({"data": _Evil(), "labels": []}))
    with pytest.raises(DatasetError, match=r"data_batch_2: not a valid CIFAR python batch .*forbidden global"):
        load("cifar10", "train", root)
    with pytest.raises(DatasetError, match="forbidden global builtins.eval"):
        safe_pickle.safe_unpickle(pickle.dumps(eval), "x")


def test_stl10_column_major_binary(root):
    data, expect = stl10_tar()
    (root / "stl10_binary.tar.gz").write_bytes(data)
    ds = load("stl10", "test", root)
    np.testing.assert_array_equal(ds.images, expect["test"][0])
    np.testing.assert_array_equal(ds.labels, expect["test"][1])
    assert ds.images.shape[1:] == (96, 96, 3) and ds.classes[2] == "car"


def test_truncated_archive_is_named_and_nothing_cached(root):
    data, _ = cifar10_binary_tar()
    (root / "cifar-10-binary.tar.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"cifar-10-binary.tar.gz: truncated or damaged archive"):
        load("cifar10", "train", root)
    with pytest.raises(DatasetError, match=r"cifar-10-binary.tar.gz: truncated or damaged archive"):
        run_to_end(remote.unpack(root / "cifar-10-binary.tar.gz", root))
    assert not list((root / "cifar-10-batches-bin").glob("*.part"))
    assert not list((root / "cifar-10-batches-bin").glob(".*.tmp"))  # no temporary left by the cut unpack
    assert not list((formats.paths.cache_dir() / "datasets").glob("cifar10-*"))


def test_truncated_cifar_batch_names_the_file(root):
    data, _ = cifar10_binary_tar()
    (root / "cifar-10-binary.tar.gz").write_bytes(data)
    run_to_end(remote.unpack(root / "cifar-10-binary.tar.gz", root))
    f = root / "cifar-10-batches-bin" / "data_batch_3.bin"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(DatasetError, match=r"data_batch_3.bin: truncated"):
        load("cifar10", "train", root)


def test_missing_dataset_says_how_to_download(root):
    with pytest.raises(NotDownloaded, match=r"cifar100 is not downloaded under .*data download cifar100"):
        load("cifar100", "test", root)
    assert not remote.status("cifar100", root).local


def test_cache_file_is_never_partial(root, monkeypatch):
    write_idx(root / "MNIST" / "raw", idx_files(20, 10))

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(np, "savez", broken_savez)
        ds = load("mnist", "train", root)  # the data loads; only the cache write failed
    assert len(ds) == 20 and "could not write the cache" in ds.notes[0]
    cache = formats.paths.cache_dir() / "datasets"
    assert list(cache.iterdir()) == []  # neither the final name nor a temporary file
    assert len(load("mnist", "train", root)) == 20
    # a damaged cache file is detected, removed and rebuilt
    (p,) = cache.glob("mnist-train-*.npz")
    p.write_bytes(b"garbage")
    assert len(load("mnist", "train", root)) == 20
    with np.load(p) as z:
        assert z["images"].shape == (20, 28, 28, 1)


# --- downloads from a local mirror ---------------------------------------------------------------------
def test_download_mnist_from_mirror_env_with_checksums(root, monkeypatch):
    files = idx_files(20, 10)
    with serve(files) as srv:
        monkeypatch.setenv(formats.MIRROR_ENV, srv.base)
        sums = {n: md5(d) for n, d in files.items()}
        seen = []
        out = run_to_end(remote.download("mnist", root, md5=sums), seen.append)
        assert {p for p, _ in srv.requests} == {"/" + n for n in files}
    assert out == root / "MNIST" / "raw"
    assert any("[4/4]" in p.message for p in seen)
    assert remote.status("mnist", root).local
    assert len(load("mnist", "train", root)) == 20


def test_download_checksum_mismatch_with_official_md5(root):
    files = idx_files(20, 10)
    with serve(files) as srv:  # fixture content does not match the official MD5s
        with pytest.raises(DatasetError, match=r"checksum mismatch: train-images-idx3-ubyte.gz: md5 mismatch "
                                               r"\(expected f68b3c2dcbeaaa9fbdd348bbdeb94873"):
            run_to_end(remote.download("mnist", root, mirror=srv.base))
    assert not (root / "MNIST").exists()  # nothing kept: neither the bad file nor the folders the download made


def test_download_cifar_archive_resume_then_unpack(root):
    data, expect = cifar10_binary_tar(per_batch=40, n_test=40)
    name = "cifar-10-binary.tar.gz"
    token = CancelToken()
    with serve({name: data}) as srv:
        gen = remote.download("cifar10", root, mirror=srv.base, md5={name: md5(data)}, cancel=token)
        with pytest.raises(Cancelled):
            for p in gen:
                if p.done > 20_000 and "downloading" in p.message:
                    token.cancel()
        assert (root / (name + ".part")).exists() and not (root / name).exists()
        out = run_to_end(remote.download("cifar10", root, mirror=srv.base, md5={name: md5(data)}))
        assert srv.requests[-1][1] is not None and srv.requests[-1][1].startswith("bytes=")
    assert out == root / "cifar-10-batches-bin"
    assert not (root / name).exists()  # archive removed after unpacking
    ds = load("cifar10", "test", root)
    np.testing.assert_array_equal(ds.images, expect["test"][0])
    # already there: no second download
    assert run_to_end(remote.download("cifar10", root, mirror="http://127.0.0.1:9/")) == out


# --- image folders --------------------------------------------------------------------------------------
def test_imagefolder_seeded_split_and_cache(tmp_path, fe_home):
    folder = image_folder(tmp_path / "imgs", per_class=10)
    tr = load(f"imagefolder:{folder}", "train")
    te = load(f"imagefolder:{folder}", "test")
    assert len(tr) + len(te) == 30 and len(te) == 6
    assert tr.classes == ("cat", "dog", "owl") and tr.images.shape[1:] == (16, 16, 3)
    assert set(np.bincount(te.labels)) == {2}
    assert len(list((fe_home / "cache" / "imagefolder").glob("*.npz"))) == 1
    again = load(f"imagefolder:{folder}", "train")
    np.testing.assert_array_equal(again.images, tr.images)


def test_imagefolder_train_test_folders(tmp_path, fe_home):
    folder = image_folder(tmp_path / "imgs", per_class=3, splits=True)
    assert len(load(f"imagefolder:{folder}", "train")) == 9
    assert len(load(f"imagefolder:{folder}", "test")) == 9


def test_imagefolder_corrupt_jpeg_skipped_and_named(tmp_path, fe_home):
    folder = image_folder(tmp_path / "imgs", per_class=4)
    (folder / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    seen = []
    ds = run_to_end(formats.load_task(f"imagefolder:{folder}", "train", test_fraction=0.25), seen.append)
    all_notes = " ".join(ds.notes)
    assert "dog/broken.jpg" in all_notes and "skipped" in all_notes
    assert len(ds) == 9
    assert seen and seen[-1].done == seen[-1].total


def test_imagefolder_errors(tmp_path, fe_home):
    with pytest.raises(DatasetError, match="not a folder"):
        load(f"imagefolder:{tmp_path / 'nope'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no class sub-folders"):
        load(f"imagefolder:{tmp_path / 'empty'}")
    (tmp_path / "bad" / "a").mkdir(parents=True)
    (tmp_path / "bad" / "a" / "x.png").write_bytes(b"nope")
    with pytest.raises(DatasetError, match="none of 1 files could be read"):
        load(f"imagefolder:{tmp_path / 'bad'}")


def test_imagefolder_cancel(tmp_path, fe_home):
    folder = image_folder(tmp_path / "imgs", per_class=4)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_to_end(formats.load_task(f"imagefolder:{folder}", "train", cancel=token))
    assert not list((fe_home / "cache").rglob("*.npz"))


def test_shared_mnist_loads(shared, fe_home):
    shared("datasets", "MNIST", "raw", "t10k-images-idx3-ubyte.gz")
    ds = load("mnist", "test", shared("datasets"))
    assert len(ds) == 10000 and ds.images.shape[1:] == (28, 28, 1)
    assert np.bincount(ds.labels).tolist()[:2] == [980, 1135]


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("FILTER_EXPLORER_SLOW_TESTS"),
                    reason="decodes 60k JPEGs (about 30 s on 2 cores); set FILTER_EXPLORER_SLOW_TESTS=1")
def test_shared_cifar_jpeg_imagefolder(cifar_jpeg_root, fe_home):
    import time

    t0 = time.perf_counter()
    ds = load(f"imagefolder:{cifar_jpeg_root}", "train")
    t1 = time.perf_counter()
    again = load(f"imagefolder:{cifar_jpeg_root}", "train")
    t2 = time.perf_counter()
    print(f"\ncifar10-jpg train: decode {t1 - t0:.1f} s, cached {t2 - t1:.2f} s")
    assert len(ds) == 50000 and ds.images.shape[1:] == (32, 32, 3)
    assert np.bincount(ds.labels).tolist() == [5000] * 10
    assert ds.classes[0] == "airplane" and not ds.notes
    assert len(again) == 50000
    assert len(load(f"imagefolder:{cifar_jpeg_root}", "test")) == 10000


def test_cifar_python_archives_read_in_place(root, tmp_path):
    import tarfile

    staging = tmp_path / "staging"
    expect = cifar10_python_folder(staging)
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tf:
        tf.add(staging / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    assert formats.locate("cifar10", root).kind == "archive"
    ds = load("cifar10", "test", root)
    np.testing.assert_array_equal(ds.images, expect["test"][0])
    np.testing.assert_array_equal(ds.labels, expect["test"][1])


def test_cifar100_python_folder_fine_labels_and_meta(root):
    folder = root / "cifar-100-python"
    folder.mkdir()
    imgs = np.random.default_rng(5).integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    fine = [3, 99, 0, 50, 7, 7, 1]
    for split in ("train", "test"):
        d = {"data": imgs.transpose(0, 3, 1, 2).reshape(7, -1).copy(), "fine_labels": fine,
             "coarse_labels": [f % 20 for f in fine], "filenames": ["x"] * 7}
        (folder / split).write_bytes(pickle.dumps(d, protocol=2))
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"n{i}" for i in range(100)],
                                                "coarse_label_names": [f"c{i}" for i in range(20)]}))
    ds = load("cifar100", "train", root)
    np.testing.assert_array_equal(ds.labels, fine)
    np.testing.assert_array_equal(ds.images, imgs)
    assert ds.classes[99] == "n99" and ds.mean[0] == pytest.approx(0.5071)


def test_stl10_download_unpacks_labelled_part_only(root):
    data, expect = stl10_tar(unlabeled=3)
    with serve({"stl10_binary.tar.gz": data}) as srv:
        out = run_to_end(remote.download("stl10", root, mirror=srv.base, md5={"stl10_binary.tar.gz": md5(data)}))
    assert sorted(p.name for p in out.iterdir()) == ["class_names.txt", "test_X.bin", "test_y.bin", "train_X.bin",
                                                    "train_y.bin"]
    ds = load("stl10", "train", root)
    np.testing.assert_array_equal(ds.images, expect["train"][0])
    assert formats.locate("stl10", root).kind == "stl-bin"


def test_missing_names_a_builtin_without_a_local_copy_and_nothing_else(tmp_path):
    from app.data.formats import missing

    assert missing("mnist", tmp_path).startswith(f"mnist is not downloaded under {tmp_path}")
    assert "python main.py data download mnist" in missing("mnist", tmp_path)
    assert missing("cifar10", tmp_path).startswith("cifar10 is not downloaded")
    assert missing("digits", tmp_path) is None and missing(f"imagefolder:{tmp_path}", tmp_path) is None
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    assert "incomplete" in missing("mnist", tmp_path)  # a half download is not a copy
    for f in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / "MNIST" / "raw" / f"{f}.gz").write_bytes(b"")
    assert missing("mnist", tmp_path) is None
