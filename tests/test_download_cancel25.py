"""Audit H, core (no Qt): ``app.data.download.fetch``: a cancel interrupts a stalled server at once (F3) and local
folder errors are DatasetErrors naming the path (F2); ``app.data.preview.view``: a cell names its image's index in
the split, also in a subset (F12)."""

from __future__ import annotations

import os
import socket
import threading
import time
from contextlib import contextmanager

import pytest
from fixtures_data import md5, serve

from app.data import DatasetError
from app.data import download as dl
from app.data.download import fetch
from app.tasks import CancelToken, Cancelled, run_to_end

SENT = 100_000


@contextmanager
def stalling_server(headers: bool = True):
    """A server that answers headers and ``SENT`` bytes of a 30 MB body, then sends nothing (``headers=False``:
    accepts and never answers); the connections stay open until the end. Yields the URL; ``stalls(n)`` waits until
    ``n`` answers have been sent (and stalled)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    srv.settimeout(0.1)
    conns: list[socket.socket] = []
    stop = threading.Event()
    sent = threading.Semaphore(0)

    def serve_forever():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except (socket.timeout, OSError):
                continue
            conns.append(c)
            c.settimeout(2)
            try:
                c.recv(4096)
                if headers:
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 30000000\r\n\r\n" + b"x" * SENT)
                    sent.release()
            except OSError:
                pass

    t = threading.Thread(target=serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}/blob.bin", lambda timeout=3: sent.acquire(timeout=timeout)
    finally:
        stop.set()
        t.join(2)
        for c in conns:
            c.close()
        srv.close()


def _run_and_cancel_when(gen, token, ready, delay=0.2):
    """Run ``gen`` to its end; cancel from another thread ``delay`` s after ``ready(progress list)`` holds (the
    generator is then blocked in the network); returns (exception, seconds from the cancel to the end)."""
    seen: list = []
    cancelled_at: list[float] = []

    def canceller():
        t0 = time.monotonic()
        while not ready(seen) and time.monotonic() - t0 < 5:
            time.sleep(0.01)
        time.sleep(delay)
        cancelled_at.append(time.monotonic())
        token.cancel()

    threading.Thread(target=canceller, daemon=True).start()
    try:
        run_to_end(gen, seen.append)
        exc = None
    except Exception as e:  # noqa: BLE001 - returned to the test
        exc = e
    return exc, time.monotonic() - cancelled_at[0], seen


def test_cancel_interrupts_a_stalled_read_and_is_a_cancel(tmp_path):
    dest = tmp_path / "blob.bin"
    token = CancelToken()
    with stalling_server() as (url, _stalls):
        gen = fetch(url, dest, md5="0" * 32, cancel=token, chunk=8192)  # the 30 s default timeout
        exc, took, _seen = _run_and_cancel_when(gen, token, lambda seen: seen and seen[-1].done >= SENT - 8192)
    assert isinstance(exc, Cancelled), f"expected a cancel, got {exc!r}"
    assert took < 1.5, f"the cancel took {took:.1f} s on a stalled read"
    assert not dest.exists()
    assert (tmp_path / "blob.bin.part").stat().st_size == SENT  # kept: the next download resumes


def test_cancel_interrupts_a_server_that_never_answers(tmp_path):
    token = CancelToken()
    with stalling_server(headers=False) as (url, _stalls):
        gen = fetch(url, tmp_path / "blob.bin", cancel=token)
        exc, took, seen = _run_and_cancel_when(gen, token, lambda seen: True, delay=0.3)
    assert isinstance(exc, Cancelled), f"expected a cancel, got {exc!r}"
    assert took < 1.5, f"the cancel took {took:.1f} s while waiting for the answer"
    assert seen == []


def test_a_genuine_stall_is_still_a_timeout_failure(tmp_path):
    with stalling_server() as (url, _stalls):
        t0 = time.monotonic()
        with pytest.raises(DatasetError, match="blob.bin: download interrupted after .*resume"):
            run_to_end(fetch(url, tmp_path / "blob.bin", cancel=CancelToken(), timeout=0.5))
        assert time.monotonic() - t0 < 3
    assert 0 < (tmp_path / "blob.bin.part").stat().st_size <= SENT  # what was received whole is kept


def test_a_finished_download_with_a_token_is_unchanged(tmp_path):
    payload = os.urandom(200_000)
    with serve({"blob.bin": payload}) as srv:
        dest = run_to_end(fetch(srv.url("blob.bin"), tmp_path / "blob.bin", md5=md5(payload),
                                cancel=CancelToken(), chunk=8192))
    assert dest.read_bytes() == payload


def test_folder_that_cannot_be_created_is_a_dataset_error_naming_it(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_bytes(b"x")
    dest = blocker / "sub" / "blob.bin"
    with pytest.raises(DatasetError, match=r"blob.bin: cannot create the folder .*afile/sub"):
        run_to_end(fetch("http://127.0.0.1:9/blob.bin", dest))


def test_final_rename_failure_is_a_dataset_error_naming_the_path(tmp_path, monkeypatch):
    payload = os.urandom(50_000)

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(dl.os, "replace", refuse)
    with serve({"blob.bin": payload}) as srv:
        with pytest.raises(DatasetError, match=r"blob.bin: cannot replace .*blob.bin .*Permission denied"):
            run_to_end(fetch(srv.url("blob.bin"), tmp_path / "blob.bin", md5=md5(payload)))
    assert (tmp_path / "blob.bin.part").read_bytes() == payload  # kept, verified


@pytest.mark.parametrize("checksum", [False, True])
def test_a_folder_where_the_file_goes_is_a_dataset_error(tmp_path, checksum):
    dest = tmp_path / "blob.bin"
    (dest / "inner").mkdir(parents=True)
    payload = os.urandom(10_000)
    with serve({"blob.bin": payload}) as srv:
        with pytest.raises(DatasetError, match=r"blob.bin: .*blob.bin is a folder"):
            run_to_end(fetch(srv.url("blob.bin"), dest, md5=md5(payload) if checksum else None))


def test_view_cells_name_the_index_in_the_split_not_in_the_subset():
    import numpy as np

    from app.data import ArrayDataset
    from app.data.preview import relayout, view

    rng = np.random.default_rng(0)
    n = 500
    ds = ArrayDataset("t", "train", rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8),
                      rng.integers(0, 5, n).astype(np.int64), tuple("abcde"))
    v = view(ds, subset=60, n=48, seed=3)
    kept = set(ds.subset_indices(60, 3).tolist())
    assert v.used == 60 and len(v.cells) == 48
    assert {c.index for c in v.cells} <= kept and max(c.index for c in v.cells) >= 60
    for vv in (v, relayout(v, 4)):
        for c in vv.cells:
            assert c.label == int(ds.labels[c.index]) and c.class_name == ds.classes[c.label]
            f = c.size // 8
            expect = np.repeat(np.repeat(ds.images[c.index], f, 0), f, 1)
            np.testing.assert_array_equal(vv.mosaic[c.y:c.y + c.size, c.x:c.x + c.size], np.repeat(expect, 3, 2))
    whole = view(ds, n=48, seed=3)  # no subset: the indices were right already
    assert all(whole.cells[i].index == whole.samples.index[i] for i in range(48))
