"""The kernels audit (F1-F10): a checkpoint's banks kept by ``train --weights``, the generators' channels, sigmas,
scales and sizes, ``.npz`` metadata, ``--bank`` files (``in_weights``, ``~``, checked before the data loads) and
``kernels show`` / ``kernels kinds``. Tiny banks; the training runs are digits, 200 images, one epoch."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from app.kernels import KernelBank, KernelBankError, KernelFileError, generate, io
from app.kernels import generators
from tests.cli_inprocess import run_cli

ROOT = Path(__file__).resolve().parent.parent
BASE = ("--dataset", "digits", "--train-limit", "200", "--test-limit", "50", "--epochs", "1", "--batch-size", "32")
MODEL = ("--backbone", "simple", "--options", "widths=4,8")  # conv1 (4, 3, 3, 3), conv2 (8, 4, 3, 3)


def _train(home: Path, *args: str):
    res = run_cli("train", *args, home=home)
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    return res


def _counts(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if "trainable /" in line).split(";", 1)[1]


def _weights(stem: Path) -> dict:
    from safetensors.torch import load_file

    return {k: v.numpy() for k, v in load_file(str(stem.with_suffix(".safetensors"))).items()}


@pytest.fixture(scope="module")
def ck1(tmp_path_factory):
    """A checkpoint trained with banks on both convs: conv1 kernels 0 and 2 frozen, conv2 kernel 1 frozen."""
    d = tmp_path_factory.mktemp("ck")
    b1 = generate("dct", 4, 3, 3, name="dct4").with_frozen([0, 2], True)
    b2 = generate("kaiming-normal", 8, 3, 4, seed=2, name="kn8").with_frozen(1, True)
    io.save(b1, d / "b1.json")
    io.save(b2, d / "b2.json")
    res = _train(d / "home", *MODEL, *BASE, "--bank", f"conv1={d / 'b1.json'}", "--bank", f"conv2={d / 'b2.json'}",
                 "--out", str(d / "ck1"))
    assert res.returncode == 0, res.stderr
    return SimpleNamespace(dir=d, stem=d / "ck1", b1=b1, b2=b2, counts=_counts(res.stdout))


# --- F1: train --weights keeps the checkpoint's banks ------------------------------------------------------------
def test_train_weights_keeps_the_checkpoints_frozen_kernels_frozen(ck1):
    """``train --weights CKPT`` dropped the sidecar's banks: "0 frozen parameters", the frozen kernels trained and the
    new sidecar had "banks": [] (the freezing gone for good)."""
    out = ck1.dir / "ck3"
    res = _train(ck1.dir / "home", "--weights", str(ck1.stem.with_suffix(".safetensors")), *BASE, "--lr", "0.5",
                 "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert _counts(res.stdout) == ck1.counts and " 0 frozen" not in ck1.counts
    w = _weights(out)
    for key, bank in (("blocks.0.conv.weight", ck1.b1), ("blocks.1.conv.weight", ck1.b2)):
        for i in np.flatnonzero(bank.frozen):
            assert (w[key][i] == bank.weights[i]).all(), (key, i)  # bit for bit
    banks = json.loads(out.with_suffix(".json").read_text())["architecture"]["banks"]
    assert [(b["layer"], b["frozen"]) for b in banks] == [("conv1", [True, False, True, False]),
                                                         ("conv2", [False, True] + [False] * 6)]


def test_a_bank_given_with_weights_replaces_that_layers_bank_only(ck1):
    """A ``--bank`` replaces the checkpoint's bank of its layer (by any name of that conv), and no other."""
    from app.models.cli import with_banks
    from app.models.spec_args import spec_from_args

    new = generate("kaiming-uniform", 4, 3, 3, seed=9, name="new").with_frozen(3, True)
    io.save(new, ck1.dir / "new.json")
    weights = str(ck1.stem.with_suffix(".safetensors"))
    for layer in ("conv1", "blocks.0"):  # the same conv by its conv_layers() name and by its block
        items = [f"{layer}={ck1.dir / 'new.json'}"]
        spec = with_banks(spec_from_args(SimpleNamespace(weights=weights, backbone=None, options=None, bank=items)),
                          items)
        assert [(lay, b.name) for lay, b in spec.banks] == [("conv2", "kn8"), (layer, "new")]
    spec = spec_from_args(SimpleNamespace(weights=weights, backbone="simple", options=None, bank=None))
    assert [lay for lay, _ in spec.banks] == ["conv1", "conv2"]  # --backbone named too: still the sidecar's banks


