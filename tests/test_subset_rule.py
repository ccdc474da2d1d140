"""One subset rule for every command (``app.data.core.limited``): ``eval --seed S --test-limit N`` scored another
draw of the test split than a probe with split seed S (98 of 1,000 MNIST images in common), so a trained model's
own head in the probe and ``eval`` of the same weights reported different figures for "the same" subset."""

from __future__ import annotations

import numpy as np

from app.data import load
from app.data.core import limited


def test_the_test_split_is_drawn_with_seed_plus_one_and_the_training_split_with_the_seed():
    train, test = load("digits", "train"), load("digits", "test")
    assert np.array_equal(limited(train, 50, 3).labels, train.subset(50, seed=3).labels)
    assert limited(test, 40, 3).images.tobytes() == test.subset(40, seed=4).images.tobytes()
    assert limited(test, None, 3) is test


def test_eval_and_the_probes_own_head_score_the_same_images(tmp_path, fe_home):
    import json

    from app.models.evaluate import load_split
    from app.probe.run import test_split
    from app.probe.resolve import ResolvedProbe
    from tests.cli_inprocess import run_cli

    test = load("digits", "test")
    picked = load_split("digits", "test", 60, None, 2)
    assert picked.images.tobytes() == limited(test, 60, 2).images.tobytes()
    out = tmp_path / "m"
    r = run_cli("train", "--backbone", "simple", "--options", "in_channels=1", "widths=4,8", "--dataset", "digits",
                "--train-limit", "200", "--test-limit", "60", "--epochs", "1", "--seed", "2", "--out", str(out),
                home=fe_home)
    assert r.returncode == 0, r.stderr
    weights = str(out.with_suffix(".safetensors"))
    e = run_cli("eval", "--weights", weights, "--dataset", "digits", "--test-limit", "60", "--seed", "2", "--json",
                home=fe_home)
    p = run_cli("probe", "--weights", weights, "--dataset", "digits", "--head", "own", "--test-limit", "60",
                "--seed", "2", "--json", home=fe_home)
    assert e.returncode == 0 and p.returncode == 0, (e.stderr, p.stderr)
    record = ResolvedProbe.from_dict(json.loads(p.stdout)["resolved"])
    assert test_split(record).images.tobytes() == picked.images.tobytes()
    assert json.loads(e.stdout)["top1"] == json.loads(p.stdout)["top1"]
