"""A researcher's own image folders (an audit's findings): the splits' classes matched by name (a test folder with
other classes was scored against the wrong labels: 0% on perfectly separable data), train/ + val/ read as two
classes, one odd image setting every image's size, fewer than two classes, a trivial top-5, a checkpoint scored on
a folder with other classes, and the files loading skipped said only by ``data info``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.data import DatasetError
from app.data.core import ArrayDataset, class_problem
from app.data.imagefolder import load_imagefolder
from tests.cli_inprocess import run_cli

COLOURS = {"cat": (255, 0, 0), "dog": (0, 255, 0), "fox": (0, 0, 255), "kitten": (255, 0, 0)}


def _write(folder: Path, cls: str, n: int, size=(8, 8), start: int = 0) -> None:
    import cv2

    d = folder / cls
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(cls) + start)
    for i in range(n):
        img = np.zeros((*size, 3), np.uint8) + np.array(COLOURS.get(cls, (90, 90, 90)), np.uint8)
        img = np.clip(img.astype(int) + rng.integers(-20, 20, img.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(d / f"{start + i:03d}.png"), img[..., ::-1])


def test_the_test_splits_classes_are_the_training_ones_by_name(tmp_path, fe_home):
    root = tmp_path / "pets"
    for c in ("cat", "dog", "fox"):
        _write(root / "train", c, 4)
    for c in ("dog", "fox"):  # no cat in test: dog must stay class 1, fox class 2
        _write(root / "test", c, 3)
    train, test = load_imagefolder(root, "train"), load_imagefolder(root, "test")
    assert train.classes == test.classes == ("cat", "dog", "fox")
    assert test.labels.tolist() == [1, 1, 1, 2, 2, 2]  # by name (it was 0, 0, 0, 1, 1, 1: dog scored as cat)
    assert any("test/ has no folder for class(es) cat of train/" in n for n in test.notes)
    assert class_problem(train, test) is None


def test_a_test_class_that_training_lacks_is_refused_by_name(tmp_path, fe_home):
    root = tmp_path / "pets"
    for c in ("cat", "dog"):
        _write(root / "train", c, 4)
    for c in ("dog", "kitten"):
        _write(root / "test", c, 3)
    with pytest.raises(DatasetError, match=r"class folder\(s\) kitten hold images but train/ has no such class"):
        load_imagefolder(root, "test")
    (root / "test" / "kitten").rename(tmp_path / "away")
    (root / "test" / "kitten").mkdir()  # an empty folder of another name is no class: nothing to score
    assert load_imagefolder(root, "test").classes == ("cat", "dog")


def test_train_and_val_folders_are_the_train_and_test_splits_not_two_classes(tmp_path, fe_home):
    root = tmp_path / "pets"
    for c in ("cat", "dog"):
        _write(root / "train", c, 5)
        _write(root / "val", c, 2)
    train, test = load_imagefolder(root, "train"), load_imagefolder(root, "test")
    assert train.classes == test.classes == ("cat", "dog") and (len(train), len(test)) == (10, 4)
    assert "no test/ folder: val/ is the test split (the validation split is carved from train/)" in test.notes
    alone = tmp_path / "alone"
    for c in ("cat", "dog"):
        _write(alone / "train", c, 5)
    tr, te = load_imagefolder(alone, "train"), load_imagefolder(alone, "test")
    assert tr.classes == ("cat", "dog") and len(tr) + len(te) == 10 and len(te) == 2  # a seeded 20%
    assert "no test/ folder: the test split is a seeded part of train/" in tr.notes


def test_the_most_common_size_not_the_first_images_and_the_test_split_takes_the_trainings(tmp_path, fe_home):
    root = tmp_path / "sizes"
    _write(root / "train", "cat", 3, size=(32, 32))
    _write(root / "train", "dog", 3, size=(32, 32))
    import cv2

    cv2.imwrite(str(root / "train" / "cat" / "-wide.png"), np.zeros((100, 200, 3), np.uint8))  # sorts first
    _write(root / "test", "cat", 2, size=(48, 64))
    _write(root / "test", "dog", 2, size=(48, 64))
    train, test = load_imagefolder(root, "train"), load_imagefolder(root, "test")
    assert train.images.shape[1:3] == (32, 32) and test.images.shape[1:3] == (32, 32)  # it was 100x200, 48x64
    assert "1 of 7 images resized to 32x32 (HxW), the training images' most common size" in train.notes
    assert "4 of 4 images resized to 32x32 (HxW), the training images' most common size" in test.notes


def test_class_folders_without_images_are_no_classes(tmp_path, fe_home):
    root = tmp_path / "pets"
    _write(root, "cat", 5)
    _write(root, "dog", 5)
    (root / "empty").mkdir()
    ds = load_imagefolder(root, "train")
    assert ds.classes == ("cat", "dog") and set(ds.labels.tolist()) == {0, 1}
    assert ds.notes[0] == "empty/: no image files, not a class"


def _ds(classes, name="x"):
    # a training image of each class (one of each of the first two): class_problem counts the classes with one
    return ArrayDataset(name, "train", np.zeros((2, 4, 4, 1), np.uint8), np.arange(2, dtype=np.int64) % len(classes),
                        tuple(classes), (0.5,), (0.25,))


def test_class_problem_names_what_differs():
    assert "1 class (only); a classifier needs at least two" in class_problem(_ds(["only"]), _ds(["only"]))
    assert class_problem(_ds(["a", "b"]), _ds(["a", "c"])) == \
        "x: the train and test splits' classes differ (only in train: b; only in test: c)"
    assert "another order" in class_problem(_ds(["a", "b"]), _ds(["b", "a"]))
    assert class_problem(_ds(["a", "b"]), _ds(["a", "b"])) is None


def test_the_commands_refuse_one_class_say_what_loading_skipped_and_no_trivial_top5(tmp_path, fe_home):
    one = tmp_path / "one"
    _write(one, "only", 10)
    for argv in (["probe", "--backbone", "simple"], ["train", "--backbone", "simple", "--out", str(tmp_path / "c")]):
        r = run_cli(*argv, "--dataset", f"imagefolder:{one}", home=tmp_path / "h")
        assert r.returncode == 2 and "1 class (only); a classifier needs at least two" in r.stderr, r.stderr
    root = tmp_path / "three"
    for c in ("cat", "dog", "fox"):
        _write(root, c, 10)
    (root / "cat" / "broken.png").write_bytes(b"not a png")
    r = run_cli("probe", "--backbone", "simple", "--options", "widths=4,8", "--dataset", f"imagefolder:{root}",
                home=tmp_path / "h")
    assert r.returncode == 0, r.stderr
    assert "top-5 n/a (3 classes)" in r.stdout  # it printed "top-5 100.00%" whatever the head learnt
    assert "caveat: the dataset's loading note: cat/broken.png: not a readable image, skipped" in r.stdout
    r = run_cli("probe", "--backbone", "simple", "--options", "widths=4,8", "--dataset", f"imagefolder:{root}",
                "--json", home=tmp_path / "h")
    import json

    out = json.loads(r.stdout)
    assert out["top5"] is None and out["top2"] is not None
    assert out["settings"]["data_notes"] == ["cat/broken.png: not a readable image, skipped"]


def test_a_checkpoint_is_scored_only_on_the_classes_it_was_trained_on(tmp_path, fe_home):
    import json

    pets, other = tmp_path / "pets", tmp_path / "other"
    for c in ("cat", "dog", "fox"):
        _write(pets, c, 10)
    for c in ("10", "2", "9"):  # the same number of classes: the count alone let it through (33% "accuracy")
        _write(other, c, 10)
    out = tmp_path / "ck"
    r = run_cli("train", "--backbone", "simple", "--options", "widths=4,8", "--dataset", f"imagefolder:{pets}",
                "--max-steps", "1", "--out", str(out), home=tmp_path / "h")
    assert r.returncode == 0, r.stderr
    assert json.loads(out.with_suffix(".json").read_text())["classes"] == ["cat", "dog", "fox"]
    r = run_cli("eval", "--weights", str(out.with_suffix(".safetensors")), "--dataset", f"imagefolder:{other}",
                home=tmp_path / "h")
    assert r.returncode == 2
    assert "its classifier's outputs are the classes cat, dog, fox; imagefolder:" in r.stderr
    assert "has 10, 2, 9" in r.stderr
    r = run_cli("eval", "--weights", str(out.with_suffix(".safetensors")), "--dataset", f"imagefolder:{pets}",
                home=tmp_path / "h")
    assert r.returncode == 0 and "top-5 n/a (3 classes)" in r.stdout


def test_a_linked_image_is_one_image_and_a_class_with_no_test_image_is_said(tmp_path, fe_home):
    root = tmp_path / "pets"
    _write(root, "cat", 10)
    _write(root, "dog", 2)  # 20% of 2 rounds to 0: no dog in the seeded test split
    (root / "cat" / "link.png").symlink_to(root / "cat" / "000.png")
    train, test = load_imagefolder(root, "train"), load_imagefolder(root, "test")
    assert len(train) + len(test) == 12  # not 13: the link is the same image
    assert "cat/link.png: the same file as cat/000.png, skipped" in train.notes
    assert ("class(es) too small for a test image in the seeded split (images in all): dog (2): their accuracy is "
            "not measured") in test.notes


def test_a_folder_of_grey_images_is_read_as_one_channel(tmp_path, fe_home):
    """MNIST saved as grey PNGs was read as three equal channels (three times the work, another model input than
    the built-in mnist's)."""
    import cv2

    root = tmp_path / "grey"
    for c in ("a", "b"):
        for split in ("train", "test"):
            (root / split / c).mkdir(parents=True)
            for i in range(3):
                cv2.imwrite(str(root / split / c / f"{i}.png"), np.full((8, 8), 60 * i + (c == "b") * 20, np.uint8))
    cv2.imwrite(str(root / "test" / "a" / "colour.png"), np.full((8, 8, 3), (10, 200, 90), np.uint8))
    train, test = load_imagefolder(root, "train"), load_imagefolder(root, "test")
    assert train.images.shape == (6, 8, 8, 1) and test.images.shape == (7, 8, 8, 1)  # the test split follows
    assert train.images[:, 0, 0, 0].tolist() == [0, 60, 120, 20, 80, 140]
    assert "every training image is grey (its header): the images are read as one grey channel" in train.notes
    assert len(train.mean) == 1
    colour = tmp_path / "colour"
    _write(colour, "cat", 3)
    _write(colour, "dog", 3)
    assert load_imagefolder(colour, "train").images.shape[-1] == 3


def test_image_headers_declare_their_channels():
    import cv2

    from app.data.imagesize import header_channels

    grey, rgb = np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.uint8)
    for ext in (".png", ".jpg", ".pgm"):
        assert header_channels(cv2.imencode(ext, grey)[1]) == 1, ext
    for ext in (".png", ".jpg", ".ppm"):
        assert header_channels(cv2.imencode(ext, rgb)[1]) == 3, ext
    assert header_channels(cv2.imencode(".bmp", grey)[1]) is None  # a format whose channels it does not read


