"""The built-in datasets' official file formats parsed into arrays (no Qt): IDX files, CIFAR binary records and
python batches, STL-10 binaries, and the members of their ``.tar.gz`` archives (read, or skipped, in steps that a
cancel interrupts: ``skip_member``).

``parse(name, source, split, cancel)`` (a task generator) reads one split of a built-in dataset from where
``app.data.formats.locate`` found it: (images, labels, class names, notes). ``app.data.formats`` loads, caches and
offers it (``load``, ``load_task``); ``app.data.remote.unpack`` shares ``skip_member``.
"""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Generator, Iterator

import numpy as np

from app.data import core, limits
from app.data.catalog import ARCHIVE_MEMBERS, BUILTINS, CIFAR10_CLASSES, OPTIONAL_MEMBERS, STL10_CLASSES
from app.data.core import DatasetError
from app.data.safe_pickle import safe_unpickle
from app.tasks import CancelToken, Progress, check

if TYPE_CHECKING:
    from app.data.formats import Source

SKIP_CHUNK = 1 << 20  # bytes of a skipped archive member read between two cancel checks


# --- records and batches --------------------------------------------------------------------------------------------
def _cifar_records(raw: bytes | np.ndarray, label: str, label_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    rec = 3072 + label_bytes
    arr = np.frombuffer(raw, np.uint8) if isinstance(raw, (bytes, bytearray, memoryview)) else raw
    if arr.size == 0 or arr.size % rec:
        raise DatasetError(f"{label}: truncated or not a CIFAR binary batch ({arr.size} bytes is not a whole "
                           f"number of {rec}-byte records)")
    arr = arr.reshape(-1, rec)
    labels = arr[:, label_bytes - 1].astype(np.int64)  # CIFAR-100: [coarse, fine]; we use fine
    images = arr[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _cifar_py_batch(data: bytes, label: str) -> tuple[np.ndarray, np.ndarray]:
    d = safe_unpickle(data, label)
    if not isinstance(d, dict) or "data" not in d or not ("labels" in d or "fine_labels" in d):
        raise DatasetError(f"{label}: not a CIFAR python batch (expected a dict with 'data' and 'labels')")
    x = d["data"]
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        raise DatasetError(f"{label}: 'data' is not an N x 3072 uint8 array")
    limits.check_count(f"{label}: 'data'", x.shape[0], limits.MAX_BATCH_IMAGES, "images")
    raw = d.get("labels", d.get("fine_labels"))
    if isinstance(raw, np.ndarray):
        ok = raw.ndim == 1 and raw.dtype.kind in "iu"
    else:
        ok = isinstance(raw, (list, tuple)) and all(type(v) is int for v in raw)
    if not ok:
        raise DatasetError(f"{label}: the labels must be a list of integers (got "
                           f"{type(raw).__name__}{' of ' + str(raw.dtype) if isinstance(raw, np.ndarray) else ''})")
    if len(raw) != len(x):
        raise DatasetError(f"{label}: {len(x)} images but {len(raw)} labels")
    try:
        y = np.asarray(raw, dtype=np.int64)
    except OverflowError:
        raise DatasetError(f"{label}: a label is too large for an integer class index") from None
    return np.ascontiguousarray(x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)), y


def _stl(xraw: bytes | np.ndarray, yraw: bytes | np.ndarray, xlabel: str, ylabel: str):
    x = np.frombuffer(xraw, np.uint8) if isinstance(xraw, (bytes, bytearray)) else xraw
    y = np.frombuffer(yraw, np.uint8) if isinstance(yraw, (bytes, bytearray)) else yraw
    per = 3 * 96 * 96
    if x.size == 0 or x.size % per:
        raise DatasetError(f"{xlabel}: truncated ({x.size} bytes is not a whole number of {per}-byte images)")
    n = x.size // per
    if y.size != n:
        raise DatasetError(f"{ylabel}: {y.size} labels for {n} images in {xlabel}")
    if y.size and (y.min() < 1 or y.max() > 10):
        raise DatasetError(f"{ylabel}: labels must be 1..10 (found {int(y.min())}..{int(y.max())})")
    images = np.ascontiguousarray(x.reshape(n, 3, 96, 96).transpose(0, 3, 2, 1))  # column-major -> (N, H, W, C)
    return images, y.astype(np.int64) - 1


def _names_from_text(data: bytes | None, n: int, fallback: tuple[str, ...]) -> tuple[str, ...]:
    if data:
        lines = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
        if len(lines) >= n:
            return tuple(lines[:n])
    return fallback


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path.name}: cannot read ({exc.strerror or exc})") from None


