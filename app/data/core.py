"""Dataset core: the array container and the loaders for the formats every workspace needs."""

from __future__ import annotations

from app.errors import AppError

import gzip
import hashlib
import math
import struct
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from app import paths
from app.data import limits
from app.storage import atomic_path


class DatasetError(AppError):
    """A dataset could not be loaded; the message names the file and what is wrong with it."""


def class_problem(train: "ArrayDataset", test: "ArrayDataset") -> str | None:
    """Why a classifier cannot be trained on ``train`` and scored on ``test``, or None: fewer than two classes with a
    training image (every figure would be 100%: a class whose every file was unreadable is named but has none), or
    splits whose classes differ (a label index would name another class in each)."""
    names = tuple(train.classes)
    if len(names) < 2:
        return (f"{train.name}: {len(names)} class ({', '.join(names) or 'none'}); a classifier needs at least "
                f"two (its accuracy would be 100% whatever it learnt)")
    present = [int(c) for c in np.unique(np.asarray(train.labels))]
    if len(present) < 2:
        have = [names[c] if 0 <= c < len(names) else str(c) for c in present]
        empty = [n for c, n in enumerate(names) if c not in present]
        return (f"{train.name}: {len(have)} class with training images ({', '.join(have) or 'none'}; no training "
                f"image of {', '.join(empty)}); a classifier needs at least two (its accuracy would be 100% "
                f"whatever it learnt)")
    if tuple(test.classes) != names:
        only_train = [c for c in names if c not in test.classes]
        only_test = [c for c in test.classes if c not in names]
        if only_train or only_test:
            what = "; ".join(x for x in (f"only in train: {', '.join(only_train)}" if only_train else "",
                                         f"only in test: {', '.join(only_test)}" if only_test else "") if x)
        else:
            what = "the same names in another order"
        return f"{train.name}: the train and test splits' classes differ ({what})"
    return None


def data_notes(*splits: "ArrayDataset") -> tuple[str, ...]:
    """What loading said of these splits (files skipped or resized, a test split's missing classes ...), each note
    once, in order: shown beside a result computed on them (``data info`` lists a split's own)."""
    seen: dict[str, None] = {}
    for ds in splits:
        for note in getattr(ds, "notes", ()) or ():
            seen.setdefault(str(note), None)
    return tuple(seen)


VAL_FIXED = 5000  # validation images when the training subset has at least VAL_LARGE images
VAL_LARGE = 20000
VAL_FRACTION = 0.2


def limited(ds: "ArrayDataset", limit: int | None, seed: int) -> "ArrayDataset":
    """A split limited to ``limit`` images: the one subset rule of every command (probe, train, eval, the GUI).
    The training split takes the seeded subset of ``seed``, the test split that of ``seed + 1`` (two draws, not one
    permutation's first images twice), so that ``eval --seed S --test-limit N`` scores the images a probe with split
    seed S scores (they were different subsets: 98 of 1,000 images in common)."""
    return ds.subset(limit, seed=int(seed) + (1 if ds.split == "test" else 0))


def validation_indices(labels: np.ndarray, n_val: int, seed: int) -> np.ndarray:
    """The indices of a seeded, class-stratified validation split of exactly ``n_val`` of ``labels`` (each class's
    share rounded down, the rest filled from the shuffled remainder): ``ArrayDataset.split_off``'s, and ``bench
    svm --select-C``'s."""
    labels = np.asarray(labels)
    n = len(labels)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    ordered = labels[order]
    classes, counts = np.unique(ordered, return_counts=True)
    want = np.floor(counts * (n_val / n)).astype(np.int64)
    picked = [order[ordered == c][:k] for c, k in zip(classes, want)]
    val = np.concatenate(picked) if picked else np.zeros(0, np.int64)
    if len(val) < n_val:
        rest_pool = np.setdiff1d(order, val, assume_unique=False)
        rest_pool = order[np.isin(order, rest_pool)]
        val = np.concatenate([val, rest_pool[:n_val - len(val)]])
    return val


