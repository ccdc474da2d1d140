"""Model core: every backbone behind one interface (registry-parametrised), init, freezing, build, input specs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from app.models import ModelSpec, create, names
from app.models.base import ModelError


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # two OpenMP threads on a shared 2-core machine can be 100x slower than one
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


SMALL = {  # small but faithful configurations for fast tests
    "rdsn": {"k": 24, "blocks": 2},
    "resnet18": {"stem": "cifar", "num_classes": 10},
    "lc-resnet20": {"expansion": 2},
}


def small(name: str):
    torch.manual_seed(0)
    return create(name, **SMALL.get(name, {}))


def test_registry_lists_every_backbone_of_the_issue():
    for n in ("simple", "rdsn", "lenet5", "resnet20", "lc-resnet20", "resnet18"):
        assert n in names()
    with pytest.raises(KeyError, match="unknown backbone"):
        create("nope")


@pytest.mark.parametrize("name", names())
def test_intermediates_match_feature_info(name):
    m = small(name).eval()
    c, h, w = m.default_input
    x = torch.randn(2, c, h, w)
    with torch.no_grad():
        maps = m.forward_intermediates(x)
        feats = m.forward_features(x)
    assert len(maps) == len(m.feature_info)
    assert [len(set(i.name for i in m.feature_info))] == [len(m.feature_info)], "layer names must be unique"
    prev = None
    for info, f in zip(m.feature_info, maps):
        assert f.shape[:2] == (2, info.channels), (info, f.shape)
        if name == "lenet5":  # valid convolutions: the border shrinks the map below H / stride
            assert f.shape[2] <= h // info.stride
        else:
            assert f.shape[2:] == (h // info.stride, w // info.stride), (info, f.shape)
        if prev is not None:
            assert info.stride >= prev
        prev = info.stride
    assert torch.equal(maps[-1], feats)
    # chosen layers, negative indices, last-N, stop early: same maps, no hooks left behind
    with torch.no_grad():
        some = m.forward_intermediates(x, [0, -1])
        last2 = m.forward_intermediates(x, 2)
    assert torch.equal(some[0], maps[0]) and torch.equal(some[1], maps[-1])
    assert torch.equal(last2[0], maps[-2]) and torch.equal(last2[1], maps[-1])
    for mod in m.modules():
        assert not mod._forward_hooks and not mod._forward_pre_hooks
    with pytest.raises(IndexError):
        m.forward_intermediates(x, [len(m.feature_info)])


@pytest.mark.parametrize("name", names())
def test_reset_classifier_and_head(name):
    m = small(name).eval()
    c, h, w = m.default_input
    x = torch.randn(3, c, h, w)
    m.reset_classifier(7)
    assert m.num_classes == 7
    with torch.no_grad():
        assert m(x).shape == (3, 7)
        pre = m.forward_head(m.forward_features(x), pre_logits=True)
    assert pre.shape == (3, m.num_features)
    assert isinstance(m.get_classifier(), nn.Linear) and m.get_classifier().out_features == 7
    m.reset_classifier(0)
    with torch.no_grad():
        assert m(x).shape == (3, m.num_features)


@pytest.mark.parametrize("name", names())
def test_state_dict_round_trips_through_safetensors(name, tmp_path):
    from app.models.weights import load_into, read_state_dict, save_checkpoint

    m = small(name).eval()
    m.reset_classifier(4)
    st, js = save_checkpoint(m, tmp_path / "ck", ModelSpec.make(name), dataset="digits", seed=3, accuracy=0.5)
    assert st.suffix == ".safetensors" and js.is_file()
    torch.manual_seed(123)
    m2 = create(name, **SMALL.get(name, {})).eval()
    load_into(m2, st)
    assert m2.num_classes == 4  # the head was adapted to the checkpoint's
    sd1, sd2 = m.state_dict(), m2.state_dict()
    assert sd1.keys() == sd2.keys() == read_state_dict(st).keys()
    for k in sd1:
        assert torch.equal(sd1[k], sd2[k]), k
    c, h, w = m.default_input
    x = torch.randn(2, c, h, w)
    with torch.no_grad():
        assert torch.equal(m(x), m2(x))


# --- architectures -----------------------------------------------------------------------------------------
def test_simple_options_and_strides():
    m = create("simple", in_channels=1, widths=(4, 8, 8), kernel_size=(5, 3, 3), stride=(1, 2, 1), pool="avg",
               activation="tanh", batchnorm=True, input_size=32)
    assert [i.stride for i in m.feature_info] == [2, 8, 8]
    x = torch.randn(1, 1, 32, 32)
    maps = m.forward_intermediates(x)
    assert [tuple(f.shape[2:]) for f in maps] == [(16, 16), (4, 4), (4, 4)]
    m2 = create("simple", widths=(4, 4), pool="none", activation="sign")
    assert [i.stride for i in m2.feature_info] == [1, 1]
    assert set(m2.forward_features(torch.randn(1, 3, 8, 8)).unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert list(m2.conv_layers()) == ["conv1", "conv2"]
    for bad in ({"activation": "gelu"}, {"pool": "median"}, {"widths": ()}, {"kernel_size": (3,), "widths": (2, 2)}):
        with pytest.raises(ValueError):
            create("simple", **bad)


def test_rdsn_chunked_extraction_equals_full_pass():
    m = create("rdsn", k=40, blocks=2, in_channels=3, seed=1)
    assert not any(p.requires_grad for p in m.parameters())
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        full = m.forward_head(m.forward_features(x), pre_logits=True)
        feats = m.forward_features(x)
    assert set(feats.unique().tolist()) <= {-1.0, 0.0, 1.0}  # signed
    for chunk in (1, 7, 40, 1000):
        assert torch.allclose(m.extract_pooled(x, chunk=chunk), full, atol=1e-6)
    g2 = m.extract_pooled(x, chunk=9, pool=2)
    assert g2.shape == (3, 40 * 4)
    with torch.no_grad():
        ref = torch.nn.functional.adaptive_avg_pool2d(feats, 2).flatten(1)
    assert torch.allclose(g2, ref, atol=1e-6)
    stem_only = m.extract_pooled(x, chunk=16, layer=0)
    assert stem_only.shape == (3, 40)
    # a 1-channel variant, a pooling grid in the constructor, deterministic weights per seed
    m1 = create("rdsn", k=8, blocks=1, in_channels=1, pool_grid=3, seed=1)
    assert m1.num_features == 8 * 9
    assert m1(torch.randn(2, 1, 32, 32)).shape == (2, 72)
    assert torch.equal(create("rdsn", k=8, seed=5).stem.weight, create("rdsn", k=8, seed=5).stem.weight)
    assert not torch.equal(create("rdsn", k=8, seed=5).stem.weight, create("rdsn", k=8, seed=6).stem.weight)
    with pytest.raises(ValueError):
        create("rdsn", in_channels=2)


def test_rdsn_chunk_size_bounds_memory():
    m = create("rdsn", k=100_000, blocks=1, chunk_bytes=64 * 2**20)
    x = torch.zeros(256, 3, 32, 32)
    c = m.chunk_size(x)
    assert 1 <= c < 100_000
    assert c * 256 * 32 * 32 * 4 * 3 <= 64 * 2**20


def test_resnet20_and_lenet5_key_names():
    r = create("resnet20")
    keys = set(r.state_dict())
    for k in ("conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer3.2.bn2.bias", "linear.weight",
              "linear.bias"):
        assert k in keys
    assert not any("shortcut" in k for k in keys)  # option A: no weights
    assert sum(p.numel() for p in r.parameters()) == 269_722
    le = create("lenet5")
    assert set(le.state_dict()) == {f"{p}.{s}" for p in ("convnet.c1", "convnet.c3", "convnet.c5", "fc.f6", "fc.f7")
                                    for s in ("weight", "bias")}


def test_resnet18_has_torchvision_names_and_size():
    m = create("resnet18")
    keys = set(m.state_dict())
    for k in ("conv1.weight", "bn1.num_batches_tracked", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
              "layer2.0.downsample.1.running_var", "layer4.1.bn2.weight", "fc.weight", "fc.bias"):
        assert k in keys
    assert "layer1.0.downsample.0.weight" not in keys
    assert sum(p.numel() for p in m.parameters()) == 11_689_512  # torchvision's resnet18 count
    assert m.feature_info[-1].stride == 32 and m.feature_info[-1].channels == 512


def test_lc_resnet20_random_frozen_and_learned_1x1():
    m = create("lc-resnet20", expansion=3)
    conv = m.layer2[0].conv1
    assert conv.conv.weight.shape == (32 * 3, 16, 3, 3) and not conv.conv.weight.requires_grad
    assert conv.lc.weight.shape == (32, 32 * 3, 1, 1) and conv.lc.weight.requires_grad
    from app.models.freeze import apply_freeze, mark_always_frozen

    mark_always_frozen(m)
    apply_freeze(m, ("all", "!all"))
    assert not conv.conv.weight.requires_grad  # the random 3x3 convs never train
    with pytest.raises(ValueError):
        create("lc-resnet20", expansion=0)


# --- init, freeze, counts ----------------------------------------------------------------------------------
@pytest.mark.parametrize("init", ["default", "kaiming", "gaussian", "gaussian:0.1", "uniform", "uniform:0.5",
                                  "signed-constant", "orthogonal"])
def test_initialisations(init):
    from app.models.build import build

    m = build(ModelSpec.make("simple", options={"widths": [16, 32]}, init=init, seed=1), device="cpu")
    w = m.blocks[1].conv.weight.detach()
    fan_in = w[0].numel()
    if init == "gaussian":
        assert abs(w.std().item() - 1.0) < 0.1
    elif init == "gaussian:0.1":
        assert abs(w.std().item() - 0.1) < 0.01
    elif init == "uniform:0.5":
        assert w.abs().max().item() <= 0.5 and w.abs().max().item() > 0.45
    elif init == "signed-constant":
        assert torch.allclose(w.abs(), torch.full_like(w, (2.0 / fan_in) ** 0.5))
    elif init == "orthogonal":
        flat = w.reshape(w.shape[0], -1)
        assert torch.allclose(flat @ flat.T, torch.eye(w.shape[0]), atol=1e-4)
    elif init == "kaiming":
        assert abs(w.std().item() - (2.0 / fan_in) ** 0.5) < 0.1 * (2.0 / fan_in) ** 0.5
    again = build(ModelSpec.make("simple", options={"widths": [16, 32]}, init=init, seed=1), device="cpu")
    assert torch.equal(again.blocks[1].conv.weight, m.blocks[1].conv.weight)  # seeded


def test_unknown_init_and_bad_options_are_clear():
    from app.models.build import BuildError, build

    with pytest.raises(ModelError, match="unknown initialisation"):
        build(ModelSpec.make("simple", init="magic"), device="cpu")
    with pytest.raises(BuildError, match="bad option"):
        build(ModelSpec.make("simple", options={"depth_of_field": 3}), device="cpu")
    with pytest.raises(BuildError, match="unknown backbone"):
        build(ModelSpec.make("vgg99"), device="cpu")


def test_freeze_groups_shortcuts_and_counts():
    from app.models.build import build
    from app.models.freeze import param_counts

    def trainable(spec_freeze, name="resnet20"):
        m = build(ModelSpec.make(name, freeze=tuple(spec_freeze)), device="cpu")
        return m, {n for n, p in m.named_parameters() if p.requires_grad}

    m, t = trainable(["only-bn"])
    assert t and all(".bn" in n or n.startswith("bn") for n in t)
    c = param_counts(m)
    assert c.trainable == sum(p.numel() for n, p in m.named_parameters() if "bn" in n)
    assert c.total == 269_722
    m, t = trainable(["only-1x1"], "lc-resnet20")
    assert t and all(n.endswith(".lc.weight") for n in t)
    m, t = trainable(["layer1", "head"])
    assert not any(n.startswith(("layer1.", "linear.")) for n in t) and "layer2.0.conv1.weight" in t
    m, t = trainable(["all", "!layer3.2"])
    assert t == {n for n, _ in m.named_parameters() if n.startswith("layer3.2.")}
    m, t = trainable(["layer*.conv1.weight"])
    assert "layer1.0.conv1.weight" not in t and "layer1.0.conv2.weight" in t
    m, t = trainable(["conv1"], "simple")
    assert "blocks.0.conv.weight" not in t and "blocks.1.conv.weight" in t
    with pytest.raises(ModelError, match="matches no parameter"):
        trainable(["layr1"])


def test_bank_goes_into_a_layer_and_its_frozen_kernels_count():
    from app.kernels.bank import KernelBank
    from app.models.build import BuildError, build
    from app.models.freeze import param_counts

    w = np.random.default_rng(0).normal(size=(8, 3, 3, 3)).astype(np.float32)
    bank = KernelBank(w, np.array([True] * 3 + [False] * 5))
    spec = ModelSpec(backbone="simple", options=(("widths", (8, 16)),), init="bank:edges", banks=(("conv1", bank),))
    m = build(spec, device="cpu")
    assert np.array_equal(m.blocks[0].conv.weight.detach().numpy(), w)
    c = param_counts(m)
    assert c.frozen == 3 * 27
    with pytest.raises(BuildError, match="shape"):
        build(ModelSpec(backbone="simple", options=(("widths", (4, 16)),), banks=(("conv1", bank),)), device="cpu")
    with pytest.raises(BuildError, match="no conv layer"):
        build(ModelSpec(backbone="simple", options=(("widths", (8, 16)),), banks=(("conv9", bank),)), device="cpu")


# --- build, input spec, preprocess ---------------------------------------------------------------------------
def test_build_is_seeded_and_leaves_global_rng_alone():
    from app.models.build import build

    torch.manual_seed(42)
    before = torch.rand(1)
    torch.manual_seed(42)
    a = build(ModelSpec.make("resnet20", seed=7), device="cpu")
    after = torch.rand(1)
    assert torch.equal(before, after)
    b = build(ModelSpec.make("resnet20", seed=7), device="cpu")
    c = build(ModelSpec.make("resnet20", seed=8), device="cpu")
    assert torch.equal(a.conv1.weight, b.conv1.weight) and not torch.equal(a.conv1.weight, c.conv1.weight)
    assert not a.training


def test_input_spec_and_preprocess():
    from app.models.inputs import InputSpec, Stats, input_spec, to_tensor

    s = input_spec(ModelSpec.make("simple", options={"in_channels": 1}))
    assert (s.channels, s.size, s.mean, s.std) == (1, None, (0.5,), (0.25,))
    assert s.source.startswith("random weights")
    assert input_spec(ModelSpec.make("lenet5")).size == (32, 32)
    from app.models.weights import KNOWN

    s = input_spec(ModelSpec.make("resnet20", weights="/somewhere/" + KNOWN["resnet20-cifar10"].filename))
    assert s == InputSpec(3, 32, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), source=s.source)
    s = input_spec(ModelSpec.make("lenet5", weights="/x/" + KNOWN["lenet5-mnist"].filename))
    assert (s.channels, s.size, s.mean, s.std) == (1, (32, 32), (0.1307,), (0.3081,))
    gray = np.full((2, 28, 28, 1), 255, np.uint8)
    x = to_tensor(gray, s)
    assert x.shape == (2, 1, 32, 32)
    assert torch.allclose(x, torch.full_like(x, (1 - 0.1307) / 0.3081), atol=1e-4)
    rgb = to_tensor(gray, input_spec(ModelSpec.make("simple"), stats=Stats((0.5,), (0.5,))))
    assert rgb.shape == (2, 3, 28, 28) and torch.allclose(rgb, torch.ones_like(rgb))
    back = to_tensor(np.zeros((1, 8, 8, 3), np.uint8), InputSpec(1, 16, (0.0, 0.0, 0.0), (1, 1, 1)))
    assert back.shape == (1, 1, 16, 16)


def test_default_specs_build_and_describe_their_input():
    from app.models.build import build
    from app.models.inputs import input_spec
    from app.models.zoo import default_specs

    specs = default_specs()
    labels = [s.label for s in specs]
    for want in ("rdsn (random)", "simple (random)", "resnet20 (random)", "simple (trained, MNIST)",
                 "simple (trained, CIFAR-10)"):
        assert want in labels
    for s in specs:
        m = build(s, device="cpu")
        ispec = input_spec(s, m)
        size = (ispec.size or (32, 32))[0]
        with torch.no_grad():
            out = m.forward_intermediates(torch.randn(1, ispec.channels, size, size), [0])
        assert out[0].shape[1] == m.feature_info[0].channels
        if s.weight_state == "trained":
            assert not ispec.source.startswith(("random", "no declared")) and m.num_classes == 10


def test_bench_rdsn_and_weights_list_commands(capsys):
    from app.cli import run

    assert run(["--threads", "1", "bench", "rdsn", "--k", "64", "--images", "4", "--batch", "2", "--grid", "2"]) == 0
    out = capsys.readouterr().out
    assert "features (4, 256)" in out and "peak RSS" in out
    assert run(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "resnet20-cifar10" in out and "lenet5-mnist" in out


def test_options_parsing():
    from app.cli import UserError
    from app.cliargs import parse_options

    assert parse_options(["widths=32,64", "batchnorm=true", "activation=sign", "k=1000", "stem=cifar"]) == {
        "widths": [32, 64], "batchnorm": True, "activation": "sign", "k": 1000, "stem": "cifar"}
    assert parse_options(['{"widths": [8], "pool": "avg"}', "seed=3"]) == {"widths": [8], "pool": "avg", "seed": 3}
    with pytest.raises(UserError):
        parse_options(["widths"])
