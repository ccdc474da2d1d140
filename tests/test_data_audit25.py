"""Audit H's dataset findings (F1, F2, F5-F11, F12's CIFAR notes, F13): verify says what it could not check, a data
folder that cannot be made is a message, a half download is no copy, a user's archive is kept, a bad label names its
batch, hints keep --root, the bench finds the shared MNIST, an empty imagefolder: path is refused, a damaged .gz is
called damaged, a short CIFAR copy and a damaged batches.meta are noted, clear-cache keeps what is not a cache.

Core only (no QApplication); tiny fixtures in tmp_path, a local HTTP server on 127.0.0.1 for downloads."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
import zlib

import pytest
from fixtures_data import cifar10_binary_tar, cifar10_python_folder, idx_bytes, idx_files, idx_pair, md5, serve

from app import paths
from app.cli import run
from app.data import DatasetError, formats, remote
from app.data.catalog import BUILTINS, Builtin
from app.tasks import run_to_end


# --- helpers --------------------------------------------------------------------------------------------------
def _cifar_bin_folder(root, per_batch=4, n_test=6):
    """``cifar-10-batches-bin`` unpacked from the fixture archive; returns the folder."""
    data, _ = cifar10_binary_tar(per_batch, n_test)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
        tf.extractall(root, filter="data")
    return root / "cifar-10-batches-bin"


def _set_label(path, record, value, rec=3073):
    raw = bytearray(path.read_bytes())
    raw[record * rec] = value
    path.write_bytes(bytes(raw))


def _small_cifar_bin_table(monkeypatch, per_batch=4, n_test=6):
    """The published batch sizes replaced by the fixture's (the real ones are 30,730,000 bytes each)."""
    files = {f"data_batch_{i}.bin": per_batch for i in range(1, 6)} | {"test_batch.bin": n_test}
    monkeypatch.setattr(remote, "CIFAR_BIN", {"cifar10": (files, 3073, (10,))}, raising=False)


def _mnist_folder(folder, stems=None):
    folder.mkdir(parents=True, exist_ok=True)
    for n, d in idx_files(20, 10).items():
        if stems is None or n.split(".")[0] in stems:
            (folder / n).write_bytes(d)
    return folder


# --- F1: verify counts a file without a published digest as not verified --------------------------------------
def test_verify_cifar_binary_batches_are_not_called_verified(tmp_path, fe_home, capsys, monkeypatch):
    _small_cifar_bin_table(monkeypatch)
    _cifar_bin_folder(tmp_path)
    code = run(["data", "verify", "cifar10", "--root", str(tmp_path)])
    out = capsys.readouterr().out
    assert "all verified" not in out and "checked at download" not in out
    assert out.count("??") == 6 and "not verified" in out
    assert "cifar10: 6 of 6 file(s) have no published digest: not verified" in out
    assert code == 3  # nothing wrong found, but nothing verified either: not 0


