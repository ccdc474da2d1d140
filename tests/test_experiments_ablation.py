"""The CIFAR-10 ablation recipe (issue 13): its arms, its quick run (on digits here: CI has no CIFAR), the ablation
chart and table with each arm's change against its family's full configuration."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.experiments.cell import CellError, run_cell
from app.experiments.recipe import Cell, RecipeError, load_recipe, parse
from app.experiments.report import command, markdown
from app.experiments.ablation import ablation, baselines, cell_changes
from app.experiments.results import _flatten, plot_series
from app.experiments.runner import run_experiment
from app.experiments.store import Store
from app.experiments.svg import delta_chart
from app.probe import presets
from app.tasks import run_to_end

REPO = Path(__file__).resolve().parent.parent
NAME = "ablation-cifar10"


def _by_arm(cells: list[Cell], seed: int = 0) -> dict[str, dict]:
    return {c.variant: _flatten(c.config) for c in cells if c.get("model_seed") == seed}


def _full_of(recipe) -> dict[str, str]:
    """arm -> the baseline arm it is compared with (the last baseline before it, in recipe order)."""
    base, out = set(baselines(recipe)), {}
    current = None
    for v in recipe.variants:
        if v["label"] in base:
            current = v["label"]
        out[v["label"]] = current
    return out


def test_the_full_arms_are_the_presets_and_every_other_arm_changes_one_setting():
    r = load_recipe(NAME)
    assert r.plot["kind"] == "ablation" and baselines(r) == ["full", "patches: full"]
    arms = _by_arm(r.cells())
    for arm, preset in (("full", "random-cifar10"), ("patches: full", "patches-cifar10")):
        fixes = presets.get(preset).fixes()
        s = arms[arm]
        ours = {"backbone": s["backbone"], "options": {k[8:]: v for k, v in s.items() if k.startswith("options.")},
                "layer": s["layer"], "pooling": s["pooling"], "head": s["head"], "head_options": {},
                "grid": s["head_grid"], "tta": s.get("tta", "none"), "refit": s.get("refit", False)}
        assert ours == fixes, (f"the ablation's {arm!r} arm is no longer the {preset} preset: update "
                               f"resources/experiments/{NAME}.toml (its full arm and the one-change arms)")
    assert arms["full"]["whiten"] == 0.1  # the probe's colour default for a random stem, stated explicitly
    family = _full_of(r)
    assert len(family) == 20
    for arm, s in arms.items():
        if family[arm] == arm:
            continue
        ref = arms[family[arm]]
        changed = sorted(k for k in set(s) | set(ref) if s.get(k, "absent") != ref.get(k, "absent"))
        assert len(changed) == 1, (arm, changed)
    assert arms["no input whitening"]["whiten"] is False
    assert arms["k / 4"]["options.k"] == 512 and arms["patches: k / 4"]["options.k"] == 400
    assert arms["no feature standardisation"]["head_options.standardize"] is False
    assert arms["full"]["tta"] == "hflip" and arms["no mirror views"]["tta"] == "none"
    assert arms["patches: full"]["tta"] == "hflip" and arms["patches: no mirror views"]["tta"] == "none"


def test_the_quick_size_runs_a_subset_with_smaller_feature_counts():
    r = load_recipe(NAME)
    quick = r.cells(quick=True)
    assert len(quick) == 20 * 2 and len({c.key for c in quick}) == 40
    assert {c.get("model_seed") for c in quick} == {0, 1}
    assert len(r.cells()) == 20 * 2
    arms = _by_arm(quick)
    assert {s["train_limit"] for s in arms.values()} == {2500} and {s["test_limit"] for s in arms.values()} == {1000}
    assert arms["full"]["options.k"] == 256 and arms["k / 4"]["options.k"] == 64
    assert arms["patches: full"]["options.k"] == 200 and arms["patches: k / 4"]["options.k"] == 50
    # a wider weight-decay grid for rdsn at this size (the preset's edge, 1.0, was selected on validation there)
    assert arms["full"]["head_grid"] == [1e-3, 1e-2, 1e-1, 1.0, 10.0]
    # the quick size keeps the one-change rule
    family = _full_of(r)
    for arm, s in arms.items():
        ref = arms[family[arm]]
        assert len([k for k in set(s) | set(ref) if s.get(k, "absent") != ref.get(k, "absent")]) <= 1, arm


def test_dataset_given_on_the_command_line_replaces_the_recipes(tmp_path):
    r = load_recipe(NAME).with_dataset("digits")
    assert {c.get("dataset") for c in r.cells(quick=True)} == {"digits"}
    out = subprocess.run([sys.executable, "main.py", "experiment", "show", NAME, "--quick", "--dataset",
                          "imagefolder:/data/cifar10-jpg", "--json"], cwd=REPO, capture_output=True, text=True,
                         env={"FILTER_EXPLORER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert out.returncode == 0, out.stderr
    cells = json.loads(out.stdout)["cells"]
    assert len(cells) == 40 and {c["settings"]["dataset"] for c in cells} == {"imagefolder:/data/cifar10-jpg"}
    bad = subprocess.run([sys.executable, "main.py", "experiment", "show", NAME, "--dataset", " "], cwd=REPO,
                         capture_output=True, text=True, timeout=120,
                         env={"FILTER_EXPLORER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert bad.returncode == 2 and "--dataset" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("plot, match", [
    ({"kind": "ablation", "baseline": "nope"}, "baseline 'nope' is not a variant"),
    ({"kind": "ablation", "baseline": ["a", "zz"]}, "baseline 'zz'"),
    ({"kind": "bars"}, "kind must be one of"),
])
def test_bad_ablation_plots_are_refused(plot, match):
    doc = {"name": "t", "kind": "probe", "base": {"backbone": "rdsn", "dataset": "digits"},
           "variants": [{"label": "a"}, {"label": "b", "pooling": "gap"}], "plot": plot}
    with pytest.raises(RecipeError, match=match):
        parse(doc, "t.toml")


def test_a_bad_whiten_setting_is_the_cells_error():
    cell = Cell("t", "probe", tuple(sorted({"backbone": "rdsn", "dataset": "digits", "whiten": "yes",
                                            "options": {"k": 4, "blocks": 1}}.items())), "a")
    with pytest.raises(CellError, match="whiten must be false"):
        run_cell(cell.to_dict())


ARMS = ("full", "no input whitening", "sign activation", "no mirror views", "patches: full",
        "patches: no ZCA whitening")


@pytest.fixture(scope="module")
def quick_on_digits(tmp_path_factory):
    """The shipped recipe's quick mode on digits: a few of its arms, a small subset, small feature counts, a
    two-value weight-decay grid and two seeds (the spread and the paired differences need two)."""
    tmp = tmp_path_factory.mktemp("ablation")
    r = load_recipe(NAME).with_dataset("digits")
    r = dataclasses.replace(r, quick={**r.quick, "train_limit": 300, "test_limit": 150, "options.k": 16,
                                      "head_grid": [1e-2, 1.0], "seeds.model": [0, 1]},
                            variants=tuple(v for v in r.variants if v["label"] in ARMS))
    variants = []
    for v in r.variants:  # smaller patch layers for 8x8 digits
        if v["label"].startswith("patches"):
            v = {**v, "quick": {"options.k": 16}, "head_grid": [1e-3, 1e-1],
                 "options": {**v["options"], "patch_size": 3, "n_patches": 1000, "kmeans_epochs": 3}}
        variants.append(v)
    r = dataclasses.replace(r, variants=tuple(variants))
    res = run_to_end(run_experiment(r, quick=True, executor="inline", store=Store(tmp / "exp.sqlite"),
                                    out_dir=tmp / "report"))
    return r, res


def test_the_quick_run_completes_and_whitening_is_switched_as_the_arms_say(quick_on_digits):
    r, res = quick_on_digits
    assert res.failed == 0 and len(res.results) == len(ARMS) * 2
    by = {(c["variant"], c["settings"]["model_seed"]): res.results[c["key"]] for c in res.cells}
    assert by[("full", 0)]["whiten_stem"] == 0.1 and by[("no input whitening", 0)]["whiten_stem"] is None
    assert by[("patches: full", 1)]["whiten_stem"] is None
    assert by[("full", 0)]["tta"] == "hflip" and by[("no mirror views", 1)]["tta"] == "none"
    assert by[("patches: full", 0)]["tta"] == "hflip"
    assert all(0.0 < v["test_top1"] <= 1.0 and 0.0 < v["val_top1"] <= 1.0 for v in res.results.values())


def test_each_arms_change_is_the_mean_of_its_per_seed_differences(quick_on_digits):
    r, res = quick_on_digits
    by = {(c["variant"], c["settings"]["model_seed"]): res.results[c["key"]] for c in res.cells}
    rows = {a["arm"]: a for a in ablation(res)}
    assert [a["arm"] for a in ablation(res)] == list(ARMS)
    assert rows["sign activation"]["baseline"] == "full" and rows["patches: no ZCA whitening"]["baseline"] == (
        "patches: full")
    assert rows["full"]["is_baseline"] and rows["patches: full"]["is_baseline"]
    # by hand: (sign0 - full0 + sign1 - full1) / 2, and the sample std of the two differences
    d0 = by[("sign activation", 0)]["test_top1"] - by[("full", 0)]["test_top1"]
    d1 = by[("sign activation", 1)]["test_top1"] - by[("full", 1)]["test_top1"]
    m, s = rows["sign activation"]["delta_test_top1"]
    assert m == pytest.approx((d0 + d1) / 2) and s == pytest.approx(abs(d0 - d1) / 2 ** 0.5)
    v0 = by[("patches: no ZCA whitening", 0)]["val_top1"] - by[("patches: full", 0)]["val_top1"]
    v1 = by[("patches: no ZCA whitening", 1)]["val_top1"] - by[("patches: full", 1)]["val_top1"]
    assert rows["patches: no ZCA whitening"]["delta_val_top1"][0] == pytest.approx((v0 + v1) / 2)
    md = Path(res.report["md"]).read_text()
    assert "## Ablation" in md and f"{100 * (d0 + d1) / 2:+.2f}" in md
    svg = Path(res.report["svg"]).read_text()
    assert svg.startswith("<svg") and "sign activation" in svg and f"({100 * (d0 + d1) / 2:+.2f})" in svg
    assert "<svg" in Path(res.report["html"]).read_text()


def test_the_live_views_changes_are_the_per_seed_differences(quick_on_digits):
    """What the Experiments workspace draws for an ablation (``plot_series(change=True)``, ``cell_changes``): each
    cell's difference against its baseline's cell of the same seed, and per arm their mean and spread; the
    baselines at zero, no paper figure on a scale of changes."""
    r, res = quick_on_digits
    by = {(c["variant"], c["settings"]["model_seed"]): res.results[c["key"]]["test_top1"] for c in res.cells}
    key = {(c["variant"], c["settings"]["model_seed"]): c["key"] for c in res.cells}
    changes = cell_changes(res)
    assert changes[key[("sign activation", 1)]] == pytest.approx(by[("sign activation", 1)] - by[("full", 1)])
    assert changes[key[("patches: no ZCA whitening", 0)]] == pytest.approx(
        by[("patches: no ZCA whitening", 0)] - by[("patches: full", 0)])
    assert changes[key[("full", 0)]] is None and changes[key[("patches: full", 1)]] is None
    series, refs = plot_series(res, change=True)
    points = {x: (m, s) for pts in series.values() for x, m, s in pts}
    d = [by[("no mirror views", s)] - by[("full", s)] for s in (0, 1)]
    assert points["no mirror views"] == pytest.approx(((d[0] + d[1]) / 2, abs(d[0] - d[1]) / 2 ** 0.5))
    assert points["full"] == (0.0, 0.0) and points["patches: full"] == (0.0, 0.0) and refs == []
    values, _ = plot_series(res)
    assert {x: m for pts in values.values() for x, m, _ in pts}["full"] == pytest.approx(
        (by[("full", 0)] + by[("full", 1)]) / 2)


def test_the_reports_command_names_the_dataset_given_on_the_command_line(quick_on_digits, tmp_path):
    r, res = quick_on_digits
    assert command(res).startswith(f"python main.py experiment run {NAME} --quick --dataset digits ")
    assert "--dataset digits --executor inline" in markdown(res)
    same = dataclasses.replace(res, recipe=load_recipe(NAME), cells=tuple(
        c.to_dict() for c in load_recipe(NAME).cells(quick=True)))
    assert "--dataset" not in command(same)


def test_the_delta_chart_draws_each_change_from_zero():
    rows = [{"label": "full", "baseline": True, "values": [(0.60, 0.0), (0.62, 0.0)], "deltas": [None, None]},
            {"label": "worse", "baseline": False, "values": [(0.57, 0.01), (0.60, 0.0)],
             "deltas": [(-0.03, 0.01), (-0.02, 0.0)]},
            {"label": "better", "baseline": False, "values": [(0.61, 0.0), (0.63, 0.0)],
             "deltas": [(0.01, 0.0), (0.01, 0.0)]}]
    svg = delta_chart(rows, title="t")
    assert "57.00% ± 1.00 (-3.00)" in svg and "60.00% (-2.00)" in svg and "61.00% (+1.00)" in svg
    assert "60.00%" in svg and "62.00%" in svg  # the baseline's own values
    # the bars: a negative change ends at the zero line, a positive one starts there
    import re

    zero = float(re.findall(r'<line x1="([\d.]+)" x2="\1" y1="50" y2="\d+" stroke="#333"/>', svg)[0])
    bars = [(float(x), float(w)) for x, w in re.findall(r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)" '
                                                        r'height="9" fill="#1f77b4"', svg)]
    assert len(bars) == 2
    assert bars[0][0] + bars[0][1] == pytest.approx(zero, abs=0.15) and bars[1][0] == pytest.approx(zero, abs=0.15)
    assert bars[0][1] == pytest.approx(3 * bars[1][1], rel=0.05)  # -3 points is three times +1 point


def test_markdown_tables_as_aligned_text():
    from app.experiments.results import as_text

    md = ["| arm | n | change |", "|---|---|---|", "| full | 2 | (baseline) |", "| a longer arm | 10 | -1.25 |", "",
          "after"]
    assert as_text(md).split("\n") == ["arm           n   change",
                                       "------------  --  ----------",
                                       "full          2   (baseline)",
                                       "a longer arm  10  -1.25",
                                       "",
                                       "after"]


TINY_ABLATION = """name = "tiny-abl"
title = "t"
claim = "c"
kind = "probe"
[base]
backbone = "rdsn"
dataset = "digits"
head = "ridge"
pooling = "gap"
train_limit = 200
test_limit = 80
options = { k = 8, blocks = 1 }
[seeds]
model = [0, 1]
[[variants]]
label = "full"
[[variants]]
label = "fewer filters"
options = { k = 4, blocks = 1 }
[plot]
kind = "ablation"
baseline = ["full"]
x = "variant"
y = "test_top1"
"""


def test_the_command_prints_the_results_and_each_arms_change_as_the_report_gives_them(tmp_path, monkeypatch,
                                                                                       capsys):
    """``experiment run`` without --json printed only counts and file paths: the figures are now on the terminal,
    the same as the report's tables (mean ± std over seeds; an ablation's change against its baseline)."""
    from app.cli import run

    monkeypatch.setenv("FILTER_EXPLORER_HOME", str(tmp_path / "home"))
    recipe = tmp_path / "tiny-abl.toml"
    recipe.write_text(TINY_ABLATION)
    assert run(["experiment", "run", str(recipe), "--executor", "inline", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    md = (tmp_path / "r" / "tiny-abl.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| fewer filters | full |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    printed = [line for line in out.splitlines() if line.startswith("fewer filters  full")]
    assert len(printed) == 1 and all(c in printed[0] for c in cells[2:6]), out
    assert "Results (mean ± std over seeds, in %; changes in points):" in out
    assert out.index("change (test)") > out.index("test top-1") and "md: " in out
