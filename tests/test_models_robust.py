"""Bad inputs to training and loading are the project's own errors with clear messages; a checkpoint set is
committed atomically and --resume refuses an inconsistent one (#15)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from app.errors import LimitError
from app.models.build import build, spec_from_checkpoint
from app.models.spec import ModelSpec
from app.models.train import TrainConfig, TrainError, train
from app.models.weights import WeightsError, read_sidecar, read_state_dict, save_checkpoint
from app.tasks import run_to_end
from tests.test_models_train import TOY

SPEC = ModelSpec.make("simple", options={"in_channels": 1, "widths": [4]})


def _train(cfg: TrainConfig, data=TOY, spec=SPEC):
    return run_to_end(train(spec, cfg, device="cpu", data=data))


def test_empty_dataset_and_bad_labels_are_refused_before_training():
    from app.data.core import ArrayDataset

    tr, te = TOY
    empty = ArrayDataset("void", "train", tr.images[:0], tr.labels[:0], tr.classes, tr.mean, tr.std)
    with pytest.raises(TrainError, match="void \\(train\\): no images"):
        _train(TrainConfig("void"), data=(empty, te))
    bad = tr.labels.copy()
    bad[5] = 12
    broken = ArrayDataset("toy", "train", tr.images, bad, tr.classes, tr.mean, tr.std)
    with pytest.raises(TrainError, match="1 label\\(s\\) outside 0..9 \\(e.g. 12\\)"):
        _train(TrainConfig("toy"), data=(broken, te))


@pytest.mark.parametrize("kw, msg", [({"weight_decay": -1.0}, "weight decay"), ({"lr": 0.0}, "learning rate"),
                                     ({"lr": -0.1}, "learning rate"), ({"val": -1}, "validation size"),
                                     ({"val": 400}, "leaves nothing to train on")])
def test_bad_hyperparameters_are_refused(kw, msg):
    with pytest.raises(TrainError, match=msg):
        _train(TrainConfig("toy", **kw))


def test_cli_weight_decay_minus_one(tmp_path, capsys):
    from app.cli import run

    code = run(["train", "--backbone", "simple", "--dataset", "digits", "--weight-decay", "-1", "--out",
                str(tmp_path / "x")])
    assert code == 2 and "weight decay must be zero or positive" in capsys.readouterr().err


def test_a_text_file_named_pt_is_not_a_keyerror(tmp_path, capsys):
    p = tmp_path / "notes.pt"
    p.write_text("hello, these are not weights\n")
    with pytest.raises(WeightsError, match="notes.pt: not a PyTorch weights file"):
        read_state_dict(p)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(WeightsError, match="empty.pt: the file is empty"):
        read_state_dict(tmp_path / "empty.pt")
    from app.cli import run

    code = run(["eval", "--backbone", "resnet20", "--weights", str(p), "--dataset", "digits"])
    err = capsys.readouterr().err
    assert code == 2 and "not a PyTorch weights file" in err and "101" not in err


def _ck(tmp_path):
    m = build(SPEC, device="cpu")
    st, js = save_checkpoint(m, tmp_path / "ck", SPEC, dataset="toy")
    return st, js


@pytest.mark.parametrize("text, msg", [("", "is empty"), ('{"architecture": {"backb', "not valid JSON"),
                                       ("[1, 2]", "must be a JSON object"),
                                       ('{"architecture": 5}', "'architecture' must be an object"),
                                       ('{"dataset": 3}', "'dataset' must be a string")])
def test_damaged_sidecars_are_reported_as_such(tmp_path, text, msg):
    st, js = _ck(tmp_path)
    js.write_text(text)
    with pytest.raises(WeightsError, match=msg):
        read_sidecar(st)
    with pytest.raises(WeightsError, match="ck.json"):
        spec_from_checkpoint(st)


def test_huge_sidecar_widths_hit_a_parameter_limit_before_allocating(tmp_path, monkeypatch):
    st, js = _ck(tmp_path)
    side = json.loads(js.read_text())
    side["architecture"]["options"]["widths"] = [100000, 100000]
    js.write_text(json.dumps(side))
    with pytest.raises(LimitError, match="over the limit.*FILTER_EXPLORER_LIMITS=off"):
        build(spec_from_checkpoint(st), device="cpu")
    import app.models.build as B

    monkeypatch.setattr(B, "MAX_PARAMS", 10)
    with pytest.raises(LimitError):
        build(SPEC, device="cpu")
    monkeypatch.setenv("FILTER_EXPLORER_LIMITS", "off")
    build(SPEC, device="cpu")  # the override lifts it


def test_resume_refuses_an_inconsistent_checkpoint_set(tmp_path):
    out = tmp_path / "run"
    base = dict(batch_size=64, seed=1)
    _train(TrainConfig("toy", epochs=1, out=str(out), **base))
    epoch1_state = tmp_path / "epoch1.state.pt"
    shutil.copy(tmp_path / "run.state.pt", epoch1_state)
    man = json.loads((tmp_path / "run.manifest.json").read_text())
    assert man["epoch"] == 1 and set(man["files"]) == {"run.safetensors", "run.json", "run.state.pt"}
    _train(TrainConfig("toy", epochs=2, out=str(out), resume=str(out), **base))
    # killed after the weights and sidecar of epoch 2 were written, before its state: the state is epoch 1's
    shutil.copy(epoch1_state, tmp_path / "run.state.pt")
    with pytest.raises(TrainError, match="inconsistent"):
        _train(TrainConfig("toy", epochs=3, out=str(out), resume=str(out), **base))
    # without a manifest (an older set) the epoch numbers still have to agree
    (tmp_path / "run.manifest.json").unlink()
    with pytest.raises(TrainError, match="sidecar epoch 2"):
        _train(TrainConfig("toy", epochs=3, out=str(out), resume=str(out), **base))


def test_resume_after_a_kill_between_files_gives_the_uninterrupted_result(tmp_path):
    """A kill before the manifest leaves the previous epoch's manifest: the weights no longer match it."""
    from app.models.train import TrainStep
    from app.tasks import CancelToken, Cancelled

    out = tmp_path / "run"
    base = dict(batch_size=64, seed=1)
    token = CancelToken()
    with pytest.raises(Cancelled):  # epoch 1 of 2 saved, then the run stops
        for p in train(SPEC, TrainConfig("toy", epochs=2, out=str(out), **base), device="cpu", cancel=token, data=TOY):
            if isinstance(p.payload, TrainStep) and p.payload.kind == "epoch":
                token.cancel()
    good = {n: (tmp_path / n).read_bytes() for n in ("run.safetensors", "run.json", "run.state.pt",
                                                      "run.manifest.json")}
    _train(TrainConfig("toy", epochs=2, out=str(out), resume=str(out), **base))
    (tmp_path / "run.manifest.json").write_bytes(good["run.manifest.json"])  # epoch 2's manifest never written
    with pytest.raises(TrainError, match="run.safetensors.*changed after its manifest of epoch 1"):
        _train(TrainConfig("toy", epochs=3, out=str(out), resume=str(out), **base))
    for n, b in good.items():  # restore the epoch-1 set: resuming it equals an uninterrupted run
        (tmp_path / n).write_bytes(b)
    resumed = _train(TrainConfig("toy", epochs=2, out=str(out), resume=str(out), **base))
    full = _train(TrainConfig("toy", epochs=2, out=str(tmp_path / "full"), **base))
    assert resumed.epochs_done == 2
    a, b = read_state_dict(tmp_path / "full.safetensors"), read_state_dict(tmp_path / "run.safetensors")
    for k in a:
        assert np.allclose(a[k].float().numpy(), b[k].float().numpy(), atol=1e-6), k
    assert torch.is_tensor(a[next(iter(a))])


def test_huge_option_values_are_refused_before_allocating():
    from app.models.build import BuildError

    with pytest.raises(LimitError, match="rdsn .*k=1000000000.* over the limit"):
        build(ModelSpec.make("rdsn", options={"k": 10**9}), device="cpu")
    # JSON's 1e9 is a float: the same whole number, the same limit (not torch's "empty(): argument 'size'")
    with pytest.raises(LimitError, match=r"rdsn .*k=1000000000\) would have .* over the limit of 1,000,000,000"):
        build(ModelSpec.make("rdsn", options={"k": 1e9}), device="cpu")
    with pytest.raises(BuildError, match=r"rdsn: k must be a whole number \(got 1.5\)"):
        build(ModelSpec.make("rdsn", options={"k": 1.5}), device="cpu")  # a fractional count: a bad option
