"""Bad dataset inputs (issue 15): declared sizes bounded before allocation, and a clear message for each."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import zlib

import numpy as np
import pytest
from fixtures_data import idx_bytes, image_folder

from app.cli import run
from app.data import DatasetError, formats, limits
from app.data.download import check_url, fetch
from app.data.formats import load
from app.data.imagesize import decode_image, header_size
from app.errors import AppError, LimitError
from app.tasks import run_to_end


def _png_header(w: int, h: int) -> bytes:
    """A PNG whose IHDR declares w x h (a real bomb of 20000x20000 is 389 KB; the header is what is checked)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    idat = zlib.compress(b"\0" * 1000)
    chunk += struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    return b"\x89PNG\r\n\x1a\n" + chunk + b"\0\0\0\0IEND\xaeB`\x82"


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".tif", ".webp", ".ppm", ".pgm"])
def test_header_size_reads_what_the_decoder_would_produce(ext):
    import cv2

    img = np.random.default_rng(0).integers(0, 255, (37, 53, 3), np.uint8)
    ok, buf = cv2.imencode(ext, img[..., :1] if ext == ".pgm" else img)
    assert ok and header_size(buf.tobytes()) == (53, 37)


def test_a_20000x20000_png_is_refused_from_its_header_before_decoding(monkeypatch):
    buf = np.frombuffer(_png_header(20000, 20000), np.uint8)
    assert header_size(buf) == (20000, 20000)
    with pytest.raises(LimitError, match=r"bomb.png: 20000x20000 = 400,000,000 pixels is over the image limit of "
                                         r"64,000,000 pixels.*FILTER_EXPLORER_LIMITS=off"):
        decode_image(buf, "bomb.png")
    with pytest.raises(LimitError, match="limit of 100 pixels"):
        decode_image(np.frombuffer(_png_header(20, 20), np.uint8), "small.png", max_pixels=100)
    monkeypatch.setenv(limits.LIMITS_ENV, "off")  # the user means it: the decoder decides (this one is fake)
    assert decode_image(np.frombuffer(_png_header(20, 20), np.uint8), "small.png", max_pixels=100) is None


def test_image_folder_skips_and_names_a_bomb_a_dangling_link_a_loop_and_a_non_utf8_name(tmp_path, fe_home):
    folder = image_folder(tmp_path / "pics", classes=("a", "b"), per_class=4)
    (folder / "a" / "bomb.png").write_bytes(_png_header(20000, 20000))
    os.symlink(folder / "nowhere.png", folder / "a" / "dangling.png")
    os.symlink(folder / "b" / "self.png", folder / "b" / "self.png")  # a symlink loop
    os.symlink(folder / "b", folder / "b" / "again")  # a folder loop
    with open(os.path.join(os.fsencode(folder / "b"), b"caf\xe9.png"), "wb") as f:  # Latin-1, not UTF-8
        f.write((folder / "b" / "000.png").read_bytes())
    ds = load(f"imagefolder:{folder}", "train", test_fraction=0.25)
    assert len(ds) == 6  # the 8 good images, 6 in the training split
    notes = "\n".join(ds.notes)
    assert "a/bomb.png: 20000x20000 = 400,000,000 pixels is over the image limit" in notes
    assert "a/dangling.png: a dangling symlink, skipped" in notes
    assert "b/self.png: a symlink loop, skipped" in notes
    assert "b/again: a folder already read (a symlink to it, or a loop), skipped" in notes
    assert "b/caf\ufffd.png: the file name is not valid UTF-8, skipped" in notes
    assert run(["data", "info", f"imagefolder:{folder}"]) == 0  # prints every note without an encoding error


def _idx_gz(folder, stem: str, raw: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / (stem + ".gz")).write_bytes(gzip.compress(raw, mtime=0))


