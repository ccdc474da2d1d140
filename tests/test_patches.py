"""The data-dependent ``patches`` backbone (#13): k-means, ZCA and the encoder by known answers; its fit sees the
training split only (poisoned test and validation splits change nothing), is deterministic, keyed and rebuilt."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from app.errors import AppError
from app.models import patch_fit as pf
from app.models.build import build
from app.models.registry import create
from app.models.spec import ModelSpec
from app.probe import extract as ex
from app.probe import run as run_mod
from app.probe.config import ProbeConfig
from app.tasks import run_to_end

SMALL = {"k": 16, "patch_size": 3, "n_patches": 3000, "kmeans_epochs": 2, "fit_images": 400}


def _cfg(**kw) -> ProbeConfig:
    opts = {**SMALL, **kw.pop("options", {})}
    base = dict(model=ModelSpec.make("patches", options=opts), dataset="digits", head="ridge", pooling="grid2",
                train_limit=500, test_limit=150, grid=(1.0,))
    base.update(kw)
    return ProbeConfig(**base)


# --- the maths, by known answers -----------------------------------------------------------------------------
def test_kmeans_finds_clearly_separated_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[5.0, 5.0], [-5.0, 5.0], [5.0, -5.0], [-5.0, -5.0], [0.0, 0.0]])
    X = (centres[:, None, :] + 0.1 * torch.randn(5, 300, 2, generator=g)).reshape(-1, 2)
    C = run_to_end(pf.kmeans(X, 5, epochs=5, batch=256, seed=3))
    d = torch.cdist(centres, C)
    assert sorted(d.argmin(1).tolist()) == [0, 1, 2, 3, 4]  # one centroid per cluster
    assert float(d.min(1).values.max()) < 0.05  # each at its cluster's mean (the noise mean of 300 points ~ 0.006)
    again = run_to_end(pf.kmeans(X, 5, epochs=5, batch=256, seed=3))
    assert torch.equal(C, again)  # seeded


def test_zca_whitened_patches_have_identity_covariance():
    g = torch.Generator().manual_seed(1)
    A = torch.randn(12, 12, generator=g)
    P = torch.randn(20000, 12, generator=g) @ A.T + 3.0  # correlated, off-centre
    W, m = pf.zca(P.double(), 1e-9)
    Z = (P.double() - m) @ W.T
    assert torch.allclose(torch.cov(Z.T), torch.eye(12, dtype=torch.float64), atol=1e-4)
    assert torch.allclose(W, W.T)  # ZCA: symmetric (the whitened patch stays close to the patch)
    # with a regulariser eps (relative to the mean eigenvalue), each direction keeps lambda / (lambda + eps mean)
    W, m = pf.zca(P.double(), 0.1)
    ev = torch.linalg.eigvalsh(torch.cov(P.double().T))
    want = ev / (ev + 0.1 * ev.mean())
    got = torch.linalg.eigvalsh(torch.cov(((P.double() - m) @ W.T).T))
    assert torch.allclose(got, want, atol=1e-6)
    W0, m0 = pf.zca(P, 0)
    assert torch.equal(W0, torch.eye(12)) and torch.equal(m0, torch.zeros(12))  # 0 = off


def test_the_backbone_computes_the_fit_s_patches():
    """The conv form of the layer (normalise, whiten, encode) equals the same maths on unfolded patch rows."""
    torch.manual_seed(0)
    m = create("patches", in_channels=3, k=8, patch_size=4, stride=2, activation="relu", padding="valid",
               n_patches=2000)
    x = torch.randn(6, 3, 16, 16)
    m.fit_patches(x, seed=0)
    z = m.whitened(x)  # (N, D, H', W')
    P = pf.contrast_normalize(pf.patch_matrix(x, 4, 2))
    want = (P - m.patch_mean) @ m.zca.T
    got = z.permute(0, 2, 3, 1).reshape(-1, m.D)
    assert torch.allclose(got, want, atol=1e-4)
    s = want @ m.encoder.weight.reshape(8, -1).T
    assert torch.allclose(m.forward_features(x).permute(0, 2, 3, 1).reshape(-1, 8), torch.relu(s), atol=1e-4)
    assert bool(m.fitted) and torch.allclose(m.encoder.weight.flatten(1).norm(dim=1), torch.ones(8))


def test_triangle_and_split_activations():
    m = create("patches", in_channels=1, k=4, patch_size=1, normalize=False, zca_eps=0.0, activation="triangle",
               padding="valid")
    C = torch.tensor([[0.0], [1.0], [3.0], [10.0]])
    m.encoder.weight.data.copy_(C.reshape(4, 1, 1, 1))
    x = torch.tensor([[[[1.0]]]])  # distances to the centroids: 1, 0, 2, 9 (mean 3)
    assert m.forward_features(x).flatten().tolist() == [2.0, 3.0, 1.0, 0.0]
    s = create("patches", in_channels=1, k=2, patch_size=1, normalize=False, zca_eps=0.0, activation="split",
               alpha=0.25, padding="valid")
    s.encoder.weight.data.copy_(torch.tensor([1.0, -1.0]).reshape(2, 1, 1, 1))
    out = s.forward_features(torch.tensor([[[[1.0]]]])).flatten().tolist()
    assert out == [0.75, 0.0, 0.0, 0.75] and s.num_features == 2 * 2 * s.pool_grid ** 2
    # the in-place path (no gradient recorded: extraction) computes the same maps
    x = torch.randn(2, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    for act in ("triangle", "split", "soft", "relu", "nearest"):
        m = create("patches", k=6, patch_size=3, activation=act)
        if act == "triangle":
            m = create("patches", k=6, patch_size=3, activation=act, n_patches=200).fit_patches(x, seed=0)
        want = m.forward_features(x)
        with torch.inference_mode():
            assert torch.allclose(m.forward_features(x), want, atol=1e-5), act


def test_nearest_activation_marks_the_nearest_filters_of_z_and_minus_z():
    """Thiry et al.'s code by a brute-force answer: euclidean distances of the patch and of its negative to every
    filter (not unit norm: the distances use the filters as fitted), 1 for the round(fraction x k) nearest."""
    m = create("patches", in_channels=1, k=5, patch_size=1, normalize=False, zca_eps=0.0, activation="nearest",
               fraction=0.4, padding="valid")
    C = torch.tensor([0.0, 1.0, 3.0, -2.0, 10.0])
    m.encoder.weight.data.copy_(C.reshape(5, 1, 1, 1))
    out = m.forward_features(torch.tensor([[[[2.0]]]])).flatten().tolist()
    # z = 2: distances 2, 1, 1, 4, 8 -> the 2 nearest: filters 1 and 2; -z = -2: 2, 3, 5, 0, 12 -> filters 3 and 0
    assert out == [0, 1, 1, 0, 0, 1, 0, 0, 1, 0] and m.num_features == 2 * 5 * m.pool_grid ** 2
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 3, 10, 10, generator=g)
    m = create("patches", k=20, patch_size=3, activation="nearest", fraction=0.25, n_patches=300,
               padding="valid").fit_patches(x, seed=0)
    z = m.whitened(x).permute(0, 2, 3, 1).reshape(-1, m.D)  # every position's whitened patch
    Wk = m.encoder.weight.reshape(m.k, m.D)
    assert not torch.allclose(Wk.norm(dim=1), torch.ones(m.k))  # the fitted patches, not unit filters
    want = torch.cat([(torch.cdist(z, Wk).argsort(1)[:, :5, None] == torch.arange(m.k)).any(1),
                      (torch.cdist(-z, Wk).argsort(1)[:, :5, None] == torch.arange(m.k)).any(1)], 1)
    got = m.forward_intermediates(x, [1])[0].permute(0, 2, 3, 1).reshape(-1, 2 * m.k)
    assert torch.equal(got, want.float()) and int(got.sum()) == 2 * 5 * len(z)


def test_bad_options_are_the_project_s_errors():
    for bad, word in (({"source": "pca"}, "source"), ({"activation": "gelu"}, "activation"),
                      ({"fraction": 1.0}, "fraction"), ({"fraction": 0}, "fraction"),
                      ({"padding": "reflect"}, "padding"), ({"k": 64, "n_patches": 10}, "n_patches"),
                      ({"zca_eps": -1.0}, "zca_eps")):
        with pytest.raises(AppError, match=word):
            build(ModelSpec.make("patches", options=bad))


def test_fitted_state_is_deterministic_and_in_the_weights_hash():
    x = torch.randn(20, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    spec = ModelSpec.make("patches", options={**SMALL, "in_channels": 1, "input_size": 8})
    a, b, c = build(spec), build(spec), build(spec)
    before = ex.weights_hash(a)
    run_to_end(a.fit_steps(x, 0))
    run_to_end(b.fit_steps(x, 0))
    run_to_end(c.fit_steps(x, 1))
    assert ex.weights_hash(a) == ex.weights_hash(b) != before  # the feature cache key follows the fit
    assert ex.weights_hash(c) != ex.weights_hash(a)  # and its seed


# --- in the probe ----------------------------------------------------------------------------------------------
def test_the_fit_never_sees_test_or_validation_images(fe_home, monkeypatch):
    clean = run_to_end(run_mod.run_probe(_cfg()))
    fit = clean.settings["fit"]
    assert fit["images"] == clean.n_train == 400 and len(fit["train_digest"]) == 40
    assert clean.top1 > 0.7  # a single layer of patch filters on digits: far above chance (0.1)
    assert clean.settings["head_file"] is None and "fitted filters" in clean.settings["head_file_error"]

    real_test, real_train = run_mod.test_split, run_mod.train_splits

    def poisoned(ds):
        noise = np.random.default_rng(9).integers(0, 256, ds.images.shape, dtype=np.uint8)
        return dataclasses.replace(ds, images=noise)

    monkeypatch.setattr(run_mod, "test_split", lambda rec, full=None: poisoned(real_test(rec, full)))
    monkeypatch.setattr(run_mod, "train_splits", lambda rec, full=None: (real_train(rec, full)[0],
                                                                           poisoned(real_train(rec, full)[1])))
    dirty = run_to_end(run_mod.run_probe(_cfg()))
    assert dirty.settings["fit"] == fit  # the same filters from the same training images
    assert dirty.top1 < clean.top1 - 0.3  # ... while the poisoned test (and validation) splits did reach the run

    # the check can fail: changing the training images changes the fit
    monkeypatch.setattr(run_mod, "train_splits", lambda rec, full=None: (poisoned(real_train(rec, full)[0]),
                                                                           real_train(rec, full)[1]))
    other = run_to_end(run_mod.run_probe(_cfg()))
    assert other.settings["fit"]["state"] != fit["state"] and other.settings["fit"]["train_digest"] != \
        fit["train_digest"]


def test_a_rerun_rebuilds_the_fit(fe_home):
    cfg = _cfg(options={"source": "patches", "activation": "split"})
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, seed=2))
    r = run_to_end(run_mod.run_probe(cfg))
    again = run_to_end(run_mod.rerun(r.to_dict()))
    assert again.settings["fit"] == r.settings["fit"] and again.settings["fit"]["seed"] == 2
    assert again.top1 == r.top1 and again.feature_cache_hit  # same fitted state -> same cache key
    from app.analysis.projector_jobs import projector_job

    shown = run_to_end(projector_job(r.to_dict()))
    assert shown.cache_hit  # the projector refits as the run did: the very test features of the run
