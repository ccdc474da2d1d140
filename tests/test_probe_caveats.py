"""Caveats of a probe run (``app.probe.caveats``): what its figures do not say by themselves, read from the run's own
record: mirror views on handwritten digits (measured here: they cost accuracy), a head stopped before its tolerance.
Shown by ``probe`` ("caveat:" lines, ``caveats`` in --json) and the Probe workspace (tests/test_probe_tta_gui.py)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from app.models.spec import ModelSpec
from app.probe.caveats import caveats, views_caveat
from app.probe.config import ProbeConfig
from app.probe.run import run_probe
from app.tasks import run_to_end


@pytest.mark.parametrize("dataset", ["digits", "mnist", "MNIST "])
def test_mirror_views_on_digits_have_a_caveat(dataset):
    text = views_caveat(dataset, "hflip")
    assert text.startswith(f"mirror views on {dataset}: handwritten digits are not left-right symmetric")
    assert "--tta none" in text


@pytest.mark.parametrize("dataset,tta", [("digits", "none"), ("mnist", "shift1"), ("mnist", None),
                                         ("cifar10", "hflip"), ("fashion-mnist", "hflip"),
                                         ("imagefolder:/data/mnist", "hflip"), ("", "hflip"), (None, "hflip")])
def test_no_caveat_where_the_views_keep_the_classes(dataset, tta):
    assert views_caveat(dataset, tta) is None


def _stop(converged, iterations, value=3e-3, tol=1e-4, criterion="max |gradient|"):
    return {"criterion": criterion, "value": value, "tolerance": tol, "iterations": iterations,
            "converged": converged}


def test_a_head_stopped_before_its_tolerance_is_said_with_its_figures():
    capped = caveats({"stop": _stop(False, 100), "resolved": {"head_options": {"epochs": 100}}})
    assert capped == ["the head stopped at its iteration cap (100) before reaching its tolerance (max |gradient| "
                      "0.003, tolerance 0.0001): the figures may move with more iterations (Max iterations; probe "
                      "--head-options epochs=N)"]
    stalled = caveats({"stop": _stop(False, 37), "settings": {"head_options": {"epochs": 100}}})
    assert stalled == ["the head stopped after 37 iterations without reaching its tolerance (max |gradient| 0.003, "
                       "tolerance 0.0001): its optimiser made no further progress"]
    assert caveats({"stop": _stop(True, 14), "resolved": {"head_options": {"epochs": 100}}}) == []
    # heads without a tolerance (closed form, kNN, Adam's fixed epochs) and records older than the fields: none
    for stop in ({"criterion": "closed form", "value": None, "tolerance": None, "iterations": 1, "converged": True},
                 {"criterion": "fixed number of epochs (Adam)", "value": None, "tolerance": None, "iterations": 5,
                  "converged": False}, {}):
        assert caveats({"stop": stop}) == []
    assert caveats({}) == [] and caveats(None) == []
    assert caveats({"stop": "damaged", "resolved": "damaged", "settings": 3}) == []


def test_a_run_with_mirror_views_on_digits_records_the_caveat_and_they_do_cost_accuracy():
    """The caveat's claim, measured: the same backbone, split and head, one view against mirror views (digits)."""
    base = ProbeConfig(model=ModelSpec(backbone="rdsn", options=(("k", 16), ("blocks", 1))), dataset="digits",
                       head="ridge", grid=(10.0,), layer=-1, pooling="grid3")
    plain = run_to_end(run_probe(base))
    mirror = run_to_end(run_probe(dataclasses.replace(base, tta="hflip")))
    assert caveats(plain.to_dict()) == []
    (text,) = caveats(mirror.to_dict())
    assert text == views_caveat("digits", "hflip")
    assert mirror.val_top1 < plain.val_top1 - 0.02 and mirror.top1 < plain.top1 - 0.02


def test_the_command_line_prints_the_caveats_and_puts_them_in_the_json(capsys, fe_home):
    from app.cli import run

    args = ["--threads", "1", "probe", "--dataset", "digits", "--backbone", "rdsn", "--options", "k=8", "blocks=1",
            "--head", "ridge", "--grid", "10", "--test-limit", "100", "--tta", "hflip"]
    assert run(args + ["--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["caveats"] == [views_caveat("digits", "hflip")]
    assert run(args) == 0
    out = capsys.readouterr().out
    assert f"  caveat: {views_caveat('digits', 'hflip')}\n" in out
    assert run(args[:-2] + ["--json"]) == 0  # one view: nothing to say
    assert json.loads(capsys.readouterr().out)["caveats"] == []
