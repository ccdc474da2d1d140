"""Recipe mistakes refused when the file is read (each named by file and key), cell keys that follow the files a
cell reads, failures that do not leave a stale result behind, and the report's tables as a recipe writes them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path

import pytest

from app.experiments import executors
from app.experiments import recipe as rc
from app.experiments.recipe import Cell, RecipeError, load_recipe, on_dataset
from app.experiments.runner import ExperimentResult, run_experiment
from app.experiments.store import Store
from app.tasks import run_to_end
from tests.cli_inprocess import run_cli

PROBE = """name = "t"
title = "t"
kind = "probe"
[base]
backbone = "rdsn"
dataset = "digits"
head = "ridge"
pooling = "gap"
train_limit = 200
test_limit = 80
options = { k = 8, blocks = 1 }
"""

TRAIN = """name = "t"
title = "t"
kind = "train"
[base]
backbone = "simple"
dataset = "digits"
epochs = 1
options = { in_channels = 1 }
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "t.toml"
    p.write_text(text)
    return p


def _refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(RecipeError) as exc:
        load_recipe(_write(tmp_path, text))
    return str(exc.value)


# --- 1. a value listed twice is one setting, not two replicates -------------------------------------------------
@pytest.mark.parametrize("extra, msg", [
    ('[grid]\n"options.k" = [32, 32]\n',
     "t.toml [grid]: 'options.k' lists 32 twice (two cells of one setting would count as two replicates; repeats "
     "are [seeds])"),
    ('[grid]\nhead = ["svm", "ridge", "svm"]\n', "t.toml [grid]: 'head' lists \"svm\" twice"),
    ('[seeds]\nmodel = [0, 0]\n', "t.toml [seeds]: 'model' lists seed 0 twice (one cell counted as two replicates)"),
    ('[quick]\n"grid.options.k" = [8, 8.0]\n', "t.toml [quick]: 'grid.options.k' lists 8.0 twice"),
    ('[quick]\n"seeds.model" = [1, 2, 1]\n', "t.toml [quick]: 'seeds.model' lists seed 1 twice"),
])
def test_a_value_listed_twice_in_a_grid_or_seed_list_is_refused(tmp_path, extra, msg):
    assert _refused(tmp_path, PROBE + extra).startswith(msg)


# --- 2. seeds a kind of cell does not read ------------------------------------------------------------------------
@pytest.mark.parametrize("text, extra, msg", [
    (PROBE, "[seeds]\ntrain = [0, 1]\n",
     "t.toml [seeds]: probe cells do not use 'train' seeds (their cells would give the same numbers, counted as "
     "replicates); probe cells use: model, split, head"),
    (TRAIN, "[seeds]\nsplit = [0, 1]\n",
     "t.toml [seeds]: train cells do not use 'split' seeds (their cells would give the same numbers, counted as "
     "replicates); train cells use: model, train"),
    (TRAIN, "[seeds]\nhead = [0, 1]\n", "t.toml [seeds]: train cells do not use 'head' seeds"),
    (PROBE, '[quick]\n"seeds.train" = [0]\n', "t.toml [quick]: probe cells do not use 'train' seeds"),
])
def test_seeds_that_a_kind_of_cell_ignores_are_refused(tmp_path, text, extra, msg):
    assert _refused(tmp_path, text + extra).startswith(msg)


def test_the_seeds_each_kind_uses_still_expand(tmp_path):
    probe = load_recipe(_write(tmp_path, PROBE + "[seeds]\nmodel = [0, 1]\nsplit = [0, 1]\nhead = [3]\n"))
    assert sorted((c.get("model_seed"), c.get("split_seed"), c.get("head_seed")) for c in probe.cells()) == [
        (0, 0, 3), (0, 1, 3), (1, 0, 3), (1, 1, 3)]
    train = load_recipe(_write(tmp_path, TRAIN + "[seeds]\nmodel = [0]\ntrain = [0, 1]\n"))
    assert sorted(c.get("train_seed") for c in train.cells()) == [0, 1]


