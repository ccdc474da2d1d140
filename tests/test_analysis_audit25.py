"""Insight / analyze, an audit's findings (audit M): the random twin keeps an input its weights carry, one
architecture whatever the head's options, a random model's twin is another seed, the projector's note, the
orientation convention and centred bins, the CKA note's pooling grid, models without filters, the shared model flags,
the inputs in ``analyze cka --json``, and the pixels a top patch's box is in."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.analysis import cka, filters, project
from app.analysis.jobs import InsightError, random_twin, same_architecture
from app.models.spec import ModelSpec
from app.tasks import run_to_end

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "weights"


def _cli(*args, home):
    from tests.cli_inprocess import run_cli

    return run_cli(*args, home=home)


@pytest.fixture(scope="module")
def lenet_file(tmp_path_factory):
    """A LeNet-5 state dict under the official file's name: the known-weights table names its input (32x32, MNIST's
    statistics) by that name alone."""
    import torch

    from app.models.build import build

    path = tmp_path_factory.mktemp("w") / "lenet5_mnist.pt"
    torch.save(build(ModelSpec.make("lenet5"), device="cpu").state_dict(), path)
    return str(path)


# --- 1: the random twin of known weights keeps their input ---------------------------------------------------------
def test_the_random_twin_of_known_weights_keeps_their_input():
    from app.models.build import build
    from app.models.inputs import Stats, input_spec

    spec = ModelSpec.make("resnet20", weights="/nowhere/resnet20_cifar10-12fca82f.th", options={"num_classes": 10},
                          init="checkpoint", weight_state="trained")
    twin = random_twin(spec)
    assert twin.weights is None and twin.input is not None
    got = input_spec(twin, build(twin, device="cpu"), stats=Stats((0.3,), (0.4,), "digits"))
    assert got.size == (32, 32) and got.mean == pytest.approx((0.485, 0.456, 0.406))  # not the dataset's statistics


def test_the_default_trained_models_twins_see_their_models_input():
    """The Insight window's twins (``widgets.analysis.common.model_choices`` calls ``random_twin``)."""
    from app.models.inputs import weights_input_spec
    from app.models.zoo import default_specs

    for s in default_specs():
        if s.weights and weights_input_spec(s) is not None:
            assert weights_input_spec(random_twin(s)) == weights_input_spec(s), s.label


