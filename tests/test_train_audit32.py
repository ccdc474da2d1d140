"""Training audit (session 32): TorchScript models' batch-norm and conv layers recognised by freezing and by the
train mode of frozen batch-norm, and their freeze lines printed (1); a ResNet shortcut conv frozen with its
batch-norm (2); eval calls only a drawn subset a subset (3); a run --max-steps stopped is not scored or evaluated
as a finished model (4); Nesterov momentum said and recorded (5); an experiment cell's params_total is that of the
model it trained (6). Each pins what the user sees, or tensors bit for bit. Tiny data (digits, a few dozen images,
a few steps): seconds each."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

from tests.cli_inprocess import run_cli

DATA = ("--dataset", "digits", "--train-limit", "60", "--test-limit", "20", "--batch-size", "16")


def _cli(home: Path, *args: str):
    res = run_cli(*args, home=home)
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    return res


def _side(stem: Path) -> dict:
    return json.loads(Path(str(stem) + ".json").read_text())


def _weights(stem: Path) -> dict[str, torch.Tensor]:
    from app.models.weights import read_state_dict

    return dict(read_state_dict(str(stem) + ".safetensors"))


class Net(nn.Module):
    """conv1 (3x3) -> bn1 -> conv2 (1x1) -> bn2 -> fc: the auditor's scripted net, with a 1x1 conv."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 8, 1)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def scripted(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A TorchScript file of ``Net`` and its state (``net.``-prefixed, as the app's checkpoints name it)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = Net().eval()
    path = tmp_path_factory.mktemp("ts") / "net.pt"
    torch.jit.save(torch.jit.script(net), str(path))
    return path, {f"net.{k}": v.detach().clone() for k, v in net.state_dict().items()}


def _ts_spec(path: Path, freeze=()):
    from app.models.spec import ModelSpec

    return ModelSpec.make("external", options={"source": str(path), "format": "torchscript"}, init="checkpoint",
                          freeze=tuple(freeze))


