"""The built-in datasets' local copies: status, downloads from the official locations (or a mirror), unpacking
the archives, and verifying a copy against the published digests (no Qt).

``status(name, root)``, ``download(name, root, ...)`` and ``verify_local(name, root)`` (task generators),
``unpack(archive, root)``. ``FILTER_EXPLORER_MIRROR`` (or ``mirror=``) replaces every URL's folder with a mirror
that serves the same file names.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Generator

import numpy as np

from app.data import core
from app.data.core import DatasetError
from app.data.catalog import ARCHIVE_MEMBERS, BUILTINS, MIRROR_ENV, OPTIONAL_MEMBERS, RemoteFile, builtin_names
from app.data.formats import _root, locate, not_downloaded
from app.data.parsers import skip_member
from app.storage import atomic_path, file_digest
from app.tasks import CancelToken, Progress, check


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
    local = src is not None and not src.missing  # a half-downloaded IDX folder is no local copy
    return Status(name, b.title, local, str(src.path) if local else "", b.download_size)


def partial_bytes(name: str, root: str | Path | None = None) -> int:
    """Bytes of ``name``'s interrupted downloads kept in the data folder (``.part`` files: the next download resumes
    them); 0 where there are none or the folder cannot be read."""
    b = BUILTINS.get(name)
    if b is None:
        return 0
    try:
        r = _root(root)
        target = r / b.download_dir if b.download_dir else r
        return sum((target / (f.filename + ".part")).stat().st_size for f in b.files
                   if (target / (f.filename + ".part")).is_file())
    except OSError:
        return 0


def source_text(mirror: str | None = None) -> str:
    """Where a download comes from, for a message: the mirror (``mirror`` or ``FILTER_EXPLORER_MIRROR``) or the
    official locations."""
    mirror = mirror or os.environ.get(MIRROR_ENV) or ""
    return f"from the mirror {mirror}" if mirror else "from its official location"


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
    that still match their checksum are not fetched again). The folders it makes are removed again, where left
    empty, when it fails.
    """
    if name == "digits":
        yield Progress(1, 1, "digits ships with scikit-learn: nothing to download")
        return Path(core.__file__)
    b = BUILTINS.get(name)
    if b is None:
        raise DatasetError(f"unknown dataset {name!r}; downloadable: {', '.join(BUILTINS)}")
    try:
        r = _root(root)
    except OSError as exc:  # the default data folder cannot be made (a missing volume, read-only)
        raise DatasetError(f"cannot create the data folder {_failed_path(exc, root or 'default')} "
                           f"({exc.strerror or exc})") from None
    target = r / b.download_dir if b.download_dir else r
    # the folders this call makes (the data folder's sub-folders, an archive's folder): removed again, where empty,
    # when the download fails, so that a failed one (an unreachable mirror) leaves no empty folder chain behind
    made = missing_folders([target, *(r / ARCHIVE_MEMBERS[f.filename][0] for f in b.files
                                      if f.filename in ARCHIVE_MEMBERS)])
    try:
        return (yield from _download(name, b, r, target, mirror, md5, cancel, keep_archive, force))
    except BaseException:  # a cancel too: its .part stays (its folder is not empty), empty folders go
        remove_empty(made)
        raise


def missing_folders(folders) -> list[Path]:
    """The folders (and parents) of ``folders`` that do not exist yet, deepest first."""
    out: set[Path] = set()
    for f in folders:
        p = Path(f)
        while not p.exists() and p != p.parent:
            out.add(p)
            p = p.parent
    return sorted(out, key=lambda p: len(p.parts), reverse=True)


def remove_empty(folders) -> None:
    """Remove each of ``folders`` (deepest first) that is empty; any other is left as it is."""
    for f in folders:
        try:
            f.rmdir()
        except OSError:
            pass


def _download(name: str, b, r: Path, target: Path, mirror: str | None, md5: dict[str, str] | None,
              cancel: CancelToken | None, keep_archive: bool, force: bool) -> Generator[Progress, None, Path]:
    """``download``'s work, once the folders are known."""
    from app.data.download import fetch

    writable_folder(target)
    got = []
    fetched = False  # whether this call wrote the archive (only then is it ours to delete after unpacking)
    for i, f in enumerate(b.files):
        check(cancel)
        want = (md5 or {}).get(f.filename, f.md5)
        dest = target / f.filename
        if f.filename in ARCHIVE_MEMBERS:
            folder, members = ARCHIVE_MEMBERS[f.filename]
            if not force and all((r / folder / m).exists() for m in members if m not in OPTIONAL_MEMBERS):
                yield Progress(1, 1, f"{name}: already unpacked in {r / folder}")
                return r / folder
        if dest.is_dir():
            raise DatasetError(f"{f.filename}: cannot download to {dest}: a folder of that name is in the way")
        before = _stat_key(dest)
        prefix = f"[{i + 1}/{len(b.files)}] " if len(b.files) > 1 else ""
        for p in fetch(mirror_url(f, mirror), dest, md5=want, cancel=cancel):
            yield Progress(p.done, p.total, prefix + p.message)
        fetched = fetched or _stat_key(dest) != before
        got.append(dest)
    if len(got) == 1 and got[0].name in ARCHIVE_MEMBERS:
        out = yield from unpack(got[0], r, cancel)
        if not keep_archive and fetched:  # an archive the user put there (and we verified) stays
            got[0].unlink(missing_ok=True)
        return out
    if force:  # a repair: a damaged decompressed copy beside a verified .gz would still be read first
        yield from _drop_stale_plain(got, cancel)
    return target


