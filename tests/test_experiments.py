"""Experiments: recipe validation, cell expansion, resumable runs, reports, executors that agree."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.experiments import executors, recipe as rc
from app.experiments.recipe import RecipeError, load_recipe, parse
from app.experiments.results import cell_settings, groups, mean_std
from app.experiments.runner import run_experiment
from app.experiments.store import Store
from app.tasks import CancelToken, Cancelled, run_to_end

REPO = Path(__file__).resolve().parent.parent

TINY = """
name = "tiny"
title = "tiny rdsn grid"
claim = "k matters"
kind = "probe"
[base]
backbone = "rdsn"
dataset = "digits"
head = "ridge"
pooling = "gap"
train_limit = 300
test_limit = 120
options = { k = 8, blocks = 1 }
[grid]
"options.k" = [8, 24]
[seeds]
model = [0, 1]
[quick]
"grid.options.k" = [8]
[plot]
x = "options.k"
y = "test_top1"
[[paper]]
source = "nobody"
setting = "k = 24"
dataset = "digits"
value = 0.5
"""


def tiny(tmp_path: Path, text: str = TINY) -> Path:
    p = tmp_path / "tiny.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("bad, key", [
    ('nmae = "x"\n', "nmae"),
    ('[base]\nbackbone = "rdsn"\ndatset = "digits"\n', "datset"),
    ('[grid]\n"options.k" = 8\n', "non-empty list"),
    ('[seeds]\nmodle = [0]\n', "modle"),
    ('[plot]\nxx = "a"\n', "xx"),
    ('[[variants]]\nlabel = "a"\nweigths = "x"\n', "weigths"),
    ('[quick]\n"grid.nope" = [1]\n', "grid.nope"),
])
def test_unknown_keys_are_refused_with_their_name(tmp_path, bad, key):
    base = 'name = "t"\nkind = "probe"\n'
    if not bad.startswith("[base]"):
        base += '[base]\nbackbone = "rdsn"\n'
    with pytest.raises(RecipeError, match=key):
        load_recipe(tiny(tmp_path, base + bad))


def test_bad_toml_and_unknown_names(tmp_path):
    with pytest.raises(RecipeError, match="not valid TOML"):
        load_recipe(tiny(tmp_path, "name = \n"))
    with pytest.raises(RecipeError, match="unknown experiment 'no-such'"):
        load_recipe("no-such")
    with pytest.raises(RecipeError, match="kind must be"):
        parse({"name": "x", "kind": "dance", "base": {}}, "x")


def test_cells_expand_grid_seeds_variants_and_quick(tmp_path):
    r = load_recipe(tiny(tmp_path))
    cells = r.cells()
    assert len(cells) == 2 * 2
    assert sorted((c.get("options.k"), c.get("model_seed")) for c in cells) == [(8, 0), (8, 1), (24, 0), (24, 1)]
    assert len({c.key for c in cells}) == 4  # stable, distinct keys
    assert [c.key for c in cells] == [c.key for c in r.cells()]
    quick = r.cells(quick=True)
    assert {c.get("options.k") for c in quick} == {8} and len(quick) == 2
    two = parse({**r.raw, "variants": [{"label": "a"}, {"label": "b", "head": "knn"}]}, "x")
    heads = sorted((c.variant, c.get("head")) for c in two.cells())
    assert heads.count(("b", "knn")) == 4 and heads.count(("a", "ridge")) == 4


def test_every_shipped_recipe_parses_and_expands():
    names = rc.names()
    for required in ("untrained-features", "rosenfeld", "frankle", "xue-roshan", "gavrikov-keuper",
                     "probe-every-layer"):
        assert required in names
    for n in names:
        r = load_recipe(n)
        assert r.cells(quick=True) and r.cells(quick=False)
        assert "cell" in r.describe(quick=True)


def test_cell_settings_name_only_what_differs_arm_settings_before_seeds():
    cells = [
        {"key": "a", "settings": {"head": "logistic", "layer": 1, "model_seed": 0, "options": {"k": 8, "act": "relu"}}},
        {"key": "b", "settings": {"head": "logistic", "layer": 1, "model_seed": 1, "options": {"k": 8, "act": "relu"}}},
        {"key": "c", "settings": {"head": "logistic", "layer": 2, "model_seed": 0, "options": {"k": 8, "deskew": True}}},
    ]
    # layer and options.act: most cells share 1 / relu, so only c names them; the seed has a majority too (0)
    assert cell_settings(cells) == {
        "a": "(the settings most cells share)",
        "b": "model_seed = 1",
        "c": "layer = 2 · options.act = (not set) · options.deskew = true",
    }
    # a random arm beside trained arms: the weights it does not have are left out (there is no majority to depart
    # from), unless it would name nothing else
    arms = [{"key": f"{v}{layer}", "settings": {"layer": layer, **({"weights": "shipped:x", "weight_state": "trained"}
                                                                  if v == "t" else {})}}
            for v in "rt" for layer in (0, 1)]
    assert cell_settings(arms) == {"r0": "layer = 0", "r1": "layer = 1",
                                   "t0": "layer = 0 · weight_state = trained · weights = shipped:x",
                                   "t1": "layer = 1 · weight_state = trained · weights = shipped:x"}
    two = [{"key": "r", "settings": {"head": "ridge"}}, {"key": "t", "settings": {"head": "ridge", "weights": "w"}}]
    assert cell_settings(two) == {"r": "weights = (not set)", "t": "weights = w"}
    # a grid's axis (no majority value) is named in every cell, the arm's settings before the seeds
    grid = [{"key": f"{k}{s}", "settings": {"head": "ridge", "options": {"k": k}, "model_seed": s}}
            for k in (8, 16) for s in (0, 1)]
    assert cell_settings(grid) == {"80": "options.k = 8 · model_seed = 0", "81": "options.k = 8 · model_seed = 1",
                                   "160": "options.k = 16 · model_seed = 0", "161": "options.k = 16 · model_seed = 1"}
    assert cell_settings(cells[:1]) == {"a": "(one cell)"}
    assert cell_settings([]) == {}


def test_every_shipped_recipe_tells_its_cells_apart():
    """No two cells of a shipped recipe (full and quick size) read alike in the Experiments table's settings column."""
    for name in rc.names():
        for quick in (False, True):
            cells = [c.to_dict() for c in load_recipe(name).cells(quick=quick)]
            shown = cell_settings(cells)
            assert len(set(shown.values())) == len(cells), (name, quick)


