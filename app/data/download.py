"""HTTP downloads with progress, cancel, resume and checksum verification (no Qt).

    from app.data.download import fetch
    path = run_to_end(fetch(url, dest, md5="..."), cli_progress("weights "))

``fetch`` is a task generator (see ``app.tasks``): it streams ``url`` into ``dest + ".part"`` in chunks, yielding
``Progress(bytes_done, total_bytes, message)``, and returns ``dest``. Rules:

- A ``.part`` file from an earlier attempt is resumed with an HTTP ``Range`` request; a server that ignores the
  range (answers 200) makes the download restart from zero; a 416 answer means the part is already complete.
- After the last byte the file is verified (``sha256`` and/or ``md5`` when given). A mismatch deletes the part and
  raises ``DatasetError`` naming the file and both digests.
- The final name only ever appears through an atomic ``os.replace`` of a complete, verified file.
- Cancel (``app.tasks.Cancelled``) and network failures keep the ``.part`` so the next call resumes. A cancel
  interrupts a network call that is waiting for the server (connecting, or a stalled read) within ``POLL``
  seconds; ``timeout`` (30 s) stays the limit for a genuine stall, which is reported as a failure.
- An existing ``dest`` that matches the given checksums (or any existing ``dest`` when none are given) is returned
  without a network request.
- Errors are ``DatasetError`` with the file name and the reason (HTTP status, network error, checksum, a local
  folder or file that cannot be created or replaced, with its path).
"""

from __future__ import annotations

import os
import re
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPException
from pathlib import Path
from typing import Generator

from app.data.core import DatasetError
from app.storage import file_digest, human_size
from app.tasks import Cancelled, CancelToken, Progress, check

CHUNK = 1 << 16
POLL = 0.1  # seconds between looks at the cancel token while a network call waits for the server
USER_AGENT = "FilterExplorer/0.1 (+https://github.com/) python-urllib"


def check_url(url: str, name: str = "") -> str:
    """``url`` when it is an http(s) address with a host; else a DatasetError saying what is wrong with it."""
    try:
        parts = urllib.parse.urlsplit(str(url).strip())
        host = parts.hostname
    except ValueError as exc:
        raise DatasetError(f"{name + ': ' if name else ''}{url!r} is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise DatasetError(f"{name + ': ' if name else ''}{url!r} is not a download address: expected "
                           f"http://HOST/... or https://HOST/...")
    return str(url).strip()


def verify(path: Path, sha256: str | None = None, md5: str | None = None,
           cancel: CancelToken | None = None, label: str | None = None) -> str | None:
    """None when ``path`` matches every given checksum, else a message naming the mismatch."""
    for algo, want in (("sha256", sha256), ("md5", md5)):
        if want:
            got = file_digest(path, algo, cancel)
            if got.lower() != want.lower():
                return f"{label or Path(path).name}: {algo} mismatch (expected {want.lower()}, got {got})"
    return None


def _open(url: str, offset: int, timeout: float):
    headers = {"User-Agent": USER_AGENT}
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _open_cancellable(url: str, offset: int, timeout: float, cancel: CancelToken | None):
    """``_open`` that a cancel interrupts: the request runs in a helper thread while this one watches ``cancel``; a
    cancelled request is abandoned (its thread closes the answer when it comes, or ends at ``timeout``)."""
    if cancel is None:
        return _open(url, offset, timeout)
    check(cancel)
    lock = threading.Lock()
    done = threading.Event()
    box: dict = {}

    def run() -> None:
        try:
            resp, exc = _open(url, offset, timeout), None
        except BaseException as e:  # delivered to the waiting thread below
            resp, exc = None, e
        with lock:
            if box.get("abandoned"):
                for r in (resp, exc if isinstance(exc, urllib.error.HTTPError) else None):
                    if r is not None:
                        try:
                            r.close()
                        except Exception:
                            pass
            else:
                box["resp"], box["exc"] = resp, exc
            done.set()

    threading.Thread(target=run, name="download-open", daemon=True).start()
    while not done.wait(POLL):
        if cancel.cancelled:
            with lock:
                if not done.is_set():
                    box["abandoned"] = True
                    raise Cancelled()
    if box["exc"] is not None:
        raise box["exc"]
    return box["resp"]


