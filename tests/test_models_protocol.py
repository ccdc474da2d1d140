"""Train protocol (#10): a seeded validation split, train/val curves, the test split evaluated once at the end;
one evaluation (app.models.evaluate) and its guardrail."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from app.models.base import ModelError
from app.models.build import build
from app.models.evaluate import check_classifier_fits, evaluate, predict
from app.models.inputs import InputSpec
from app.models.spec import ModelSpec
from app.models.train import TrainConfig, TrainStep, train
from app.tasks import run_to_end
from tests.test_models_train import TOY, toy

SPEC = ModelSpec.make("simple", options={"in_channels": 1, "widths": [8]})


def test_default_validation_sizes():
    assert TrainConfig("x").resolved_val(20_000) == 5000
    assert TrainConfig("x").resolved_val(60_000) == 5000
    assert TrainConfig("x").resolved_val(19_999) == 4000  # the probe's default (app.data.core.default_val): 20%
    assert TrainConfig("x").resolved_val(320) == 64
    assert TrainConfig("x").resolved_val(20, 10) == 10  # one per class where the subset allows it, as the probe
    assert TrainConfig("x", val=0).resolved_val(60_000) == 0


def test_epochs_report_val_and_the_test_split_once(tmp_path):
    recs = []
    res = run_to_end(train(SPEC, TrainConfig("toy", epochs=3, batch_size=64, out=str(tmp_path / "p")), device="cpu",
                           data=TOY), lambda p: recs.append(p.payload))
    epochs = [r for r in recs if isinstance(r, TrainStep) and r.kind == "epoch"]
    assert [r.epoch for r in epochs] == [1, 2, 3]
    assert all(r.val_acc is not None for r in epochs)
    assert [r.test_acc is not None for r in epochs] == [False, False, True]
    assert res.n_val == 64 and res.val_acc == epochs[-1].val_acc and res.test_acc == epochs[-1].test_acc
    side = json.loads((tmp_path / "p.json").read_text())
    assert side["val"] == 64 and side["val_accuracy"] == res.val_acc
    assert side["test_accuracy"] == res.test_acc == side["accuracy"]
    # the validation images are carved from the training data: training saw 320 - 64 images
    assert epochs[0].steps_per_epoch == 4  # ceil(256 / 64)


def test_val_zero_is_allowed_and_recorded(tmp_path):
    res = run_to_end(train(SPEC, TrainConfig("toy", epochs=1, batch_size=64, val=0, out=str(tmp_path / "z")),
                           device="cpu", data=TOY))
    assert res.n_val == 0 and res.val_acc is None and res.test_acc is not None
    side = json.loads((tmp_path / "z.json").read_text())
    assert side["val"] == 0 and side["val_accuracy"] is None
    assert res.history[0].steps_per_epoch == 5  # all 320 training images


def test_predict_and_evaluate_agree_with_a_direct_computation():
    model = build(SPEC, device="cpu")
    model.reset_classifier(10)
    ds = TOY[1]
    ispec = InputSpec(1, None, (0.3,), (0.3,))
    scores = run_to_end(predict(model, ds.images, ispec, batch_size=50))
    assert scores.dtype == np.float32 and scores.shape == (len(ds), 10)
    with torch.no_grad():
        x = (torch.from_numpy(ds.images).permute(0, 3, 1, 2).float() / 255 - 0.3) / 0.3
        direct = model(x).numpy()
    assert np.allclose(scores, direct, atol=1e-5)
    res = run_to_end(evaluate(model, ds, ispec, batch_size=50))
    pred = direct.argmax(1)
    assert res.n == 128 and res.correct == int((pred == ds.labels).sum())
    assert res.top1 == pytest.approx(res.correct / 128) and res.top1 <= res.top2 <= res.top5
    assert int(res.confusion.sum()) == 128 and np.array_equal(res.labels, ds.labels)


def test_a_trained_classifier_is_only_scored_on_its_dataset(tmp_path):
    from app.data.core import ArrayDataset
    from app.models.weights import KNOWN, save_checkpoint

    model = build(SPEC, device="cpu")
    model.reset_classifier(10)
    save_checkpoint(model, tmp_path / "m", SPEC, dataset="mnist")
    spec = ModelSpec.make("simple", options=dict(SPEC.options), weights=str(tmp_path / "m.safetensors"))

    def named(name, classes=10):
        d = toy(20, 0, classes=classes)
        return ArrayDataset(name, "test", d.images, d.labels % classes, d.classes, d.mean, d.std)

    check_classifier_fits(spec, model, named("mnist"))
    with pytest.raises(ModelError, match="trained on mnist, not on digits"):
        check_classifier_fits(spec, model, named("digits"))
    check_classifier_fits(spec, model, named("imagefolder:/x/y"))  # image folders: the class count only
    with pytest.raises(ModelError, match="has 10 classes but digits has 3"):
        check_classifier_fits(spec, model, named("digits", 3))
    known = ModelSpec.make("resnet20", weights="/x/" + KNOWN["resnet20-cifar10"].filename)
    with pytest.raises(ModelError, match="trained on cifar10, not on mnist"):
        check_classifier_fits(known, model, named("mnist"))


def test_eval_command_refuses_another_dataset(tmp_path, capsys):
    from app.cli import run
    from app.models.weights import save_checkpoint

    model = build(ModelSpec.make("simple", options={"widths": [4]}), device="cpu")
    model.reset_classifier(10)
    save_checkpoint(model, tmp_path / "c", ModelSpec.make("simple", options={"widths": [4]}), dataset="cifar10")
    code = run(["eval", "--weights", str(tmp_path / "c.safetensors"), "--dataset", "digits"])
    err = capsys.readouterr().err
    assert code == 2 and "trained on cifar10, not on digits" in err