def test_run_stores_cells_reuses_them_and_writes_a_report(tmp_path, monkeypatch):
    r = load_recipe(tiny(tmp_path))
    store = Store(tmp_path / "exp.sqlite")
    res = run_to_end(run_experiment(r, executor="inline", store=store, out_dir=tmp_path / "rep"))
    assert res.failed == 0 and res.reused == 0 and len(res.results) == 4
    accs = {(c["settings"]["options"]["k"], c["settings"]["model_seed"]): res.results[c["key"]]["test_top1"]
            for c in res.cells}
    assert all(0.0 <= a <= 1.0 for a in accs.values())
    # the table's mean +- std is the sample statistic over the two seeds
    g = {gr["settings"]["options.k"]: gr for gr in groups(res)}
    m, s = mean_std([accs[(24, 0)], accs[(24, 1)]])
    assert g[24]["test_top1"] == pytest.approx((m, s))
    assert s == pytest.approx(abs(accs[(24, 0)] - accs[(24, 1)]) / math.sqrt(2))
    md = Path(res.report["md"]).read_text()
    assert "tiny rdsn grid" in md and "python main.py experiment run" in md and "nobody" in md
    assert f"{100 * m:.2f}" in md
    assert "<svg" in Path(res.report["html"]).read_text()
    rows = list(csv.DictReader(open(res.report["csv"])))
    assert len(rows) == 4 and {r_["key"] for r_ in rows} == set(res.results)
    # a second run computes nothing: every cell comes from the store
    calls = []
    monkeypatch.setattr("app.experiments.cell.run_cell", lambda *a, **k: calls.append(1) or {})
    again = run_to_end(run_experiment(r, executor="inline", store=store, out_dir=tmp_path / "rep2"))
    assert calls == [] and again.reused == 4
    assert {k: v["test_top1"] for k, v in again.results.items()} == {k: v["test_top1"] for k, v in res.results.items()}