# --- F7: a bank file's in_weights flag is dropped --------------------------------------------------------------
def test_a_bank_file_with_an_in_weights_flag_goes_in_after_the_weights(ck1):
    """A sidecar bank saved to a file kept ``"in_weights": true``: ``--bank`` then went in before ``--weights``, and
    the checkpoint's values overwrote it."""
    from app.kernels.bank import IN_WEIGHTS
    from app.models import build as build_mod
    from app.models.cli import with_banks
    from app.models.spec_args import spec_from_args

    assert IN_WEIGHTS == build_mod.IN_WEIGHTS
    bank = KernelBank(generate("dct", 4, 3, 3).weights[::-1], [True, True, False, False], "iw",
                      {"generator": "dct", IN_WEIGHTS: True})
    for ext in (".json", ".npz"):
        io.save(bank, ck1.dir / f"iw{ext}")
        assert IN_WEIGHTS not in io.load(ck1.dir / f"iw{ext}").meta
    items = [f"conv1={ck1.dir / 'iw.json'}"]
    weights = str(ck1.stem.with_suffix(".safetensors"))
    spec = with_banks(spec_from_args(SimpleNamespace(weights=weights, backbone=None, options=None, bank=items)), items)
    model = build_mod.build(spec, "cpu")
    assert np.array_equal(model.blocks[0].conv.weight.detach().numpy(), bank.weights)


# --- F10: a bad --bank is refused before the dataset loads -----------------------------------------------------
def test_a_bank_that_does_not_fit_is_refused_before_the_dataset_loads(tmp_path, ck1):
    io.save(generate("dct", 4, 3, 1), tmp_path / "grey.json")  # 1 channel: conv1 takes 3
    res = _train(tmp_path / "home", *MODEL, *BASE, "--bank", f"conv1={tmp_path / 'grey.json'}", "--out",
                 str(tmp_path / "x"))
    assert res.returncode == 2 and "loading" not in res.stderr, res.stderr
    assert f"--bank conv1={tmp_path / 'grey.json'}: bank" in res.stderr and "needs (4, 3, 3, 3)" in res.stderr
    res = _train(tmp_path / "home", *MODEL, *BASE, "--bank", f"nope={tmp_path / 'grey.json'}", "--out",
                 str(tmp_path / "x"))
    assert res.returncode == 2 and "loading" not in res.stderr and "no conv layer 'nope'" in res.stderr
    res = run_cli("probe", "--weights", str(ck1.stem.with_suffix(".safetensors")), "--dataset", "digits",
                  "--train-limit", "50", "--test-limit", "20", "--bank", f"conv1={tmp_path / 'grey.json'}",
                  home=tmp_path / "home")  # the weights fix the architecture (a random one takes the data's channels)
    assert res.returncode == 2 and "loading" not in res.stderr and "needs (4, 3, 3, 3)" in res.stderr, res.stderr


# --- F8: probe --bank expands ~ --------------------------------------------------------------------------------
def test_probe_bank_expands_the_home_folder(tmp_path, monkeypatch):
    from app.probe.cli import parse_banks

    monkeypatch.setenv("HOME", str(tmp_path))
    io.save(generate("dct", 4, 3, 3), tmp_path / "b.json")
    ((layer, bank),) = parse_banks(["conv1=~/b.json"])
    assert layer == "conv1" and bank.shape == (4, 3, 3, 3)


# --- F2, F5: patches ---------------------------------------------------------------------------------------------
def _fake_rgb(monkeypatch, images: np.ndarray) -> None:
    import app.data

    monkeypatch.setattr(app.data, "load", lambda name, split: SimpleNamespace(images=images))