def _mnist(root, images: np.ndarray, labels: np.ndarray) -> None:
    folder = root / "MNIST" / "raw"
    for split, (im, lb) in {"train": (images, labels), "test": (images, labels)}.items():
        prefix = "train" if split == "train" else "t10k"
        _idx_gz(folder, f"{prefix}-images-idx3-ubyte", idx_bytes(im))
        _idx_gz(folder, f"{prefix}-labels-idx1-ubyte", idx_bytes(lb))


def test_idx_headers_that_overflow_or_exceed_the_limit_are_refused_before_reading(tmp_path, fe_home):
    folder = tmp_path / "MNIST" / "raw"
    head = struct.pack(">HBB", 0, 8, 3) + struct.pack(">III", 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    _idx_gz(folder, "train-images-idx3-ubyte", head + b"\0" * 100)
    _idx_gz(folder, "train-labels-idx1-ubyte", idx_bytes(np.zeros(2, np.uint8)))
    with pytest.raises(LimitError, match=r"train-images-idx3-ubyte.gz: the declared shape \(4294967295, "
                                         r"4294967295, 4294967295\) takes .* over the limit"):
        load("mnist", "train", tmp_path)
    head = struct.pack(">HBB", 0, 8, 3) + struct.pack(">III", 1000, 28, 28)  # fits the limit, 100 bytes of data
    _idx_gz(folder, "train-images-idx3-ubyte", head + b"\0" * 100)
    with pytest.raises(DatasetError, match=r"truncated: header says \(1000, 28, 28\) = 784,000 bytes of data, "
                                           r"file has 100"):
        load("mnist", "train", tmp_path)


def test_mnist_labels_out_of_range_are_an_error_naming_the_file(tmp_path, fe_home, capsys):
    _mnist(tmp_path, np.zeros((3, 28, 28), np.uint8), np.array([1, 12, 200], np.uint8))
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte: 2 label\(s\) outside 0..9 \(the first at "
                                           r"index 1: 12\)"):
        load("mnist", "train", tmp_path)
    assert run(["data", "info", "mnist", "--data-root", str(tmp_path)]) == 2
    assert "error: train-labels-idx1-ubyte: 2 label(s) outside 0..9" in capsys.readouterr().err


def test_a_dataset_with_no_images_is_an_error(tmp_path, fe_home):
    _mnist(tmp_path, np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8))
    with pytest.raises(DatasetError, match="mnist train under .* holds no images"):
        load("mnist", "train", tmp_path)


def _cifar_py(root, batch: dict) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))


class _Bomb:
    """Pickles as numpy.ndarray((300000, 3072), 'u1'): 900 MB of uninitialised memory from 81 bytes."""

    def __reduce__(self):
        return np.ndarray, ((300000, 3072), "u1")


def test_cifar_pickles_cannot_declare_arrays_they_do_not_hold(tmp_path, fe_home):
    _cifar_py(tmp_path / "a", {"data": _Bomb(), "labels": [0]})
    with pytest.raises(DatasetError, match="numpy.ndarray may not be called directly"):
        load("cifar10", "test", tmp_path / "a")
    # numpy's own constructor with a declared shape (its pickles only ever use (0,))
    from numpy._core.multiarray import _reconstruct

    class Declared:
        def __reduce__(self):
            return _reconstruct, (np.ndarray, (300000, 3072), b"B")

    _cifar_py(tmp_path / "b", {"data": Declared(), "labels": [0]})
    with pytest.raises(LimitError, match=r"test_batch: an array in the pickle: the declared shape \(300000, 3072\)"):
        load("cifar10", "test", tmp_path / "b")