def _png_with_trns(rgb_png: bytes) -> bytes:
    """An RGB PNG with a tRNS chunk (one transparent colour) after its IHDR, CRC and all."""
    import struct
    import zlib

    body = b"tRNS" + struct.pack(">HHH", 0, 0, 0)
    chunk = struct.pack(">I", 6) + body + struct.pack(">I", zlib.crc32(body))
    return rgb_png[:33] + chunk + rgb_png[33:]  # 8 signature + 25 IHDR


def test_transparency_is_detected_in_headers_and_said_when_a_folder_drops_it(tmp_path, fe_home):
    import cv2

    from app.data.imagesize import has_alpha

    rgb = cv2.imencode(".png", np.full((8, 8, 3), 90, np.uint8))[1].tobytes()
    rgba = cv2.imencode(".png", np.full((8, 8, 4), 90, np.uint8))[1].tobytes()
    assert not has_alpha(rgb) and has_alpha(rgba) and has_alpha(_png_with_trns(rgb))
    assert cv2.imdecode(np.frombuffer(_png_with_trns(rgb), np.uint8), cv2.IMREAD_COLOR) is not None  # a valid PNG
    assert not has_alpha(cv2.imencode(".jpg", np.full((8, 8, 3), 90, np.uint8))[1].tobytes())
    assert not has_alpha(b"\x89PNG\r\n\x1a\n") and not has_alpha(b"")  # cut short: no claim
    root = tmp_path / "icons"
    for c in ("cat", "dog"):
        _write(root / "train", c, 3)
        _write(root / "test", c, 2)
    img = np.zeros((8, 8, 4), np.uint8)
    img[..., 2], img[..., 3] = 200, 0  # fully transparent red: its colour is what the model sees
    cv2.imwrite(str(root / "train" / "cat" / "900.png"), img)
    cv2.imwrite(str(root / "train" / "dog" / "901.png"), img)
    train = load_imagefolder(root, "train")
    assert any(n.startswith("2 of 8 images have transparency (alpha): it is dropped") for n in train.notes)
    assert (train.images[train.labels == 0][-1] == [200, 0, 0]).all()  # RGB as stored, as torchvision reads it
    assert not any("transparency" in n for n in load_imagefolder(root, "test").notes)