def test_patches_keep_each_patchs_own_channels(monkeypatch):
    """np.resize refilled kernel i's channels from patches i, i + 1 ...: ch1 = 255 - ch0 held for 2 of 4 kernels."""
    rng = np.random.default_rng(0)
    ch0 = rng.integers(0, 256, (20, 12, 12), dtype=np.uint8)
    ch2 = rng.integers(0, 256, (20, 12, 12), dtype=np.uint8)
    _fake_rgb(monkeypatch, np.stack([ch0, 255 - ch0, ch2], -1))
    two = generate("patches", 6, 3, 2, whiten=0).weights  # its first 2 channels: (a - m, m - a) after centring
    np.testing.assert_allclose(two[:, 1], -two[:, 0], atol=1e-6)
    four = generate("patches", 6, 3, 4, whiten=0).weights  # its 3 channels, tiled: channel 3 is channel 0
    assert np.array_equal(four[:, 3], four[:, 0])
    total = (four[:, 0] + four[:, 1]).reshape(6, -1)  # 255 before the per-patch affine normalisation
    np.testing.assert_allclose(total.max(1) - total.min(1), 0, atol=1e-5)


def test_patches_contrast_normalisation_uses_coates_and_ngs_epsilon(monkeypatch):
    """sqrt(var + 10) on 0..255 pixels is sqrt(var + 10 / 255^2) on [0, 1] ones (it was 10 / 255)."""
    assert generators.CN_EPS == pytest.approx(10 / 255 ** 2)
    img = np.zeros((4, 8, 8, 3), np.uint8)
    img[..., 1] = 255  # every 3x3 patch: 9 zeros, 9 ones, 9 zeros
    _fake_rgb(monkeypatch, img)
    w = generate("patches", 2, 3, 3, whiten=0).weights.astype(np.float64)
    x = np.concatenate([np.zeros(9), np.ones(9), np.zeros(9)])
    want = (x - x.mean()) / np.sqrt(x.var() + 10 / 255 ** 2)
    np.testing.assert_allclose(w[0].ravel(), want, rtol=1e-6)
    assert "10 / 255^2" in generators._patches.__doc__ and "NORM_EPS" in generators._patches.__doc__


# --- F3: LoG / DoG sigmas ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["log", "dog"])
def test_log_and_dog_refuse_sigmas_the_size_cannot_hold(kind):
    with pytest.raises(KernelBankError, match=r"sigma_min 0.8 is above size / 4 = 0.75, the largest sigma a 3x3"):
        generate(kind, 8, 3)  # were 8 identical kernels at sigma 0.75
    with pytest.raises(KernelBankError, match=r"sigma_max 5 is above size / 4 = 2.25"):
        generate(kind, 3, 9, sigma_min=1.0, sigma_max=5.0)  # went up to 2.25 only, meta saying 5
    with pytest.raises(KernelBankError, match=r"sigma_min 4 is above size / 4 = 2.25"):
        generate(kind, 3, 9, sigma_min=4.0)
    with pytest.raises(KernelBankError, match="makes 3 identical kernels"):
        generate(kind, 3, 9, sigma_min=2.25)
    with pytest.raises(KernelBankError, match="sigma_max 1 is below sigma_min 2"):
        generate(kind, 3, 9, sigma_min=2.0, sigma_max=1.0)
    for k in (1, 2):
        with pytest.raises(KernelBankError, match=f"a {k}x{k} kernel is all zero"):
            generate(kind, 1, k, sigma_min=0.3)
    b = generate(kind, 3, 9, sigma_min=1.0)
    assert b.meta["used"] == {"sigmas": [1.0, 1.5, 2.25]}
    assert generate(kind, 1, 3, sigma_min=0.75).meta["used"] == {"sigmas": [0.75]}


# --- F4: Gabor scales and orientations -------------------------------------------------------------------------
def _distinct(w: np.ndarray) -> int:
    return np.unique(np.round(w.reshape(w.shape[0], -1), 6), axis=0).shape[0]


def test_gabor_scales_differ_at_small_sizes_and_sizes_below_3_are_refused():
    for k in (3, 4):
        b = generate("gabor", 8, k)  # 4 orientations x 2 scales: the scales were both 4 px
        assert _distinct(b.weights) == 8
        assert b.meta["used"]["wavelengths"] == [2.5, 4.0]
    assert generate("gabor", 8, 11).meta["used"]["wavelengths"] == [4.0, 11.0]  # unchanged from size 5 up
    for k in (1, 2):
        with pytest.raises(KernelBankError, match="use size 3 or more"):
            generate("gabor", 4, k)