# --- 1. TorchScript layers: frozen batch-norm keeps its statistics, groups freeze what they name ---------------------
def test_a_frozen_scripted_conv_and_its_batchnorm_stay_bit_identical_with_their_statistics(tmp_path, scripted):
    """``--freeze net.conv1`` on a TorchScript model froze the conv's parameters, but its batch-norm (a
    RecursiveScriptModule, not an nn.BatchNorm2d) was neither paired with it nor kept in eval mode: its running mean
    moved 0.296 and num_batches_tracked grew by a step count; and no freeze line was printed."""
    path, before = scripted
    out = tmp_path / "m"
    res = _cli(tmp_path / "home", "train", "--model", str(path), *DATA, "--max-steps", "3", "--freeze", "net.conv1",
               "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert ("freeze net.conv1: frozen 4 tensor(s), 48 parameters (net.bn1.bias, net.bn1.weight, net.conv1.bias, "
            "net.conv1.weight)") in res.stdout.splitlines()
    after = _weights(out)
    for k in ("net.conv1.weight", "net.conv1.bias", "net.bn1.weight", "net.bn1.bias", "net.bn1.running_mean",
              "net.bn1.running_var", "net.bn1.num_batches_tracked"):
        assert torch.equal(after[k], before[k]), k
    # the rest trained: the unfrozen batch-norm's statistics moved, three steps of them
    assert not torch.equal(after["net.bn2.running_mean"], before["net.bn2.running_mean"])
    assert int(after["net.bn2.num_batches_tracked"]) == int(before["net.bn2.num_batches_tracked"]) + 3
    assert not torch.equal(after["net.conv2.weight"], before["net.conv2.weight"])


def test_the_bn_group_freezes_a_scripted_models_batchnorm_and_says_so(tmp_path, scripted):
    """``--freeze bn`` on a TorchScript model printed "0 frozen" and no freeze line, and trained the batch-norms,
    while the sidecar's architecture said freeze ["bn"]."""
    path, before = scripted
    out = tmp_path / "m"
    res = _cli(tmp_path / "home", "train", "--model", str(path), *DATA, "--max-steps", "2", "--freeze", "bn",
               "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "freeze bn: frozen 4 tensor(s), 24 parameters (net.bn1.bias, net.bn1.weight, net.bn2.bias, " \
           "net.bn2.weight)" in res.stdout.splitlines()
    assert "; 170 trainable / 24 frozen parameters" in res.stdout
    after = _weights(out)
    for k in before:
        if ".bn" in k:
            assert torch.equal(after[k], before[k]), k  # parameters and running statistics alike
    assert _side(out)["architecture"]["freeze"] == ["bn"] and _side(out)["trainable"] == 170


def test_freeze_groups_recognise_torchscript_layers(scripted):
    from app.models.build import build

    path, _ = scripted

    def frozen(*entries) -> tuple[list[str], tuple[str, ...]]:
        model = build(_ts_spec(path, entries), "cpu")
        return sorted(n for n, p in model.named_parameters() if not p.requires_grad), model.fe_froze

    names, lines = frozen("conv")
    assert names == ["net.conv1.bias", "net.conv1.weight", "net.conv2.bias", "net.conv2.weight"]
    assert lines == ("conv: frozen 4 tensor(s), 80 parameters (net.conv1.bias, net.conv1.weight, net.conv2.bias, "
                     "net.conv2.weight)",)
    assert frozen("1x1")[0] == ["net.conv2.bias", "net.conv2.weight"]
    assert frozen("kxk")[0] == ["net.conv1.bias", "net.conv1.weight"]
    names, lines = frozen("only-bn")  # all, then !bn: only the batch-norms train
    assert names == ["net.conv1.bias", "net.conv1.weight", "net.conv2.bias", "net.conv2.weight", "net.fc.bias",
                     "net.fc.weight"]
    assert lines[1] == ("!bn: trainable 4 tensor(s), 24 parameters (net.bn1.bias, net.bn1.weight, net.bn2.bias, "
                        "net.bn2.weight)")
    # conv1:conv-only leaves the scripted batch-norm after it trainable; conv1 alone brings it
    assert frozen("net.conv1:conv-only")[0] == ["net.conv1.bias", "net.conv1.weight"]
    assert frozen("net.conv2")[0] == ["net.bn2.bias", "net.bn2.weight", "net.conv2.bias", "net.conv2.weight"]


def test_a_scripted_frozen_batchnorm_stays_in_eval_mode_in_training():
    from app.models.freeze import apply_freeze
    from app.models.train import _set_train_mode

    net = torch.jit.script(Net())
    apply_freeze(net, ["bn1"])
    _set_train_mode(net)
    assert (net.training, net.bn1.training, net.bn2.training, net.conv1.training) == (True, False, True, True)


class ChannelNorm(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))

    def forward(self, x):
        return x * self.weight.view(1, -1, 1, 1)


class OddNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.norm = ChannelNorm(2)

    def forward(self, x):
        return self.norm(self.conv(x))


@pytest.mark.parametrize("script", [False, True])
def test_a_group_that_matches_nothing_where_the_model_has_such_layers_is_an_error(script):
    """A group must never silently freeze nothing where the model has layers of its kind that it does not know."""
    from app.models.base import ModelError
    from app.models.freeze import apply_freeze

    net = torch.jit.script(OddNet()) if script else OddNet()
    kind = type(net).__name__
    with pytest.raises(ModelError) as err:
        apply_freeze(net, ["bn"])
    assert str(err.value) == (
        f"freeze: 'bn' matches no parameter of {kind}, which has 1 layer(s) of a kind it does not recognise "
        f"(norm (ChannelNorm); it knows BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm, eager or "
        f"TorchScript); name those layers or their parameters instead (a layer name or a parameter pattern)")
    assert all(p.requires_grad for p in net.parameters())
    # a group the model has no layers of at all still says so in its line, and changes nothing
    assert apply_freeze(net, ["1x1"]) == (f"1x1: no such parameters in {kind}; nothing changed",)


# --- 2. a ResNet shortcut conv brings the batch-norm after it ---------------------------------------------------
def test_freezing_a_resnet_shortcut_conv_freezes_the_batchnorm_after_it():
    from app.models.build import build
    from app.models.spec import ModelSpec

    def frozen(entry: str):
        m = build(ModelSpec.make("resnet18", options={"stem": "cifar"}, freeze=(entry,)), "cpu")
        return sorted(n for n, p in m.named_parameters() if not p.requires_grad), m.fe_froze

    names, lines = frozen("layer2.0.downsample.0")
    assert names == ["layer2.0.downsample.0.weight", "layer2.0.downsample.1.bias", "layer2.0.downsample.1.weight"]
    assert lines == ("layer2.0.downsample.0: frozen 3 tensor(s), 8,448 parameters (layer2.0.downsample.0.weight, "
                     "layer2.0.downsample.1.bias, layer2.0.downsample.1.weight)",)
    assert frozen("layer2.0.downsample.0:conv-only")[0] == ["layer2.0.downsample.0.weight"]
    assert frozen("layer2.0.conv1")[0] == ["layer2.0.bn1.bias", "layer2.0.bn1.weight", "layer2.0.conv1.weight"]


def test_a_sequentials_conv_brings_the_batchnorm_after_it_scripted_too():
    from app.models.freeze import apply_freeze

    for seq in (nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Conv2d(2, 2, 1)),
                torch.jit.script(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Conv2d(2, 2, 1)))):
        assert apply_freeze(seq, ["0"]) == ("0: frozen 4 tensor(s), 24 parameters (0.bias, 0.weight, 1.bias, "
                                            "1.weight)",)
        assert [n for n, p in seq.named_parameters() if p.requires_grad] == ["3.weight", "3.bias"]
        assert apply_freeze(seq, ["3"])[0].startswith("3: frozen 2 tensor(s)")  # the last item: nothing after it