def skip_member(tf: tarfile.TarFile, member: tarfile.TarInfo, cancel: CancelToken | None) -> Iterator[int]:
    """Read past the data of ``member`` (a member not wanted) in ``SKIP_CHUNK`` steps, checking ``cancel`` before
    each; yields the bytes read so far. Left to ``tarfile`` (its next header is reached by a seek), a gzip stream is
    decompressed up to there in one go that no cancel interrupts (STL-10's 2.4 GB ``unlabeled_X.bin``)."""
    if not member.isfile() or member.size <= 0:
        return
    f = tf.extractfile(member)
    if f is None:
        return
    done = 0
    while True:
        check(cancel)
        block = f.read(SKIP_CHUNK)
        if not block:
            return
        done += len(block)
        yield done


def _read_archive(archive: Path, wanted: set[str], cancel: CancelToken | None) -> dict[str, bytes]:
    """Members (by base name) of a .tar.gz; a truncated or damaged archive is a DatasetError naming it."""
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:gz") as tf:
            for m in tf:
                check(cancel)
                base = m.name.rsplit("/", 1)[-1]
                if base in wanted and m.isfile() and base not in out:
                    f = tf.extractfile(m)
                    data = f.read() if f is not None else b""
                    if len(data) != m.size:
                        raise EOFError(f"{m.name}: {len(data)} of {m.size} bytes")
                    out[base] = data
                    if len(out) == len(wanted):
                        break
                else:  # not wanted: its data is skipped in steps a cancel interrupts
                    for _ in skip_member(tf, m, cancel):
                        pass
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DatasetError(f"{archive.name}: truncated or damaged archive ({exc})") from None
    return out


def _check_labels(labels: np.ndarray, n_classes: int, label: str, name: str) -> None:
    """A batch's labels in 0..n_classes-1, or a DatasetError naming that batch, how many, the first index and value."""
    bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if bad.size:
        raise DatasetError(f"{label}: labels outside 0..{n_classes - 1}: {bad.size:,} of {labels.size:,} (the first "
                           f"at index {int(bad[0])}: {int(labels[bad[0]])}); the file is damaged or not {name}")


def _meta_names(data: bytes, label: str, key: str, n: int, classes: tuple[str, ...], notes: list[str]
                ) -> tuple[str, ...]:
    """The class names of a CIFAR python ``meta`` pickle (optional: it holds nothing but the names); a damaged one
    keeps ``classes`` and says so in ``notes``."""
    try:
        meta = safe_unpickle(data, label)
    except DatasetError as exc:
        notes.append(f"{exc} (it holds only the class names: the standard names are used)")
        return classes
    names = meta.get(key) if isinstance(meta, dict) else None
    if isinstance(names, (list, tuple)) and len(names) == n:
        return tuple(str(s) for s in names)
    notes.append(f"{label}: no list of {n} {key!r} in it (it holds only the class names: the standard names are "
                 f"used)")
    return classes