def _drop_stale_plain(files: list[Path], cancel: CancelToken | None) -> Generator[Progress, None, None]:
    """Delete each decompressed file (an IDX ``.gz``'s stem, torchvision's ``raw/`` layout) lying beside one of
    ``files`` whose content is not the verified ``.gz``'s: the loader reads the plain file first
    (``core._find``), so a damaged one made "Download again" fail the same way every time. Plain files that hold
    the ``.gz``'s content stay."""
    for gz in files:
        if gz.suffix != ".gz":
            continue
        plain = gz.with_suffix("")
        if not plain.is_file():
            continue
        yield Progress(0, None, f"checking {plain.name} against {gz.name}")
        try:
            with gzip.open(gz, "rb") as f:
                want, _n = _md5_stream(f, cancel)
        except (OSError, EOFError, zlib.error):
            continue  # (verified just now) the loader says what is wrong with it
        try:
            same = file_digest(plain, "md5", cancel) == want
        except OSError:
            same = False
        if same:
            continue
        try:
            plain.unlink()
        except OSError as exc:
            raise DatasetError(f"{plain}: differs from the verified {gz.name} and cannot be deleted "
                               f"({exc.strerror or exc}); delete it (the loader reads it before {gz.name})") from None
        yield Progress(1, 1, f"deleted {plain.name}: it differed from the verified {gz.name} (now read instead)")


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime) of ``path``, None when absent: tells a file this call wrote from one that was there."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _failed_path(exc: OSError, fallback) -> str:
    return str(exc.filename) if exc.filename else str(fallback)


def writable_folder(folder: Path) -> None:
    """Make ``folder`` (and its parents) and check that a file can be written in it; a DatasetError naming the
    folder when not (a file in the way, a read-only or missing volume, no permission)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        where = _failed_path(exc, folder)
        raise DatasetError(f"cannot create the data folder {folder} ({exc.strerror or exc}"
                           f"{'' if where == str(folder) else ': ' + where})") from None
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".fe-write-check-"):
            pass
    except OSError as exc:
        raise DatasetError(f"cannot write in the data folder {folder} ({exc.strerror or exc}); choose another "
                           f"with --root (the browser: Data folder...)") from None


def unpack(archive: Path, root: Path, cancel: CancelToken | None = None) -> Generator[Progress, None, Path]:
    """Unpack the members the loaders read into ``root/<folder>``; each file appears complete or not at all.

    Member names are taken from the known list only (no path from the archive is trusted)."""
    folder, members = ARCHIVE_MEMBERS[archive.name]
    out = root / folder
    writable_folder(out)
    wanted = set(members)
    found: set[str] = set()
    total = archive.stat().st_size
    try:
        with open(archive, "rb") as raw, tarfile.open(fileobj=raw, mode="r:gz") as tf:
            for m in tf:
                check(cancel)
                base = m.name.rsplit("/", 1)[-1]
                if base not in wanted or base in found or not m.isfile():  # skipped in steps a cancel interrupts
                    for _ in skip_member(tf, m, cancel):
                        yield Progress(raw.tell(), total, f"skipping {base}")
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
# python version and STL-10. The CIFAR binary version publishes only the archive's digest: its batches are checked
# for their structure alone (``CIFAR_BIN``), and said to be unverified.
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

# the CIFAR binary version's batches (the dataset page's format): {file: records}, the bytes of a record, and the
# range of each label byte at its start (CIFAR-100: coarse, then fine)
CIFAR_BIN = {
    "cifar10": ({f"data_batch_{i}.bin": 10000 for i in range(1, 6)} | {"test_batch.bin": 10000}, 3073, (10,)),
    "cifar100": ({"train.bin": 50000, "test.bin": 10000}, 3074, (20, 100)),
}
UNVERIFIED = "no published per-file digest: not verified"


def _md5_stream(f, cancel: CancelToken | None) -> tuple[str, int]:
    """(md5, bytes) of a stream read to its end."""
    h = hashlib.md5()
    n = 0
    while True:
        check(cancel)
        block = f.read(1 << 20)
        if not block:
            return h.hexdigest(), n
        h.update(block)
        n += len(block)


def _idx_bytes(name: str, stem: str) -> int:
    """The published size of an IDX file's content: header (8 bytes + 4 per dimension) and data."""
    n = BUILTINS[name].counts[0 if stem.startswith("train") else 1]
    h, w, _c = BUILTINS[name].image_shape
    return 16 + n * h * w if "images" in stem else 8 + n


