"""Bad kernel inputs (issue 15): bank files that declare more than they hold, JSON bombs, generator arguments."""

from __future__ import annotations

import io
import json
import struct
import zipfile

import numpy as np
import pytest

from app.cli import run
from app.data import limits
from app.kernels import generate, io as kio, ops
from app.kernels.bank import KernelBankError


def test_json_with_a_401_digit_integer_or_100000_nesting_levels(tmp_path):
    doc = {"format": kio.FORMAT, "version": 1, "shape": [1, 1, 1, 1], "kernels": [[[[10 ** 400]]]]}
    (tmp_path / "big.json").write_text(json.dumps(doc))
    with pytest.raises(kio.KernelFileError, match=r"big.json: \"kernels\" holds a number too large for a float"):
        kio.load(tmp_path / "big.json")
    deep = '{"format": "filter-explorer-bank", "version": 1, "kernels": ' + "[" * 100_000 + "]" * 100_000 + "}"
    (tmp_path / "deep.json").write_text(deep)
    with pytest.raises(kio.KernelFileError, match=r"deep.json: nested too deeply to be a kernel bank"):
        kio.load(tmp_path / "deep.json")
    doc["kernels"], doc["shape"] = [[[[1.0]]]], [10 ** 400, 1, 1, 1]
    (tmp_path / "shape.json").write_text(json.dumps(doc))
    with pytest.raises(kio.KernelFileError, match=r"shape.json: \"shape\" .* is far too large"):
        kio.load(tmp_path / "shape.json")


def _npz(path, arrays: dict) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, a in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, a)
            zf.writestr(name + ".npy", member.getvalue())
    path.write_bytes(buf.getvalue())


@pytest.mark.parametrize("name, arrays, msg", [
    # a 0-d weights array beside a frozen array: an IndexError reading its length
    ("scalar.npz", {"weights": np.array(1.0, np.float32), "frozen": np.array([False])},
     r"scalar.npz: expected a 4-D array \(out, in, k, k\), got 0-D"),
    # meta holding an integer of 5,000 digits (ValueError) or JSON nested 100,000 deep (RecursionError)
    ("bigint.npz", {"weights": np.zeros((1, 1, 3, 3), np.float32),
                    "meta": np.frombuffer(('{"meta": {"a": ' + "9" * 5000 + "}}").encode(), np.uint8)},
     r"bigint.npz: the \"meta\" entry is not valid JSON"),
    ("deep.npz", {"weights": np.zeros((1, 1, 3, 3), np.float32),
                  "meta": np.frombuffer(("[" * 100_000 + "]" * 100_000).encode(), np.uint8)},
     r"deep.npz: the \"meta\" entry is not valid JSON"),
])
def test_npz_with_a_scalar_weights_array_or_a_meta_bomb_is_a_file_error(tmp_path, name, arrays, msg):
    _npz(tmp_path / name, arrays)
    with pytest.raises(kio.KernelFileError, match=msg):
        kio.load(tmp_path / name)


