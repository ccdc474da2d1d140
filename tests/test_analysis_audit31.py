"""Insight / analyze, an audit's findings (audit 31): CKA's 10-image rule counts the images used; the top patches'
receptive field is the theoretical one (more than the image where it is) in the title and the JSON; the GUI's CKA
says when one architecture saw two inputs and names the input its reference line was computed at; filter statistics
of 1 x k and wide kernels; the LC views label frozen and learned filters from the weights; no value rounds to a false
1.00 or 100%; the projector note of one feature."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.analysis.jobs import InsightError
from app.models.inputs import InputSpec
from app.models.spec import ModelSpec
from app.tasks import run_to_end

TINY = {"widths": (4, 8), "in_channels": 1, "input_size": 8}


def tiny(label: str = "tiny simple", **kw):
    return ModelSpec.make("simple", label=label, options=TINY, weight_state="random", **kw)


def _cli(*args, home):
    from tests.cli_inprocess import run_cli

    return run_cli(*args, home=home)


def _folder(root, per_class: int):
    from tests.fixtures_data import image_folder

    return image_folder(root, classes=("a", "b"), per_class=per_class, splits=True)


# --- 1: CKA's "at least 10 images" counts the images used ----------------------------------------------------------
def test_the_gui_cka_job_refuses_a_split_smaller_than_ten_images_whatever_n_asks(tmp_path):
    """--n 300 of a 4-image split was 4 images: the matrix and its reference line were computed on them."""
    from app.analysis.jobs import cka_job

    name = f"imagefolder:{_folder(tmp_path / 'four', 2)}"
    a = ModelSpec.make("simple", label="simple (random)", options={"widths": (4, 8)}, weight_state="random")
    with pytest.raises(InsightError) as err:
        run_to_end(cka_job(a, a, name, 300))
    assert str(err.value) == (f"CKA needs at least 10 images (on 2 every value is 1): the test split of {name} has "
                              f"only 4 (300 asked for)")
    with pytest.raises(InsightError, match="has only 4"):
        run_to_end(cka_job(a, a, name, 300, "debiased"))


def test_the_cli_refuses_a_split_smaller_than_ten_images_and_debiased_on_three_is_no_traceback(tmp_path):
    four = f"imagefolder:{_folder(tmp_path / 'four', 2)}"
    three_root = _folder(tmp_path / "three", 2)
    next((three_root / "test" / "b").iterdir()).unlink()  # a test split of 3 images
    three = f"imagefolder:{three_root}"
    r = _cli("analyze", "cka", "--a", "simple", "--b", "twin", "--dataset", four, "--n", "300", home=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert (f"error: CKA needs at least 10 images (on 2 every value is 1): the test split of {four} has only 4 (300 "
            f"asked for)") in r.stderr
    r = _cli("analyze", "cka", "--a", "simple", "--b", "twin", "--dataset", three, "--n", "300", "--kernel",
             "debiased", home=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "ValueError" not in r.stderr, r.stderr
    assert f"the test split of {three} has only 3 (300 asked for)" in r.stderr
    # a split of 12: used whole, and said so
    twelve = f"imagefolder:{_folder(tmp_path / 'twelve', 6)}"
    r = _cli("analyze", "cka", "--a", "simple", "--options-a", "widths=4,8", "--b", "twin", "--dataset", twelve,
             "--n", "300", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["n_images"] == 12


# --- 2: the receptive field in the top patches' title and JSON -----------------------------------------------------
def _resnet20_fields() -> list[int]:
    """resnet20's theoretical receptive field per tapped layer, by hand: r += (k - 1) * j, j *= stride, for the stem
    (3x3) and each block's two 3x3 convs (the first at stride 2 in layer2.0 and layer3.0; the shortcuts add nothing
    wider). Not the audit's 57 and 65 for layer3.1 and layer3.2: a block at stride 4 adds 2 x 2 x 4 = 16."""
    r, j, out = 3, 1, [3]
    for stage, stride in ((1, 1), (2, 2), (3, 2)):
        for block in range(3):
            for conv in range(2):
                s = stride if block == 0 and conv == 0 else 1
                r += 2 * j
                j *= s
            out.append(r)
    return out


