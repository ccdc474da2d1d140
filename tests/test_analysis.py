"""Analyses with known answers: CKA of a model with itself is 1, folding an LC block reproduces its output, the
top patch of a channel is the argmax, filter statistics of hand-made kernels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from app.analysis import cka, filters, fold, patches, project
from app.models.build import build
from app.models.inputs import InputSpec
from app.models.spec import ModelSpec
from app.tasks import run_to_end



def test_linear_cka_hand_values():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 6))
    assert cka.linear_cka(X, X) == pytest.approx(1.0)
    Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert cka.linear_cka(X, 3.0 * X @ Q) == pytest.approx(1.0)  # invariant to rotation and scale
    # a hand-computed case: X = [1,2,3,4]^T, Y = [1,0,0,1]^T -> centred x=(-1.5,-.5,.5,1.5), y=(.5,-.5,-.5,.5)
    x = np.array([[1.0], [2.0], [3.0], [4.0]])
    y = np.array([[1.0], [0.0], [0.0], [1.0]])
    assert cka.linear_cka(x, y) == pytest.approx(0.0, abs=1e-12)  # orthogonal after centring
    y2 = np.array([[2.0], [4.0], [6.0], [9.0]])
    xc, yc = x - x.mean(), y2 - y2.mean()
    hand = float(((xc.T @ yc) ** 2 / ((xc.T @ xc) * (yc.T @ yc)))[0, 0])
    assert cka.linear_cka(x, y2) == pytest.approx(hand)
    assert cka.rbf_cka(X, X) == pytest.approx(1.0)
    assert cka.linear_cka(X, rng.normal(size=(50, 6))) < 0.5


def _hsic_unbiased(K, L):
    """Song et al. 2012's unbiased HSIC, written out from the paper's formula (the test's own reference)."""
    n = len(K)
    K, L = K.copy(), L.copy()
    np.fill_diagonal(K, 0)
    np.fill_diagonal(L, 0)
    one = np.ones(n)
    return (np.trace(K @ L) + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * (one @ K @ L @ one)) / (n * (n - 3))


def test_debiased_cka_is_the_unbiased_hsic_ratio_and_is_not_fooled_by_many_features():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(30, 7)), rng.normal(size=(30, 5))
    X[:, :3] += 2 * Y[:, :3]
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    K, L = Xc @ Xc.T, Yc @ Yc.T
    ref = _hsic_unbiased(K, L) / np.sqrt(_hsic_unbiased(K, K) * _hsic_unbiased(L, L))
    assert cka.debiased_cka(X, Y) == pytest.approx(ref, rel=1e-10)
    assert cka.debiased_cka(X, X) == pytest.approx(1.0)
    # independent Gaussian features, 1,000 of them, 100 images: linear CKA reads 0.9 (an audit's figure); debiased ~0
    A, B = rng.normal(size=(100, 1000)), rng.normal(size=(100, 1000))
    assert cka.linear_cka(A, B) > 0.85 and abs(cka.debiased_cka(A, B)) < 0.05
    from app.analysis.jobs import InsightError

    with pytest.raises(InsightError, match="at least 4 images"):  # the project's error, not a bare ValueError
        cka.debiased_cka(X[:3], Y[:3])


def test_a_layer_whose_features_are_all_the_same_has_no_cka():
    X = np.random.default_rng(1).normal(size=(20, 4))
    dead = np.ones((20, 4))
    for fn in (cka.linear_cka, cka.rbf_cka, cka.debiased_cka):
        assert np.isnan(fn(X, dead)) and np.isnan(fn(dead, X))  # rbf gave -0.02 (its centred Gram: rounding noise)


def test_linear_cka_from_the_gram_matrices_equals_the_feature_formula():
    rng = np.random.default_rng(2)
    for n, p, q in ((40, 3, 5), (10, 200, 300)):
        X, Y = rng.normal(size=(n, p)), rng.normal(size=(n, q))
        Xc, Yc = X - X.mean(0), Y - Y.mean(0)
        feature = np.linalg.norm(Yc.T @ Xc) ** 2 / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc))
        assert cka.linear_cka(X, Y) == pytest.approx(feature, rel=1e-9)


def test_the_cka_note_says_the_pooling_and_when_features_outnumber_images():
    assert cka.summary_note("linear", 500, [64, 256]) == \
        "each layer's maps average-pooled to a 4 x 4 grid (channels x 16: 64-256 values per image)"
    note = cka.summary_note("linear", 120, [512, 1024])
    assert note.endswith("the features outnumber the 120 images (up to 1,024): linear CKA then reads high even for "
                         "unrelated features: read it against the random-initialisation line, or use the debiased "
                         "estimate")
    assert "outnumber" not in cka.summary_note("debiased", 120, [512])


