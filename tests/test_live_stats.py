"""The Live statistics strip (issue #12): each statistic on a hand-made map whose answer is known."""

from __future__ import annotations

import math

import pytest
import torch

from app.live import stats


def test_sparsity_and_mean_magnitude():
    m = torch.zeros(2, 4, 4)
    m[0, :2] = 3.0  # 8 of 32 values are 3, the rest exact zeros
    m[1, 0, 0] = -1.0  # one more non-zero, negative
    assert stats.sparsity(m) == 23 / 32
    assert stats.mean_abs(m) == (8 * 3.0 + 1.0) / 32
    assert stats.sparsity(torch.full((1, 2, 2), 1e-7)) == 1.0  # |x| <= eps counts as zero


def test_dominant_frequency_is_the_grating_frequency():
    h, w = 32, 64
    x = torch.arange(w, dtype=torch.float32)
    for period in (4, 8, 16):
        grating = torch.cos(2 * math.pi * x / period).expand(h, w)
        m = torch.stack([grating, 2 * grating + 5])  # amplitude and offset do not move the peak
        assert abs(stats.dominant_frequency(m) - 1 / period) < 1 / 64 + 1e-9, period
    y = torch.arange(h, dtype=torch.float32)[:, None].expand(h, w)
    vertical = torch.sin(2 * math.pi * y / 8)[None]
    assert abs(stats.dominant_frequency(vertical) - 1 / 8) < 1 / 64 + 1e-9
    assert stats.dominant_frequency(torch.ones(3, 8, 8)) == 0.0  # flat: no structure


def test_channel_correlation_known_answers():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(8, 8, generator=g)
    copies = torch.stack([a, 2 * a + 1, -a])  # every pair perfectly (anti-)correlated
    assert abs(stats.channel_correlation(copies) - 1.0) < 1e-5
    x = torch.tensor([[1.0, -1.0], [1.0, -1.0]])
    y = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])
    assert abs(stats.channel_correlation(torch.stack([x, y]))) < 1e-6  # orthogonal patterns
    assert abs(stats.channel_correlation(torch.stack([x, y, torch.zeros(2, 2)]))) < 1e-6  # constant channel left out
    assert math.isnan(stats.channel_correlation(torch.stack([x, torch.ones(2, 2)])))


def test_map_stats_samples_channels_and_describes():
    m = torch.zeros(40, 8, 8)
    m[:, :, ::2] = 1.0  # a vertical-stripe pattern of period 2 in every channel
    s = stats.map_stats(m, sample=16)
    assert (s.channels, s.sampled) == (40, 16)
    assert s.sparsity == 0.5 and s.mean_abs == 0.5 and abs(s.frequency - 0.5) < 1e-9
    assert abs(s.correlation - 1.0) < 1e-5
    assert "zeros 50%" in s.describe() and "(2.0 px)" in s.describe() and "|corr| 1.00" in s.describe()


def test_noise_has_no_dominant_frequency_and_a_long_period_is_a_bound():
    """An audit: white noise showed a "frequency" anywhere from 0.016 to 0.7 c/px (the argmax of a flat spectrum),
    and a period of 200 px on a 256 px map showed "128.0 px" (the crop's lowest ring) as if measured."""
    import math

    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        noise = torch.relu(torch.randn(16, 64, 64, generator=g))
        assert math.isnan(stats.dominant_frequency(noise))
    assert stats.map_stats(torch.relu(torch.randn(16, 64, 64, generator=g))).frequency_text() == "freq: no peak"
    yy, xx = torch.meshgrid(torch.arange(256.0), torch.arange(256.0), indexing="ij")
    slow = torch.sin(2 * math.pi * xx / 200)[None].repeat(3, 1, 1)
    f, floor = stats.frequency_peak(slow)
    # a bound of two cycles over the crop's side (audit 32: a 100 px period on a 128 px map peaks at one cycle too,
    # so ">= 128 px" was not true of it): at least 64 px
    assert floor and f == pytest.approx(2 / 128, rel=1e-6)
    assert stats.map_stats(slow).frequency_text() == "freq <= 0.016 c/px (>= 64 px)"
    fine = torch.sin(2 * math.pi * xx / 8)[None].repeat(3, 1, 1)
    f, floor = stats.frequency_peak(fine)
    assert not floor and f == pytest.approx(1 / 8, abs=1e-6)  # measured, on the central crop
    checker = torch.tensor([[(-1.0) ** (i + j) for j in range(16)] for i in range(16)])[None]
    assert stats.dominant_frequency(checker) == pytest.approx(math.sqrt(0.5), abs=1e-6)  # not its ring's 0.72
    assert stats.map_stats(torch.ones(2, 8, 8)).frequency_text() == "freq: flat"


def test_a_peak_at_a_small_maps_lowest_ring_is_a_bound_too():
    """A map no larger than the crop whose power peaks at its lowest ring showed its width as a measured period
    ("freq 0.012 c/px (80.0 px)" on resnet20's 45x80 layer1.2): the period is that long or longer."""
    import math

    yy, xx = torch.meshgrid(torch.arange(45.0), torch.arange(80.0), indexing="ij")
    slow = torch.sin(2 * math.pi * xx / 300)[None].repeat(3, 1, 1)  # a 300 px period on an 80 px map
    f, floor = stats.frequency_peak(slow)
    assert floor and f == pytest.approx(2 / 80)  # two cycles over the width, at most (audit 32)
    assert stats.map_stats(slow).frequency_text() == "freq <= 0.025 c/px (>= 40 px)"


def test_the_cached_frequency_grid_gives_the_same_answer_as_a_fresh_one():
    """``_rings`` keeps each map size's frequency grid (a pane's maps keep theirs); nothing may change it."""
    torch.manual_seed(3)
    maps = [torch.randn(4, 48, 64) + torch.sin(torch.arange(64.0) / 5).expand(4, 48, 64),
            torch.randn(3, 30, 30).relu(), torch.sin(torch.arange(40.0) / 3).expand(2, 20, 40).contiguous()]
    stats._rings.cache_clear()
    fresh = []
    for m in maps:
        stats._rings.cache_clear()
        fresh.append(stats.frequency_peak(m))
    stats._rings.cache_clear()
    again = [stats.frequency_peak(m) for m in maps + maps + maps]
    assert [repr(a) for a in again] == [repr(f) for f in fresh * 3]  # repr: "no peak" is a NaN
    assert stats._rings.cache_info().hits == 6