def test_cifar_batches_over_the_image_limit_and_labels_of_the_wrong_type_or_size(tmp_path, fe_home, monkeypatch):
    data = np.zeros((4, 3072), np.uint8)
    _cifar_py(tmp_path / "a", {"data": data, "labels": [0, 1, 2, 3]})
    monkeypatch.setattr(limits, "MAX_BATCH_IMAGES", 3)
    with pytest.raises(LimitError, match=r"test_batch: 'data': 4 images is over the limit of 3 images"):
        load("cifar10", "test", tmp_path / "a")
    monkeypatch.setenv(limits.LIMITS_ENV, "off")
    assert len(load("cifar10", "test", tmp_path / "a")) == 4
    monkeypatch.delenv(limits.LIMITS_ENV)
    monkeypatch.setattr(limits, "MAX_BATCH_IMAGES", 100_000)
    for i, (labels, msg) in enumerate([
            (["a", "b", "c", "d"], r"the labels must be a list of integers \(got list\)"),
            (np.zeros(4, np.float32), r"the labels must be a list of integers \(got ndarray of float32\)"),
            ([0, 1], r"4 images but 2 labels"),
            ([0, 1, 2, 10], r"labels outside 0..9")]):
        _cifar_py(tmp_path / str(i), {"data": data, "labels": labels})
        with pytest.raises(DatasetError, match=msg):
            load("cifar10", "test", tmp_path / str(i))


def test_download_urls_are_checked(tmp_path, capsys):
    with pytest.raises(DatasetError, match=r"'notaurl' is not a download address: expected http://HOST/"):
        run_to_end(fetch("notaurl", tmp_path / "x.bin"))
    for bad in ("file:///etc/passwd", "http://", "ftp://example.org/x", "http://[::1"):
        with pytest.raises(DatasetError):
            check_url(bad)
    assert check_url(" https://example.org/a.bin ") == "https://example.org/a.bin"
    assert run(["weights", "download", "resnet20-cifar10", "--url", "notaurl"]) == 2
    assert "'notaurl' is not a download address" in capsys.readouterr().err


def test_cache_commands_show_and_clear_every_cache_with_sizes(tmp_path, fe_home, capsys):
    folder = image_folder(tmp_path / "pics", per_class=3)
    assert run(["data", "info", f"imagefolder:{folder}"]) == 0
    feats = fe_home / "cache" / "features"
    feats.mkdir(parents=True)
    (feats / "abc.npy").write_bytes(b"\0" * 2048)
    dead = 4_194_305  # above Linux's largest pid: no such process
    (feats / f".abc.npy.{dead}.x1y2.tmp").write_bytes(b"\0" * 1024)  # a killed extraction's temporary
    capsys.readouterr()
    assert run(["data", "cache"]) == 0
    out = capsys.readouterr().out
    rows = {ln.split()[0]: ln for ln in out.splitlines()}
    assert "1 file(s)" in rows["features"] and "2.0 KB" in rows["features"]
    assert "1 stale temporary (1.0 KB)" in rows["features"]
    assert "2 file(s)" in rows["imagefolder"] and "0 file(s)" in rows["datasets"]  # arrays + common size
    assert rows["cap"].startswith("cap of the features cache: 20.0 GB, the least recently used removed first")
    assert run(["data", "clear-cache", "--list"]) == 0 and capsys.readouterr().out == out  # lists, deletes nothing
    assert run(["data", "clear-cache", "features"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "removed 2 cache file(s), 3.0 KB"
    assert not list(feats.iterdir()) and list((fe_home / "cache" / "imagefolder").glob("*.npz"))
    assert run(["data", "clear-cache"]) == 0
    assert not list((fe_home / "cache" / "imagefolder").glob("*.npz"))
    assert run(["data", "clear-cache", "nope"]) == 2


def test_root_and_data_root_are_one_option(tmp_path, fe_home, capsys):
    assert run(["data", "list", "--root", str(tmp_path)]) == 0
    a = capsys.readouterr().out
    assert run(["data", "list", "--data-root", str(tmp_path)]) == 0
    assert capsys.readouterr().out == a


def test_every_refusal_is_an_app_error():
    assert issubclass(LimitError, AppError) and issubclass(DatasetError, AppError)
    assert formats.NotDownloaded.__mro__[1] is DatasetError
