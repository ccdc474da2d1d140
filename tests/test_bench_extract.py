"""``bench extract``: the probe's extraction against a bare batched forward (fields, the ratio, bad arguments), and
the extraction path's output against that bare forward."""

from __future__ import annotations

import json
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest

from app.errors import UserError

ROOT = Path(__file__).resolve().parent.parent


def _args(**kw):
    base = dict(quick=True, dataset=None, data_root=None, backbone="rdsn", options=None, layer=None,
                pooling="default", images=10000, rounds=1, timeout=300, seed=0, json=True)
    base.update(kw)
    return Namespace(**base)


def test_bench_extract_quick_json_fields_and_ratio(tmp_path):
    env = {"FILTER_EXPLORER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "main.py", "--threads", "1", "bench", "extract", "--quick", "--rounds", "1",
                        "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for field in ("ours_img_s", "bare_img_s", "ratio", "ours_peak_rss_mb", "bare_peak_rss_mb"):
        assert out[field] > 0, field
    assert out["ratio"] == pytest.approx(out["ours_img_s"] / out["bare_img_s"], rel=1e-3)
    assert out["features_match"] and out["sketch_relative_difference"] < 1e-4
    st = out["settings"]
    assert (st["dataset"], st["images"], st["backbone"], st["options"]) == ("digits", 300, "rdsn", {"k": 32})
    assert (st["layer"], st["pooling"], st["n_features"], st["threads"]) == (1, "grid3", 32 * 9, 1)
    assert [r["kind"] for r in out["rounds"]] == ["ours", "bare"]
    assert len(st["load_average_before"]) == 3


@pytest.mark.parametrize("kw, words", [
    (dict(images=0), "--images must be at least 1"),
    (dict(rounds=0), "--rounds must be 1..20"),
    (dict(pooling="grid99"), "--pooling"),
    (dict(options="[1, 2]"), "--options must be a JSON object"),
    (dict(options="{k: 3"), "--options must be a JSON object"),
    (dict(options='{"k": 0}'), "--options"),
    (dict(backbone="nope"), "--backbone nope"),
    (dict(layer=7), "--layer 7 is out of range for rdsn (0..2"),
])
def test_bench_extract_bad_arguments_are_user_errors(kw, words):
    from app.probe.bench_extract import prepare, settings_from_args

    with pytest.raises(UserError, match=words.replace("(", r"\(").replace(".", r"\.")):
        prepare(settings_from_args(_args(**kw)), fit=False)


def test_bench_extract_bad_argument_cli_message(tmp_path):
    r = subprocess.run([sys.executable, "main.py", "bench", "extract", "--quick", "--layer", "9"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120,
                       env={"FILTER_EXPLORER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 2
    assert "error: bench extract: --layer 9 is out of range for rdsn" in r.stderr


def test_extraction_equals_the_bare_forward():
    """The probe's chunked, batched extraction computes exactly the plain forward's features (same order)."""
    import torch

    from app.models.inputs import to_tensor
    from app.probe.bench_extract import bare_features, prepare, settings_from_args
    from app.probe.extract import extract
    from app.tasks import run_to_end

    for pooling in ("gap", "grid3", "avgmaxgrid2"):
        model, images, ispec, layer, dev = prepare(settings_from_args(_args(pooling=pooling)))
        images = images[:40]
        ours = run_to_end(extract(model, images, ispec, layer, pooling, key=None)).array
        bare = bare_features(model, to_tensor(images, ispec, dev), layer, pooling, 16)
        assert ours.shape == bare.shape == (40, 32 * (1 if pooling == "gap" else 9 if pooling == "grid3" else 8))
        np.testing.assert_allclose(ours, bare, rtol=1e-5, atol=1e-5)
        assert torch.get_num_threads() >= 1


def test_cache_sized_channel_chunks_change_no_feature(monkeypatch):
    """rdsn extraction in cache-sized channel chunks (``extract.cache_chunk``) gives the unchunked forward's
    features."""
    from app.models.inputs import to_tensor
    from app.probe import extract as ex
    from app.probe.bench_extract import bare_features, prepare, settings_from_args
    from app.tasks import run_to_end

    model, images, ispec, layer, dev = prepare(settings_from_args(_args(pooling="grid2")))
    images = images[:30]
    x = to_tensor(images, ispec, dev)
    monkeypatch.setattr(ex, "CACHE_MAPS", 5 * 30 * 8 * 8 * 4)  # 5 channels of 30 8x8 maps
    assert ex.cache_chunk(model, x) == 5
    ours = run_to_end(ex.extract(model, images, ispec, layer, "grid2", key=None)).array
    bare = bare_features(model, x, layer, "grid2", 30)
    np.testing.assert_allclose(ours, bare, rtol=1e-6, atol=1e-6)


def test_slices_on_threads_give_the_one_thread_features():
    """``extract.in_parts``: a batch computed as slices on single-threaded workers equals the whole batch, in order
    (rdsn and patches), and the pool's threads run one torch thread each."""
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from app.models.inputs import to_tensor
    from app.models.registry import create
    from app.probe import extract as ex
    from app.probe.bench_extract import prepare, settings_from_args

    model, images, ispec, layer, dev = prepare(settings_from_args(_args(pooling="grid2")))
    x = to_tensor(images[:21], ispec, dev)
    patches = create("patches", in_channels=1, k=12, patch_size=3, n_patches=500, kmeans_epochs=1, input_size=8)
    patches.fit_patches(x, seed=0)
    with ThreadPoolExecutor(3, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        assert set(pool.map(lambda _: torch.get_num_threads(), range(6))) == {1}
        for m, ly in ((model, layer), (patches.eval(), 1)):
            fn = ex._maps_fn(m, ly, "grid2")
            with torch.inference_mode():
                whole = fn(x)
            for workers in (2, 3):
                assert torch.equal(ex.in_parts(fn, x, workers, pool), whole)
            assert torch.equal(ex.in_parts(fn, x[:1], 3, pool), fn(x[:1]))  # one image: no slices
