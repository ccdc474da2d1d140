"""Kernel Workbench numerics an audit found (session 32): the |FFT| view averaging each channel's magnitude (a kernel
whose channels cancel showed a full passband), paste breaking the 1/c channel rule, zero mean silently emptying a
fixed family's DC kernel, the zero-mean tooltip's "no response to flat areas", the editor's "sum of channel" with
the channel "all", even kernels' preview shifted against the models' layer, and the Gabor's sigma and odd phase."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from app.kernels import generate, generators, io, ops
from app.kernels.bank import KernelBankError


def _grey(img: np.ndarray) -> np.ndarray:
    """An RGB image whose three channels are the same grey."""
    g = np.round(img.astype(np.float64) @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=2)


IMG = np.random.default_rng(0).integers(0, 256, (24, 24, 3)).astype(np.uint8)


# --- 1: the |FFT| is the kernel summed over its input channels -------------------------------------------------
def test_fft_is_the_spectrum_of_the_kernel_summed_over_its_channels():
    cancel = np.zeros((1, 2, 5, 5), np.float32)
    cancel[0, 0, 2, 2], cancel[0, 1, 2, 2] = 1.0, -1.0  # +1 on channel 0, -1 on channel 1: no response at all
    assert np.abs(ops.responses(cancel, IMG)).max() == 0.0
    assert ops.fft_magnitude(cancel).max() == 0.0  # was 1.0 everywhere: a flat full passband

    b = generate("kaiming-normal", 4, 5, 2, seed=0, zero_mean=True)  # zero mean over all weights: no DC for grey
    f = ops.fft_magnitude(b.weights)
    ref = np.abs(np.fft.fftshift(np.fft.fft2(b.weights.astype(np.float64).sum(1), s=(32, 32)), axes=(-2, -1)))
    np.testing.assert_allclose(f, ref, rtol=1e-5, atol=1e-6)
    assert (f[:, 16, 16] / f.reshape(4, -1).max(1)).max() < 1e-6  # was 0.13..0.49 of each maximum

    # the responses view: a 3-channel bank on a grey image acts as its channel sum on the grey (what the FFT shows)
    b3 = generate("kaiming-normal", 3, 3, 3, seed=1)
    g = _grey(IMG)
    summed = b3.weights.sum(1, keepdims=True)
    np.testing.assert_allclose(ops.responses(b3.weights, g), ops.responses(summed, g), atol=1e-5)
    np.testing.assert_allclose(ops.fft_magnitude(b3.weights), ops.fft_magnitude(summed), atol=1e-6)


@pytest.mark.gui
def test_fft_label_and_tooltip_say_what_is_shown(qtbot):
    from widgets.application import make_app
    from widgets.kernels.response_panel import ResponsePanel

    make_app()
    p = ResponsePanel()
    qtbot.addWidget(p)
    what = "of each kernel summed over its input channels: its response to grey images"
    assert what in p.fft_label.text()
    assert what in p.fft_view.toolTip() and "R, G and B" in p.fft_view.toolTip()


# --- 2: paste keeps the 1/c rule ---------------------------------------------------------------------------------
def test_paste_between_channel_counts_keeps_the_one_over_c_rule():
    s1, s3 = generate("classic", 5, 3, 1).weights[4], generate("classic", 5, 3, 3).weights[4]  # sobel x
    np.testing.assert_array_equal(s1[0], [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    up = ops.fit_kernel(s1, 3, 3)
    np.testing.assert_allclose(up, s3, atol=1e-7)  # as the generator makes it: each channel 1/3 of the pattern
    np.testing.assert_allclose(up, np.repeat(s1, 3, axis=0) / 3, atol=1e-7)
    down = ops.fit_kernel(s3, 1, 3)
    np.testing.assert_allclose(down, s1, atol=1e-6)  # the sum of the channels (the mean was 1/3 of it)
    g = _grey(IMG)
    r1 = ops.responses(s1[None], g)
    np.testing.assert_allclose(ops.responses(up[None], g), r1, atol=1e-5)  # was 3x
    np.testing.assert_allclose(ops.responses(down[None], g), ops.responses(s3[None], g), atol=1e-5)  # was 1/3
    assert ops.fit_kernel(s1, 1, 5).shape == (1, 5, 5)  # the same count: unchanged, padded
    np.testing.assert_array_equal(ops.fit_kernel(s3, 3, 3), s3)


# --- 3: zero mean that empties a fixed family's kernel is refused --------------------------------------------------
@pytest.mark.parametrize("kind", ["dct", "walsh-hadamard", "haar"])
@pytest.mark.parametrize("unit_norm", [False, True])
def test_zero_mean_on_a_family_with_a_dc_kernel_is_refused(kind, unit_norm):
    with pytest.raises(KernelBankError, match=rf"zero mean removes the DC \(flat\) kernel \(kernel 0, every weight "
                                              rf"equal\) of {kind}: it would be all zero.*; untick zero mean$"):
        generate(kind, 4, 5, 3, zero_mean=True, unit_norm=unit_norm)
    b = generate(kind, 4, 5, 3, unit_norm=unit_norm)  # without zero mean: as before
    assert np.all(np.linalg.norm(b.weights.reshape(4, -1), axis=1) > 0.1)


def test_zero_mean_on_the_classic_box_blur_is_refused_and_says_which():
    with pytest.raises(KernelBankError, match=r"^zero mean removes the box blur kernel \(kernel 1, every weight "
                                              r"equal\) of classic: it would be all zero, which unit norm cannot "
                                              r"rescale; ask for 1 kernel, or untick zero mean$"):
        generate("classic", 4, 5, 3, zero_mean=True, unit_norm=True)
    one = generate("classic", 1, 5, 3, zero_mean=True, unit_norm=True)  # identity alone: zero mean leaves it
    assert abs(float(one.weights.sum())) < 1e-6 and float(np.linalg.norm(one.weights)) == pytest.approx(1.0)
    assert generate("gabor", 8, 7, 3, zero_mean=True, unit_norm=True).shape == (8, 3, 7, 7)  # nothing to remove
    assert generate("kaiming-normal", 4, 5, 3, zero_mean=True, unit_norm=True).meta["zero_mean"] is True


def test_post_processing_that_makes_fixed_kernels_the_same_is_refused(monkeypatch):
    scaled = generators.Kind("scaled", "Scaled", "", lambda rng, n, c, k: np.stack([np.eye(k)[None] * (i + 1)
                                                                                   for i in range(n)]),
                             structured=True, random=False)
    monkeypatch.setitem(generators.KINDS, "scaled", scaled)
    assert generate("scaled", 2, 3).shape == (2, 1, 3, 3)
    with pytest.raises(KernelBankError, match="scaled: after unit norm only 1 of the 2 kernels differ at size 3"):
        generate("scaled", 2, 3, unit_norm=True)


# --- 4: the zero-mean tooltip says what it does -----------------------------------------------------------------
@pytest.mark.gui
def test_zero_mean_tooltip_is_true_for_colour_kernels(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from widgets.application import make_app
    from widgets.kernels.generator_panel import GeneratorPanel

    make_app()
    p = GeneratorPanel(QSettings(str(tmp_path / "g.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(p)
    tip = p.zero_mean_check.toolTip()
    assert "no response to flat grey areas" in tip and "a flat colour can still respond unless each channel sums to 0" \
        in tip
    # what it says: a zero-mean RGB kernel ignores flat grey, not a flat colour (the mean is over every channel)
    b = generate("kaiming-normal", 8, 5, 3, seed=0, zero_mean=True)
    grey, red = np.full((20, 20, 3), 128, np.uint8), np.zeros((20, 20, 3), np.uint8)
    red[:] = (200, 40, 40)
    assert np.abs(ops.responses(b.weights, grey)).max() < 1e-5
    assert np.abs(ops.responses(b.weights, red)[:, 10, 10]).max() > 0.1
    # existing seeds keep their banks: the mean is still taken over all of a kernel's weights
    w = generate("kaiming-normal", 8, 5, 3, seed=0).weights.astype(np.float64)
    np.testing.assert_allclose(b.weights, w - w.mean(axis=(1, 2, 3), keepdims=True), atol=1e-6)


# --- 5: the editor's sums with the channel "all" -------------------------------------------------------------------
@pytest.mark.gui
def test_editor_with_channel_all_shows_each_channel_sum_and_the_kernel_sum(qtbot):
    from widgets.application import make_app
    from widgets.kernels.editor_panel import EditorPanel

    make_app()
    b = generate("kaiming-normal", 4, 3, 3, seed=0)
    sums = b.weights[0].astype(np.float64).sum((1, 2))
    np.testing.assert_allclose(sums, [0.57487, -1.96774, 0.71644], atol=1e-4)
    e = EditorPanel()
    qtbot.addWidget(e)
    e.show_kernel(b, 0)
    assert e.channel_combo.currentText() == "all (mean shown)"  # the channels differ
    assert e.cell_label.text().endswith(" · channel sums 0.5749 / -1.968 / 0.7164 (kernel sum -0.6764)")
    assert "sum of channel" not in e.cell_label.text()  # it read "sum of channel -0.2255": the kernel sum / 3
    e.channel_combo.setCurrentIndex(e.channel_combo.findData(1))
    assert e.cell_label.text().endswith(" · sum of channel -1.968")
    e.channel_combo.setCurrentIndex(0)
    e.show_kernel(generate("dct", 4, 3, 3), 1)  # equal channels: "same values"
    assert e.channel_combo.currentText() == "all (same values)"
    s = generate("dct", 4, 3, 3).weights[1].astype(np.float64).sum((1, 2))
    assert s[0] == s[1] == s[2]  # one figure, not three copies of it
    assert e.cell_label.text().endswith(f" · each channel sums to {s[0]:.4g} (kernel sum {s.sum():.4g})")
    e.show_kernel(generate("kaiming-normal", 2, 3, 1, seed=0), 0)  # one channel: its sum, as before
    assert e.cell_label.text().endswith(
        f" · sum of channel {float(generate('kaiming-normal', 2, 3, 1, seed=0).weights[0].sum()):.4g}")


# --- 6: the preview is the models' layer, even sizes included ------------------------------------------------------
@pytest.mark.parametrize("k", [3, 4])
def test_preview_equals_the_models_conv_layer(k):
    b = generate("kaiming-normal", 3, k, 3, seed=2)
    x = torch.from_numpy(ops.image_for_bank(IMG, 3))[None]
    for padding, mode in (("constant", "zeros"), ("replicate", "replicate")):
        conv = torch.nn.Conv2d(3, 3, k, padding=k // 2, padding_mode=mode, bias=False)  # app.models.simple's padding
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(np.array(b.weights, copy=True)))
            ref = conv(x)[0].numpy()
        got = ops.responses(b.weights, IMG, padding=padding)
        assert got.shape == ref.shape == (3, 24 + 1 - k % 2, 24 + 1 - k % 2)
        np.testing.assert_allclose(got, ref, atol=1e-5)


def test_an_even_kernels_preview_is_not_shifted():
    """A 4x4 kernel that picks its top-left cell: output (i, j) reads input (i - 2, j - 2), as the layer's (the
    preview padded 1 before and 2 after: one pixel smaller, and shifted by one)."""
    w = np.zeros((1, 1, 4, 4), np.float32)
    w[0, 0, 0, 0] = 1.0
    x1 = ops.image_for_bank(IMG, 1)[0]
    r = ops.responses(w, IMG, padding="constant")[0]
    np.testing.assert_allclose(r[2:, 2:], x1[:23, :23], atol=1e-6)
    assert np.all(r[:2] == 0) and np.all(r[:, :2] == 0)
    ref = F.conv2d(F.pad(torch.from_numpy(x1)[None, None], (2, 2, 2, 2)), torch.from_numpy(w))[0, 0].numpy()
    np.testing.assert_allclose(r, ref, atol=1e-6)


# --- 7: the Gabor's sigma and odd phase ------------------------------------------------------------------------------
def test_gabor_lists_its_sigmas_and_its_odd_phase_is_minus_sine():
    b = generate("gabor", 8, 7, 1, phases=2)
    assert b.meta["used"]["wavelengths"] == [4.0, 7.0]
    assert b.meta["used"]["sigmas"] == [2.24, 3.92]  # 0.56 x each wavelength
    assert "used:    orientations 2; wavelengths 4, 7; sigmas 2.24, 3.92; phases 2" in io.describe(b)
    help_ = {p.name: p.help for p in generators.KINDS["gabor"].params}["phases"]
    assert "odd (-sin" in help_ and "(sin)" not in help_
    # what the help says: kernel 2 (wavelength 4, phase 90 degrees, orientation 0) is -sin under the envelope
    r = np.arange(7) - 3.0
    x, y = np.meshgrid(r, r)
    env = np.exp(-(x ** 2 + (0.5 * y) ** 2) / (2 * 2.24 ** 2))
    np.testing.assert_allclose(b.weights[2, 0], -np.sin(2 * np.pi * x / 4.0) * env, atol=1e-6)
