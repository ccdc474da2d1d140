"""Test helpers for the datasets area: a local HTTP server and tiny fixture files in the official formats."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import tarfile
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np


# --- a bounded local HTTP server with optional Range support ----------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    server_version = "FixtureHTTP/1.0"

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):  # noqa: N802
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        name = self.path.lstrip("/").split("?")[0]
        data = srv.files.get(name)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and srv.ranges:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        limit = srv.cut_after.get(name)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        try:
            if limit is not None and limit < len(body):
                self.wfile.write(body[:limit])  # announce everything, send a part, hang up
                self.wfile.flush()
                srv.cut_after.pop(name, None)
                return
            for i in range(0, len(body), 8192):
                self.wfile.write(body[i:i + 8192])
                if srv.delay:
                    self.wfile.flush()
                    time.sleep(srv.delay)
        except (BrokenPipeError, ConnectionResetError):
            pass


class FixtureServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, files: dict[str, bytes], ranges: bool = True):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = dict(files)
        self.ranges = ranges
        self.requests: list[tuple[str, str | None]] = []
        self.cut_after: dict[str, int] = {}
        self.delay = 0.0  # seconds per 8 KiB chunk (a slow server, for cancel tests)
        self.timeout = 5

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def url(self, name: str) -> str:
        return self.base + name


@contextmanager
def serve(files: dict[str, bytes], ranges: bool = True):
    srv = FixtureServer(files, ranges)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(5)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- tiny datasets in the official formats ----------------------------------------------------------------
def idx_bytes(arr: np.ndarray) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    magic = struct.pack(">HBB", 0, 0x08, arr.ndim)
    return magic + struct.pack(">" + "I" * arr.ndim, *arr.shape) + arr.tobytes()


def idx_pair(n: int = 20, seed: int = 0, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)


def idx_files(n_train: int = 20, n_test: int = 10) -> dict[str, bytes]:
    """The four MNIST/Fashion-MNIST .gz files."""
    tri, trl = idx_pair(n_train, 1)
    tei, tel = idx_pair(n_test, 2)
    out = {}
    for stem, arr in (("train-images-idx3-ubyte", tri), ("train-labels-idx1-ubyte", trl),
                      ("t10k-images-idx3-ubyte", tei), ("t10k-labels-idx1-ubyte", tel)):
        out[stem + ".gz"] = gzip.compress(idx_bytes(arr), mtime=0)
    return out


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def cifar_images(n: int, seed: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def cifar10_binary_tar(per_batch: int = 4, n_test: int = 6) -> tuple[bytes, dict]:
    """cifar-10-binary.tar.gz with 5 train batches and a test batch; returns (archive, expected arrays)."""
    members, expect = {}, {"train": [], "test": []}
    for i, (fname, n, split) in enumerate([(f"data_batch_{k}.bin", per_batch, "train") for k in range(1, 6)]
                                          + [("test_batch.bin", n_test, "test")]):
        imgs = cifar_images(n, 100 + i)
        labels = (np.arange(n) + i) % 10
        rec = np.concatenate([labels.astype(np.uint8)[:, None],
                              imgs.transpose(0, 3, 1, 2).reshape(n, -1)], axis=1)
        members[f"cifar-10-batches-bin/{fname}"] = rec.tobytes()
        expect[split].append((imgs, labels))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    members["cifar-10-batches-bin/batches.meta.txt"] = ("\n".join(names) + "\n\n").encode()
    out = {s: (np.concatenate([a for a, _ in v]), np.concatenate([b for _, b in v])) for s, v in expect.items()}
    return _tar(members), out


def cifar100_binary_tar(n_train: int = 12, n_test: int = 5) -> tuple[bytes, dict]:
    members, out = {}, {}
    for fname, n, split, seed in (("train.bin", n_train, "train", 7), ("test.bin", n_test, "test", 8)):
        imgs = cifar_images(n, seed)
        fine = (np.arange(n) * 7) % 100
        coarse = fine % 20
        rec = np.concatenate([coarse.astype(np.uint8)[:, None], fine.astype(np.uint8)[:, None],
                              imgs.transpose(0, 3, 1, 2).reshape(n, -1)], axis=1)
        members[f"cifar-100-binary/{fname}"] = rec.tobytes()
        out[split] = (imgs, fine)
    members["cifar-100-binary/fine_label_names.txt"] = "\n".join(f"fine{i}" for i in range(100)).encode()
    members["cifar-100-binary/coarse_label_names.txt"] = "\n".join(f"coarse{i}" for i in range(20)).encode()
    return _tar(members), out


def cifar10_python_folder(root: Path, per_batch: int = 3, n_test: int = 4) -> dict:
    """torchvision's ``cifar-10-batches-py`` folder (pickles as the official files hold them)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    out = {"train": [], "test": []}
    for i, (fname, n, split) in enumerate([(f"data_batch_{k}", per_batch, "train") for k in range(1, 6)]
                                          + [("test_batch", n_test, "test")]):
        imgs = cifar_images(n, 200 + i)
        labels = [int(v) for v in (np.arange(n) + 3 * i) % 10]
        d = {"batch_label": f"batch {i}", "labels": labels,
             "data": imgs.transpose(0, 3, 1, 2).reshape(n, -1).copy(), "filenames": [f"f{j}.png" for j in range(n)]}
        (folder / fname).write_bytes(pickle.dumps(d, protocol=2))
        out[split].append((imgs, np.asarray(labels)))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names, "num_vis": 3072}, protocol=2))
    return {s: (np.concatenate([a for a, _ in v]), np.concatenate([b for _, b in v])) for s, v in out.items()}


def stl10_tar(n_train: int = 6, n_test: int = 4, unlabeled: int = 0) -> tuple[bytes, dict]:
    members, out = {}, {}
    if unlabeled:
        members["stl10_binary/unlabeled_X.bin"] = cifar_images(unlabeled, 13, size=96).tobytes()
    for split, n, seed in (("train", n_train, 11), ("test", n_test, 12)):
        imgs = cifar_images(n, seed, size=96)  # (N, H, W, C)
        labels = (np.arange(n) % 10) + 1  # STL-10 labels are 1..10
        members[f"stl10_binary/{split}_X.bin"] = imgs.transpose(0, 3, 2, 1).tobytes()  # column-major per channel
        members[f"stl10_binary/{split}_y.bin"] = labels.astype(np.uint8).tobytes()
        out[split] = (imgs, labels - 1)
    names = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
    members["stl10_binary/class_names.txt"] = ("\n".join(names) + "\n").encode()
    return _tar(members), out


def image_folder(root: Path, classes=("cat", "dog", "owl"), per_class: int = 6, size: int = 16,
                 splits: bool = False, seed: int = 0) -> Path:
    """A folder of class sub-folders with PNG images (``train/`` and ``test/`` when ``splits``)."""
    import cv2

    rng = np.random.default_rng(seed)
    for split in (("train", "test") if splits else ("",)):
        for ci, c in enumerate(classes):
            d = root / split / c if split else root / c
            d.mkdir(parents=True, exist_ok=True)
            for k in range(per_class):
                img = np.full((size, size, 3), 40 * ci, np.uint8) + rng.integers(0, 30, (size, size, 3), dtype=np.uint8)
                cv2.imwrite(str(d / f"{k:03d}.png"), img)
    return root