def test_cancel_keeps_the_finished_cells(tmp_path):
    r = load_recipe(tiny(tmp_path))
    store = Store(tmp_path / "exp.sqlite")
    token = CancelToken()
    gen = run_experiment(r, executor="inline", store=store, cancel=token, report=False)
    seen = 0
    with pytest.raises(Cancelled):
        for p in gen:
            if p.payload is not None and not p.payload.reused:
                seen += 1
                token.cancel()
    assert seen == 1
    assert len(store.done("tiny")) == 1


def test_a_failing_cell_is_reported_not_stored(tmp_path):
    text = TINY.replace('backbone = "rdsn"', 'backbone = "rdsn"\nweights = "known:no-such-weights"')
    r = load_recipe(tiny(tmp_path, text))
    store = Store(tmp_path / "exp.sqlite")
    res = run_to_end(run_experiment(r, quick=True, executor="inline", store=store, out_dir=tmp_path / "r"))
    assert res.failed == 2 and store.done("tiny") == {}
    assert all("unknown known weights" in v["error"] for v in res.results.values())
    assert "Failed or skipped cells" in Path(res.report["md"]).read_text()


def _numbers(res):
    return {k: (round(v["test_top1"], 10), v["n_features"]) for k, v in res.results.items()}


def test_process_pool_and_inline_give_identical_numbers(tmp_path):
    r = load_recipe(tiny(tmp_path))
    a = run_to_end(run_experiment(r, executor="inline", store=Store(tmp_path / "a.sqlite"), report=False))
    b = run_to_end(run_experiment(r, executor="local", workers=2, store=Store(tmp_path / "b.sqlite"), report=False))
    assert _numbers(a) == _numbers(b) and len(a.results) == 4


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(not os.environ.get("FILTER_EXPLORER_RAY_TESTS"),
                    reason="starts a local Ray instance (GCS, raylet and workers: ~15 s, and services that some "
                           "sandboxes do not allow); set FILTER_EXPLORER_RAY_TESTS=1")
def test_ray_and_local_give_identical_numbers(tmp_path):
    pytest.importorskip("ray")
    r = load_recipe(tiny(tmp_path))
    a = run_to_end(run_experiment(r, quick=True, executor="local", workers=2, store=Store(tmp_path / "a.sqlite"),
                                  report=False))
    b = run_to_end(run_experiment(r, quick=True, executor="ray", workers=2, store=Store(tmp_path / "b.sqlite"),
                                  report=False))
    assert b.failed == 0 and _numbers(a) == _numbers(b)


