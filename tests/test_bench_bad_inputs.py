"""Bad options of ``main.py bench ...`` (audit): each is refused with ``error: ...`` and exit code 2, before any
work starts (no data loaded, no model built, no image timed), never with a traceback or a silently odd run."""

from __future__ import annotations

import pytest

from cli_inprocess import run_cli


def _no_work(*args, **kwargs):
    raise AssertionError("the benchmark started working before its options were checked")


@pytest.fixture
def no_work(monkeypatch):
    """Any data load, model creation or preview computation fails the test: the checks must come first."""
    import app.data
    import app.kernels.generators
    import app.kernels.ops
    import app.models.registry

    monkeypatch.setattr(app.data, "load", _no_work)
    monkeypatch.setattr(app.models.registry, "create", _no_work)
    monkeypatch.setattr(app.kernels.ops, "sample_image", _no_work)
    monkeypatch.setattr(app.kernels.ops, "compute_views", _no_work)
    monkeypatch.setattr(app.kernels.generators, "generate", _no_work)


def _refused(tmp_path, *args):
    r = run_cli("bench", *args, home=tmp_path)
    assert "Traceback" not in r.stderr
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith("error: "), r.stderr
    return r.stderr


@pytest.mark.parametrize("args, fragment", [
    (("--train-limit", "-5"), "--train-limit must be a positive number of images, got -5"),
    (("--train-limit", "0"), "--train-limit must be a positive number of images, got 0"),
    (("--test-limit", "-50"), "--test-limit must be a positive number of images, got -50"),
    (("--weight-decay", "-1"), "--weight-decay must be positive"),
    (("--weight-decay", "0"), "--weight-decay must be positive"),
    (("--weight-decay", "inf"), "--weight-decay must be positive"),
    (("--backbone", "nosuch"), "--backbone 'nosuch': unknown backbone; known: "),
    (("--epochs", "0"), "--epochs must be at least 1"),
    (("--epochs", "-3"), "--epochs must be at least 1"),
    (("--pooling", "nosuch"), "--pooling: unknown pooling 'nosuch'"),
    (("--options", "[1]"), "--options must be a JSON object"),
])
def test_bench_head_refuses(tmp_path, no_work, args, fragment):
    assert fragment in _refused(tmp_path, "head", "--quick", *args)


def test_bench_head_refuses_a_layer_the_backbone_lacks(tmp_path):
    # checked once the (tiny) model is built, before any feature is extracted
    err = _refused(tmp_path, "head", "--quick", "--layer", "99")
    assert "--layer 99: rdsn has feature layers 0..2" in err


@pytest.mark.parametrize("args, fragment", [
    (("--train-limit", "-5"), "--train-limit must be a positive number of images, got -5"),
    (("--test-limit", "0"), "--test-limit must be a positive number of images, got 0"),
    (("--backbone", "nosuch"), "--backbone 'nosuch': unknown backbone"),
    (("--epochs", "0"), "bench svm: --epochs must be at least 1"),
    (("--sklearn-max-iter", "0"), "bench svm: --sklearn-max-iter must be at least 1"),
    (("--tol", "0"), "bench svm: --tol must be a positive number"),
    (("--sklearn-tol", "-1"), "bench svm: --sklearn-tol must be a positive number"),
    (("--select-C", "0.1,1", "--val", "0"), "bench svm: --val must be at least 1"),
    (("--pooling", "nosuch"), "--pooling: unknown pooling 'nosuch'"),
])
def test_bench_svm_refuses(tmp_path, no_work, args, fragment):
    assert fragment in _refused(tmp_path, "svm", "--quick", *args)


@pytest.mark.parametrize("args, fragment", [
    (("--k", "0"), "bench rdsn: --k must be at least 1, got 0"),
    (("--k", "16", "--images", "0"), "bench rdsn: --images must be at least 1, got 0"),
    (("--k", "16", "--batch", "0"), "bench rdsn: --batch must be at least 1, got 0"),
    (("--k", "16", "--blocks", "-1"), "bench rdsn: --blocks must be at least 0, got -1"),
    (("--k", "16", "--grid", "0"), "bench rdsn: --grid must be at least 1, got 0"),
    (("--k", "16", "--chunk-mb", "-1"), "bench rdsn: --chunk-mb must be at least 0, got -1"),
    (("--k", "16", "--size", "3"), "bench rdsn: --size must be at least 2^blocks = 4 px"),
])
def test_bench_rdsn_refuses(tmp_path, no_work, args, fragment):
    assert fragment in _refused(tmp_path, "rdsn", *args)


@pytest.mark.parametrize("args, fragment", [
    (("--repeat", "0"), "--repeat must be at least 1 (timed runs per configuration), got 0"),
    (("--repeat", "-1"), "--repeat must be at least 1 (timed runs per configuration), got -1"),
    (("--max-side", "0"), "--max-side must be at least 16 px"),
    (("--max-side", "15"), "--max-side must be at least 16 px"),
])
def test_bench_kernels_preview_refuses(tmp_path, no_work, args, fragment):
    assert fragment in _refused(tmp_path, "kernels-preview", *args)


def test_printed_times_carry_enough_digits_for_their_ratio():
    from app.probe.bench import ms, versus

    v = versus(0.0123, 0.0159, 0.9, 0.9)
    assert ms(v["ours_seconds"]) == "12.3 ms" and ms(v["sklearn_seconds"]) == "15.9 ms"
    assert v["speedup"] == pytest.approx(15.9 / 12.3, abs=0.005)


@pytest.mark.parametrize("command", ["rdsn", "svm", "extract", "kernels-preview"])
def test_bench_options_have_help(command):
    import argparse

    from app.cli import build_parser

    bench = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["bench"]
    sub = next(a for a in bench._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    missing = [a.option_strings[0] for a in sub._actions if a.option_strings and not a.help]
    assert not missing, f"bench {command}: options without a help text: {missing}"
