"""The files of an image folder, before any decoding: its splits' layout (``layout``), its classes (``class_dirs``,
``training_classes``), the image files under them with notes on the ones skipped (``scan``), and a signature of
what it holds (``folder_signature``). ``app.data.imagefolder`` decodes and caches them (its docstring says how a
folder is read)."""

from __future__ import annotations

import hashlib
import os
import stat as stat_mod
from dataclasses import dataclass
from pathlib import Path

from app.data.core import DatasetError

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def display(path: str | os.PathLike) -> str:
    """A path as text that always prints (bytes that are not UTF-8 shown as U+FFFD)."""
    return os.fsencode(path).decode("utf-8", "replace")


@dataclass(frozen=True)
class Entry:
    path: Path
    rel: str  # relative to the folder, for notes
    label: int
    size: int
    mtime_ns: int
    ctime_ns: int
    dev: int = 0  # st_dev and st_ino: which file it is (0: unknown), to tell a test file that is a training file
    ino: int = 0


def scan(folder: Path, classes: list[str], present: set[str] | None = None,
         walked: list[tuple[str, int]] | None = None) -> tuple[list[Entry], list[str]]:
    """The image files under each class folder (sorted, symlinks followed once; labels: the index in ``classes``),
    and notes on skipped ones. ``present``: the class folders this folder has (None: all of ``classes``).
    ``walked``: a list given is extended with (path, ``st_mtime_ns``) of every folder read (the class folders and
    the folders under them)."""
    entries: list[Entry] = []
    notes: list[str] = []
    seen: set[tuple[int, int]] = set()
    files: dict[tuple[int, int], str] = {}  # (device, inode) of the image files read -> their relative path

    def walk(path: str, rel: str, label: int) -> None:
        try:
            st = os.stat(path)
        except OSError as exc:
            notes.append(f"{display(rel)}: cannot open the folder ({exc.strerror or exc}), skipped")
            return
        if (st.st_dev, st.st_ino) in seen:
            notes.append(f"{display(rel)}: a folder already read (a symlink to it, or a loop), skipped")
            return
        seen.add((st.st_dev, st.st_ino))
        if walked is not None:
            walked.append((path, st.st_mtime_ns))
        try:
            with os.scandir(path) as it:
                items = sorted(it, key=lambda e: os.fsencode(e.name))
        except OSError as exc:
            notes.append(f"{display(rel)}: cannot list the folder ({exc.strerror or exc}), skipped")
            return
        for e in items:
            r = f"{rel}/{e.name}"
            try:
                e.name.encode("utf-8")
            except UnicodeEncodeError:
                notes.append(f"{display(r)}: the file name is not valid UTF-8, skipped")
                continue
            if e.name.startswith("."):
                continue
            try:
                is_dir = e.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                walk(e.path, r, label)
                continue
            if os.path.splitext(e.name)[1].lower() not in IMAGE_EXTS:
                continue
            try:
                st = e.stat(follow_symlinks=True)
            except OSError as exc:
                why = "a dangling symlink" if e.is_symlink() else f"cannot read ({exc.strerror or exc})"
                if e.is_symlink() and getattr(exc, "errno", None) == 40:
                    why = "a symlink loop"
                notes.append(f"{display(r)}: {why}, skipped")
                continue
            if not stat_mod.S_ISREG(st.st_mode):
                continue
            # a link to an image already read is one image, not two (a seeded split could put it in both splits)
            if (st.st_dev, st.st_ino) in files:
                notes.append(f"{display(r)}: the same file as {files[(st.st_dev, st.st_ino)]}, skipped")
                continue
            files[(st.st_dev, st.st_ino)] = display(r)
            entries.append(Entry(Path(e.path), r, label, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_dev,
                                 st.st_ino))

    for ci, c in enumerate(classes):
        if present is None or c in present:
            walk(str(folder / c), c, ci)
    return entries, notes


VAL_NAMES = ("val", "valid", "validation")  # a test split's folder beside train/ when there is no test/


@dataclass(frozen=True)
class Layout:
    """Where the splits of an image folder are: ``train`` holds the class folders of the training images; ``test``
    those of the test split (None: a seeded split of ``train``); ``note``: what a user should know about it."""

    train: Path
    test: Path | None
    note: str | None = None


def layout(root: Path) -> Layout:
    train, test = root / "train", root / "test"
    if _is_dir(train) and _is_dir(test):
        return Layout(train, test)
    if _is_dir(train):
        for name in VAL_NAMES:
            if _is_dir(root / name):
                return Layout(train, root / name, f"no test/ folder: {name}/ is the test split (the validation "
                                                  f"split is carved from train/)")
        return Layout(train, None, "no test/ folder: the test split is a seeded part of train/")
    return Layout(root, None)


