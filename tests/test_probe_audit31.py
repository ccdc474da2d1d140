"""The probe's extraction says when a model cannot take the dataset's images (session 31): lenet5's 5x5 kernels on the
8x8 digits ended `probe`, `bench head` and `bench svm` in a RuntimeError traceback."""

from __future__ import annotations

import pytest

from app.models.base import ModelError


def test_a_model_that_cannot_take_the_images_is_the_projects_error(fe_home):
    from tests.cli_inprocess import run_cli

    r = run_cli("probe", "--backbone", "lenet5", "--dataset", "digits", home=fe_home)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "error: lenet5: the model failed on a batch of 1 1-channel 8x8 images (Calculated padded input size" \
        in r.stderr


def test_extract_raises_model_error_naming_the_input():
    import numpy as np

    from app.models.build import build
    from app.models.inputs import InputSpec
    from app.models.spec import ModelSpec
    from app.probe.extract import extract
    from app.tasks import run_to_end

    model = build(ModelSpec.make("lenet5"))
    images = np.zeros((3, 8, 8, 1), np.uint8)
    with pytest.raises(ModelError, match=r"lenet5: the model failed on a batch of 1 1-channel 8x8 images"):
        run_to_end(extract(model, images, InputSpec(1, None, (0.5,), (0.5,)), len(model.feature_info) - 1, "gap"))


def test_bench_heads_describe_the_stopping_rule_their_fit_reports(fe_home):
    """The JSON's settings.ours named the gradient rule alone (a fixed text), where the head also stops on a duality
    gap: the text now comes from the fit's own stop report."""
    import json

    from app.probe.bench import stop_rule
    from tests.cli_inprocess import run_cli

    assert stop_rule({"criterion": "max |gradient|", "tolerance": 1e-4, "gap_tolerance": 0.1}) == \
        "stopping at max |gradient| <= 0.0001 and relative duality gap <= 0.1"
    r = run_cli("bench", "head", "--quick", "--json", home=fe_home)
    assert r.returncode == 0, r.stderr
    ours = json.loads(r.stdout)["settings"]["ours"]
    assert "stopping at max |gradient| <= 0.0001 and relative duality gap <= 0.1" in ours


def test_bench_head_says_when_its_features_came_from_the_cache(fe_home):
    """extract_seconds of a second run was a cache read (0.001 s) with nothing saying so."""
    import json

    from tests.cli_inprocess import run_cli

    first = run_cli("bench", "head", "--quick", "--json", home=fe_home)
    second = run_cli("bench", "head", "--quick", "--json", home=fe_home)
    assert json.loads(first.stdout)["settings"]["features_cached"] == "none"
    assert json.loads(second.stdout)["settings"]["features_cached"] == "both"
