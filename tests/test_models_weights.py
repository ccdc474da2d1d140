"""Weights I/O: safe loading (malicious pickles refused, never run), clear mismatch errors, downloads."""

from __future__ import annotations

import hashlib
import http.server
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from app.models import create
from app.models.weights import (KNOWN, KnownWeights, WeightsError, download, load_into, read_sidecar,
                                read_state_dict, save_checkpoint)
from app.tasks import CancelToken, Cancelled, run_to_end

ROOT = Path(__file__).resolve().parent.parent


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".th"])
def test_malicious_pickle_is_refused_not_executed(tmp_path, suffix):
    marker = tmp_path / "pwned"
    path = tmp_path / f"evil{suffix}"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": {"w": _Evil(str(marker))}}, f, protocol=2)
    with pytest.raises(WeightsError, match="refused") as info:
        read_state_dict(path)
    assert "not executed" in str(info.value)
    assert not marker.exists()
    # also inside a real torch.save zip container
    path2 = tmp_path / f"evil_zip{suffix}"
    torch.save({"w": torch.zeros(1), "x": _Evil(str(marker))}, path2)
    with pytest.raises(WeightsError, match="refused"):
        load_into(create("simple"), path2)
    assert not marker.exists()


def test_module_prefix_and_containers_are_unwrapped(tmp_path):
    m = create("resnet20")
    sd = {f"module.{k}": v for k, v in m.state_dict().items()}
    torch.save({"state_dict": sd, "best_prec1": 91.0}, tmp_path / "ck.th")
    m2 = create("resnet20")
    load_into(m2, tmp_path / "ck.th")
    assert torch.equal(m2.conv1.weight, m.conv1.weight)
    torch.save(m.state_dict(), tmp_path / "plain.pt")
    assert read_state_dict(tmp_path / "plain.pt").keys() == m.state_dict().keys()


def test_mismatch_names_missing_unexpected_and_wrong_shape(tmp_path):
    m = create("simple", widths=(8, 16))
    sd = dict(m.state_dict())
    sd.pop("blocks.1.conv.bias")
    sd["extra.weight"] = torch.zeros(2)
    sd["blocks.0.conv.weight"] = torch.zeros(4, 3, 3, 3)
    torch.save(sd, tmp_path / "bad.pt")
    with pytest.raises(WeightsError) as info:
        load_into(create("simple", widths=(8, 16)), tmp_path / "bad.pt")
    msg = str(info.value)
    assert "bad.pt does not fit" in msg
    assert "missing keys: blocks.1.conv.bias" in msg
    assert "unexpected keys: extra.weight" in msg
    assert "wrong shape: blocks.0.conv.weight (4, 3, 3, 3) vs model (8, 3, 3, 3)" in msg
    # another architecture entirely
    with pytest.raises(WeightsError, match="missing keys: conv1.weight"):
        load_into(create("resnet20"), tmp_path / "bad.pt")