def _cifar_bin_check(name: str, path: Path) -> tuple[bool | None, str]:
    """A CIFAR binary batch's structure against the published one: its size in bytes and every label byte's range.
    (None, ...) when both are as published (the content itself is not verified: no per-file digest is published),
    (False, what differs) otherwise."""
    files, rec, ranges = CIFAR_BIN[name]
    want = files[path.name] * rec
    size = path.stat().st_size
    if size != want:
        return False, (f"{size:,} bytes, the published batch has {want:,} ({files[path.name]:,} records of {rec:,}"
                       f" bytes)")
    arr = np.memmap(path, np.uint8, mode="r", shape=(files[path.name], rec))
    try:
        for col, n in enumerate(ranges):
            bad = np.flatnonzero(np.asarray(arr[:, col]) >= n)
            if bad.size:
                what = ("label" if len(ranges) == 1 else ("coarse label", "fine label")[col])
                return False, (f"{bad.size:,} {what}(s) outside 0..{n - 1} (the first in record {int(bad[0])}: "
                               f"{int(arr[bad[0], col])})")
    finally:
        del arr
    labels = " and ".join(f"0..{n - 1}" for n in ranges)
    return None, f"{UNVERIFIED} (size {want:,} bytes and labels {labels} as published)"


def verify_local(name: str, root: str | Path | None = None, cancel: CancelToken | None = None
                 ) -> Generator[Progress, None, list[tuple[str, bool | None, str]]]:
    """Check a local copy against published digests: ``[(file, ok, detail)]``: ok True when the file matches its
    published digest, False when it does not (or is missing, or its size or labels differ from the published
    files'), None when no digest is published for it (it is then not verified, whatever its structure).
    IDX ``.gz`` files pass on the download's digest or, failing that, on their decompressed content."""
    if name not in BUILTINS:
        raise DatasetError(f"nothing to verify for {name!r}; built-in datasets: {', '.join(BUILTINS)}")
    src = locate(name, root)
    if src is None:
        raise not_downloaded(name, _root(root))
    b = BUILTINS[name]
    out: list[tuple[str, bool | None, str]] = []
    if src.kind == "idx":
        compressed = {f.filename: f.md5 for f in b.files}
        plain = FILE_MD5.get(name, {})
        stems = [s for pair in core.IDX_FILES.values() for s in pair]
        for i, stem in enumerate(stems):
            yield Progress(i, len(stems), f"verifying {stem}")
            if stem in src.missing:
                out.append((stem + "(.gz)", False, f"missing in {src.path}"))
                continue
            path = core._find(src.path, stem)
            digest = file_digest(path, "md5", cancel)
            if path.suffix == ".gz" and digest == compressed.get(path.name):
                out.append((path.name, True, "md5 of the download"))
                continue
            size = path.stat().st_size
            if path.suffix == ".gz":
                try:
                    with gzip.open(path, "rb") as f:
                        digest, size = _md5_stream(f, cancel)
                except (OSError, EOFError, zlib.error) as exc:
                    out.append((path.name, False, f"cannot decompress ({exc})"))
                    continue
            want = plain.get(stem)
            if want is None:
                expected = _idx_bytes(name, stem)
                if size != expected:
                    out.append((path.name, False, f"{size:,} bytes of content, the published file has "
                                                  f"{expected:,}"))
                else:
                    out.append((path.name, None, f"{UNVERIFIED} for this content (md5 {digest}; its size, "
                                                 f"{expected:,} bytes, is as published)"))
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
            return [(src.path.name, None, f"no published digest: not verified (md5 {digest})")]
        return [(src.path.name, digest == want, "md5 of the archive" + ("" if digest == want else
                 f" is {digest}, expected {want}"))]
    if src.kind == "cifar-bin":
        names = sorted(CIFAR_BIN[name][0])
        table: dict[str, str] = {}
    else:
        table = {"cifar-py": FILE_MD5["cifar-py10" if name == "cifar10" else "cifar-py100"],
                 "stl-bin": FILE_MD5["stl10"]}.get(src.kind, {})
        names = sorted(table)
    for i, fname in enumerate(names):
        check(cancel)
        p = src.path / fname
        yield Progress(i, len(names), f"verifying {fname}")
        if not p.is_file():
            out.append((fname, False, f"missing in {src.path}"))
            continue
        if src.kind == "cifar-bin":
            try:
                ok, detail = _cifar_bin_check(name, p)
            except (OSError, ValueError) as exc:
                ok, detail = False, f"cannot read ({exc})"
            out.append((fname, ok, detail))
            continue
        want = table[fname]
        digest = file_digest(p, "md5", cancel)
        out.append((fname, digest == want, "md5" + ("" if digest == want else f" is {digest}, expected {want}")))
    return out
