"""Where the headless commands write and what they read, checked before any work: an ``--out`` in a folder that
does not exist is refused (never created somewhere the user did not mean), a folder given for a file is refused,
``history --db`` that does not exist is not a new empty history, a report run on another dataset never overwrites
the recipe's own, the analyses read a checkpoint's sidecar as the other commands do and say when a ranking is a tie.
Each a clear ``error: ...`` (exit 2), nothing written."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from app.probe.history import History, record
from tests.cli_inprocess import run_cli
from tests.test_probe_history import resolved_result

ROOT = Path(__file__).resolve().parent.parent
SIMPLE_MNIST = ROOT / "resources" / "models" / "simple_mnist.safetensors"


def _history_with_a_run(home: Path) -> Path:
    path = home / "history.sqlite"
    record(resolved_result(), path)
    return path


def test_history_export_out_refuses_a_missing_folder_and_a_folder(tmp_path):
    home = tmp_path / "home"
    db = _history_with_a_run(home)
    r = run_cli("history", "--db", str(db), "export", "--csv", "--out", str(tmp_path / "nope" / "x.csv"), home=home)
    assert r.returncode == 2 and f"the folder {tmp_path / 'nope'} does not exist" in r.stderr
    assert not (tmp_path / "nope").exists()
    r = run_cli("history", "--db", str(db), "export", "--csv", "--out", str(tmp_path), home=home)
    assert r.returncode == 2 and "that is a folder" in r.stderr
    ok = run_cli("history", "--db", str(db), "export", "--csv", "--out", str(tmp_path / "x.csv"), home=home)
    assert ok.returncode == 0 and (tmp_path / "x.csv").read_text().startswith("id,")


def test_history_db_that_does_not_exist_is_an_error_and_stays_absent(tmp_path):
    missing = tmp_path / "nosuch.sqlite"
    for action in (["list"], ["show", "1"], ["export", "--json"]):
        r = run_cli("history", "--db", str(missing), *action, home=tmp_path / "home")
        assert r.returncode == 2 and f"--db {missing}: does not exist" in r.stderr, action
    assert not missing.exists()


def test_history_list_says_when_a_filter_matches_nothing(tmp_path):
    home = tmp_path / "home"
    _history_with_a_run(home)
    r = run_cli("history", "list", "--dataset", "nosuch", home=home)
    assert r.returncode == 0 and r.stdout.strip() == "no stored run on dataset 'nosuch' (runs are on: digits)"
    empty = run_cli("history", "list", home=tmp_path / "empty")
    assert empty.stdout.strip() == "no runs stored yet"


def test_experiment_run_refuses_an_unknown_dataset_and_a_file_as_report_folder(tmp_path):
    home = tmp_path / "home"
    r = run_cli("experiment", "run", "xue-roshan", "--quick", "--dataset", "nosuch", home=home)
    assert r.returncode == 2 and "unknown dataset 'nosuch'" in r.stderr and "digits" in r.stderr
    f = tmp_path / "a-file"
    f.write_text("keep me")
    r = run_cli("experiment", "run", "xue-roshan", "--quick", "--out", str(f), home=home)
    assert r.returncode == 2 and "that is a file, not a folder" in r.stderr and f.read_text() == "keep me"
    r = run_cli("experiment", "run", "xue-roshan", "--quick", "--out", str(tmp_path / "no" / "dir"), home=home)
    assert r.returncode == 2 and "does not exist" in r.stderr and not (tmp_path / "no").exists()
    assert not (home / "files").exists()  # no cell ran, no report written


def test_a_report_on_another_dataset_has_its_own_name():
    from app.experiments.recipe import load_recipe
    from app.experiments.report import default_dir, report_stem

    r = load_recipe("xue-roshan")
    own = SimpleNamespace(recipe=r, quick=True)
    assert report_stem(own) == "xue-roshan-quick" and default_dir(own).name == "xue-roshan-quick"
    assert report_stem(SimpleNamespace(recipe=r.with_dataset("mnist"), quick=True)) == "xue-roshan-quick-on-mnist"
    folder = SimpleNamespace(recipe=r.with_dataset("imagefolder:/data/my cifar/"), quick=False)
    assert report_stem(folder) == "xue-roshan-on-imagefolder-my-cifar"
    back = SimpleNamespace(recipe=r.with_dataset("mnist").with_dataset(r.dataset(True)), quick=True)
    assert report_stem(back) == "xue-roshan-quick"  # back on its own dataset: its own report



def test_a_copy_of_a_shipped_recipe_gets_a_report_of_its_own(tmp_path):
    """A user's edited copy named as a shipped recipe wrote the shipped recipe's report (xue-roshan-quick.md), and
    the finished run of one opened the other's."""
    from app.experiments.recipe import RECIPE_DIR, load_recipe
    from app.experiments.report import report_stem

    copy = tmp_path / "xue-roshan.toml"
    copy.write_text((RECIPE_DIR / "xue-roshan.toml").read_text(encoding="utf-8"), encoding="utf-8")
    mine = report_stem(SimpleNamespace(recipe=load_recipe(str(copy)), quick=True))
    assert mine.startswith("xue-roshan-") and mine.endswith("-quick") and mine != "xue-roshan-quick"
    other = tmp_path / "b" / "xue-roshan.toml"
    other.parent.mkdir()
    other.write_text(copy.read_text(encoding="utf-8"), encoding="utf-8")
    assert report_stem(SimpleNamespace(recipe=load_recipe(str(other)), quick=True)) not in (mine, "xue-roshan-quick")
    own_name = tmp_path / "mine.toml"  # a name of its own: its name
    own_name.write_text(copy.read_text(encoding="utf-8").replace('name = "xue-roshan"', 'name = "mine"'),
                        encoding="utf-8")
    assert report_stem(SimpleNamespace(recipe=load_recipe(str(own_name)), quick=True)) == "mine-quick"


