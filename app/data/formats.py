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

Downloads, status and verification of local copies: ``app.data.remote``; the parsers of these formats (and of
their archives): ``app.data.parsers``; the CIFAR unpickler: ``app.data.safe_pickle``.

``root`` defaults to ``app.paths.data_root()``. The official download locations and MD5s are torchvision's (CIFAR
binary: the dataset page's); ``FILTER_EXPLORER_MIRROR`` (or ``mirror=``) replaces every URL's folder with a mirror
that serves the same file names. Parsed arrays from compressed or pickled sources are cached as ``.npz`` in
``paths.cache_dir()/datasets`` (written atomically), so a second load is fast.

Entry points: ``load(name, split, root)``, ``load_task(...)`` (the same as a task generator with progress and
cancel), ``locate(name, root)``, ``BUILTINS``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Generator

import numpy as np

from app import paths
from app.data import core, imagefolder
from app.data.core import ArrayDataset, DatasetError, NORMALISATION
from app.data.catalog import (ARCHIVE_MEMBERS, BUILTINS, CIFAR10_CLASSES, MIRROR_ENV,  # noqa: F401  (the catalogue)
                              OPTIONAL_MEMBERS, STL10_CLASSES, Builtin, RemoteFile, builtin_names)
from app.data.parsers import parse as _parse  # (``formats._parse``: tests spy on it)
from app.storage import human_size
from app.tasks import CancelToken, Progress, check, run_to_end

class NotDownloaded(DatasetError):
    """The dataset has no local copy under the root; ``download(name)`` fetches it."""

    def __init__(self, dataset: str, root: Path, message: str) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.root = root


def _root(root: str | Path | None) -> Path:
    return Path(root).expanduser() if root else paths.data_root()


# --- sources: where a dataset lies locally --------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    kind: str  # idx, cifar-bin, cifar-py, stl-bin, archive
    path: Path  # folder, or the archive
    compressed: bool  # worth caching the parsed arrays
    missing: tuple[str, ...] = ()  # an IDX folder's absent files (stems; a download that stopped part-way): the
    # dataset is then not local (``missing``, ``remote.status``), and a split whose files are absent is not there


IDX_STEMS = tuple(s for pair in core.IDX_FILES.values() for s in pair)


def _idx_candidates(root: Path, sub: str) -> list[Path]:
    cands = [root / sub / "raw", root / sub.lower() / "raw", root / sub, root / sub.lower()]
    if sub == "MNIST":
        cands.append(root)
    return cands


def _idx_missing(folder: Path) -> list[str]:
    """The IDX files (stems; each ``.gz`` or plain) that ``folder`` lacks."""
    return [s for s in IDX_STEMS if not ((folder / s).exists() or (folder / (s + ".gz")).exists())]


def _idx_folder(root: Path, sub: str) -> Path | None:
    """The first candidate folder holding all four IDX files (both splits): a download that stopped part-way
    (a 404, a checksum failure, a cancel on file 3 of 4) is no copy."""
    for c in _idx_candidates(root, sub):
        if not _idx_missing(c):
            return c
    return None


def _idx_partial(root: Path, sub: str) -> tuple[Path, list[str]] | None:
    """(folder, missing stems) of the first candidate holding some but not all of the IDX files; None when none."""
    for c in _idx_candidates(root, sub):
        gone = _idx_missing(c)
        if 0 < len(gone) < len(IDX_STEMS):
            return c, gone
    return None


def _is_default_root(root: str | Path | None) -> bool:
    """No root given, or the default data folder spelled out (a resolved probe record stores it absolute)."""
    if root is None:
        return True
    try:
        return Path(root).expanduser().resolve() == paths.data_root().resolve()
    except OSError:
        return False


def locate(name: str, root: str | Path | None = None) -> Source | None:
    """Where ``name`` lies under ``root`` (None: not there). MNIST also falls back to ``../shared`` when the root
    is the default one. An IDX folder needs all four files (both splits); one with only some of them (a download
    that stopped part-way) is returned last, with ``Source.missing`` naming the absent files: a complete copy
    (``../shared``'s) comes first, and such a folder is not local (``missing``, ``remote.status``)."""
    r = _root(root)
    if name in ("mnist", "fashion-mnist"):
        sub = "MNIST" if name == "mnist" else "FashionMNIST"
        folder = _idx_folder(r, sub)
        if folder is None and name == "mnist" and _is_default_root(root):
            shared = paths.shared_dir()
            if shared is not None:
                folder = _idx_folder(shared / "datasets", "MNIST")
        gone: tuple[str, ...] = ()
        if folder is None:
            part = _idx_partial(r, sub)
            if part is None:
                return None
            folder, gone = part[0], tuple(part[1])
        gz = any((folder / (s + ".gz")).exists() and not (folder / s).exists() for s in IDX_STEMS)
        return Source("idx", folder, gz, gone)
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
def missing(name: str, root: str | Path | None = None) -> str | None:
    """Why ``name`` cannot be read here before anyone tries: a built-in dataset with no local copy under ``root``
    (None: the default root) gives ``not_downloaded``'s message (where it looked, the command that downloads it);
    None when it is there, or for a name that is not a built-in (digits ships with the application)."""
    if name not in BUILTINS:
        return None
    src = locate(name, root)
    return str(not_downloaded(name, root)) if src is None or src.missing else None