def test_ray_missing_says_how_to_install(monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "ray":
            raise ImportError("no ray")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(executors.ExecutorError, match=r"pip install \.\[cluster\]"):
        list(executors.run_ray([{"key": "x"}]))


def _cli(*args, home):
    return subprocess.run([sys.executable, "main.py", *args], cwd=REPO, capture_output=True, text=True,
                          env={"FILTER_EXPLORER_HOME": str(home), "PATH": "/usr/bin:/bin"}, timeout=300)


def test_cli_list_show_and_a_bad_recipe(tmp_path):
    out = _cli("experiment", "list", "--json", home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "xue-roshan" in {r["name"] for r in json.loads(out.stdout)}
    show = _cli("experiment", "show", "xue-roshan", "--quick", "--json", home=tmp_path)
    assert show.returncode == 0 and json.loads(show.stdout)["cells"]
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "b"\nkind = "probe"\n[base]\nbakbone = "rdsn"\n')
    r = _cli("experiment", "run", str(bad), home=tmp_path)
    assert r.returncode == 2 and "bakbone" in r.stderr and "Traceback" not in r.stderr


def test_ray_whose_workers_never_start_is_reported_not_waited_for(monkeypatch):
    class Ref:
        pass

    class FakeRay:
        cancelled = []

        def remote(self, **kw):
            return lambda fn: type("R", (), {"remote": staticmethod(lambda *a: Ref())})

        def wait(self, refs, num_returns=1, timeout=None):
            return [], refs  # pending for ever

        def cancel(self, ref, force=False):
            self.cancelled.append(ref)

    fake = FakeRay()
    with pytest.raises(executors.ExecutorError, match=r"started no task within 1 s"):
        executors._ray_ready(fake, timeout_s=1.0)
    assert fake.cancelled  # the probe task is not left behind
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        executors._ray_ready(fake, cancel=token, timeout_s=60.0)


def test_the_planned_plot_names_every_series_before_its_cells_finish(tmp_path):
    """``plot_series(planned=True)``: the live view lays its plot out once, at the plan: every series the cells will
    give is named (with no point where none finished) and ``planned_x`` gives the x values they will take; the
    report's plot (``planned=False``) shows only what finished."""
    from app.experiments.results import planned_x, plot_series
    from app.experiments.runner import ExperimentResult

    r = parse({**load_recipe(tiny(tmp_path)).raw, "variants": [{"label": "a"}, {"label": "b", "head": "knn"}]}, "x")
    cells = tuple(c.to_dict() for c in r.cells())
    done = next(c for c in cells if c["variant"] == "a" and c["settings"]["options"]["k"] == 24)
    partial = ExperimentResult(r, False, cells, {done["key"]: {"test_top1": 0.75, "seconds": 1.0}})
    planned, refs = plot_series(partial, planned=True)
    assert planned == {"a": [(24, 0.75, 0.0)], "b": []}
    assert plot_series(partial)[0] == {"a": [(24, 0.75, 0.0)]}
    assert sorted(planned_x(partial)) == [8, 8, 24, 24]  # per group: two variants x two k
    assert refs == [("nobody: k = 24", None, 0.5)]


def test_cell_settings_compare_cells_within_their_backbone_and_read_as_a_recipe():
    """An ablation with two backbones' arms: each arm named by what it changes against its own backbone's cells
    (the random-filter arms and the patch arms split half and half, so no setting has a majority over all cells)."""
    def cell(key, backbone, **kw):
        base = {"rdsn": {"whiten": 0.1, "options": {"k": 256}}, "patches": {"options": {"k": 200, "zca_eps": 0.1}}}
        s = {**base[backbone], "backbone": backbone, "head": "logistic"}
        for k, v in kw.items():
            s[k] = {**s[k], **v} if isinstance(v, dict) and isinstance(s.get(k), dict) else v
        return {"key": key, "settings": s}

    cells = [cell("r", "rdsn"), cell("r-w", "rdsn", whiten=None), cell("r-k", "rdsn", options={"k": 64}),
             cell("p", "patches"), cell("p-z", "patches", options={"zca_eps": 0}),
             cell("p-b", "patches", bank={"kind": "gabor", "count": 32}, freeze=["conv1", "conv2"], tta=True)]
    assert cell_settings(cells) == {
        "r": "backbone = rdsn", "r-w": "backbone = rdsn · whiten = none", "r-k": "backbone = rdsn · options.k = 64",
        "p": "backbone = patches", "p-z": "backbone = patches · options.zca_eps = 0",
        "p-b": "backbone = patches · bank = {kind: gabor, count: 32} · freeze = [conv1, conv2] · tta = true"}


def test_no_executor_is_started_when_every_cell_is_reused(monkeypatch):
    """Ray (or a process pool) started only to run nothing took ~15 s and left services behind for a moment."""
    def boom(*a, **k):
        raise AssertionError("an executor was started for no cell")

    monkeypatch.setattr(executors, "run_ray", boom)
    monkeypatch.setattr(executors, "run_local", boom)
    for ex in ("ray", "local", "inline"):
        assert list(executors.run(ex, [], 2)) == []
    with pytest.raises(executors.ExecutorError):
        executors.run("nosuch", [], 2)


def test_a_train_cell_of_the_old_validation_protocol_is_not_reused():
    """train's default validation split became the probe's (20%, was 10%): a stored train cell of the old protocol
    answered under the same key would be a stale number; so would a probe cell of the plain-tolerance sweep (probe
    protocol 2, 2026-12-03) or of the gradient rule alone (probe protocol 3, the duality gap, 2026-12-03); a kind
    without a protocol number keeps its settings' key."""
    import hashlib

    def old_key(c):
        blob = json.dumps({"kind": c.kind, "variant": c.variant, "settings": dict(c.settings)}, sort_keys=True,
                          default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:20]

    settings = (("backbone", "simple"), ("dataset", "digits"), ("epochs", 1))
    train, probe = rc.Cell("t", "train", settings), rc.Cell("p", "probe", settings)
    assert train.key != old_key(train) and probe.key != old_key(probe)
    other = rc.Cell("s", "svm-bench", settings)  # no protocol number: the settings alone
    assert other.key == old_key(other)
    assert rc.Cell("t", "train", settings).key == train.key  # still stable
