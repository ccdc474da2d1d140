"""``app.data.formats`` split (its parsers in ``app.data.parsers``, every name still offered where it was), a skipped
archive member that a cancel interrupts, and an image folder's experiment key that sees a file replaced with the
same size and modification time (no Qt)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from app.data import formats, parsers, remote
from app.tasks import Cancelled, CancelToken, run_to_end
from fixtures_data import _tar, stl10_tar

ROOT = Path(__file__).resolve().parent.parent

UNLABELED = 100  # STL-10 images in the skipped member: 2.8 MB, three SKIP_CHUNK steps


@pytest.fixture
def root(tmp_path, fe_home):
    r = tmp_path / "data"
    r.mkdir()
    return r


class CancelOnCheck(CancelToken):
    """Cancelled from its ``after + 1``-th check on (a cancel arriving while a task runs, at a known point)."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after, self.checks = after, 0

    @property
    def cancelled(self) -> bool:
        self.checks += 1
        return self.checks > self.after


# --- the split ------------------------------------------------------------------------------------------------------
def test_formats_is_under_the_size_limit_and_its_parsers_are_a_module_of_their_own():
    for rel in ("app/data/formats.py", "app/data/parsers.py"):
        n = len((ROOT / rel).read_text(encoding="utf-8").splitlines())
        assert n < 450, f"{rel}: {n} lines"
    assert formats._parse is parsers.parse  # the spy point tests use (formats._parse) is the parser
    assert "import tarfile" not in (ROOT / "app/data/formats.py").read_text(encoding="utf-8")


def test_every_name_imported_from_formats_is_still_there():
    from app.data.formats import (BUILTINS, NotDownloaded, _root, load, load_task, locate, missing,  # noqa: F401
                                  not_downloaded)

    for name in ("locate", "load", "load_task", "missing", "not_downloaded", "root_option", "cache_path",
                 "read_cache", "class_counts", "Source", "IDX_STEMS", "BUILTINS", "builtin_names", "RemoteFile",
                 "MIRROR_ENV", "CIFAR10_CLASSES", "STL10_CLASSES", "ARCHIVE_MEMBERS", "OPTIONAL_MEMBERS", "paths",
                 "core", "NotDownloaded", "_parse", "_root"):
        assert hasattr(formats, name), name


def test_loading_through_the_split_parser_is_unchanged(root):
    data, expect = stl10_tar(unlabeled=UNLABELED)  # the unlabeled member is skipped in several steps
    (root / "stl10_binary.tar.gz").write_bytes(data)
    ds = formats.load("stl10", "test", root)
    np.testing.assert_array_equal(ds.images, expect["test"][0])
    np.testing.assert_array_equal(ds.labels, expect["test"][1])
    out = run_to_end(remote.unpack(root / "stl10_binary.tar.gz", root))
    assert sorted(p.name for p in out.iterdir()) == ["class_names.txt", "test_X.bin", "test_y.bin", "train_X.bin",
                                                    "train_y.bin"]
    np.testing.assert_array_equal(formats.load("stl10", "train", root).images, expect["train"][0])


# --- a skipped member is cancellable --------------------------------------------------------------------------------
def test_unpack_is_cancelled_while_it_skips_a_member_it_does_not_unpack(root):
    """STL-10's 2.4 GB unlabeled_X.bin comes first in its archive: tarfile decompressed it in one seek that no
    cancel reached (the cancel took effect only at the next member, minutes later)."""
    data, _ = stl10_tar(unlabeled=UNLABELED)
    (root / "stl10_binary.tar.gz").write_bytes(data)
    token = CancelOnCheck(after=3)  # the member's header, then two steps of its data
    seen = []
    with pytest.raises(Cancelled):
        for p in remote.unpack(root / "stl10_binary.tar.gz", root, token):
            seen.append(p.message)
    assert seen and seen[-1] == "skipping unlabeled_X.bin", seen
    assert not any(m.startswith("unpacking") for m in seen), seen
    assert not (root / "stl10_binary" / "train_X.bin").exists()


def test_reading_an_archive_is_cancelled_while_it_skips_a_member(root):
    member = np.zeros(3 * parsers.SKIP_CHUNK, np.uint8).tobytes()
    (root / "stl10_binary.tar.gz").write_bytes(_tar({"stl10_binary/unlabeled_X.bin": member}))
    token = CancelOnCheck(after=1)  # the member's header only: the cancel comes while its data is skipped
    with pytest.raises(Cancelled):
        run_to_end(formats.load_task("stl10", "train", root, cancel=token))
    assert token.checks == 2


# --- an image folder's experiment key sees a replaced file ----------------------------------------------------------
def _bmp_folder(root: Path, value: int) -> Path:
    """Two classes x 2 BMP images (uncompressed: the file size does not depend on the pixels)."""
    import cv2

    for c in ("a", "b"):
        (root / c).mkdir(parents=True, exist_ok=True)
        for k in range(2):
            cv2.imwrite(str(root / c / f"{k}.bmp"), np.full((8, 8, 3), value, np.uint8))
    return root


def test_a_file_replaced_with_the_same_size_and_mtime_changes_the_experiment_key(tmp_path):
    """The key of results on an image folder followed each file's path, size and mtime only: a copy that kept the
    time (cp -p, rsync -t, an unpacked archive) replacing an image gave the old key, and the stored answer."""
    import cv2

    from app.data.folder_scan import folder_signature
    from app.experiments.recipe import Cell

    pics = _bmp_folder(tmp_path / "pics", 40)
    settings = (("backbone", "simple"), ("dataset", f"imagefolder:{pics}"))
    first, sig = Cell("t", "probe", settings).key, folder_signature(pics)
    target = pics / "a" / "0.bmp"
    before = target.stat()
    time.sleep(0.05)  # past the file system's timestamp granularity
    new = tmp_path / "new.bmp"
    cv2.imwrite(str(new), np.full((8, 8, 3), 200, np.uint8))
    os.utime(new, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(new, target)  # another image, same name, same size, same modification time
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    if after.st_ctime_ns == before.st_ctime_ns:
        pytest.skip("this file system's change times are too coarse to tell the two files apart")
    assert folder_signature(pics) != sig
    assert Cell("t", "probe", settings).key != first
    assert Cell("t", "probe", settings).key == Cell("t", "probe", settings).key  # and stable once replaced
