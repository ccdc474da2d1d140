"""Opening external models, an audit's findings (TorchScript, ONNX, timm, the random twin): the twin can be probed,
keeps the input spec and the architecture, a declared normalisation keeps the file's size, the metadata is re-read
from a changed file, the twin's feature cache follows the file's content, a stray ``X.json`` is not a sidecar, a
model's forward errors are the app's messages, filter statistics and the classifier of TorchScript models, and the
messages that pointed the wrong way.

TorchScript models are built here (they run everywhere); ONNX and timm cases skip without those extras."""

from __future__ import annotations

import argparse
import builtins
import json
import os
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn

from app.cliargs import add_model_arguments
from app.models import external as ext
from app.models.base import ModelError
from app.models.inputs import dataset_stats, input_spec
from app.models.spec import ModelSpec
from app.models.spec_args import spec_from_args

META = {"channels": 1, "size": [16, 16], "mean": [0.5], "std": [0.5]}


class Net(nn.Module):
    """A tiny fully convolutional classifier (any input size)."""

    def __init__(self, act: str = "relu", seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.act = nn.ReLU() if act == "relu" else nn.Tanh()  # no parameters: the same state_dict either way
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1, stride=2)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.relu(self.conv2(self.act(self.conv1(x))))
        return self.fc(x.mean((2, 3)))


class Flat(nn.Module):
    """Runs at 28x28 only (a flatten into a linear layer)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 28 * 28, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv1(x)).reshape(x.shape[0], -1))


class Batch1(nn.Module):
    """Reshapes to (1, -1): a model whose program fixes the batch at 1 (as an ONNX export without dynamic_axes)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv1(x)).reshape(1, -1))


class TwoOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        y = torch.relu(self.conv1(x))
        return self.fc(y.mean((2, 3))), y


def save_script(m: nn.Module, path: Path, meta: dict | None = None, trace: bool = False) -> Path:
    extra = {"filter_explorer.json": json.dumps(meta)} if meta else {}
    ts = torch.jit.trace(m.eval(), torch.zeros(1, 1, 16, 16)) if trace else torch.jit.script(m.eval())
    torch.jit.save(ts, str(path), _extra_files=extra)
    return path


def args_for(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_model_arguments(p)
    p.add_argument("--freeze", nargs="*", default=None)
    return p.parse_args(list(argv))


def probe(spec, train=120, test=60):
    from app.probe.config import ProbeConfig
    from app.probe.run import run_probe
    from app.tasks import run_to_end

    return run_to_end(run_probe(ProbeConfig(model=spec, dataset="digits", head="ridge", layer=-1, pooling="gap",
                                            train_limit=train, test_limit=test, grid=(1.0,))))


def digits_test(n=40):
    from app.models.evaluate import load_split

    return load_split("digits", "test", n, None, 0)


# --- 1: the random twin can be probed --------------------------------------------------------------------------------
def test_random_twin_of_a_model_file_can_be_probed(tmp_path, fe_home):
    from app.probe.resolve import effective_spec

    spec = ext.spec_for(save_script(Net(), tmp_path / "net.pt", META))
    twin = ext.twin_spec(spec, "default", 3)
    assert effective_spec(twin, digits_test()) is twin  # an external spec has its own architecture
    res = probe(twin)
    assert 0.0 <= res.top1 <= 1.0 and res.resolved.model.label == "net.pt (random twin, seed 3)"
    # a timm-like external spec without weights takes the same path (effective_spec used to raise UnknownNameError)
    assert effective_spec(ModelSpec.make("external", options={"source": "timm:x", "format": "timm"},
                                         init="default"), digits_test()).backbone == "external"


# --- 2: the CLI twin keeps the input spec and is named after the file -------------------------------------------------
def test_cli_twin_keeps_the_trained_models_input_and_its_name(tmp_path):
    p = save_script(Net(), tmp_path / "net_meta.pt", META)
    trained = spec_from_args(args_for("--model", str(p)))
    twin = spec_from_args(args_for("--model", str(p), "--init", "default", "--model-seed", "1"))
    assert trained.input is not None and twin.input == trained.input
    assert twin.label == "net_meta.pt (random twin, seed 1)"
    model = ext.build(twin, "cpu")
    assert input_spec(twin, model, stats=dataset_stats(digits_test())).size == (16, 16)
    bare = save_script(Net(), tmp_path / "bare.pt")
    declared = spec_from_args(args_for("--model", str(bare), "--input-size", "16", "--input-preset", "unit",
                                       "--init", "default"))
    assert declared.input is not None and declared.input.source == "declared" and declared.input.size == (16, 16)
    assert ext.twin_spec(trained, "kaiming", 2).label == "net_meta.pt (random twin, kaiming, seed 2)"


# --- 3: a declared normalisation without a size keeps the size the file fixes -----------------------------------------
def test_declared_mean_and_std_keep_the_metadata_size(tmp_path):
    p = save_script(Net(), tmp_path / "net_meta.pt", META)
    spec = spec_from_args(args_for("--model", str(p), "--mean", "0.5", "--std", "0.5"))
    assert spec.input.size == (16, 16) and "size from model metadata (net_meta.pt)" in spec.input.source
    model = ext.build(spec, "cpu")
    assert model.default_input == (1, 16, 16)
    assert input_spec(spec, model, stats=dataset_stats(digits_test())).size == (16, 16)


def test_a_fixed_size_model_is_never_fed_another_size(tmp_path):
    from app.models.evaluate import evaluate
    from app.tasks import run_to_end

    p = save_script(Flat(), tmp_path / "flat.pt")
    spec = spec_from_args(args_for("--model", str(p), "--input-preset", "unit"))
    model = ext.build(spec, "cpu")
    assert model.fixed_input_size and model.default_input == (1, 28, 28)
    ds = digits_test()
    ispec = input_spec(spec, model, stats=dataset_stats(ds))
    assert ispec.size == (28, 28) and ispec.mean == (0.0,)
    assert run_to_end(evaluate(model, ds, ispec)).n == len(ds)  # runs (at 8x8 it raised a shape error)


def test_declared_input_takes_the_static_onnx_size(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnx2torch")
    p = tmp_path / "static.onnx"
    torch.onnx.export(Net().eval(), torch.zeros(2, 1, 16, 16), str(p), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "n"}}, opset_version=17, dynamo=False)
    spec = spec_from_args(args_for("--model", str(p), "--input-preset", "unit"))
    assert spec.input.size == (16, 16) and "static input shape of static.onnx" in spec.input.source