# --- 3. train cells read no layer or pooling ---------------------------------------------------------------------
@pytest.mark.parametrize("line", ["layer = 2", 'pooling = "gap"'])
def test_a_train_recipe_refuses_layer_and_pooling_as_unknown_keys(tmp_path, line):
    key = line.split(" ")[0]
    msg = _refused(tmp_path, TRAIN + line + "\n")
    assert msg.startswith(f"t.toml [base]: unknown key '{key}'; known: ") and " layer," not in msg, msg
    assert "pooling" not in msg.split("known: ")[1]


# --- 4. keys follow the files a cell reads; a failed rerun leaves no stale result ---------------------------------
def _old_key(c: Cell) -> str:
    doc = {"kind": c.kind, "variant": c.variant, "settings": dict(c.settings)}
    if rc.PROTOCOLS.get(c.kind):
        doc["protocol"] = rc.PROTOCOLS[c.kind]
    return hashlib.sha1(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:20]


def test_a_weights_file_replaced_under_the_same_name_gives_new_keys(tmp_path):
    w = tmp_path / "x.safetensors"
    w.write_bytes(b"checkpoint one")

    def key(weights: str) -> str:
        return Cell("t", "probe", (("backbone", "simple"), ("dataset", "digits"), ("weights", weights))).key

    first = key(str(w))
    assert key(str(w)) == first
    w.write_bytes(b"checkpoint two")
    second = key(str(w))
    assert second != first
    w.write_bytes(b"checkpoint one")  # the contents decide, not the file's time
    assert key(str(w)) == first
    (tmp_path / "x.json").write_text('{"architecture": {"backbone": "simple"}}')  # the sidecar a spec is built from
    assert key(str(w)) not in (first, second)
    # no file on this machine, or a name rather than a file: the key of its settings alone, as before
    for weights in (str(tmp_path / "missing.safetensors"), "known:resnet20-cifar10", "shipped:simple_mnist"):
        c = Cell("t", "probe", (("backbone", "simple"), ("dataset", "digits"), ("weights", weights)))
        assert c.key == _old_key(c)
    r = load_recipe(_write(tmp_path, PROBE.replace('backbone = "rdsn"', f'backbone = "rdsn"\nweights = "{w}"')))
    before = [c.key for c in r.cells()]
    w.write_bytes(b"checkpoint three")
    assert [c.key for c in r.cells()] != before


def test_shipped_recipes_keep_their_cell_keys(tmp_path, monkeypatch):
    """No shipped recipe names a weights file by path: their stored results stay reusable. (A home without the
    image folders the recipes default to, such as ablation-cifar10's ~/.cache/fe/cifar10-jpg: where one is unpacked,
    its cells' keys also follow the folder's files, ``app.data.folder_scan.folder_signature``, as they should; the
    test failed on a machine where the README's unpacking step had been followed.)"""
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in rc.names():
        for quick in (False, True):
            for c in load_recipe(name).cells(quick):
                assert c.key == _old_key(c), (name, quick, c.variant)


def test_a_failed_rerun_keeps_the_result_it_could_not_replace(tmp_path, monkeypatch):
    """Same key, same settings and same weights file contents (in the key): a rerun that fails (a folder not mounted,
    a full disk) says so and keeps the result of the same settings; it is never lost."""
    r = load_recipe(_write(tmp_path, PROBE))
    store = Store(tmp_path / "exp.sqlite")
    outcome = {"result": {"test_top1": 0.5, "seconds": 0.1}}

    def fake_run(executor, cells, workers=None, cancel=None, **kw):
        return iter([(c, dict(outcome["result"], key=c["key"])) for c in cells])

    monkeypatch.setattr(executors, "run", fake_run)
    first = run_to_end(run_experiment(r, executor="inline", store=store, report=False))
    assert first.failed == 0 and len(store.done("t")) == 1
    outcome["result"] = {"error": "the checkpoint is gone"}
    rerun = run_to_end(run_experiment(r, executor="inline", store=store, report=False, rerun=True))
    assert rerun.failed == 1 and len(store.done("t")) == 1
    plain = run_to_end(run_experiment(r, executor="inline", store=store, report=False))
    assert plain.reused == 1 and plain.failed == 0


