"""Audit B's dataset findings (session 31): image headers past the first 64 KiB gave the splits different sizes (1),
EXIF-rotated photos were squashed (2), lifting the pixel limit served the cached skip (3), a test folder that is the
training folder went unnoticed (4), images added in a nested folder kept a folder's signature (5), a class with no
readable image passed the two-class guard (6), "Download again" could not repair a decompressed MNIST file (7), notes
on the folder's layout were frozen in the cache (8), a test split carried its own statistics (9).

Core only (no QApplication); tiny files written in tmp_path, no network."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from app.data import DatasetError, limits
from app.data.core import ArrayDataset, class_problem
from app.data.imagefolder import load_imagefolder
from app.data.imagesize import decode_image, file_header, header_size


# --- helpers --------------------------------------------------------------------------------------------------
def _cv2():
    import cv2

    return cv2


def _png(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert _cv2().imwrite(str(path), img)


def _jpeg_big_app(img: np.ndarray, segments: int = 2) -> bytes:
    """A JPEG whose frame header lies after ``segments`` APP2 segments of ~40 KB (an ICC profile, MPF or maker notes
    from a camera): past the first 64 KiB for two of them."""
    b = _cv2().imencode(".jpg", img)[1].tobytes()
    seg = b"\xff\xe2" + struct.pack(">H", 40000) + b"ICC_PROFILE\x00" + bytes(40000 - 2 - 12)
    return b[:2] + seg * segments + b[2:]


def _exif_jpeg(img_rgb: np.ndarray, orientation: int) -> bytes:
    """A JPEG of ``img_rgb`` as stored, with an EXIF APP1 segment holding only the orientation tag."""
    tiff = (b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
            + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0))
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    ok, buf = _cv2().imencode(".jpg", img_rgb[..., ::-1].copy(), [_cv2().IMWRITE_JPEG_QUALITY, 100])
    b = buf.tobytes()
    return b[:2] + app1 + b[2:]


def _pgm_long_comment(img: np.ndarray) -> bytes:
    """A binary PGM whose comment pushes its width and height past what ``header_size`` reads (512 bytes): a header
    no size can be read from, an image OpenCV decodes."""
    h, w = img.shape[:2]
    return b"P5\n#" + b"x" * 600 + f"\n{w} {h}\n255\n".encode() + img.astype(np.uint8).tobytes()


def _rng_img(rng, h, w):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


# --- 1: headers wherever they lie; the test split takes the training split's size ---------------------------------
def test_file_header_finds_a_jpeg_frame_past_64_kib_and_a_tiff_ifd_at_the_end(tmp_path):
    rng = np.random.default_rng(0)
    jpg = _jpeg_big_app(_rng_img(rng, 24, 40))
    assert len(jpg) > 65536 and header_size(jpg[:65536]) is None  # what the first 64 KiB held: no size
    (tmp_path / "big.jpg").write_bytes(jpg)
    with open(tmp_path / "big.jpg", "rb") as f:
        head = file_header(f)
    assert header_size(head) == (40, 24) and len(head) < 4096  # the segments skipped, not read
    tif = _cv2().imencode(".tiff", _rng_img(rng, 160, 150))[1].tobytes()  # libtiff puts the IFD at the end
    (off,) = struct.unpack("<I", tif[4:8])
    assert off > 65536 and header_size(tif[:65536]) is None
    (tmp_path / "big.tif").write_bytes(tif)
    with open(tmp_path / "big.tif", "rb") as f:
        assert header_size(file_header(f)) == (150, 160)


def test_jpegs_with_large_app_segments_give_both_splits_the_training_images_most_common_size(tmp_path, fe_home):
    rng = np.random.default_rng(1)
    root = tmp_path / "bigapp"
    # train: 1 of 8x8 (sorts first) and 3 of 12x12 per class; test: the opposite mix
    for split, sizes in (("train", [8, 12, 12, 12]), ("test", [12, 8, 8, 8])):
        for c in ("a", "b"):
            (root / split / c).mkdir(parents=True)
            for i, s in enumerate(sizes):
                (root / split / c / f"{i}.jpg").write_bytes(_jpeg_big_app(_rng_img(rng, s, s)))
    train, test = load_imagefolder(root, "train"), load_imagefolder(root, "test")
    assert train.images.shape == (8, 12, 12, 3) and test.images.shape == (8, 12, 12, 3)  # were 8x8 and 12x12
    assert "2 of 8 images resized to 12x12 (HxW), the training images' most common size" in train.notes
    assert "6 of 8 images resized to 12x12 (HxW), the training images' most common size" in test.notes


def test_tiffs_with_their_ifd_at_the_end_give_both_splits_the_training_images_most_common_size(tmp_path, fe_home):
    rng = np.random.default_rng(2)
    root = tmp_path / "tif"
    for split, sizes in (("train", [150, 160, 160]), ("test", [160, 150, 150])):
        for c in ("a", "b"):
            for i, s in enumerate(sizes):
                _png(root / split / c / f"{i}.tif", _rng_img(rng, s, s))
    train, test = load_imagefolder(root, "train"), load_imagefolder(root, "test")
    assert train.images.shape[1:3] == test.images.shape[1:3] == (160, 160)  # were 150x150 and 160x160
    assert "4 of 6 images resized to 160x160 (HxW), the training images' most common size" in test.notes


def test_without_any_readable_header_the_test_split_takes_the_training_splits_size_and_says_so(tmp_path, fe_home):
    rng = np.random.default_rng(3)
    root = tmp_path / "pgm"
    for split, sizes in (("train", [6, 10, 10]), ("test", [10, 6, 6])):
        for c in ("a", "b"):
            (root / split / c).mkdir(parents=True)
            for i, s in enumerate(sizes):
                (root / split / c / f"{i}.pgm").write_bytes(_pgm_long_comment(rng.integers(0, 256, (s, s))))
    test = load_imagefolder(root, "test")  # the test split first: nothing of train/ cached yet
    train = load_imagefolder(root, "train")
    assert train.images.shape[1:3] == (6, 6)  # the first readable training image's size
    assert test.images.shape[1:3] == (6, 6)  # never the test split's own first image's (10x10)
    why = "the first readable training image's size (no training image's header declares one)"
    assert f"4 of 6 images resized to 6x6 (HxW), {why}" in train.notes
    assert f"2 of 6 images resized to 6x6 (HxW), {why}" in test.notes
    assert not any("most common" in n for n in train.notes + test.notes)


# --- 2: EXIF orientation ignored, as torchvision's loader and the header do --------------------------------------
def test_exif_rotated_jpegs_keep_their_stored_geometry_and_are_not_squashed(tmp_path, fe_home):
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :20] = (255, 0, 0)  # left half red, right half blue
    img[:, 20:] = (0, 0, 255)
    data = _exif_jpeg(img, 6)  # a phone's portrait photo: stored 40 wide, 20 high, "rotate 90" in EXIF
    assert decode_image(np.frombuffer(data, np.uint8), "x.jpg").shape == (20, 40, 3)
    assert decode_image(np.frombuffer(data, np.uint8), "x.jpg", grey=True).shape == (20, 40, 1)
    root = tmp_path / "phone"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(5):
            (root / c / f"{i}.jpg").write_bytes(data)
    (root / "a" / "plain.jpg").write_bytes(_exif_jpeg(img, 1))
    ds = load_imagefolder(root, "train", test_fraction=0.2)
    assert ds.images.shape[1:] == (20, 40, 3)
    assert not any("resized" in n for n in ds.notes)  # "10 of 10 images resized" for images of one size
    for im in ds.images:  # red on the left, blue on the right: as stored, not turned
        assert im[10, 2, 0] > 200 and im[10, 2, 2] < 50 and im[10, 37, 2] > 200 and im[10, 37, 0] < 50


# --- 3: lifting the pixel limit reloads what it skipped -----------------------------------------------------------
def test_lifting_the_pixel_limit_decodes_the_image_it_skipped_instead_of_the_cache(tmp_path, fe_home, monkeypatch):
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 100)  # a stand-in for an 8001x8001 photo: the same path
    monkeypatch.delenv(limits.LIMITS_ENV, raising=False)
    root = tmp_path / "lim"
    for c in ("a", "b"):
        for i in range(4):
            _png(root / c / f"{i}.png", np.full((8, 8, 3), 50, np.uint8))
    _png(root / "a" / "big.png", np.full((8, 20, 3), 200, np.uint8))  # 160 pixels
    on = load_imagefolder(root, "train", test_fraction=0.25)
    assert any("over the image limit of 100 pixels" in n for n in on.notes)
    assert len(on) + len(load_imagefolder(root, "test", test_fraction=0.25)) == 8
    monkeypatch.setenv(limits.LIMITS_ENV, "off")  # what the note tells the user to do
    off = load_imagefolder(root, "train", test_fraction=0.25)
    off_test = load_imagefolder(root, "test", test_fraction=0.25)
    assert len(off) + len(off_test) == 9 and not any("limit" in n for n in off.notes + off_test.notes)
    monkeypatch.delenv(limits.LIMITS_ENV)
    wider = load_imagefolder(root, "train", test_fraction=0.25, max_pixels=1000)  # a limit given to the load
    assert len(wider) + len(load_imagefolder(root, "test", test_fraction=0.25, max_pixels=1000)) == 9
    assert len(load_imagefolder(root, "train", test_fraction=0.25)) == len(on)  # the default limit again


# --- 4: test data that is the training data --------------------------------------------------------------------
def _two_classes(folder: Path, n: int = 3, base: int = 0) -> None:
    for k, c in enumerate(("a", "b")):
        for i in range(n):
            _png(folder / c / f"{i}.png", np.full((8, 8, 3), base + 100 * k + 10 * i, np.uint8))


def test_a_test_folder_that_is_the_training_folder_is_refused(tmp_path, fe_home):
    root = tmp_path / "leak"
    _two_classes(root / "train")
    os.symlink("train", root / "test")
    assert len(load_imagefolder(root, "train")) == 6
    with pytest.raises(DatasetError, match=r"test/ is train/ itself \(a link to it\): the test images would be the "
                                           r"training images"):
        load_imagefolder(root, "test")
    val = tmp_path / "leak_val"
    _two_classes(val / "train")
    os.symlink(val / "train", val / "val")  # an absolute link, and val/ as the test split
    with pytest.raises(DatasetError, match=r"val/ is train/ itself"):
        load_imagefolder(val, "test")


def test_test_files_that_are_training_files_are_skipped_and_counted(tmp_path, fe_home):
    root = tmp_path / "links"
    _two_classes(root / "train")
    _two_classes(root / "test", n=2, base=5)  # test/a/0.png, 1.png; test/b/0.png, 1.png: their own images
    os.link(root / "train" / "a" / "0.png", root / "test" / "a" / "hard.png")  # a cp -al split
    os.symlink(root / "train" / "b" / "2.png", root / "test" / "b" / "soft.png")
    train, test = load_imagefolder(root, "train"), load_imagefolder(root, "test")
    assert len(train) == 6 and len(test) == 4
    assert ("2 of 6 files in test/ are the same files as training images in train/ (links to them), skipped: a "
            "test image must not be a training image (the first: a/hard.png, the same file as train/a/0.png)"
            in test.notes)
    tr_px = {bytes(im) for im in train.images}
    assert not any(bytes(im) in tr_px for im in test.images)
    for p in (root / "test").rglob("*.png"):  # every test file a training file: nothing left to test on
        p.unlink()
    os.link(root / "train" / "a" / "1.png", root / "test" / "a" / "x.png")
    with pytest.raises(DatasetError, match=r"no image files.*1 of 1 files in test/ are the same files"):
        load_imagefolder(root, "test")


# --- 5: a folder's signature sees images added in nested folders --------------------------------------------------
def test_folder_signature_changes_when_an_image_is_added_in_a_nested_folder(tmp_path, monkeypatch):
    from app.data import folder_scan

    monkeypatch.setattr(folder_scan, "_SIGNATURES", {})
    root = tmp_path / "sig"
    for c in ("a", "b"):
        for i in range(3):
            _png(root / c / "nested" / "deeper" / f"{i}.png", np.full((8, 8, 3), 9, np.uint8))
    first = folder_scan.folder_signature(root)
    assert folder_scan.signature_known(root) and folder_scan.folder_signature(root) == first  # remembered
    _png(root / "a" / "nested" / "deeper" / "new.png", np.full((8, 8, 3), 9, np.uint8))
    assert not folder_scan.signature_known(root)
    second = folder_scan.folder_signature(root)
    assert second != first
    monkeypatch.setattr(folder_scan, "_SIGNATURES", {})  # what a fresh process computes
    assert folder_scan.folder_signature(root) == second


# --- 6: a class with no readable image is no second class ---------------------------------------------------------
def test_a_class_whose_every_file_is_unreadable_fails_the_two_class_guard_and_is_named(tmp_path, fe_home):
    root = tmp_path / "corrupt"
    for i in range(5):
        _png(root / "a" / f"{i}.png", np.full((8, 8, 3), 9, np.uint8))
        (root / "b").mkdir(exist_ok=True)
        (root / "b" / f"{i}.png").write_bytes(b"not an image at all")
    train, test = load_imagefolder(root, "train"), load_imagefolder(root, "test")
    assert train.classes == ("a", "b") and set(train.labels.tolist()) == {0}
    assert "b/: no image file could be read: no training image of this class" in train.notes
    problem = class_problem(train, test)
    assert problem is not None and "1 class with training images (a; no training image of b); a classifier needs " \
                                   "at least two" in problem
    ok = ArrayDataset("x", "train", np.zeros((2, 4, 4, 1), np.uint8), np.array([0, 1]), ("a", "b"))
    assert class_problem(ok, ok) is None


# --- 7: Download again repairs a damaged decompressed IDX file ----------------------------------------------------
def test_download_again_deletes_a_damaged_plain_idx_file_beside_its_verified_gz(tmp_path, fe_home):
    from fixtures_data import idx_files, md5

    from app.data import formats, remote
    from app.tasks import run_to_end

    root = tmp_path / "data"
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    files = idx_files(20, 10)
    for name, data in files.items():
        (raw / name).write_bytes(data)
        (raw / name[:-3]).write_bytes(gzip.decompress(data))  # torchvision's layout: both side by side
    bad = raw / "t10k-labels-idx1-ubyte"
    bad.write_bytes(bad.read_bytes()[:12])  # truncated
    good = raw / "t10k-images-idx3-ubyte"
    good_time = good.stat().st_mtime_ns
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte: truncated"):
        formats.load("mnist", "test", root)
    # the .gz files verify (md5 override), so nothing is fetched: a mirror that does not exist is never asked
    run_to_end(remote.download("mnist", root, md5={n: md5(d) for n, d in files.items()}, force=True,
                               mirror="http://127.0.0.1:9/"))
    assert not bad.exists() and good.exists() and good.stat().st_mtime_ns == good_time  # the sound one kept
    ds = formats.load("mnist", "test", root)
    assert len(ds) == 10 and ds.labels.tolist() == list(range(10))


# --- 8: notes on the layout follow the folder, not the cache -------------------------------------------------------
def test_layout_notes_follow_the_folder_not_the_cache(tmp_path, fe_home):
    root = tmp_path / "grow"
    _two_classes(root / "train", n=4)
    before = load_imagefolder(root, "train")
    assert "no test/ folder: the test split is a seeded part of train/" in before.notes
    _two_classes(root / "test", n=1, base=3)
    after = load_imagefolder(root, "train")
    assert len(after) == 8 and not any("seeded part" in n for n in after.notes)  # train/ itself unchanged
    (root / "test" / "b" / "0.png").unlink()
    (root / "test" / "b" / "readme.txt").write_text("no images")
    test = load_imagefolder(root, "test")
    assert "test/ has no readable image of class(es) b of train/: their accuracy is not measured" in test.notes
    (root / "test" / "b" / "readme.txt").unlink()
    (root / "test" / "b").rmdir()
    again = load_imagefolder(root, "test")  # the same files: the decoded arrays come from the cache
    assert "test/ has no folder for class(es) b of train/: their accuracy is not measured" in again.notes
    assert not any("no readable image" in n for n in again.notes)


# --- 9: a test split carries its training split's statistics -------------------------------------------------------
def test_an_image_folders_test_split_carries_the_training_splits_statistics(tmp_path, fe_home):
    root = tmp_path / "stats"
    _two_classes(root / "train", n=4, base=10)  # dark-ish training images
    _two_classes(root / "test", n=2, base=120)  # bright test images
    test = load_imagefolder(root, "test")  # first: nothing of train/ cached yet
    train = load_imagefolder(root, "train")
    assert train.mean == test.mean and train.std == test.std
    own = float(test.images.mean()) / 255.0
    assert abs(test.mean[0] - own) > 0.2 and abs(train.mean[0] - float(train.images.mean()) / 255.0) < 1e-6
    assert load_imagefolder(root, "test").mean == train.mean  # and from the cache
    flat = tmp_path / "flat"
    _two_classes(flat, n=10)
    tr, te = load_imagefolder(flat, "train"), load_imagefolder(flat, "test")
    assert tr.mean == te.mean and tr.std == te.std
    assert abs(tr.mean[0] - float(tr.images.mean()) / 255.0) < 1e-6


def test_data_info_names_the_training_statistics_for_an_image_folders_test_split(tmp_path, fe_home, capsys):
    from app.cli import run

    root = tmp_path / "stats"
    _two_classes(root / "train", n=4, base=10)
    _two_classes(root / "test", n=2, base=120)
    assert run(["data", "info", f"imagefolder:{root}", "--split", "test"]) == 0
    test_out = capsys.readouterr().out
    assert run(["data", "info", f"imagefolder:{root}", "--split", "train"]) == 0
    train_out = capsys.readouterr().out
    line = [ln for ln in test_out.splitlines() if ln.startswith("normalisation")][0]
    assert "the training split's statistics" in line and "this split's pixel statistics" not in line
    assert line.split("): ")[1] == [ln for ln in train_out.splitlines() if ln.startswith("normalisation")][0] \
        .split("): ")[1]  # the same figures
