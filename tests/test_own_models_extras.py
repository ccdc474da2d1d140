"""Your own models (#16) through the optional extras: ONNX (``pip install .[onnx]``) and timm (``.[timm]``).

Skipped cleanly where the extra is not installed. Both extras import torchvision; where torchvision's compiled ops
cannot load beside this torch build (a CUDA torchvision wheel next to the CPU torch wheel raises "operator
torchvision::nms does not exist" on import), ``_usable_torchvision`` defines the two operator schemas that
torchvision's import registers fake kernels for, so its Python part imports. The ops themselves stay unavailable; no
model here uses them."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pytest
import torch

from app.cliargs import add_model_arguments
from app.errors import UserError
from app.models import external as ext
from app.models.build import build as build_registry
from app.models.build import create_model
from app.models.spec import ModelSpec
from app.models.spec_args import spec_from_args
from app.models.weights import save_checkpoint

_LIB = None


def _usable_torchvision() -> None:
    global _LIB
    try:
        import torchvision  # noqa: F401
    except ImportError:
        return
    except RuntimeError as exc:
        if "torchvision::" not in str(exc):
            return
        for k in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
            del sys.modules[k]
        _LIB = torch.library.Library("torchvision", "DEF")
        _LIB.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _LIB.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        try:
            import torchvision  # noqa: F401,F811
        except Exception:
            return


_usable_torchvision()


def _importable(name: str) -> bool:
    try:
        __import__(name)
        return True
    except Exception:
        return False


needs_onnx = pytest.mark.skipif(not (_importable("onnx") and _importable("onnx2torch")),
                                reason="the onnx extra (onnx, onnx2torch) is not installed or does not import")
needs_timm = pytest.mark.skipif(not _importable("timm"), reason="the timm extra is not installed or does not import")


def build(spec):
    return ext.build(spec, "cpu") if spec.backbone == ext.BACKBONE else build_registry(spec, "cpu")


def open_spec(*argv: str):
    p = argparse.ArgumentParser()
    add_model_arguments(p)
    return spec_from_args(p.parse_args(list(argv)))


def layer_list(model, names: bool = True):
    return [((i.name,) if names else ()) + (i.channels, i.stride, i.kind) for i in model.feature_info]


X = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
OPTS = {"in_channels": 1, "widths": [8, 16], "num_classes": 10, "input_size": 28, "batchnorm": False}


def small_cnn():
    torch.manual_seed(0)
    return create_model("simple", OPTS).eval()


def export_onnx(m, path, meta: dict | None = None):
    import onnx

    torch.onnx.export(m, (torch.zeros(1, 1, 28, 28),), str(path), dynamo=False, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    if meta is not None:
        proto = onnx.load(str(path))
        prop = proto.metadata_props.add()
        prop.key, prop.value = "filter_explorer", json.dumps(meta)
        onnx.save(proto, str(path))
    return path


@needs_onnx
def test_onnx_torchscript_and_state_dict_open_the_same(tmp_path):
    m = small_cnn()
    st, _ = save_checkpoint(m, tmp_path / "sd", ModelSpec.make("simple", options=OPTS))
    ts = tmp_path / "m.pt"
    torch.jit.save(torch.jit.trace(m, torch.zeros(1, 1, 28, 28)), str(ts))
    onnx_path = export_onnx(m, tmp_path / "m.onnx", {"channels": 1, "size": [28, 28], "mean": [0.1307],
                                                      "std": [0.3081]})
    a, b, c = (build(open_spec("--model", str(p))) for p in (st, ts, onnx_path))
    assert c.fmt == "onnx" and c.fe_spec.input.source == "model metadata (m.onnx)"
    assert c.fe_spec.input.mean == (0.1307,)
    assert c.fixed_input_size and c.default_input == (1, 28, 28)  # static H, W in the ONNX graph
    with torch.no_grad():
        ref = m(X)
        assert torch.allclose(a(X), ref, atol=1e-6) and torch.allclose(b(X), ref, atol=1e-6)
        assert torch.allclose(c(X), ref, atol=1e-5)
        # ONNX keeps no module hierarchy: its layers are the operators (no "block" outputs)
        ops = [t for t in layer_list(a, names=False) if t[2] != "block"]
        assert layer_list(c, names=False) == ops == [(8, 1, "conv"), (8, 1, "act"), (8, 2, "pool"), (16, 2, "conv"),
                                                      (16, 2, "act")]
        mine = [i for i, info in enumerate(a.feature_info) if info.kind != "block"]
        for u, v in zip(a.forward_intermediates(X, mine), c.forward_intermediates(X)):
            assert torch.allclose(u, v, atol=1e-5)
    assert c.classifier_name and c.num_classes == 10
    assert np.allclose(c.first_conv_bank().weights, m.blocks[0].conv.weight.detach().numpy())
    twin = build(ext.twin_spec(c.fe_spec, "default", 1))
    assert layer_list(twin) == layer_list(c)
    with torch.no_grad():
        assert not torch.allclose(twin(X), c(X))


@needs_onnx
def test_bad_onnx_files_are_named(tmp_path):
    p = tmp_path / "broken.onnx"
    p.write_bytes(b"\x08\x07\x12\xff\xff\xff garbage")
    with pytest.raises(UserError, match=r"broken.onnx: not a valid ONNX model"):
        open_spec("--model", str(p))
    p.write_text("just some text")
    with pytest.raises(UserError, match=r"broken.onnx: not (a valid|an) ONNX model.*a text file"):
        open_spec("--model", str(p))


@needs_timm
def test_timm_by_name_with_a_local_weights_file(tmp_path):
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = timm.create_model("resnet18", pretrained=False, num_classes=10).eval()
    w = tmp_path / "r18.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(w))
    meta = open_spec("--model", "timm:resnet18", "--weights", str(w))
    # timm's pretrained_cfg crop (crop_pct) is not made by the app's resize: the source says so
    assert meta.input.source.startswith("model metadata (timm:resnet18)")
    assert "crop_pct" not in meta.input.source or "centre-crops 224x224" in meta.input.source
    assert meta.input.size == (224, 224) and meta.input.mean == pytest.approx((0.485, 0.456, 0.406))
    spec = open_spec("--model", "timm:resnet18", "--weights", str(w), "--input-size", "64", "--input-preset",
                     "imagenet")
    model = build(spec)
    assert model.fmt == "timm" and spec.weights == str(w) and spec.weight_state == "trained"
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(model(x), net(x), atol=1e-6)
        names = [i.name for i in model.feature_info]
        assert names[:4] == ["conv1", "bn1", "act1", "maxpool"] and "layer4.1" in names
        maps = model.forward_intermediates(x, list(range(len(names))))
        assert all(t.shape[1] == i.channels for t, i in zip(maps, model.feature_info))
    assert model.classifier_name == "net.fc" and model.num_classes == 10
    assert model.first_conv_bank().shape == (64, 3, 7, 7)
    twin = build(open_spec("--model", "timm:resnet18", "--weights", str(w), "--init", "default",
                           "--input-size", "64", "--input-preset", "imagenet"))
    assert twin.fe_spec.weights is None and twin.fe_spec.weight_state == "random"
    assert not torch.equal(twin.first_conv()[1].weight, model.first_conv()[1].weight)


@needs_timm
def test_timm_errors_are_named(tmp_path):
    with pytest.raises(UserError, match=r"timm:resnet_nope: timm has no such model"):
        open_spec("--model", "timm:resnet_nope")
    w = tmp_path / "other.safetensors"
    save_checkpoint(small_cnn(), tmp_path / "other", ModelSpec.make("simple", options=OPTS))
    with pytest.raises(UserError, match=r"timm:resnet18: other.safetensors does not fit ResNet: missing keys"):
        open_spec("--model", "timm:resnet18", "--weights", str(w))


@needs_onnx
def test_onnx_resnet18_3ch_224_every_layer(tmp_path):
    torch.manual_seed(0)
    r18 = create_model("resnet18", {"num_classes": 10}).eval()
    p = tmp_path / "r18.onnx"
    torch.onnx.export(r18, (torch.zeros(1, 3, 224, 224),), str(p), dynamo=False, input_names=["x"],
                      dynamic_axes={"x": {0: "n"}})
    model = build(open_spec("--model", str(p)))
    assert model.default_input == (3, 224, 224) and model.fixed_input_size
    kinds = [i.kind for i in model.feature_info]
    assert kinds.count("conv") == 20 and "norm" not in kinds  # batch-norm folded into the convs by the exporter
    assert kinds.count("op") == 8  # the residual additions, one per block
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        maps = model.forward_intermediates(x, list(range(len(kinds))))
        assert [tuple(t.shape[1:]) for t in maps] == [t.shape for t in model.taps]
        assert torch.allclose(model(x), r18(x), atol=1e-4)
        assert torch.allclose(maps[-1], r18.forward_features(x), atol=1e-4)
    assert model.classifier_name and model.num_classes == 10


@needs_timm
def test_scripted_timm_model_has_the_eager_layers_and_maps(tmp_path):
    import timm

    torch.manual_seed(0)
    net = timm.create_model("mobilenetv3_small_050", pretrained=False, num_classes=7).eval()
    p = tmp_path / "mnv3.pt"
    torch.jit.save(torch.jit.script(net), str(p))  # helper script functions, control flow, in-place ops
    scripted = build(open_spec("--model", str(p), "--input-size", "96", "--input-preset", "imagenet"))
    eager = ext.ExternalBackbone(net, size=(96, 96))
    assert scripted.script and layer_list(scripted) == layer_list(eager) and len(eager.feature_info) > 100
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for u, v in zip(scripted.forward_intermediates(x), eager.forward_intermediates(x)):
            assert torch.equal(u, v)
        assert torch.equal(scripted(x), net(x))
    assert scripted.classifier_name == eager.classifier_name == "net.classifier"