def _npy_header(shape, descr="<f8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def test_npy_header_declaring_10_9_x_3_x_3_is_refused_from_the_header(tmp_path):
    p = tmp_path / "bomb.npy"
    p.write_bytes(_npy_header((10 ** 9, 3, 3)))
    assert p.stat().st_size < 200
    with pytest.raises(kio.KernelFileError, match=r"bomb.npy: the declared shape \(1000000000, 3, 3\) takes 67.1 GB, "
                                                  r"over the limit of 512.0 MB; nothing was allocated"):
        kio.load(p)


def test_npz_member_declaring_2_gib_is_refused_from_the_zip_directory(tmp_path):
    w = np.zeros((2, 1, 3, 3), np.float32)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("weights.npy", kio._npy_bytes(w))
    raw = bytearray(buf.getvalue())
    cd = raw.rfind(b"PK\x01\x02")  # the central directory entry: uncompressed size at offset 24
    raw[cd + 24:cd + 28] = struct.pack("<I", 2 ** 31)
    (tmp_path / "big.npz").write_bytes(bytes(raw))
    with pytest.raises(kio.KernelFileError, match=r"big.npz: the member 'weights.npy' declares 2,147,483,648 bytes, "
                                                  r"over the limit of 536,870,912 bytes; nothing was read"):
        kio.load(tmp_path / "big.npz")
    # a member whose .npy header declares a huge array, inside an honest zip
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("weights.npy", _npy_header((10 ** 6, 64, 15, 15), "<f4"))
    (tmp_path / "hdr.npz").write_bytes(buf.getvalue())
    with pytest.raises(kio.KernelFileError, match=r"hdr.npz \(weights.npy\): the declared shape"):
        kio.load(tmp_path / "hdr.npz")


def test_limits_off_lets_a_declared_size_through_to_the_real_checks(tmp_path, monkeypatch):
    p = tmp_path / "bomb.npy"
    p.write_bytes(_npy_header((10 ** 9, 3, 3)))
    monkeypatch.setenv(limits.LIMITS_ENV, "off")
    with pytest.raises(kio.KernelFileError, match=r"bomb.npy: truncated .npy: the header declares 72,000,000,000 "
                                                  r"bytes of data, the file holds 0"):
        kio.load(p)  # and nothing of 67 GB was allocated


@pytest.mark.parametrize("args, msg", [
    (["--seed", "-1"], "seed must be 0 or more"),
    (["-p", "std=abc"], "gaussian: std must be a number (got 'abc')"),
    (["-p", "std=[1]"], "gaussian: std must be a number (got [1])"),
    (["-p", "std=1e999"], "gaussian: std must be a finite number"),
    (["-p", "std=1000"], "gaussian: std must be in 1e-06..100 (got 1000.0)"),
    (["--kind", "gabor", "-p", "orientations=abc"], "gabor: orientations must be an integer (got 'abc')"),
    (["--kind", "gabor", "-p", "orientations=2.5"], "gabor: orientations must be an integer (got 2.5)"),
    (["--kind", "gabor", "-p", "orientations=true"], "gabor: orientations must be an integer (got True)"),
])
def test_kernels_generate_bad_arguments_are_messages(tmp_path, capsys, args, msg):
    kind = [] if "--kind" in args else ["--kind", "gaussian"]
    argv = ["kernels", "generate", *kind, "--count", "4", "--size", "3", "--out", str(tmp_path / "b.json"), *args]
    try:
        code = run(argv)
    except SystemExit as exc:  # a seed is refused by argparse itself (app.cliargs.seed_value), exit 2 as well
        code = exc.code
    assert code == 2
    assert msg in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


def test_generator_parameters_are_coerced_to_their_declared_type():
    b = generate("gabor", 8, 5, 1, orientations=4.0)  # an integral float is an integer
    assert b.meta["params"]["orientations"] == 4 and isinstance(b.meta["params"]["orientations"], int)
    assert generate("gaussian", 2, 3, 1, std=1).meta["params"]["std"] == 1.0
    with pytest.raises(KernelBankError, match="patches: dataset must be text"):
        generate("patches", 2, 3, 1, dataset=5)


def test_load_image_refuses_a_pixel_bomb_from_its_header(tmp_path):
    import zlib

    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    png = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
           + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)))
    (tmp_path / "bomb.png").write_bytes(png)
    with pytest.raises(ops.ImageLoadError, match=r"bomb.png: 20000x20000 = 400,000,000 pixels is over the image "
                                                 r"limit"):
        ops.load_image(tmp_path / "bomb.png")


def test_zero_mean_display_centres_each_response_on_its_median():
    rng = np.random.default_rng(0)
    resp = (5.0 + 0.01 * rng.standard_normal((2, 32, 32))).astype(np.float32)  # a large mean, small detail
    zero, _ = ops.response_mosaic(resp, cols=2, gap=0)
    median, lay = ops.response_mosaic(resp, cols=2, gap=0, centre="median")
    lut = ops.colormaps.lut("coolwarm")
    index = {tuple(int(v) for v in c): i for i, c in enumerate(lut)}

    def below_centre(rgb):  # the fraction of pixels on the blue side (colour-map index below 128)
        return np.mean([index[tuple(int(v) for v in px)] < 128 for px in rgb.reshape(-1, 3)])

    # around zero: every pixel is on the red side; around the median: about half on each side of white
    assert below_centre(zero) == 0.0
    assert 0.4 < below_centre(median) < 0.6
    with pytest.raises(ValueError, match="unknown centre"):
        ops.response_mosaic(resp, centre="mean")
    bank = generate("kaiming-normal", 4, 3, 3)
    v = ops.compute_views(bank, ops.sample_image("china"), 64, centre="median")
    assert v.centre == "median" and v.responses.shape[:2] == (v.responses_layout.height, v.responses_layout.width)