def test_shipped_and_known_checkpoints_are_scored_only_on_their_classes_in_their_order(tmp_path, fe_home):
    """The shipped checkpoints' sidecars named no classes and known weights have none: an image folder of CIFAR-10's
    classes in another order ("c0_truck", ... "c9_airplane") was scored, 6.2% for the shipped CIFAR model."""
    from app.data.catalog import CIFAR10_CLASSES
    from app.models.build import spec_from_checkpoint
    from app.models.evaluate import trained_classes
    from app.models.spec import ModelSpec

    root = Path(__file__).resolve().parent.parent / "resources" / "models"
    ck = spec_from_checkpoint(root / "simple_cifar10.safetensors")
    assert trained_classes(ck) == list(CIFAR10_CLASSES)
    assert trained_classes(spec_from_checkpoint(root / "simple_mnist.safetensors")) == [str(i) for i in range(10)]
    known = ModelSpec.make("resnet20", init="checkpoint", weights=str(tmp_path / "resnet20_cifar10-12fca82f.th"))
    assert trained_classes(known) == list(CIFAR10_CLASSES)  # the known weights' dataset's classes
    perm, right = tmp_path / "perm", tmp_path / "right"
    for i, c in enumerate(reversed(CIFAR10_CLASSES)):
        for split in ("train", "test"):
            _write(perm / split, f"c{i}_{c}", 1, size=(32, 32))
            _write(right / split, c, 1, size=(32, 32))
    weights = str(root / "simple_cifar10.safetensors")
    r = run_cli("eval", "--weights", weights, "--dataset", f"imagefolder:{perm}", home=tmp_path / "h")
    assert r.returncode == 2 and "its classifier's outputs are the classes airplane, automobile" in r.stderr
    r = run_cli("eval", "--weights", weights, "--dataset", f"imagefolder:{right}", home=tmp_path / "h")
    assert r.returncode == 0, r.stderr