# --- 5. an ablation pairs its arms by seed only: no grid -----------------------------------------------------------
ABLATION = PROBE + """[seeds]
model = [0, 1]
[[variants]]
label = "full"
[[variants]]
label = "fewer"
"options.blocks" = 2
[plot]
kind = "ablation"
x = "variant"
"""


@pytest.mark.parametrize("extra", ['[grid]\n"options.k" = [8, 16]\n', '[quick]\n"grid.options.k" = [8, 16]\n'])
def test_an_ablation_with_a_grid_is_refused(tmp_path, extra):
    assert _refused(tmp_path, ABLATION + extra) == (
        "t.toml: a [grid] (options.k) cannot be combined with [plot] kind = \"ablation\" (an ablation pairs each "
        "arm's cells with its baseline's by seed only, so the grid's cells would overwrite each other); make each "
        "grid value a variant")


def test_the_shipped_ablations_have_no_grid():
    for name in ("ablation-cifar10", "ablation-mnist"):
        r = load_recipe(name)
        assert r.plot["kind"] == "ablation" and not r._grid(False) and not r._grid(True)


# --- 6. a variant that sets what the grid varies -------------------------------------------------------------------
GRID = PROBE + '[grid]\n"options.k" = [8, 16]\n'


@pytest.mark.parametrize("variant, msg", [
    ('"options.k" = 4', "t.toml [[variants]] #2 ('small'): sets 'options.k', which the [grid] varies: the grid's "
                        "values would replace the variant's; set it in one place only"),
    ("options = { k = 4, blocks = 1 }", "t.toml [[variants]] #2 ('small'): sets 'options.k', which the [grid] "
                                        "varies"),
    ('quick = { "options.k" = 4 }', "t.toml [[variants]] #2 ('small'): sets 'options.k', which the [grid] varies "
                                    "(at the quick size)"),
    ("model_seed = 3", "t.toml [[variants]] #2 ('small'): sets 'model_seed', which [seeds] varies"),
])
def test_a_variant_setting_a_key_the_grid_varies_is_refused(tmp_path, variant, msg):
    text = GRID + '[seeds]\nmodel = [0, 1]\n[[variants]]\nlabel = "full"\n[[variants]]\nlabel = "small"\n' + variant
    assert _refused(tmp_path, text + "\n").startswith(msg)


def test_a_variant_may_set_other_options_beside_the_grid(tmp_path):
    text = GRID + '[[variants]]\nlabel = "a"\n[[variants]]\nlabel = "b"\n"options.activation" = "sign"\n'
    cells = load_recipe(_write(tmp_path, text)).cells()
    assert sorted((c.variant, c.get("options.k"), c.get("options.activation")) for c in cells) == [
        ("a", 8, None), ("a", 16, None), ("b", 8, "sign"), ("b", 16, "sign")]


# --- 7. (documented, unchanged) a variant's table replaces the base's, a dotted key changes one entry ---------------
def test_a_variants_table_replaces_the_base_table_and_a_dotted_key_merges(tmp_path):
    text = (PROBE + '[[variants]]\nlabel = "table"\noptions = { k = 4 }\n[[variants]]\nlabel = "dotted"\n'
            '"options.k" = 4\n')
    by = {c.variant: c.get("options") for c in load_recipe(_write(tmp_path, text)).cells()}
    assert by == {"table": {"k": 4}, "dotted": {"k": 4, "blocks": 1}}
    assert "a table REPLACES the base's whole table" in rc.__doc__


# --- 8. a name is a file name --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../../escaped", "my recipe/v2", "a\\\\b", ".hidden", "..", "", " lead",
                                  "trail ", "x:y"])
def test_a_recipe_name_that_is_not_a_plain_file_name_is_refused(tmp_path, name):
    msg = _refused(tmp_path, PROBE.replace('name = "t"', f'name = "{name}"'))
    assert msg.startswith("t.toml: 'name' must be a plain file name (letters, digits, spaces, '.', '-', '_'; no '/' "
                          "or '\\', not starting with '.'): the report files are named after it; got "), msg


@pytest.mark.parametrize("name", ["my recipe v2", "v1.2_x-y", "A"])
def test_plain_recipe_names_are_accepted(tmp_path, name):
    assert load_recipe(_write(tmp_path, PROBE.replace('name = "t"', f'name = "{name}"'))).name == name


