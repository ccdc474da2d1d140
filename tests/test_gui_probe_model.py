"""The Probe's display logic without Qt: RunView (typed runs, old and new records), CompareRow, the ETA read-out,
the trained-baseline guard."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.test_history import fake_result
from app.eta import Rate, format_seconds
from widgets.probe.model import NOT_RECORDED, RunView, compare_row


def test_old_record_reads_not_recorded_never_default():
    v = RunView.from_dict({**fake_result(top1=0.75), "id": 7})
    assert v.run_id == 7 and v.label == "simple (random)" and v.backbone == "simple" and v.head == "logistic"
    assert v.top1 == 0.75 and v.test_top1 == 0.75 and v.val_top1 is None
    assert v.layer is None and v.layer_text == NOT_RECORDED and v.pooling is None  # "default" is not a pooling
    assert v.seeds_text() == NOT_RECORDED and v.hyper_text() == "epochs=5"  # the options it ran with
    assert v.n_features == 64 and v.n_misclassified == 2 and v.has_misclassified
    assert v.confusion.shape == (10, 10) and v.confusion.dtype == np.int64


def test_new_record_reads_the_resolved_record():
    d = fake_result(top1=0.8)
    d.update(val_top1=0.82, test_top1=0.8, selected={"weight_decay": 1e-3}, id=3,
             resolved={"model": {"backbone": "rdsn", "weights": None}, "layer": 2, "layer_name": "stage3",
                       "pooling": "grid3", "head": "logistic", "head_options": {"weight_decay": 1e-3, "epochs": 100},
                       "seeds": {"model": 1, "split": 0, "head": 0}, "n_features": 9216})
    v = RunView.from_dict(d)
    assert (v.backbone, v.layer, v.layer_text, v.pooling, v.n_features) == ("rdsn", 2, "stage3", "grid3", 9216)
    assert v.val_top1 == 0.82 and v.hyper_text() == "weight_decay=0.001"  # the selected value, not the options
    assert v.seeds_text() == "head 0, model 1, split 0"
    assert v.caveats() == [] and RunView.from_dict({**fake_result(), "id": 4}).caveats() == []  # nothing to say
    val_se, test_se = RunView.from_dict({**d, "n_val": 400}).spread_texts()
    assert val_se == f"s.e. {100 * (0.82 * 0.18 / 400) ** 0.5:.1f}" == "s.e. 1.9"
    assert test_se == f"s.e. {100 * (0.8 * 0.2 / v.n_test) ** 0.5:.1f}"
    assert v.spread_texts()[0] == ""  # the validation split's size not recorded: no figure made up
    # 20 of 20 right: no s.e. of 0.0 (certainty), the Wilson 95% interval
    assert RunView.from_dict({**d, "val_top1": 1.0, "n_val": 20}).spread_texts()[0] == "95% CI 83.9-100.0"
    d.update(dataset="digits", stop={"criterion": "max |gradient|", "value": 2e-3, "tolerance": 1e-4,
                                     "iterations": 100, "converged": False})
    d["resolved"].update(tta="hflip", dataset="digits")
    notes = RunView.from_dict(d).caveats()  # a stored run reopened from the history: its caveats come back
    assert len(notes) == 2 and notes[0].startswith("mirror views on digits") and "iteration cap (100)" in notes[1]


def test_hyperparameters_shown_without_the_mechanics():
    d = fake_result()
    d["settings"] = {"head_options": {"weight_decay": 1e-4, "epochs": 100, "tol": 1e-4, "batch_size": 512}}
    assert RunView.from_dict(d).hyper_text() == "weight_decay=0.0001"
    assert RunView.from_dict({**fake_result(head="own")}).hyper_text() == "none (own classifier)"


def test_from_result_reads_new_fields_by_getattr():
    @dataclasses.dataclass
    class Result:  # a ProbeResult of the next version: to_dict() plus typed fields
        val_top1: float = 0.9
        selected: dict = dataclasses.field(default_factory=lambda: {"C": 0.1})

        def to_dict(self):
            return fake_result(top1=0.85, head="svm")

    v = RunView.from_result(Result(), run_id=12)
    assert v.run_id == 12 and v.val_top1 == 0.9 and v.test_top1 == 0.85 and v.hyper_text() == "C=0.1"


def test_compare_row_mean_std_and_seeds():
    runs = []
    for seed, (val, test) in enumerate(((0.8, 0.7), (0.9, 0.8))):
        d = fake_result(top1=test, seed=seed)
        d.update(val_top1=val, seeds={"model": seed, "split": 0})
        runs.append(RunView.from_dict(d))
    row = compare_row(runs)
    assert row.n_runs == 2 and row.val == "85.0% ± 7.1" and row.test == "75.0% ± 7.1"
    assert row.seeds == "model 0, 1; split 0" and row.layer == NOT_RECORDED and row.n_features == "64"
    assert row.n_test == str(runs[0].n_test)  # the test split's size, shown as a setting
    old = compare_row([RunView.from_dict(fake_result(top1=0.5))])
    assert old.val == NOT_RECORDED and old.test == "50.0%" and old.seeds == NOT_RECORDED
    assert row.weights == "none" and row.head == "logistic"  # no weights file; no test-time views
    d = fake_result(top1=0.5)
    d["config"]["tta"] = "hflip"
    assert compare_row([RunView.from_dict(d)]).head == "logistic · mirror views"
    d["config"]["tta"] = "shift1"
    assert compare_row([RunView.from_dict(d)]).head == "logistic · shift views"


def test_rate_percentage_throughput_and_time_left():
    r = Rate(min_seconds=0.5)
    assert r.update(0, 1000, now=10.0) == "0%"
    assert r.update(100, 1000, now=10.2) == "10%"  # too early for a rate
    assert r.update(500, 1000, now=11.0) == "50% · 500 images/s · 1 s left"
    assert r.update(1000, 1000, now=12.0) == "100% · 500 images/s"
    assert r.update(10, 200, now=12.1) == "5%"  # a new stage (another total) starts a new rate
    assert r.update(5, None, now=13.0) == ""
    assert r.update(30, 100, now=20.0, unit="steps") == "30%"
    assert r.update(60, 100, now=21.0, unit="steps") == "60% · 30 steps/s · 1 s left"
    assert format_seconds(75) == "1 min 15 s" and format_seconds(7260) == "2 h 01 min"


def test_baseline_guard(tmp_path):
    from app.models.spec import ModelSpec
    from widgets.probe.guards import baseline_refusal

    side = tmp_path / "m.json"
    side.write_text('{"dataset": "cifar10"}')
    spec = ModelSpec.make("resnet20", label="resnet20 (trained, CIFAR-10)", weights=str(tmp_path / "m.safetensors"),
                          weight_state="trained")
    msg = baseline_refusal(spec, "digits")
    assert msg and "trained on cifar10" in msg and "digits" in msg and "change of dataset" in msg
    assert "with other classes" not in msg  # MNIST's classifier on digits: the same classes, other images
    assert baseline_refusal(spec, "cifar10") is None
    unknown = ModelSpec.make("resnet20", weights=str(tmp_path / "other.pt"), weight_state="trained")
    assert "not recorded" in baseline_refusal(unknown, "cifar10")


@pytest.mark.parametrize("name", ["probe.compare", "models.builder"])
def test_preview_targets_exist(name):
    from widgets.preview import TARGETS

    assert name in TARGETS and {"kernels", "models", "live", "probe", "data"} <= set(TARGETS)