def test_gabor_orientations_given_are_not_cut_by_the_count():
    with pytest.raises(KernelBankError, match=r"orientations=8 x scales=2 x phases=1 make 16 kernels but the count "
                                              r"is 4"):
        generate("gabor", 4, 7, orientations=8)
    with pytest.raises(KernelBankError, match="make 16 kernels but the count is 8"):
        generate("gabor", 8, 7, orientations=8, scales=2)
    assert generate("gabor", 16, 7, orientations=8).shape[0] == 16
    b = generate("gabor", 5, 7)  # orientations 0: 3 x 2 scales, the last one cut to 2
    assert b.meta["used"]["orientations"] == 3 and "the first 5 of 6" in b.meta["used"]["kept"]
    assert ("used:    orientations 3; wavelengths 4, 7; sigmas 2.24, 3.92; phases 1; kept the first 5 of 6"
            in io.describe(b))


def test_kinds_that_are_not_random_refuse_zero_or_repeated_kernels(monkeypatch):
    same = generators.Kind("same", "Same", "", lambda rng, n, c, k: np.ones((n, c, k, k)), structured=True,
                           random=False)
    monkeypatch.setitem(generators.KINDS, "same", same)
    with pytest.raises(KernelBankError, match="same: only 1 of the 3 kernels differ at size 3"):
        generate("same", 3, 3)
    spec = generators.KINDS["dct"]
    with pytest.raises(KernelBankError, match="only 1 of the 2 kernels differ"):
        generators._check_distinct(spec, np.ones((2, 1, 3, 3)))
    with pytest.raises(KernelBankError, match="kernel 1 is all zero"):
        generators._check_distinct(spec, np.stack([np.ones((1, 3, 3)), np.zeros((1, 3, 3))]))


# --- F6: .npz metadata ---------------------------------------------------------------------------------------------
def test_npz_refuses_nan_meta_and_numpy_scalars_are_written_as_numbers(tmp_path):
    nan = KernelBank(np.ones((2, 1, 3, 3)), None, "m", {"x": float("nan")})
    for ext in (".json", ".npz"):
        with pytest.raises(KernelFileError, match="cannot be written as JSON"):
            io.save(nan, tmp_path / f"nan{ext}")
        assert not (tmp_path / f"nan{ext}").exists()
    np_meta = KernelBank(np.ones((2, 1, 3, 3)), None, "m", {"x": np.float32(1.5), "n": [np.int64(3)],
                                                            "a": np.arange(2)})
    for ext in (".json", ".npz"):
        assert io.load(io.save(np_meta, tmp_path / f"np{ext}")).meta == {"x": 1.5, "n": [3], "a": [0, 1]}
    odd = KernelBank(np.ones((2, 1, 3, 3)), None, "m", {"x": object()})
    with pytest.raises(KernelFileError, match="cannot be written as JSON"):
        io.save(odd, tmp_path / "odd.npz")


# --- F9: classic sizes, descriptions ---------------------------------------------------------------------------
def test_classic_presets_need_size_3_and_descriptions_say_what_is_not_orthonormal(tmp_path):
    for k in (1, 2):
        with pytest.raises(KernelBankError, match=f"3x3 stencils .* a {k}x{k} kernel would crop them"):
            generate("classic", 2, k)
        assert generators.available("classic", k) == 0
    assert generators.available("classic", 3) == len(generators.CLASSIC)
    for kind in ("walsh-hadamard", "haar"):
        assert "resampled: not orthonormal" in generators.KINDS[kind].description
    res = run_cli("kernels", "kinds", home=tmp_path)
    assert res.returncode == 0 and "scaled 1/c" in res.stdout and "norm 1/sqrt(c)" in res.stdout
    assert "scaled 1/c" in (ROOT / "README.md").read_text()


# --- F10: kernels show ---------------------------------------------------------------------------------------------
def test_show_prints_a_seed_only_for_kinds_that_use_one():
    dct = io.describe(generate("dct", 4, 3, seed=5))
    assert "made by: dct, seed" not in dct and "seed" not in dct
    gauss = io.describe(generate("gaussian", 2, 3, seed=5, zero_mean=True))
    assert "made by: gaussian (std=0.1), seed 5, zero mean" in gauss