def test_an_unknown_backbone_in_a_recipe_fails_its_cell_with_the_message(tmp_path):
    recipe = tmp_path / "bad.toml"
    recipe.write_text('name = "bad"\ntitle = "bad"\nclaim = "x"\nkind = "probe"\n[base]\nbackbone = "nosuch"\n'
                      'dataset = "digits"\nhead = "ridge"\npooling = "gap"\ntrain_limit = 60\ntest_limit = 30\n')
    r = run_cli("experiment", "run", str(recipe), "--quick", "--executor", "inline", home=tmp_path / "home")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "unknown backbone 'nosuch'; known: simple" in r.stderr + r.stdout


@pytest.mark.skipif(not SIMPLE_MNIST.is_file(), reason="the shipped checkpoint is absent")
def test_analyze_reads_a_checkpoints_sidecar(tmp_path):
    r = run_cli("analyze", "filters", "--backbone", "simple", "--weights", str(SIMPLE_MNIST), home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "conv1" in r.stdout and "32x1x3x3" in r.stdout  # one input channel: the sidecar's options
    r = run_cli("analyze", "cka", "--a", "simple", "--weights-a", str(SIMPLE_MNIST), "--b", "simple",
                "--dataset", "digits", "--n", "20", home=tmp_path)
    assert r.returncode == 0, r.stderr
    r = run_cli("analyze", "filters", "--backbone", "rdsn", "--weights", str(SIMPLE_MNIST), home=tmp_path)
    assert r.returncode == 2 and "the weights' sidecar says they are simple" in r.stderr


def test_analyze_top_patches_says_a_tie_is_no_ranking_and_checks_k_and_out(tmp_path):
    base = ("analyze", "top-patches", "--backbone", "rdsn", "--layer", "0", "--channel", "0", "--dataset", "digits",
            "--n", "40")
    r = run_cli(*base, "--k", "3", home=tmp_path)  # a sign activation: every response is -1 or 1
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1].startswith("Not a ranking: ")
    import json

    d = json.loads(run_cli(*base, "--k", "3", "--json", home=tmp_path).stdout)
    assert d["tied"] > 3 and d["note"].startswith("Not a ranking")
    r = run_cli(*base, "--k", "0", home=tmp_path)
    assert r.returncode == 2 and "--k 0" in r.stderr
    r = run_cli(*base, "--k", "2", "--out", str(tmp_path / "p.txt"), home=tmp_path)
    assert r.returncode == 2 and "ending in .png" in r.stderr and not list(tmp_path.glob("p.*"))
    r = run_cli(*base, "--k", "2", "--out", str(tmp_path / "no" / "p.png"), home=tmp_path)
    assert r.returncode == 2 and not (tmp_path / "no").exists()


def test_models_train_out_in_a_missing_folder_is_refused(tmp_path):
    r = run_cli("train", "--backbone", "simple", "--dataset", "digits", "--epochs", "1",
                "--out", str(tmp_path / "no" / "m"), home=tmp_path / "home")
    assert r.returncode == 2 and "does not exist" in r.stderr and not (tmp_path / "no").exists()


def test_data_download_digits_says_it_ships(tmp_path):
    r = run_cli("data", "download", "digits", home=tmp_path)
    assert r.returncode == 0 and "ships with the application" in r.stdout and ".py" not in r.stdout