# --- 4: the timm twin is the same architecture ------------------------------------------------------------------------
def test_timm_twin_keeps_in_chans_and_num_classes(tmp_path):
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file

    m = timm.create_model("resnet18", pretrained=False, in_chans=1, num_classes=10)
    w = tmp_path / "r18_1ch.safetensors"
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(w))
    spec = ext.spec_for("timm:resnet18", w)
    twin = ext.build(ext.twin_spec(spec, "default", 1), "cpu")
    assert tuple(twin.net.conv1.weight.shape) == (64, 1, 7, 7) and twin.num_classes == 10
    assert ModelSpec.from_dict(spec.to_dict()) == spec  # the options round-trip (a session keeps them)


# --- 6: a re-exported file's metadata is re-read (and said so) --------------------------------------------------------
def test_restored_spec_rereads_the_metadata_of_a_changed_file(tmp_path):
    p = save_script(Net(), tmp_path / "reexp.pt", META)
    saved = ext.spec_for(p).to_dict()
    save_script(Net(), p, {"channels": 1, "size": [28, 28], "mean": [0.1307], "std": [0.3081]})
    spec = ModelSpec.from_dict(saved)
    model = ext.build(spec, "cpu")
    ispec = input_spec(spec, model, stats=dataset_stats(digits_test()))
    assert ispec.size == (28, 28) and ispec.mean == (0.1307,)
    assert "the file changed since the model was opened" in ispec.source
    assert model.default_input == (1, 28, 28)
    same = ext.spec_for(p)  # unchanged since: no note
    assert input_spec(same, ext.build(same, "cpu")).source == "model metadata (reexp.pt)"


def test_rerun_of_a_changed_files_run_is_refused(tmp_path, fe_home):
    from app.errors import AppError
    from app.probe.run import rerun
    from app.tasks import run_to_end

    p = save_script(Net(), tmp_path / "net.pt", META)
    stored = probe(ext.spec_for(p)).to_dict()
    assert run_to_end(rerun(stored)).top1 == stored["top1"]  # the same file: rerun as it was
    save_script(Net(), p, {"channels": 1, "size": [12, 12], "mean": [0.2], "std": [0.3]})
    with pytest.raises(AppError, match="the file changed since this run"):
        run_to_end(rerun(stored))