def test_a_name_that_is_not_text_is_refused(tmp_path):
    assert "got 5" in _refused(tmp_path, PROBE.replace('name = "t"', "name = 5"))


# --- 9. --dataset on a recipe that grids over the dataset ------------------------------------------------------------
DATASETS = PROBE + '[grid]\ndataset = ["digits", "mnist"]\n'
DATASETS_MSG = ("t: its [grid] varies the dataset (digits, mnist), so each cell runs on its own: another dataset "
                "(--dataset) cannot replace them; edit the recipe's [grid] instead")


def test_another_dataset_is_refused_for_a_recipe_that_grids_over_the_dataset(tmp_path):
    r = load_recipe(_write(tmp_path, DATASETS))
    with pytest.raises(RecipeError) as exc:
        on_dataset(r, "cifar10")
    assert str(exc.value) == DATASETS_MSG
    with pytest.raises(RecipeError):
        r.with_dataset("cifar10")
    assert on_dataset(r, None) is r and on_dataset(r, "digits") is r  # the workspace's field at its own value
    for given in ("cifar10", "digits"):  # on the command line, even the base's name: the grid's datasets would run
        out = run_cli("experiment", "show", str(tmp_path / "t.toml"), "--dataset", given, home=tmp_path / "home")
        assert out.returncode == 2 and f"error: {DATASETS_MSG}" in out.stderr and "Traceback" not in out.stderr
    out = run_cli("experiment", "run", str(tmp_path / "t.toml"), "--dataset", "cifar10", home=tmp_path / "home")
    assert out.returncode == 2 and DATASETS_MSG in out.stderr
    assert run_cli("experiment", "show", str(tmp_path / "t.toml"), home=tmp_path / "home").returncode == 0


# --- 10. [[paper]] entries --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("entry, msg", [
    ('source = "x"\nvalue = "99%"', "t.toml [[paper]] #1: 'value' must be a fraction between 0 and 1 (0.994 for "
                                    "99.4%), got \"99%\""),
    ('source = "x"', "t.toml [[paper]] #1: missing 'value' (the paper's figure as a fraction: 0.994 for 99.4%)"),
    ('value = 99.4', "t.toml [[paper]] #1: 'value' must be a fraction between 0 and 1 (0.994 for 99.4%), got 99.4"),
    ('value = true', "t.toml [[paper]] #1: 'value' must be a fraction between 0 and 1 (0.994 for 99.4%), got true"),
    ('value = 0.9\nmetric = "acc"', "t.toml [[paper]] #1: metric must be one of test_top1, val_top1, top2, top5, "
                                    "train_acc, precision_at_10, map, got \"acc\""),
])
def test_a_bad_paper_entry_is_refused_when_the_recipe_is_read(tmp_path, entry, msg):
    assert _refused(tmp_path, PROBE + "[[paper]]\n" + entry + "\n") == msg


# --- 11. the [quick] table is checked like [grid] and [seeds] --------------------------------------------------------
@pytest.mark.parametrize("line, msg", [
    ('"grid.options.k" = 64', "t.toml [quick]: 'grid.options.k' must be a non-empty list of values"),
    ('"grid.options.k" = []', "t.toml [quick]: 'grid.options.k' must be a non-empty list of values"),
    ('"seeds.model" = "01"', "t.toml [quick]: 'seeds.model' must be a list of non-negative integers"),
    ('"seeds.model" = "ab"', "t.toml [quick]: 'seeds.model' must be a list of non-negative integers"),
    ('"seeds.model" = [-3]', "t.toml [quick]: 'seeds.model' must be a list of non-negative integers"),
    ('"seeds.model" = [true]', "t.toml [quick]: 'seeds.model' must be a list of non-negative integers"),
    ('"grid.train_limit" = [100, "500"]', "t.toml [quick]: 'train_limit' must be a whole number >= 1, got \"500\""),
])
def test_the_quick_table_is_checked_like_grid_and_seeds(tmp_path, line, msg):
    assert _refused(tmp_path, PROBE + "[quick]\n" + line + "\n") == msg


