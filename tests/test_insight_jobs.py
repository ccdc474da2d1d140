"""app.analysis.jobs (the Insight panels' tasks, Qt-free): known answers on tiny models and every bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from app.analysis.jobs import InsightError, cka_job, filters_job, fold_job, layers_job, patches_job, random_twin
from app.analysis.projector_jobs import pair_gallery, projector_job
from app.errors import AppError
from app.models.spec import ModelSpec
from app.tasks import run_to_end

TINY = {"widths": (4, 8), "in_channels": 1, "input_size": 8}


def tiny(**kw):
    return ModelSpec.make("simple", label="tiny", options=TINY, **kw)


def test_random_twin_keeps_architecture_and_input_drops_weights():
    spec = ModelSpec.make("simple", label="simple (trained, MNIST)", options=TINY, weights="/x.safetensors",
                          init="checkpoint", weight_state="trained", input="declared")
    t = random_twin(spec)
    assert (t.backbone, t.options, t.input) == (spec.backbone, spec.options, "declared")
    assert (t.weights, t.init, t.banks, t.weight_state) == (None, "default", (), "random")
    assert t.label == "simple (random twin: trained, MNIST)"


def test_cka_of_a_model_with_itself_is_one_on_the_diagonal():
    res = run_to_end(cka_job(tiny(), tiny(), "digits", 30))
    assert res.layers_a == ("conv1", "conv2") and res.n_images == 30
    np.testing.assert_allclose(np.diag(res.matrix), 1.0, atol=1e-6)


def test_cka_of_one_architecture_carries_two_random_initialisations_as_its_reference():
    """Trained (here: another seed) against the random twin reads against how similar two untrained copies already
    are: the reference is each layer's CKA between the architecture's seeds s and s + 1, computed independently."""
    from app.analysis.cka import CKAResult

    res = run_to_end(cka_job(tiny(seed=4), tiny(seed=7), "digits", 40))
    assert res.reference_seeds == (4, 5) and len(res.reference) == len(res.layers_a) == 2
    direct = run_to_end(cka_job(random_twin(tiny(seed=4)), random_twin(tiny(seed=5)), "digits", 40))
    np.testing.assert_allclose(res.reference, np.diag(direct.matrix), atol=1e-6)
    assert all(0.0 < v < 1.0 for v in res.reference)  # two random networks: similar, not the same
    assert res.reference_text().startswith("Two random initialisations of this architecture (seeds 4 and 5), layer "
                                           f"by layer: conv1 {res.reference[0]:.2f} · conv2 {res.reference[1]:.2f}")
    assert res.to_dict()["reference_seeds"] == [4, 5]
    other = run_to_end(cka_job(tiny(), ModelSpec.make("simple", options=dict(TINY, widths=(4, 6))), "digits", 40))
    assert other.reference == () and other.reference_text() == "" and "reference" not in other.to_dict()
    assert CKAResult(np.eye(1), ("a",), ("a",), "linear", 2, "x", "y").reference == ()


def test_the_seed_reference_is_computed_once_per_architecture_images_and_kernel(monkeypatch):
    """Comparing one architecture again (another model of it, or the same pair) reuses the reference; other
    images, another kernel, another architecture or other seeds compute it (the values as computed afresh)."""
    import app.analysis.cka as cka
    from app.analysis import jobs
    from app.analysis.jobs import sample, with_seed_reference

    monkeypatch.setattr(jobs, "_REFERENCES", {})
    calls = []
    real = cka.cka_matrix

    def counted(*a, **kw):
        calls.append(kw.get("label_a"))
        return (yield from real(*a, **kw))

    monkeypatch.setattr(cka, "cka_matrix", counted)
    first = run_to_end(cka_job(tiny(seed=4), tiny(seed=7), "digits", 40))
    assert calls == ["tiny", "seed 4"]
    other_model = dataclasses.replace(tiny(seed=4), label="another model of it")
    again = run_to_end(cka_job(other_model, random_twin(tiny(seed=4)), "digits", 40))
    assert calls == ["tiny", "seed 4", "another model of it"] and again.reference == first.reference
    run_to_end(cka_job(tiny(seed=4), tiny(seed=7), "digits", 41))  # other images
    run_to_end(cka_job(tiny(seed=4), tiny(seed=7), "digits", 40, kernel="rbf"))
    run_to_end(cka_job(tiny(seed=5), tiny(seed=7), "digits", 40))  # other seeds: 5 and 6
    wider = ModelSpec.make("simple", label="tiny", options=dict(TINY, widths=(4, 6)), seed=4)
    run_to_end(cka_job(wider, wider, "digits", 40))
    assert calls.count("seed 4") == 4 and calls.count("seed 5") == 1
    # a changed dataset is never answered from the cache: the same name and size, other pixels
    ds = sample("digits", 40)
    run_to_end(with_seed_reference(first, tiny(seed=4), ds))
    assert calls.count("seed 4") == 4  # the same images: reused
    changed = dataclasses.replace(ds, images=np.ascontiguousarray(ds.images[::-1]))
    run_to_end(with_seed_reference(first, tiny(seed=4), changed))
    assert calls.count("seed 4") == 5


def test_top_patch_is_the_argmax_and_the_mosaic_has_a_cell_per_patch():
    v = run_to_end(patches_job(tiny(), 1, 2, "digits", 40, k=5))
    assert len(v.patches) == len(v.cells) == len(v.captions) == 5
    values = [p.value for p in v.patches]
    assert values == sorted(values, reverse=True)
    x, y, w, h = v.cells[0]
    assert v.image.shape[2] == 3 and x + w <= v.image.shape[1] and y + h <= v.image.shape[0]


def test_tied_top_values_are_said_to_be_no_ranking():
    """rdsn's stem with the sign activation: every positive response is exactly 1, so the "top" crops are the first
    of many images that tie; the title says so and how many tie (it said nothing: it read as a ranking)."""
    spec = ModelSpec.make("rdsn", options={"k": 8, "blocks": 1, "activation": "sign"})
    v = run_to_end(patches_job(spec, 0, 0, "digits", 60, k=4))
    assert all(p.value == 1.0 for p in v.patches)
    assert v.patches[-1].tied > 4
    assert f"Not a ranking: {v.patches[-1].tied} of the 60 images reach this channel's top value 1" in v.title
    relu = run_to_end(patches_job(tiny(), 1, 2, "digits", 40, k=5))  # distinct values: a ranking, no note
    assert relu.patches[-1].tied == 5 and "Not a ranking" not in relu.title


def test_the_tie_note_says_which_shown_crops_rest_on_the_datasets_order():
    from app.analysis.jobs import tie_note
    from app.analysis.patches import Patch

    def shown(values, tied):
        return [Patch(i, v, 0, 0, (0, 0, 1, 1), 0, np.zeros((1, 1, 1), np.uint8), tied) for i, v in enumerate(values)]

    assert tie_note(shown([3.0, 2.0, 1.0, 1.0], 4), 100) == ""  # nothing tied past the cut: a ranking
    assert tie_note(shown([3.0, 2.0, 1.0, 1.0], 6), 100) == (
        ". The last 2 shown tie at 1 with 2 more images not shown (the first in the dataset's order are shown)")
    assert tie_note(shown([1.0, 1.0, 1.0], 90), 100) == (
        ". Not a ranking: 90 of the 100 images reach this channel's top value 1; these 3 are the first of them in "
        "the dataset's order")
    assert tie_note([], 10) == ""


@pytest.mark.parametrize("layer,channel,msg", [(5, 0, "layer 5: simple has layers 0..1"),
                                               (1, 8, "channel 8: layer conv2 has channels 0..7")])
def test_patches_out_of_range_say_what_exists(layer, channel, msg):
    with pytest.raises(InsightError, match=msg):
        run_to_end(patches_job(tiny(), layer, channel, "digits", 20))


def test_cka_needs_ten_images():
    """On 2 images every linear value is 1.000 (an audit's --n 2): refused, as on 1."""
    for n in (1, 2, 9):
        with pytest.raises(InsightError, match=f"CKA needs at least 10 images \\(on 2 every value is 1\\), got {n}"):
            run_to_end(cka_job(tiny(), tiny(), "digits", n))


def test_filters_of_a_random_model_have_no_twin_and_banks_join():
    bank = np.random.default_rng(0).normal(size=(6, 1, 5, 5)).astype(np.float32)
    sets = run_to_end(filters_job(tiny(), (("mine", bank), ("1x1", np.ones((2, 1, 1, 1))))))
    assert [(s.label, s.kind) for s in sets] == [("tiny", "random"), ("mine (bank)", "hand-designed")]
    assert [s.layer for s in sets[0].stats] == ["conv1", "conv2"]


def test_filters_of_a_model_with_weights_add_its_random_twin(tmp_path):
    import torch

    from app.models.build import build

    path = tmp_path / "w.pt"
    torch.save(build(tiny(seed=3)).state_dict(), path)
    spec = tiny(weights=str(path), init="checkpoint", weight_state="trained")
    sets = run_to_end(filters_job(spec))
    assert [s.kind for s in sets] == ["trained", "random"]


def test_fold_of_a_model_without_lc_blocks_names_one_that_has_them():
    with pytest.raises(InsightError, match="no LC blocks.*lc-resnet20"):
        run_to_end(fold_job(tiny()))


def test_fold_of_an_lc_model_gives_effective_and_basis_mosaics():
    folded = run_to_end(fold_job(ModelSpec.make("lc-resnet20")))
    assert len(folded) > 0
    f = folded[0]
    assert f.shape_basis[0] % f.shape_effective[0] == 0 and f.shape_basis[1:] == f.shape_effective[1:]
    assert f.effective.rgb.dtype == np.uint8 and f.basis.rgb.ndim == 3
    assert run_to_end(layers_job(ModelSpec.make("lc-resnet20"))).lc
    assert not run_to_end(layers_job(tiny())).lc


def test_projector_refuses_runs_it_cannot_rebuild():
    with pytest.raises(InsightError, match="stored before runs recorded their settings"):
        run_to_end(projector_job({"config": {}}))
    assert issubclass(InsightError, AppError)


def test_pair_gallery_refuses_indices_that_do_not_fit(tmp_path):
    stored = {"resolved": None, "config": {"model": tiny().to_dict(), "dataset": "digits", "test_limit": 10},
              "misclassified": [50], "mis_predicted": [1], "classes": [str(i) for i in range(10)]}
    with pytest.raises(InsightError, match="do not fit the test split"):
        run_to_end(pair_gallery(stored, 0, 1))