def parse(name: str, src: Source, split: str, cancel: CancelToken | None
           ) -> Generator[Progress, None, tuple[np.ndarray, np.ndarray, tuple[str, ...], list[str]]]:
    """(images, labels, class names, notes) of one split read from its source."""
    b = BUILTINS[name]
    notes: list[str] = []
    if src.kind == "idx":
        yield Progress(0, 2, f"reading {name} {split} (IDX)")
        img_stem, lab_stem = core.IDX_FILES[split]
        images = core.read_idx(core._find(src.path, img_stem))
        check(cancel)
        yield Progress(1, 2, f"reading {name} {split} labels")
        labels = core.read_idx(core._find(src.path, lab_stem)).astype(np.int64)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DatasetError(f"{src.path}: {img_stem} and {lab_stem} do not match ({images.shape} vs "
                               f"{labels.shape})")
        bad = np.flatnonzero(labels >= len(b.classes))
        if bad.size:
            raise DatasetError(f"{lab_stem}: {bad.size:,} label(s) outside 0..{len(b.classes) - 1} (the first at "
                               f"index {int(bad[0])}: {int(labels[bad[0]])}); the file is damaged or not {name}")
        return np.ascontiguousarray(images[..., None]), labels, b.classes, notes
    if src.kind == "archive":
        folder, members = ARCHIVE_MEMBERS[src.path.name]
        wanted = set(_split_members(name, src.path.name, split)) | (set(members) & OPTIONAL_MEMBERS)
        yield Progress(0, None, f"reading {src.path.name}")
        files = _read_archive(src.path, wanted, cancel)
        kind = "cifar-py" if "python" in src.path.name else ("stl-bin" if name == "stl10" else "cifar-bin")
        get = lambda base: files.get(base)  # noqa: E731
        where = src.path.name + ":"
    else:
        kind = src.kind
        folder_path = src.path
        get = lambda base: _read(folder_path / base) if (folder_path / base).exists() else None  # noqa: E731
        where = ""
    need = _split_members(name, (src.path.name if src.kind == "archive" else kind), split)
    images_l, labels_l = [], []
    if kind == "stl-bin":
        xname, yname = need
        xr, yr = get(xname), get(yname)
        for nm, data in ((xname, xr), (yname, yr)):
            if data is None:
                raise DatasetError(f"{where}{nm} missing in {src.path}")
        yield Progress(1, 2, f"parsing {name} {split}")
        images, labels = _stl(xr, yr, where + xname, where + yname)
        classes = _names_from_text(get("class_names.txt"), 10, STL10_CLASSES)
        return images, labels, classes, notes
    for i, base in enumerate(need):
        check(cancel)
        data = get(base)
        if data is None:
            raise DatasetError(f"{where}{base} missing in {src.path}")
        yield Progress(i, len(need), f"parsing {base}")
        if kind == "cifar-py":
            im, lb = _cifar_py_batch(data, where + base)
        else:
            im, lb = _cifar_records(data, where + base, 2 if name == "cifar100" else 1)
        _check_labels(lb, len(b.classes), where + base, name)  # each batch as it is read: the message names it
        images_l.append(im)
        labels_l.append(lb)
    images, labels = np.concatenate(images_l), np.concatenate(labels_l)
    if name == "cifar10":
        classes = _names_from_text(get("batches.meta.txt"), 10, CIFAR10_CLASSES)
        if kind == "cifar-py" and (meta := get("batches.meta")):
            classes = _meta_names(meta, where + "batches.meta", "label_names", 10, classes, notes)
    else:
        classes = _names_from_text(get("fine_label_names.txt"), 100, b.classes)
        if kind == "cifar-py" and (meta := get("meta")):
            classes = _meta_names(meta, where + "meta", "fine_label_names", 100, classes, notes)
    return images, labels, classes, notes


def _split_members(name: str, kind_or_archive: str, split: str) -> list[str]:
    python = "python" in kind_or_archive or kind_or_archive == "cifar-py"
    if name == "cifar10":
        if split == "train":
            return [f"data_batch_{i}" + ("" if python else ".bin") for i in range(1, 6)]
        return ["test_batch" + ("" if python else ".bin")]
    if name == "cifar100":
        return [split + ("" if python else ".bin")]
    if name == "stl10":
        return [f"{split}_X.bin", f"{split}_y.bin"]
    raise DatasetError(f"{name}: no members for {kind_or_archive}")
