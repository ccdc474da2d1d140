"""Your own models (#16): TorchScript, state dicts, layer discovery, random twin, input spec, --model, bad files.

ONNX and timm (optional extras) are tested in ``test_own_models_extras.py``."""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from app.cliargs import add_model_arguments
from app.errors import AppError, UserError
from app.models import external as ext
from app.models.build import build as build_registry
from app.models.build import create_model
from app.models.inputs import Stats, input_spec, to_tensor
from app.models.spec_args import spec_from_args
from app.models.weights import save_checkpoint


def build(spec):
    """The integration point the lead wires into app.models.build.build (same dispatch)."""
    return ext.build(spec, "cpu") if spec.backbone == ext.BACKBONE else build_registry(spec, "cpu")


def args_for(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_model_arguments(p)
    p.add_argument("--freeze", nargs="*", default=None)
    return p.parse_args(list(argv))


def open_model(*argv: str):
    return build(spec_from_args(args_for(*argv)))


def layer_list(model):
    return [(i.name, i.channels, i.stride, i.kind) for i in model.feature_info]


def small_cnn(batchnorm: bool, seed: int = 0):
    torch.manual_seed(seed)
    m = create_model("simple", {"in_channels": 1, "widths": [8, 16], "num_classes": 10, "input_size": 28,
                                "batchnorm": batchnorm}).eval()
    if batchnorm:  # non-trivial running statistics, as a trained model has
        with torch.no_grad():
            for mod in m.modules():
                if isinstance(mod, nn.BatchNorm2d):
                    mod.running_mean.uniform_(-0.5, 0.5)
                    mod.running_var.uniform_(0.5, 2.0)
    return m


def save_three(m, tmp_path: Path, meta: dict | None = None) -> dict[str, Path]:
    """The same model as a state dict (+ JSON sidecar), a traced and a scripted TorchScript file."""
    from app.models.spec import ModelSpec

    spec = ModelSpec.make("simple", options={"in_channels": 1, "widths": [8, 16], "num_classes": 10,
                                             "input_size": 28, "batchnorm": any(isinstance(x, nn.BatchNorm2d)
                                                                               for x in m.modules())})
    st, _ = save_checkpoint(m, tmp_path / "sd", spec, dataset="digits")
    extra = {"filter_explorer.json": json.dumps(meta)} if meta else {}
    traced = tmp_path / "traced.pt"
    torch.jit.save(torch.jit.trace(m, torch.zeros(1, 1, 28, 28)), str(traced), _extra_files=extra)
    return {"state_dict": st, "torchscript": traced}


X = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("batchnorm", [False, True])
def test_state_dict_and_torchscript_open_the_same_through_one_path(tmp_path, batchnorm):
    m = small_cnn(batchnorm)
    files = save_three(m, tmp_path)
    a = open_model("--model", str(files["state_dict"]))
    b = open_model("--model", str(files["torchscript"]))
    assert a.fmt == "state_dict" and b.fmt == "torchscript" and b.script
    with torch.no_grad():
        ref = m(X)
        assert torch.allclose(a(X), ref, atol=1e-6) and torch.allclose(b(X), ref, atol=1e-6)
        assert layer_list(a) == layer_list(b)
        names = [n for n, *_ in layer_list(a)]
        want = ["blocks.0.conv", "blocks.0.act", "blocks.0.pool", "blocks.0", "blocks.1.conv", "blocks.1.act",
                "blocks.1"]
        if batchnorm:
            want = ["blocks.0.conv", "blocks.0.bn", "blocks.0.act", "blocks.0.pool", "blocks.0", "blocks.1.conv",
                    "blocks.1.bn", "blocks.1.act", "blocks.1"]
        assert names == want
        fa, fb = a.forward_intermediates(X), b.forward_intermediates(X)
        for u, v in zip(fa, fb):
            assert torch.allclose(u, v, atol=1e-6)
        # the last block's map is the registry backbone's last stage
        assert torch.allclose(fa[-1], m.forward_intermediates(X, [1])[0], atol=1e-6)
    assert a.classifier_name == b.classifier_name == "net.head"
    assert a.num_classes == b.num_classes == 10 and a.num_features == b.num_features == 16
    assert a.default_input == b.default_input == (1, 28, 28)
    assert torch.allclose(b.forward_head(b.forward_features(X)), m(X), atol=1e-5)


class Shared(nn.Module):
    """One ReLU module called twice, and an in-place ReLU after a batch-norm."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(6)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(6, 6, 3, stride=2, padding=1)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.conv2(x))
        return self.fc(x.mean((2, 3)))


def test_shared_module_calls_and_in_place_ops_eager_and_scripted(tmp_path):
    torch.manual_seed(0)
    m = Shared().eval()
    with torch.no_grad():
        m.bn1.running_mean.fill_(0.3)
    path = tmp_path / "shared.ts"
    torch.jit.save(torch.jit.script(m), str(path))
    eager = ext.ExternalBackbone(m, size=(32, 32))
    scripted = open_model("--model", str(path))
    want = [("conv1", 6, 1, "conv"), ("bn1", 6, 1, "norm"), ("relu", 6, 1, "act"), ("conv2", 6, 2, "conv"),
            ("relu#2", 6, 2, "act")]
    assert layer_list(eager) == want
    assert layer_list(scripted) == want
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        bn_out = m.bn1(m.conv1(x))  # before the in-place ReLU
        for model in (eager, scripted):
            maps = model.forward_intermediates(x, [1, 2, 4], stop_early=False)
            assert torch.allclose(maps[0], bn_out, atol=1e-6)
            assert (maps[0] < 0).any()  # not overwritten by the in-place ReLU that follows
            assert torch.allclose(maps[1], bn_out.clamp(min=0), atol=1e-6)
            assert maps[2].shape == (2, 6, 16, 16)
            assert torch.equal(model.forward_intermediates(x, [1])[0], maps[0])  # stop early: same map
            assert torch.allclose(model(x), m(x), atol=1e-6)
    assert eager.classifier_name == scripted.classifier_name == "net.fc"


def test_forward_intermediates_every_layer_1ch_28_and_3ch_224(tmp_path):
    m1 = small_cnn(True)
    p1 = tmp_path / "one.pt"
    torch.jit.save(torch.jit.trace(m1, torch.zeros(1, 1, 28, 28)), str(p1))
    torch.manual_seed(0)
    r18 = create_model("resnet18", {}).eval()
    p3 = tmp_path / "r18.pth"
    torch.save(r18.state_dict(), str(p3))  # torchvision's format
    for path, shape in ((p1, (1, 28, 28)), (p3, (3, 224, 224))):
        model = open_model("--model", str(path))
        assert model.default_input == shape
        x = torch.randn(1, *shape, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            maps = model.forward_intermediates(x, list(range(len(model.feature_info))))
        assert len(maps) == len(model.feature_info) > 5
        for info, t in zip(model.feature_info, maps):
            assert t.shape[1] == info.channels and t.shape[2] == round(shape[1] / info.stride)
    names = [i.name for i in model.feature_info]
    assert names[:4] == ["conv1", "bn1", "relu", "maxpool"] and names[-1] == "layer4.1" and "layer4.1.relu#2" in names


def _digits(n_train=200, n_test=100):
    from app.data.core import load_digits

    tr, te = load_digits("train"), load_digits("test")
    return tr.images[:n_train], tr.labels[:n_train], te.images[:n_test], te.labels[:n_test]


def _ridge_predict(ftr, ytr, fte) -> np.ndarray:
    """A linear head (closed-form ridge on standardised features) -> test predictions."""
    mu, sd = ftr.mean(0), ftr.std(0) + 1e-6
    a, b = (ftr - mu) / sd, (fte - mu) / sd
    a = torch.cat([a, torch.ones(len(a), 1, dtype=a.dtype)], 1)
    b = torch.cat([b, torch.ones(len(b), 1, dtype=b.dtype)], 1)
    y = torch.nn.functional.one_hot(torch.as_tensor(ytr, dtype=torch.long), 10).to(a.dtype)
    w = torch.linalg.solve(a.T @ a + 1.0 * torch.eye(a.shape[1], dtype=a.dtype), a.T @ y)
    return (b @ w).argmax(1).numpy()


def test_torchvision_resnet18_state_dict_and_its_torchscript_give_the_same_features_and_top1(tmp_path):
    torch.manual_seed(3)
    r18 = create_model("resnet18", {}).eval()
    sd_path = tmp_path / "resnet18-tv.pth"
    torch.save(r18.state_dict(), str(sd_path))
    ts_path = tmp_path / "resnet18.pt"
    torch.jit.save(torch.jit.trace(r18, torch.zeros(1, 3, 32, 32)), str(ts_path))
    declare = ("--input-size", "32", "--input-preset", "imagenet")
    a = open_model("--model", str(sd_path), *declare)
    b = open_model("--model", str(ts_path), *declare)
    registry = build(spec_from_args(args_for("--backbone", "resnet18", "--weights", str(sd_path), *declare)))
    assert a.fe_spec.input.source == "declared" and a.fe_spec.input.size == (32, 32)
    assert layer_list(a) == layer_list(b)
    xtr, ytr, xte, yte = _digits()
    ispec = a.fe_spec.input
    with torch.no_grad():
        few = to_tensor(xte[:16], ispec)
        for u, v in zip(a.forward_intermediates(few), b.forward_intermediates(few)):  # every layer: the same maps
            assert torch.allclose(u, v, atol=1e-5, rtol=1e-5)
        preds = []
        for model in (a, b):
            ftr = model.forward_intermediates(to_tensor(xtr, ispec), [-1])[0].mean((2, 3)).double()
            fte = model.forward_intermediates(to_tensor(xte, ispec), [-1])[0].mean((2, 3)).double()
            preds.append(_ridge_predict(ftr, ytr, fte))
        last = registry.forward_intermediates(to_tensor(xte, ispec), [-1])[0]
        assert torch.allclose(last.mean((2, 3)).double(), fte, atol=1e-5)  # = the registry backbone's last stage
    assert np.array_equal(preds[0], preds[1])  # the same top-1, sample by sample
    assert len(set(preds[0].tolist())) > 3  # and not a degenerate head


def test_random_twin_same_architecture_new_seeded_weights(tmp_path):
    m = small_cnn(True)
    files = save_three(m, tmp_path)
    for path in files.values():
        trained = open_model("--model", str(path))
        t1 = open_model("--model", str(path), "--init", "default", "--model-seed", "3")
        t2 = build(ext.twin_spec(trained.fe_spec, "default", 3))
        t3 = build(ext.twin_spec(trained.fe_spec, "default", 4))
        tk = build(ext.twin_spec(trained.fe_spec, "kaiming", 3))
        assert t1.fe_spec.weight_state == "random" and t1.fe_spec.weights is None
        assert "random twin" in t1.fe_spec.label
        assert layer_list(t1) == layer_list(trained)
        sd = {k: v for k, v in t1.state_dict().items()}
        assert all(torch.equal(v, t2.state_dict()[k]) for k, v in sd.items())  # seeded
        assert not torch.equal(t1.first_conv()[1].weight, t3.first_conv()[1].weight)
        assert not torch.equal(t1.first_conv()[1].weight, trained.first_conv()[1].weight)
        assert not torch.equal(t1.first_conv()[1].weight, tk.first_conv()[1].weight)
        assert t1.untouched_by_init == []
        with torch.no_grad():
            bns = [mod for p, mod in t1.net.named_modules() if p.endswith(".bn")]
            assert bns and all(torch.equal(b.running_mean, torch.zeros(b.running_mean.shape)) for b in bns)
            assert not torch.allclose(t1(X), trained(X))
        w = tk.first_conv()[1].weight
        assert abs(float(w.std()) - (2.0 / 9) ** 0.5) < 0.15  # He normal, fan-in 1x3x3
    again = open_model("--model", str(files["torchscript"]))  # the file itself is untouched
    with torch.no_grad():
        assert torch.allclose(again(X), m(X), atol=1e-6)


def test_first_conv_becomes_a_kernel_bank_or_says_why_not(tmp_path):
    m = small_cnn(False)
    model = open_model("--model", str(save_three(m, tmp_path)["torchscript"]))
    bank = model.first_conv_bank()
    assert bank.shape == (8, 1, 3, 3)
    assert np.array_equal(bank.weights, m.blocks[0].conv.weight.detach().numpy())
    big = torch.jit.script(nn.Sequential(nn.Conv2d(1, 2, 17, padding=8), nn.ReLU()))
    p = tmp_path / "big.pt"
    torch.jit.save(big, str(p))
    with pytest.raises(AppError, match=r"17x17 kernels.*at most 15x15"):
        open_model("--model", str(p)).first_conv_bank()


def test_input_spec_from_metadata_declared_or_dataset(tmp_path):
    m = small_cnn(False)
    meta = {"channels": 1, "size": [28, 28], "mean": [0.1307], "std": [0.3081]}
    files = save_three(m, tmp_path, meta)
    spec = spec_from_args(args_for("--model", str(files["torchscript"])))
    assert spec.input.mean == (0.1307,) and spec.input.size == (28, 28)
    assert spec.input.source == "model metadata (traced.pt)"
    declared = spec_from_args(args_for("--model", str(files["torchscript"]), "--input-preset", "imagenet"))
    assert declared.input.source == "declared; size from model metadata (traced.pt)"  # the size the file fixes
    assert declared.input.size == (28, 28) and declared.input.channels == 1  # the model's channels, luma stats
    assert declared.input.mean == pytest.approx((0.299 * 0.485 + 0.587 * 0.456 + 0.114 * 0.406,), abs=1e-6)
    plain = spec_from_args(args_for("--model", str(files["state_dict"])))
    assert plain.input is None
    model = build(plain)
    ispec = input_spec(plain, model, Stats((0.5,), (0.5,), "digits"))
    assert ispec.channels == 1 and ispec.size is None and ispec.mean == (0.5,)
    assert ispec.source == "no declared input: dataset statistics (digits)"
    rgb = np.random.default_rng(0).integers(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    x = to_tensor(rgb, spec.input)  # a 1-channel model gets grey input at its size
    assert x.shape == (2, 1, 28, 28)
    assert build(spec)(x).shape == (2, 10)


def test_bad_metadata_is_named(tmp_path):
    m = small_cnn(False)
    p = tmp_path / "badmeta.pt"
    torch.jit.save(torch.jit.trace(m, torch.zeros(1, 1, 28, 28)), str(p),
                   _extra_files={"filter_explorer.json": "{oops"})
    with pytest.raises(UserError, match=r"badmeta.pt.*filter_explorer.json is not valid JSON"):
        spec_from_args(args_for("--model", str(p)))
    torch.jit.save(torch.jit.trace(m, torch.zeros(1, 1, 28, 28)), str(p),
                   _extra_files={"filter_explorer.json": json.dumps({"channels": 1, "mean": [0.5], "std": [0]})})
    with pytest.raises(UserError, match=r"badmeta.pt.*input spec in its metadata is not usable.*std must be positive"):
        spec_from_args(args_for("--model", str(p)))


class Boom:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_files_that_are_not_models_get_a_clear_message(tmp_path):
    cases = {
        "photo.png": (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "a PNG image"),
        "notes.pt": (b"hello, these are notes\n", "a text file"),
        "empty.pth": (b"", "an empty file"),
        "noise.bin": (bytes(range(7, 200)), "bytes of unrecognised data"),
    }
    for name, (data, what) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(UserError, match=rf"{name}: not a model file: it is .*{what}"):
            spec_from_args(args_for("--model", str(tmp_path / name)))
    z = tmp_path / "archive.pt"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("readme.txt", "x")
    with pytest.raises(UserError, match=r"archive.pt: not a model file: it is a zip archive of 1 entries"):
        spec_from_args(args_for("--model", str(z)))
    with pytest.raises(UserError, match=r"nothere.pt: no such file"):
        spec_from_args(args_for("--model", str(tmp_path / "nothere.pt")))


def test_pickled_code_is_refused_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    p = tmp_path / "model.pt"
    torch.save({"model": Boom(str(marker))}, str(p))
    legacy = tmp_path / "legacy.pth"
    with open(legacy, "wb") as f:
        pickle.dump(Boom(str(marker)), f, protocol=2)
    for path in (p, legacy):
        with pytest.raises(UserError, match=rf"{path.name}.*(refused|not a readable)"):
            spec_from_args(args_for("--model", str(path)))
    assert not marker.exists()
    whole = tmp_path / "whole.pt"
    torch.save(small_cnn(False), str(whole))  # torch.save(model): a pickled nn.Module
    with pytest.raises(UserError, match=r"whole.pt: refused.*torch.jit.save\(torch.jit.script\(model\), FILE\)"):
        spec_from_args(args_for("--model", str(whole)))


def test_state_dict_of_unknown_architecture_says_how_to_open_it(tmp_path):
    p = tmp_path / "mystery.pth"
    torch.save(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).state_dict(), str(p))
    with pytest.raises(UserError, match=r"mystery.pth: holds only weights \(a state dict of 2 tensors: 0.weight, "
                                        r"0.bias\).*--backbone NAME --weights FILE"):
        spec_from_args(args_for("--model", str(p)))


def test_model_argument_conflicts(tmp_path):
    p = save_three(small_cnn(False), tmp_path)["torchscript"]
    with pytest.raises(UserError, match="either --model or --backbone"):
        spec_from_args(args_for("--model", str(p), "--backbone", "simple"))
    with pytest.raises(UserError, match=r"--weights is for --model timm:NAME; traced.pt is a torchscript file"):
        spec_from_args(args_for("--model", str(p), "--weights", str(p)))
    with pytest.raises(UserError, match="--options sets a registry backbone's options"):
        spec_from_args(args_for("--model", str(p), "--options", "widths=3"))


def test_missing_extras_say_which_to_install(tmp_path, monkeypatch):
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"\x08\x07")
    monkeypatch.setitem(sys.modules, "onnx2torch", None)  # as if not installed
    with pytest.raises(UserError, match=r"ONNX files need the onnx extra: pip install \.\[onnx\]"):
        spec_from_args(args_for("--model", str(onnx_file)))
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(UserError, match=r"timm models need the timm extra: pip install \.\[timm\]"):
        spec_from_args(args_for("--model", "timm:resnet18"))


def test_spec_round_trips_and_builds_the_same(tmp_path):
    from app.models.spec import ModelSpec

    spec = spec_from_args(args_for("--model", str(save_three(small_cnn(True), tmp_path)["torchscript"])))
    again = ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    with torch.no_grad():
        assert torch.equal(build(again)(X), build(spec)(X))
    frozen = build(spec_from_args(args_for("--model", str(tmp_path / "sd.safetensors"), "--freeze", "conv")))
    assert not frozen.net.blocks[0].conv.weight.requires_grad and frozen.net.head.weight.requires_grad


def test_weights_required_accepts_model_instead(tmp_path):
    p = argparse.ArgumentParser()
    add_model_arguments(p, weights_required=True)
    with pytest.raises(UserError, match=r"give --weights FILE \(a checkpoint\) or --model FILE"):
        spec_from_args(p.parse_args([]))
    path = save_three(small_cnn(False), tmp_path)["torchscript"]
    assert spec_from_args(p.parse_args(["--model", str(path)])).backbone == ext.BACKBONE


def test_architecture_rows_for_a_tree_view(tmp_path):
    m = small_cnn(True)
    for path in save_three(m, tmp_path).values():
        model = open_model("--model", str(path))
        rows = {r.path: r for r in model.architecture()}
        assert rows[""].depth == 0 and rows[""].params == sum(p.numel() for p in m.parameters())
        conv = rows["blocks.0.conv"]
        assert (conv.type, conv.depth, conv.params, conv.shape) == ("Conv2d", 3, 8 * 9, (8, 28, 28))
        assert model.feature_info[conv.tap].name == "blocks.0.conv"
        assert rows["blocks"].tap is None and rows["head"].shape is None  # a container; the 2-D classifier