def test_a_reports_failed_cells_say_which_cell_and_why(tmp_path):
    recipe = tmp_path / "half.toml"
    recipe.write_text('name = "half"\ntitle = "half"\nclaim = "x"\nkind = "probe"\n[base]\nbackbone = "rdsn"\n'
                      'dataset = "digits"\nhead = "ridge"\npooling = "gap"\ntrain_limit = 60\ntest_limit = 30\n'
                      'options = { k = 4, blocks = 1 }\n[grid]\nbackbone = ["rdsn", "nosuch"]\n')
    home = tmp_path / "home"
    r = run_cli("experiment", "run", str(recipe), "--executor", "inline", home=home)
    assert r.returncode == 1 and "1 failed" in r.stdout and "1 of 2 cell(s) failed" in r.stderr
    md = next((home / "files" / "experiments").rglob("half.md")).read_text()
    failed = [line for line in md.split("Failed or skipped cells:", 1)[1].strip().split("\n\n")[0].splitlines()]
    assert failed == ["- backbone = nosuch: unknown backbone 'nosuch'; known: " + failed[0].split("known: ", 1)[1]]


def test_probe_help_lists_every_preset_and_pooling_and_val0_says_nothing_was_selected(tmp_path):
    from app.probe.presets import names

    r = run_cli("probe", "--help", home=tmp_path)
    text = " ".join(r.stdout.split()).replace("- ", "-")  # argparse wraps at hyphens
    assert all(n in text for n in names()) and "avgmaxgridN" in text
    r = run_cli("probe", "--backbone", "simple", "--dataset", "digits", "--train-limit", "120", "--test-limit", "40",
                "--val", "0", home=tmp_path)
    assert r.returncode == 0 and "(not selected: no validation split)" in r.stdout
    r = run_cli("probe", "--backbone", "simple", "--dataset", "digits", "--train-limit", "120", "--test-limit", "40",
                home=tmp_path)
    assert r.returncode == 0 and "not selected" not in r.stdout
    # a grid with no validation split to choose on: refused (the head's default was fitted, reported "selected")
    r = run_cli("probe", "--backbone", "simple", "--dataset", "digits", "--train-limit", "120", "--test-limit", "40",
                "--val", "0", "--grid", "0.1,0.01", home=tmp_path)
    assert r.returncode == 2 and "val 0 leaves no validation split to choose among the grid's 2 values (0.1, 0.01)" \
        in r.stderr
    r = run_cli("probe", "--backbone", "simple", "--dataset", "digits", "--train-limit", "120", "--test-limit", "40",
                "--val", "0", "--grid", "0.1", "--json", home=tmp_path)
    import json

    assert r.returncode == 0 and json.loads(r.stdout)["selected"] == {"weight_decay": 0.1}  # one value: that one


@pytest.mark.parametrize("flag", ["--seed", "--model-seed", "--split-seed", "--head-seed"])
def test_a_negative_seed_is_refused_by_name(tmp_path, flag):
    r = run_cli("probe", "--backbone", "simple", "--dataset", "digits", flag, "-1", home=tmp_path)
    assert r.returncode == 2 and f"argument {flag}: seed must be 0 or more (and below 2^63); got -1" in r.stderr


@pytest.mark.parametrize("argv", [
    ["train", "--backbone", "simple", "--dataset", "digits", "--out", "OUT", "--seed", "-1"],
    ["train", "--backbone", "simple", "--dataset", "digits", "--out", "OUT", "--model-seed", "-1"],
    ["eval", "--backbone", "simple", "--weights", "W", "--dataset", "digits", "--seed", "-2"],
    ["eval", "--backbone", "simple", "--weights", "W", "--dataset", "digits", "--model-seed", "-2"],
    ["bench", "head", "--dataset", "digits", "--seed", "-1"],
    ["bench", "extract", "--dataset", "digits", "--seed", "-1"],
    ["analyze", "fold", "--backbone", "lc", "--model-seed", "-1"],
    ["kernels", "generate", "--kind", "gaussian", "--count", "2", "--size", "3", "--out", "OUT", "--seed", "-1"],
    ["probe", "--backbone", "simple", "--dataset", "digits", "--seed", str(2 ** 63)],
    ["probe", "--backbone", "simple", "--dataset", "digits", "--seed", "1.5"],
])
def test_every_seed_flag_refuses_what_no_generator_takes_before_any_work(tmp_path, argv):
    """A negative seed went through train/eval/bench/analyze (numpy's traceback in train, silently used elsewhere)."""
    argv = [str(tmp_path / "x") if a in ("OUT", "W") else a for a in argv]
    r = run_cli(*argv, home=tmp_path)
    assert r.returncode == 2 and "seed" in r.stderr and "Traceback" not in r.stderr
    flag = next(a for a in argv if a.endswith("seed"))
    assert f"argument {flag}:" in r.stderr and not list(tmp_path.glob("x*"))