def default_val(n_train: int, n_classes: int = 0) -> int:
    """The validation images carved from a training subset of ``n_train`` when the user names none, for the probe and
    for training alike: 5000 from 20000 up, else 20% (at least one per class where the subset allows it, and always
    leaving training images)."""
    if n_train >= VAL_LARGE:
        return VAL_FIXED
    v = int(round(VAL_FRACTION * n_train))
    v = max(v, min(n_classes, n_train // 2))
    return max(0, min(v, n_train - 1))


@dataclass(frozen=True)
class ArrayDataset:
    name: str
    split: str
    images: np.ndarray  # uint8 (N, H, W, C)
    labels: np.ndarray  # int64 (N,)
    classes: tuple[str, ...]
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    notes: tuple[str, ...] = field(default=())  # e.g. files skipped because they were corrupt

    def __len__(self) -> int:
        return len(self.labels)

    @cached_property
    def fingerprint(self) -> str:
        """A digest of the pixels, labels and class names (blake2b, 16 hex digits; about 0.5 s for CIFAR-10's
        150 MB): the content key for caches of anything computed from this dataset (the probe's features), so
        that an edited image folder never serves stale results."""
        h = hashlib.blake2b(digest_size=8)
        h.update(f"{self.images.shape}|{self.images.dtype}|{len(self.labels)}|".encode())
        h.update("\n".join(self.classes).encode("utf-8", "surrogateescape"))
        h.update(np.ascontiguousarray(self.labels, dtype=np.int64).tobytes())
        h.update(memoryview(np.ascontiguousarray(self.images)).cast("B"))
        return h.hexdigest()

    @property
    def channels(self) -> int:
        return int(self.images.shape[-1])

    @property
    def shape(self) -> tuple[int, int, int]:
        n, h, w, c = self.images.shape
        return (c, h, w)

    def subset_indices(self, n: int | None, seed: int = 0) -> np.ndarray:
        """The indices ``subset(n, seed)`` keeps, in this dataset (sorted)."""
        if n is None or n >= len(self):
            return np.arange(len(self))
        idx = np.random.default_rng(seed).permutation(len(self))[:n]
        idx.sort()
        return idx

    def subset(self, n: int | None, seed: int = 0) -> "ArrayDataset":
        """A seeded subset of at most n examples (a random permutation's first n, in their original order: not
        stratified by class)."""
        if n is None or n >= len(self):
            return self
        idx = self.subset_indices(n, seed)
        return ArrayDataset(self.name, self.split, self.images[idx], self.labels[idx], self.classes,
                            self.mean, self.std, self.notes)

    def take(self, idx: np.ndarray, split: str | None = None) -> "ArrayDataset":
        idx = np.sort(np.asarray(idx, dtype=np.int64))
        return ArrayDataset(self.name, split or self.split, self.images[idx], self.labels[idx], self.classes,
                            self.mean, self.std, self.notes)

    def mirrored(self) -> "ArrayDataset":
        """The same images mirrored left to right (the labels unchanged): the probe's test-time view "hflip"."""
        return ArrayDataset(self.name, self.split, np.ascontiguousarray(self.images[:, :, ::-1]), self.labels,
                            self.classes, self.mean, self.std, self.notes)

    def shifted(self, dy: int, dx: int) -> "ArrayDataset":
        """The same images moved by ``dy`` rows and ``dx`` columns (positive: down, right), the uncovered edge filled
        with zeros (black; MNIST's background), the labels unchanged: the probe's test-time views "shift1"."""
        dy, dx = int(dy), int(dx)
        h, w = self.images.shape[1:3]
        out = np.zeros_like(self.images)
        if abs(dy) < h and abs(dx) < w:
            out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
                self.images[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
        return ArrayDataset(self.name, self.split, out, self.labels, self.classes, self.mean, self.std, self.notes)

    def split_off(self, n_val: int, seed: int = 0) -> tuple["ArrayDataset", "ArrayDataset"]:
        """(rest, validation): a seeded, class-stratified validation split of ``n_val`` examples carved from this
        (training) split. ``n_val`` 0 gives an empty validation set. The same (data, n_val, seed) always gives the
        same split; the validation set's ``split`` is "val"."""
        n = len(self)
        n_val = int(n_val)
        if n_val < 0 or n_val >= n:
            raise DatasetError(f"a validation split of {n_val} images needs more than {n_val} training images "
                               f"({self.name} has {n})")
        if n_val == 0:
            return self, self.take(np.zeros(0, np.int64), "val")
        val = validation_indices(self.labels, n_val, seed)
        mask = np.ones(n, bool)
        mask[val] = False
        return self.take(np.flatnonzero(mask)), self.take(val, "val")


# per-channel mean and standard deviation of each dataset's training split, pixels in [0, 1] (digits: its seeded
# 1,347-image training split, measured here; the others as published)
NORMALISATION = {
    "digits": ((0.3049,), (0.3761,)),
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "stl10": ((0.4467, 0.4398, 0.4066), (0.2603, 0.2566, 0.2713)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


def normalisation(name: str, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    base = name.split(":", 1)[0]
    if base in NORMALISATION:
        return NORMALISATION[base]
    return ((0.5,) * channels, (0.25,) * channels)


# --- digits -------------------------------------------------------------------------------------------------
def load_digits(split: str, test_fraction: float = 0.25, seed: int = 0) -> ArrayDataset:
    imgs, labels = _digits_arrays()
    train_idx, test_idx = seeded_split(labels, test_fraction, seed)
    idx = train_idx if split == "train" else test_idx
    mean, std = NORMALISATION["digits"]
    return ArrayDataset("digits", split, imgs[idx], labels[idx], tuple(str(i) for i in range(10)), mean, std)


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits as uint8 (N, 8, 8, 1) and labels; cached as .npz (importing scikit-learn takes seconds)."""
    cache = paths.cache_dir() / "datasets" / "digits-v1.npz"
    try:
        with np.load(cache, allow_pickle=False) as z:
            imgs, labels = z["images"], z["labels"]
        if imgs.shape == (1797, 8, 8, 1) and labels.shape == (1797,):
            return imgs, labels
    except (OSError, KeyError, ValueError):
        pass
    pixels, target = _digits_table()
    imgs = np.clip(pixels.reshape(-1, 8, 8) * (255.0 / 16.0), 0, 255).astype(np.uint8)[..., None]
    labels = target.astype(np.int64)
    try:
        save_npz_atomic(cache, images=imgs, labels=labels)
    except OSError:
        pass  # only the next start is slower
    return imgs, labels


def _digits_table() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digits' 64 pixels (0-16) and labels as scikit-learn ships them (``datasets/data/digits.csv.gz``),
    read without importing scikit-learn: its import takes seconds, and in a worker thread its thousands of file
    system calls keep the GUI thread from the interpreter lock (issue 14; docs/benchmarks/startup.md, session 16).
    Falls back to ``sklearn.datasets.load_digits`` where the file is not where this expects it."""
    from importlib.util import find_spec

    spec = find_spec("sklearn")
    for root in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(root) / "datasets" / "data" / "digits.csv.gz"
        try:
            table = np.loadtxt(path, delimiter=",")
        except (OSError, ValueError):
            continue
        if table.shape == (1797, 65):
            return table[:, :-1], table[:, -1]
    from sklearn.datasets import load_digits as _ld

    d = _ld()
    return d.data, d.target


def seeded_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A stratified, seeded train/test split of indices."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        k = int(round(len(idx) * test_fraction))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


# --- IDX (MNIST, Fashion-MNIST) ---------------------------------------------------------------------------
def read_idx(path: Path, max_bytes: int | None = None) -> np.ndarray:
    """Read an IDX file (optionally gzipped), checking magic, dimensions and length. The header's declared size
    is checked against ``max_bytes`` (default ``limits.MAX_DATASET_BYTES``) before the data is read, and no more
    than the declared bytes (plus one, to see trailing data) are read; only a ``.gz`` that holds more is read on, at
    most ``GZ_TAIL_BYTES``, to its end, so that gzip's CRC tells damaged data (said as such) from trailing data."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4:
                raise DatasetError(f"{path.name}: too short to be an IDX file ({len(head)} bytes)")
            zero, dtype_code, ndim = struct.unpack(">HBB", head)
            if zero != 0 or dtype_code != 0x08 or ndim not in (1, 3):
                raise DatasetError(f"{path.name}: wrong header (magic 0x{head.hex()}, expected 0x00000801 or "
                                   f"0x00000803)")
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise DatasetError(f"{path.name}: truncated header")
            dims = struct.unpack(">" + "I" * ndim, raw_dims)
            n = math.prod(dims)  # exact: no overflow
            limits.check_array(f"{path.name}", dims, 1, limits.MAX_DATASET_BYTES if max_bytes is None else max_bytes)
            chunks, left = [], n + 1  # read in blocks: a header may declare more than the file holds
            while left > 0 and (block := f.read(min(left, 1 << 24))):
                chunks.append(block)
                left -= len(block)
            raw = b"".join(chunks)
            ended = True  # the data ends where it should (or is shorter), or a plain file: its length decides
            if len(raw) > n and opener is gzip.open:
                # more data than declared: a damaged deflate stream decodes to garbage of any length. Read on to
                # the end of the stream (a bounded amount) so that gzip's CRC and length check decide
                ended = _drain(f, GZ_TAIL_BYTES)
    except (gzip.BadGzipFile, zlib.error) as exc:  # CRC, length or deflate errors: the compressed data is damaged
        if str(exc).startswith("Not a gzipped file"):
            raise DatasetError(f"{path.name}: cannot read ({exc})") from None  # not gzip, or bytes after it
        raise DatasetError(f"{path.name}: damaged: the compressed data does not decompress correctly ({exc}); "
                           f"download it again") from None
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path.name}: cannot read ({exc})") from exc
    if len(raw) != n:
        what = ("truncated" if len(raw) < n else "longer than its header says" if ended
                else "damaged or longer than its header says")
        raise DatasetError(f"{path.name}: {what}: header says {dims} = {n:,} bytes of data, file has "
                           f"{len(raw):,}{'+' if len(raw) > n else ''}")
    try:
        return np.frombuffer(raw, dtype=np.uint8).reshape(dims)
    except ValueError:  # e.g. (0, 3e9, 3e9): no data, but too many elements per image for an array
        raise DatasetError(f"{path.name}: the header's dimensions {dims} do not form an image array") from None


GZ_TAIL_BYTES = 64 << 20  # decompressed bytes read past a .gz IDX file's declared data to reach its CRC


def _drain(f, limit: int) -> bool:
    """Read ``f`` to its end, at most ``limit`` bytes (discarded): True when the end was reached."""
    while limit > 0:
        block = f.read(min(limit, 1 << 20))
        if not block:
            return True
        limit -= len(block)
    return not f.read(1)


IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find(folder: Path, stem: str) -> Path:
    for cand in (folder / stem, folder / (stem + ".gz")):
        if cand.exists():
            return cand
    raise DatasetError(f"{stem}(.gz) not found in {folder}")


def save_npz_atomic(path: Path, **arrays: np.ndarray) -> None:
    """An uncompressed ``.npz`` written through ``app.storage.atomic_path`` (absent or complete, never half)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


# --- the registry ---------------------------------------------------------------------------------------
def names() -> list[str]:
    return ["digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "stl10", "imagefolder:PATH"]


def imagefolder_path(name: str) -> str:
    """PATH of ``imagefolder:PATH``; an empty PATH is refused (``Path("")`` is the current folder: its
    sub-folders would silently become the classes)."""
    folder = name.split(":", 1)[1] if name.startswith("imagefolder:") else name
    if not folder.strip():
        raise DatasetError(f"{name!r} names no folder: give imagefolder:PATH, PATH a folder of class sub-folders "
                           f"(imagefolder:. for the current folder)")
    return folder


def load(name: str, split: str = "train", root: str | Path | None = None, **kw) -> ArrayDataset:
    if split not in ("train", "test"):
        raise DatasetError(f"unknown split {split!r} (train or test)")
    if name == "digits":
        return load_digits(split)
    if name.startswith("imagefolder:"):
        from app.data.imagefolder import load_imagefolder

        return load_imagefolder(imagefolder_path(name), split, **kw)
    try:
        from app.data import formats  # mnist, fashion-mnist, cifar10/100, stl10 (with the parsed-array cache)
    except ModuleNotFoundError as exc:
        if exc.name != "app.data.formats":
            raise
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(names())}") from None
    return formats.load(name, split, root, **kw)
