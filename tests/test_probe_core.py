"""Probe core: metrics on hand examples, heads end to end on digits, cancel, the feature cache, the commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from app.models.spec import ModelSpec
from app.probe import extract as ex
from app.probe.config import CurvePoint, ProbeConfig, ProbeResult
from app.metrics import confusion_matrix, evaluate_scores, per_class_accuracy, topk_accuracy
from app.models.inputs import InputSpec, to_tensor
from app.probe.run import evaluate_model, run_probe, test_images
from app.tasks import CancelToken, Cancelled, run_to_end

ROOT = Path(__file__).resolve().parent.parent


def small_config(head="logistic", **kw) -> ProbeConfig:
    spec = ModelSpec.make("rdsn", options={"k": 16, "blocks": 1})
    base = dict(model=spec, dataset="digits", head=head, train_limit=300, test_limit=120, pooling="grid2")
    base.update(kw)
    return ProbeConfig(**base)


# --- metrics ------------------------------------------------------------------------------------------------------
def test_metrics_hand_example():
    # 4 samples, 3 classes; predictions: 0, 2, 1, 2; truth: 0, 1, 1, 0
    scores = np.array([[0.9, 0.05, 0.05],
                       [0.1, 0.3, 0.6],
                       [0.2, 0.7, 0.1],
                       [0.3, 0.2, 0.5]])
    labels = np.array([0, 1, 1, 0])
    m = evaluate_scores(scores, labels, 3)
    assert m.top1 == pytest.approx(0.5)
    # top-2: sample 1 (true 1 is 2nd), sample 3 (true 0 is 2nd: 0.3 > 0.2) -> all four
    assert m.top2 == pytest.approx(1.0)
    assert m.top5 is None  # 3 classes: every class is in the top 5, no figure
    assert m.confusion.tolist() == [[1, 0, 1], [0, 1, 1], [0, 0, 0]]
    assert m.per_class[0] == pytest.approx(0.5) and m.per_class[1] == pytest.approx(0.5)
    assert np.isnan(m.per_class[2])  # class 2 never occurs
    assert m.misclassified.tolist() == [1, 3]
    assert m.mis_predicted.tolist() == [2, 2]


def test_topk_ordering_and_ties():
    scores = np.array([[1.0, 1.0, 0.0, 2.0]])  # ranking: 3, then 0 and 1 tied -> lower index first
    assert topk_accuracy(scores, np.array([3]), 1) == 1.0
    assert topk_accuracy(scores, np.array([0]), 1) == 0.0
    assert topk_accuracy(scores, np.array([0]), 2) == 0.5  # 0 and 1 tie for the second place: half of it each
    assert topk_accuracy(scores, np.array([1]), 2) == 0.5  # (not decided by the class number)
    assert topk_accuracy(scores, np.array([1]), 3) == 1.0
    assert topk_accuracy(scores, np.array([2]), 10) == 1.0  # k larger than the class count
    cm = confusion_matrix(np.array([0, 1, 1]), np.array([0, 0, 1]), 2)
    assert cm.tolist() == [[1, 1], [0, 1]]
    assert per_class_accuracy(cm).tolist() == [0.5, 1.0]


# --- preprocessing -------------------------------------------------------------------------------------------------
def test_preprocess_gray_to_rgb_resize_normalise():
    img = np.zeros((2, 8, 8, 1), np.uint8)
    img[:, :4] = 255
    spec = InputSpec(3, (32, 32), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    x = to_tensor(img, spec)
    assert x.shape == (2, 3, 32, 32) and x.dtype == torch.float32
    assert torch.allclose(x[:, 0], x[:, 2])
    assert x[0, 0, 0, 0].item() == pytest.approx(1.0) and x[0, 0, -1, 0].item() == pytest.approx(-1.0)
    rgb = np.zeros((1, 4, 4, 3), np.uint8)
    rgb[..., 1] = 255
    g = to_tensor(rgb, InputSpec(1, (4, 4), (0.0,), (1.0,)))
    assert g.shape == (1, 1, 4, 4) and g[0, 0, 0, 0].item() == pytest.approx(0.587, abs=1e-5)


# --- end to end ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("head", ["logistic", "ridge", "svm", "knn"])
def test_run_probe_each_head(fe_home, head):
    progress = []
    result = run_to_end(run_probe(small_config(head)), progress.append)
    assert isinstance(result, ProbeResult)
    # 300 training images: 20% (60) carved off for validation
    assert result.n_train == 240 and result.n_val == 60 and result.n_test == 120 and result.n_features == 16 * 4
    assert result.val_top1 is not None and 0.5 < result.val_top1 <= 1.0 and result.test_top1 == result.top1
    assert 0.5 < result.top1 <= result.top2 <= result.top5 <= 1.0  # far above chance (0.1) on digits
    assert result.confusion.shape == (10, 10) and result.confusion.sum() == 120
    assert len(result.misclassified) == 120 - np.trace(result.confusion)
    assert result.settings["head_options"] and result.settings["layer"] == 1
    assert any(isinstance(p.payload, CurvePoint) for p in progress)
    json.dumps(result.to_dict())  # JSON-able
    again = ProbeConfig.from_dict(json.loads(json.dumps(result.config.to_dict())))
    assert again == result.config
    assert len(test_images(result.config)) == 120


def test_logistic_adam_curves_have_val_acc(fe_home):
    cfg = small_config("logistic", head_options=(("epochs", 5), ("optimizer", "adam")))
    result = run_to_end(run_probe(cfg))
    assert len(result.curves) == 5 and result.curves[-1].val_acc == pytest.approx(result.val_top1)
    assert result.top1 > 0.3


def test_cancel_mid_extraction_leaves_no_cache(fe_home):
    token = CancelToken()
    gen = run_probe(small_config(train_limit=None), token)
    seen = 0
    with pytest.raises(Cancelled):
        for p in gen:
            if p.message.startswith("extracting train"):
                seen += 1
                if p.done > 0:
                    token.cancel()
    assert seen >= 2
    cache = fe_home / "cache" / "features"
    assert not list(cache.glob("*.tmp"))
    assert not [f for f in cache.glob("*.npy")]  # the cancelled split was never written


def test_feature_cache_hit_on_new_head_settings(fe_home, monkeypatch):
    calls = []
    real = ex._maps_fn

    def counting(model, layer, pooling):
        fn = real(model, layer, pooling)
        return lambda x: (calls.append(len(x)), fn(x))[1]

    monkeypatch.setattr(ex, "_maps_fn", counting)
    first = run_to_end(run_probe(small_config("logistic")))
    assert not first.feature_cache_hit and calls
    n_calls = len(calls)
    second = run_to_end(run_probe(small_config("ridge", head_options=(("alpha", 3.0),))))
    assert second.feature_cache_hit
    assert len(calls) == n_calls  # no extraction at all
    assert second.n_features == first.n_features
    third = run_to_end(run_probe(small_config("logistic", pooling="gap")))  # new pooling: new features
    assert not third.feature_cache_hit and len(calls) > n_calls


def test_cache_written_atomically(fe_home):
    """While extracting, only a temporary file exists; the final name appears complete, at the end."""
    gen = run_probe(small_config(train_limit=None))  # 1347 images: several batches
    cache = fe_home / "cache" / "features"
    checked = False
    for p in gen:
        if p.message.startswith("extracting train") and 0 < p.done < p.total:
            assert list(cache.glob("*.tmp"))
            assert not list(cache.glob("*.npy"))
            checked = True
    assert checked
    final = list(cache.glob("*.npy"))
    assert len(final) == 3 and not list(cache.glob("*.tmp"))  # train, validation, test
    assert np.load(final[0]).shape[1] == 64


def test_ridge_primal_matches_dual():
    from app.probe.heads import train_ridge

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 40)
    X = rng.standard_normal((40, 12)).astype(np.float32) + y[:, None]
    Xte = rng.standard_normal((10, 12)).astype(np.float32)
    opts = {"alpha": 2.0, "standardize": True}
    primal = run_to_end(train_ridge(X, y, Xte, np.zeros(10, np.int64), 3, opts))
    wide = np.concatenate([X, X * 0.5], axis=1)  # d = 24 > n? no: make n < d with fewer rows
    dual = run_to_end(train_ridge(X[:10], y[:10], Xte, np.zeros(10, np.int64), 3, opts))
    assert primal.settings["form"] == "primal" and dual.settings["form"] == "dual"
    # dual on 10 rows equals primal on the same 10 rows
    from app.probe import heads

    ref = run_to_end(heads.train_ridge(np.concatenate([X[:10]] * 1), y[:10], Xte, np.zeros(10, np.int64), 3, opts))
    assert np.allclose(ref.scores, dual.scores, atol=1e-4)
    # closed form check of the primal solution
    mean, inv = heads.standardizer(X, True)
    A = ((X - mean) * inv).astype(np.float64)
    Y = -np.ones((40, 3))
    Y[np.arange(40), y] = 1
    W = np.linalg.solve(A.T @ A + 2.0 * np.eye(12), A.T @ (Y - Y.mean(0)))
    expect = ((Xte - mean) * inv) @ W + Y.mean(0)
    assert np.allclose(primal.scores, expect, atol=1e-3)
    assert wide.shape[1] == 24


def test_lbfgs_solves_an_ill_conditioned_quadratic():
    from app.probe.lbfgs import lbfgs

    rng = np.random.default_rng(0)
    Q = rng.standard_normal((30, 30))
    H = torch.from_numpy(Q @ Q.T + 0.1 * np.eye(30))  # float64: float32 would stall on this conditioning
    c = torch.from_numpy(rng.standard_normal(30))

    def fun(x):
        return float(0.5 * x @ H @ x - c @ x), H @ x - c

    its = list(lbfgs(fun, torch.zeros(30, dtype=torch.float64), 500, lambda g: float(g.abs().max()) <= 1e-4))
    last, x = its[-1]
    assert last.converged and not last.stalled and last.n_iter == len(its) < 500
    assert [it.n_iter for it, _ in its] == list(range(1, len(its) + 1))  # one report per iteration
    assert torch.allclose(x, torch.linalg.solve(H, c), atol=1e-2)
    assert all(b.loss <= a.loss + 1e-6 for (a, _), (b, _) in zip(its, its[1:]))  # a descent method


def test_preconditioned_logistic_reaches_the_same_optimum_in_fewer_iterations():
    from app.probe.heads import preconditioner, train_logistic

    rng = np.random.default_rng(1)
    n, d, C = 600, 64, 4
    y = rng.integers(0, C, n)
    mix = rng.standard_normal((d, d)) * np.linspace(0.05, 3.0, d)  # strongly correlated, badly scaled features
    X = (rng.standard_normal((n, d)) @ mix + 0.4 * np.eye(C, d)[y] @ mix).astype(np.float32)
    Xte = X[:100]
    opts = {"optimizer": "lbfgs", "weight_decay": 1e-3, "epochs": 500, "lr": 1.0, "tol": 1e-5, "eval_every": 1}
    plain = run_to_end(train_logistic(X, y, Xte, y[:100], C, dict(opts, precondition="off")))
    pre = run_to_end(train_logistic(X, y, Xte, y[:100], C, dict(opts, precondition="on")))
    assert plain.curves[-1].step < 500 and pre.curves[-1].step < 500  # both converged
    assert pre.curves[-1].step < plain.curves[-1].step
    assert pre.curves[-1].loss == pytest.approx(plain.curves[-1].loss, rel=1e-4, abs=1e-5)
    assert np.allclose(pre.scores, plain.scores, atol=5e-2)
    assert [c.step for c in pre.curves] == list(range(1, len(pre.curves) + 1))
    A = torch.from_numpy(X)
    assert preconditioner(A, 1e-3, "auto") is not None and preconditioner(A, 1e-3, "off") is None
    with pytest.raises(ValueError, match="precondition"):
        preconditioner(A, 1e-3, "sometimes")


def test_logistic_accuracy_points_early_and_every_n():
    from app.probe.heads import accuracy_due, train_logistic

    assert [i for i in range(1, 40) if accuracy_due(i, 10)] == [1, 2, 4, 8, 10, 20, 30]
    assert not any(accuracy_due(i, 0) for i in range(1, 100))
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 20)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)
    opts = {"optimizer": "lbfgs", "weight_decay": 1e-3, "epochs": 25, "tol": 0.0, "eval_every": 10}
    res = run_to_end(train_logistic(X, y, X[:50], y[:50], 3, opts))
    with_acc = [c.step for c in res.curves if c.test_acc is not None]
    assert with_acc[:5] == [1, 2, 4, 8, 10] and with_acc[-1] == res.curves[-1].step
    quiet = run_to_end(train_logistic(X, y, X[:50], y[:50], 3, dict(opts, eval_every=0)))
    assert [c.step for c in quiet.curves if c.test_acc is not None] == [quiet.curves[-1].step]


def test_logistic_cancel_between_iterations():
    from app.probe.heads import train_logistic

    rng = np.random.default_rng(2)
    X = rng.standard_normal((200, 16)).astype(np.float32)
    y = rng.integers(0, 3, 200)
    token = CancelToken()
    gen = train_logistic(X, y, X[:10], y[:10], 3, {"optimizer": "lbfgs", "weight_decay": 1e-4, "epochs": 100,
                                                   "tol": 0.0}, cancel=token)
    next(gen)
    token.cancel()
    with pytest.raises(Cancelled):
        next(gen)


def test_evaluate_model_own_classifier(fe_home):
    spec = ModelSpec.make("simple", options={"in_channels": 1, "widths": (4,), "num_classes": 10, "input_size": 8})
    result = run_to_end(evaluate_model(spec, "digits", test_limit=50))
    assert result.n_test == 50 and result.config.head == "own" and result.confusion.sum() == 50


def test_bad_settings_raise_clear_errors(fe_home):
    with pytest.raises(ValueError, match="unknown option"):
        run_to_end(run_probe(small_config("ridge", head_options=(("nope", 1),))))
    with pytest.raises(ValueError, match="pooling"):
        run_to_end(run_probe(small_config(pooling="grid")))
    with pytest.raises(ValueError, match="layer"):
        run_to_end(run_probe(small_config(layer=7)))


# --- commands -----------------------------------------------------------------------------------------------------
def _main(*args, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, FILTER_EXPLORER_HOME=str(home), FILTER_EXPLORER_THREADS="1")
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True, env=env,
                          timeout=240, cwd=ROOT)


def test_probe_command_json(tmp_path):
    r = _main("probe", "--backbone", "rdsn", "--options", '{"k": 8, "blocks": 1}', "--dataset", "digits",
              "--train-limit", "200", "--test-limit", "60", "--head", "ridge", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("top1", "top2", "top5", "n_train", "n_test", "n_features", "extract_seconds", "train_seconds",
                "cpu_seconds", "settings", "config", "val_top1", "test_top1", "selected", "seeds", "run_id", "input"):
        assert key in out
    assert out["run_id"] == 1 and out["test_top1"] == out["top1"] and list(out["selected"]) == ["alpha"]
    table = dict((float(a), acc) for a, acc in out["selection"])  # the best validation top-1 was selected
    assert out["selected"]["alpha"] in table and table[out["selected"]["alpha"]] == max(table.values())
    assert out["seeds"] == {"model": 0, "split": 0, "head": 0} and out["input"]["source"].startswith("random")
    assert out["n_train"] == 160 and out["n_val"] == 40 and out["n_test"] == 60 and out["n_features"] == 8 * 9  # rdsn probe default (gray): layer 1, 3x3 grid
    assert out["settings"]["pooling"] == "grid3" and out["settings"]["whiten_stem"] is None
    assert 0 <= out["top1"] <= out["top2"] <= 1
    bad = _main("probe", "--backbone", "rdsn", "--dataset", "digits", "--options", "{oops", home=tmp_path)
    assert bad.returncode == 2 and "--options" in bad.stderr


def test_bench_head_quick(tmp_path):
    r = _main("bench", "head", "--quick", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("ours_seconds", "sklearn_seconds", "ours_top1", "sklearn_top1", "settings"):
        assert key in out
    assert out["settings"]["sklearn_C"] == pytest.approx(1 / (out["settings"]["weight_decay"] *
                                                               out["settings"]["n_train"]))
    assert 0.5 < out["ours_top1"] <= 1 and 0.5 < out["sklearn_top1"] <= 1


def test_stale_temporary_files_are_removed(fe_home):
    path = ex.cache_path("k" * 24)
    path.parent.mkdir(parents=True, exist_ok=True)
    dead = path.with_name(f".{path.name}.999999999.abc.tmp")  # no such process
    mine = path.with_name(f".{path.name}.{os.getpid()}.abc.tmp")
    legacy_dead = path.with_name(f"{path.stem}.999999999.tmp.npy")  # the naming of older versions
    legacy_mine = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
    for f in (dead, mine, legacy_dead, legacy_mine):
        f.write_bytes(b"x")
    ex._remove_stale_tmp(path)
    assert not dead.exists() and mine.exists() and not legacy_dead.exists() and legacy_mine.exists()


# --- input-dependent probe defaults (colour photographs), avg+max pooling, stem whitening ----------------------------
def test_probe_defaults_depend_on_input_channels():
    from app.probe.config import probe_defaults

    gray, rgb = probe_defaults("rdsn", 1), probe_defaults("rdsn", 3)
    assert gray["pooling"] == "grid3" and gray["model_options"] == {} and gray["whiten"] is None  # MNIST: unchanged
    assert rgb["pooling"] == "avgmaxgrid3" and rgb["model_options"] == {"activation": "relu"} and rgb["whiten"]
    cfg = ProbeConfig(model=ModelSpec.make("rdsn"), dataset="x")
    assert cfg.resolved_pooling(1) == "grid3" and cfg.resolved_pooling(3) == "avgmaxgrid3"
    assert cfg.resolved_head_options(1)["weight_decay"] == 1e-3 and cfg.resolved_head_options(3)["weight_decay"] == 1e-2
    assert cfg.with_options(weight_decay=0.5).resolved_head_options(3)["weight_decay"] == 0.5  # the user's value wins


def test_effective_spec_fills_default_model_options_only_where_unset():
    from app.data import ArrayDataset
    from app.probe.run import effective_spec

    ds = ArrayDataset("t", "train", np.zeros((4, 8, 8, 3), np.uint8), np.zeros(4, np.int64), ("a",))
    spec = effective_spec(ModelSpec.make("rdsn", options={"k": 4}), ds, {"activation": "relu", "nonsense": 1})
    assert dict(spec.options) == {"k": 4, "in_channels": 3, "input_size": 8, "activation": "relu", "seed": 0}
    mine = effective_spec(ModelSpec.make("rdsn", options={"activation": "sign"}), ds, {"activation": "relu"})
    assert dict(mine.options)["activation"] == "sign"


def test_avgmax_pooling_is_avg_and_max_per_channel():
    from app.models.rdsn import RDSN

    torch.manual_seed(0)
    model = RDSN(in_channels=3, k=6, blocks=1, input_size=16)
    x = torch.randn(2, 3, 16, 16)
    both = model.extract_pooled(x, pool=2, layer=1, kind="avgmax").reshape(2, 6, 8)
    assert torch.allclose(both[:, :, :4].reshape(2, -1), model.extract_pooled(x, pool=2, layer=1, kind="avg"))
    assert torch.allclose(both[:, :, 4:].reshape(2, -1), model.extract_pooled(x, pool=2, layer=1, kind="max"))
    maps = torch.randn(2, 5, 6, 6)
    pooled = ex.pool_maps(maps, "avgmaxgrid3").reshape(2, 5, 18)
    assert torch.allclose(pooled[:, :, :9].reshape(2, -1), ex.pool_maps(maps, "grid3"))
    assert torch.allclose(pooled[:, :, 9:].reshape(2, -1), ex.pool_maps(maps, "maxgrid3"))
    assert ex.parse_pooling("avgmaxgrid3") == ("avgmax", 3)


def test_whiten_stem_makes_random_filter_responses_white():
    """After folding patch-ZCA into the stem, the pre-activation responses on the same patches have mean = the
    original bias and covariance = w w^T (the filters see whitened patches)."""
    import torch.nn.functional as F

    from app.models.rdsn import RDSN

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (40, 4, 4, 3)).astype(np.float32)
    images = np.repeat(np.repeat(base, 3, 1), 3, 2)[:, :12, :12]  # blocky images: strongly correlated pixels
    images = np.clip(images + rng.normal(0, 8, images.shape), 0, 255).astype(np.uint8)
    ispec = InputSpec(3, (12, 12), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    model = RDSN(in_channels=3, k=5, blocks=1, input_size=12, stem_kernel=3)
    w0 = model.stem.weight.detach().reshape(5, -1).double().clone()
    b0 = model.stem.bias.detach().double().clone()
    assert ex.whiten_stem(model, images, ispec, 1e-9, patches=10**9)
    x = to_tensor(images, ispec)
    z = F.conv2d(x, model.stem.weight, model.stem.bias)  # no padding: exactly the patches the statistics used
    z = z.permute(0, 2, 3, 1).reshape(-1, 5).double()
    assert torch.allclose(z.mean(0), b0, atol=1e-3 * float(w0.norm()))
    cov = torch.cov(z.T)
    assert torch.allclose(cov, w0 @ w0.T, atol=2e-2 * float((w0 @ w0.T).abs().max()))
    raw = RDSN(in_channels=3, k=5, blocks=1, input_size=12, stem_kernel=3)
    zr = F.conv2d(x, raw.stem.weight, raw.stem.bias).permute(0, 2, 3, 1).reshape(-1, 5).double()
    assert not torch.allclose(torch.cov(zr.T), w0 @ w0.T, atol=2e-2 * float((w0 @ w0.T).abs().max()))
