"""Running a recipe on another dataset: the one function the CLI's --dataset and the Experiments workspace share."""

from __future__ import annotations

import pytest

from app.experiments.recipe import EMPTY_DATASET, RecipeError, dataset_problem, load_recipe, on_dataset

ABLATION = "ablation-cifar10"


def _recipe(tmp_path, dataset: str, quick_dataset: str | None = None):
    text = (f'name = "tiny-ds"\nkind = "probe"\n[base]\nbackbone = "rdsn"\ndataset = "{dataset}"\nhead = "ridge"\n'
            f'train_limit = 50\ntest_limit = 20\noptions = {{ k = 8, blocks = 1 }}\n')
    if quick_dataset:
        text += f'[quick]\ndataset = "{quick_dataset}"\n'
    p = tmp_path / "tiny.toml"
    p.write_text(text)
    return load_recipe(p)


def test_on_dataset_keeps_the_recipe_for_none_or_its_own_name_and_replaces_it_otherwise(tmp_path):
    r = _recipe(tmp_path, "mnist", quick_dataset="digits")
    assert r.dataset(False) == "mnist" and r.dataset(True) == "digits"
    assert on_dataset(r, None) is r
    assert on_dataset(r, " mnist ", quick=False) is r
    assert on_dataset(r, "digits", quick=True) is r
    other = on_dataset(r, " cifar10 ", quick=True)
    assert {c.get("dataset") for c in other.cells(True)} == {"cifar10"}
    assert {c.get("dataset") for c in other.cells(False)} == {"cifar10"}
    assert other.name == r.name


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_an_empty_dataset_name_is_refused_with_the_projects_error(tmp_path, blank):
    r = _recipe(tmp_path, "digits")
    with pytest.raises(RecipeError) as exc:
        on_dataset(r, blank)
    assert str(exc.value) == EMPTY_DATASET
    assert "--dataset needs a dataset name" in EMPTY_DATASET


def test_a_missing_image_folder_is_named_before_any_cell_runs(tmp_path):
    missing = tmp_path / "nowhere" / "cifar10-jpg"
    r = _recipe(tmp_path, f"imagefolder:{missing}")
    problem = dataset_problem(r)
    assert problem is not None
    assert str(missing) in problem and "does not exist" in problem and "choose another dataset" in problem
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert "is not a folder" in dataset_problem(r.with_dataset(f"imagefolder:{a_file}"))
    (tmp_path / "there").mkdir()
    assert dataset_problem(r.with_dataset(f"imagefolder:{tmp_path / 'there'}")) is None
    assert dataset_problem(r.with_dataset("digits")) is None


def test_the_shipped_ablation_names_its_folder_only_where_it_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # ~/.cache/fe/cifar10-jpg under an empty home
    r = load_recipe(ABLATION)
    assert r.dataset(True).startswith("imagefolder:")
    problem = dataset_problem(r, quick=True)
    assert problem is not None and str(tmp_path / ".cache" / "fe" / "cifar10-jpg") in problem
    assert dataset_problem(on_dataset(r, "digits", quick=True), quick=True) is None


def test_the_cli_refuses_an_empty_name_and_a_missing_folder_before_running(tmp_path, monkeypatch, capsys):
    from app.cli import run

    monkeypatch.setenv("FILTER_EXPLORER_HOME", str(tmp_path / "home"))
    missing = tmp_path / "gone"
    p = _recipe(tmp_path, f"imagefolder:{missing}")
    assert p.name == "tiny-ds"
    recipe = str(tmp_path / "tiny.toml")
    assert run(["experiment", "run", recipe, "--executor", "inline", "--dataset", "  "]) == 2
    assert f"error: {EMPTY_DATASET}" in capsys.readouterr().err
    assert run(["experiment", "run", recipe, "--executor", "inline"]) == 2
    err = capsys.readouterr().err
    assert f"{missing}" in err and "does not exist" in err and "--dataset NAME" in err and "Traceback" not in err
    assert not (tmp_path / "home" / "files" / "experiments" / "tiny-ds").exists()


def _mnist_recipe(tmp_path, root):
    text = (f'name = "tiny-mnist"\nkind = "probe"\n[base]\nbackbone = "rdsn"\ndataset = "mnist"\n'
            f'data_root = "{root}"\nhead = "ridge"\ntrain_limit = 50\ntest_limit = 20\n'
            f'options = {{ k = 8, blocks = 1 }}\n[quick]\ndataset = "digits"\n')
    p = tmp_path / "tiny-mnist.toml"
    p.write_text(text)
    return load_recipe(p)


def test_a_builtin_dataset_with_no_local_copy_is_named_before_any_cell_runs(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    r = _mnist_recipe(tmp_path, root)
    problem = dataset_problem(r)
    assert problem is not None and problem.startswith("tiny-mnist: mnist is not downloaded under ")
    assert str(root) in problem and "python main.py data download mnist" in problem and "digits" in problem
    assert dataset_problem(r, quick=True) is None  # the quick size runs on digits
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / f"{f}.gz").write_bytes(b"")  # a local copy is there (read by the cells)
    assert dataset_problem(r) is None


