"""Dataset core: the array container and the loaders for the formats every workspace needs."""

from __future__ import annotations

from app.errors import AppError

import gzip
import hashlib
import os
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app import paths


class DatasetError(AppError):
    """A dataset could not be loaded; the message names the file and what is wrong with it."""


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

    @property
    def channels(self) -> int:
        return int(self.images.shape[-1])

    @property
    def shape(self) -> tuple[int, int, int]:
        n, h, w, c = self.images.shape
        return (c, h, w)

    def subset(self, n: int | None, seed: int = 0) -> "ArrayDataset":
        """A seeded, class-stratified-by-shuffle subset of at most n examples."""
        if n is None or n >= len(self):
            return self
        idx = np.random.default_rng(seed).permutation(len(self))[:n]
        idx.sort()
        return ArrayDataset(self.name, self.split, self.images[idx], self.labels[idx], self.classes,
                            self.mean, self.std, self.notes)

    def take(self, idx: np.ndarray, split: str | None = None) -> "ArrayDataset":
        idx = np.sort(np.asarray(idx, dtype=np.int64))
        return ArrayDataset(self.name, split or self.split, self.images[idx], self.labels[idx], self.classes,
                            self.mean, self.std, self.notes)

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
        rng = np.random.default_rng(seed)
        order = rng.permutation(n)
        # stratified: take each class's share in proportion, then fill from the shuffled rest
        labels = self.labels[order]
        classes, counts = np.unique(labels, return_counts=True)
        want = np.floor(counts * (n_val / n)).astype(np.int64)
        picked = []
        for c, k in zip(classes, want):
            picked.append(order[labels == c][:k])
        val = np.concatenate(picked) if picked else np.zeros(0, np.int64)
        if len(val) < n_val:
            rest_pool = np.setdiff1d(order, val, assume_unique=False)
            rest_pool = order[np.isin(order, rest_pool)]
            val = np.concatenate([val, rest_pool[:n_val - len(val)]])
        mask = np.ones(n, bool)
        mask[val] = False
        return self.take(np.flatnonzero(mask)), self.take(val, "val")


NORMALISATION = {
    "digits": ((0.5,), (0.5,)),
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
    from sklearn.datasets import load_digits as _ld

    d = _ld()
    imgs = np.clip(d.images * (255.0 / 16.0), 0, 255).astype(np.uint8)[..., None]
    labels = d.target.astype(np.int64)
    try:
        save_npz_atomic(cache, images=imgs, labels=labels)
    except OSError:
        pass  # only the next start is slower
    return imgs, labels


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
def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped), checking magic, dimensions and length."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path.name}: cannot read ({exc})") from exc
    if len(raw) < 4:
        raise DatasetError(f"{path.name}: too short to be an IDX file ({len(raw)} bytes)")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or ndim not in (1, 3):
        raise DatasetError(f"{path.name}: wrong header (magic 0x{raw[:4].hex()}, expected 0x00000801 or 0x00000803)")
    if len(raw) < 4 + 4 * ndim:
        raise DatasetError(f"{path.name}: truncated header")
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    n = int(np.prod(dims))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != n:
        raise DatasetError(f"{path.name}: truncated: header says {dims} = {n} bytes of data, file has {data.size}")
    return data.reshape(dims)


IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find(folder: Path, stem: str) -> Path:
    for cand in (folder / stem, folder / (stem + ".gz")):
        if cand.exists():
            return cand
    raise DatasetError(f"{stem}(.gz) not found in {folder}")


def load_idx_dataset(name: str, folder: Path, split: str, classes: tuple[str, ...]) -> ArrayDataset:
    img_stem, lab_stem = IDX_FILES[split]
    images = read_idx(_find(folder, img_stem))
    labels = read_idx(_find(folder, lab_stem)).astype(np.int64)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DatasetError(f"{folder}: {img_stem} and {lab_stem} do not match ({images.shape} vs {labels.shape})")
    mean, std = NORMALISATION.get(name, ((0.5,), (0.25,)))
    return ArrayDataset(name, split, np.ascontiguousarray(images[..., None]), labels, classes, mean, std)


def mnist_folder(root: Path | None) -> Path:
    root = Path(root) if root else paths.data_root()
    for cand in (root / "MNIST" / "raw", root / "mnist" / "raw", root / "MNIST", root):
        if (cand / "train-images-idx3-ubyte.gz").exists() or (cand / "train-images-idx3-ubyte").exists():
            return cand
    shared = paths.shared_dir()
    if shared and (shared / "datasets" / "MNIST" / "raw").is_dir() and root == paths.data_root():
        return shared / "datasets" / "MNIST" / "raw"
    raise DatasetError(f"MNIST not found under {root} (expected MNIST/raw/train-images-idx3-ubyte.gz)")


# --- image folders ---------------------------------------------------------------------------------------
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def _cache_key(folder: Path) -> str:
    """A digest of every file's relative path, size and modification time (os.scandir: fast for 60k files)."""
    h = hashlib.sha1()

    def walk(path: str, rel: str) -> None:
        with os.scandir(path) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            if e.is_dir(follow_symlinks=True):
                walk(e.path, rel + e.name + "/")
            else:
                st = e.stat()
                h.update(f"{rel}{e.name}:{st.st_size}:{int(st.st_mtime)}\n".encode())

    walk(str(folder), "")
    return h.hexdigest()[:16]


