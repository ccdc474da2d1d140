"""Files on disk, the one implementation: atomic writes, digests, sizes.

- ``atomic_write(path, data)``: ``path`` holds either its old content or all of ``data``, never a mix: a unique
  temporary file in the same folder, flushed and fsynced, then ``os.replace``; the folder is fsynced too where the
  platform allows. A failure (or Ctrl+C) removes the temporary file.
- ``atomic_path(path)``: the same for writers that want a file name (``torch.save``, ``np.save``, a memmap):
  ``with atomic_path(p) as tmp: write tmp`` and ``tmp`` replaces ``p`` when the block ends without an error.
  Through a symbolic link the link's target is replaced (the link stays); an existing file keeps its permissions.
- ``file_digest(path, algo)``: a streamed digest (cancel between blocks); ``content_id(path)``: a file's SHA-256
  prefix, read once per (path, size, mtime, inode) in a process (cache keys that must change with a file).
- ``free_stem(folder, stem, files)``: a name no file and no earlier call of this process has (``-2``, ``-3`` ...).
- ``human_size(n)``: "1.5 MB".
- ``TMP_MARK``: every temporary file is named ``.<name>.<pid>.<random>.tmp`` so that ``stale_temporaries`` can find
  the ones whose process no longer runs (killed mid-write) and remove them; the next atomic write of the same file
  removes that file's own stale temporaries.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import tempfile
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Iterator

TMP_MARK = ".tmp"
FILE_MODE = 0o644
_TMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _tmp_for(path: Path) -> Path:
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    _clear_stale(folder, path.name)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=TMP_MARK, dir=folder)
    os.close(fd)
    return Path(tmp)


def _clear_stale(folder: Path, name: str) -> None:
    """Remove the temporaries of ``name`` left by dead processes (a killed save of this very file)."""
    for p in folder.glob(f".{glob.escape(name)}.*{TMP_MARK}"):
        m = _TMP_RE.match(p.name)
        if m and m.group("name") == name and int(m.group("pid")) != os.getpid() and not _alive(int(m.group("pid"))):
            p.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _target(path: Path) -> Path:
    """The file a write of ``path`` means: a symbolic link's target (followed to its end), so that the link stays a
    link to the new content; ``path`` itself otherwise (a dangling link: its target is created)."""
    if not path.is_symlink():
        return path
    return Path(os.path.realpath(path))


def _mode_for(path: Path) -> int:
    """An existing file keeps its permission bits (a private 0600 file stays private); a new one gets 0644 less the
    umask."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return FILE_MODE & ~_umask()


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit it replaces ``path`` (a symbolic link: its target;
    the file's permission bits kept, a new file's 0644 less the umask)."""
    path = _target(Path(path))
    tmp = _tmp_for(path)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent if str(path.parent) else Path("."))


def atomic_write(path: str | os.PathLike, data: bytes | str, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` atomically (see the module docstring). Returns the path."""
    path = Path(path)
    raw = data.encode(encoding) if isinstance(data, str) else bytes(data)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(raw)
    return path


def stale_temporaries(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Temporary files under ``folder`` left by processes that no longer run (this one's are never listed)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    out = []
    it = folder.rglob("*" + TMP_MARK) if recursive else folder.glob("*" + TMP_MARK)
    for p in it:
        m = _TMP_RE.match(p.name)
        if not m:
            continue
        pid = int(m.group("pid"))
        if pid == os.getpid() or _alive(pid):
            continue
        out.append(p)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def file_digest(path: str | os.PathLike, algo: str = "sha256", cancel=None, block: int = 1 << 20) -> str:
    """Hex digest of a file's bytes, read in blocks (``cancel``: an ``app.tasks.CancelToken``)."""
    from app.tasks import check

    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while True:
            check(cancel)
            chunk = f.read(block)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


_HANDED_OUT: set[str] = set()  # names ``free_stem`` gave in this process (a file that appears later: a recording)
_HANDED_LOCK = threading.Lock()


def free_stem(folder: str | os.PathLike, stem: str, files: Callable[[Path], Iterable[Path]]) -> Path:
    """``folder/stem``, else ``stem-2``, ``stem-3`` ...: the first whose ``files`` (the paths a writer would create
    for that stem) are all absent and that was not handed out before in this process. A new snapshot, recording or
    training run never replaces another, or a user's file, when two start within the same second."""
    folder = Path(folder)
    n = 1
    with _HANDED_LOCK:
        while True:
            cand = folder / (stem if n == 1 else f"{stem}-{n}")
            if str(cand) not in _HANDED_OUT and not any(Path(p).exists() for p in files(cand)):
                _HANDED_OUT.add(str(cand))
                return cand
            n += 1


def aside_path(path: str | os.PathLike, tag: str = "unreadable") -> Path:
    """A free name beside ``path`` for a file moved or copied aside: ``NAME.unreadable-YYYYmmdd-HHMMSS.EXT``
    (numbered -2, -3 ... when taken): an earlier copy is never written over (the run history's, the session
    models')."""
    import time

    path = Path(path)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.stem}.{tag}-{stamp}{path.suffix}")
    n = 2
    while aside.exists():
        aside = path.with_name(f"{path.stem}.{tag}-{stamp}-{n}{path.suffix}")
        n += 1
    return aside


def content_id(path: str | os.PathLike) -> str | None:
    """The first 16 hex digits of a file's SHA-256, or None when it is not a readable file; memoised per (resolved
    path, size, mtime, ctime, inode): a file rewritten in place, even at the same size and with its old mtime put
    back (``cp -p``, ``rsync -t``), gets a new id (no one sets a ctime: every write moves it)."""
    try:
        p = Path(path).expanduser()
        if not p.is_file():
            return None
        st = p.stat()
        return _content_id(str(p.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    except OSError:
        return None


@lru_cache(maxsize=256)
def _content_id(path: str, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> str:
    return file_digest(path, "sha256")[:16]


def human_size(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