def test_a_trained_model_and_its_random_twin_share_an_architecture_whatever_the_options_types():
    from app.analysis.jobs import same_architecture

    a = ModelSpec.make("simple", options={"widths": (32, 64, 64), "in_channels": 1})  # a sidecar's tuple
    b = ModelSpec.make("simple", options={"in_channels": 1, "widths": [32, 64, 64]})  # the command line's list
    assert same_architecture(a, b)
    assert not same_architecture(a, ModelSpec.make("simple", options={"widths": [32, 64], "in_channels": 1}))


def test_the_patches_backbone_is_not_analysed_unfitted():
    from app.analysis.jobs import InsightError, built

    with pytest.raises(InsightError, match="its filters are fitted to a dataset's training images"):
        built(ModelSpec.make("patches"))


def test_cka_matrix_of_a_model_with_itself_has_ones_on_the_diagonal():
    spec = ModelSpec.make("simple", options={"in_channels": 1, "widths": [8, 8, 8]})
    model = build(spec, device="cpu")
    ispec = InputSpec(1, None, (0.5,), (0.25,))
    imgs = np.random.default_rng(1).integers(0, 255, (40, 16, 16, 1), dtype=np.uint8)
    res = run_to_end(cka.cka_matrix(model, model, imgs, ispec, ispec))
    assert res.matrix.shape == (3, 3)
    assert np.allclose(np.diag(res.matrix), 1.0)
    assert res.layers_a == ("conv1", "conv2", "conv3")
    assert json.loads(json.dumps(res.to_dict()))["matrix"][0][0] == pytest.approx(1.0)


def test_folding_an_lc_block_reproduces_the_layer_output():
    model = build(ModelSpec.make("lc-resnet20", options={"expansion": 3, "num_classes": 10}), device="cpu")
    layers = fold.lc_layers(model)
    assert layers, "lc-resnet20 has LC blocks"
    f = layers[0]
    mod = dict(model.named_modules())[f.name]
    x = torch.randn(2, f.basis.shape[1], 12, 12)
    with torch.no_grad():
        ref = mod(x)
        eff = torch.nn.functional.conv2d(x, torch.from_numpy(f.effective), stride=f.stride, padding=f.padding)
    assert torch.allclose(ref, eff, atol=1e-4)
    assert f.effective.shape == (f.mixing.shape[0],) + f.basis.shape[1:]


def test_the_top_patch_of_a_channel_is_its_argmax():
    spec = ModelSpec.make("simple", options={"in_channels": 1, "widths": [4], "kernel_size": 3})
    model = build(spec, device="cpu")
    ispec = InputSpec(1, None, (0.0,), (1.0 / 255.0 * 255.0,))
    rng = np.random.default_rng(3)
    imgs = rng.integers(0, 60, (30, 12, 12, 1), dtype=np.uint8)
    labels = np.arange(30) % 3
    found, rf = run_to_end(patches.top_patches(model, imgs, labels, ispec, layer=0, channel=2, k=3))
    from app.models.inputs import to_tensor

    with torch.no_grad():
        m = model.forward_intermediates(to_tensor(imgs, ispec), [0])[0][:, 2]
    per_image = m.flatten(1).max(1).values.numpy()
    assert found[0].index == int(np.argmax(per_image))
    assert found[0].value == pytest.approx(float(per_image.max()), rel=1e-5)
    assert [p.index for p in found] == list(np.argsort(-per_image, kind="stable")[:3])
    assert found[-1].tied == int(np.count_nonzero(per_image >= per_image[found[-1].index]))  # = 3: distinct values
    y, x = np.unravel_index(int(m[found[0].index].argmax()), m.shape[-2:])
    assert (found[0].y, found[0].x) == (y, x)
    assert rf.size == (3, 3)  # one 3x3 conv sees 3x3 pixels
    assert found[0].image.shape[0] <= 3 and found[0].image.shape[1] <= 3


