"""app.data.download.fetch against a local HTTP server: progress, resume, checksums, errors, cancel."""

from __future__ import annotations

import os

import pytest
from fixtures_data import md5, serve, sha256

from app.data import DatasetError
from app.data.download import fetch
from app.tasks import CancelToken, Cancelled, run_to_end

PAYLOAD = os.urandom(300_000)


def test_fetch_streams_with_progress_and_verifies(tmp_path):
    with serve({"blob.bin": PAYLOAD}) as srv:
        seen = []
        dest = run_to_end(fetch(srv.url("blob.bin"), tmp_path / "blob.bin", sha256=sha256(PAYLOAD),
                                md5=md5(PAYLOAD), chunk=16384), seen.append)
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "blob.bin.part").exists()
    totals = {p.total for p in seen if "downloading" in p.message}
    assert totals == {len(PAYLOAD)}
    dones = [p.done for p in seen if "downloading" in p.message]
    assert dones == sorted(dones) and dones[-1] == len(PAYLOAD) and len(dones) > 5


def test_existing_verified_file_needs_no_request(tmp_path):
    (tmp_path / "blob.bin").write_bytes(PAYLOAD)
    with serve({"blob.bin": PAYLOAD}) as srv:
        run_to_end(fetch(srv.url("blob.bin"), tmp_path / "blob.bin", md5=md5(PAYLOAD)))
        assert srv.requests == []


def test_cancel_keeps_part_then_resume_with_range(tmp_path):
    dest = tmp_path / "blob.bin"
    token = CancelToken()
    with serve({"blob.bin": PAYLOAD}) as srv:
        gen = fetch(srv.url("blob.bin"), dest, md5=md5(PAYLOAD), cancel=token, chunk=8192)
        with pytest.raises(Cancelled):
            for p in gen:
                if p.done >= 100_000:
                    token.cancel()
        gen.close()
        part = tmp_path / "blob.bin.part"
        assert not dest.exists(), "a cancelled download must not leave the final file"
        assert 100_000 <= part.stat().st_size < len(PAYLOAD)
        kept = part.stat().st_size
        seen = []
        run_to_end(fetch(srv.url("blob.bin"), dest, md5=md5(PAYLOAD)), seen.append)
        assert srv.requests[-1][1] == f"bytes={kept}-"
    assert dest.read_bytes() == PAYLOAD
    assert not part.exists()
    assert "resuming" in seen[0].message and seen[0].done == kept


def test_server_without_range_support_restarts_from_zero(tmp_path):
    dest = tmp_path / "blob.bin"
    (tmp_path / "blob.bin.part").write_bytes(b"garbage that is not the start of the file")
    with serve({"blob.bin": PAYLOAD}, ranges=False) as srv:
        run_to_end(fetch(srv.url("blob.bin"), dest, sha256=sha256(PAYLOAD)))
    assert dest.read_bytes() == PAYLOAD


def test_connection_dropped_mid_download_then_resume(tmp_path):
    dest = tmp_path / "blob.bin"
    with serve({"blob.bin": PAYLOAD}) as srv:
        srv.cut_after["blob.bin"] = 50_000
        with pytest.raises(DatasetError, match="blob.bin.*(interrupted|incomplete).*resume"):
            run_to_end(fetch(srv.url("blob.bin"), dest, md5=md5(PAYLOAD), timeout=5))
        assert not dest.exists()
        assert (tmp_path / "blob.bin.part").stat().st_size == 50_000
        run_to_end(fetch(srv.url("blob.bin"), dest, md5=md5(PAYLOAD)))
        assert srv.requests[-1][1] == "bytes=50000-"
    assert dest.read_bytes() == PAYLOAD


def test_checksum_mismatch_is_an_error_and_leaves_nothing(tmp_path):
    dest = tmp_path / "blob.bin"
    with serve({"blob.bin": PAYLOAD}) as srv:
        with pytest.raises(DatasetError, match=r"checksum mismatch: blob.bin: md5 mismatch \(expected 0+, got"):
            run_to_end(fetch(srv.url("blob.bin"), dest, md5="0" * 32))
    assert not dest.exists() and not (tmp_path / "blob.bin.part").exists()


def test_complete_part_with_416_is_verified_and_renamed(tmp_path):
    dest = tmp_path / "blob.bin"
    (tmp_path / "blob.bin.part").write_bytes(PAYLOAD)
    with serve({"blob.bin": PAYLOAD}) as srv:
        run_to_end(fetch(srv.url("blob.bin"), dest, md5=md5(PAYLOAD)))
    assert dest.read_bytes() == PAYLOAD


def test_http_404_and_unreachable_host_are_clear_errors(tmp_path):
    with serve({}) as srv:
        with pytest.raises(DatasetError, match=r"missing.bin: download failed: HTTP 404"):
            run_to_end(fetch(srv.url("missing.bin"), tmp_path / "missing.bin"))
        port = srv.server_address[1]
    # the server is closed now: nothing listens on that port
    with pytest.raises(DatasetError, match=r"x.bin: download failed: cannot reach"):
        run_to_end(fetch(f"http://127.0.0.1:{port}/x.bin", tmp_path / "x.bin", timeout=2))
    assert list(tmp_path.iterdir()) == []


def test_stale_part_from_another_file_version_restarts_once(tmp_path):
    dest = tmp_path / "blob.bin"
    (tmp_path / "blob.bin.part").write_bytes(os.urandom(1000))  # not the start of PAYLOAD
    seen = []
    with serve({"blob.bin": PAYLOAD}) as srv:
        run_to_end(fetch(srv.url("blob.bin"), dest, md5=md5(PAYLOAD)), seen.append)
        assert [r for _, r in srv.requests] == ["bytes=1000-", None]
    assert dest.read_bytes() == PAYLOAD
    assert any("downloading again from the start" in p.message for p in seen)


def test_damaged_existing_file_is_replaced_only_by_a_verified_one(tmp_path):
    dest = tmp_path / "blob.bin"
    dest.write_bytes(b"old damaged copy")
    with serve({"blob.bin": PAYLOAD}) as srv:
        with pytest.raises(DatasetError, match="checksum mismatch"):
            run_to_end(fetch(srv.url("blob.bin"), dest, md5="1" * 32))
        assert dest.read_bytes() == b"old damaged copy"  # untouched by the failed attempt
        run_to_end(fetch(srv.url("blob.bin"), dest, md5=md5(PAYLOAD)))
    assert dest.read_bytes() == PAYLOAD