# --- 3/4. eval: a subset only when drawn; a stopped run said to be stopped --------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("runs")
    home = root / "home"
    model = ("--backbone", "simple", "--options", "widths=4")
    stopped, finished = root / "m5", root / "done"
    # 48 training images (12 validation) in batches of 16: 3 steps an epoch; 50 epochs planned, 5 steps done
    r_stop = _cli(home, "train", *model, *DATA, "--epochs", "50", "--max-steps", "5", "--out", str(stopped))
    assert r_stop.returncode == 0, r_stop.stderr
    r_done = _cli(home, "train", *model, *DATA, "--epochs", "1", "--out", str(finished))
    assert r_done.returncode == 0, r_done.stderr
    return {"home": home, "stopped": stopped, "finished": finished, "stop_out": r_stop.stdout,
            "done_out": r_done.stdout}


def _eval(runs, stem: Path, *args: str):
    res = _cli(runs["home"], "eval", "--weights", str(stem) + ".safetensors", "--dataset", "digits", *args)
    assert res.returncode == 0, res.stderr
    return res


def test_eval_says_subset_only_when_one_was_drawn(runs):
    """``eval --test-limit 5000`` on digits (450 test images) said "a seeded subset of 450 of the test images"."""
    for limit in ("5000", "450"):
        res = _eval(runs, runs["finished"], "--test-limit", limit)
        assert "subset" not in res.stdout and "(450 images)" in res.stdout, res.stdout
        data = json.loads(_eval(runs, runs["finished"], "--test-limit", limit, "--json").stdout)
        assert (data["n"], data["subset"], data["test_limit"]) == (450, None, int(limit))
    res = _eval(runs, runs["finished"], "--test-limit", "449", "--seed", "3")
    assert "subset: a seeded subset of 449 of the test images (--test-limit 449, seed 3)" in res.stdout.splitlines()
    data = json.loads(_eval(runs, runs["finished"], "--test-limit", "449", "--seed", "3", "--json").stdout)
    assert data["subset"] == "a seeded subset of 449 of the test images (--test-limit 449, seed 3)"


def test_a_stopped_run_is_scored_as_at_its_stop_not_final(runs):
    """``train --epochs 50 --max-steps 5`` printed "5 of 150 steps ..." and then "final test accuracy"."""
    lines = runs["stop_out"].splitlines()
    assert "final test accuracy" not in runs["stop_out"]
    shown = [ln for ln in lines if ln.startswith("test accuracy at this stop")]
    assert len(shown) == 1 and re.fullmatch(r"test accuracy at this stop \(step 5 of 150\): [0-9.]+% on 20 test "
                                            r"images \(.*\)", shown[0]), lines
    assert re.search(r"^final test accuracy: [0-9.]+% on 20 test images", runs["done_out"], re.M)
    assert "at this stop" not in runs["done_out"]


def test_eval_of_a_stopped_run_says_where_it_stopped(runs):
    """``eval --weights m5.safetensors`` of a run stopped at step 5 of 150 printed a top-1 with no sign of it."""
    note = ("its training run stopped at step 5 of 150 of its schedule (train --max-steps): not a finished model")
    res = _eval(runs, runs["stopped"])
    assert f"note: {note}" in res.stdout.splitlines()
    assert json.loads(_eval(runs, runs["stopped"], "--json").stdout)["stopped"] == note
    res = _eval(runs, runs["finished"])
    assert "stopped" not in res.stdout
    assert json.loads(_eval(runs, runs["finished"], "--json").stdout)["stopped"] is None