def test_data_info_says_an_image_folders_statistics_are_estimated_from_a_sample(tmp_path, fe_home, monkeypatch,
                                                                                 capsys):
    from app.cli import run
    from app.data import imagefolder

    root = tmp_path / "pets"
    for c in ("cat", "dog"):
        _write(root / "train", c, 6)
        _write(root / "test", c, 2)
    monkeypatch.setattr(imagefolder, "STATS_IMAGES", 4)
    assert run(["data", "info", f"imagefolder:{root}"]) == 0
    out = capsys.readouterr().out
    assert "estimated from 4 images spread over the split, within ~0.004 of all 12" in out
    sample = load_imagefolder(root, "train").images[::3].reshape(-1, 3).astype(np.float32)
    assert load_imagefolder(root, "train").mean == pytest.approx(tuple(sample.mean(0) / 255), abs=1e-6)
    assert run(["data", "info", f"imagefolder:{root}", "--split", "test"]) == 0  # the training split's figures
    assert "(the training split's statistics, whichever split is shown; estimated from 4 images spread over the " \
           "training split, within ~0.004 of all 12)" in capsys.readouterr().out
    monkeypatch.setattr(imagefolder, "STATS_IMAGES", 12)
    assert run(["data", "info", f"imagefolder:{root}", "--split", "test"]) == 0  # 12 training images: all of them
    assert "estimated" not in capsys.readouterr().out


def test_a_one_class_folder_is_summarised_as_one_class(tmp_path, fe_home):
    from app.data.preview import view

    _write(tmp_path / "one", "cat", 3)
    v = view(load_imagefolder(tmp_path / "one", "train"))
    assert v.summary().endswith(", 1 class")
    _write(tmp_path / "one", "dog", 3)
    assert view(load_imagefolder(tmp_path / "one", "train")).summary().endswith(", 2 classes")
