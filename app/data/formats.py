"""The built-in datasets in their official file formats, their downloads, and the parsed-array cache (no Qt).

Names (``app.data.names()``):

- ``digits``: scikit-learn's 8x8 digits, embedded (needs nothing).
- ``mnist`` / ``fashion-mnist``: IDX files (``.gz`` or plain) in torchvision's layout ``<root>/MNIST/raw`` and
  ``<root>/FashionMNIST/raw``.
- ``cifar10`` / ``cifar100``: the CIFAR *binary version* (``cifar-10-batches-bin``, ``cifar-100-binary``: plain
  bytes, what ``download`` fetches), torchvision's *python version* folders (``cifar-10-batches-py``,
  ``cifar-100-python``: pickles, read with a restricted unpickler that can build nothing but dicts, lists, strings,
  numbers and uint8 numpy arrays), or either ``.tar.gz`` archive lying in the root.
- ``stl10``: ``stl10_binary`` (``train_X.bin`` ... column-major 3x96x96) or ``stl10_binary.tar.gz``.
- ``imagefolder:PATH``: see ``app.data.imagefolder``.

``root`` defaults to ``app.paths.data_root()``. The official download locations and MD5s are torchvision's (CIFAR
binary: the dataset page's); ``FILTER_EXPLORER_MIRROR`` (or ``mirror=``) replaces every URL's folder with a mirror
that serves the same file names. Parsed arrays from compressed or pickled sources are cached as ``.npz`` in
``paths.cache_dir()/datasets`` (written atomically), so a second load is fast.

Entry points: ``load(name, split, root)``, ``load_task(...)`` (the same as a task generator with progress and
cancel), ``download(name, root, ...)`` (task generator), ``status(name, root)``, ``BUILTINS``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Generator

import numpy as np

from app import paths
from app.data import core, imagefolder, limits
from app.data.core import ArrayDataset, DatasetError, NORMALISATION
from app.errors import LimitError
from app.storage import atomic_path, file_digest, human_size
from app.tasks import CancelToken, Progress, check, run_to_end

MIRROR_ENV = "FILTER_EXPLORER_MIRROR"


class NotDownloaded(DatasetError):
    """The dataset has no local copy under the root; ``download(name)`` fetches it."""

    def __init__(self, dataset: str, root: Path, message: str) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.root = root


@dataclass(frozen=True)
class RemoteFile:
    filename: str
    url: str
    md5: str
    size: int  # bytes (as published; for display)


@dataclass(frozen=True)
class Builtin:
    name: str
    title: str
    classes: tuple[str, ...]
    image_shape: tuple[int, int, int]  # H, W, C
    counts: tuple[int, int]  # train, test
    files: tuple[RemoteFile, ...]
    download_dir: str  # under the root: where the files go (archives are unpacked into the root)
    credit: str

    @property
    def download_size(self) -> int:
        return sum(f.size for f in self.files)


_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_KRIZ = "https://www.cs.toronto.edu/~kriz/"
_STL = "http://ai.stanford.edu/~acoates/stl10/"

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
STL10_CLASSES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")

BUILTINS: dict[str, Builtin] = {
    "mnist": Builtin(
        "mnist", "MNIST handwritten digits", tuple(str(i) for i in range(10)), (28, 28, 1), (60000, 10000),
        (RemoteFile("train-images-idx3-ubyte.gz", _MNIST + "train-images-idx3-ubyte.gz",
                    "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
         RemoteFile("train-labels-idx1-ubyte.gz", _MNIST + "train-labels-idx1-ubyte.gz",
                    "d53e105ee54ea40749a09fcbcd1e9432", 28881),
         RemoteFile("t10k-images-idx3-ubyte.gz", _MNIST + "t10k-images-idx3-ubyte.gz",
                    "9fb629c4189551a2d022fa330f9573f3", 1648877),
         RemoteFile("t10k-labels-idx1-ubyte.gz", _MNIST + "t10k-labels-idx1-ubyte.gz",
                    "ec29112dd5afa0611ce80d1b7f02629c", 4542)),
        "MNIST/raw", "Yann LeCun, Corinna Cortes, Christopher Burges (CC BY-SA 3.0)"),
    "fashion-mnist": Builtin(
        "fashion-mnist", "Fashion-MNIST clothing", FASHION_CLASSES, (28, 28, 1), (60000, 10000),
        (RemoteFile("train-images-idx3-ubyte.gz", _FASHION + "train-images-idx3-ubyte.gz",
                    "8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26421880),
         RemoteFile("train-labels-idx1-ubyte.gz", _FASHION + "train-labels-idx1-ubyte.gz",
                    "25c81989df183df01b3e8a0aad5dffbe", 29515),
         RemoteFile("t10k-images-idx3-ubyte.gz", _FASHION + "t10k-images-idx3-ubyte.gz",
                    "bef4ecab320f06d8554ea6380940ec79", 4422102),
         RemoteFile("t10k-labels-idx1-ubyte.gz", _FASHION + "t10k-labels-idx1-ubyte.gz",
                    "bb300cfdad3c16e7a12a480ee83cd310", 5148)),
        "FashionMNIST/raw", "Zalando Research (MIT licence)"),
    "cifar10": Builtin(
        "cifar10", "CIFAR-10 (32x32 colour, 10 classes)", CIFAR10_CLASSES, (32, 32, 3), (50000, 10000),
        (RemoteFile("cifar-10-binary.tar.gz", _KRIZ + "cifar-10-binary.tar.gz",
                    "c32a1d4ab5d03f1284b67883e8d87530", 170052171),),
        "", "Alex Krizhevsky, Vinod Nair, Geoffrey Hinton (2009)"),
    "cifar100": Builtin(
        "cifar100", "CIFAR-100 (32x32 colour, 100 fine classes)", tuple(f"class {i}" for i in range(100)),
        (32, 32, 3), (50000, 10000),
        (RemoteFile("cifar-100-binary.tar.gz", _KRIZ + "cifar-100-binary.tar.gz",
                    "03b5dce01913d631647c71ecec9e9cb8", 168513733),),
        "", "Alex Krizhevsky, Vinod Nair, Geoffrey Hinton (2009)"),
    "stl10": Builtin(
        "stl10", "STL-10 (96x96 colour, 10 classes; labelled part)", STL10_CLASSES, (96, 96, 3), (5000, 8000),
        (RemoteFile("stl10_binary.tar.gz", _STL + "stl10_binary.tar.gz",
                    "91f7769df0f17e558f3565bffb0c7dfb", 2640397119),),
        "", "Adam Coates, Honglak Lee, Andrew Y. Ng (2011)"),
}

# members unpacked from each archive (STL-10's 2.4 GB unlabeled_X.bin is left out)
ARCHIVE_MEMBERS = {
    "cifar-10-binary.tar.gz": ("cifar-10-batches-bin", [f"data_batch_{i}.bin" for i in range(1, 6)]
                               + ["test_batch.bin", "batches.meta.txt"]),
    "cifar-100-binary.tar.gz": ("cifar-100-binary", ["train.bin", "test.bin", "fine_label_names.txt",
                                                     "coarse_label_names.txt"]),
    "cifar-10-python.tar.gz": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)]
                               + ["test_batch", "batches.meta"]),
    "cifar-100-python.tar.gz": ("cifar-100-python", ["train", "test", "meta"]),
    "stl10_binary.tar.gz": ("stl10_binary", ["train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin",
                                             "class_names.txt"]),
}
OPTIONAL_MEMBERS = {"batches.meta.txt", "fine_label_names.txt", "coarse_label_names.txt", "class_names.txt",
                    "batches.meta", "meta"}


def builtin_names() -> list[str]:
    return ["digits", *BUILTINS]


def _root(root: str | Path | None) -> Path:
    return Path(root).expanduser() if root else paths.data_root()


# --- the restricted unpickler (CIFAR python version) -------------------------------------------------------
def _allowed_globals() -> dict[tuple[str, str], object]:
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    import _codecs

    def latin1_encode(obj, encoding="latin1", errors="strict"):
        # protocol-2 pickles written by Python 3 store bytes as _codecs.encode(str, 'latin1')
        if encoding not in ("latin1", "latin-1") or not isinstance(obj, str):
            raise pickle.UnpicklingError("forbidden use of _codecs.encode")
        return _codecs.encode(obj, "latin1", errors)

    def dtype(spec, align=False, copy=False):
        d = np.dtype(spec, align, copy)
        if d.hasobject:
            raise pickle.UnpicklingError("object arrays are not allowed")
        return d

    def reconstruct(cls, shape, dt):
        # numpy's pickles build an array as _reconstruct(ndarray, (0,), b"b") and then fill it (BUILD) from bytes
        # that are in the pickle, whose length numpy checks against the shape; any other use would allocate an
        # uninitialised array of a declared size
        if cls is not _NdarrayName:
            raise pickle.UnpicklingError("forbidden use of numpy's _reconstruct")
        if not isinstance(shape, tuple) or not all(isinstance(s, int) and s >= 0 for s in shape):
            raise pickle.UnpicklingError("a malformed array shape")
        limits.check_array("an array in the pickle", shape, dtype(dt).itemsize, limit=0)
        return _reconstruct(np.ndarray, shape, dt)

    allowed = {("numpy", "ndarray"): _NdarrayName, ("numpy", "dtype"): dtype, ("_codecs", "encode"): latin1_encode}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = reconstruct
    return allowed


class _NdarrayName:
    """What the name ``numpy.ndarray`` means in a CIFAR pickle: only the first argument of ``_reconstruct``; calling
    it (``ndarray((300000, 3072))``: an uninitialised 900 MB array from a 193-byte file) is refused."""

    def __init__(self, *args, **kwargs) -> None:
        raise pickle.UnpicklingError("numpy.ndarray may not be called directly in a dataset pickle")


class SafeUnpickler(pickle.Unpickler):
    """Builds only plain containers, strings, numbers and numpy arrays of plain dtypes; anything else fails."""

    _allowed = None

    def find_class(self, module: str, name: str):
        if SafeUnpickler._allowed is None:
            SafeUnpickler._allowed = _allowed_globals()
        try:
            return SafeUnpickler._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}") from None


def safe_unpickle(data: bytes, label: str) -> object:
    try:
        return SafeUnpickler(io.BytesIO(data), encoding="latin1").load()
    except LimitError as exc:
        raise LimitError(f"{label}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, OverflowError, MemoryError, RecursionError) as exc:
        raise DatasetError(f"{label}: not a valid CIFAR python batch ({exc.__class__.__name__}: {exc})") from None


# --- sources: where a dataset lies locally --------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    kind: str  # idx, cifar-bin, cifar-py, stl-bin, archive
    path: Path  # folder, or the archive
    compressed: bool  # worth caching the parsed arrays


def _idx_folder(root: Path, sub: str) -> Path | None:
    cands = [root / sub / "raw", root / sub.lower() / "raw", root / sub, root / sub.lower()]
    if sub == "MNIST":
        cands.append(root)
    for c in cands:
        if (c / "train-images-idx3-ubyte.gz").exists() or (c / "train-images-idx3-ubyte").exists():
            return c
    return None


def locate(name: str, root: str | Path | None = None) -> Source | None:
    """Where ``name`` lies under ``root`` (None: not there). MNIST also falls back to ``../shared`` when the root
    is the default one."""
    r = _root(root)
    if name in ("mnist", "fashion-mnist"):
        folder = _idx_folder(r, "MNIST" if name == "mnist" else "FashionMNIST")
        if folder is None and name == "mnist" and root is None:
            shared = paths.shared_dir()
            if shared is not None:
                folder = _idx_folder(shared / "datasets", "MNIST")
        if folder is None:
            return None
        gz = (folder / "train-images-idx3-ubyte.gz").exists() and not (folder / "train-images-idx3-ubyte").exists()
        return Source("idx", folder, gz)
    if name == "cifar10":
        cands = [("cifar-bin", r / "cifar-10-batches-bin", "data_batch_1.bin"),
                 ("cifar-py", r / "cifar-10-batches-py", "data_batch_1")]
        archives = ["cifar-10-binary.tar.gz", "cifar-10-python.tar.gz"]
    elif name == "cifar100":
        cands = [("cifar-bin", r / "cifar-100-binary", "train.bin"), ("cifar-py", r / "cifar-100-python", "train")]
        archives = ["cifar-100-binary.tar.gz", "cifar-100-python.tar.gz"]
    elif name == "stl10":
        cands = [("stl-bin", r / "stl10_binary", "train_X.bin")]
        archives = ["stl10_binary.tar.gz"]
    else:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(core.names())}")
    for kind, folder, probe in cands:
        if (folder / probe).exists():
            return Source(kind, folder, kind == "cifar-py")
    for a in archives:
        if (r / a).is_file():
            return Source("archive", r / a, True)
    return None


# --- parsers --------------------------------------------------------------------------------------------
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
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DatasetError(f"{archive.name}: truncated or damaged archive ({exc})") from None
    return out


def _parse(name: str, src: Source, split: str, cancel: CancelToken | None
           ) -> Generator[Progress, None, tuple[np.ndarray, np.ndarray, tuple[str, ...]]]:
    b = BUILTINS[name]
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
        return np.ascontiguousarray(images[..., None]), labels, b.classes
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
        return images, labels, classes
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
        images_l.append(im)
        labels_l.append(lb)
    images, labels = np.concatenate(images_l), np.concatenate(labels_l)
    n_classes = len(b.classes)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise DatasetError(f"{where}{need[0]}: labels outside 0..{n_classes - 1}")
    if name == "cifar10":
        classes = _names_from_text(get("batches.meta.txt"), 10, CIFAR10_CLASSES)
        if kind == "cifar-py" and get("batches.meta"):
            meta = safe_unpickle(get("batches.meta"), where + "batches.meta")
            if isinstance(meta, dict) and len(meta.get("label_names", [])) == 10:
                classes = tuple(str(s) for s in meta["label_names"])
    else:
        classes = _names_from_text(get("fine_label_names.txt"), 100, b.classes)
        if kind == "cifar-py" and get("meta"):
            meta = safe_unpickle(get("meta"), where + "meta")
            if isinstance(meta, dict) and len(meta.get("fine_label_names", [])) == 100:
                classes = tuple(str(s) for s in meta["fine_label_names"])
    return images, labels, classes


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


# --- the parsed-array cache -----------------------------------------------------------------------------
def _source_key(src: Source) -> str:
    """The source's content key: every file's name, size, ``st_mtime_ns``, ``st_ctime_ns`` and a digest of its
    first and last 4 KiB (``imagefolder.edge_digest``), plus the absolute path."""
    h = hashlib.sha1(b"v2\n" + os.fsencode(str(src.path.resolve())))
    files = [src.path] if src.path.is_file() else sorted(p for p in src.path.iterdir() if p.is_file())
    for p in files:
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:".encode())
        h.update(imagefolder.edge_digest(p, st.st_size))
    return h.hexdigest()[:16]


def cache_path(name: str, split: str, src: Source) -> Path:
    """``cache/datasets/<name>-<split>-<digest of the absolute path>-<content key>.npz``."""
    where = imagefolder.path_digest(src.path)
    return paths.cache_dir() / "datasets" / f"{name}-{split}-{where}-{_source_key(src)}.npz"


def read_cache(path: Path) -> dict[str, np.ndarray] | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception:  # a damaged cache is rebuilt, never trusted
        path.unlink(missing_ok=True)
        return None


# --- loading --------------------------------------------------------------------------------------------
def _not_downloaded(name: str, root: Path) -> NotDownloaded:
    b = BUILTINS[name]
    where = {"mnist": "MNIST/raw/*.gz", "fashion-mnist": "FashionMNIST/raw/*.gz",
             "cifar10": "cifar-10-batches-bin, cifar-10-batches-py or cifar-10-binary.tar.gz",
             "cifar100": "cifar-100-binary, cifar-100-python or cifar-100-binary.tar.gz",
             "stl10": "stl10_binary or stl10_binary.tar.gz"}[name]
    return NotDownloaded(name, root, f"{name} is not downloaded under {root} (looked for {where}); download it "
                         f"({human_size(b.download_size)}) with `python main.py data download {name}` or the "
                         f"Download button")


def load_task(name: str, split: str = "train", root: str | Path | None = None,
              cancel: CancelToken | None = None, **kw) -> Generator[Progress, None, ArrayDataset]:
    """Load any dataset name (digits, built-ins, ``imagefolder:PATH``) as a task generator."""
    if split not in ("train", "test"):
        raise DatasetError(f"unknown split {split!r} (train or test)")
    if name == "digits":
        yield Progress(0, 1, "loading digits")
        return core.load_digits(split)
    if name.startswith("imagefolder:"):
        return (yield from imagefolder.iter_load_imagefolder(name.split(":", 1)[1], split, cancel=cancel, **kw))
    if name not in BUILTINS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(core.names())}")
    r = _root(root)
    src = locate(name, root)
    if src is None:
        raise _not_downloaded(name, r)
    cpath = cache_path(name, split, src) if src.compressed else None
    cached = read_cache(cpath) if cpath is not None else None
    notes: list[str] = []
    if cached is not None:
        yield Progress(1, 1, f"{name} {split} from the cache")
        images, labels, classes = cached["images"], cached["labels"], tuple(str(c) for c in cached["classes"])
    else:
        images, labels, classes = yield from _parse(name, src, split, cancel)
        if cpath is not None:
            check(cancel)
            yield Progress(0, None, f"caching {name} {split}")
            for old in cpath.parent.glob(cpath.name.rsplit("-", 1)[0] + "-*.npz"):
                if old != cpath:
                    old.unlink(missing_ok=True)
            try:
                core.save_npz_atomic(cpath, images=images, labels=labels, classes=np.asarray(classes, dtype=str))
            except OSError as exc:  # the data is fine; only the next load will be slower
                notes.append(f"could not write the cache {cpath.name} ({exc.strerror or exc})")
    if len(labels) == 0:
        raise DatasetError(f"{name} {split} under {src.path} holds no images")
    mean, std = NORMALISATION.get(name, core.normalisation(name, images.shape[-1]))
    return ArrayDataset(name, split, images, labels, tuple(classes), mean, std, tuple(notes))


def load(name: str, split: str = "train", root: str | Path | None = None, **kw) -> ArrayDataset:
    return run_to_end(load_task(name, split, root, **kw))


# --- status and downloads -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Status:
    name: str
    title: str
    local: bool
    where: str  # the local folder/archive, or "" when missing; "embedded" for digits
    download_size: int  # bytes (0: nothing to download)


def status(name: str, root: str | Path | None = None) -> Status:
    if name == "digits":
        return Status("digits", "scikit-learn 8x8 digits (embedded)", True, "embedded", 0)
    b = BUILTINS.get(name)
    if b is None:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(builtin_names())}")
    src = locate(name, root)
    return Status(name, b.title, src is not None, str(src.path) if src else "", b.download_size)


def mirror_url(f: RemoteFile, mirror: str | None) -> str:
    mirror = mirror or os.environ.get(MIRROR_ENV) or ""
    if not mirror:
        return f.url
    return mirror.rstrip("/") + "/" + f.filename


def download(name: str, root: str | Path | None = None, *, mirror: str | None = None,
             md5: dict[str, str] | None = None, cancel: CancelToken | None = None,
             keep_archive: bool = False, force: bool = False) -> Generator[Progress, None, Path]:
    """Fetch ``name`` from its official location (or ``mirror``) into ``root``; returns the local folder.

    Each file is checked against its published MD5 (``md5`` overrides per file name, for mirrors of other
    content such as test fixtures); archives are unpacked member by member (only the members the loader reads)
    and then deleted unless ``keep_archive``. Interrupted downloads resume; a cancelled one keeps its ``.part``.
    ``force``: fetch and unpack again even when the unpacked files are there (to repair a damaged copy; files
    that still match their checksum are not fetched again).
    """
    from app.data.download import fetch

    if name == "digits":
        yield Progress(1, 1, "digits ships with scikit-learn: nothing to download")
        return Path(core.__file__)
    b = BUILTINS.get(name)
    if b is None:
        raise DatasetError(f"unknown dataset {name!r}; downloadable: {', '.join(BUILTINS)}")
    r = _root(root)
    target = r / b.download_dir if b.download_dir else r
    target.mkdir(parents=True, exist_ok=True)
    got = []
    for i, f in enumerate(b.files):
        check(cancel)
        want = (md5 or {}).get(f.filename, f.md5)
        dest = target / f.filename
        if f.filename in ARCHIVE_MEMBERS:
            folder, members = ARCHIVE_MEMBERS[f.filename]
            if not force and all((r / folder / m).exists() for m in members if m not in OPTIONAL_MEMBERS):
                yield Progress(1, 1, f"{name}: already unpacked in {r / folder}")
                return r / folder
        prefix = f"[{i + 1}/{len(b.files)}] " if len(b.files) > 1 else ""
        for p in fetch(mirror_url(f, mirror), dest, md5=want, cancel=cancel):
            yield Progress(p.done, p.total, prefix + p.message)
        got.append(dest)
    if len(got) == 1 and got[0].name in ARCHIVE_MEMBERS:
        out = yield from unpack(got[0], r, cancel)
        if not keep_archive:
            got[0].unlink(missing_ok=True)
        return out
    return target


def unpack(archive: Path, root: Path, cancel: CancelToken | None = None) -> Generator[Progress, None, Path]:
    """Unpack the members the loaders read into ``root/<folder>``; each file appears complete or not at all.

    Member names are taken from the known list only (no path from the archive is trusted)."""
    folder, members = ARCHIVE_MEMBERS[archive.name]
    out = root / folder
    out.mkdir(parents=True, exist_ok=True)
    wanted = set(members)
    found: set[str] = set()
    total = archive.stat().st_size
    try:
        with open(archive, "rb") as raw, tarfile.open(fileobj=raw, mode="r:gz") as tf:
            for m in tf:
                check(cancel)
                base = m.name.rsplit("/", 1)[-1]
                if base not in wanted or base in found or not m.isfile():
                    continue
                yield Progress(raw.tell(), total, f"unpacking {base}")
                src = tf.extractfile(m)
                n = 0
                with atomic_path(out / base) as tmp, open(tmp, "wb") as dst:
                    while True:
                        check(cancel)
                        block = src.read(1 << 20)
                        if not block:
                            break
                        dst.write(block)
                        n += len(block)
                    if n != m.size:
                        raise EOFError(f"{m.name}: {n} of {m.size} bytes")
                found.add(base)
                if found == wanted:
                    break
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DatasetError(f"{archive.name}: truncated or damaged archive ({exc})") from None
    missing = sorted(wanted - found - OPTIONAL_MEMBERS)
    if missing:
        raise DatasetError(f"{archive.name}: missing {', '.join(missing)}")
    yield Progress(total, total, f"unpacked {archive.name} into {out}")
    return out


# --- verifying a local copy -----------------------------------------------------------------------------
# published MD5s of single files as they lie on disk: MNIST's decompressed IDX files (the shared copy was
# recompressed, so its .gz digests differ from the download's), torchvision's per-file digests for the CIFAR
# python version and STL-10. The CIFAR binary version publishes only the archive's digest.
FILE_MD5 = {
    "mnist": {"train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
              "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
              "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
              "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637"},
    "cifar-py10": {"data_batch_1": "c99cafc152244af753f735de768cd75f",
                   "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
                   "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
                   "data_batch_4": "634d18415352ddfa80567beed471001a",
                   "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
                   "test_batch": "40351d587109b95175f43aff81a1287e"},
    "cifar-py100": {"train": "16019d7e3df5f24257cddd939b257f8d", "test": "f0ef6b0ae62326f3e7ffdfab6717acfc"},
    "stl10": {"train_X.bin": "918c2871b30a85fa023e0c44e0bee87f", "train_y.bin": "5a34089d4802c674881badbb80307741",
              "test_X.bin": "7f263ba9f9e0b06b93213547f721ac82", "test_y.bin": "36f9794fa4beb8a2c72628de14fa638e"},
}


def _md5_stream(f, cancel: CancelToken | None) -> str:
    h = hashlib.md5()
    while True:
        check(cancel)
        block = f.read(1 << 20)
        if not block:
            return h.hexdigest()
        h.update(block)


def verify_local(name: str, root: str | Path | None = None, cancel: CancelToken | None = None
                 ) -> Generator[Progress, None, list[tuple[str, bool | None, str]]]:
    """Check a local copy against published digests: ``[(file, ok, detail)]`` with ok None where no digest is
    published. IDX ``.gz`` files pass on the download's digest or, failing that, on their decompressed content."""
    if name not in BUILTINS:
        raise DatasetError(f"nothing to verify for {name!r}; built-in datasets: {', '.join(BUILTINS)}")
    src = locate(name, root)
    if src is None:
        raise _not_downloaded(name, _root(root))
    b = BUILTINS[name]
    out: list[tuple[str, bool | None, str]] = []
    if src.kind == "idx":
        compressed = {f.filename: f.md5 for f in b.files}
        plain = FILE_MD5.get(name, {})
        stems = [s for pair in core.IDX_FILES.values() for s in pair]
        for i, stem in enumerate(stems):
            yield Progress(i, len(stems), f"verifying {stem}")
            path = core._find(src.path, stem)
            digest = file_digest(path, "md5", cancel)
            if path.suffix == ".gz" and digest == compressed.get(path.name):
                out.append((path.name, True, "md5 of the download"))
                continue
            if path.suffix == ".gz":
                try:
                    with gzip.open(path, "rb") as f:
                        digest = _md5_stream(f, cancel)
                except (OSError, EOFError, zlib.error) as exc:
                    out.append((path.name, False, f"cannot decompress ({exc})"))
                    continue
            want = plain.get(stem)
            if want is None:
                out.append((path.name, None, f"no published digest for this content (md5 {digest})"))
            else:
                ok = digest == want
                out.append((path.name, ok, "md5 of the decompressed content" + ("" if ok else
                            f" is {digest}, expected {want}")))
        return out
    if src.kind == "archive":
        want = next((f.md5 for f in b.files if f.filename == src.path.name), None)
        yield Progress(0, None, f"verifying {src.path.name}")
        digest = file_digest(src.path, "md5", cancel)
        if want is None:
            return [(src.path.name, None, f"no published digest (md5 {digest})")]
        return [(src.path.name, digest == want, "md5 of the archive" + ("" if digest == want else
                 f" is {digest}, expected {want}"))]
    table = {"cifar-py": FILE_MD5["cifar-py10" if name == "cifar10" else "cifar-py100"],
             "stl-bin": FILE_MD5["stl10"]}.get(src.kind, {})
    files = sorted(p for p in src.path.iterdir() if p.is_file() and not p.name.endswith(".part"))
    for i, p in enumerate(files):
        want = table.get(p.name)
        if want is None:
            if src.kind == "cifar-bin" and p.suffix == ".bin":
                out.append((p.name, None, "no published per-file digest (the archive's was checked at download)"))
            continue
        yield Progress(i, len(files), f"verifying {p.name}")
        digest = file_digest(p, "md5", cancel)
        out.append((p.name, digest == want, "md5" + ("" if digest == want else f" is {digest}, expected {want}")))
    return out


# --- summaries ------------------------------------------------------------------------------------------
def class_counts(ds: ArrayDataset) -> np.ndarray:
    return np.bincount(ds.labels, minlength=len(ds.classes))