def test_show_refuses_a_bad_quick_table_without_a_traceback(tmp_path):
    _write(tmp_path, PROBE + '[quick]\n"grid.options.k" = 64\n')
    out = run_cli("experiment", "show", str(tmp_path / "t.toml"), "--quick", home=tmp_path / "home")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "error: t.toml [quick]: 'grid.options.k' must be a non-empty list of values" in out.stderr


# --- 12. no cells: refused before running -----------------------------------------------------------------------------
def test_a_recipe_with_no_cells_is_refused_before_anything_runs(tmp_path):
    r = load_recipe(_write(tmp_path, PROBE + '[grid]\n"options.k" = [8]\n'))
    empty = dataclasses.replace(r, quick={"grid.options.k": []})  # past the file's checks (the workspace, a script)
    store = Store(tmp_path / "exp.sqlite")
    with pytest.raises(RecipeError) as exc:
        run_to_end(run_experiment(empty, quick=True, executor="inline", store=store, out_dir=tmp_path / "rep"))
    assert str(exc.value) == ("t: the recipe gives no cells at the quick size (an empty [grid] or [seeds] list?); "
                              "nothing to run")
    assert store.runs() == [] and not (tmp_path / "rep").exists()


# --- 13. a wrongly typed value: refused at parse; what reaches a cell anyway fails that cell alone --------------------
@pytest.mark.parametrize("text, line, msg", [
    (PROBE, 'train_limit = "500"', "t.toml [base]: 'train_limit' must be a whole number >= 1, got \"500\""),
    (PROBE, "test_limit = 0", "t.toml [base]: 'test_limit' must be a whole number >= 1, got 0"),
    (PROBE, "val = -1", "t.toml [base]: 'val' must be a whole number >= 0, got -1"),
    (TRAIN, "epochs = 1.5", "t.toml [base]: 'epochs' must be a whole number >= 1, got 1.5"),
    (TRAIN, "batch_size = true", "t.toml [base]: 'batch_size' must be a whole number >= 1, got true"),
])
def test_wrongly_typed_whole_numbers_are_refused_at_parse(tmp_path, text, line, msg):
    key = line.split(" = ")[0]
    text = "".join(t for t in text.splitlines(keepends=True) if not t.startswith(key + " = "))
    assert _refused(tmp_path, text.replace("[base]\n", f"[base]\n{line}\n")) == msg


def test_wrongly_typed_numbers_in_a_grid_or_variant_are_refused(tmp_path):
    assert _refused(tmp_path, PROBE + '[grid]\ntest_limit = [50, "80"]\n') == (
        "t.toml [grid]: 'test_limit' must be a whole number >= 1, got \"80\"")
    assert _refused(tmp_path, PROBE + '[[variants]]\nlabel = "a"\nquick = { train_limit = 2.5 }\n') == (
        "t.toml [[variants]] #1 ('a') quick: 'train_limit' must be a whole number >= 1, got 2.5")


def test_inline_reports_an_unexpected_error_as_a_failed_cell_as_the_process_pool_does():
    """A setting of the wrong type that reaches a cell (a recipe built in code) fails that cell with its message;
    the inline executor no longer ends the run with a traceback."""
    cell = Cell("t", "probe", tuple(sorted({"backbone": "rdsn", "dataset": "digits", "head": "ridge", "pooling": "gap",
                                            "train_limit": "500", "test_limit": 50,
                                            "options": {"k": 4, "blocks": 1}}.items()))).to_dict()
    ((got, result),) = list(executors.run_inline([cell]))
    assert got is cell and result == {"error": "TypeError: '>=' not supported between instances of 'str' and 'int'",
                                      "key": cell["key"]}
    assert executors._call(cell) == result  # what a pool's worker returns for it


# --- 14. the plot's axes ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("plot, msg", [
    ('y = "test_acc"', "t.toml [plot]: y must be one of test_top1, val_top1, top2, top5, train_acc, precision_at_10, "
                       "map, got \"test_acc\""),
    ('x = "options.kk"', "t.toml [plot]: x = \"options.kk\" is not a setting of every cell (at the full size); use "
                         "\"variant\" or one of: backbone, dataset, head, options, options.blocks, options.k, "
                         "pooling, test_limit, train_limit"),
    ('series = "weights"', "t.toml [plot]: series = \"weights\" is not a setting of every cell (at the full size)"),
])
def test_a_plot_axis_no_cell_has_or_a_y_that_is_no_metric_is_refused(tmp_path, plot, msg):
    assert _refused(tmp_path, PROBE + "[plot]\n" + plot + "\n").startswith(msg)