# --- 7: the twin's feature-cache key follows the model file's content -------------------------------------------------
def test_twin_features_of_a_file_rewritten_in_place_are_extracted_again(tmp_path, fe_home):
    from tests.cli_inprocess import run_cli

    path = tmp_path / "net.pt"
    args = ("probe", "--dataset", "digits", "--model", str(path), "--init", "default", "--model-seed", "1",
            "--head", "ridge", "--grid", "1", "--train-limit", "150", "--test-limit", "60", "--json")
    save_script(Net("relu"), path, trace=True)
    first = run_cli(*args, home=fe_home)
    assert first.returncode == 0, first.stderr
    assert json.loads(run_cli(*args, home=fe_home).stdout)["feature_cache_hit"] is True
    st = path.stat()
    save_script(Net("tanh"), path, trace=True)  # the same parameters, another program
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    second = run_cli(*args, home=fe_home)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["feature_cache_hit"] is False


# --- 8: a same-stem .json is not the app's sidecar -------------------------------------------------------------------
def test_a_json_beside_a_model_file_is_read_only_when_it_is_the_apps_sidecar(tmp_path):
    from app.models.evaluate import check_classifier_fits

    ds = digits_test()
    for stem, content in (("labels", [str(i) for i in range(10)]), ("cfg", {"dataset": "mnist", "epochs": 30}),
                          ("side", {"input": {"channels": 1, "size": [12, 12], "mean": [0.9], "std": [0.1]}})):
        p = save_script(Net(), tmp_path / f"{stem}.pt")
        (tmp_path / f"{stem}.json").write_text(json.dumps(content))
        spec = spec_from_args(args_for("--model", str(p)))
        model = ext.build(spec, "cpu")
        check_classifier_fits(spec, model, ds)  # neither "must be a JSON object" nor "trained on mnist"
        ispec = input_spec(spec, model, stats=dataset_stats(ds))
        assert "sidecar" not in ispec.source and ispec.size is None, stem


# --- 9: forward errors in eval; a batch fixed at 1 -------------------------------------------------------------------
def test_eval_forward_error_is_the_apps_message_naming_the_model(tmp_path, fe_home):
    from tests.cli_inprocess import run_cli

    p = save_script(Batch1(), tmp_path / "batch1.pt")
    r = run_cli("eval", "--model", str(p), "--dataset", "digits", "--test-limit", "20", "--input-preset", "unit",
                "--input-size", "8", home=fe_home)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "error: batch1.pt: the model failed on a batch of 20 1-channel 8x8 images" in r.stderr
    assert "mat1 and mat2" in r.stderr and "TorchScript interpreter" not in r.stderr


def test_a_model_with_a_batch_of_one_runs_one_image_at_a_time():
    net = torch.jit.script(Batch1().eval())
    model = ext.ExternalBackbone(net, fmt="onnx", label="b1", channels=1, size=(8, 8), batch=1)
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        y = model(x)
        maps = model.forward_intermediates(x, [0])[0]
        want = torch.cat([net(x[i:i + 1]) for i in range(3)])
    assert y.shape == (3, 10) and torch.allclose(y, want, atol=1e-6) and maps.shape[0] == 3


