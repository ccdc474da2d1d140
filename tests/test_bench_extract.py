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
from app.tasks import run_to_end

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


def test_whole_batches_on_workers_give_the_one_thread_features(monkeypatch):
    """``extract._fill`` on the CPU: whole batches on 1, 2 or 3 single-threaded workers at once give the same
    features bit for bit, in order (rdsn and patches), as the one-thread path; a cancel between batches leaves no
    worker running."""
    import threading

    import torch

    from app import device
    from app.models.inputs import to_tensor
    from app.models.registry import create
    from app.probe import extract as ex
    from app.probe.bench_extract import prepare, settings_from_args
    from app.tasks import CancelToken, Cancelled

    model, images, ispec, layer, dev = prepare(settings_from_args(_args(pooling="grid2")))
    images = images[:47]
    patches = create("patches", in_channels=1, k=12, patch_size=3, n_patches=500, kmeans_epochs=1, input_size=8)
    patches.fit_patches(to_tensor(images, ispec, dev), seed=0)
    monkeypatch.setattr(ex, "batch_size", lambda *a: 5)  # 10 batches, the last one short
    threads = torch.get_num_threads()
    try:
        for m, ly in ((model, layer), (patches.eval(), 1)):
            got = {}
            for workers in (1, 2, 3):
                monkeypatch.setattr(device, "configured_threads", lambda w=workers: w)
                got[workers] = run_to_end(ex.extract(m, images, ispec, ly, "grid2", key=None)).array
            assert np.array_equal(got[1], got[2]) and np.array_equal(got[1], got[3])
            with torch.inference_mode():  # in order: the batches' rows where they belong
                np.testing.assert_array_equal(got[2][:5], ex._maps_fn(m, ly, "grid2")(to_tensor(images[:5], ispec,
                                                                                                dev)).numpy())
        token = CancelToken()
        seen = []
        gen = ex.extract(model, images, ispec, layer, "grid2", key=None, cancel=token)
        with pytest.raises(Cancelled):
            for p in gen:
                seen.append(p)
                if len(seen) == 3:
                    token.cancel()
        assert not [t for t in threading.enumerate() if t.name.startswith("extract")]  # the workers ended
    finally:
        torch.set_num_threads(threads)


def test_accelerator_budget_from_free_memory(monkeypatch):
    """On a CUDA device the maps of a batch may take a quarter of the free memory (at least the CPU's budget, at most
    8 GB) and a channel chunk the whole budget, so that rdsn k = 100,000 is not computed one image and ~50 small
    chunks at a time as on the CPU; the CPU keeps its measured figures."""
    import torch

    from app.probe import extract as ex

    assert ex.map_budget("cpu") == ex.MAP_BUDGET
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda dev=None: (100 * 2**30, 141 * 2**30))
    assert ex.map_budget("cuda") == 8 * 2**30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda dev=None: (2 * 2**30, 141 * 2**30))
    assert ex.map_budget("cuda:0") == 2**29
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda dev=None: (100 * 2**20, 141 * 2**30))
    assert ex.map_budget("cuda") == ex.MAP_BUDGET

    def no_driver(dev=None):
        raise RuntimeError("Found no NVIDIA driver on your system")
    monkeypatch.setattr(torch.cuda, "mem_get_info", no_driver)
    assert ex.map_budget("cuda") == ex.MAP_BUDGET
    assert ex.map_budget("mps") == 2**30  # reports no free memory: a fixed 1 GB

    class Wide:  # rdsn-like: k channels of input-sized maps, chunked
        k = 100_000

        def extract_pooled(self, x, chunk=None, pool=None, layer=None):
            raise AssertionError("not called")

        def chunk_size(self, x):
            return 13

    probe = torch.empty(1, 1, 28, 28, device="meta")  # an accelerator's tensor without one
    assert ex.batch_size(Wide(), probe, 1) == 2**30 // (28 * 28 * 4 * 100_000) == 3
    assert ex.batch_size(Wide(), torch.zeros(1, 1, 28, 28), 1) == 1  # the CPU: 192 MB hold less than one image
    assert ex.cache_chunk(Wide(), torch.empty(3, 1, 28, 28, device="meta")) == 2**30 // (3 * 3 * 28 * 28 * 4)
    cpu = torch.zeros(1, 1, 28, 28)
    assert ex.cache_chunk(Wide(), cpu) == 13  # the model's own bound, then the CPU's cache-sized chunk
    monkeypatch.setattr(ex, "CACHE_MAPS", 5 * 28 * 28 * 4)
    assert ex.cache_chunk(Wide(), cpu) == 5


def test_workers_feed_the_tuner_each_batchs_own_pace(monkeypatch):
    """With two workers the batches complete two at once and then none for a batch's time; the thread tuner must see
    each batch's own time shared by the workers beside it, an even pace, not that alternation (fed the time between
    completions, 0.1 and 2 ms per image in turn, it took a trial's first batches for the pace of one worker and kept
    one on an idle machine: 757 instead of ~1,250 images/s). Batches that take 40 ms each on their worker: every
    step but the warm-up reads ~20 ms / 5 images = 4 ms per image."""
    import time

    import torch

    from app import device, threads
    from app.probe import extract as ex
    from app.probe.bench_extract import prepare, settings_from_args

    _, images, ispec, _, dev = prepare(settings_from_args(_args(pooling="grid2")))
    images = images[:60]
    seen = []
    monkeypatch.setattr(threads.ThreadTuner, "record", lambda self, s: seen.append(s))
    monkeypatch.setattr(device, "configured_threads", lambda: 2)

    def slow(x):
        time.sleep(0.04)
        return torch.zeros(len(x), 3)

    out = np.empty((60, 3), np.float32)
    torch_threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        for _ in ex._fill(out, slow, images, ispec, dev, 5, "t", None):
            pass
    finally:
        torch.set_num_threads(torch_threads)
    assert len(seen) == 12
    per_image = np.array(seen[1:]) * 1e3
    assert np.all(per_image > 3.5) and np.all(per_image < 8), per_image