def test_a_plot_axis_only_some_cells_have_is_refused(tmp_path):
    text = PROBE + '[grid]\nlayer = [0, 1]\n[quick]\n"grid.options.k" = [4]\n[plot]\nx = "layer"\n'
    assert load_recipe(_write(tmp_path, text)).plot["x"] == "layer"
    text = PROBE + '[[variants]]\nlabel = "a"\nlayer = 1\n[[variants]]\nlabel = "b"\n[plot]\nx = "layer"\n'
    assert _refused(tmp_path, text).startswith('t.toml [plot]: x = "layer" is not a setting of every cell')


# --- the report's tables: a "|" in a label, settings as a recipe writes them ----------------------------------------
def test_tables_escape_a_pipe_and_show_settings_as_a_recipe_writes_them(tmp_path):
    from app.experiments.report import html
    from app.experiments.ablation import ablation_table
    from app.experiments.results import as_text, results_table

    text = (TRAIN + '[[variants]]\nlabel = "all | none"\nfreeze = []\n[[variants]]\nlabel = "head"\n'
            'freeze = ["only-head"]\naugment = true\n[plot]\nx = "variant"\n')
    r = load_recipe(_write(tmp_path, text))
    cells = tuple(c.to_dict() for c in r.cells())
    res = ExperimentResult(r, False, cells, {c["key"]: {"test_top1": 0.5, "seconds": 1.0} for c in cells})
    table = results_table(res)
    assert table[0] == ("| variant | augment | freeze | n | test top-1 | val top-1 | top-2 | features / trainable "
                        "params |")
    assert table[2].startswith("| all \\| none | (none) | [] | 1 | 50.00 |")
    assert table[3].startswith("| head | true | [only-head] | 1 | 50.00 |")
    assert as_text(table).splitlines()[2].startswith("all | none  (none)   []")
    page = html(res, "\n".join(table), "")
    assert "<td>all | none</td><td>(none)</td><td>[]</td>" in page
    abl = dataclasses.replace(res, recipe=dataclasses.replace(r, plot={"kind": "ablation"}))
    assert ablation_table(abl)[4].startswith("| all \\| none | all \\| none | 1 |")
    assert re.search(r"\| head \| all \\\| none \| 1 \|", ablation_table(abl)[5])


def test_a_group_whose_seeds_give_the_same_figures_is_said_to_be_one_result(tmp_path):
    """untrained-features' Gabor, DCT and trained arms gave bit-identical figures for model seeds 0 and 1 (the tapped
    layer is a frozen bank or trained weights): the report listed n = 2 "over seeds", a replication that did not
    happen."""
    from app.experiments.report import markdown
    from app.experiments.results import groups, results_table

    text = TRAIN + '[seeds]\ntrain = [0, 1]\n[[variants]]\nlabel = "a"\n[[variants]]\nlabel = "b"\n[plot]\nx = "variant"\n'
    r = load_recipe(_write(tmp_path, text))
    cells = tuple(c.to_dict() for c in r.cells())
    figures = {}
    for c in cells:  # arm a: the same for both seeds; arm b: the seeds differ
        same = c["variant"] == "a"
        figures[c["key"]] = {"test_top1": 0.5 if same else 0.4 + 0.1 * c["settings"]["train_seed"],
                             "val_top1": 0.6, "top2": 0.7, "seconds": 1.0}
    res = ExperimentResult(r, False, cells, figures)
    gs = groups(res)
    assert [g["identical"] for g in gs] == [True, False]
    table = results_table(res, gs)
    assert table[2].startswith("| a | 2 (identical) | 50.00 |") and table[3].startswith("| b | 2 | 45.00 ± 7.07 |")
    assert "n (identical): every seed gave the very same figures" in markdown(res, "x.svg")


