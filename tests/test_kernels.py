"""Kernel banks (core, no Qt): generators, freezing during training, file formats, editing maths, commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from app.kernels import (KINDS, KernelBank, KernelBankError, KernelFileError, apply_bank_to_conv, generate,
                         install_frozen_guard)
from app.kernels import io, ops
from app.kernels.edit import History
from app.kernels.generators import CLASSIC, available, postprocess

ROOT = Path(__file__).resolve().parent.parent


# --- generators ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_generates_finite_banks_reproducibly(kind):
    a = generate(kind, 6, 5, in_channels=3, seed=3)
    b = generate(kind, 6, 5, in_channels=3, seed=3)
    assert a.shape == (6, 3, 5, 5)
    assert a.weights.dtype == np.float32 and np.all(np.isfinite(a.weights))
    assert a.weights.tobytes() == b.weights.tobytes()
    assert np.abs(a.weights).max() > 0
    assert a.meta["generator"] == kind and a.meta["seed"] == 3
    if KINDS[kind].random:
        c = generate(kind, 6, 5, in_channels=3, seed=4)
        assert not np.array_equal(a.weights, c.weights)


def test_post_processing_zero_mean_and_unit_norm():
    b = generate("kaiming-normal", 10, 3, 2, seed=1, zero_mean=True, unit_norm=True)
    flat = b.weights.reshape(10, -1).astype(np.float64)
    np.testing.assert_allclose(flat.mean(1), 0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(flat, axis=1), 1, atol=1e-5)
    # an all-zero kernel stays zero instead of turning into NaN
    z = postprocess(np.zeros((1, 1, 3, 3)), zero_mean=True, unit_norm=True)
    assert np.all(z == 0)


def test_kaiming_and_gaussian_scales():
    b = generate("kaiming-normal", 256, 5, 4, seed=0)
    assert b.weights.std() == pytest.approx(np.sqrt(2 / (4 * 25)), rel=0.05)
    g = generate("gaussian", 256, 5, 1, seed=0, std=0.3)
    assert g.weights.std() == pytest.approx(0.3, rel=0.05)
    r = generate("rademacher", 4, 3, 1, seed=0)
    assert set(np.unique(np.round(r.weights * 3, 5))) == {-1.0, 1.0}
    s = generate("sparse-ternary", 64, 5, 1, seed=0, density=0.2)
    assert np.mean(s.weights != 0) == pytest.approx(0.2, abs=0.03)


def test_orthogonal_rows_are_orthonormal():
    b = generate("orthogonal", 8, 3, 2, seed=0)
    m = b.weights.reshape(8, -1).astype(np.float64)
    np.testing.assert_allclose(m @ m.T, np.eye(8), atol=1e-5)


def test_dct_and_walsh_are_orthogonal_bases():
    d = generate("dct", 16, 4, 1)
    m = d.weights.reshape(16, -1).astype(np.float64)
    np.testing.assert_allclose(m @ m.T, np.eye(16), atol=1e-5)
    assert np.allclose(m[0], m[0][0])  # DC first
    w = generate("walsh-hadamard", 16, 4, 1)
    m = w.weights.reshape(16, -1).astype(np.float64)
    np.testing.assert_allclose(np.abs(m), 0.25)
    np.testing.assert_allclose(m @ m.T, np.eye(16), atol=1e-6)
    assert available("dct", 4) == 16
    with pytest.raises(KernelBankError, match="has only 16 kernels"):
        generate("dct", 17, 4)


def test_gabor_bank_orientations_and_classics():
    g = generate("gabor", 8, 11, 1, orientations=4, scales=1, phases=2)
    assert g.shape == (8, 1, 11, 11)
    # orientation 0 (vertical stripes): symmetric under a left-right mirror for the even phase
    np.testing.assert_allclose(g.weights[0, 0], g.weights[0, 0][:, ::-1], atol=1e-6)
    c = generate("classic", len(CLASSIC), 3, 1)
    names = list(CLASSIC)
    np.testing.assert_array_equal(c.weights[names.index("sobel x"), 0], [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_array_equal(c.weights[names.index("identity"), 0], [[0, 0, 0], [0, 1, 0], [0, 0, 0]])
    lg = generate("log", 3, 9, 1)
    np.testing.assert_allclose(lg.weights.reshape(3, -1).sum(1), 0, atol=1e-5)


def test_patches_from_digits_and_errors():
    b = generate("patches", 12, 5, 1, seed=0, dataset="digits", whiten=0)
    assert b.shape == (12, 1, 5, 5)
    with pytest.raises(KernelBankError, match="larger than the digits images"):
        generate("patches", 4, 9, 1, dataset="digits")
    with pytest.raises(KernelBankError, match="cannot load dataset"):
        generate("patches", 4, 3, 1, dataset="no-such-set")


def test_generate_rejects_bad_arguments():
    with pytest.raises(KernelBankError, match="unknown kind"):
        generate("nope", 4, 3)
    with pytest.raises(KernelBankError, match="kernel size"):
        generate("gaussian", 4, 16)
    with pytest.raises(KernelBankError, match="no parameter"):
        generate("gaussian", 4, 3, sigma=2)
    with pytest.raises(KernelBankError, match="std must be"):
        generate("gaussian", 4, 3, std=-1)


# --- the bank ----------------------------------------------------------------------------------------------
def test_bank_validation_freezing_and_counts():
    with pytest.raises(KernelBankError, match="NaN"):
        KernelBank(np.full((2, 1, 3, 3), np.nan), None)
    with pytest.raises(KernelBankError, match="square"):
        KernelBank(np.zeros((2, 1, 3, 4)), None)
    b = generate("gaussian", 4, 3, 2, seed=0)
    assert b.parameter_counts() == (0, 72)
    f = b.with_frozen(1, True).with_frozen([2, 3], True)
    assert f.frozen_mask().tolist() == [False, True, True, True]
    assert f.parameter_counts() == (54, 18)
    assert "3 of 4 kernels frozen: 54 frozen / 18 trainable parameters" == f.counts_text()
    assert not b.frozen.any()  # immutable: the original is unchanged
    with pytest.raises(ValueError):
        b.weights[0, 0, 0, 0] = 1.0


def _train(conv, bank, guard: bool, steps: int = 5):
    torch.manual_seed(0)
    apply_bank_to_conv(conv, bank)
    opt = torch.optim.SGD(conv.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    if guard:
        install_frozen_guard(opt, conv)
    x = torch.randn(4, bank.in_channels, 12, 12)
    for _ in range(steps):
        opt.zero_grad()
        loss = conv(x).pow(2).mean() + conv(x).mean()
        loss.backward()
        opt.step()
    return conv.weight.detach().numpy().copy()


def test_frozen_kernels_stay_bit_identical_under_sgd_momentum_weight_decay():
    bank = generate("kaiming-normal", 6, 3, 2, seed=1).with_frozen([0, 3, 4], True)
    mask = bank.frozen_mask()
    conv = torch.nn.Conv2d(2, 6, 3, padding=1)
    after = _train(conv, bank, guard=True)
    assert after[mask].tobytes() == bank.weights[mask].tobytes()
    assert not np.allclose(after[~mask], bank.weights[~mask])  # the trainable ones did learn
    assert conv.weight.grad[torch.from_numpy(mask)].abs().max() == 0  # grads of frozen rows are zeroed
    # without the guard, weight decay alone moves frozen kernels: the guard is what keeps them
    loose = _train(torch.nn.Conv2d(2, 6, 3, padding=1), bank, guard=False)
    assert not np.array_equal(loose[mask], bank.weights[mask])
    # the frozen reference stays out of state_dict (loads into a plain conv)
    torch.nn.Conv2d(2, 6, 3, padding=1).load_state_dict(conv.state_dict())
    with pytest.raises(KernelBankError, match="does not fit"):
        apply_bank_to_conv(torch.nn.Conv2d(3, 6, 3), bank)


# --- files -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", [".json", ".npz", ".npy"])
def test_save_load_round_trip_is_exact(tmp_path, ext):
    bank = generate("kaiming-uniform", 5, 3, 3, seed=7).with_frozen([1, 4], True)
    p = io.save(bank, tmp_path / f"b{ext}")
    back = io.load(p)
    assert back.shape == bank.shape
    assert back.weights.tobytes() == bank.weights.tobytes()
    if ext != ".npy":
        assert back.equals(bank) and back.name == bank.name and back.meta["seed"] == 7
    # deterministic bytes, no temporary files left behind
    p2 = io.save(bank, tmp_path / f"c{ext}")
    assert p.read_bytes() == p2.read_bytes()
    assert sorted(x.name for x in tmp_path.iterdir()) == sorted([f"b{ext}", f"c{ext}"])


def test_json_is_readable_and_versioned(tmp_path):
    bank = generate("classic", 2, 3, 1)
    doc = json.loads(io.save(bank, tmp_path / "b.json").read_text())
    assert doc["format"] == "filter-explorer-bank" and doc["version"] == 1
    assert doc["shape"] == [2, 1, 3, 3] and doc["frozen"] == [False, False]
    assert doc["kernels"][0][0][1][1] == 1.0 and doc["meta"]["generator"] == "classic"


def _json(tmp_path, **change):
    doc = json.loads(io.to_json_bytes(generate("classic", 2, 3, 1)))
    doc.update(change)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(doc))
    return p


def test_bad_files_are_refused_with_a_clear_message(tmp_path):
    good = io.save(generate("classic", 2, 3, 1), tmp_path / "good.json").read_bytes()
    cases = {
        "truncated JSON": good[: len(good) // 2],
        "malformed JSON": b"{\"format\": 'x'}",
        "empty": b"",
    }
    for expected, raw in cases.items():
        p = tmp_path / "bad.json"
        p.write_bytes(raw)
        with pytest.raises(KernelFileError, match=expected.split()[0]):
            io.load(p)
    with pytest.raises(KernelFileError, match="not a Filter Explorer bank"):
        io.load(_json(tmp_path, format="something-else"))
    with pytest.raises(KernelFileError, match="newer Filter Explorer"):
        io.load(_json(tmp_path, version=99))
    with pytest.raises(KernelFileError, match=r"has shape \(2, 1, 3, 3\) but \"shape\" says \(2, 1, 5, 5\)"):
        io.load(_json(tmp_path, shape=[2, 1, 5, 5]))
    with pytest.raises(KernelFileError, match="ragged or non-numeric"):
        io.load(_json(tmp_path, kernels=[[[[1, 2], [3]]]], shape=[1, 1, 2, 2]))
    with pytest.raises(KernelFileError, match="frozen"):
        io.load(_json(tmp_path, frozen=[True]))
    p = tmp_path / "nan.json"
    p.write_text(_json(tmp_path).read_text().replace("1.0", "NaN", 1))
    with pytest.raises(KernelFileError, match="NaN"):
        io.load(p)
    np.save(tmp_path / "inf.npy", np.array([[[[np.inf]]]], dtype=np.float32))
    with pytest.raises(KernelFileError, match="NaN/Inf"):
        io.load(tmp_path / "inf.npy")
    np.save(tmp_path / "rect.npy", np.zeros((2, 3, 4), dtype=np.float32))
    with pytest.raises(KernelFileError, match="square"):
        io.load(tmp_path / "rect.npy")
    np.save(tmp_path / "vec.npy", np.zeros(5, dtype=np.float32))
    with pytest.raises(KernelFileError, match="4-D"):
        io.load(tmp_path / "vec.npy")
    raw = io.to_npz_bytes(generate("classic", 2, 3, 1))
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(KernelFileError, match="truncated or corrupt"):
        io.load(tmp_path / "cut.npz")
    with pytest.raises(KernelFileError, match="no such file"):
        io.load(tmp_path / "missing.json")
    with pytest.raises(KernelFileError, match="unknown bank file type"):
        io.load(tmp_path / "x.txt")


def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    p = io.save(generate("classic", 2, 3, 1), tmp_path / "b.json")
    before = p.read_bytes()

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KernelFileError, match="No space left"):
        io.save(generate("gaussian", 3, 3, 1), p)
    assert p.read_bytes() == before
    assert [x.name for x in tmp_path.iterdir()] == ["b.json"]  # the temporary file was removed
    with pytest.raises(KernelFileError, match="does not exist"):
        io.save(generate("classic", 2, 3, 1), tmp_path / "no" / "b.json")


# --- editing maths, responses, mosaics ----------------------------------------------------------------------
def test_symmetry_and_zero_sum_painting():
    k = np.zeros((5, 5), np.float32)
    out = ops.paint(k, [(0, 1)], 2.0, "mirror x")
    assert out[0, 1] == 2 and out[0, 3] == 2 and out.sum() == 4
    out = ops.paint(k, [(0, 1)], 1.0, "rotational 90")
    assert sorted(zip(*np.nonzero(out))) == [(0, 1), (1, 4), (3, 0), (4, 3)]
    out = ops.paint(k, [(1, 1)], 3.0, "mirror x+y", zero_sum_constraint=True)
    assert abs(float(out.sum())) < 1e-5 and out[1, 1] == 3 and out[3, 3] == 3
    np.testing.assert_allclose(out, out[:, ::-1])
    np.testing.assert_allclose(out, out[::-1, :])
    s = ops.symmetrize(np.arange(25, dtype=np.float32).reshape(5, 5), "rotational 180")
    np.testing.assert_allclose(s, np.rot90(s, 2))
    assert ops.zero_sum(np.ones((3, 3))).sum() == pytest.approx(0, abs=1e-6)
    assert ops.fit_kernel(np.ones((1, 3, 3)), 3, 5).shape == (3, 5, 5)
    with pytest.raises(ValueError, match="cannot paste"):
        ops.fit_kernel(np.ones((2, 3, 3)), 3, 3)


def test_responses_fft_and_mosaics():
    img = ops.preview(ops.sample_image("china"), 64)
    assert max(img.shape[:2]) == 64 and img.dtype == np.uint8
    ident = generate("classic", 1, 3, 1)  # identity first
    r = ops.responses(ident.weights, img)
    np.testing.assert_allclose(r[0], ops.image_for_bank(img, 1)[0], atol=1e-6)
    # zero padding gives exactly what an nn.Conv2d with this bank computes
    g = generate("gabor", 4, 5, 3)
    conv = torch.nn.Conv2d(3, 4, 5, padding=2, bias=False)
    apply_bank_to_conv(conv, g)
    with torch.no_grad():
        ref = conv(torch.from_numpy(ops.image_for_bank(img, 3))[None])[0].numpy()
    np.testing.assert_allclose(ops.responses(g.weights, img, padding="constant"), ref, atol=1e-5)
    flat = np.full((20, 20, 3), 200, np.uint8)  # replicate padding: a flat image gives a flat response
    rr = ops.responses(generate("gaussian", 2, 5, 3, seed=0).weights, flat)
    np.testing.assert_allclose(rr, rr[:, :1, :1] * np.ones_like(rr), rtol=1e-5)
    f = ops.fft_magnitude(generate("classic", 2, 3, 1).weights)  # identity: flat spectrum; box: low-pass
    np.testing.assert_allclose(f[0], 1.0, atol=1e-6)
    assert f[1][16, 16] == pytest.approx(1.0) and f[1].min() < 0.2
    bank = generate("gabor", 10, 7, 3).with_frozen(2, True)
    rgb, lay = ops.bank_mosaic(bank, selected=1)
    assert rgb.dtype == np.uint8 and rgb.flags.c_contiguous and rgb.shape == (lay.height, lay.width, 3)
    for i in range(10):
        y, x = lay.origin(i)
        assert lay.index_at(x + lay.tile_w / 2, y + lay.tile_h / 2) == i
    assert lay.index_at(0, 0) is None
    y, x = lay.origin(1)
    assert tuple(rgb[y, x]) == ops.SELECTED_RGB
    y, x = lay.origin(2)
    assert tuple(rgb[y + 4, x + 4]) == ops.FROZEN_RGB
    v = ops.compute_views(bank, ops.sample_image("flower"), 96)
    assert v.responses.dtype == np.uint8 and v.responses.shape == (v.responses_layout.height,
                                                                   v.responses_layout.width, 3)
    assert v.fft_layout.count == 10 and max(v.image.shape[:2]) == 96
    with pytest.raises(ops.ImageLoadError):
        ops.sample_image("nope")


def test_history_undo_redo_and_stroke_merging():
    a = generate("gaussian", 2, 3, 1, seed=0)
    h = History(a)
    b = a.with_frozen(0, True)
    h.push(b, "freeze")
    c1 = b.with_kernel(1, np.ones((1, 3, 3)))
    c2 = b.with_kernel(1, np.full((1, 3, 3), 2.0))
    h.push(c1, "paint", ("stroke", 1))
    h.push(c2, "paint", ("stroke", 1))  # same stroke: one undo step
    assert h.bank is c2
    assert h.undo() is b
    assert h.undo() is a and not h.can_undo()
    assert h.redo() is b and h.redo() is c2 and not h.can_redo()


# --- commands ----------------------------------------------------------------------------------------------
def test_generate_command_same_seed_same_bytes(tmp_path):
    outs = []
    for i in range(2):
        out = tmp_path / f"g{i}.json"
        r = subprocess.run([sys.executable, "main.py", "kernels", "generate", "--kind", "kaiming-normal", "--count",
                            "8", "--size", "5", "--in-channels", "3", "--seed", "42", "--zero-mean", "--unit-norm",
                            "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert io.load(tmp_path / "g0.json").shape == (8, 3, 5, 5)


def test_commands_in_process(tmp_path, capsys):
    from app.cli import run

    for ext in (".npz", ".npy"):
        a, b = tmp_path / f"a{ext}", tmp_path / f"b{ext}"
        for p in (a, b):
            assert run(["kernels", "generate", "--kind", "gabor", "--count", "6", "--size", "7", "--out", str(p),
                        "-p", "phases=2"]) == 0
        assert a.read_bytes() == b.read_bytes()
    assert run(["kernels", "kinds"]) == 0
    out = capsys.readouterr().out
    assert all(k in out for k in KINDS)
    io.save(generate("gaussian", 4, 3, 1).with_frozen(0, True), tmp_path / "s.json")
    assert run(["kernels", "show", str(tmp_path / "s.json")]) == 0
    out = capsys.readouterr().out
    assert "4 x 1 x 3 x 3" in out and "1 of 4 kernels" in out and "std" in out
    (tmp_path / "bad.json").write_text("{")
    assert run(["kernels", "show", str(tmp_path / "bad.json")]) == 2
    assert "bad.json" in capsys.readouterr().err
    assert run(["kernels", "generate", "--kind", "gabor", "--count", "4", "--size", "99", "--out",
                str(tmp_path / "x.json")]) == 2
    assert "kernel size" in capsys.readouterr().err


def test_history_keeps_memory_bounded():
    a = generate("gaussian", 64, 15, 3, seed=0)  # 172,800 bytes
    h = History(a, max_bytes=3 * a.weights.nbytes)
    for i in range(10):
        h.push(a.with_frozen(i, True), f"step {i}")
    n = 0
    while h.can_undo():
        h.undo()
        n += 1
    assert n == 3