def test_analyze_cka_twin_of_known_weights_sees_the_same_input(lenet_file, tmp_path):
    r = _cli("analyze", "cka", "--a", "lenet5", "--weights-a", lenet_file, "--b", "twin", "--dataset", "digits",
             "--n", "12", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["input_a"]["size"] == [32, 32] and d["input_a"]["mean"] == pytest.approx([0.1307])
    assert {k: v for k, v in d["input_b"].items()} == d["input_a"] and d["input_note"] is None


@pytest.mark.skipif(not (SHARED / "resnet20_cifar10-12fca82f.th").is_file(), reason="no ../shared/weights here")
def test_analyze_cka_twin_of_the_official_resnet20(tmp_path):
    r = _cli("analyze", "cka", "--a", "resnet20", "--weights-a", str(SHARED / "resnet20_cifar10-12fca82f.th"),
             "--b", "twin", "--dataset", "digits", "--n", "12", home=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = [ln.split(": ", 1)[1] for ln in r.stdout.splitlines() if ln.startswith("input of the")]
    assert len(rows) == 2 and rows[0] == rows[1] and "32x32" in rows[0]
    assert "different inputs" not in r.stdout


# --- 2: one architecture whatever the head's options; no pointer to a line that is not there ------------------------
def test_options_of_the_head_only_or_left_at_their_defaults_are_one_architecture():
    plain = ModelSpec.make("resnet20")
    assert same_architecture(plain, ModelSpec.make("resnet20", options={"num_classes": 10}))
    assert same_architecture(plain, ModelSpec.make("resnet20", options={"num_classes": 100}))
    assert same_architecture(plain, ModelSpec.make("resnet20", options={"width": 16}))  # the default, given
    assert not same_architecture(plain, ModelSpec.make("resnet20", options={"width": 8}))
    assert not same_architecture(plain, ModelSpec.make("resnet32"))


def test_the_readme_cka_example_gets_its_reference_line_and_input_note(lenet_file, tmp_path):
    """``--a lenet5 --b lenet5 --weights-b FILE``: the known weights carry num_classes=10, the plain name nothing."""
    r = _cli("analyze", "cka", "--a", "lenet5", "--b", "lenet5", "--weights-b", lenet_file, "--dataset", "digits",
             "--n", "12", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["reference_seeds"] == [0, 1] and len(d["reference"]) == len(d["layers_a"])
    assert d["input_note"] and "different inputs" in d["input_note"]
    assert "read it against the random-initialisation line" in d["note"]


def test_the_note_points_at_a_reference_line_only_when_there_is_one(tmp_path):
    r = _cli("analyze", "cka", "--a", "simple", "--options-a", "widths=8,8", "--b", "lenet5", "--dataset", "digits",
             "--n", "12", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Two random initialisations" not in r.stdout
    assert "outnumber" in r.stdout and "read it against the random-initialisation line" not in r.stdout
    assert cka.HIGH_WITHOUT_REFERENCE in r.stdout


# --- 3: a random model's twin is another seed, or a note says it is the model itself ---------------------------------
def test_a_random_models_twin_is_drawn_at_another_seed(tmp_path):
    args = ("analyze", "cka", "--a", "simple", "--options-a", "widths=4,4", "--b", "twin", "--dataset", "digits",
            "--n", "12", "--json")
    d = json.loads(_cli(*args, home=tmp_path).stdout)
    assert d["b"].endswith("seed 1)") and d["twin_note"] is None
    assert not all(v == pytest.approx(1.0) for v in np.diag(np.array(d["matrix"], float)))
    same = json.loads(_cli(*args, "--seed-b", "0", home=tmp_path).stdout)
    assert np.allclose(np.diag(np.array(same["matrix"], float)), 1.0)
    assert same["twin_note"] and "the two are one model" in same["twin_note"]


# --- 5: the projector's note --------------------------------------------------------------------------------------
def test_the_projector_note_says_how_many_points_and_that_the_features_were_standardised():
    from app.analysis.projector_jobs import projector_note

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), np.arange(60) % 3
    p = project.project(X, y, "pca", limit=40)
    note = projector_note("pca", p, 4, 60, "conv3", "grid2")
    assert "a random 40 of the 60 test images" in note
    assert "standardised" in note and f"{100 * p.explained[0]:.0f}%" in note
    full = projector_note("pca", project.project(X, y, "pca"), 4, 60, "conv3", "grid2")
    assert "of 60 test images" in full and "random" not in full


# --- 6: the orientation convention and centred bins ----------------------------------------------------------------
def _bar(angle_deg: float, k: int = 15) -> np.ndarray:
    """A bar through the kernel's centre at ``angle_deg`` counter-clockwise from horizontal, as drawn (row 0 on top)."""
    r = np.arange(k) - k // 2
    yy, xx = np.meshgrid(r, r, indexing="ij")
    up = -yy  # y up on the screen
    a = np.radians(angle_deg)
    dist = -np.sin(a) * xx + np.cos(a) * up
    return np.exp(-dist ** 2 / 2.0)[None, None]


@pytest.mark.parametrize("angle,bin_", [(0, 0), (45, 3), (90, 6), (135, 9), (176, 0), (5, 0), (31, 2)])
def test_orientations_are_counter_clockwise_on_screen_in_centred_bins(angle, bin_):
    hist, coh = filters.orientations(_bar(angle))
    assert coh[0] > 0.5 and int(np.argmax(hist)) == bin_
    assert filters.orientation_centres(12)[bin_] == pytest.approx(15.0 * bin_)
    d = filters.stats(np.concatenate([_bar(angle)] * 2), "x").to_dict()
    assert d["orientation_centres"][0] == 0.0 and "counter-clockwise" in d["orientation_convention"]


# --- 9: the pooling grid the note names is the one each layer got ---------------------------------------------------
def test_the_cka_note_names_the_grid_each_layer_was_pooled_to():
    from app.analysis.jobs import built, sample

    ds = sample("digits", 12)
    spec = ModelSpec.make("simple", options={"in_channels": 1, "widths": [4, 4, 4]})
    m, i = built(spec, ds)
    res = run_to_end(cka.cka_matrix(m, m, ds.images, i, i))  # 8x8 digits: conv1 pooled to 4x4, conv2 and conv3 2x2
    assert "4 x 4 (channels x 16) for conv1; 2 x 2 (channels x 4) for conv2, conv3 (16-64 values" in res.note
    big = i.with_(size=(32, 32))  # the same layers at 32x32: each pooled to 4 x 4, where the 8x8 images gave 2 x 2
    res = run_to_end(cka.cka_matrix(m, m, ds.images, i, big))
    assert ("for conv1, conv2 (columns), conv3 (columns); 2 x 2 (channels x 4) for conv2 (rows), conv3 (rows)"
            in res.note)
    assert cka.summary_note("linear", 500, [204], grids={"order1": 2, "order2": 2}).startswith(
        "each layer's maps average-pooled to a 2 x 2 grid (the maps are no larger than 2 x 2) (channels x 4: 204")


# --- 10: a model without filters to describe says so ----------------------------------------------------------------
def test_analyze_filters_says_when_a_model_has_no_filters_to_describe(tmp_path):
    r = _cli("analyze", "filters", "--backbone", "scattering", home=tmp_path)
    assert r.returncode == 2 and "no spatial convolutions" in r.stderr and "Traceback" not in r.stderr
    r = _cli("analyze", "filters", "--backbone", "patches", home=tmp_path)
    assert r.returncode == 2 and "fitted to a dataset's training images" in r.stderr
    from app.analysis.jobs import filters_job

    with pytest.raises(InsightError, match="no spatial convolutions"):
        run_to_end(filters_job(ModelSpec.make("scattering")))


# --- 12: the shared model flags; no prefix matching ------------------------------------------------------------------
def test_analyze_takes_the_shared_model_flags_and_no_abbreviations(tmp_path):
    r = _cli("analyze", "filters", "--model", str(tmp_path / "none.pt"), home=tmp_path)
    assert r.returncode == 2 and "--model-seed" not in r.stderr and "none.pt" in r.stderr
    r = _cli("analyze", "top-patches", "--backbone", "simple", "--options", "widths=4", "--input-size", "12",
             "--input-preset", "unit", "--layer", "0", "--channel", "0", "--dataset", "digits", "--n", "20", "--k", "2",
             "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["input_size"] == [12, 12]
    r = _cli("analyze", "cka", "--a", "simple", "--b", "simple", "--weights", "x.pt", "--dataset", "digits",
             home=tmp_path)
    assert r.returncode == 2 and "unrecognized arguments: --weights" in r.stderr


# --- 13b: the pixels a top patch's box is in ------------------------------------------------------------------------
def test_top_patch_boxes_say_their_pixels_and_come_in_the_images_own_too(tmp_path):
    from app.analysis.patches import image_pixels

    assert image_pixels((5, 21, 15, 28), (28, 28), (8, 8)) == (1, 6, 5, 8)
    assert image_pixels((0, 0, 28, 28), (28, 28), (8, 8)) == (0, 0, 8, 8)
    r = _cli("analyze", "top-patches", "--backbone", "simple", "--options", "widths=4,4", "--input-size", "16",
             "--input-preset", "unit", "--layer", "1", "--channel", "0", "--dataset", "digits", "--n", "20", "--k",
             "3", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["input_size"] == [16, 16] and "16x16 input pixels" in d["box_pixels"] and "8x8" in d["box_pixels"]
    for p in d["patches"]:
        t, l, b, rt = p["image_box"]
        assert 0 <= t < b <= 8 and 0 <= l < rt <= 8
        assert list(image_pixels(p["box"], (16, 16), (8, 8))) == p["image_box"]
    text = _cli("analyze", "top-patches", "--backbone", "simple", "--options", "widths=4,4", "--input-size", "16",
                "--input-preset", "unit", "--layer", "1", "--channel", "0", "--dataset", "digits", "--n", "20", "--k",
                "2", home=tmp_path)
    assert "in the model's 16x16 input pixels" in text.stdout and "image pixels" in text.stdout


def test_the_filter_panel_plots_each_orientation_at_its_bins_centre(qtbot):
    """The panel plotted bin i at (i + 0.5) * 15 degrees while the bins are centred on 0, 15, ... 165."""
    import types

    import numpy as np
    import pyqtgraph as pg

    from app.analysis.filters import orientation_centres
    from widgets.analysis.filters_panel import FiltersPanel

    assert list(orientation_centres(12)[:3]) == [0.0, 15.0, 30.0]
    view = types.SimpleNamespace(orient=pg.PlotWidget(), _pens=FiltersPanel._pens)
    qtbot.addWidget(view.orient)
    hist = np.linspace(0.05, 0.12, 12)
    FiltersPanel._draw_orientation(view, [("rdsn (random)", "random", types.SimpleNamespace(orientation_hist=hist))])
    (curve,) = view.orient.getPlotItem().listDataItems()
    assert list(curve.xData) == [15.0 * i for i in range(12)] and np.allclose(curve.yData, hist)