def not_downloaded(name: str, root: str | Path | None = None) -> NotDownloaded:
    """The error (and message) for a built-in dataset with no local copy under ``root`` (None: the default)."""
    root = _root(root)
    b = BUILTINS[name]
    where = {"mnist": "MNIST/raw/*.gz", "fashion-mnist": "FashionMNIST/raw/*.gz",
             "cifar10": "cifar-10-batches-bin, cifar-10-batches-py or cifar-10-binary.tar.gz",
             "cifar100": "cifar-100-binary, cifar-100-python or cifar-100-binary.tar.gz",
             "stl10": "stl10_binary or stl10_binary.tar.gz"}[name]
    command = f"python main.py data download {name}{root_option(root)}"
    part = (_idx_partial(root, "MNIST" if name == "mnist" else "FashionMNIST")
            if name in ("mnist", "fashion-mnist") else None)
    if part is not None:  # a download that stopped part-way: say what is missing
        folder, gone = part
        return NotDownloaded(name, root, f"{name} is incomplete under {root}: {folder} lacks "
                             f"{', '.join(s + '(.gz)' for s in gone)} (an interrupted download?); download the rest "
                             f"with `{command}` or the Download button")
    return NotDownloaded(name, root, f"{name} is not downloaded under {root} (looked for {where}); download it "
                         f"({human_size(b.download_size)}) with `{command}` or the Download button")


def root_option(root: str | Path | None) -> str:
    """`` --root ROOT`` (quoted for a shell where needed) for a data folder that is not the default one, else ""."""
    if _is_default_root(root):
        return ""
    import shlex

    return " --root " + shlex.quote(str(_root(root)))


def load_task(name: str, split: str = "train", root: str | Path | None = None,
              cancel: CancelToken | None = None, **kw) -> Generator[Progress, None, ArrayDataset]:
    """Load any dataset name (digits, built-ins, ``imagefolder:PATH``) as a task generator."""
    if split not in ("train", "test"):
        raise DatasetError(f"unknown split {split!r} (train or test)")
    if name == "digits":
        yield Progress(0, 1, "loading digits")
        return core.load_digits(split)
    if name.startswith("imagefolder:"):
        return (yield from imagefolder.iter_load_imagefolder(core.imagefolder_path(name), split, cancel=cancel,
                                                             **kw))
    if name not in BUILTINS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(core.names())}")
    r = _root(root)
    src = locate(name, root)
    if src is None or set(src.missing) & set(core.IDX_FILES.get(split, ())):  # absent, or this split's files
        raise not_downloaded(name, r)
    cpath = cache_path(name, split, src) if src.compressed else None
    cached = read_cache(cpath) if cpath is not None else None
    notes: list[str] = []
    if cached is not None:
        yield Progress(1, 1, f"{name} {split} from the cache")
        images, labels, classes = cached["images"], cached["labels"], tuple(str(c) for c in cached["classes"])
        notes += [str(n) for n in cached.get("notes", ())]  # what the parse said (a damaged meta file)
    else:
        images, labels, classes, parse_notes = yield from _parse(name, src, split, cancel)
        notes += parse_notes
        if cpath is not None:
            check(cancel)
            yield Progress(0, None, f"caching {name} {split}")
            for old in cpath.parent.glob(cpath.name.rsplit("-", 1)[0] + "-*.npz"):
                if old != cpath:
                    old.unlink(missing_ok=True)
            try:
                core.save_npz_atomic(cpath, images=images, labels=labels, classes=np.asarray(classes, dtype=str),
                                     notes=np.asarray(parse_notes, dtype=str))
            except OSError as exc:  # the data is fine; only the next load will be slower
                notes.append(f"could not write the cache {cpath.name} ({exc.strerror or exc})")
    if len(labels) == 0:
        raise DatasetError(f"{name} {split} under {src.path} holds no images")
    official = BUILTINS[name].counts[0 if split == "train" else 1]
    if name in ("cifar10", "cifar100") and len(labels) != official:  # fixed official batches: a copy that differs
        notes.append(f"{name} {split} under {src.path} holds {len(labels):,} images, not the official "
                     f"{official:,}: a partial or altered copy (`python main.py data verify "
                     f"{name}{root_option(root)}` checks it)")
    mean, std = NORMALISATION.get(name, core.normalisation(name, images.shape[-1]))
    return ArrayDataset(name, split, images, labels, tuple(classes), mean, std, tuple(notes))


def load(name: str, split: str = "train", root: str | Path | None = None, **kw) -> ArrayDataset:
    return run_to_end(load_task(name, split, root, **kw))


# --- summaries ------------------------------------------------------------------------------------------
def class_counts(ds: ArrayDataset) -> np.ndarray:
    return np.bincount(ds.labels, minlength=len(ds.classes))

