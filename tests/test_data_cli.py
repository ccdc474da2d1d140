"""``python main.py data list|download|info`` (run in-process through app.cli.run)."""

from __future__ import annotations

import pytest
from fixtures_data import cifar10_binary_tar, image_folder, md5, serve

from app.cli import run
from app.data import formats


def test_data_list_shows_local_and_sizes(tmp_path, fe_home, capsys):
    assert run(["data", "list", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = {ln.split()[0]: ln for ln in out.splitlines()[1:]}
    assert "yes" in lines["digits"] and "embedded" in lines["digits"]
    assert " no " in lines["cifar10"] and "162.2 MB" in lines["cifar10"]
    assert "2.5 GB" in lines["stl10"] and "imagefolder:PATH" in lines


def test_data_info_digits_counts_per_class(fe_home, capsys):
    assert run(["data", "info", "digits", "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("digits (test): 450 images, 8x8, 1 channel, 10 classes")
    counts = [int(ln.split()[1]) for ln in out.splitlines()[2:12]]
    assert sum(counts) == 450 and len(counts) == 10


def test_data_info_imagefolder_and_errors(tmp_path, fe_home, capsys):
    folder = image_folder(tmp_path / "pics", per_class=5)
    assert run(["data", "info", f"imagefolder:{folder}", "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert "3 channels, 3 classes" in out and "cat" in out
    assert run(["data", "info", "cifar100", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "error: cifar100 is not downloaded" in err and "data download cifar100" in err
    assert run(["data", "info", "nonsense"]) == 2
    assert "unknown dataset 'nonsense'" in capsys.readouterr().err


def test_data_download_from_mirror_then_info(tmp_path, fe_home, capsys, monkeypatch):
    data, _ = cifar10_binary_tar()
    monkeypatch.setitem(formats.BUILTINS, "cifar10", formats.BUILTINS["cifar10"].__class__(
        **{**formats.BUILTINS["cifar10"].__dict__,
           "files": (formats.RemoteFile("cifar-10-binary.tar.gz", "https://unused/", md5(data), len(data)),)}))
    with serve({"cifar-10-binary.tar.gz": data}) as srv:
        assert run(["data", "download", "cifar10", "--root", str(tmp_path), "--mirror", srv.base]) == 0
    cap = capsys.readouterr()
    assert "cifar10: ready in" in cap.out and "100.0%" in cap.err
    assert (tmp_path / "cifar-10-batches-bin" / "test_batch.bin").exists()
    assert run(["data", "info", "cifar10", "--root", str(tmp_path), "--split", "test"]) == 0
    assert "cifar10 (test): 6 images, 32x32, 3 channels" in capsys.readouterr().out


def test_data_download_bad_checksum_exit_code_2(tmp_path, fe_home, capsys):
    data, _ = cifar10_binary_tar()
    with serve({"cifar-10-binary.tar.gz": data}) as srv:
        assert run(["data", "download", "cifar10", "--root", str(tmp_path), "--mirror", srv.base]) == 2
    err = capsys.readouterr().err
    assert "error: checksum mismatch: cifar-10-binary.tar.gz" in err and "Traceback" not in err


def test_data_command_is_registered(capsys):
    with pytest.raises(SystemExit) as exc:
        run(["data", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "download" in out and "info" in out and "list" in out


def test_data_verify_flags_a_copy_that_is_not_the_published_one(tmp_path, fe_home, capsys):
    from fixtures_data import idx_files

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for n, d in idx_files(20, 10).items():
        (raw / n).write_bytes(d)
    assert run(["data", "verify", "mnist", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.count("BAD") == 4 and "expected 6bbc9ace898e44ae57da46a324031adb" in out
    assert "4 file(s) do not match" in out


def test_data_verify_shared_mnist_by_decompressed_content(shared, fe_home, capsys):
    root = shared("datasets")
    shared("datasets", "MNIST", "raw", "train-images-idx3-ubyte.gz")
    assert run(["data", "verify", "mnist", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert out.count(" ok ") == 4 and "decompressed content" in out and "mnist: all verified" in out


def test_data_clear_cache(tmp_path, fe_home, capsys):
    folder = image_folder(tmp_path / "pics", per_class=3)
    assert run(["data", "info", f"imagefolder:{folder}"]) == 0
    assert list((fe_home / "cache" / "imagefolder").glob("*.npz"))
    capsys.readouterr()
    assert run(["data", "clear-cache"]) == 0
    out = capsys.readouterr().out
    assert "imagefolder" in out and out.splitlines()[-1].startswith("removed 2 cache file(s)")  # arrays + size
    assert not list((fe_home / "cache" / "imagefolder").glob("*.npz"))
    assert folder.is_dir()