def test_filter_statistics_of_hand_made_kernels():
    vert = np.zeros((1, 1, 5, 5))
    vert[0, 0, :, 2] = 1.0  # a vertical bar: orientation 90 degrees, fully coherent
    h, coh = filters.orientations(np.concatenate([vert, vert]))
    assert coh[0] == pytest.approx(1.0)
    assert int(np.argmax(h)) == 90 // 15  # the 90-degree bin of 12
    box = filters.spectrum(np.ones((4, 1, 3, 3)))
    # the share of the power at DC, by Parseval: |F(0)|^2 = 9^2 = 81 of the total 16 * 16 * 9 = 2304 (a ring's
    # mean over the sum of ring means, 10x larger, was shown as the "energy share")
    assert box[0] == pytest.approx(81 / 2304) and box.sum() == pytest.approx(1.0)
    assert box[:5].sum() > 0.85 > 0.15 > box[5:].sum()  # a box filter's energy: the lower half of the rings
    checker = np.array([[(-1.0) ** (i + j) for j in range(3)] for i in range(3)])[None, None]
    hi = filters.spectrum(checker)
    assert int(np.argmax(hi)) >= len(hi) - 2 and hi[0] < 0.05  # a checkerboard: Nyquist (its sum, 1, is its small DC)
    s = filters.stats(np.random.default_rng(0).normal(size=(16, 3, 3, 3)), "x")
    assert 0 < s.pca_explained[0] < s.pca_explained[-1] <= 1.0 + 1e-9
    rank1 = np.outer(np.arange(1, 9), np.ones(27)).reshape(8, 3, 3, 3) + 0.0
    assert filters.pca_explained(rank1)[0] == pytest.approx(1.0)


def test_projection_pca_and_click_to_image():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (30, 5)), rng.normal(8, 1, (30, 5))])
    y = np.array([0] * 30 + [1] * 30)
    p = project.project(X, y, "pca")
    assert p.xy.shape == (60, 2) and p.explained[0] > 0.5
    a, b = p.xy[y == 0, 0].mean(), p.xy[y == 1, 0].mean()
    assert abs(a - b) > 3  # the two clusters separate along the first axis
    i = p.nearest(float(p.xy[45, 0]), float(p.xy[45, 1]))
    assert i == 45
    with pytest.raises(Exception, match="unknown projection"):
        project.project(X, y, "tsne")


def _cli(*args, home):
    from tests.cli_inprocess import run_cli

    return run_cli(*args, home=home)


def test_analyze_cka_cli_prints_a_layer_matrix(tmp_path):
    r = _cli("analyze", "cka", "--a", "simple", "--b", "simple", "--options-a", "in_channels=1", "widths=8,8",
             "--options-b", "in_channels=1", "widths=8,8", "--dataset", "digits", "--n", "60", "--json",
             home=tmp_path)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["layers_a"] == ["conv1", "conv2"] and len(d["matrix"]) == 2 and len(d["matrix"][0]) == 2
    assert d["matrix"][0][0] == pytest.approx(1.0, abs=1e-6)
    assert d["reference_seeds"] == [0, 1] and len(d["reference"]) == 2 and all(0 < v < 1 for v in d["reference"])
    text = _cli("analyze", "cka", "--a", "simple", "--b", "simple", "--options-a", "in_channels=1", "widths=8,8",
                "--options-b", "in_channels=1", "widths=8,8", "--dataset", "digits", "--n", "60", home=tmp_path)
    assert "input of the rows: 1 channel(s)" in text.stdout and "input of the columns:" in text.stdout
    assert "Two random initialisations of this architecture (seeds 0 and 1), layer by layer: conv1 " in text.stdout
    bad = _cli("analyze", "top-patches", "--backbone", "simple", "--layer", "9", "--channel", "0", "--dataset",
               "digits", home=tmp_path)
    assert bad.returncode == 2 and "--layer 9" in bad.stderr and "Traceback" not in bad.stderr
    fo = _cli("analyze", "fold", "--backbone", "simple", home=tmp_path)
    assert fo.returncode == 2 and "no LC blocks" in fo.stderr


def test_fold_reports_the_mean_of_the_norms_and_compare_random_needs_weights(tmp_path):
    from app.analysis.fold import lc_layers
    from tests.cli_inprocess import run_cli

    r = run_cli("analyze", "fold", "--backbone", "lc-resnet20", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)[0]
    eff = lc_layers(build(ModelSpec.make("lc-resnet20"), device="cpu"))[0].effective
    norms = np.linalg.norm(eff.reshape(eff.shape[0], -1), axis=1)
    assert first["effective_norm_mean"] == pytest.approx(float(norms.mean()))  # it was the RMS of the norms
    assert not np.isclose(norms.mean(), np.sqrt((norms ** 2).mean()))  # (the two differ here: the test can fail)
    r = run_cli("analyze", "filters", "--backbone", "simple", "--compare-random", home=tmp_path)
    assert r.returncode == 2 and "--compare-random sets trained weights beside their random twin" in r.stderr