def test_train_seed_is_the_models_seed_too_unless_model_seed_is_given(tmp_path):
    """``train --seed 3`` drew the same random weights as ``--seed 0`` (only the data moved), where ``probe --seed``
    sets every seed and the training dialog trains with one seed for both."""
    import json

    from safetensors.torch import load_file

    def trained(name: str, *flags: str):
        out = tmp_path / name
        r = run_cli("train", "--backbone", "simple", "--options", "widths=4,8", "--dataset", "digits",
                    "--max-steps", "1", "--freeze", "conv", "--val", "0", "--test-limit", "10", *flags, "--out", str(out), home=tmp_path)
        assert r.returncode == 0, r.stderr
        side = json.loads(out.with_suffix(".json").read_text())
        return r.stdout, load_file(str(out.with_suffix(".safetensors")))["blocks.0.conv.weight"], side

    out0, w0, _ = trained("a", "--seed", "0")
    out3, w3, side3 = trained("b", "--seed", "3")
    out_m, w_m, _ = trained("c", "--seed", "3", "--model-seed", "0")
    assert "seeds: data 0, model 0" in out0 and "seeds: data 3, model 3" in out3 and "seeds: data 3, model 0" in out_m
    assert not w0.equal(w3) and w0.equal(w_m)
    assert side3["seed"] == 3 and side3["architecture"]["seed"] == 3


def test_an_errors_text_loses_a_librarys_terminal_colours():
    from app.errors import message

    assert message(ValueError("\x1b[1mWeights only load failed.\x1b[0m see below")) == \
        "Weights only load failed. see below"


def test_data_info_says_whose_statistics_the_normalisation_is(tmp_path):
    train = run_cli("data", "info", "digits", home=tmp_path)
    test = run_cli("data", "info", "digits", "--split", "test", home=tmp_path)
    line = [x for x in test.stdout.splitlines() if x.startswith("normalisation")][0]
    assert "the training split's statistics" in line
    assert line == [x for x in train.stdout.splitlines() if x.startswith("normalisation")][0]


def test_models_list_and_data_list_print_json(tmp_path):
    import json

    from app.models.catalog import BACKBONES

    models = json.loads(run_cli("models", "list", "--json", home=tmp_path).stdout)
    assert [m["name"] for m in models] == list(BACKBONES) and all(m["description"] for m in models)
    data = json.loads(run_cli("data", "list", "--json", home=tmp_path).stdout)
    digits = next(d for d in data if d["name"] == "digits")
    assert digits["local"] is True and {"download_bytes", "where", "title"} <= set(digits)


def test_eval_prints_json(tmp_path):
    import json

    out = tmp_path / "m"
    r = run_cli("train", "--backbone", "simple", "--options", "in_channels=1", "widths=4,8", "--dataset", "digits",
                "--train-limit", "200", "--test-limit", "60", "--epochs", "1", "--out", str(out), home=tmp_path)
    assert r.returncode == 0, r.stderr
    r = run_cli("eval", "--weights", str(out.with_suffix(".safetensors")), "--dataset", "digits", "--test-limit",
                "60", "--json", home=tmp_path)
    d = json.loads(r.stdout)
    assert d["n"] == 60 and d["top1"] == d["correct"] / 60 and 0 < d["top1_se"] < 0.1 and d["dataset"] == "digits"
    from app.metrics import accuracy_interval

    assert tuple(d["top1_ci95"]) == pytest.approx(accuracy_interval(d["top1"], 60))  # the Wilson 95% interval


def test_a_declared_input_follows_a_one_channel_models_channels_or_is_refused_by_name(tmp_path):
    """``--input-preset unit`` on a 1-channel model was a RuntimeError traceback (the preset stood for 3 channels)."""
    base = ("probe", "--backbone", "simple", "--options", "widths=4,8", "--dataset", "digits", "--json")
    r = run_cli(*base, "--input-preset", "unit", home=tmp_path)
    assert r.returncode == 0, r.stderr
    import json

    inp = json.loads(r.stdout)["resolved"]["input"]
    assert inp["channels"] == 1 and inp["mean"] == [0.0] and inp["std"] == [1.0]
    r = run_cli(*base, "--mean", "0.1,0.2,0.3", "--std", "0.2,0.2,0.2", home=tmp_path)
    assert r.returncode == 2 and "the declared input has 3 channels" in r.stderr and "Traceback" not in r.stderr