def test_the_default_data_root_is_the_one_looked_at(tmp_path, monkeypatch):
    from app import paths

    monkeypatch.setenv("FILTER_EXPLORER_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(paths, "shared_dir", lambda: None)  # a user's machine: no ../shared
    r = load_recipe("ablation-mnist")
    problem = dataset_problem(r, quick=True)
    assert problem is not None and f"mnist is not downloaded under {tmp_path / 'empty'}" in problem
    assert dataset_problem(on_dataset(r, "digits", quick=True), quick=True) is None


def test_the_cli_refuses_a_recipe_whose_dataset_is_not_downloaded(tmp_path, monkeypatch, capsys):
    from app.cli import run

    monkeypatch.setenv("FILTER_EXPLORER_HOME", str(tmp_path / "home"))
    root = tmp_path / "data"
    root.mkdir()
    _mnist_recipe(tmp_path, root)
    assert run(["experiment", "run", str(tmp_path / "tiny-mnist.toml"), "--executor", "inline"]) == 2
    err = capsys.readouterr().err
    assert "error: tiny-mnist: mnist is not downloaded" in err and "--dataset NAME" in err
    assert "Traceback" not in err
    assert not (tmp_path / "home" / "files" / "experiments" / "tiny-mnist").exists()


def test_show_says_before_a_run_that_the_data_is_missing(tmp_path, monkeypatch, capsys):
    import json

    from app.cli import run

    monkeypatch.setenv("FILTER_EXPLORER_HOME", str(tmp_path / "home"))
    root = tmp_path / "data"
    root.mkdir()
    _mnist_recipe(tmp_path, root)
    recipe = str(tmp_path / "tiny-mnist.toml")
    assert run(["experiment", "show", recipe]) == 0
    assert "not runnable here yet: tiny-mnist: mnist is not downloaded" in capsys.readouterr().out
    assert run(["experiment", "show", recipe, "--quick", "--json"]) == 0  # the quick size runs on digits
    assert json.loads(capsys.readouterr().out)["dataset_problem"] is None


def test_mirror_views_on_digits_are_a_caveat_of_the_recipe_not_a_refusal(tmp_path, monkeypatch, capsys):
    """The CIFAR-10 ablation (photographs, mirror views in most arms) run on digits: `show` and `run` say which
    variants score digits with their mirror images; the shipped datasets say nothing."""
    import json

    from app.cli import run
    from app.experiments.recipe import recipe_caveats
    from app.probe.caveats import views_caveat

    r = load_recipe(ABLATION)
    assert recipe_caveats(r, quick=True) == []  # its own dataset: photographs
    on_digits = recipe_caveats(on_dataset(r, "digits", quick=True), quick=True)
    assert on_digits == [f"{views_caveat('digits', 'hflip')} (18 of 20 variants; not: no mirror views, patches: no "
                         f"mirror views)"]
    assert recipe_caveats(load_recipe("ablation-mnist"), quick=True) == []
    monkeypatch.setenv("FILTER_EXPLORER_HOME", str(tmp_path / "home"))
    assert run(["experiment", "show", ABLATION, "--quick", "--dataset", "digits"]) == 0
    assert f"caveat: {on_digits[0]}\n" in capsys.readouterr().out
    assert run(["experiment", "show", ABLATION, "--quick", "--dataset", "digits", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["caveats"] == on_digits


def test_run_says_the_caveat_before_its_cells_and_runs_them(tmp_path, monkeypatch, capsys):
    from app.cli import run

    monkeypatch.setenv("FILTER_EXPLORER_HOME", str(tmp_path / "home"))
    recipe = tmp_path / "mirrored-digits.toml"
    recipe.write_text('name = "mirrored-digits"\ntitle = "t"\nclaim = "c"\nkind = "probe"\n[base]\n'
                      'backbone = "rdsn"\ndataset = "digits"\nhead = "ridge"\npooling = "gap"\ntrain_limit = 200\n'
                      'test_limit = 80\ntta = "hflip"\noptions = { k = 8, blocks = 1 }\n[plot]\nx = "options.k"\n'
                      'y = "test_top1"\n')
    assert run(["experiment", "run", str(recipe), "--out", str(tmp_path / "report")]) == 0
    err = capsys.readouterr().err
    assert "caveat: mirror views on digits: handwritten digits are not left-right symmetric" in err
    assert err.index("caveat:") < err.index("experiment:")  # before the first cell's progress
    report = (tmp_path / "report" / "mirrored-digits.md").read_text()  # and in the report, for its readers
    assert "**Caveat.** mirror views on digits: handwritten digits are not left-right symmetric" in report


def test_a_recipe_moved_to_another_dataset_gives_no_time_estimate_made_for_its_own():
    """The recipe states its time for its own dataset (ablation-cifar10 quick: 40 s per cell on the CIFAR-10 JPEG
    copy); on digits that figure means nothing, and the plan says so instead of showing it as digits' time."""
    r = load_recipe(ABLATION)
    own = r.describe(quick=True)
    assert ", about 13 min on a 2-core CPU;" in own  # 40 cells x 20 s
    moved = on_dataset(r, "digits", quick=True).describe(quick=True)
    assert "about 13 min on a 2-core CPU;" not in moved
    assert (f"40 probe cell(s), no time estimate for digits (the recipe's, about 13 min on a 2-core CPU, is for "
            f"{r.dataset(True)}); ") in moved and moved.endswith("dataset digits")
    back = on_dataset(on_dataset(r, "digits", quick=True), r.dataset(True), quick=True)  # moved back: its own again
    assert back.describe(quick=True) == own