R20_32 = ModelSpec.make("resnet20", label="resnet20 (random, 32x32)", weight_state="random",
                        input=InputSpec(3, (32, 32), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)))


def test_the_top_patches_title_gives_the_theoretical_field_and_says_when_it_is_more_than_the_image():
    """The title read 37, 49, then 32, 32 px: the field seemed to shrink with depth (layer3.1 and 3.2: the clipped
    box of a unit that sees the whole image). Now the field as the layers make it, and that it exceeds the image;
    the crops stay the clipped boxes."""
    from app.analysis.jobs import patches_job

    fields = _resnet20_fields()
    assert fields == [3, 7, 11, 15, 21, 29, 37, 49, 65, 81]
    for layer in (6, 8, 9):  # layer2.2 (37: a unit shows it), layer3.1, layer3.2 (no unit does: all see the image)
        v = run_to_end(patches_job(R20_32, layer, 0, "digits", 10, 2))
        f = fields[layer]
        assert f"receptive field {f}x{f} px, more than the 32x32 image · top 2 of 10 digits" in v.title, v.title
        assert v.rf.size == (f, f) and v.rf.exceeds() and v.rf.lower_bound == (False, False)
        if layer >= 8:  # every unit sees the whole image: the crops are the whole image, as before
            assert all(p.box == (0, 0, 32, 32) and p.image.shape[:2] == (32, 32) for p in v.patches)
    small = run_to_end(patches_job(R20_32, 1, 0, "digits", 10, 2))
    assert "receptive field 7x7 px · top" in small.title  # within the image: nothing more said


def test_a_field_that_cannot_be_measured_beyond_the_image_reads_at_least(monkeypatch):
    """Where no larger input can be measured (here: the size limit set to nothing), the size is a lower bound and
    the text says so rather than a bare "32x32"."""
    from app.analysis import receptive_field as rfm
    from app.models.build import build
    from app.models.inputs import input_spec

    monkeypatch.setattr(rfm, "BEYOND_PIXELS", 0)
    m = build(R20_32, device="cpu").eval()
    rf = rfm.receptive_field(m, 9, input_spec(R20_32, m), (32, 32))
    assert rf.lower_bound == (True, True) and rf.size == (32, 32)
    assert rf.size_text() == "at least 32x32 px (every unit sees the whole 32x32 image)"