def test_verify_cifar_binary_flags_a_bad_label_and_a_short_batch(tmp_path, fe_home, capsys, monkeypatch):
    _small_cifar_bin_table(monkeypatch)
    folder = _cifar_bin_folder(tmp_path)
    _set_label(folder / "data_batch_4.bin", 2, 10)
    raw = (folder / "data_batch_3.bin").read_bytes()
    (folder / "data_batch_3.bin").write_bytes(raw[:2 * 3073])
    assert run(["data", "verify", "cifar10", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    lines = {ln.split()[1].rstrip(":"): ln for ln in out.splitlines() if ln.strip()[:3] in ("ok", "??", "BAD")}
    assert lines["data_batch_4.bin"].lstrip().startswith("BAD") and "record 2: 10" in lines["data_batch_4.bin"]
    assert lines["data_batch_3.bin"].lstrip().startswith("BAD") and "6,146 bytes" in lines["data_batch_3.bin"]
    assert "2 of 6 file(s) do not match" in out and "4 of 6 file(s) have no published digest" in out


def test_verify_the_real_batch_size_is_the_published_one(tmp_path, fe_home, capsys):
    # without the fixture's table: a tiny batch is not the official 30,730,000-byte file
    _cifar_bin_folder(tmp_path)
    assert run(["data", "verify", "cifar10", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "30,730,000" in out and "all verified" not in out


def test_verify_plain_fashion_idx_is_not_verified(tmp_path, fe_home, capsys, monkeypatch):
    b = BUILTINS["fashion-mnist"]
    monkeypatch.setitem(BUILTINS, "fashion-mnist", Builtin(**{**b.__dict__, "counts": (20, 10)}))
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for n, d in idx_files(20, 10).items():
        (raw / n[:-3]).write_bytes(gzip.decompress(d))  # plain IDX files: no published digest for them
    code = run(["data", "verify", "fashion-mnist", "--root", str(tmp_path)])
    out = capsys.readouterr().out
    assert out.count("??") == 4 and "all verified" not in out and code == 3


# --- F2: a data folder that cannot be made or written is a message, not a traceback ---------------------------
def test_download_into_a_root_under_a_file_is_an_error_naming_it(tmp_path, fe_home, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    for name in ("mnist", "cifar10"):
        code = run(["data", "download", name, "--root", str(blocker / "sub"), "--mirror", "http://127.0.0.1:9/"])
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err
        # refused before the download by the --root check (app.cliargs.out_folder, session 32) ...
        assert err == f"error: --root {blocker / 'sub'}: the folder {blocker} is a file, not a folder\n"
        # ... and by the download itself where no command checked it first (the GUI's data folder)
        with pytest.raises(DatasetError, match="cannot create the data folder") as exc:
            run_to_end(remote.download(name, blocker / "sub", mirror="http://127.0.0.1:9/"))
        assert str(blocker / "sub") in str(exc.value)


def test_download_into_an_unwritable_folder_is_an_error_naming_it(tmp_path, fe_home, monkeypatch):
    import tempfile

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)  # running as root: no real read-only folder here
    with pytest.raises(DatasetError, match=r"cannot write in the data folder .*MNIST.*Permission denied"):
        run_to_end(remote.download("mnist", tmp_path, mirror="http://127.0.0.1:9/"))


def test_cli_download_turns_any_os_error_into_a_message(tmp_path, fe_home, capsys, monkeypatch):
    def broken(*a, **k):
        raise IsADirectoryError(21, "Is a directory", str(tmp_path / "x.gz"))
        yield  # a task generator

    monkeypatch.setattr(remote, "download", broken)
    assert run(["data", "download", "mnist", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(tmp_path / "x.gz") in err and "Is a directory" in err


# --- F5: an IDX dataset is present only with both splits' files ------------------------------------------------
def test_half_downloaded_mnist_is_not_local_and_says_what_is_missing(tmp_path, fe_home, capsys):
    root = tmp_path / "data"
    _mnist_folder(root / "MNIST" / "raw", {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"})
    src = formats.locate("mnist", root)
    assert src is not None and src.missing == ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    assert remote.status("mnist", root).local is False
    assert run(["data", "list", "--root", str(root)]) == 0
    assert " no " in next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("mnist "))
    why = formats.missing("mnist", root)
    assert why is not None and "incomplete" in why
    assert "t10k-images-idx3-ubyte(.gz)" in why and "t10k-labels-idx1-ubyte(.gz)" in why
    assert "train-images" not in why and "python main.py data download mnist --root" in why
    assert run(["data", "info", "mnist", "--split", "test", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "incomplete" in err and "t10k-images-idx3-ubyte(.gz)" in err and "data download mnist" in err
    assert len(formats.load("mnist", "train", root)) == 20  # the split that is there still loads
    assert run(["data", "verify", "mnist", "--root", str(root)]) == 1
    assert "missing" in capsys.readouterr().out


def test_a_half_folder_does_not_hide_the_shared_mnist(tmp_path, fe_home, monkeypatch):
    data = tmp_path / "data"
    _mnist_folder(data / "MNIST" / "raw", {"train-images-idx3-ubyte"})
    shared = tmp_path / "shared"
    full = _mnist_folder(shared / "datasets" / "MNIST" / "raw")
    monkeypatch.setenv("FILTER_EXPLORER_DATA", str(data))
    monkeypatch.setattr(paths, "SHARED", shared)
    src = formats.locate("mnist", None)
    assert src is not None and src.path == full
    assert len(formats.load("mnist", "test")) == 10


# --- F6: only an archive this call downloaded is deleted -------------------------------------------------------
def _cifar10_with_md5(monkeypatch, data):
    b = BUILTINS["cifar10"]
    monkeypatch.setitem(BUILTINS, "cifar10", Builtin(**{**b.__dict__, "files": (
        formats.RemoteFile("cifar-10-binary.tar.gz", "https://unused/", md5(data), len(data)),)}))


def test_download_keeps_the_users_own_archive(tmp_path, fe_home, monkeypatch):
    data, _ = cifar10_binary_tar()
    _cifar10_with_md5(monkeypatch, data)
    (tmp_path / "cifar-10-binary.tar.gz").write_bytes(data)
    with serve({}) as srv:  # nothing to serve: the local copy is verified, not fetched
        run_to_end(remote.download("cifar10", tmp_path, mirror=srv.base))
        assert srv.requests == []
    assert (tmp_path / "cifar-10-batches-bin" / "test_batch.bin").exists()
    assert (tmp_path / "cifar-10-binary.tar.gz").read_bytes() == data  # the user's file stays


def test_download_deletes_the_archive_it_fetched(tmp_path, fe_home, monkeypatch):
    data, _ = cifar10_binary_tar()
    _cifar10_with_md5(monkeypatch, data)
    with serve({"cifar-10-binary.tar.gz": data}) as srv:
        run_to_end(remote.download("cifar10", tmp_path, mirror=srv.base))
    assert (tmp_path / "cifar-10-batches-bin" / "test_batch.bin").exists()
    assert not (tmp_path / "cifar-10-binary.tar.gz").exists()


# --- F7: a bad label names its own batch ------------------------------------------------------------------------
def test_a_bad_cifar_binary_label_names_its_batch_index_and_value(tmp_path, fe_home):
    folder = _cifar_bin_folder(tmp_path)
    _set_label(folder / "data_batch_4.bin", 1, 10)
    with pytest.raises(DatasetError, match=r"data_batch_4\.bin: labels outside 0\.\.9: 1 of 4 \(the first at index "
                                           r"1: 10\)"):
        formats.load("cifar10", "train", tmp_path)


def test_a_bad_cifar_python_label_names_its_batch(tmp_path, fe_home):
    cifar10_python_folder(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    d = pickle.loads(path.read_bytes())
    d["labels"][0] = 10
    path.write_bytes(pickle.dumps(d, protocol=2))
    with pytest.raises(DatasetError,
                       match=r"data_batch_2: labels outside 0\.\.9: 1 of 3 \(the first at index 0: 10\)") as exc:
        formats.load("cifar10", "train", tmp_path)
    assert "data_batch_1" not in str(exc.value)


# --- F8: the download hint keeps --root ----------------------------------------------------------------------
def test_not_downloaded_hint_names_the_root_quoted(tmp_path, fe_home, capsys):
    root = tmp_path / "my data"
    root.mkdir()
    assert run(["data", "info", "fashion-mnist", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert f"`python main.py data download fashion-mnist --root '{root}'`" in err
    hint = str(formats.not_downloaded("fashion-mnist", None))
    assert "`python main.py data download fashion-mnist`" in hint and "--root" not in hint


# --- F9: bench dataset-load finds what data info finds ---------------------------------------------------------
def test_bench_dataset_load_finds_the_shared_mnist(tmp_path, fe_home, capsys, monkeypatch):
    shared = tmp_path / "shared"
    _mnist_folder(shared / "datasets" / "MNIST" / "raw")
    monkeypatch.delenv("FILTER_EXPLORER_DATA", raising=False)  # the default data folder: <home>/data (empty)
    monkeypatch.setattr(paths, "SHARED", shared)
    assert run(["data", "info", "mnist", "--split", "test"]) == 0
    capsys.readouterr()
    assert run(["bench", "dataset-load", "mnist", "--split", "test"]) == 0
    assert "mnist test: 10 images" in capsys.readouterr().out


# --- F10: an empty imagefolder path is refused --------------------------------------------------------------
def test_imagefolder_with_an_empty_path_is_refused(tmp_path, fe_home, capsys, monkeypatch):
    from app.data import core, imagefolder
    from fixtures_data import image_folder

    image_folder(tmp_path, per_class=3)  # the current folder holds class folders: they must not be read
    monkeypatch.chdir(tmp_path)
    assert run(["data", "info", "imagefolder:"]) == 2
    assert "names no folder" in capsys.readouterr().err
    for call in (lambda: formats.load("imagefolder: ", "train"), lambda: core.load("imagefolder:", "train"),
                 lambda: imagefolder.load_imagefolder("", "train")):
        with pytest.raises(DatasetError, match="no folder|path is empty"):
            call()


# --- F11: a damaged .gz is said to be damaged ----------------------------------------------------------------
def _gz_with(content: bytes, crc: int | None = None) -> bytes:
    """A gzip member of ``content`` (the CRC32 in its trailer replaced by ``crc`` when given)."""
    data = gzip.compress(content, mtime=0)
    if crc is not None:
        data = data[:-8] + struct.pack("<I", crc) + data[-4:]
    return data


def _mnist_with_test_images(root, blob):
    _mnist_folder(root / "MNIST" / "raw")
    (root / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz").write_bytes(blob)


def test_a_gz_whose_crc_fails_is_damaged_not_longer(tmp_path, fe_home):
    imgs, _ = idx_pair(10, 2)
    content = idx_bytes(imgs) + b"\x07" * 5000  # decodes to more than the header declares ...
    _mnist_with_test_images(tmp_path, _gz_with(content, crc=(zlib.crc32(content) ^ 1)))  # ... and fails its CRC
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz: damaged.*CRC check failed") as exc:
        formats.load("mnist", "test", tmp_path)
    assert "longer than its header" not in str(exc.value)


def test_a_sound_gz_with_more_data_is_still_longer_than_its_header(tmp_path, fe_home):
    imgs, _ = idx_pair(10, 2)
    _mnist_with_test_images(tmp_path, _gz_with(idx_bytes(imgs) + b"\x07" * 5000))
    with pytest.raises(DatasetError, match=r"longer than its header says"):
        formats.load("mnist", "test", tmp_path)


def test_a_gz_with_a_broken_deflate_stream_is_damaged(tmp_path, fe_home):
    good = gzip.compress(b"x" * 100, mtime=0)
    blob = good[:10] + b"\xff" * 40 + good[-8:]  # header kept; the deflate data an invalid block type
    _mnist_with_test_images(tmp_path, blob)
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz: damaged"):
        formats.load("mnist", "test", tmp_path)


# --- F12: a short CIFAR copy and a damaged batches.meta --------------------------------------------------------
def test_a_short_cifar_copy_loads_with_a_note(tmp_path, fe_home):
    _cifar_bin_folder(tmp_path)
    ds = formats.load("cifar10", "train", tmp_path)
    assert len(ds) == 20
    assert any("holds 20 images, not the official 50,000" in n for n in ds.notes)


def test_a_damaged_batches_meta_falls_back_to_the_standard_names(tmp_path, fe_home):
    cifar10_python_folder(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "batches.meta").write_bytes(b"\x80\x02garbage")
    for _ in range(2):  # parsed, then from the cache: the note stays
        ds = formats.load("cifar10", "test", tmp_path)
        assert ds.classes == BUILTINS["cifar10"].classes and len(ds) == 4
        assert any("batches.meta" in n and "standard names" in n for n in ds.notes)


# --- F13: clear-cache keeps what is not a cache ------------------------------------------------------------------
def test_clear_cache_keeps_a_users_image_folder_in_the_cache_folder(fe_home, capsys):
    cache = paths.cache_dir()
    mine = cache / "my images" / "cat"
    mine.mkdir(parents=True)
    for k in range(4):
        (mine / f"{k}.png").write_bytes(b"\x89PNG not really")
    other = cache / "old-cache"  # an other folder of cache files: still cleared, as documented
    other.mkdir()
    (other / "a.npz").write_bytes(b"\0" * 10)
    assert run(["data", "clear-cache", "my images"]) == 2
    assert "not a cache" in capsys.readouterr().err
    assert len(list(mine.iterdir())) == 4
    assert run(["data", "clear-cache"]) == 0
    out = capsys.readouterr().out
    assert len(list(mine.iterdir())) == 4 and not (other / "a.npz").exists()
    assert "kept my images" in out


def test_clear_cache_never_empties_a_data_folder_inside_the_cache(fe_home, monkeypatch):
    from app.data import caches

    data = paths.cache_dir() / "data"
    monkeypatch.setenv("FILTER_EXPLORER_DATA", str(data))
    _mnist_folder(data / "MNIST" / "raw")
    (data / "old.npz").write_bytes(b"\0")  # even a cache-like file there stays: the folder is the data folder
    feats = paths.cache_dir() / "features"
    feats.mkdir()
    (feats / "k.npy").write_bytes(b"\0" * 8)
    (feats / "notes.txt").write_text("mine")  # a file the app does not write
    rows = {u.name: u for u in caches.usage()}
    assert rows["data"].kept and rows["features"].files == 1
    caches.clear(None)
    caches.clear(["data"])
    assert len(list((data / "MNIST" / "raw").iterdir())) == 4 and (data / "old.npz").exists()
    assert not (feats / "k.npy").exists() and (feats / "notes.txt").exists()


def test_imagefolder_with_no_path_is_refused_by_probe_and_experiments_too(tmp_path):
    """``Path("")`` is the current folder: `probe --dataset imagefolder:` and an experiment run on it took the
    current folder's sub-folders as the classes."""
    from app.data.core import DatasetError
    from app.experiments.recipe import dataset_problem, load_recipe
    from app.probe.resolve import absolute_dataset

    with pytest.raises(DatasetError, match="names no folder"):
        absolute_dataset("imagefolder:")
    assert absolute_dataset(f"imagefolder:{tmp_path}") == f"imagefolder:{tmp_path.resolve()}"
    recipe = tmp_path / "on-folder.toml"
    recipe.write_text('name = "on-folder"\ntitle = "t"\nclaim = "c"\nkind = "probe"\n[base]\nbackbone = "rdsn"\n'
                      'dataset = "imagefolder:"\noptions = { k = 8, blocks = 1 }\n')
    assert "names no folder" in (dataset_problem(load_recipe(recipe)) or "")


def test_the_not_downloaded_line_names_the_mirror_and_what_an_interrupted_download_kept(tmp_path, monkeypatch):
    """The browser said "from its official location" with a mirror set, and after a cancelled download (its .part
    kept) it said nothing of the bytes already there that Download resumes (a walkthrough audit)."""
    from app.data import remote
    from app.data.catalog import BUILTINS, MIRROR_ENV

    monkeypatch.delenv(MIRROR_ENV, raising=False)
    assert remote.source_text() == "from its official location"
    monkeypatch.setenv(MIRROR_ENV, "http://127.0.0.1:9/m/")
    assert remote.source_text() == "from the mirror http://127.0.0.1:9/m/"
    b = BUILTINS["fashion-mnist"]
    target = tmp_path / b.download_dir if b.download_dir else tmp_path
    assert remote.partial_bytes("fashion-mnist", tmp_path) == 0
    target.mkdir(parents=True, exist_ok=True)
    (target / (b.files[0].filename + ".part")).write_bytes(b"x" * 1234)
    assert remote.partial_bytes("fashion-mnist", tmp_path) == 1234