def test_unreadable_files_are_clear_errors(tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        read_state_dict(tmp_path / "junk.safetensors")
    (tmp_path / "junk.pt").write_bytes(b"\x00\x01garbage")
    with pytest.raises(WeightsError, match="junk.pt"):
        read_state_dict(tmp_path / "junk.pt")
    (tmp_path / "w.npy").write_bytes(b"x")
    with pytest.raises(WeightsError, match="unknown weights format"):
        read_state_dict(tmp_path / "w.npy")
    with pytest.raises(WeightsError, match="no such file"):
        read_state_dict(tmp_path / "absent.pt")


def test_checkpoint_sidecar_and_spec_from_checkpoint(tmp_path):
    from app.models import ModelSpec
    from app.models.build import build, spec_from_checkpoint
    from app.models.inputs import input_spec

    spec = ModelSpec.make("simple", options={"widths": [4, 8], "in_channels": 1}, seed=2)
    m = build(spec, device="cpu")
    m.reset_classifier(10)
    inp = {"channels": 1, "size": 28, "mean": [0.1307], "std": [0.3081]}
    st, js = save_checkpoint(m, tmp_path / "run", spec, dataset="mnist", seed=2, accuracy=0.97, input=inp)
    side = read_sidecar(st)
    assert side["architecture"]["backbone"] == "simple" and side["accuracy"] == 0.97 and side["dataset"] == "mnist"
    s2 = spec_from_checkpoint(st)
    assert s2.backbone == "simple" and dict(s2.options)["widths"] == (4, 8) and s2.weight_state == "trained"
    m2 = build(s2, device="cpu")
    assert m2.num_classes == 10 and torch.equal(m2.blocks[1].conv.weight, m.blocks[1].conv.weight)
    i = input_spec(s2)
    assert (i.channels, i.size, i.mean, i.std) == (1, (28, 28), (0.1307,), (0.3081,))  # an old sidecar's int size
    assert s2.input == i and i.source == "sidecar: as trained on mnist"
    (tmp_path / "lone.safetensors").write_bytes(st.read_bytes())
    with pytest.raises(WeightsError, match="no JSON sidecar"):
        spec_from_checkpoint(tmp_path / "lone.safetensors")


# --- downloads against a local server ----------------------------------------------------------------------
@pytest.fixture
def server(tmp_path):
    root = tmp_path / "srv"
    root.mkdir()
    payload = os.urandom(200_000)
    (root / "weights.th").write_bytes(payload)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # a cancelled download closes the connection mid-transfer: expected here

    httpd = Server(("127.0.0.1", 0), Quiet)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", payload
    httpd.shutdown()
    httpd.server_close()
    t.join(5)


def _fixture_entry(sha: str) -> KnownWeights:
    base = KNOWN["resnet20-cifar10"]
    return KnownWeights("fixture", "resnet20", "fixture.th", sha, None, "cifar10", "fixture", 3, 32, base.mean,
                        base.std)


def test_download_progress_checksum_and_cancel(server, tmp_path, monkeypatch):
    url, payload = server
    sha = hashlib.sha256(payload).hexdigest()
    monkeypatch.setitem(KNOWN, "fixture", _fixture_entry(sha))
    seen = []
    dest = run_to_end(download("fixture", url=f"{url}/weights.th", dest_dir=tmp_path / "w"), seen.append)
    assert dest.read_bytes() == payload and dest.name == "fixture.th"
    assert seen and seen[-1].done == len(payload)
    # wrong checksum: refused, nothing left under the final name
    monkeypatch.setitem(KNOWN, "fixture", _fixture_entry("0" * 64))
    with pytest.raises(WeightsError, match="mismatch"):
        run_to_end(download("fixture", url=f"{url}/weights.th", dest_dir=tmp_path / "w2"))
    assert not (tmp_path / "w2" / "fixture.th").exists()
    # cancel
    monkeypatch.setitem(KNOWN, "fixture", _fixture_entry(sha))
    token = CancelToken()
    gen = download("fixture", token, url=f"{url}/weights.th", dest_dir=tmp_path / "w3")
    next(gen)
    token.cancel()
    with pytest.raises(Cancelled):
        run_to_end(gen)
    assert not (tmp_path / "w3" / "fixture.th").exists()
    with pytest.raises(WeightsError, match="unknown weights"):
        run_to_end(download("nothing"))


def test_cli_download_reports_a_bad_checksum_clearly(server, tmp_path):
    url, _ = server
    env = dict(os.environ, FILTER_EXPLORER_HOME=str(tmp_path / "home"))
    out = subprocess.run([sys.executable, "main.py", "weights", "download", "resnet20-cifar10", "--url",
                          f"{url}/weights.th"], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 2, out.stderr
    assert "mismatch" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "home" / "files" / "weights" / "resnet20_cifar10-12fca82f.th").exists()