def test_top_patches_name_each_image_by_its_place_in_the_split(tmp_path):
    """``index`` was the place in the seeded sample of --n images ("image 2" was the split's image 18)."""
    from app.data import load
    from tests.cli_inprocess import run_cli

    r = run_cli("analyze", "top-patches", "--backbone", "simple", "--options", "widths=4,8", "--layer", "0",
                "--channel", "0", "--dataset", "digits", "--n", "100", "--k", "8", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    full = load("digits", "test")
    sample = full.subset_indices(100, seed=0)
    out = json.loads(r.stdout)
    assert all(p["index"] in set(sample.tolist()) for p in out["patches"])
    assert all(full.classes[full.labels[p["index"]]] == p["label"] for p in out["patches"])
    assert max(p["index"] for p in out["patches"]) >= 100  # places in the split, not in the sample of 100


def test_cka_against_a_trained_models_twin_sees_the_same_input_and_says_when_inputs_differ(tmp_path):
    from tests.cli_inprocess import run_cli

    weights = str(Path(__file__).resolve().parent.parent / "resources" / "models" / "simple_mnist.safetensors")
    r = run_cli("analyze", "cka", "--a", "simple", "--weights-a", weights, "--b", "twin", "--dataset", "digits",
                "--n", "40", home=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = [ln for ln in r.stdout.splitlines() if ln.startswith("input of the")]
    assert len(rows) == 2 and rows[0].split(": ", 1)[1] == rows[1].split(": ", 1)[1]  # the twin: a's input
    assert "Two random initialisations of this architecture" in r.stdout and "different inputs" not in r.stdout
    r = run_cli("analyze", "cka", "--a", "simple", "--weights-a", weights, "--b", "simple", "--options-b",
                "batchnorm=true", "in_channels=1", "input_size=28", "widths=32,64,64", "--dataset", "digits", "--n",
                "40", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Two random initialisations" in r.stdout  # the options' tuple vs list no longer hides it
    assert "note: the two sides saw different inputs" in r.stdout


@pytest.mark.parametrize("shape", [(16, 1, 3, 3), (64, 32, 3, 3), (200, 3, 5, 5), (2, 1, 5, 5)])
def test_pca_explained_matches_the_singular_values(shape):
    """Cumulative explained variance from the smaller Gram matrix's eigenvalues (no SVD: numpy's held the GIL and froze
    the window) equals numpy's SVD of the centred filters, both orientations of the matrix."""
    w = np.random.default_rng(1).standard_normal(shape)
    m = w.reshape(shape[0], -1)
    s = np.linalg.svd(m - m.mean(0), compute_uv=False) ** 2
    np.testing.assert_allclose(filters.pca_explained(w), np.cumsum(s[:8]) / s.sum(), atol=1e-12)


def test_a_top_patch_is_cut_from_the_pixels_the_model_was_given():
    """The crops were cut from a cv2 (INTER_LINEAR, no antialiasing) resize of the colour image, while a 1-channel
    model fed 32x32 was given a torch antialiased shrink converted to grey by luma: up to 15 grey levels apart, and
    in colour. A crop is now the model's own input, before normalisation."""
    from app.models.inputs import affine, to_tensor

    spec = ModelSpec.make("simple", options={"in_channels": 1, "widths": [4], "kernel_size": 3})
    model = build(spec, device="cpu")
    ispec = InputSpec(1, (16, 16), (0.3,), (0.2,))
    rng = np.random.default_rng(4)
    imgs = rng.integers(0, 256, (12, 40, 40, 3), dtype=np.uint8)  # colour, larger than the model's input: a shrink
    found, _ = run_to_end(patches.top_patches(model, imgs, np.zeros(12, int), ispec, layer=0, channel=1, k=4))
    scale, shift = affine(ispec)
    for p in found:
        seen = ((to_tensor(imgs[p.index:p.index + 1], ispec) - shift) / scale).round().clamp(0, 255)
        top, left, bottom, right = p.box
        want = seen[0, :, top:bottom, left:right].permute(1, 2, 0).numpy().astype(np.uint8)
        assert p.image.shape == want.shape and p.image.shape[-1] == 1
        assert np.array_equal(p.image, want)