def test_onnx_static_batch_of_one_is_detected(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnx2torch")
    p = tmp_path / "b1.onnx"
    torch.onnx.export(Batch1().eval(), torch.zeros(1, 1, 8, 8), str(p), input_names=["x"], output_names=["y"],
                      opset_version=17, dynamo=False)
    model = ext.build(ext.spec_for(p), "cpu")
    assert model.one_at_a_time
    with torch.no_grad():
        assert model(torch.randn(4, 1, 8, 8)).shape == (4, 10)


# --- 10: filter statistics of TorchScript models ---------------------------------------------------------------------
def test_filter_statistics_of_a_torchscript_model_and_its_twin(tmp_path):
    from app.analysis.jobs import filters_job, random_twin
    from app.tasks import run_to_end

    spec = ext.spec_for(save_script(Net(), tmp_path / "net.pt", META))
    sets = run_to_end(filters_job(spec))
    assert [s.label for s in sets] == ["net.pt", "net.pt (random twin)"]
    assert all([st.layer for st in s.stats] == ["conv1", "conv2"] for s in sets)
    assert random_twin(spec).label == "net.pt (random twin)"


# --- 11: the classifier of a traced model ---------------------------------------------------------------------------
def test_traced_model_classifier_is_found_and_usable(tmp_path):
    x = torch.randn(2, 1, 16, 16)
    traced = torch.jit.trace(Net().eval(), x)  # as traced (not saved): its submodules cannot be called alone
    from_file = ext.build(ext.spec_for(save_script(Net(), tmp_path / "traced.pt", META, trace=True)), "cpu")
    for model in (ext.ExternalBackbone(traced, fmt="torchscript", label="traced", size=(16, 16)), from_file):
        assert model.classifier_name == "net.fc"
        with torch.no_grad():
            assert torch.allclose(model.forward_head(model.forward_features(x)), model(x), atol=1e-5)


# --- 12: messages that pointed the wrong way -------------------------------------------------------------------------
def test_half_precision_model_says_so(tmp_path):
    p = tmp_path / "half.pt"
    torch.jit.save(torch.jit.script(Net().eval().half()), str(p))
    with pytest.raises(ModelError, match=r"half.pt: its weights are float16; the app runs models in float32"):
        ext.build(ext.spec_for(p), "cpu")


def test_tuple_output_says_what_the_output_is(tmp_path):
    from app.models.evaluate import check_classifier_fits

    spec = ext.spec_for(save_script(TwoOut(), tmp_path / "two_out.pt"))
    model = ext.build(spec, "cpu")
    with pytest.raises(ModelError, match=r"two_out.pt: its output is a tuple of 2 values, not one \(N, classes\)"):
        check_classifier_fits(spec, model, digits_test())


def test_pickled_module_refusal_without_torchs_truncated_advice(tmp_path):
    p = tmp_path / "pickled.pt"
    torch.save(Net(), str(p))
    with pytest.raises(ModelError) as info:
        ext.spec_for(p)
    msg = str(info.value)
    assert "refused" in msg and "it was not executed" in msg and "Net object" in msg
    assert "can still be loaded" not in msg and "two options" not in msg


def test_nhwc_onnx_names_the_file_and_the_layout(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnx2torch")

    class NHWC(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return self.conv(x.permute(0, 3, 1, 2))

    p = tmp_path / "nhwc.onnx"
    torch.onnx.export(NHWC().eval(), torch.zeros(1, 16, 16, 3), str(p), input_names=["x"],
                      dynamic_axes={"x": {0: "n"}}, opset_version=17, dynamo=False)
    with pytest.raises(ModelError, match=r"nhwc.onnx: its input is laid out N,H,W,C"):
        ext.file_channels(str(p))


def _failing_import(monkeypatch, names: tuple[str, ...], exc: Exception) -> None:
    real = builtins.__import__

    def fake(name, *a, **kw):
        if name.split(".")[0] in names:
            raise exc
        return real(name, *a, **kw)

    for n in names:
        monkeypatch.delitem(sys.modules, n, raising=False)
    monkeypatch.setattr(builtins, "__import__", fake)


def test_installed_extras_that_fail_to_import_say_the_real_error(monkeypatch):
    from app.models.external import formats

    monkeypatch.setitem(sys.modules, "onnx", types.ModuleType("onnx"))  # installed (here, or as if)
    _failing_import(monkeypatch, ("onnx2torch", "timm"),
                    RuntimeError("operator torchvision::nms does not exist"))
    with pytest.raises(ModelError) as info:
        formats._import_onnx()
    msg = str(info.value)
    assert "need the onnx extra" not in msg
    assert "installed but importing them failed: RuntimeError: operator torchvision::nms does not exist" in msg
    with pytest.raises(ModelError) as info:
        formats._import_timm()
    assert "need the timm extra" not in str(info.value) and "torchvision::nms" in str(info.value)


def test_missing_extras_still_say_which_to_install(monkeypatch):
    from app.models.external import formats

    monkeypatch.setitem(sys.modules, "onnx2torch", None)
    monkeypatch.setitem(sys.modules, "onnx", types.ModuleType("onnx"))
    with pytest.raises(ModelError, match=r"ONNX files need the onnx extra: pip install \.\[onnx\]"):
        formats._import_onnx()


def test_eval_names_a_model_file_and_its_twin_and_refuses_an_empty_image_folder(tmp_path):
    """eval's summary said "external (random) on digits" for the twin of net.pt (and "external (net.pt)" for the
    file); `train` / `eval --dataset imagefolder:` read the current folder's sub-folders as the classes."""
    from cli_inprocess import run_cli

    path = save_script(Net(), tmp_path / "net.pt", meta={"channels": 1, "size": [16, 16], "mean": [0.5],
                                                         "std": [0.5]})
    home = tmp_path / "home"
    out = run_cli("eval", "--model", str(path), "--dataset", "digits", "--test-limit", "40", home=home)
    assert out.returncode == 0, out.stderr
    assert "net.pt on digits test (40 images)" in out.stdout
    out = run_cli("eval", "--model", str(path), "--init", "default", "--model-seed", "2", "--dataset", "digits",
                  "--test-limit", "40", home=home)
    assert out.returncode == 0, out.stderr
    assert "net.pt (random twin, seed 2) on digits test" in out.stdout
    out = run_cli("eval", "--model", str(path), "--dataset", "imagefolder:", home=home)
    assert out.returncode != 0 and "names no folder" in out.stderr
