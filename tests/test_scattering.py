"""The ``scattering`` backbone (#13): kymatio's 2-D scattering transform, known answers, the frame bound, invariance,
non-expansiveness, the backbone interface, bad options; and the coefficients of kymatio itself where it is importable
(``PYTHONPATH=/path/to/kymatio``; skipped otherwise)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from app.errors import AppError
from app.models.base import ModelError
from app.models.build import BuildError, build
from app.models.registry import create
from app.models.scattering import Scattering, fold, subsample_fourier
from app.models.scattering_filters import PI_KYMATIO, compute_padding, filter_bank, littlewood_paley
from app.models.spec import ModelSpec


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def scat(**kw) -> Scattering:
    kw.setdefault("in_channels", 1)
    return create("scattering", **kw)


def rand(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- known answers ------------------------------------------------------------------------------------------
def test_order0_is_the_gaussian_average_computed_by_hand():
    """S0 = (reflect-padded x, circularly convolved with the periodised Gaussian of sigma 0.8 * 2^(J-1), normalised
    by 2 * 3.1415 * sigma^2) sampled every 2^J pixels, the one-sample border cropped: in space, without an FFT."""
    J, H = 2, 32
    x = rand(1, 1, H, H, dtype=torch.float64)
    Mp, Np = compute_padding(H, H, J)
    assert (Mp, Np) == (40, 40)
    xp = F.pad(x, (4, 4, 4, 4), mode="reflect")[0, 0]
    sigma = 0.8 * 2 ** (J - 1)
    u = torch.arange(Mp, dtype=torch.float64)
    g = torch.zeros(Mp, Np, dtype=torch.float64)
    for ex in range(-2, 3):
        for ey in range(-2, 3):
            xx, yy = (u + ex * Mp)[:, None], (u + ey * Np)[None, :]
            g += torch.exp(-(xx ** 2 + yy ** 2) / (2 * sigma ** 2))
    g /= 2 * PI_KYMATIO * sigma ** 2
    k = 2 ** J
    p = torch.arange(0, Mp, k)
    # out[a, b] = sum_{s, t} g[s, t] * xp[(a - s) % Mp, (b - t) % Np]
    rows = (p[:, None] - torch.arange(Mp)[None, :]) % Mp  # (out, s)
    cols = (p[:, None] - torch.arange(Np)[None, :]) % Np
    vals = xp[rows[:, None, :, None], cols[None, :, None, :]]  # (a, b, s, t)
    by_hand = (vals * g).sum(dim=(2, 3))[1:-1, 1:-1]
    S0 = scat(J=J, input_size=H).scatter(x)[0, 0, 0]
    assert S0.shape == (8, 8)
    # the filters are stored in float32: 1.3e-8 here (values up to ~0.4)
    assert torch.allclose(S0, by_hand, atol=5e-8), (S0 - by_hand).abs().max()


def test_a_constant_image_has_only_its_mean():
    """phi_hat(0) = pi / 3.1415 (kymatio's constant); every wavelet has zero mean, so orders 1 and 2 vanish."""
    S = scat(J=2).scatter(torch.full((1, 1, 32, 32), 3.0, dtype=torch.float64))[0, 0]
    assert torch.allclose(S[0], torch.full_like(S[0], 3.0 * math.pi / PI_KYMATIO), atol=1e-7)
    assert S[1:].abs().max() < 1e-6


def test_filters_meet_the_littlewood_paley_bound():
    """The frame's Littlewood-Paley sum (real signals) is at most ~1: non-expansive; and at least ~0.05: every
    frequency is seen. Measured: J=2: max 1.0000590 = (pi / 3.1415)^2 at frequency 0; J=3: 1.0136; J=4: 1.0485."""
    for J, M, top in ((2, 40, 1.0000590), (3, 64, 1.014), (4, 96, 1.049)):
        bank = filter_bank(M, M, J, 8)
        lp = littlewood_paley(bank)
        assert lp.max() <= top, (J, lp.max())
        assert lp.min() > 0.05, (J, lp.min())
        assert lp[0, 0] == pytest.approx((math.pi / PI_KYMATIO) ** 2, abs=1e-6)  # wavelets are 0 there
        for levels in bank.psi:
            assert np.abs(levels[0][:, 0, 0]).max() < 1e-6  # zero-mean wavelets
    assert littlewood_paley(filter_bank(40, 40, 2, 8)).max() == pytest.approx((math.pi / PI_KYMATIO) ** 2, abs=1e-6)


def test_known_coefficients_of_a_disk():
    """A disk of radius 8 in a 32x32 image, J=2, L=8: the sums of its order-0, 1 and 2 maps. The pinned values are
    kymatio 0.3's own (measured: 13.041047, 18.383099, 13.566504; ours agree to 1.3e-6)."""
    u = torch.arange(32, dtype=torch.float64)
    x = (((u[:, None] - 13.5) ** 2 + (u[None, :] - 17.5) ** 2) < 64).double()[None, None]
    S = scat().scatter(x)[0, 0]
    assert S[0].sum().item() == pytest.approx(13.041047, rel=1e-6)
    assert S[1:17].sum().item() == pytest.approx(18.383099, rel=1e-6)
    assert S[17:].sum().item() == pytest.approx(13.566504, rel=1e-6)


def test_wavelets_peak_at_their_frequency_and_angle():
    """psi_{j, theta} peaks near |omega| = 3 pi / 4 / 2^j in the direction of its angle (measured on the 40 x 40
    grid: j=0, theta=0 at (6, 14), |omega| = 2.39; theta=3 at (15, 0); j=1: (3, 7) and (8, 0)); peak ~0.97."""
    b = filter_bank(40, 40, 2, 8)
    peaks = {(j, t): tuple(int(i) for i in np.unravel_index(b.psi[j][0][t].argmax(), (40, 40)))
             for j in (0, 1) for t in (0, 3)}
    assert peaks == {(0, 0): (6, 14), (0, 3): (15, 0), (1, 0): (3, 7), (1, 3): (8, 0)}
    assert float(b.psi[0][0][0].max()) == pytest.approx(0.971442, abs=1e-5)
    assert math.hypot(6, 14) * 2 * math.pi / 40 == pytest.approx(3 * math.pi / 4, rel=0.02)


def test_filter_bank_shapes_follow_kymatio():
    b = filter_bank(64, 48, 3, 6)
    assert [p.shape for p in b.phi] == [(64, 48), (32, 24), (16, 12)]
    assert [[p.shape for p in lv] for lv in b.psi] == [[(6, 64, 48)], [(6, 64, 48), (6, 32, 24)],
                                                       [(6, 64, 48), (6, 32, 24)]]
    assert all(p.dtype == np.float32 for p in b.phi)


def test_fourier_subsampling_is_spatial_sampling():
    x = rand(2, 3, 16, 24, dtype=torch.float64)
    X = torch.fft.fft2(x)
    for k in (1, 2, 4, 8):
        sub = torch.fft.ifft2(subsample_fourier(X, k)).real
        assert torch.allclose(sub, x[..., ::k, ::k], atol=1e-12)
        assert torch.allclose(fold(X, k), X.reshape(2, 3, k, 16 // k, k, 24 // k).sum(dim=(-4, -2)), atol=1e-12)


# --- invariance and stability ----------------------------------------------------------------------------------
def test_translation_by_a_multiple_of_2J_shifts_the_maps_and_keeps_their_average():
    """A blob on a zero background moved by 2^J = 4 pixels (a circular shift that wraps only zeros): every
    coefficient map moves by exactly one sample (away from the border), and the spatially averaged coefficients
    stay the same."""
    x = torch.zeros(1, 1, 32, 32, dtype=torch.float64)
    x[0, 0, 10:16, 11:15] = rand(6, 4, seed=3, dtype=torch.float64)
    m = scat(J=2)
    S, S2 = m.scatter(x)[0, 0], m.scatter(torch.roll(x, shifts=(4, -4), dims=(2, 3)))[0, 0]
    assert torch.allclose(S2[:, 2:8, 0:6], S[:, 1:7, 1:7], atol=1e-12)  # measured: 3e-17
    # the averages: up to the tails of the largest filters that cross the cropped border (measured: 0.5% at most)
    avg, avg2 = S.sum(dim=(1, 2)), S2.sum(dim=(1, 2))
    assert torch.allclose(avg, avg2, rtol=1e-2, atol=1e-9)
    assert not torch.allclose(S2, S, rtol=1e-2)  # the maps themselves did move


def test_the_transform_is_non_expansive():
    """4^J ||Sx - Sy||^2 <= ||x - y||^2 (each output sample stands for 2^J x 2^J pixels) and 4^J ||Sx||^2 <= ||x||^2.
    Measured on these pairs: J=1: at most 0.65 (energy 0.79), J=2: 0.44 (0.83), J=3: 0.24 (0.82)."""
    for J in (1, 2, 3):
        m = scat(J=J)
        for trial in range(6):
            x = rand(1, 1, 32, 32, seed=trial, dtype=torch.float64)
            y = x + 0.3 * rand(1, 1, 32, 32, seed=100 + trial, dtype=torch.float64)
            if trial % 2:
                x, y = F.avg_pool2d(x, 3, 1, 1), F.avg_pool2d(y, 3, 1, 1)
            Sx, Sy = m.scatter(x), m.scatter(y)
            assert 4 ** J * ((Sx - Sy) ** 2).sum() <= ((x - y) ** 2).sum()
            assert 4 ** J * (Sx ** 2).sum() <= (x ** 2).sum()


# --- the backbone ----------------------------------------------------------------------------------------------
def test_layers_channels_and_sizes():
    m = scat(in_channels=3, J=2, L=8)
    assert [(i.name, i.channels, i.stride) for i in m.feature_info] == [("order1", 3 * 17, 4), ("order2", 3 * 81, 4)]
    assert m.num_features == 243
    x = rand(2, 3, 32, 32)
    o1, o2 = m.forward_intermediates(x)
    assert o1.shape == (2, 51, 8, 8) and o2.shape == (2, 243, 8, 8)
    # order1 = the first 17 coefficients of each input channel; colour = each channel on its own
    S = o2.reshape(2, 3, 81, 8, 8)
    assert torch.equal(o1.reshape(2, 3, 17, 8, 8), S[:, :, :17])
    grey = scat(J=2)
    for c in range(3):
        assert torch.allclose(S[:, c], grey.scatter(x[:, c:c + 1])[:, 0], atol=1e-6)
    m1 = scat(J=3, L=4, max_order=1)
    assert [(i.name, i.channels, i.stride) for i in m1.feature_info] == [("order1", 13, 8)]
    assert m1.forward_features(rand(1, 1, 32, 32)).shape == (1, 13, 4, 4)
    assert scat(J=3, L=6).feature_info[-1].channels == 1 + 18 + 36 * 3


def test_any_size_from_2J_up_is_padded_as_kymatio_does():
    m = scat(J=2)
    for h, w in ((30, 37), (4, 4), (5, 9), (28, 28)):
        assert m.forward_features(rand(1, 1, h, w)).shape == (1, 81, h // 4, w // 4)


def test_filters_of_another_size_equal_a_model_built_at_that_size():
    x = rand(3, 1, 28, 28)
    a, b = scat(input_size=32).forward_features(x), scat(input_size=28).forward_features(x)
    assert torch.equal(a, b)


def test_chunks_bound_memory_and_change_nothing():
    x = rand(7, 2, 16, 16)
    full = scat(in_channels=2).forward_features(x)
    small = scat(in_channels=2, chunk_bytes=1)  # one image per chunk
    calls = []
    orig = small._scatter
    small._scatter = lambda t, *a: calls.append(len(t)) or orig(t, *a)
    assert torch.allclose(small.forward_features(x), full, atol=1e-6)
    assert calls == [1] * 14  # 7 images of 2 channels: one image channel at a time (and one theta1 at a time)


def test_no_random_weights_and_the_state_follows_the_options():
    a, b = (build(ModelSpec.make("scattering", options={"in_channels": 1}, seed=s), device="cpu") for s in (0, 1))
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert list(a.named_parameters()) == []  # nothing learned, nothing drawn: filters are buffers
    c = build(ModelSpec.make("scattering", options={"in_channels": 1, "L": 6}), device="cpu")
    assert c.state_dict()["psi0_0"].shape[0] == 6  # L is in the state: the feature cache key sees it


def test_half_and_channels_last_inputs():
    m = scat(in_channels=3)
    x = rand(2, 3, 16, 16)
    ref = m.forward_features(x)
    assert torch.allclose(m.forward_features(x.contiguous(memory_format=torch.channels_last)), ref, atol=1e-6)
    assert m.forward_features(x.half()).dtype == torch.float32


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    m = scat(in_channels=3)
    x = rand(4, 3, 32, 32)
    ref = m.forward_features(x)
    got = m.to("cuda").forward_features(x.cuda()).cpu()
    assert torch.allclose(got, ref, atol=1e-5)
    assert torch.allclose(m.forward_features(rand(2, 3, 28, 28).cuda()).cpu(),
                          scat(in_channels=3).forward_features(rand(2, 3, 28, 28)), atol=1e-5)


# --- bad options -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("opts, msg", [
    ({"J": 0}, "J (the number of scales"), ({"J": -1}, "J (the number of scales"),
    ({"J": 6}, "J=6 is too large for input_size of 32x32 pixels: 2^J = 64"),
    ({"L": 0}, "L (the number of orientations) must be between 1 and 64, got 0"), ({"L": 65}, "L (the number"),
    ({"max_order": 3}, "max_order must be 1 or 2"), ({"max_order": 0}, "max_order must be 1 or 2"),
    ({"in_channels": 0}, "in_channels must be at least 1"),
])
def test_bad_options_are_refused_naming_the_option(opts, msg):
    with pytest.raises(ModelError, match=msg.replace("(", r"\(").replace(")", r"\)").replace("^", r"\^")) as e:
        create("scattering", **opts)
    assert isinstance(e.value, AppError)
    with pytest.raises(BuildError, match=r"^scattering: "):
        build(ModelSpec.make("scattering", options=opts), device="cpu")


def test_an_input_smaller_than_2J_or_of_other_channels_is_refused():
    m = scat(J=3)
    with pytest.raises(ModelError, match=r"J=3 is too large for the input of 6x16 pixels.*J <= 2"):
        m.forward_features(torch.zeros(1, 1, 6, 16))
    with pytest.raises(ModelError, match="in_channels=1, got an input with 3 channels"):
        m.forward_features(torch.zeros(1, 3, 16, 16))


def test_probe_runs_on_digits_with_every_layer(fe_home, capsys):
    """``probe --backbone scattering --dataset digits --json``: the backbone is matched to the data (1 channel, 8 px),
    the default layer is order2 (81 maps of 2x2, pooled on a 4x4 grid), and order1 can be probed too."""
    import json

    from app.cli import run

    common = ["probe", "--backbone", "scattering", "--dataset", "digits", "--train-limit", "300", "--test-limit", "60",
              "--json"]
    assert run(common) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["layer_name"] == "order2" and out["settings"]["pooling"] == "grid4"  # its probe default
    assert out["settings"]["model_options"] == {"in_channels": 1, "input_size": 8} and out["n_features"] == 81 * 16
    assert run(common + ["--layer", "0", "--pooling", "grid2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["layer_name"] == "order1" and out["n_features"] == 17 * 4


def test_whole_numbers_of_any_integer_type_are_options():
    m = create("scattering", J=np.int64(2), L=np.int32(4), in_channels=1)
    assert (m.J, m.L, type(m.J)) == (2, 4, int)
    with pytest.raises(ModelError, match="J must be a whole number, got 2.5"):
        create("scattering", J=2.5)


def test_probe_cli_names_the_option(fe_home, capsys):
    from app.cli import run

    code = run(["probe", "--backbone", "scattering", "--options", "J=4", "--dataset", "digits"])
    err = capsys.readouterr().err
    assert code == 2 and "J=4 is too large for input_size of 8x8 pixels" in err


# --- kymatio itself ------------------------------------------------------------------------------------------------
def test_coefficients_equal_kymatios():
    """Max |ours - kymatio| measured: 2.4e-7 (coefficients up to ~1.3) on these inputs."""
    front = pytest.importorskip("kymatio.scattering2d.frontend.torch_frontend")
    for (h, w, J, L, order, C) in ((32, 32, 2, 8, 2, 1), (32, 32, 3, 8, 2, 3), (32, 32, 2, 6, 1, 1),
                                   (28, 28, 2, 8, 2, 1), (30, 37, 2, 8, 2, 1), (4, 4, 2, 8, 2, 1)):
        x = rand(5, C, h, w, seed=h + J)
        ref = front.ScatteringTorch2D(J, (h, w), L=L, max_order=order)(x)
        ours = scat(in_channels=C, J=J, L=L, max_order=order, input_size=max(2 ** J, min(h, 32))).scatter(x)
        assert ours.shape == ref.shape
        assert (ours - ref).abs().max() < 2e-6, (h, w, J, L, order, C)