def save_npz_atomic(path: Path, **arrays: np.ndarray) -> None:
    """Write an uncompressed ``.npz`` so that ``path`` is either absent or complete: a unique temporary file in the
    same folder, flushed to disk, then ``os.replace``. A failure removes the temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _decode(p: Path):
    import cv2

    try:
        buf = np.fromfile(p, dtype=np.uint8)
    except OSError:
        return None
    if buf.size == 0:
        return None
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None:
        return None
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def iter_load_imagefolder(path: str | Path, split: str, size: int | None = None, seed: int = 0,
                          test_fraction: float = 0.2, cancel=None, threads: int | None = None):
    """``load_imagefolder`` as a task generator (``app.tasks``): yields Progress while decoding, returns the
    ArrayDataset. Images are decoded in ``threads`` threads (OpenCV releases the GIL); cancel is checked between
    chunks."""
    from concurrent.futures import ThreadPoolExecutor

    import cv2

    from app.tasks import Progress, check

    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    has_splits = (root / "train").is_dir() and (root / "test").is_dir()
    folder = root / split if has_splits else root
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DatasetError(f"{folder}: no class sub-folders")
    yield Progress(0, None, f"scanning {folder}")
    key = f"{_cache_key(folder)}-{size}"
    cache = paths.cache_dir() / "imagefolder" / f"{folder.name}-{key}.npz"
    if cache.exists():
        try:
            with np.load(cache, allow_pickle=False) as z:
                images, labels, notes = z["images"], z["labels"], tuple(z["notes"].tolist())
        except Exception:
            cache.unlink(missing_ok=True)
        else:
            yield Progress(1, 1, f"{folder.name}: {len(labels)} images from the cache")
            return _imagefolder_result(root, split, images, labels, classes, notes, has_splits, seed, test_fraction)
    files = [(p, ci) for ci, c in enumerate(classes) for p in sorted((folder / c).rglob("*"))
             if p.suffix.lower() in IMAGE_EXTS and p.is_file()]
    if not files:
        raise DatasetError(f"{folder}: no image files ({', '.join(sorted(IMAGE_EXTS))})")
    images_l, labels_l, notes_l = [], [], []
    target = None if size is None else (size, size)
    threads = threads or max(1, min(4, os.cpu_count() or 1))
    chunk = 512
    with ThreadPoolExecutor(threads, thread_name_prefix="decode") as pool:
        for start in range(0, len(files), chunk):
            check(cancel)
            part = files[start:start + chunk]
            for (p, ci), img in zip(part, pool.map(_decode, [p for p, _ in part])):
                if img is None:
                    notes_l.append(f"{p.relative_to(root)}: not a readable image, skipped")
                    continue
                if target is None:
                    target = (img.shape[0], img.shape[1])
                if img.shape[:2] != target:
                    img = cv2.resize(img, (target[1], target[0]), interpolation=cv2.INTER_AREA)
                images_l.append(img)
                labels_l.append(ci)
            yield Progress(min(start + chunk, len(files)), len(files), f"decoding {folder.name}")
    if not images_l:
        raise DatasetError(f"{folder}: none of {len(files)} files could be read")
    images = np.stack(images_l)
    labels = np.asarray(labels_l, dtype=np.int64)
    notes = tuple(notes_l)
    save_npz_atomic(cache, images=images, labels=labels, notes=np.asarray(notes, dtype=str))
    return _imagefolder_result(root, split, images, labels, classes, notes, has_splits, seed, test_fraction)


def load_imagefolder(path: str | Path, split: str, size: int | None = None, seed: int = 0,
                     test_fraction: float = 0.2, progress=None, cancel=None) -> ArrayDataset:
    """Load a folder of class sub-folders; ``train/`` and ``test/`` splits when present, else a seeded split.

    Decoded arrays are cached (``.npz`` in the cache folder, written atomically). Corrupt images are skipped and
    named in ``notes``. All images are resized to the first image's size (or ``size``). ``progress(done, total)``
    is called while decoding.
    """
    gen = iter_load_imagefolder(path, split, size, seed, test_fraction, cancel=cancel)
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        if progress is not None and p.total:
            progress(int(p.done), int(p.total))


def _imagefolder_result(root, split, images, labels, classes, notes, has_splits, seed, test_fraction):
    if not has_splits:
        tr, te = seeded_split(labels, test_fraction, seed)
        idx = tr if split == "train" else te
        images, labels = images[idx], labels[idx]
    c = images.shape[-1]
    # statistics from images spread over the whole split (the files are sorted by class: the first ones are
    # all of one class and would bias the normalisation)
    sample = images[:: max(1, len(images) // 2000)].reshape(-1, c).astype(np.float32)
    mean = tuple(float(v) for v in (sample.mean(0) / 255.0))
    std = tuple(float(max(v, 1e-3)) for v in (sample.std(0) / 255.0))
    return ArrayDataset(f"imagefolder:{root}", split, images, labels, tuple(classes), mean, std, tuple(notes))


# --- the registry ---------------------------------------------------------------------------------------
def names() -> list[str]:
    return ["digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "stl10", "imagefolder:PATH"]


def load(name: str, split: str = "train", root: str | Path | None = None, **kw) -> ArrayDataset:
    if split not in ("train", "test"):
        raise DatasetError(f"unknown split {split!r} (train or test)")
    if name == "digits":
        return load_digits(split)
    if name.startswith("imagefolder:"):
        return load_imagefolder(name.split(":", 1)[1], split, **kw)
    try:
        from app.data import formats  # mnist, fashion-mnist, cifar10/100, stl10 (with the parsed-array cache)
    except ModuleNotFoundError as exc:
        if exc.name != "app.data.formats":
            raise
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(names())}") from None
    return formats.load(name, split, root, **kw)