class _Interrupter:
    """While active, a cancel shuts the response's socket down from a watching thread, so that a read waiting for a
    stalled server returns at once (closing the response would wait for that read); the reader then sees the
    cancel. No thread without a token."""

    def __init__(self, resp, cancel: CancelToken | None) -> None:
        self._resp, self._cancel = resp, cancel
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "_Interrupter":
        if self._cancel is not None:
            self._thread = threading.Thread(target=self._watch, name="download-cancel", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(POLL):
            if self._cancel.cancelled:
                _shutdown_socket(self._resp)
                return


def _shutdown_socket(resp) -> None:
    """Shut down the socket under ``resp`` (best effort): a blocked ``recv`` in another thread returns."""
    raw = getattr(getattr(resp, "fp", None), "raw", None)
    sock = getattr(raw, "_sock", None)  # socket.SocketIO's socket (http and https)
    try:
        if sock is not None:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the OS call, also under an SSLSocket
        else:
            with socket.fromfd(resp.fileno(), socket.AF_INET, socket.SOCK_STREAM) as dup:
                dup.shutdown(socket.SHUT_RDWR)
    except (OSError, ValueError, AttributeError):
        pass


def _total_from(resp, offset: int, partial: bool) -> int | None:
    if partial:
        m = re.match(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", resp.headers.get("Content-Range", "") or "")
        if m:
            if int(m.group(1)) != offset:
                return -1  # the server answered a different range than asked for
            return int(m.group(3)) if m.group(3) != "*" else None
    length = resp.headers.get("Content-Length")
    if length is None or not length.isdigit():
        return None
    return int(length) + (offset if partial else 0)


def _transfer(url: str, part: Path, name: str, cancel: CancelToken | None, timeout: float,
              chunk: int) -> Generator[Progress, None, bool]:
    """Stream ``url`` into ``part`` (resuming it when it exists); returns whether it resumed."""
    offset = part.stat().st_size if part.exists() else 0
    check(cancel)
    try:
        resp = _open_cancellable(url, offset, timeout, cancel)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset > 0:
            # nothing left to fetch: the part is complete (or wrong: the checksum decides)
            exc.close()
            return True
        raise DatasetError(f"{name}: download failed: HTTP {exc.code} {exc.reason} ({url})") from None
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DatasetError(f"{name}: download failed: cannot reach {url} ({reason})") from None
    with resp, _Interrupter(resp, cancel):
        status = getattr(resp, "status", None) or 200
        partial = status == 206 and offset > 0
        total = _total_from(resp, offset, partial)
        if total == -1:
            partial, total = False, None
        if offset > 0 and not partial:
            offset = 0  # the server ignored the range: start again from zero
        done = offset
        msg = f"downloading {name}" + (f" (resuming at {human_size(offset)})" if offset else "")
        yield Progress(done, total, msg)
        try:
            with open(part, "ab" if partial else "wb") as f:
                while True:
                    check(cancel)
                    block = resp.read(chunk)
                    if not block:
                        break
                    f.write(block)
                    done += len(block)
                    yield Progress(done, total, f"downloading {name}: {human_size(done)} of {human_size(total)}")
                check(cancel)  # a cancel that cut the read short is not the end of the file
                f.flush()
                os.fsync(f.fileno())
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, HTTPException) as exc:
            check(cancel)  # the cancel shut the connection down: not a network failure
            raise DatasetError(f"{name}: download interrupted after {human_size(done)} ({exc}); "
                               f"run it again to resume") from None
        except OSError as exc:  # the local disk: full, read-only, gone
            check(cancel)
            raise DatasetError(f"{name}: cannot write {part} ({exc.strerror or exc})") from None
        if total is not None and done < total:
            raise DatasetError(f"{name}: download incomplete ({human_size(done)} of {human_size(total)}); "
                               f"run it again to resume")
        if total is not None and done > total:
            part.unlink(missing_ok=True)
            raise DatasetError(f"{name}: server sent more data than announced ({done} > {total} bytes)")
    return partial


def fetch(url: str, dest: Path | str, sha256: str | None = None, md5: str | None = None,
          cancel: CancelToken | None = None, *, timeout: float = 30.0,
          chunk: int = CHUNK) -> Generator[Progress, None, Path]:
    """Download ``url`` to ``dest`` (see the module docstring); a task generator returning ``dest``."""
    dest = Path(dest)
    name = dest.name
    url = check_url(url, name)
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # read-only, a file in the way, a missing volume
        raise DatasetError(f"{name}: cannot create the folder {dest.parent} "
                           f"({exc.strerror or exc})") from None
    if dest.is_dir():
        raise DatasetError(f"{name}: {dest} is a folder, where the download should be a file; "
                           f"move or rename that folder")
    if dest.exists():
        if not (sha256 or md5):
            return dest
        yield Progress(0, None, f"verifying existing {name}")
        try:
            problem = verify(dest, sha256, md5, cancel)
        except OSError as exc:
            raise DatasetError(f"{name}: cannot read the existing {dest} ({exc.strerror or exc})") from None
        if problem is None:
            return dest
        # a stale or damaged copy: download again, but never destroy it until the new one is verified
    for attempt in (1, 2):
        resumed = yield from _transfer(url, part, name, cancel, timeout, chunk)
        if not (sha256 or md5):
            break
        yield Progress(part.stat().st_size, part.stat().st_size, f"verifying {name}")
        problem = verify(part, sha256, md5, cancel, label=name)
        if problem is None:
            break
        part.unlink(missing_ok=True)
        if resumed and attempt == 1:
            # the kept part may come from another version of the file: one fresh try from zero
            yield Progress(0, None, f"{name}: checksum mismatch after resuming; downloading again from the start")
            continue
        raise DatasetError(f"checksum mismatch: {problem}; the download was deleted ({url})")
    try:
        os.replace(part, dest)
    except OSError as exc:  # dest is a folder, or the folder became read-only
        raise DatasetError(f"{name}: cannot replace {dest} with the downloaded {part.name} "
                           f"({exc.strerror or exc}); the download is kept in {part}") from None
    size = dest.stat().st_size
    yield Progress(size, size, f"downloaded {name} ({human_size(size)})")
    return dest