def test_a_stopped_runs_model_name_says_where_it_stopped(runs):
    """The Probe's and Live's model lists named a stopped run "simple (trained, digits)", as a finished one."""
    from app.models.build import spec_from_checkpoint

    stopped = spec_from_checkpoint(str(runs["stopped"]) + ".safetensors")
    assert stopped.label == "simple (trained, digits; stopped at step 5 of 150)"
    assert spec_from_checkpoint(str(runs["finished"]) + ".safetensors").label == "simple (trained, digits)"


# --- 5. Nesterov momentum: said and recorded ---------------------------------------------------------------------
def test_nesterov_is_recorded_and_said(runs, tmp_path):
    from app.models.train import TrainConfig, make_optimizer

    assert _side(runs["finished"])["options"]["nesterov"] is True
    assert (TrainConfig("d").nesterov, TrainConfig("d", momentum=0.0).nesterov,
            TrainConfig("d", optimizer="adamw").nesterov) == (True, False, False)
    opt = make_optimizer(nn.Linear(2, 2), TrainConfig("d"))
    assert opt.param_groups[0]["nesterov"] is True and opt.param_groups[0]["momentum"] == 0.9
    out = tmp_path / "a"
    res = _cli(tmp_path / "home", "train", "--backbone", "simple", "--options", "widths=4", *DATA, "--max-steps", "1",
               "--optimizer", "adamw", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert _side(out)["options"]["nesterov"] is False
    res = _cli(tmp_path / "home", "train", "--help")
    assert "sgd: SGD with Nesterov momentum 0.9 (the default); adamw: AdamW" in " ".join(res.stdout.split())
    import app.models.train as train_module

    assert "SGD with Nesterov momentum 0.9" in " ".join(train_module.__doc__.split())


def test_a_sidecar_without_nesterov_still_resumes(runs, tmp_path):
    old = tmp_path / "old"
    for p in Path(runs["stopped"]).parent.glob(runs["stopped"].name + ".*"):
        shutil.copy(p, tmp_path / p.name.replace(runs["stopped"].name, "old", 1))
    Path(str(old) + ".manifest.json").unlink()  # as written before manifests (the sidecar is edited below)
    side = _side(old)
    del side["options"]["nesterov"]  # as written before it was recorded
    Path(str(old) + ".json").write_text(json.dumps(side))
    res = _cli(runs["home"], "train", "--resume", str(old), "--max-steps", "6", "--out", str(old))
    assert res.returncode == 0, res.stderr
    assert _side(old)["steps"] == 6 and _side(old)["options"]["nesterov"] is True


# --- 6. an experiment cell's params_total is the trained model's -------------------------------------------------
def test_a_train_cells_params_total_is_the_trained_models():
    """``params_total`` was counted before training gave the model the dataset's head (simple has none until then):
    it was less than trainable + frozen of the very result it was stored beside."""
    from app.experiments.cell import run_cell
    from app.experiments.recipe import Cell

    settings = {"backbone": "simple", "dataset": "digits", "epochs": 1, "options": {"in_channels": 1, "widths": [4]},
                "train_limit": 60, "test_limit": 20, "batch_size": 16, "max_steps": 1, "freeze": ["conv1:conv-only"]}
    out = run_cell(Cell("t", "train", settings).to_dict())
    # conv1 and the 10-class head
    assert out["params_total"] == out["trainable"] + out["frozen"] == 4 * 9 + 4 + 4 * 10 + 10
    assert out["frozen"] == 4 * 9 + 4


def test_a_bank_for_a_torchscript_conv_says_why_it_cannot_go_in(tmp_path):
    """The refusal read "no conv layer 'conv1' in ExternalBackbone; layers: " (an empty list) for a conv the model
    visibly has."""
    import torch
    from torch import nn

    from tests.cli_inprocess import run_cli

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
            self.fc = nn.Linear(4, 10)

        def forward(self, x):
            return self.fc(self.conv1(x).mean((2, 3)))

    net = tmp_path / "net.pt"
    torch.jit.save(torch.jit.script(Net()), str(net))
    home = tmp_path / "home"
    bank = tmp_path / "b.json"
    assert run_cli("kernels", "generate", "--kind", "gabor", "--count", "4", "--size", "3", "--out", str(bank),
                   home=home).returncode == 0
    res = run_cli("probe", "--model", str(net), "--bank", f"conv1={bank}", "--dataset", "digits", "--train-limit",
                  "100", "--test-limit", "50", home=home)
    assert res.returncode == 2
    assert res.stderr.splitlines()[-1] == (
        "error: ExternalBackbone: a Workbench bank goes into an eager nn.Conv2d, and this TorchScript model's "
        "convolutions are compiled ('conv1' is one of them): open the model as ONNX or as a state dict of an "
        "architecture the app has to put a bank in it")