def test_two_seeds_that_happen_to_agree_on_one_figure_show_a_spread_of_zero(tmp_path):
    """ablation-cifar10's full arm: both seeds scored 60.30% on test (their validation figures differ); the table read
    "60.30" beside n = 2, as if one figure had been measured. A spread measured as zero is "± 0.00"."""
    from app.experiments.ablation import ablation_table
    from app.experiments.results import results_table

    text = TRAIN + '[seeds]\ntrain = [0, 1]\n[[variants]]\nlabel = "a"\n[[variants]]\nlabel = "b"\n[plot]\nx = "variant"\n'
    r = load_recipe(_write(tmp_path, text))
    cells = tuple(c.to_dict() for c in r.cells())
    figures = {c["key"]: {"test_top1": 0.5, "val_top1": 0.6 + 0.1 * c["settings"]["train_seed"], "top2": 0.7,
                          "seconds": 1.0} for c in cells}
    res = ExperimentResult(r, False, cells, figures)
    table = results_table(res)
    assert table[2].startswith("| a | 2 | 50.00 ± 0.00 | 65.00 ± 7.07 | 70.00 ± 0.00 |"), table[2]
    abl = dataclasses.replace(res, recipe=dataclasses.replace(r, plot={"kind": "ablation"}))
    row = ablation_table(abl)[5]  # b against a: the same figures per seed, a change of zero measured twice
    assert row.startswith("| b | a | 2 | 50.00 ± 0.00 | +0.00 ± 0.00 | - | - | 65.00 ± 7.07 | +0.00 ± 0.00 |"), row


# --- every shipped recipe still reads, and `show` works for each ------------------------------------------------------
def test_every_shipped_recipe_reads_and_shows(tmp_path):
    for name in rc.names():
        for quick in ((), ("--quick",)):
            out = run_cli("experiment", "show", name, *quick, "--json", home=tmp_path / "home")
            assert out.returncode == 0 and json.loads(out.stdout)["cells"], (name, quick, out.stderr)


def test_an_image_folder_changed_gives_new_keys_so_its_old_results_are_not_reused(tmp_path, monkeypatch):
    """The features cache followed the images' contents but the experiment store did not: a recipe on an image
    folder answered "reused" with the numbers of the images it held before."""
    import os

    import cv2
    import numpy as np

    from app.data import folder_scan

    root = tmp_path / "pics"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(root / c / f"{i}.png"), np.full((8, 8, 3), 40 * i, np.uint8))
    cell = Cell("t", "probe", (("backbone", "simple"), ("dataset", f"imagefolder:{root}")))
    first = cell.key
    assert Cell("t", "probe", cell.settings).key == first  # the same images: the same key
    cv2.imwrite(str(root / "a" / "3.png"), np.zeros((8, 8, 3), np.uint8))  # an image added
    second = Cell("t", "probe", cell.settings).key
    assert second != first
    folder_scan._SIGNATURES.clear()  # a new process: a file rewritten in place (its folder's time unchanged)
    st = os.stat(root / "b" / "0.png")
    os.utime(root / "b" / "0.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert Cell("t", "probe", cell.settings).key not in (first, second)
    missing = Cell("t", "probe", (("backbone", "simple"), ("dataset", f"imagefolder:{tmp_path / 'none'}")))
    assert missing.key == _old_key(missing)  # nothing there: its settings' (and protocol's) key alone


def test_progress_names_what_sets_each_cell_apart(tmp_path, monkeypatch):
    """"cell 1/6 done (model_seed=0)" read the same for every k of a grid."""
    r = load_recipe(_write(tmp_path, PROBE + '[grid]\n"options.k" = [8, 16]\n[seeds]\nmodel = [0, 1]\n'))

    def fake_run(executor, cells, workers=None, cancel=None, **kw):
        return iter([(c, {"test_top1": 0.5, "seconds": 0.1, "key": c["key"]}) for c in cells])

    monkeypatch.setattr(executors, "run", fake_run)
    seen = []
    run_to_end(run_experiment(r, executor="inline", store=Store(tmp_path / "e.sqlite"), report=False),
               lambda p: seen.append(p.message))
    done = [m for m in seen if m.startswith("cell ")]
    assert len(done) == 4 and "(options.k = 8 · model_seed = 0)" in done[0] and "options.k = 16" in done[-1]
