"""Models the user brings, an audit's findings (32): a checkpoint the app trained of such a model loads its own
weights (TorchScript, ONNX, timm; not wrapped twice), a state dict's sidecar input is its input (and its twin's),
metadata without mean / std is no input spec, an ONNX file with a static batch > 1 runs in chunks of that batch, a
torch.export archive is named, and the app's own known weights open as a model.

TorchScript models are built here (they run everywhere); ONNX and timm cases skip without those extras; the known
weights skip where ../shared is absent."""

from __future__ import annotations

import dataclasses
import json
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from app.models import external as ext
from app.models.build import build as build_any
from app.models.build import create_model, spec_from_checkpoint
from app.models.inputs import InputSpec, Stats, input_spec
from app.models.spec import ModelSpec
from app.models.weights import save_checkpoint
from app.tasks import run_to_end

META = {"channels": 1, "size": [8, 8], "mean": [0.5], "std": [0.25]}


class Tiny(nn.Module):
    """A 1-channel CNN of a few hundred parameters (any input size)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


class Fixed4(nn.Module):
    """A head that flattens with the batch fixed at 4 (as an ONNX export without a dynamic batch axis)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        return self.fc(x.reshape(4, -1))


class FlatN(nn.Module):
    """The same with ``x.view(x.size(0), -1)``, which ``torch.onnx.export`` fixes at the export batch."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        return self.fc(x.view(x.size(0), -1))


def save_script(m: nn.Module, path: Path, meta: dict | None = META) -> Path:
    extra = {"filter_explorer.json": json.dumps(meta)} if meta is not None else {}
    torch.jit.save(torch.jit.script(m.eval()), str(path), _extra_files=extra)
    return path


def same_state(model: nn.Module, saved: dict[str, torch.Tensor]) -> bool:
    own = model.state_dict()
    return set(own) == set(saved) and all(torch.equal(own[k].cpu(), saved[k]) for k in saved)


def perturbed(model: nn.Module) -> nn.Module:
    """``model`` with every floating-point parameter moved (a stand-in for training)."""
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
    return model


def onnx_extra():
    pytest.importorskip("onnx")
    pytest.importorskip("onnx2torch")


def export_onnx(m: nn.Module, x: torch.Tensor, path: Path, dynamic: bool = True) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m.eval(), x, str(path), input_names=["x"], output_names=["y"], opset_version=17,
                          dynamo=False, **({"dynamic_axes": {"x": {0: "n"}, "y": {0: "n"}}} if dynamic else {}))
    return path


# --- 1: a checkpoint the app trained of a model the user brought -------------------------------------------------
def test_a_trained_torchscript_model_reloads_with_its_trained_weights(tmp_path):
    from app.models.train import train
    from app.models.train_config import TrainConfig

    src = save_script(Tiny(), tmp_path / "tiny.pt")
    spec = ext.spec_for(src)
    cfg = TrainConfig(dataset="digits", epochs=1, lr=0.5, batch_size=32, train_limit=64, test_limit=32, val=0,
                      max_steps=2, out=str(tmp_path / "tiny_ft"))
    run_to_end(train(spec, cfg, device="cpu"))
    ckpt = tmp_path / "tiny_ft.safetensors"
    saved = load_file(str(ckpt))
    original = ext.build(spec, "cpu")
    assert not same_state(original, saved)  # the run changed the weights

    # eval --weights / train --resume: the sidecar's spec (the model file's architecture, the checkpoint's weights)
    for reloaded in (spec_from_checkpoint(ckpt), dataclasses.replace(spec, weights=str(ckpt), init="checkpoint")):
        model = build_any(reloaded, "cpu")
        assert same_state(model, saved)
    # eval --model tiny_ft.safetensors / Open model…: the same, not an ExternalBackbone inside another
    opened = ext.spec_for(ckpt)
    assert opened.kwargs["format"] == "torchscript" and opened.weights == str(ckpt)
    assert opened.input == spec_from_checkpoint(ckpt).input and opened.input.size == (8, 8)
    model = ext.build(opened, "cpu")
    assert same_state(model, saved) and not isinstance(model.net, ext.ExternalBackbone)
    x = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x)
        assert not torch.allclose(y, original(x))
        maps = model.forward_intermediates(x, [0])[0]
    assert y.shape == (5, 10) and maps.shape == (5, 8, 8, 8)
    # its random twin: the model file's architecture, re-initialised
    twin = ext.build(ext.twin_spec(opened, "default", 1), "cpu")
    assert set(twin.state_dict()) == set(saved) and not same_state(twin, saved)


def test_a_session_spec_of_the_checkpoint_as_a_state_dict_is_not_wrapped_twice(tmp_path):
    """What versions before the fix stored for ``--model tiny_ft.safetensors``: the checkpoint as a state dict."""
    src = save_script(Tiny(), tmp_path / "tiny.pt")
    spec = ext.spec_for(src)
    model = perturbed(ext.build(spec, "cpu"))
    ckpt, _ = save_checkpoint(model, tmp_path / "ft", spec, dataset="digits", input=spec.input)
    old = ModelSpec.make("external", options={"source": str(ckpt), "format": "state_dict"}, init="checkpoint",
                         weights=str(ckpt))
    built = ext.build(old, "cpu")
    assert not isinstance(built.net, ext.ExternalBackbone) and same_state(built, load_file(str(ckpt)))
    with torch.no_grad():
        assert built.forward_intermediates(torch.randn(2, 1, 8, 8), [0])[0].shape == (2, 8, 8, 8)


def test_a_trained_state_dict_model_reloads_with_its_trained_weights(tmp_path):
    """A state dict opened as "your model" (an ExternalBackbone around the registry backbone), trained, reopened."""
    opts = {"in_channels": 1, "widths": [4, 8], "num_classes": 10, "input_size": 16}
    st, _ = save_checkpoint(create_model("simple", opts), tmp_path / "simple", ModelSpec.make("simple", options=opts),
                            dataset="digits", input=InputSpec(1, (16, 16), (0.5,), (0.25,)))
    spec = ext.spec_for(st)
    model = perturbed(ext.build(spec, "cpu"))
    ckpt, _ = save_checkpoint(model, tmp_path / "ft", spec, dataset="digits", input=spec.input)
    saved = load_file(str(ckpt))
    for reloaded in (spec_from_checkpoint(ckpt), ext.spec_for(ckpt)):
        built = build_any(reloaded, "cpu")
        assert same_state(built, saved) and not isinstance(built.net, ext.ExternalBackbone)


def test_a_checkpoint_whose_model_file_is_gone_says_so(tmp_path):
    src = save_script(Tiny(), tmp_path / "tiny.pt")
    spec = ext.spec_for(src)
    ckpt, _ = save_checkpoint(ext.build(spec, "cpu"), tmp_path / "ft", spec, dataset="digits")
    src.unlink()
    with pytest.raises(ext.ModelFileError, match=r"ft.safetensors: a checkpoint of the model in .*tiny.pt, which "
                                                 r"is not there"):
        ext.spec_for(ckpt)


def test_a_trained_onnx_model_reloads_with_its_trained_weights(tmp_path):
    onnx_extra()
    src = export_onnx(Tiny(), torch.zeros(1, 1, 8, 8), tmp_path / "tiny.onnx")
    spec = ext.spec_for(src, declared=InputSpec(1, (8, 8), (0.5,), (0.25,), source="declared"))
    model = perturbed(ext.build(spec, "cpu"))
    ckpt, _ = save_checkpoint(model, tmp_path / "ft", spec, dataset="digits", input=spec.input)
    saved = load_file(str(ckpt))
    for reloaded in (spec_from_checkpoint(ckpt), ext.spec_for(ckpt)):
        built = build_any(reloaded, "cpu")
        assert same_state(built, saved) and not isinstance(built.net, ext.ExternalBackbone)
        x = torch.randn(3, 1, 8, 8)
        with torch.no_grad():
            assert torch.allclose(built(x), model(x), atol=1e-6)


def test_a_trained_timm_model_reloads_with_its_trained_weights(tmp_path):
    timm = pytest.importorskip("timm")
    net = timm.create_model("test_resnet", pretrained=False, num_classes=5).eval()
    w = tmp_path / "tr.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(w))
    spec = ext.spec_for("timm:test_resnet", w)
    model = ext.build(spec, "cpu")
    torch.manual_seed(3)
    model.reset_classifier(10)  # as training on a 10-class dataset does
    perturbed(model)
    ckpt, _ = save_checkpoint(model, tmp_path / "ft", spec, dataset="digits", input=spec.input)
    saved = load_file(str(ckpt))
    for reloaded in (spec_from_checkpoint(ckpt), dataclasses.replace(spec, weights=str(ckpt)), ext.spec_for(ckpt)):
        built = build_any(reloaded, "cpu")
        assert same_state(built, saved) and built.num_classes == 10
    twin = ext.twin_spec(ext.spec_for(ckpt), "default", 0)  # the twin has the checkpoint's classifier
    assert dict(twin.options)["num_classes"] == 10 and ext.build(twin, "cpu").num_classes == 10


def test_a_checkpoint_that_does_not_fit_the_model_file_names_both(tmp_path):
    src = save_script(Tiny(), tmp_path / "tiny.pt")
    spec = ext.spec_for(src)
    ckpt, _ = save_checkpoint(ext.build(spec, "cpu"), tmp_path / "ft", spec, dataset="digits")
    state = load_file(str(ckpt))
    state["net.conv.weight"] = torch.zeros(4, 1, 3, 3)
    save_file(state, str(ckpt))
    with pytest.raises(ext.ModelFileError, match=r"ft.safetensors: its weights do not fit the model in tiny.pt .*"
                                                 r"wrong shape: net.conv.weight"):
        build_any(spec_from_checkpoint(ckpt), "cpu")


# --- 2: a state dict's own sidecar input ---------------------------------------------------------------------------
def test_a_state_dict_with_a_sidecar_keeps_its_input_and_its_twin_too(tmp_path):
    from app.models.external.opened import peek_task

    opts = {"in_channels": 3, "widths": [4, 8], "num_classes": 10, "input_size": 32}
    trained = ModelSpec.make("simple", options=opts)
    inp = InputSpec(3, (32, 32), (0.4, 0.45, 0.5), (0.2, 0.21, 0.22), source="x")
    st, _ = save_checkpoint(create_model("simple", opts), tmp_path / "simple_c10", trained, dataset="cifar10",
                            input=inp)
    spec = ext.spec_for(st)
    assert spec.kwargs["format"] == "state_dict"
    assert spec.input is not None and spec.input.with_(source="") == inp.with_(source="")
    assert spec.input.source == "sidecar: as trained on cifar10"
    assert run_to_end(peek_task(str(st))).spec.input == spec.input  # the GUI does not ask
    twin = ext.twin_spec(spec, "default", 3)
    assert twin.input == spec.input  # docs/own-models.md: the twin keeps the trained model's input spec
    model = ext.build(twin, "cpu")
    assert input_spec(twin, model, Stats((0.13,), (0.31,), "mnist")).with_(source="") == inp.with_(source="")


def test_the_bundled_simple_cifar10_state_dict_has_its_sidecar_input():
    path = Path(__file__).resolve().parent.parent / "resources" / "models" / "simple_cifar10.safetensors"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    spec = ext.spec_for(path)
    assert spec.input == spec_from_checkpoint(path).input and spec.input.size == (32, 32)


# --- 3: metadata without mean / std ----------------------------------------------------------------------------
def test_metadata_without_mean_and_std_is_no_input_spec(tmp_path):
    from app.models.external.opened import peek_task
    from app.models.inputs import NEUTRAL_MEAN

    p = save_script(Tiny(), tmp_path / "part.pt", {"channels": 1, "size": [16, 16]})
    spec = ext.spec_for(p)
    assert spec.input is None  # not the neutral (0.5, 0.25) labelled as the file's
    peek = run_to_end(peek_task(str(p)))
    assert peek.spec.input is None and peek.size == (16, 16) and peek.channels == 1  # the GUI asks, prefilled
    model = ext.build(spec, "cpu")
    assert model.default_input == (1, 16, 16)  # the metadata's shape still holds
    ispec = input_spec(spec, model, Stats((0.2,), (0.3,), "digits"))
    assert ispec.size == (16, 16) and ispec.mean == (0.2,) and ispec.std == (0.3,) and ispec.mean != (NEUTRAL_MEAN,)
    assert ispec.source == ("no declared input: dataset statistics (digits); size 16x16 from model metadata "
                            "(part.pt), which gives no mean / std")


def test_the_gui_prefills_the_size_of_metadata_without_a_normalisation(tmp_path):
    from widgets.models.open_model import peek_prefill

    p = save_script(Tiny(), tmp_path / "part.pt", {"channels": 1, "size": [16, 16]})
    peek, prefill = run_to_end(peek_prefill(str(p), None, True))
    assert peek.spec.input is None and prefill is not None and prefill.size == (16, 16)


def test_metadata_with_a_mean_and_no_std_names_the_missing_key(tmp_path):
    p = save_script(Tiny(), tmp_path / "half.pt", {"channels": 1, "size": [16, 16], "mean": [0.5]})
    with pytest.raises(ext.ModelFileError, match=r"half.pt: the input spec in its metadata gives 'mean' but no "
                                                 r"'std'"):
        ext.spec_for(p)
    declared = InputSpec(1, (16, 16), (0.1,), (0.2,), source="declared")  # a declared input does not need it
    assert ext.build(ext.spec_for(p, declared=declared), "cpu").input_meta == declared


def test_onnx_flat_metadata_with_only_channels_is_no_input_spec(tmp_path):
    onnx_extra()
    import onnx

    p = export_onnx(Tiny(), torch.zeros(1, 1, 8, 8), tmp_path / "flat.onnx")
    proto = onnx.load(str(p))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "channels", "1"
    onnx.save(proto, str(p))
    assert ext.spec_for(p).input is None


# --- 4: a static batch larger than one ----------------------------------------------------------------------------
def test_a_model_with_a_fixed_batch_of_four_runs_in_chunks_of_four():
    net = torch.jit.script(Fixed4().eval())
    model = ext.ExternalBackbone(net, fmt="onnx", label="b4", channels=3, size=(16, 16), batch=4)
    for n in (1, 3, 4, 6, 9):
        x = torch.randn(n, 3, 16, 16, generator=torch.Generator().manual_seed(n))
        pad = torch.cat([x, x[-1:].expand(-(-n // 4) * 4 - n, 3, 16, 16)])
        with torch.no_grad():
            want = torch.cat([net(pad[i:i + 4]) for i in range(0, len(pad), 4)])[:n]
            y = model(x)
            maps = model.forward_intermediates(x, [0])
            conv = torch.cat([net.conv(pad[i:i + 4]) for i in range(0, len(pad), 4)])[:n]
        assert y.shape == (n, 10) and torch.allclose(y, want, atol=1e-6)
        assert maps[0].shape == (n, 4, 16, 16) and torch.allclose(maps[0], conv, atol=1e-6)
        # each image's output is its own: the same as in a chunk of four copies of it
        with torch.no_grad():
            alone = net(x[:1].expand(4, 3, 16, 16))[:1]
        assert torch.allclose(y[:1], alone, atol=1e-5)


def test_an_onnx_file_exported_with_a_batch_of_four_opens_and_runs(tmp_path):
    onnx_extra()
    m = FlatN().eval()
    p = export_onnx(m, torch.randn(4, 3, 16, 16), tmp_path / "b4.onnx", dynamic=False)
    model = ext.build(ext.spec_for(p), "cpu")
    assert model.batch == 4 and model.default_input == (3, 16, 16)
    for n in (1, 3, 4, 6):
        x = torch.randn(n, 3, 16, 16)
        with torch.no_grad():
            assert torch.allclose(model(x), m(x), atol=1e-5)


# --- 5: torch.export archives ---------------------------------------------------------------------------------
def test_a_torch_export_archive_is_named(tmp_path):
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
    ep = torch.export.export(m, (torch.randn(1, 3, 16, 16),))
    for name in ("net.pt2", "net.pt"):
        p = tmp_path / name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.export.save(ep, str(p))
        assert zipfile.is_zipfile(p)
        with pytest.raises(ext.ModelFileError, match=rf"{name}: a torch.export archive \(an ExportedProgram .*"
                                                     r"torch.jit.save.* ONNX"):
            ext.spec_for(p)


def test_a_plain_zip_is_still_a_zip(tmp_path):
    p = tmp_path / "x.pt"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("a/readme.txt", "hello")
    with pytest.raises(ext.ModelFileError, match=r"x.pt: not a model file: it is a zip archive of 1 entries"):
        ext.detect(p)


# --- 6: the app's own known weights -------------------------------------------------------------------------------
@pytest.mark.parametrize("filename, backbone, size", [("lenet5_mnist.pt", "lenet5", 32),
                                                      ("resnet20_cifar10-12fca82f.th", "resnet20", 32)])
def test_known_weights_open_as_a_model(shared, filename, backbone, size):
    path = shared("weights", filename)
    spec = ext.spec_for(path)
    assert spec.kwargs["format"] == "state_dict" and spec.weights == str(path)
    assert spec.input is not None and spec.input.size == (size, size)
    assert spec.input.source.startswith("known weights: ")
    model = ext.build(spec, "cpu")
    ref = build_any(spec_from_checkpoint(path), "cpu")
    assert type(model.net).__name__ == type(ref).__name__ and backbone in spec_from_checkpoint(path).backbone
    x = torch.randn(2, spec.input.channels, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(model(x), ref(x), atol=1e-5)