def test_the_cli_json_receptive_field_is_the_theoretical_one_and_says_it_exceeds_the_input(tmp_path):
    r = _cli("analyze", "top-patches", "--backbone", "resnet20", "--input-size", "32", "--input-preset", "imagenet",
             "--layer", "-1", "--channel", "0", "--dataset", "digits", "--n", "10", "--k", "2", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["layer"] == "layer3.2" and d["input_size"] == [32, 32]
    assert d["receptive_field"] == [81, 81] and d["receptive_field_exceeds_input"] is True
    assert d["receptive_field_text"] == "81x81 px, more than the 32x32 image"
    assert d["receptive_field_lower_bound"] is False
    assert all(p["box"] == [0, 0, 32, 32] for p in d["patches"])  # the crops: the clipped boxes
    text = _cli("analyze", "top-patches", "--help", home=tmp_path).stdout
    assert "receptive_field_exceeds_input" in " ".join(text.split())  # the fields are documented


# --- 3: the GUI's CKA says when one architecture saw two inputs ----------------------------------------------------
SIXTEEN = InputSpec(1, (16, 16), (0.5,), (0.25,))


def test_the_cka_job_notes_different_inputs_and_names_the_input_of_the_reference_line():
    from app.analysis.jobs import INPUT_NOTE, cka_job

    a, b = tiny("tiny A"), tiny("tiny B at 16x16", input=SIXTEEN)  # one architecture, two inputs
    res = run_to_end(cka_job(a, b, "digits", 20))
    assert res.input_note == INPUT_NOTE == ("the two sides saw different inputs (size or normalisation): the matrix "
                                            "mixes that with their weights")
    assert res.reference and res.reference_text().startswith(
        "Two random initialisations of this architecture (seeds 0 and 1), at model A's input (1 channel(s), ")
    assert "; model B saw another), layer by layer: conv1 " in res.reference_text()
    assert "16x16" not in res.reference_text()  # A's input (digits at their own 8x8), not B's
    same = run_to_end(cka_job(a, tiny("tiny A again"), "digits", 20))
    assert same.input_note == "" and "at model A's input" not in same.reference_text()


@pytest.mark.gui
def test_the_cka_panel_shows_the_input_note(qtbot, fe_home):
    from PySide6.QtCore import Qt

    from app.session import Session
    from widgets.analysis.cka_panel import CKAPanel
    from widgets.application import make_app
    from widgets.common.worker import WorkerPool

    make_app()
    session = Session()
    session.put_model("tiny A", tiny("tiny A"))
    session.put_model("tiny B at 16x16", tiny("tiny B at 16x16", input=SIXTEEN))
    pool = WorkerPool()
    p = CKAPanel(session, pool)
    qtbot.addWidget(p)
    try:
        assert p.model_a.select("tiny A") and p.model_b.select("tiny B at 16x16")
        p.n.setValue(20)
        qtbot.mouseClick(p.bar.run_btn, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: p.result is not None and not p.bar.busy(), timeout=60_000)
        lines = p.reference.text().split("\n")
        assert lines[0] == ("Note: the two sides saw different inputs (size or normalisation): the matrix mixes that "
                            "with their weights")
        assert lines[1] == p.result.reference_text() and "at model A's input (" in lines[1]
    finally:
        pool.shutdown()


# --- 4: filter statistics of 1 x k kernels and kernels wider than 16 -----------------------------------------------
def test_a_wide_kernels_spectrum_is_of_the_whole_kernel():
    """A 3x31 kernel was cut to 16 columns by the DFT: its ones at columns 20-30 vanished (the shares summed to 0).
    Bin 0 holds the DC sample alone: (sum w)^2 / (N^2 sum w^2) of the power on an N x N grid (Parseval), N = 31."""
    from app.analysis.filters import spectrum, stats

    w = np.zeros((1, 1, 3, 31))
    w[0, 0, 1, 20:] = 1.0
    s = spectrum(w)
    assert s.sum() == pytest.approx(1.0)
    assert s[0] == pytest.approx(11 ** 2 / (31 ** 2 * 11))  # 11 ones
    st = stats(np.random.default_rng(0).standard_normal((4, 2, 3, 5)), "3x5")  # non-square: described
    assert st.shape == (4, 2, 3, 5) and sum(st.spectrum) == pytest.approx(1.0)


def test_1xk_kernels_are_left_out_with_a_note_and_refused_with_the_projects_error(tmp_path):
    import torch
    from torch import nn

    from app.analysis.filters import model_stats, stats

    with pytest.raises(InsightError, match="1x7 kernels: the filter statistics need both sides at least 2"):
        stats(np.ones((4, 2, 1, 7)), "conv")

    class Net:
        def conv_layers(self):
            return {"a": nn.Conv2d(1, 4, (1, 3)), "b": nn.Conv2d(4, 4, (3, 1)), "c": nn.Conv2d(4, 4, 3),
                    "d": nn.Conv2d(4, 4, 1)}

    skipped: list[str] = []
    got = model_stats(Net(), skipped)
    assert [s.layer for s in got] == ["c"] and skipped == ["a (1x3)", "b (3x1)"]  # 1x1: not spatial, not "left out"
    # the headless command on an imported model of factorised convolutions: the reason, no traceback
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, (1, 3), padding=(0, 1)), nn.ReLU(), nn.Conv2d(4, 4, (3, 1), padding=(1, 0)))
    torch.jit.save(torch.jit.script(net), str(tmp_path / "fact.pt"))
    r = _cli("analyze", "filters", "--model", str(tmp_path / "fact.pt"), "--input-size", "16", "--input-preset",
             "mnist", home=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert ("no spatial convolutions (k x k kernels, k > 1) whose weights the filter statistics can describe; left "
            "out 0 (1x3), 2 (3x1): kernels with a side of 1 have no 2-D structure") in r.stderr
    net = nn.Sequential(nn.Conv2d(1, 4, (1, 3), padding=(0, 1)), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
    torch.jit.save(torch.jit.script(net), str(tmp_path / "mixed.pt"))
    r = _cli("analyze", "filters", "--model", str(tmp_path / "mixed.pt"), "--input-size", "16", "--input-preset",
             "mnist", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "4x4x3x3" in r.stdout and "note: left out 0 (1x3): kernels with a side of 1" in r.stdout


@pytest.mark.gui
def test_the_filters_panel_names_the_layers_left_out(qtbot):
    from app.analysis.filters import skipped_note, stats
    from app.analysis.jobs import FilterSet
    from widgets.analysis.filters_panel import note_text

    s = stats(np.random.default_rng(0).standard_normal((4, 1, 3, 3)), "c")
    sets = (FilterSet("net.pt", "trained", (s,), skipped_note(["a (1x3)"])),
            FilterSet("net.pt (random twin)", "random", (s,), skipped_note(["a (1x3)"])))
    assert note_text(sets).endswith(" net.pt: left out a (1x3): kernels with a side of 1 have no 2-D structure "
                                    "(spectrum, orientation) to describe.")


# --- 5: the LC views label frozen and learned filters from the weights ---------------------------------------------
LC_SMALL = {"width": 4, "expansion": 2}


@pytest.mark.gui
def test_the_fold_view_titles_a_learned_basis_as_learned(qtbot, fe_home):
    from PySide6.QtCore import Qt

    from app.session import Session
    from widgets.analysis.fold_panel import FoldPanel
    from widgets.application import make_app
    from widgets.common.worker import WorkerPool

    make_app()
    session = Session()
    session.put_model("lc learned", ModelSpec.make("lc-resnet20", label="lc learned", weight_state="random",
                                                   options=dict(LC_SMALL, learn_spatial=True)))
    session.put_model("lc frozen", ModelSpec.make("lc-resnet20", label="lc frozen", weight_state="random",
                                                  options=LC_SMALL))
    pool = WorkerPool()
    p = FoldPanel(session, pool)
    qtbot.addWidget(p)
    try:
        for name, title in (("lc learned", "<b>Learned basis</b> 8x3x3x3"),
                            ("lc frozen", "<b>Frozen random basis</b> 8x3x3x3")):
            assert p.model.select(name)
            p.folded = ()
            qtbot.mouseClick(p.bar.run_btn, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda: len(p.folded) > 0 and not p.bar.busy(), timeout=60_000)
            assert p.basis_title.text() == title
            assert ("learned" in p.basis.toolTip()) == (name == "lc learned")
    finally:
        pool.shutdown()


@pytest.fixture
def trained_lc(tmp_path):
    """A 'trained' LC model (its checkpoint): its k x k basis is frozen by construction."""
    import torch

    from app.models.build import build

    spec = ModelSpec.make("lc-resnet20", options=LC_SMALL)
    path = tmp_path / "lc.pt"
    torch.save(build(spec, device="cpu").state_dict(), path)
    return ModelSpec.make("lc-resnet20", label="lc (trained)", options=LC_SMALL, weights=str(path),
                          weight_state="trained")


@pytest.mark.gui
def test_the_filter_statistics_draw_a_trained_lc_models_frozen_basis_as_frozen(qtbot, fe_home, trained_lc):
    from PySide6.QtCore import Qt

    from app.session import Session
    from widgets.analysis.filters_panel import FiltersPanel
    from widgets.application import make_app
    from widgets.common.worker import WorkerPool

    make_app()
    session = Session()
    session.put_model("lc (trained)", trained_lc)
    pool = WorkerPool()
    p = FiltersPanel(session, pool)
    qtbot.addWidget(p)
    try:
        assert p.model.select("lc (trained)")
        qtbot.mouseClick(p.bar.run_btn, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: len(p.sets) == 2 and not p.bar.busy(), timeout=60_000)
        assert p.layer.itemText(0) == "conv1.conv  8x3x3x3  (frozen)"
        (label, kind, _), (twin, twin_kind, _) = p.series()
        assert (label, kind) == ("lc (trained): frozen, never trained", "frozen") and twin_kind == "random"
        assert "lc (trained): frozen, never trained" in p.legend.text() and "rgb(127, 127, 127)" in p.legend.text()
        assert "rgb(31, 119, 180)" not in p.legend.text()  # not drawn as trained
        assert "Grey: a layer of the trained model whose weights its architecture keeps frozen" in p.note.text()
    finally:
        pool.shutdown()


def test_the_cli_marks_frozen_layers_and_the_fold_says_which_basis(tmp_path, trained_lc):
    r = _cli("analyze", "filters", "--backbone", "lc-resnet20", "--weights", trained_lc.weights, "--options",
             "width=4", "expansion=2", home=tmp_path)
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.strip().startswith("conv1.conv"))
    assert line.endswith("(frozen: never trained)")
    r = _cli("analyze", "fold", "--backbone", "lc-resnet20", "--options", "width=4", "expansion=2",
             "learn_spatial=true", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert {d["basis_learned"] for d in json.loads(r.stdout)} == {True}


# --- 6: no value rounds to a false 1.00 or 100% ---------------------------------------------------------------------
def test_cka_values_never_read_a_false_one_or_zero():
    from app.analysis.cka import CKAResult, cka_text

    assert [cka_text(v) for v in (0.99703, 0.9996, 1 - 1e-16, 1.0, 0.5, 0.003, -0.004, 0.0, float("nan"))] == \
        ["0.997", "0.9996", "1.00", "1.00", "0.50", "0.003", "-0.004", "0.00", "n/a"]
    assert cka_text(0.99703, 3) == "0.997" and cka_text(0.99996, 3) == "0.99996"
    r = CKAResult(np.array([[0.99703]]), ("conv1",), ("conv1",), "linear", 300, "a", "b", reference=(0.99703,),
                  reference_seeds=(0, 1))
    assert r.reference_text().endswith("layer by layer: conv1 0.997")


@pytest.mark.gui
def test_the_cka_panel_cells_and_hover_never_read_a_false_one(qtbot, fe_home):
    from app.analysis.cka import CKAResult
    from app.session import Session
    from widgets.analysis.cka_panel import CKAPanel
    from widgets.application import make_app
    from widgets.common.worker import WorkerPool

    make_app()
    pool = WorkerPool()
    p = CKAPanel(Session(), pool)
    qtbot.addWidget(p)
    try:
        M = np.array([[0.997, 0.5], [np.nan, 1.0]])
        p.show_result(CKAResult(M, ("conv1", "conv2"), ("conv1", "conv2"), "linear", 300, "a", "b",
                                reference=(0.99703, 0.9), reference_seeds=(0, 1)))
        assert p.values.texts() == ["0.997", "0.50", "n/a", "1.00"]
        assert p.value_text(0, 0) == "A conv1 vs B conv1: CKA 0.997"
        assert "conv1 0.997 · conv2 0.90" in p.reference.text()
    finally:
        pool.shutdown()


def test_the_projector_note_never_reads_a_false_100_percent():
    from app.analysis.projector_jobs import projector_note
    from app.analysis.project import Projection

    xy = np.zeros((200, 2), np.float32)
    p = Projection(xy, np.zeros(200), np.arange(200), "pca", (0.99991, 0.00009))
    assert "the axes explain 99.99% + 0.01% of the standardised features' variance" in \
        projector_note("pca", p, 64, 200, "conv1", "avg")


# --- 7: the projector note of one feature ---------------------------------------------------------------------------
def test_the_projector_note_of_a_single_feature():
    """project() gives one explained share for one feature: the note indexed a second (IndexError)."""
    from app.analysis.projector_jobs import projector_note
    from app.analysis.project import project

    rng = np.random.default_rng(0)
    p = project(rng.standard_normal((50, 1)), rng.integers(0, 3, 50), "pca")
    assert p.explained == (1.0,)
    note = projector_note("pca", p, 1, 50, "conv1", "avg")
    assert note.endswith("the first axis explains 100% of the standardised features' variance (the second is 0 for "
                         "every point: one feature)")