def class_dirs(folder: Path) -> list[str]:
    """The class sub-folders' names, sorted (hidden ones and names that are not UTF-8 left out)."""
    try:
        names = sorted(d.name for d in folder.iterdir() if not d.name.startswith(".") and _is_dir(d))
    except OSError as exc:
        raise DatasetError(f"{display(folder)}: cannot list the folder ({exc.strerror or exc})") from None
    return [c for c in names if _utf8(c)]


def training_classes(folder: Path) -> tuple[list[str], list[Entry], list[str]]:
    """The training folder's classes (class folders with at least one image file), its entries and notes."""
    from dataclasses import replace

    names = class_dirs(folder)
    if not names:
        raise DatasetError(f"{display(folder)}: no class sub-folders")
    entries, notes = scan(folder, names)
    used = sorted({e.label for e in entries})
    if len(used) < len(names):
        empty = [names[i] for i in range(len(names)) if i not in set(used)]
        notes.insert(0, f"{', '.join(display(c) + '/' for c in empty)}: no image files, not a class")
        new = {old: k for k, old in enumerate(used)}
        entries = [replace(e, label=new[e.label]) for e in entries]
        names = [names[i] for i in used]
    return names, entries, notes


# folder_signature's memo: (path, the folders' times) -> (signature, (path, st_mtime_ns) of every folder its walk
# read: the class folders' sub-folders hold images too, and an image added there changes only its own folder's time)
_SIGNATURES: dict[tuple, tuple[str, tuple[tuple[str, int], ...]]] = {}


def _remembered(memo: tuple) -> str | None:
    """The signature remembered for ``memo`` while every folder its walk read keeps its time, else None."""
    found = _SIGNATURES.get(memo)
    if found is None:
        return None
    sig, walked = found
    try:
        if any(os.stat(d).st_mtime_ns != t for d, t in walked):
            return None
    except OSError:
        return None
    return sig


def _signature_memo(path: str | Path):
    """(root, layout, memo key) of ``folder_signature``, or None when ``path`` is not an image folder. Only folders are
    listed (the folder, its splits and their class folders; a class folder's thousands of files are not): cheap."""
    root = Path(path).expanduser()
    try:
        root = root.resolve()
        if not root.is_dir():
            return None
        lay = layout(root)
        splits = [f for f in (lay.train, lay.test) if f is not None]
        dirs = [root, *splits] + [f / c for f in splits for c in class_dirs(f)]
        return root, lay, (str(root), tuple((str(d), d.stat().st_mtime_ns) for d in dirs))
    except (OSError, DatasetError):
        return None


def signature_known(path: str | Path) -> bool:
    """Whether ``folder_signature(path)`` answers at once (remembered, or no image folder there): False while a
    walk of every file is due (60,000 files: 0.6-3 s; the Experiments workspace does that walk off the GUI thread)."""
    found = _signature_memo(path)
    return found is None or _remembered(found[2]) is not None


def folder_signature(path: str | Path) -> str | None:
    """What an image folder holds, as a digest of every image file's relative path, size, modification and change
    times (``st_mtime_ns``, ``st_ctime_ns``) in both splits (a stat per file, no reading: 60,000 files in ~0.6 s),
    or None when it is not a folder. For keys of results computed on the folder (``app.experiments``): an image
    added, removed, renamed or rewritten gives another signature, and so does one replaced by a file of the same size
    and modification time (a copy that kept the time: only its change time differs, as ``imagefolder_files.content_key``
    sees it). Remembered in this process while the folder, its splits', its class folders' and every folder under
    them's times stay the same (adding, removing or replacing a file changes its folder's time; one rewritten in
    place is seen by the next process)."""
    found = _signature_memo(path)
    if found is None:
        return None
    root, lay, memo = found
    sig = _remembered(memo)
    if sig is not None:
        return sig
    h = hashlib.sha1(os.fsencode(str(root)) + b"\n")
    walked: list[tuple[str, int]] = []
    for folder in (lay.train, lay.test):
        if folder is None:
            continue
        try:
            entries, _notes = scan(folder, class_dirs(folder), walked=walked)
        except DatasetError:
            continue
        h.update(os.fsencode(str(folder)) + b"\n")
        for e in entries:
            h.update(os.fsencode(e.rel) + f":{e.size}:{e.mtime_ns}:{e.ctime_ns}\n".encode())
    sig = h.hexdigest()[:16]
    _SIGNATURES[memo] = (sig, tuple(walked))
    return sig


def _is_dir(p: Path) -> bool:
    try:
        return p.is_dir()
    except OSError:
        return False


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
