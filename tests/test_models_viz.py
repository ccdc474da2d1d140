"""Models workspace core (no Qt): option fields, layer tables, snapshots, kernel mosaics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.imaging import colormaps
from app.models import create, viz
from app.models.spec import ModelSpec
from app.tasks import run_to_end


def test_option_fields_come_from_the_constructor():
    simple = {f.name: f for f in viz.option_fields("simple")}
    assert simple["widths"].kind == "ints" and simple["widths"].default == (32, 64, 64)
    assert simple["kernel_size"].kind == "int_or_ints"
    assert {"relu", "sign", "tanh", "abs"} <= set(simple["activation"].choices)
    assert simple["batchnorm"].kind == "bool"
    assert "seed" not in simple  # the spec's own field
    assert all(f.tooltip for f in simple.values())
    # a factory that fixes an argument does not offer it; lc-resnet20's own argument wins
    assert "depth" not in {f.name for f in viz.option_fields("resnet20")}
    lc = {f.name: f for f in viz.option_fields("lc-resnet20")}
    assert lc["expansion"].kind == "int" and lc["expansion"].default == 4
    rdsn = {f.name for f in viz.option_fields("rdsn")}
    assert {"k", "blocks"} <= rdsn
    with pytest.raises(KeyError, match="unknown backbone"):
        viz.option_fields("nope")


def test_parse_option_values_and_errors():
    f = {f.name: f for f in viz.option_fields("simple")}
    assert viz.parse_option(f["widths"], "8, 16 ,32") == (8, 16, 32)
    assert viz.parse_option(f["kernel_size"], "5") == 5
    assert viz.parse_option(f["kernel_size"], "3,5") == (3, 5)
    assert viz.format_option(f["widths"], (8, 16)) == "8, 16"
    with pytest.raises(ValueError, match="widths: 'eight' is not whole numbers"):
        viz.parse_option(f["widths"], "eight")
    with pytest.raises(ValueError, match="activation: choose one of"):
        viz.parse_option(f["activation"], "gelu")
    opt = {f.name: f for f in viz.option_fields("rdsn")}["stem_kernel"]
    assert viz.parse_option(opt, "") is None and viz.parse_option(opt, "7") == 7


def test_layer_rows_and_counts_follow_freezing():
    spec = ModelSpec.make("simple", options={"widths": (4, 8), "batchnorm": True, "in_channels": 1},
                          freeze=viz.freeze_entries("Train only batch-norm", {}))
    view = run_to_end(viz.inspect_task(spec))
    kinds = [r.kind for r in view.rows]
    assert kinds == ["conv", "batch-norm", "conv", "batch-norm"]
    conv1 = view.rows[0]
    assert (conv1.label, conv1.in_channels, conv1.out_channels, conv1.kernel) == ("conv1", 1, 4, "3x3")
    assert conv1.params == 4 * 1 * 9 and conv1.trainable == 0 and conv1.state == "frozen"
    bn_params = 2 * 4 + 2 * 8
    assert view.trainable == bn_params
    assert view.trainable + view.frozen == sum(r.params for r in view.rows)
    # a per-layer override on top of the preset trains conv2 again
    spec2 = ModelSpec.make("simple", options={"widths": (4, 8), "batchnorm": True, "in_channels": 1},
                           freeze=viz.freeze_entries("Train only batch-norm", {"blocks.1.conv": False}))
    view2 = run_to_end(viz.inspect_task(spec2))
    assert view2.trainable == bn_params + 8 * 4 * 9
    # the snapshot is an immutable copy
    k = view.kernels["blocks.0.conv"]
    assert k.shape == (4, 1, 3, 3) and not k.flags.writeable


def test_kernel_mosaic_single_channel_diverging_map():
    w = np.zeros((4, 1, 3, 3), np.float32)
    w[0, 0, 1, 1] = 2.0
    w[1, 0, 1, 1] = -2.0
    m = viz.kernel_mosaic(w)
    assert not m.colour and m.shown == 4 and (m.rows, m.cols) == (2, 2)
    assert m.rgb.dtype == np.uint8 and m.rgb.flags.c_contiguous and m.rgb.shape == (2 * 4 + 1, 2 * 4 + 1, 3)
    lut = colormaps.lut("coolwarm")
    assert tuple(m.rgb[2, 2]) == tuple(lut[255])  # +2 -> the red end
    assert tuple(m.rgb[2, 6]) == tuple(lut[0])  # -2 -> the blue end
    assert tuple(m.rgb[1, 1]) == tuple(lut[128])  # zero -> the centre (near white)
    assert tuple(m.rgb[0, 0]) == tuple(viz.PAD_RGB)
    assert m.limit == pytest.approx(2.0)


def test_kernel_mosaic_rgb_first_layer_in_colour():
    w = np.zeros((2, 3, 3, 3), np.float32)
    w[0, 0] = 1.0  # red channel positive
    w[1, 2] = -1.0  # blue channel negative
    m = viz.kernel_mosaic(w)
    assert m.colour and m.shown == 2
    r, g, b = (int(v) for v in m.rgb[2, 2])
    assert r == 255 and g == b == 128
    r, g, b = (int(v) for v in m.rgb[2, 6])
    assert b == 0 and r == g == 128
    assert not viz.kernel_mosaic(w, colour="map").colour


def test_kernel_mosaic_grid_caps_and_kernel_scale():
    w = np.random.default_rng(0).standard_normal((64, 32, 3, 3)).astype(np.float32)
    m = viz.kernel_mosaic(w, max_kernels=256, total_out=128)
    assert (m.rows, m.cols) == (8, 32) and m.shown == 256 and m.total == 128 * 32
    assert "first 8 of 128 output channels" in m.note
    ks = viz.kernel_mosaic(w * np.arange(1, 65, dtype=np.float32)[:, None, None, None], scale="kernel",
                           colour="map", wide_aspect=0.25)
    # every kernel reaches an end of the map under per-kernel scaling
    tiles = ks.rgb[1:, 1:].reshape(64, 4, 32, 4, 3)[:, :3, :, :3]
    lut = colormaps.lut("coolwarm")
    ends = {tuple(lut[0]), tuple(lut[255])}
    assert all(any(tuple(px) in ends for px in tiles[o].reshape(-1, 3)) for o in range(64))
    with pytest.raises(ValueError, match="4-D"):
        viz.kernel_mosaic(np.zeros((3, 3)))


def test_one_by_one_conv_is_a_plain_matrix():
    m = viz.kernel_mosaic(np.ones((16, 64, 1, 1), np.float32))
    assert m.rgb.shape == (16, 64, 3)


def test_patches_filters_are_shown_as_the_patches_they_are():
    """The patches encoder is a 1x1 convolution over the D = C x s x s whitened patch values: its kernel view draws
    each filter as a C x s x s patch (RGB: in colour), saying whether the Probe has fitted them; the row table keeps
    the module's own shape."""
    spec = ModelSpec.make("patches", options={"k": 12, "patch_size": 4, "n_patches": 500})
    model = viz.build_model(spec)
    v = viz.snapshot(model, spec)
    w = v.kernels["encoder"]
    assert w.shape == (12, 3, 4, 4) and v.kernel_totals["encoder"] == 12
    assert np.array_equal(w.reshape(12, -1), model.encoder.weight.detach().reshape(12, -1).numpy())
    assert v.kernel_notes["encoder"].startswith("4x4 patches in whitened space, not fitted")
    assert next(r for r in v.rows if r.path == "encoder").kernel == "1x1"
    assert viz.kernel_mosaic(w).colour  # drawn as RGB patches
    x = torch.rand(20, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    fitted = viz.snapshot(model.fit_patches(x, seed=0), spec)
    assert fitted.kernel_notes["encoder"] == "4x4 patches in whitened space, fitted on training patches"
    assert not np.array_equal(fitted.kernels["encoder"], w)
    simple = ModelSpec.make("simple")
    assert viz.snapshot(viz.build_model(simple), simple).kernel_notes == {}  # other backbones as they are


def test_trained_reference_differs_from_random(shared):
    shared("weights", "resnet20_cifar10-12fca82f.th")
    refs = {s.label: s for s in viz.reference_specs()}
    trained = next(s for s in refs.values() if s.backbone == "resnet20" and s.weight_state == "trained")
    tv = run_to_end(viz.inspect_task(trained))
    rv = run_to_end(viz.inspect_task(ModelSpec.make("resnet20")))
    a, b = tv.kernels["conv1"], rv.kernels["conv1"]
    assert a.shape == b.shape == (16, 3, 3, 3)
    assert not np.allclose(a, b)
    assert "CKA" in viz.compare_text(a, b) and "correlation" not in viz.compare_text(a, b)
    assert tv.trainable == rv.trainable == sum(p.numel() for p in create("resnet20").parameters())


def test_same_seed_same_kernels_and_stages():
    spec = ModelSpec.make("resnet20", seed=3)
    a = run_to_end(viz.inspect_task(spec))
    b = run_to_end(viz.inspect_task(spec))
    c = run_to_end(viz.inspect_task(ModelSpec.make("resnet20", seed=4)))
    assert np.array_equal(a.kernels["conv1"], b.kernels["conv1"])
    assert not np.array_equal(a.kernels["conv1"], c.kernels["conv1"])
    assert a.stages[0] == ("stem", 16, 1) and a.stages[-1][1:] == (64, 4)


def test_per_layer_init_banks_and_missing_layers():
    spec = ModelSpec.make("simple", options={"widths": (4, 8)}, seed=2)
    full, notes = viz.resolve_layer_inits(spec, (("conv2", "orthogonal"), ("conv9", "kaiming")))
    assert [n for n, _ in full.banks] == ["conv2"] and "conv9: no such layer" in notes[0]
    w = full.banks[0][1].weights.reshape(8, -1).astype(np.float64)
    assert np.allclose(w @ w.T, np.eye(8), atol=1e-5)  # orthogonal rows
    again, _ = viz.resolve_layer_inits(spec, (("conv2", "orthogonal"),))
    assert np.array_equal(again.banks[0][1].weights, full.banks[0][1].weights)  # seeded
    view = run_to_end(viz.inspect_task(spec, layer_inits=(("conv2", "orthogonal"),)))
    assert np.array_equal(view.kernels["blocks.1.conv"], full.banks[0][1].weights)


def test_tall_grids_are_cut_into_blocks():
    w = np.ones((32, 16, 3, 3), np.float32)
    m = viz.kernel_mosaic(w)
    assert m.blocks == 2 and (m.rows, m.cols) == (32, 16)
    assert m.rgb.shape == (16 * 4 + 1, 2 * 16 * 4 + 4 + 1, 3)
    assert tuple(m.rgb[5, 16 * 4 + 2]) == tuple(viz.GAP_RGB)  # the gap between the blocks
    lut = colormaps.lut("coolwarm")
    assert tuple(m.rgb[1, 1]) == tuple(lut[255]) and tuple(m.rgb[1, 16 * 4 + 4 + 1]) == tuple(lut[255])
    assert viz.kernel_mosaic(np.ones((16, 16, 3, 3), np.float32)).blocks == 1


def test_kernel_under_a_mosaic_pixel():
    w = np.arange(32 * 16 * 9, dtype=np.float32).reshape(32, 16, 3, 3)
    m = viz.kernel_mosaic(w)  # two blocks of 16 output rows
    assert viz.kernel_at(m, 1, 1, 16) == (0, 0)
    assert viz.kernel_at(m, 1 + 4 * 3, 1 + 4 * 2, 16) == (2, 3)
    x0 = 1 + 16 * 4 + 4  # first column of the second block
    assert viz.kernel_at(m, x0, 1, 16) == (16, 0)
    assert viz.kernel_at(m, 0, 0, 16) is None  # padding
    assert viz.kernel_at(m, 16 * 4 + 2, 5, 16) is None  # the gap
    rgb = viz.kernel_mosaic(np.ones((5, 3, 3, 3), np.float32))
    assert viz.kernel_at(rgb, 1 + 4 * 1, 1 + 4 * 1, 3) == (4, None)
    assert viz.kernel_at(rgb, 1 + 4 * 2, 1 + 4 * 1, 3) is None  # the empty cell after the last filter
    assert viz.kernel_text(w, 2, 3).startswith("output 2, input 3: min +")


def test_builds_in_parallel_threads_stay_seeded():
    """Two builds at once (the workspace's builder and a reference panel) give the seeded weights."""
    from concurrent.futures import ThreadPoolExecutor

    spec = ModelSpec.make("resnet20")
    ref = run_to_end(viz.inspect_task(spec)).kernels["conv1"]
    with ThreadPoolExecutor(4) as ex:
        views = list(ex.map(lambda s: run_to_end(viz.inspect_task(s)), [spec, ModelSpec.make("resnet20", seed=1)] * 3))
    for v in views:
        if v.spec.seed == 0:
            assert np.array_equal(v.kernels["conv1"], ref)
