"""The MNIST ablation recipe (issue 13): its full arm is the random-mnist preset, every other arm changes one setting
(the earlier preset's arm: deskewing off and shift views on), the scattering peers differ by deskewing alone; the
quick size runs a subset with a smaller k. (Its quick report, run end to end on MNIST, is docs/experiments/
ablation-mnist-quick.*; the runner and the ablation chart are tested with the CIFAR-10 recipe.)"""

from __future__ import annotations

from app.experiments.recipe import load_recipe
from app.experiments.ablation import baselines
from app.experiments.results import _flatten
from app.probe import presets

NAME = "ablation-mnist"


def _arms(cells, seed: int = 0) -> dict[str, dict]:
    return {c.variant: _flatten(c.config) for c in cells if c.get("model_seed") == seed}


def _changed(a: dict, b: dict) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k, "absent") != b.get(k, "absent"))


def test_the_full_arm_is_the_preset_and_every_arm_changes_one_thing():
    r = load_recipe(NAME)
    assert r.plot["kind"] == "ablation" and baselines(r) == ["full"]
    arms = _arms(r.cells())
    s = arms["full"]
    ours = {"backbone": s["backbone"], "options": {k[8:]: v for k, v in s.items() if k.startswith("options.")},
            "layer": s["layer"], "pooling": s["pooling"], "head": s["head"], "head_options": {},
            "grid": s["head_grid"], "tta": s.get("tta", "none"), "refit": s.get("refit", False)}
    assert ours == presets.get("random-mnist").fixes(), (
        f"the ablation's full arm is no longer the random-mnist preset: update resources/experiments/{NAME}.toml")
    assert len(arms) == 14 and s["dataset"] == "mnist"
    for arm, a in arms.items():
        if arm in ("full", "scattering", "scattering, deskewed", "shift views, no deskewing"):
            continue
        assert len(_changed(a, s)) == 1, (arm, _changed(a, s))
    assert _changed(arms["shift views, no deskewing"], s) == ["options.deskew", "tta"]
    assert arms["no deskewing"]["options.deskew"] is False and arms["k / 4"]["options.k"] == 256
    assert arms["+ rotation views (12 degrees)"]["options.rotation_views"] == 12.0
    assert _changed(arms["scattering, deskewed"], arms["scattering"]) == ["options.deskew"]
    assert arms["scattering"]["backbone"] == "scattering" and "options.k" not in arms["scattering"]


def test_the_quick_size_is_a_subset_with_a_smaller_k_and_no_k_for_scattering():
    r = load_recipe(NAME)
    quick = _arms(r.cells(quick=True))
    assert len(r.cells(quick=True)) == 28
    assert {a["train_limit"] for a in quick.values()} == {5000} and {a["test_limit"] for a in quick.values()} == {2000}
    assert quick["full"]["options.k"] == 256 and quick["k / 4"]["options.k"] == 64
    assert "options.k" not in quick["scattering, deskewed"]  # its own options replace the base's (no k to refuse)
